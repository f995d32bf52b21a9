"""Volume inventory: which Wan 2.2 workflows the model folders can serve, and exactly what is
missing, misplaced, misnamed or damaged. Reads directory listings and safetensors headers only
(tensor data only with verify=True). Never writes, moves or deletes anything.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .catalog import BY_ROLE, FILES, MODEL_EXTENSIONS, CatalogFile
from .identify import Identity, identify, is_stand_in
from .roots import FolderConfig, Root
from .routing import PRESET_TABLE, WORKFLOW_IDS, Preset
from .safetensors_header import Header, HeaderError, read_header

STATUSES = ("ok", "missing", "truncated", "corrupt", "misplaced", "misnamed", "wrong_model", "stand_in")
USABLE = ("ok", "stand_in")
PARTIAL_SUFFIXES = (".part", ".crdownload", ".aria2", ".tmp", ".download", ".incomplete", ".partial")
MAX_WALK_DEPTH = 8
MAX_WALK_ENTRIES = 200_000
SIZE_TOLERANCE = 0.03


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

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "folder": self.folder, "role": self.role, "status": self.status,
                "path": self.path, "expected_path": self.expected_path, "size": self.size,
                "hint": self.hint, "identity": self.identity}


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

    def by_role(self, role: str) -> Finding:
        return next(f for f in self.files if f.role == role)

    def ready(self, workflow_ids: Iterable[str] | None = None) -> bool:
        ids = list(workflow_ids) if workflow_ids else list(self.workflows)
        return all(self.workflows[w].ready for w in ids)

    def as_dict(self) -> dict[str, Any]:
        return {
            "roots": [r.as_dict() for r in self.roots],
            "files": [f.as_dict() for f in self.files],
            "workflows": {k: v.as_dict() for k, v in self.workflows.items()},
            "problems": self.problems,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 4),
        }

    def summary_line(self) -> str:
        ready = [w for w, s in self.workflows.items() if s.ready]
        not_ready = [w for w, s in self.workflows.items() if not s.ready]
        stand = sum(1 for f in self.files if f.status == "stand_in")
        bad = sum(1 for f in self.files if f.status not in USABLE)
        parts = [f"ready: {', '.join(ready) or 'none'}"]
        if not_ready:
            parts.append(f"not ready: {', '.join(not_ready)}")
        if bad:
            parts.append(f"{bad} file problem(s)")
        if stand:
            parts.append(f"{stand} stand-in file(s)")
        return "Wan22 inventory: " + "; ".join(parts)

    def text(self, workflow_ids: Iterable[str] | None = None) -> str:
        ids = list(workflow_ids) if workflow_ids else list(self.workflows)
        out = ["Wan 2.2 volume inventory", "Model folders searched (ComfyUI order):"]
        out += [f"  {r.path}  ({r.source})" for r in self.roots] or ["  (none)"]
        for p in self.problems:
            out.append(f"CONFIG ERROR: {p}")
        for w in self.warnings:
            out.append(f"config warning: {w}")
        out.append("Workflows:")
        for wid in ids:
            st = self.workflows[wid]
            if st.ready:
                extra = f"  (stand-ins: {len(st.stand_ins)})" if st.stand_ins else ""
                out.append(f"  {wid:<14} ready{extra}")
            else:
                out.append(f"  {wid:<14} NOT READY")
                for b in st.blocking:
                    out.append(f"      - {b['name']}: {b['status']}")
            for w in st.warnings:
                out.append(f"      note: {w}")
        out.append("Files:")
        for f in self.files:
            size = _fmt_size(f.size) if f.size is not None else "-"
            out.append(f"  {f.status:<11} {f.folder}/{f.name}  {size}")
            if f.path and f.status not in ("missing",):
                out.append(f"              at {f.path}")
            if f.hint:
                for line in f.hint.split("\n"):
                    out.append(f"              {line}")
        out.append(f"({self.seconds * 1000:.0f} ms)")
        return "\n".join(out)


def _fmt_size(n: int) -> str:
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n} B"


def normalize_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for ext in MODEL_EXTENSIONS:
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    return re.sub(r"[^a-z0-9]", "", base)


# ---------------------------------------------------------------- file walk

@dataclass
class _Index:
    by_base: dict[str, list[str]] = field(default_factory=dict)
    by_norm: dict[str, list[str]] = field(default_factory=dict)
    partials: dict[str, list[str]] = field(default_factory=dict)
    broken_links: list[str] = field(default_factory=list)
    truncated_walk: bool = False

    def add(self, path: str) -> None:
        base = os.path.basename(path)
        low = base.lower()
        if low.endswith(PARTIAL_SUFFIXES):
            stem = base.rsplit(".", 1)[0]
            self.partials.setdefault(stem, []).append(path)
            return
        if not low.endswith(MODEL_EXTENSIONS):
            return
        self.by_base.setdefault(base, []).append(path)
        self.by_norm.setdefault(normalize_name(base), []).append(path)


def _walk(tops: Iterable[str], index: _Index) -> None:
    """os.walk with followlinks like ComfyUI, but bounded: each real directory once (no symlink
    loops), depth <= MAX_WALK_DEPTH, at most MAX_WALK_ENTRIES entries."""
    seen: set[str] = set()
    count = 0
    for top in tops:
        if not os.path.isdir(top):
            continue
        stack = [(top, 0)]
        while stack:
            d, depth = stack.pop()
            try:
                real = os.path.realpath(d)
            except OSError:
                continue
            if real in seen:
                continue
            seen.add(real)
            try:
                it = os.scandir(d)
            except OSError:
                continue
            with it:
                for e in it:
                    count += 1
                    if count > MAX_WALK_ENTRIES:
                        index.truncated_walk = True
                        return
                    if e.name.startswith(".git"):
                        continue
                    try:
                        if e.is_dir(follow_symlinks=True):
                            if depth < MAX_WALK_DEPTH:
                                stack.append((e.path, depth + 1))
                            continue
                        if e.is_file(follow_symlinks=True):
                            index.add(e.path)
                        elif e.is_symlink():
                            index.broken_links.append(e.path)
                    except OSError:
                        continue


# ---------------------------------------------------------------- checks

class _HeaderCache:
    def __init__(self) -> None:
        self._c: dict[str, Header | HeaderError] = {}

    def get(self, path: str) -> Header | HeaderError:
        if path not in self._c:
            try:
                self._c[path] = read_header(path)
            except HeaderError as e:
                self._c[path] = e
        return self._c[path]


def check_file(entry: CatalogFile, path: str, headers: _HeaderCache) -> tuple[str, str, Identity | None, int | None]:
    """(status, hint, identity, size) for a file that claims to be `entry`."""
    try:
        size = os.stat(path).st_size
    except OSError as e:
        return "corrupt", f"cannot stat: {e.strerror}", None, None
    if not path.lower().endswith((".safetensors", ".sft")):
        return "wrong_model", "not a .safetensors file; the pack reads and ComfyUI's templates use safetensors only", None, size
    h = headers.get(path)
    if isinstance(h, HeaderError):
        return "corrupt", f"unreadable safetensors header: {h}. Re-download it from {entry.url}", None, size
    ident = identify(h)
    if h.truncated:
        missing = h.data_end - h.file_size
        pct = 100.0 * h.file_size / max(h.data_end, 1)
        return ("truncated",
                f"the file is {h.file_size:,} bytes but its header needs {h.data_end:,} "
                f"({missing:,} bytes missing, {pct:.1f}% present): the download stopped early. "
                f"Re-download it from {entry.url}", ident, size)
    stand_in = is_stand_in(h)
    problem = _identity_problem(entry, ident, stand_in)
    if problem:
        return "wrong_model", problem, ident, size
    if stand_in:
        return "stand_in", "a tiny random-weight stand-in made by `python -m wan22 demo-volume`: fine for smoke tests, produces noise", ident, size
    hint = ""
    if entry.size and entry.size_exact and size != entry.size:
        hint = f"size {size:,} bytes differs from the published {entry.size:,} bytes: a different build of this file"
    elif entry.size and not entry.size_exact and abs(size - entry.size) > SIZE_TOLERANCE * entry.size:
        hint = f"size {_fmt_size(size)} differs from the expected ~{_fmt_size(entry.size)}: a different precision or build"
    return "ok", hint, ident, size


def _identity_problem(entry: CatalogFile, ident: Identity, stand_in: bool) -> str:
    want = entry.kind
    if ident.kind != want:
        return f"the header says this is {ident.label}, but {entry.name} must be {entry.description}."
    if entry.dim and ident.dim and not stand_in and ident.dim != entry.dim:
        return (f"the header says this is {ident.label}, but {entry.name} must be the full-size "
                f"model (width {entry.dim}).")
    if want == "lora:wan":
        in_dim = ident.facts.get("in_dim")
        if in_dim is not None:
            task = "t2v" if "t2v" in entry.role else "i2v" if "i2v" in entry.role else None
            if task == "i2v" and in_dim != 36 or task == "t2v" and in_dim != 16:
                return f"this LoRA patches a model with in_dim {in_dim}, which does not fit the {task.upper()} experts."
    return ""


def _closest(name: str, candidates: Iterable[str]) -> list[str]:
    return difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)


def _listing(cfg: FolderConfig, folder: str) -> dict[str, str]:
    """ComfyUI's get_filename_list for a folder key: relative name -> first full path."""
    out: dict[str, str] = {}
    for d in cfg.dirs(folder):
        if not os.path.isdir(d):
            continue
        idx = _Index()
        _walk([d], idx)
        for paths in idx.by_base.values():
            for p in paths:
                out.setdefault(os.path.relpath(p, d), p)
    return out


