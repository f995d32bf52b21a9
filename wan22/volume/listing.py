"""What is on the volume, by name only: every configured folder listed the way ComfyUI lists it
(os.walk with followlinks, names relative to the folder), plus a bounded search of the roots for
stray copies, partial downloads, download-tool state and broken symlinks. Reads no file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from ..catalog import MODEL_EXTENSIONS, WAN_FOLDER_KEYS
from .roots import FolderConfig

SAFETENSORS_EXTS = (".safetensors", ".sft")
OTHER_FORMATS = (".gguf",)  # not loadable by ComfyUI's core loaders, but worth naming in a hint
PARTIAL_SUFFIXES = (".part", ".crdownload", ".download", ".incomplete", ".partial", ".tmp", ".tmp-wan22", ".aria2tmp")
ARIA2 = ".aria2"  # aria2's control file sits next to a file it has not finished
MAX_DEPTH = 8
MAX_DIR_ENTRIES = 200_000  # per configured folder (ComfyUI lists them whole)
MAX_ROOT_ENTRIES = 50_000  # for the wider search for strays
ROOT_SKIP = frozenset({".git", "node_modules", "__pycache__", ".venv", "venv", "site-packages", "custom_nodes"})


@dataclass
class Listing:
    """Everything found under the configured folders and roots (names only, no file reads)."""

    dir_files: dict[str, dict[str, str]] = field(default_factory=dict)  # configured dir -> {relative name: path}
    by_name: dict[str, list[str]] = field(default_factory=dict)  # basename -> paths (model extensions)
    others: list[str] = field(default_factory=list)  # .gguf and other formats ComfyUI core cannot load
    partials: list[str] = field(default_factory=list)
    aria2: set[str] = field(default_factory=set)  # paths with an aria2 control file next to them
    hf_pending: dict[str, set[str]] = field(default_factory=dict)  # folder -> names huggingface_hub is fetching there
    broken: list[str] = field(default_factory=list)  # symlinks that lead nowhere (or in a loop)
    unlistable: list[str] = field(default_factory=list)
    truncated_walk: list[str] = field(default_factory=list)
    _seen_paths: set[str] = field(default_factory=set)

    def add(self, path: str) -> None:
        """Sort one file into the listing by its name (each path once)."""
        if path in self._seen_paths:
            return
        self._seen_paths.add(path)
        base = os.path.basename(path)
        low = base.lower()
        if low.endswith(MODEL_EXTENSIONS):
            self.by_name.setdefault(base, []).append(path)
        elif low.endswith(ARIA2):
            self.aria2.add(path[: -len(ARIA2)])
        elif low.endswith(PARTIAL_SUFFIXES):
            self.partials.append(path)
        elif low.endswith((".lock", ".metadata")) and low.rsplit(".", 1)[0].endswith(MODEL_EXTENSIONS):
            # huggingface_hub's local-dir download state: .cache/huggingface/download/<name>.{lock,metadata}
            # next to a <hash>.<etag>.incomplete file that does not carry the name
            self.hf_pending.setdefault(os.path.dirname(path), set()).add(base.rsplit(".", 1)[0])
        elif low.endswith(OTHER_FORMATS):
            self.others.append(path)


def _walk(top: str, listing: Listing, seen: set[str], max_entries: int, skip: frozenset[str],
          on_file: Callable[[str], None] | None = None) -> None:
    """os.walk(followlinks=True) as ComfyUI does, but bounded: each real directory once (no
    symlink loop is followed twice), at most MAX_DEPTH levels and `max_entries` entries."""
    count = 0
    stack = [(top, 0)]
    while stack:
        d, depth = stack.pop()
        try:
            real = os.path.realpath(d)
        except (OSError, ValueError):
            continue
        if real in seen:
            continue
        seen.add(real)
        try:
            it = os.scandir(d)
        except OSError as e:
            if d != top or os.path.exists(d):
                listing.unlistable.append(f"{d} ({e.strerror or e})")
            continue
        with it:
            for ent in it:
                count += 1
                if count > max_entries:
                    listing.truncated_walk.append(top)
                    return
                if _entry(ent, listing, on_file) and ent.name not in skip and depth < MAX_DEPTH:
                    stack.append((ent.path, depth + 1))


def _entry(ent: os.DirEntry[str], listing: Listing, on_file: Callable[[str], None] | None) -> bool:
    """Record one directory entry; True when it is a directory to descend into."""
    try:
        if ent.is_dir(follow_symlinks=True):
            return True
        if ent.is_file(follow_symlinks=True):
            listing.add(ent.path)
            if on_file is not None:
                on_file(ent.path)
        elif ent.is_symlink() and not os.path.exists(ent.path):
            listing.broken.append(ent.path)
    except OSError:
        if ent.is_symlink():
            listing.broken.append(ent.path)
    return False


def scan(cfg: FolderConfig) -> Listing:
    """List every configured folder of the Wan folder keys (whole, as ComfyUI does), then search the
    roots (bounded) for files elsewhere."""
    listing = Listing()
    seen_all: set[str] = set()
    for key in WAN_FOLDER_KEYS:
        for d in cfg.dirs(key):
            if d in listing.dir_files:
                continue
            files: dict[str, str] = {}
            seen: set[str] = set()

            def record(path: str, _d: str = d, _files: dict[str, str] = files) -> None:
                _files.setdefault(os.path.relpath(path, _d).replace(os.sep, "/"), path)

            if os.path.isdir(d):
                _walk(d, listing, seen, MAX_DIR_ENTRIES, frozenset({".git"}), record)
            listing.dir_files[d] = files
            seen_all |= seen
    for r in cfg.roots:
        if os.path.isdir(r.path):
            _walk(r.path, listing, seen_all, MAX_ROOT_ENTRIES, ROOT_SKIP)
    return listing
