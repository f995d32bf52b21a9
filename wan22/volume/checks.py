"""Judging one file as a catalog entry, from its header alone: truncated, corrupt, the wrong
model, a stand-in, or ok (with a note when its size is not the published one). Where the file
sits (missing, misplaced, misnamed) is find.py's business, not this module's.

Headers are cached by path and (inode, size, mtime, ctime), so a changed file is read again.
"""

from __future__ import annotations

import os
import shlex
import stat
from dataclasses import dataclass

from ..catalog import BY_ROLE, FILES, LIGHTNING_FILES, USABLE, CatalogFile
from .identify import STAND_IN_ROLE_KEY, Identity, identify, is_stand_in
from .listing import SAFETENSORS_EXTS
from .report import fmt_size
from .safetensors_header import Header, HeaderError, read_header

SIZE_TOLERANCE = 0.03
NO_URL = "(no download link is known: get it where the workflow came from)"
LORA_TARGET_DIM = 5120  # every LoRA in the catalog patches the 14B models

_CacheKey = tuple[int, int, int, int]
_CACHE: dict[str, tuple[_CacheKey, Header | HeaderError, Identity | None]] = {}
_CACHE_MAX = 2048


class HeaderCache:
    """Headers keyed by path and (inode, size, mtime, ctime): a changed file is read again.
    The module-level store survives between runs in one process (ComfyUI's node and route)."""

    def __init__(self, shared: bool = True) -> None:
        self._store = _CACHE if shared else {}

    def get(self, path: str, st: os.stat_result) -> tuple[Header | HeaderError, Identity | None]:
        """The header of `path` (or why it cannot be read) and its identity, read once per file version."""
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


def source_of(entry: CatalogFile) -> str:
    """Where to download the file (a workflow's own file may come without a link)."""
    return entry.url or NO_URL


def kind_fits(want: str, kind: str) -> bool:
    """Whether a header identity `kind` is what an entry wants: the same kind, or for the files a
    workflow names outside the catalog 'any:<kinds or families>' / 'not:<kinds or families>'
    (a family is the part before ':', e.g. 'lora' of 'lora:wan')."""
    family = kind.split(":", 1)[0]
    for prefix, inside in (("any:", True), ("not:", False)):
        if want.startswith(prefix):
            listed = set(want[len(prefix):].split(","))
            return (kind in listed or family in listed) == inside
    return kind == want


@dataclass
class Check:
    """One file judged as one catalog entry."""

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
                     f"Wan templates use the .safetensors file. Download: {source_of(entry)}", None, size)
    h, ident = headers.get(path, st)
    if isinstance(h, HeaderError):
        if h.reason == "unreadable":
            return Check("corrupt", f"{h}. The file may be intact, but ComfyUI cannot read it either: check its "
                         f"permissions (chmod a+r {shlex.quote(path)}) and that the volume is mounted", None, size)
        return Check("corrupt", f"not a readable safetensors file: {h}. Re-download it: {source_of(entry)}", None, size)
    if ident is None:
        ident = identify(h)
    damage = _damage(entry, path, size, h, ident, aria2)
    if damage is not None:
        return damage
    problem = _identity_problem(entry, ident, h)
    if problem:
        return Check("wrong_model", problem, ident, size, h)
    if is_stand_in(h):
        return Check("stand_in", "", ident, size, h)
    return Check("ok", _size_note(entry, size), ident, size, h)


def _damage(entry: CatalogFile, path: str, size: int, h: Header, ident: Identity,
            aria2: set[str] | None) -> Check | None:
    """Truncated (cut short, or aria2 still at it) or trailing bytes: the data is not all there."""
    if h.truncated:
        missing = h.data_end - h.file_size
        pct = 100.0 * h.file_size / max(h.data_end, 1)
        also = _identity_problem(entry, ident, h)
        again = ("a demo-volume stand-in cut short: run `python -m wan22 demo-volume` on the folder again"
                 if is_stand_in(h) else f"the download stopped early. Re-download it: {source_of(entry)}")
        return Check("truncated",
                     f"the file is {h.file_size:,} bytes but its header needs {h.data_end:,} ({missing:,} bytes "
                     f"missing, {pct:.1f}% present): {again}" + (f"\nAlso: {also}" if also else ""), ident, size, h)
    if aria2 is not None and path in aria2:
        return Check("truncated", f"aria2 has not finished it ({os.path.basename(path)}.aria2 is next to it): the file "
                     f"has its full size but not all of its data. Resume the download (aria2c -c) or re-download: {source_of(entry)}",
                     ident, size, h)
    if h.trailing_bytes:
        return Check("corrupt", f"{h.trailing_bytes:,} extra bytes after the last tensor (the header accounts for "
                     f"{h.data_end:,} of {h.file_size:,}): the safetensors library refuses such a file ('file not fully "
                     f"covered'). Re-download it: {source_of(entry)}", ident, size, h)
    return None