def resolve_file(cfg: FolderConfig, folder: str, name: str) -> tuple[str | None, list[str]]:
    """(the path ComfyUI's get_full_path would load, other copies it would not)."""
    hits = []
    for d in cfg.dirs(folder):
        p = os.path.normpath(os.path.join(d, name))
        if os.path.isfile(p):
            hits.append(p)
    return (hits[0] if hits else None), hits[1:]


def _preferred_dir(cfg: FolderConfig, folder: str, near: str | None = None) -> str | None:
    dirs = cfg.dirs(folder)
    if not dirs:
        return None
    if near:
        # prefer a configured dir on the same root as the stray file
        for d in dirs:
            if os.path.commonpath([os.path.dirname(d), near]) == os.path.dirname(d):
                return d
    existing = [d for d in dirs if os.path.isdir(d)]
    # ComfyUI's own models/unet is listed first but diffusion_models is the documented home
    for d in existing:
        if os.path.basename(d) == folder:
            return d
    return (existing or dirs)[0]


def _mv(src: str, dst: str) -> str:
    return f"mv {shlex.quote(src)} {shlex.quote(dst)}"


def run_inventory(cfg: FolderConfig, verify: bool = False, roles: Iterable[str] | None = None,
                  progress: Callable[[str, int, int], None] | None = None) -> Report:
    t0 = time.perf_counter()
    headers = _HeaderCache()
    index = _Index()
    tops = [r.path for r in cfg.roots] + [d for k in cfg.folders for d in cfg.dirs(k)]
    _walk(dict.fromkeys(tops), index)
    warnings: list[str] = []
    if index.truncated_walk:
        warnings.append(f"stopped listing after {MAX_WALK_ENTRIES} entries; pass narrower --root folders")
    wanted = set(roles) if roles else {f.role for f in FILES}
    listings: dict[str, dict[str, str]] = {}
    findings: list[Finding] = []
    for entry in FILES:
        if entry.role not in wanted:
            continue
        if entry.folder not in listings:
            listings[entry.folder] = _listing(cfg, entry.folder)
        findings.append(_find(cfg, entry, index, headers, listings[entry.folder]))
    if verify:
        _verify(findings, headers, progress)
    workflows = {p.workflow_id: _workflow_status(p, findings, cfg) for p in PRESET_TABLE
                 if set(p.required_roles) <= wanted}
    return Report(roots=list(cfg.roots), files=findings, workflows=workflows, problems=list(cfg.problems),
                  warnings=warnings + list(cfg.warnings), seconds=time.perf_counter() - t0)


