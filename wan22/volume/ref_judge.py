"""A file a workflow names outside the catalog, judged by its header as the kind its loader input
expects (volume.kinds: Kijai-style and bare names, GGUF), and, when it is missing, the files on
the volume that hold the same model under another name (the official fp8 I2V high-noise expert
where a graph asks for the KJ name). Reads headers only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from ..graph.records import ModelRef
from .checks import HeaderCache, kind_fits
from .kinds import judge_file, name_expects
from .listing import Listing
from .report import Finding
from .roots import FolderConfig

HEADER_EXTS = (".safetensors", ".sft", ".gguf")
MAX_CANDIDATES = 3


def kind_of(ref: ModelRef) -> str:
    """The loaders.json kind a reference expects (CLIPLoader type 'wan' narrows to umT5)."""
    return "text_encoder" if ref.expects == "umt5_xxl" else ref.expects or "other"


def located(cfg: FolderConfig, listing: Listing, ref: ModelRef) -> str | None:
    """The file ComfyUI loads for this name: the first folder of the key that holds it."""
    for d in cfg.dirs(ref.folder):
        p = listing.dir_files.get(d, {}).get(ref.name)
        if p is not None:
            return p
    return None


def judged_at(path: str, ref: ModelRef, headers: HeaderCache) -> Finding:
    """The file at ComfyUI's location, judged by its header."""
    j = judge_file(path, kind_of(ref), ref.format or "any", headers)
    status, description = j.status, j.description
    if ref.expects == "umt5_xxl" and j.identity is not None and status in ("ok", "stand_in") \
            and j.identity.kind != "umt5_xxl":
        status = "wrong_model"
        description = f"the header says this is {j.identity.description}, but CLIPLoader type 'wan' loads umT5-XXL"
    where = f" (node {ref.node} {ref.node_type} loads it as '{ref.input}')" if status != "ok" else ""
    hint = description + where + (f"\n{j.hint}" if j.hint else "")
    try:
        size: int | None = os.stat(path).st_size
    except OSError:
        size = None
    return Finding(ref.name, ref.folder, "", status, path, path, size, hint=hint,
                   identity=j.identity.description if j.identity is not None else None)


def _files(cfg: FolderConfig, listing: Listing, folder: str) -> Iterator[tuple[str, str]]:
    for d in cfg.dirs(folder):
        for rel, p in sorted(listing.dir_files.get(d, {}).items()):
            if rel.lower().endswith(HEADER_EXTS):
                yield rel, p


def _noise(name: str) -> str:
    flat = os.path.basename(name.replace("\\", "/")).lower().replace("-", "_").replace(".", "_")
    for word in ("high", "low"):
        if word in flat.split("_") or f"{word}noise" in flat:
            return word
    return ""


def same_model(cfg: FolderConfig, listing: Listing, ref: ModelRef, headers: HeaderCache) -> list[str]:
    """Names (relative to the folder) of usable files of the model the missing name says it is;
    high vs low noise, which weights cannot tell, by the name."""
    named = name_expects(ref.name, kind_of(ref))
    if named is None:
        return []
    want_noise = _noise(ref.name)
    out: list[str] = []
    for rel, p in _files(cfg, listing, ref.folder):
        gguf = rel.lower().endswith(".gguf")
        if (ref.format == "gguf" and not gguf) or (ref.format == "safetensors" and gguf):
            continue  # the loader cannot read that format
        if rel == ref.name or (want_noise and _noise(rel) not in (want_noise, "")) or (not want_noise and _noise(rel)):
            continue
        j = judge_file(p, kind_of(ref), "any", headers)
        if j.status in ("ok", "stand_in") and j.identity is not None and kind_fits(named[1], j.identity.kind):
            out.append(rel)
        if len(out) >= MAX_CANDIDATES:
            break
    return out


def same_name_elsewhere(cfg: FolderConfig, listing: Listing, ref: ModelRef) -> list[str]:
    """Names (relative to the folder) of files of this base name in a subfolder of it, which
    ComfyUI lists as 'sub/name' (bare names such as high_noise_model.safetensors)."""
    base = ref.name.replace("\\", "/").rsplit("/", 1)[-1]
    return [rel for rel, _p in _files(cfg, listing, ref.folder)
            if rel != ref.name and rel.rsplit("/", 1)[-1] == base][:MAX_CANDIDATES]


def same_model_hint(names: list[str], ref: ModelRef) -> str:
    if not names:
        return ""
    return (f"the volume holds the same model under another name: pick '{names[0]}' in node {ref.node} "
            f"({ref.node_type}) '{ref.input}'" + (f" (also: {', '.join(names[1:])})" if names[1:] else ""))