def _size_note(entry: CatalogFile, size: int) -> str:
    """A note when a file whose header fits is not the published size."""
    if entry.size and entry.size_exact and size != entry.size:
        return (f"{size:,} bytes, not the {entry.size:,} of the published file: the header fits, so this is probably "
                f"another build of it (run --verify against a known hash to be sure)")
    if entry.size and not entry.size_exact and abs(size - entry.size) > SIZE_TOLERANCE * entry.size:
        return f"{fmt_size(size)}, the published file is about {fmt_size(entry.size)}: another precision, rank or build"
    return ""


def _expected_dim(entry: CatalogFile) -> int | None:
    if entry.dim:
        return entry.dim
    return LORA_TARGET_DIM if entry.kind == "lora:wan" else None


def _identity_problem(entry: CatalogFile, ident: Identity, h: Header) -> str:
    """Why the header says this is not `entry` ('' when it fits)."""
    want = entry.kind
    stand_in = is_stand_in(h)
    if not kind_fits(want, ident.kind):
        msg = f"the header says this is {ident.label}, but {entry.name} must be {entry.description}."
        belongs = [f.name for f in FILES if f.kind == ident.kind and f.role != entry.role]
        if belongs and ident.kind.startswith(("wan_dit", "wan_vae")):
            msg += f" A file with this header belongs under {' or '.join(belongs)}."
        msg += f" Get the right file: {source_of(entry)}"
        return msg
    want_dim = _expected_dim(entry)
    if want_dim and ident.dim and not stand_in and ident.dim != want_dim:
        return (f"the header says this is {ident.label}, but {entry.name} must be the 14B-size file "
                f"(width {want_dim}, found {ident.dim}). Get the right file: {source_of(entry)}")
    if want == "lora:wan":
        in_dim = ident.facts.get("in_dim")
        task = "t2v" if "t2v" in entry.role else "i2v" if "i2v" in entry.role else None
        if in_dim is not None and task is not None and (task == "i2v" and in_dim != 36 or task == "t2v" and in_dim != 16):
            return (f"this LoRA patches a model with in_dim {in_dim}, which does not fit the {task.upper()} experts "
                    f"(in_dim {36 if task == 'i2v' else 16}). Get the right file: {source_of(entry)}")
    role = h.metadata.get(STAND_IN_ROLE_KEY)
    if stand_in and role and role != entry.role and role in BY_ROLE and not _distilled_expert_for(role, entry):
        return (f"a demo-volume stand-in made for {BY_ROLE[role].name}, copied or renamed to {entry.name}. "
                f"Re-run `python -m wan22 demo-volume` on the folder, or put the real file here: {source_of(entry)}")
    return ""


def _distilled_expert_for(role: str, entry: CatalogFile) -> bool:
    """A distilled expert's stand-in (demo-volume --with-lightning) is a full expert: the bundle
    loads it in an expert's slot (high_noise_model / low_noise_model) under its own name."""
    made_for = BY_ROLE[role]
    return made_for in LIGHTNING_FILES and made_for.kind == entry.kind and entry.folder == "diffusion_models"


def check_model_file(role: str, path: str) -> str | None:
    """None when the file's header fits `role`; otherwise why not (truncated, corrupt, wrong
    model...), read from the header only, before ComfyUI is handed the file."""
    check = inspect_file(BY_ROLE[role], path, HeaderCache())
    if check.status in USABLE:
        return None
    return f"{check.status}: {check.hint}"