def _find(cfg: FolderConfig, entry: CatalogFile, index: _Index, headers: _HeaderCache,
          listing: dict[str, str]) -> Finding:
    folder = entry.folder
    dirs = cfg.dirs(folder)
    pref = _preferred_dir(cfg, folder)
    expected = os.path.join(pref, entry.name) if pref else None
    f = Finding(entry.name, folder, entry.role, "missing", None, expected, None)
    if not dirs:
        f.hint = (f"ComfyUI has no '{folder}' folder configured: add '{folder}: {folder}/' to your "
                  f"extra_model_paths.yaml section (the stock RunPod worker config lacks it)")
        # still look for the file so the hint can say where it is
    path, shadows = resolve_file(cfg, folder, entry.name)
    if path is not None:
        status, hint, ident, size = check_file(entry, path, headers)
        f.status, f.path, f.size, f.identity = status, path, size, ident.label if ident else None
        notes = [hint] if hint else []
        for other in shadows:
            notes.append(f"another copy at {other} is ignored: ComfyUI loads {path} first (first match in search order)")
        f.hint = "\n".join(notes)
        return f

    broken = [p for p in index.broken_links if os.path.basename(p) == entry.name]
    # same name elsewhere: another folder, a sub-folder, or a root ComfyUI does not search
    elsewhere = [p for p in index.by_base.get(entry.name, []) if os.path.isfile(p)]
    if elsewhere:
        src = elsewhere[0]
        status, hint, ident, size = check_file(entry, src, headers)
        f.path, f.size, f.identity = src, size, ident.label if ident else None
        dst_dir = _preferred_dir(cfg, folder, near=_root_of(cfg, src))
        dst = os.path.join(dst_dir, entry.name) if dst_dir else None
        f.expected_path = dst
        rel_sub = _sub_of(cfg, folder, src)
        if status not in USABLE:
            f.status = status
            f.hint = f"{hint}\n(also misplaced: ComfyUI does not find it at {src})"
            return f
        f.status = "misplaced"
        lines = []
        if rel_sub:
            lines.append(f"it is in a sub-folder, so ComfyUI lists it as '{rel_sub}' and a workflow asking for "
                         f"'{entry.name}' fails. Move it up, or select '{rel_sub}' in the loader:")
        elif dst:
            lines.append(f"ComfyUI does not search {os.path.dirname(src)} for '{folder}'. Move it:")
        if dst:
            lines.append(_mv(src, dst))
        else:
            lines.append(f"add '{folder}: {os.path.relpath(os.path.dirname(src), _root_of(cfg, src) or '/')}' to "
                         f"extra_model_paths.yaml, or move it into a '{folder}' folder ComfyUI searches")
        if status == "stand_in":
            lines.append("(it is a stand-in made by demo-volume)")
        f.hint = "\n".join(lines)
        return f

    # similar name in the right folder: case, -/_/. differences, extra suffixes
    norm = normalize_name(entry.name)
    candidates = []
    for rel, full in listing.items():
        n = normalize_name(rel)
        if n == norm or (n.startswith(norm) and len(n) - len(norm) <= 16):
            candidates.append((rel, full))
    if candidates:
        rel, full = candidates[0]
        status, hint, ident, size = check_file(entry, full, headers)
        f.path, f.size, f.identity = full, size, ident.label if ident else None
        if status not in USABLE and status != "wrong_model":
            f.status = status
            f.hint = f"{hint}\n(also misnamed: '{rel}' should be '{entry.name}')"
            return f
        if status == "wrong_model":
            f.status = "missing"
            f.hint = f"'{rel}' has a similar name but is not this file: {hint}\nDownload: {entry.url}"
            return f
        f.status = "misnamed"
        dst = os.path.join(os.path.dirname(full), entry.name)
        f.expected_path = dst
        f.hint = (f"found as '{rel}'; workflows and the loader's 'auto' look for '{entry.name}'. Rename it "
                  f"(or select '{rel}' in the loader):\n{_mv(full, dst)}")
        return f

    partial = [p for p in index.partials.get(entry.name, [])]
    if partial:
        f.status = "truncated"
        f.path = partial[0]
        try:
            f.size = os.stat(partial[0]).st_size
        except OSError:
            pass
        f.hint = f"only a partial download exists ({os.path.basename(partial[0])}): finish or restart the download from {entry.url}"
        return f

    lines = []
    if broken:
        target = os.readlink(broken[0]) if os.path.islink(broken[0]) else "?"
        lines.append(f"{broken[0]} is a broken symlink (to {target}); ComfyUI skips it")
    close = _closest(entry.name, listing)
    if close:
        lines.append("closest existing name(s): " + ", ".join(close))
    if dirs:
        lines.append(f"put it in {pref}")
    lines.append(f"download: {entry.url}")
    if f.hint:
        lines.insert(0, f.hint)
    f.hint = "\n".join(lines)
    return f


