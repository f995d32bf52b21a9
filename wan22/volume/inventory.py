"""Volume inventory: which Wan 2.2 workflows the model folders can serve, and exactly what is
missing, misplaced, misnamed or damaged. Reads directory listings and safetensors headers only
(tensor data only with verify=True). Never writes, moves or deletes anything; every fix is a
command in the finding's hint (and `fix`) for the user to run.

Resolution follows ComfyUI: a workflow names a file relative to a folder key, ComfyUI compares
that name exactly with its listing and loads the first match in the folder's search order.
"""

from __future__ import annotations

import difflib
import gc
import hashlib
import os
import shlex
import stat
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..catalog import BY_ROLE, FILES, CatalogFile
from ..plan.routing import PRESET_TABLE, WORKFLOW_IDS, Preset
from .identify import STAND_IN_ROLE_KEY, Identity, identify, is_stand_in
from .roots import WAN_FOLDER_KEYS, FolderConfig, Root, SearchDir, YamlSection, section_for
from .safetensors_header import Header, HeaderError, read_header

STATUSES = ("ok", "missing", "truncated", "corrupt", "misplaced", "misnamed", "wrong_model", "stand_in")
USABLE = ("ok", "stand_in")
DAMAGE = ("truncated", "corrupt")
MODEL_EXTS = (".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft")
SAFETENSORS_EXTS = (".safetensors", ".sft")
OTHER_FORMATS = (".gguf",)  # not loadable by ComfyUI's core loaders, but worth naming in a hint
PARTIAL_SUFFIXES = (".part", ".crdownload", ".download", ".incomplete", ".partial", ".tmp", ".tmp-wan22", ".aria2tmp")
ARIA2 = ".aria2"  # aria2's control file sits next to a file it has not finished
MAX_DEPTH = 8
MAX_DIR_ENTRIES = 200_000  # per configured folder (ComfyUI lists them whole)
MAX_ROOT_ENTRIES = 50_000  # for the wider search for strays
ROOT_SKIP = frozenset({".git", "node_modules", "__pycache__", ".venv", "venv", "site-packages", "custom_nodes"})
SIZE_TOLERANCE = 0.03
LORA_TARGET_DIM = 5120  # every LoRA in the catalog patches the 14B models
EXPERT_PAIRS = (("i2v_high", "i2v_low"), ("t2v_high", "t2v_low"), ("lora_i2v_high", "lora_i2v_low"),
                ("lora_t2v_high", "lora_t2v_low"))
LEGACY_DIRS = {"diffusion_models": ("unet",), "text_encoders": ("clip",), "loras": ("lora",)}
STAND_IN_NOTE = ("tiny random-weight stand-ins written by `python -m wan22 demo-volume`: workflows load and run "
                 "on them, but the video is noise. Replace them with the real files for real output.")

Progress = Callable[[str, int, int], None]


# ---------------------------------------------------------------- report types

@dataclass
class Finding:
    name: str
    folder: str
    role: str
    status: str
    path: str | None
    expected_path: str | None
    size: int | None
    hint: str = ""
    identity: str | None = None
    fix: str | None = None  # one shell command that fixes it, when there is one
    shadowed: list[str] = field(default_factory=list)  # other copies ComfyUI does not load

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "folder": self.folder, "role": self.role, "status": self.status,
                "path": self.path, "expected_path": self.expected_path, "size": self.size,
                "hint": self.hint, "identity": self.identity, "fix": self.fix, "shadowed": self.shadowed}


@dataclass
class WorkflowStatus:
    ready: bool
    blocking: list[dict[str, str]]
    warnings: list[str] = field(default_factory=list)
    stand_ins: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ready": self.ready, "blocking": self.blocking, "warnings": self.warnings,
                "stand_ins": self.stand_ins}