def _root_of(cfg: FolderConfig, path: str) -> str | None:
    best = None
    for r in cfg.roots:
        try:
            if os.path.commonpath([r.path, path]) == r.path and (best is None or len(r.path) > len(best)):
                best = r.path
        except ValueError:
            continue
    return best


def _sub_of(cfg: FolderConfig, folder: str, path: str) -> str | None:
    for d in cfg.dirs(folder):
        try:
            if os.path.commonpath([d, path]) == d:
                return os.path.relpath(path, d).replace(os.sep, "/")
        except ValueError:
            continue
    return None


def _workflow_status(p: Preset, findings: list[Finding], cfg: FolderConfig) -> WorkflowStatus:
    by_role = {f.role: f for f in findings}
    blocking: list[dict[str, str]] = []
    warnings: list[str] = []
    stand_ins: list[str] = []
    for problem in cfg.problems:
        blocking.append({"role": "config", "name": "extra_model_paths.yaml", "status": "config_error", "hint": problem})
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

def _hash_range(path: str, start: int, end: int | None, algo: str,
                progress: Callable[[int], None] | None = None) -> str:
    h: Any
    if algo == "blake3":
        import blake3  # type: ignore[import-not-found]

        h = blake3.blake3(max_threads=blake3.blake3.AUTO)
    else:
        h = hashlib.sha256()
    bufsize = 8 * 1024 * 1024
    done = 0
    with open(path, "rb") as fh:
        fh.seek(start)
        remaining = None if end is None else end - start
        while True:
            n = bufsize if remaining is None else min(bufsize, remaining)
            if n <= 0:
                break
            chunk = fh.read(n)
            if not chunk:
                break
            h.update(chunk)
            done += len(chunk)
            if remaining is not None:
                remaining -= len(chunk)
            if progress:
                progress(done)
    return str(h.hexdigest())