@dataclass
class Report:
    roots: list[Root]
    files: list[Finding]
    workflows: dict[str, WorkflowStatus]
    problems: list[str]
    warnings: list[str]
    seconds: float
    search_dirs: dict[str, list[str]] = field(default_factory=dict)

    def by_role(self, role: str) -> Finding:
        return next(f for f in self.files if f.role == role)

    def ready(self, workflow_ids: Iterable[str] | None = None) -> bool:
        ids = list(workflow_ids) if workflow_ids else list(self.workflows)
        return all(self.workflows[w].ready for w in ids)

    def apply_strict(self) -> None:
        """Stand-ins make a workflow not ready (for deployments that must have real weights)."""
        for st in self.workflows.values():
            if st.stand_ins:
                st.ready = False
                st.blocking += [{"role": "", "name": n, "status": "stand_in",
                                 "hint": "a demo-volume stand-in; strict mode requires the real file"}
                                for n in st.stand_ins if all(b["name"] != n for b in st.blocking)]

    def as_dict(self, workflow_ids: Iterable[str] | None = None) -> dict[str, Any]:
        ids = list(workflow_ids) if workflow_ids else list(self.workflows)
        return {
            "roots": [r.as_dict() for r in self.roots],
            "files": [f.as_dict() for f in self.files],
            "workflows": {k: self.workflows[k].as_dict() for k in ids},
            "problems": self.problems,
            "warnings": self.warnings,
            "search_dirs": self.search_dirs,
            "summary": self.summary_line(),
            "seconds": round(self.seconds, 4),
        }

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f.status] = out.get(f.status, 0) + 1
        return out

    def summary_line(self) -> str:
        """One line for logs (ComfyUI start-up): readiness and what is wrong, by count."""
        ready = [w for w, s in self.workflows.items() if s.ready]
        not_ready = [w for w, s in self.workflows.items() if not s.ready]
        counts = self.counts()
        parts = [f"{len(ready)}/{len(self.workflows)} workflows ready"]
        if ready:
            parts[0] += f" ({', '.join(ready)})"
        if not_ready:
            parts.append(f"not ready: {', '.join(not_ready)}")
        bad = [f"{counts[s]} {s}" for s in STATUSES if s not in USABLE and counts.get(s)]
        if bad:
            parts.append("files: " + ", ".join(bad))
        if counts.get("stand_in"):
            parts.append(f"{counts['stand_in']} stand-ins (demo weights)")
        if self.problems:
            parts.append(f"{len(self.problems)} config error(s)")
        line = "Wan22 inventory: " + "; ".join(parts) + f" [{self.seconds * 1000:.0f} ms]"
        return " ".join(line.split())

    def text(self, workflow_ids: Iterable[str] | None = None) -> str:
        ids = list(workflow_ids) if workflow_ids else list(self.workflows)
        files = len(self.files)
        usable = sum(1 for f in self.files if f.status in USABLE)
        out = [f"Wan 2.2 volume inventory: {usable} of {files} files usable, {self.seconds * 1000:.0f} ms"]
        out.append("Searched: " + ("; ".join(f"{r.path} ({r.source})" for r in self.roots) or "(no folders)"))
        for p in self.problems:
            out.append(f"CONFIG ERROR: {p}")
        for w in self.warnings:
            out.append(f"warning: {w}")
        out.append("")
        ready = [w for w in ids if self.workflows[w].ready]
        out.append(f"Ready:     {', '.join(ready) if ready else 'none'}")
        for wid in ids:
            st = self.workflows[wid]
            if st.ready:
                continue
            why = ", ".join(f"{b['name']} ({b['status']})" for b in st.blocking)
            out.append(f"NOT READY: {wid}: {why}")
        for wid in ids:
            for w in self.workflows[wid].warnings:
                out.append(f"note ({wid}): {w}")
        relevant = {r for w in ids for r in preset_roles(w)}
        problems = [f for f in self.files if f.status not in USABLE and f.role in relevant]
        if problems:
            out.append("")
            out.append("Problems:")
            for f in problems:
                out.append(f"  {f.status:<11} {f.folder}/{f.name}")
                if f.path and f.path != f.expected_path:
                    out.append(f"              found: {f.path}")
                for line in f.hint.splitlines():
                    out.append(f"              {line}")
        oks = [f for f in self.files if f.status == "ok" and f.role in relevant]
        if oks:
            out.append("")
            out.append(f"OK ({len(oks)}):")
            for f in oks:
                out.append(f"  {f.folder}/{f.name}  {_fmt_size(f.size)}")
                for line in f.hint.splitlines():
                    out.append(f"      {line}")
        stand = [f for f in self.files if f.status == "stand_in" and f.role in relevant]
        if stand:
            out.append("")
            out.append(f"Stand-ins ({len(stand)}): {STAND_IN_NOTE}")
            by_folder: dict[str, list[str]] = {}
            for f in stand:
                by_folder.setdefault(f.folder, []).append(f.name)
            for folder, names in by_folder.items():
                out.append(f"  {folder}: {', '.join(names)}")
            hints = {f.hint for f in stand}
            if len(hints) == 1 and len(stand) > 1 and stand[0].hint:
                out.append(f"  all: {stand[0].hint}")
            else:
                for f in stand:
                    for line in f.hint.splitlines():
                        out.append(f"  {f.name}: {line}")
        return "\n".join(out)


def preset_roles(workflow_id: str) -> tuple[str, ...]:
    p = next(p for p in PRESET_TABLE if p.workflow_id == workflow_id)
    return tuple(p.required_roles) + tuple(p.optional)


def _fmt_size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n} B"


def normalize_name(name: str) -> str:
    """Case, separators and extension folded: 'Wan_2.1-VAE.SafeTensors' -> 'wan21vae'."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for ext in MODEL_EXTS + OTHER_FORMATS:
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    return "".join(c for c in base if c.isalnum())


# ---------------------------------------------------------------- listing

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
        if path in self._seen_paths:
            return
        self._seen_paths.add(path)
        base = os.path.basename(path)
        low = base.lower()
        if low.endswith(MODEL_EXTS):
            self.by_name.setdefault(base, []).append(path)
        elif low.endswith(ARIA2):
            self.aria2.add(path[: -len(ARIA2)])
        elif low.endswith(PARTIAL_SUFFIXES):
            self.partials.append(path)
        elif low.endswith((".lock", ".metadata")) and low.rsplit(".", 1)[0].endswith(MODEL_EXTS):
            # huggingface_hub's local-dir download state: .cache/huggingface/download/<name>.{lock,metadata}
            # next to a <hash>.<etag>.incomplete file that does not carry the name
            self.hf_pending.setdefault(os.path.dirname(path), set()).add(base.rsplit(".", 1)[0])
        elif low.endswith(OTHER_FORMATS):
            self.others.append(path)

    def all_model_paths(self) -> list[str]:
        return [p for paths in self.by_name.values() for p in paths]


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
                try:
                    if ent.is_dir(follow_symlinks=True):
                        if ent.name not in skip and depth < MAX_DEPTH:
                            stack.append((ent.path, depth + 1))
                        continue
                    if ent.is_file(follow_symlinks=True):
                        listing.add(ent.path)
                        if on_file is not None:
                            on_file(ent.path)
                    elif ent.is_symlink() and not os.path.exists(ent.path):
                        listing.broken.append(ent.path)
                except OSError:
                    if ent.is_symlink():
                        listing.broken.append(ent.path)
                    continue


def scan(cfg: FolderConfig) -> Listing:
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


# ---------------------------------------------------------------- header cache

_CacheKey = tuple[int, int, int, int]
_CACHE: dict[str, tuple[_CacheKey, Header | HeaderError, Identity | None]] = {}
_CACHE_MAX = 2048


class HeaderCache:
    """Headers keyed by path and (inode, size, mtime, ctime): a changed file is read again.
    The module-level store survives between runs in one process (ComfyUI's node and route)."""

    def __init__(self, shared: bool = True) -> None:
        self._store = _CACHE if shared else {}

    def get(self, path: str, st: os.stat_result) -> tuple[Header | HeaderError, Identity | None]:
        key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        hit = self._store.get(path)
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
        try:
            h: Header | HeaderError = read_header(path)
        except HeaderError as e:
            h = e
        ident = identify(h) if isinstance(h, Header) else None
        if len(self._store) >= _CACHE_MAX:
            self._store.clear()
        self._store[path] = (key, h, ident)
        return h, ident


def clear_cache() -> None:
    _CACHE.clear()


# ---------------------------------------------------------------- checks

@dataclass
class Check:
    status: str
    hint: str
    identity: Identity | None
    size: int | None
    header: Header | None = None


def inspect_file(entry: CatalogFile, path: str, headers: HeaderCache, aria2: set[str] | None = None) -> Check:
    """What the file at `path` is, judged as `entry` (status is one of STATUSES except
    missing/misplaced/misnamed, which depend on where it is)."""
    try:
        st = os.stat(path)
    except OSError as e:
        return Check("corrupt", f"cannot read it ({e.strerror}). Check the volume is mounted and readable", None, None)
    if not stat.S_ISREG(st.st_mode):
        return Check("corrupt", "not a regular file (a pipe, device or socket): replace it with the model file", None, None)
    size = st.st_size
    if not path.lower().endswith(SAFETENSORS_EXTS):
        return Check("wrong_model", f"a {os.path.splitext(path)[1]} file, not safetensors: this pack checks and ComfyUI's "
                     f"Wan templates use the .safetensors file. Download: {entry.url}", None, size)
    h, ident = headers.get(path, st)
    if isinstance(h, HeaderError):
        if h.reason == "unreadable":
            return Check("corrupt", f"{h}. The file may be intact, but ComfyUI cannot read it either: check its "
                         f"permissions (chmod a+r {shlex.quote(path)}) and that the volume is mounted", None, size)
        return Check("corrupt", f"not a readable safetensors file: {h}. Re-download it: {entry.url}", None, size)
    if ident is None:
        ident = identify(h)
    if h.truncated:
        missing = h.data_end - h.file_size
        pct = 100.0 * h.file_size / max(h.data_end, 1)
        also = _identity_problem(entry, ident, h)
        again = ("a demo-volume stand-in cut short: run `python -m wan22 demo-volume` on the folder again"
                 if is_stand_in(h) else f"the download stopped early. Re-download it: {entry.url}")
        return Check("truncated",
                     f"the file is {h.file_size:,} bytes but its header needs {h.data_end:,} ({missing:,} bytes "
                     f"missing, {pct:.1f}% present): {again}" + (f"\nAlso: {also}" if also else ""), ident, size, h)
    if aria2 is not None and path in aria2:
        return Check("truncated", f"aria2 has not finished it ({os.path.basename(path)}.aria2 is next to it): the file "
                     f"has its full size but not all of its data. Resume the download (aria2c -c) or re-download: {entry.url}",
                     ident, size, h)
    if h.trailing_bytes:
        return Check("corrupt", f"{h.trailing_bytes:,} extra bytes after the last tensor (the header accounts for "
                     f"{h.data_end:,} of {h.file_size:,}): the safetensors library refuses such a file ('file not fully "
                     f"covered'). Re-download it: {entry.url}", ident, size, h)
    stand_in = is_stand_in(h)
    problem = _identity_problem(entry, ident, h)
    if problem:
        return Check("wrong_model", problem, ident, size, h)
    if stand_in:
        return Check("stand_in", "", ident, size, h)
    hint = ""
    if entry.size and entry.size_exact and size != entry.size:
        hint = (f"{size:,} bytes, not the {entry.size:,} of the published file: the header fits, so this is probably "
                f"another build of it (run --verify against a known hash to be sure)")
    elif entry.size and not entry.size_exact and abs(size - entry.size) > SIZE_TOLERANCE * entry.size:
        hint = f"{_fmt_size(size)}, the published file is about {_fmt_size(entry.size)}: another precision, rank or build"
    return Check("ok", hint, ident, size, h)


def check_file(entry: CatalogFile, path: str, headers: HeaderCache | None = None,
               ) -> tuple[str, str, Identity | None, int | None]:
    """(status, hint, identity, size) of the file at `path` judged as `entry`; for callers
    outside the inventory (the bundle loader checks a file before handing it to ComfyUI)."""
    c = inspect_file(entry, path, headers if headers is not None else HeaderCache())
    return c.status, c.hint, c.identity, c.size



def _expected_dim(entry: CatalogFile) -> int | None:
    if entry.dim:
        return entry.dim
    return LORA_TARGET_DIM if entry.kind == "lora:wan" else None


def _identity_problem(entry: CatalogFile, ident: Identity, h: Header) -> str:
    want = entry.kind
    stand_in = is_stand_in(h)
    if ident.kind != want:
        msg = f"the header says this is {ident.label}, but {entry.name} must be {entry.description}."
        belongs = [f.name for f in FILES if f.kind == ident.kind and f.role != entry.role]
        if belongs and ident.kind.startswith("wan_dit"):
            msg += f" A file with this header belongs under {' or '.join(belongs)}."
        msg += f" Get the right file: {entry.url}"
        return msg
    want_dim = _expected_dim(entry)
    if want_dim and ident.dim and not stand_in and ident.dim != want_dim:
        return (f"the header says this is {ident.label}, but {entry.name} must be the 14B-size file "
                f"(width {want_dim}, found {ident.dim}). Get the right file: {entry.url}")
    if want == "lora:wan":
        in_dim = ident.facts.get("in_dim")
        task = "t2v" if "t2v" in entry.role else "i2v" if "i2v" in entry.role else None
        if in_dim is not None and task is not None and (task == "i2v" and in_dim != 36 or task == "t2v" and in_dim != 16):
            return (f"this LoRA patches a model with in_dim {in_dim}, which does not fit the {task.upper()} experts "
                    f"(in_dim {36 if task == 'i2v' else 16}). Get the right file: {entry.url}")
    role = h.metadata.get(STAND_IN_ROLE_KEY)
    if stand_in and role and role != entry.role and role in BY_ROLE:
        return (f"a demo-volume stand-in made for {BY_ROLE[role].name}, copied or renamed to {entry.name}. "
                f"Re-run `python -m wan22 demo-volume` on the folder, or put the real file here: {entry.url}")
    return ""


# ---------------------------------------------------------------- finding one file

def _mv(src: str, dst: str) -> str:
    """The command that moves src to dst (never overwriting: mv -n), creating dst's folder if needed."""
    mv = f"mv -n {shlex.quote(src)} {shlex.quote(dst)}"
    parent = os.path.dirname(dst)
    return mv if os.path.isdir(parent) else f"mkdir -p {shlex.quote(parent)} && {mv}"


def _inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:
        return False


def _dest_dir(cfg: FolderConfig, folder: str, src: str) -> str | None:
    """The configured folder to move a stray file into: a folder of this key that already holds
    `src` in a sub-folder, else the one nearest to it, preferring existing folders named like the key."""
    dirs = cfg.search_dirs(folder)
    if not dirs:
        return None
    for d in dirs:
        if _inside(src, d.path):
            return d.path

    def score(d: SearchDir) -> tuple[int, int, int]:
        try:
            common = len(os.path.commonpath([d.path, src]))
        except ValueError:
            common = 0
        named = os.path.basename(d.path).lower() in (folder,) + LEGACY_DIRS.get(folder, ())
        return (common, int(os.path.isdir(d.path)), int(named))

    return max(dirs, key=score).path


def _home_dir(cfg: FolderConfig, folder: str, listing: Listing) -> str | None:
    """Where a missing file of this key should go: the configured folder already holding files
    (the user's volume), preferring existing folders named like the key, then search order."""
    dirs = cfg.search_dirs(folder)
    if not dirs:
        return None

    def score(item: tuple[int, SearchDir]) -> tuple[bool, bool, bool, int]:
        i, d = item
        return (bool(listing.dir_files.get(d.path)), os.path.isdir(d.path),
                os.path.basename(d.path).lower() == folder, -i)

    return max(enumerate(dirs), key=score)[1].path


def _yaml_hint(cfg: FolderConfig, folder: str, src: str) -> str | None:
    """When `src` sits in a folder named for this key that ComfyUI is not told about: the line to
    add to extra_model_paths.yaml (naming the file and section when one covers the path)."""
    parent = os.path.dirname(src)
    pname = os.path.basename(parent)
    aliases = (folder,) + LEGACY_DIRS.get(folder, ())
    if pname.lower() not in aliases:
        return None
    key = pname if pname in ("unet", "clip") else folder
    sec: YamlSection | None = section_for(cfg, parent)
    if sec is not None and sec.base_path:
        rel = os.path.relpath(parent, sec.base_path).replace(os.sep, "/") + "/"
        existing = sec.raw_keys.get(key)
        if existing:
            block = "\n".join(f"    {v}" for v in existing + [rel])
            return (f"ComfyUI does not search {parent}: in {sec.yaml_path}, section '{sec.name}', make '{key}' a "
                    f"'|' block with both folders:\n  {key}: |\n{block}")
        return f"ComfyUI does not search {parent}: add `{key}: {rel}` to section '{sec.name}' of {sec.yaml_path}"
    return (f"ComfyUI does not search {parent}: add `{key}: {parent}` to a section of your extra_model_paths.yaml "
            f"(or pass --root {os.path.dirname(parent)} to this check)")


def _name_difference(found: str, want: str) -> str:
    """How a found name differs from the wanted one, in words ('letter case and extra text ' (1)'')."""
    if found.lower() == want.lower():
        return "letter case"
    low = found.lower()
    if any(low.endswith(e1 + e2) for e1 in SAFETENSORS_EXTS for e2 in SAFETENSORS_EXTS):
        return "a doubled extension"
    fstem, wstem = os.path.splitext(found)[0], os.path.splitext(want)[0]
    parts = []
    if fstem.lower().startswith(wstem.lower()):
        if not fstem.startswith(wstem):
            parts.append("letter case")
        parts.append(f"extra text '{fstem[len(wstem):]}'")
    elif normalize_name(found) == normalize_name(want):
        parts.append("separators ('-', '_', '.', spaces)" + (" and letter case" if found != found.lower() and
                                                              want == want.lower() else ""))
    else:
        parts.append("spelling")
    return " and ".join(parts)


def _similar(norm: str, candidate: str) -> bool:
    n = normalize_name(candidate)
    return n == norm or (n.startswith(norm) and len(n) - len(norm) <= 16)


_CATALOG_NAMES = {f.name for f in FILES}
_CATALOG_NORMS = {normalize_name(f.name): f.role for f in FILES}


def _find(cfg: FolderConfig, entry: CatalogFile, listing: Listing, headers: HeaderCache) -> Finding:
    folder, name = entry.folder, entry.name
    sdirs = cfg.search_dirs(folder)
    pref = _home_dir(cfg, folder, listing)
    f = Finding(name, folder, entry.role, "missing", None, os.path.join(pref, name) if pref else None, None)

    # 1. exactly where ComfyUI looks: first match in search order wins (get_full_path)
    hits = [(d, listing.dir_files.get(d.path, {}).get(name)) for d in sdirs]
    found: list[tuple[SearchDir, str]] = []
    reals: set[str] = set()
    for d, p in hits:
        if p is None:
            continue
        real = os.path.realpath(p)
        if real in reals:
            continue  # the same file reached through a symlinked folder: not a second copy
        reals.add(real)
        found.append((d, p))
    if found:
        d0, path = found[0]
        c = inspect_file(entry, path, headers, listing.aria2)
        f.status, f.path, f.size, f.expected_path = c.status, path, c.size, path
        f.identity = c.identity.label if c.identity else None
        notes = [c.hint] if c.hint else []
        for _d, other in found[1:]:
            f.shadowed.append(other)
            oc = inspect_file(entry, other, headers, listing.aria2)
            why = _shadow_reason(d0)
            if c.status not in USABLE and oc.status in USABLE:
                notes.append(f"a good copy at {other} is ignored: ComfyUI loads the {c.status} one first ({why}). "
                             f"Move the bad copy away: {_mv(path, path + '.bad')}")
                f.fix = _mv(path, path + ".bad")
            else:
                notes.append(f"another copy at {other} ({oc.status}) is ignored: ComfyUI loads {path} ({why})")
        if c.status not in USABLE and f.fix is None:
            alt = _alternatives(entry, listing, headers, exclude={path, *f.shadowed})
            if alt:
                notes.append(f"a usable copy exists at {alt}: {_mv(alt, path)}")
                f.fix = _mv(alt, path)
        f.hint = "\n".join(notes)
        return f

    # 2. the exact name somewhere ComfyUI does not look (a sub-folder, another folder, another root)
    exact = sorted(listing.by_name.get(name, []), key=lambda p: (not any(_inside(p, d.path) for d in sdirs), p))
    cands: list[tuple[str, Check]] = [(p, inspect_file(entry, p, headers, listing.aria2)) for p in exact]
    # 3. a similar name (case, separators, suffixes), anywhere
    norm = normalize_name(name)
    similar_wrong: list[tuple[str, Check]] = []
    fuzzy: list[tuple[str, Check]] = []
    for base, paths in listing.by_name.items():
        if base == name or base in _CATALOG_NAMES or not _similar(norm, base):
            continue
        other_role = _CATALOG_NORMS.get(normalize_name(base))
        if other_role is not None and other_role != entry.role:
            continue
        for p in paths:
            c = inspect_file(entry, p, headers, listing.aria2)
            (similar_wrong if c.status == "wrong_model" else fuzzy).append((p, c))
    fuzzy.sort(key=lambda pc: (not _top_level_of(pc[0], sdirs), pc[0]))
    chosen = _pick([(p, c, True) for p, c in cands] + [(p, c, False) for p, c in fuzzy])
    if chosen is not None:
        path, c, exact_name = chosen
        f.path, f.size = path, c.size
        f.identity = c.identity.label if c.identity else None
        top = _top_level_of(path, sdirs)
        if top is not None and not exact_name:
            dst = os.path.join(os.path.dirname(path), name)
            f.status = "misnamed" if c.status in USABLE else c.status
            f.expected_path = dst
            f.fix = _mv(path, dst) if c.status in USABLE else None
            diff = _name_difference(os.path.basename(path), name)
            lines = [f"found as '{os.path.basename(path)}' (differs in {diff}); workflows ask for '{name}' and "
                     "ComfyUI compares names exactly ('value not in list')" + (". Rename it:" if f.fix else ""),
                     f.fix or ""]
        else:
            dst_dir = _dest_dir(cfg, folder, path)
            mdst = os.path.join(dst_dir, name) if dst_dir else None
            f.status = "misplaced" if c.status in USABLE else c.status
            f.expected_path = mdst
            lines = []
            sub = _sub_of(path, sdirs)
            if sub is not None:
                lines.append(f"it is in a sub-folder, so ComfyUI lists it as '{sub}' and a workflow asking for "
                             f"'{name}' fails. Move it up (or pick '{sub}' in the loader):")
            else:
                yh = _yaml_hint(cfg, folder, path)
                if yh:
                    lines.append(yh)
                    lines.append("or move it into a folder ComfyUI searches:" if mdst and c.status in USABLE else "")
                elif mdst:
                    lines.append(f"ComfyUI does not look in {os.path.dirname(path)} for '{folder}' files. Move it:")
                else:
                    lines.append(f"ComfyUI has no '{folder}' folder configured: add one to extra_model_paths.yaml "
                                 f"(`{folder}: {os.path.dirname(path)}`)")
            if not exact_name:
                lines.append(f"(its name also differs from '{name}' in {_name_difference(os.path.basename(path), name)})")
            if mdst and c.status in USABLE:
                f.fix = _mv(path, mdst)
                lines.append(f.fix)
            elif mdst:
                lines.append(f"once replaced, it belongs at {mdst}")
        if c.status not in USABLE:
            lines.insert(0, c.hint)
        elif c.hint:
            lines.append(c.hint)
        f.hint = "\n".join(x for x in lines if x)
        return f

    # 4. a partial download
    partial = sorted(p for p in listing.partials if os.path.basename(p).startswith(name)
                     or (p.endswith(".incomplete") and name in listing.hf_pending.get(os.path.dirname(p), ())))
    if partial:
        p = partial[0]
        f.status, f.path = "truncated", p
        try:
            f.size = os.stat(p).st_size
        except OSError:
            pass
        pct = _partial_progress(p)
        f.hint = (f"only an unfinished download exists ({os.path.basename(p)}{pct}): finish or restart it, "
                  f"then it must end up as {f.expected_path or name}. Download: {entry.url}")
        return f

    # 5. missing
    lines = []
    if not sdirs:
        lines.append(f"ComfyUI has no '{folder}' folder configured: add `{folder}: {folder}/` to your "
                     "extra_model_paths.yaml section (the stock RunPod worker config lacks it)")
    for b in listing.broken:
        if os.path.basename(b) == name:
            try:
                target = os.readlink(b)
            except OSError:
                target = "?"
            lines.append(f"{b} is a broken symlink (to {target}); ComfyUI skips it")
    for p, c in similar_wrong[:2]:
        lines.append(f"'{p}' has a similar name but is not this file: {c.hint.split(' Get the right file')[0]}")
    for p in listing.others:
        if difflib.SequenceMatcher(None, normalize_name(os.path.basename(p)), norm).ratio() >= 0.75:
            lines.append(f"found {p}: GGUF files need the ComfyUI-GGUF loader; the Wan templates and this pack use "
                         f"the .safetensors file")
            break
    pool = list(listing.dir_files.get(pref, {})) if pref else []
    close = difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
    if close:
        lines.append("closest names there (other files): " + ", ".join(close))
    if f.expected_path:
        lines.append(f"download it to {f.expected_path}:")
        lines.append(f"wget -c -O {shlex.quote(f.expected_path)} {shlex.quote(entry.url)}")
    else:
        lines.append(f"download: {entry.url}")
    f.hint = "\n".join(lines)
    return f


def _pick(cands: list[tuple[str, Check, bool]]) -> tuple[str, Check, bool] | None:
    """The best stray copy: usable first, then damaged ones (their damage is the finding)."""
    for want in (USABLE, DAMAGE):
        for p, c, exact in cands:
            if c.status in want:
                return p, c, exact
    return None


def _alternatives(entry: CatalogFile, listing: Listing, headers: HeaderCache, exclude: set[str]) -> str | None:
    norm = normalize_name(entry.name)
    for base, paths in listing.by_name.items():
        if base != entry.name and (base in _CATALOG_NAMES or not _similar(norm, base)):
            continue
        for p in paths:
            if p not in exclude and inspect_file(entry, p, headers, listing.aria2).status in USABLE:
                return p
    return None


def _top_level_of(path: str, sdirs: list[SearchDir]) -> str | None:
    parent = os.path.dirname(path)
    return next((d.path for d in sdirs if d.path == parent), None)


def _sub_of(path: str, sdirs: list[SearchDir]) -> str | None:
    for d in sdirs:
        if _inside(path, d.path) and os.path.dirname(path) != d.path:
            return os.path.relpath(path, d.path).replace(os.sep, "/")
    return None


def _shadow_reason(d: SearchDir) -> str:
    if d.section is not None and d.section.is_default:
        return f"'is_default: true' in section '{d.section.name}' of {d.section.yaml_path} puts its folder first"
    if d.section is None and "--root" not in d.source and "yaml" not in d.source:
        return "ComfyUI's own models folder comes before extra_model_paths folders"
    return "its folder comes first in ComfyUI's search order"


def _partial_progress(path: str) -> str:
    try:
        h = read_header(path)
    except HeaderError:
        return ""
    return f", {100.0 * min(h.file_size, h.data_end) / max(h.data_end, 1):.1f}% of {h.data_end:,} bytes"


# ---------------------------------------------------------------- the run

def run_inventory(cfg: FolderConfig, verify: bool = False, roles: Iterable[str] | None = None,
                  progress: Progress | None = None, cache: bool = True) -> Report:
    t0 = time.perf_counter()
    headers = HeaderCache(shared=cache)
    listing = scan(cfg)
    warnings: list[str] = []
    for top in listing.truncated_walk:
        warnings.append(f"stopped listing {top} after {MAX_ROOT_ENTRIES:,} entries: files deeper in it were not "
                        "searched (point --root at the models folder itself)")
    for u in listing.unlistable[:5]:
        warnings.append(f"cannot list {u}: files in it are invisible to ComfyUI too")
    wanted = set(roles) if roles else {f.role for f in FILES}
    # Parsing headers allocates thousands of small dicts that form no cycles; letting them trigger
    # the cyclic GC costs a full scan of the host process each time (ComfyUI's is large).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        findings = [_find(cfg, entry, listing, headers) for entry in FILES if entry.role in wanted]
    finally:
        if gc_was_enabled:
            gc.enable()
    if verify:
        _verify(findings, headers, progress)
    workflows = {p.workflow_id: _workflow_status(p, findings, cfg) for p in PRESET_TABLE
                 if set(p.required_roles) <= wanted}
    return Report(roots=list(cfg.roots), files=findings, workflows=workflows, problems=list(cfg.problems),
                  warnings=list(cfg.warnings) + warnings, seconds=time.perf_counter() - t0,
                  search_dirs={k: cfg.dirs(k) for k in WAN_FOLDER_KEYS})


def _workflow_status(p: Preset, findings: list[Finding], cfg: FolderConfig) -> WorkflowStatus:
    by_role = {f.role: f for f in findings}
    blocking: list[dict[str, str]] = []
    warnings: list[str] = []
    stand_ins: list[str] = []
    for problem in cfg.problems:
        # a folder config ComfyUI cannot load: reported as a corrupt file, keeping statuses to the 8 of the contract
        name = problem.split(": ", 1)[0].split(", section", 1)[0]
        blocking.append({"role": "config", "name": name, "status": "corrupt", "hint": problem})
    for role in p.required_roles:
        f = by_role[role]
        if f.status == "stand_in":
            stand_ins.append(f.name)
        elif f.status not in USABLE:
            blocking.append({"role": role, "name": f.name, "status": f.status, "hint": f.hint})
    for role in p.optional:
        opt = by_role.get(role)
        if opt is not None and opt.status not in USABLE:
            warnings.append(f"optional {opt.name} is {opt.status}; the workflow runs without it")
    return WorkflowStatus(ready=not blocking, blocking=blocking, warnings=warnings, stand_ins=stand_ins)


# ---------------------------------------------------------------- deep verify

def blake3_available() -> bool:
    try:
        import blake3  # noqa: F401
    except ImportError:
        return False
    return True


def hash_range(path: str, start: int = 0, end: int | None = None, algo: str = "sha256",
               progress: Callable[[int], None] | None = None) -> str:
    """Hex digest of bytes [start, end) of a file (the whole file by default)."""
    h: Any
    if algo == "blake3":
        import blake3

        h = blake3.blake3(max_threads=blake3.blake3.AUTO)
    else:
        h = hashlib.new(algo)
    bufsize = 16 * 1024 * 1024
    done = 0
    if progress is not None:
        progress(0)
    with open(path, "rb") as fh:
        fh.seek(start)
        remaining = None if end is None else end - start
        while remaining is None or remaining > 0:
            chunk = fh.read(bufsize if remaining is None else min(bufsize, remaining))
            if not chunk:
                break
            h.update(chunk)
            done += len(chunk)
            if remaining is not None:
                remaining -= len(chunk)
            if progress is not None:
                progress(done)
    return str(h.hexdigest())


def _sample_digest(path: str, start: int, end: int, samples: int = 16, chunk: int = 1 << 20) -> str:
    """Digest of `samples` evenly spread 1 MiB pieces of [start, end): tells two same-size files apart."""
    h = hashlib.sha256()
    span = end - start
    with open(path, "rb") as fh:
        if span <= samples * chunk:
            fh.seek(start)
            h.update(fh.read(span))
        else:
            for i in range(samples):
                fh.seek(start + (span - chunk) * i // (samples - 1))
                h.update(fh.read(chunk))
    return h.hexdigest()


def _verify(findings: list[Finding], headers: HeaderCache, progress: Progress | None) -> None:
    have_blake3 = blake3_available()
    for f in findings:
        if f.status not in USABLE or not f.path:
            continue
        entry = BY_ROLE[f.role]
        try:
            st = os.stat(f.path)
        except OSError:
            continue
        h, _ = headers.get(f.path, st)
        if isinstance(h, HeaderError):
            continue

        if f.status == "stand_in":
            algos = (["blake3"] if have_blake3 else []) + ["sha256"]
            algo = next((a for a in algos if h.metadata.get(f"wan22.data_{a}")), None)
            if algo is None:
                _note(f, "no data hash recorded in this stand-in: header checks only")
                continue
            got = hash_range(f.path, h.data_start, h.data_end, algo, _ticker(progress, f.name, h.data_end - h.data_start))
            if got != h.metadata[f"wan22.data_{algo}"]:
                f.status = "corrupt"
                f.hint = (f"its tensor data does not match the {algo} recorded when the stand-in was written: the "
                          "file was modified or damaged. Re-run `python -m wan22 demo-volume` on the folder")
            else:
                _note(f, f"verified: tensor data {algo} matches the recorded one")
            continue
        published = {"blake3": getattr(entry, "blake3", None) if have_blake3 else None, "sha256": entry.sha256}
        algo = next((a for a, v in published.items() if v), None)
        if algo is None:
            _note(f, "no published hash for this file in the catalog: header checks only")
            continue
        want = str(published[algo])
        got = hash_range(f.path, 0, None, algo, _ticker(progress, f.name, f.size or 0))
        if got != want:
            other = next((o.name for o in FILES if o.role != entry.role and
                          (o.sha256 == got or getattr(o, "blake3", None) == got)), None)
            f.status = "wrong_model"
            f.hint = (f"{algo} {got[:16]}... is not the published {want[:16]}...: "
                      + (f"this is {other}, under the wrong name" if other else "a different build or damaged data")
                      + f". Re-download: {entry.url}")
        else:
            _note(f, f"verified: {algo} matches the published file")
    by_role = {f.role: f for f in findings}
    for a, b in EXPERT_PAIRS:
        fa, fb = by_role.get(a), by_role.get(b)
        if not (fa and fb and fa.path and fb.path and fa.status in USABLE and fb.status in USABLE):
            continue
        try:
            sa, sb = os.stat(fa.path), os.stat(fb.path)
        except OSError:
            continue
        if sa.st_size != sb.st_size:
            continue
        ha, _ = headers.get(fa.path, sa)
        hb, _ = headers.get(fb.path, sb)
        if isinstance(ha, HeaderError) or isinstance(hb, HeaderError):
            continue
        if (os.path.samefile(fa.path, fb.path)
                or _sample_digest(fa.path, ha.data_start, ha.data_end) == _sample_digest(fb.path, hb.data_start, hb.data_end)):
            for x, y in ((fa, fb), (fb, fa)):
                x.status = "wrong_model"
                x.hint = (f"its tensor data is identical to {y.name}: one of the two is a copy under the wrong name "
                          "(the high-noise and low-noise files always differ). Re-download both: "
                          f"{BY_ROLE[x.role].url}")


def _ticker(progress: Progress | None, name: str, total: int) -> Callable[[int], None] | None:
    if progress is None:
        return None

    def tick(done: int) -> None:
        progress(name, done, total)

    return tick


def _note(f: Finding, line: str) -> None:
    f.hint = f"{f.hint}\n{line}" if f.hint else line


def stderr_progress(stream: Any = None) -> Progress:
    """A progress bar on stderr: redrawn in place on a terminal, one line per file otherwise."""
    out = stream if stream is not None else sys.stderr
    tty = bool(getattr(out, "isatty", lambda: False)())
    last = [0.0, time.monotonic()]  # last draw, start of the current file
    current = [""]

    def show(name: str, done: int, total: int) -> None:
        now = time.monotonic()
        if name != current[0]:
            current[0], last[1] = name, now
            if done == 0:
                return
        finished = total > 0 and done >= total
        if not finished and now - last[0] < (0.2 if tty else 5.0):
            return
        last[0] = now
        pct = 100.0 * done / total if total else 100.0
        elapsed = now - last[1]
        rate = f"{done / elapsed / 1e6:7.0f} MB/s" if elapsed > 0.05 else ""
        bar = "#" * int(pct / 5)
        line = f"verify {name[:44]:<44} [{bar:<20}] {pct:5.1f}% {rate}"
        if tty:
            out.write("\r" + line + ("\n" if finished else ""))
        else:
            out.write(line + "\n")
        out.flush()

    return show


ALL_WORKFLOWS = WORKFLOW_IDS


def check_model_file(role: str, path: str) -> str | None:
    """None when the file's header fits `role`; otherwise why not (truncated, corrupt, wrong
    model...), read from the header only, before ComfyUI is handed the file."""
    check = inspect_file(BY_ROLE[role], path, HeaderCache())
    if check.status in USABLE:
        return None
    return f"{check.status}: {check.hint}"