def _verify(findings: list[Finding], headers: _HeaderCache,
            progress: Callable[[str, int, int], None] | None) -> None:
    for f in findings:
        if f.status not in USABLE or not f.path:
            continue
        entry = BY_ROLE[f.role]
        h = headers.get(f.path)
        if isinstance(h, HeaderError):
            continue
        total = f.size or 0

        def tick(done: int, _name: str = f.name, _total: int = total) -> None:
            if progress:
                progress(_name, done, _total)

        if f.status == "stand_in":
            for algo in ("blake3", "sha256"):
                want = h.metadata.get(f"wan22.data_{algo}")
                if want:
                    got = _hash_range(f.path, h.data_start, h.data_end, algo, tick)
                    if got != want:
                        f.status = "corrupt"
                        f.hint = f"tensor data does not match the {algo} recorded when the stand-in was made: the file was modified or damaged"
                    else:
                        f.hint = (f.hint + "\n" if f.hint else "") + f"verified: tensor data {algo} matches"
                    break
            continue
        if entry.sha256:
            got = _hash_range(f.path, 0, None, "sha256", tick)
            if got != entry.sha256:
                f.status = "wrong_model"
                f.hint = f"sha256 {got[:16]}... is not the published {entry.sha256[:16]}...: a different or damaged file"
            else:
                f.hint = (f.hint + "\n" if f.hint else "") + "verified: sha256 matches the published file"
        else:
            f.hint = (f.hint + "\n" if f.hint else "") + "no published hash in the catalog: header checks only"


def stderr_progress() -> Callable[[str, int, int], None]:
    last = {"t": 0.0}

    def show(name: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last["t"] < 0.2 and done < total:
            return
        last["t"] = now
        pct = 100.0 * done / total if total else 100.0
        bar = "#" * int(pct / 5)
        sys.stderr.write(f"\rverify {name[:48]:<48} [{bar:<20}] {pct:5.1f}%")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


ALL_WORKFLOWS = WORKFLOW_IDS
