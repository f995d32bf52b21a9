"""Whether the volume can serve a given workflow: every model file it references, judged from its
header exactly as the catalog's files are (missing, misplaced, misnamed, truncated, corrupt, the
wrong model, a stand-in), and the workflow's readiness next to the workflow ids' in one Report.

The references come from wan22.graph.reader (any workflow shape) as its records. A file the catalog knows under that
name is judged as its catalog entry (exact model, size, download link); any other file as what its
node expects: a diffusion model for UNETLoader, a LoRA for LoraLoaderModelOnly, umT5-XXL for
CLIPLoader type 'wan'..., so a LoRA under a diffusion model's name reads `wrong_model` with what it
is and what the node wants. Files that are not safetensors (GGUF...) are checked by name only.
Reads listings and headers; never writes.
"""

from __future__ import annotations

import difflib
import gc
import os
import shlex
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..catalog import BY_NAME, BY_ROLE, USABLE, WAN_FOLDER_KEYS, CatalogFile
from ..graph.records import ModelRef, WorkflowRefs
from .checks import HeaderCache
from .find import find
from .inventory import run_inventory
from .listing import MAX_ROOT_ENTRIES, SAFETENSORS_EXTS, Listing, scan
from .ref_judge import HEADER_EXTS, judged_at, located, same_model, same_model_hint, same_name_elsewhere
from .report import Finding, Report, WorkflowStatus, preset_roles
from .roots import FolderConfig
from .verify import Progress, verify_findings

_NOT_DIT = "lora,wan_vae,vae,umt5_xxl,t5_xxl,t5,clip_text,llm,clip_vision_h,clip_vision,wav2vec2_large,wav2vec2,whisper"
# What a node expects (wan22.graph.reader.ModelRef.expects) -> (words for people, kind spec for checks.kind_fits).
EXPECTS: dict[str, tuple[str, str]] = {
    "diffusion_model": ("a diffusion model", f"not:{_NOT_DIT}"),
    "checkpoint": ("a checkpoint", f"not:{_NOT_DIT}"),
    "text_encoder": ("a text encoder", "not:wan_dit,lora,wan_vae,vae,clip_vision_h,clip_vision,wav2vec2_large,wav2vec2,"
                                       "whisper,checkpoint"),
    "umt5_xxl": ("the umT5-XXL text encoder (CLIPLoader type 'wan' loads umT5)", "umt5_xxl"),
    "vae": ("a VAE", "any:wan_vae,vae"),
    "lora": ("a LoRA", "any:lora"),
    "clip_vision": ("a CLIP vision encoder", "any:clip_vision_h,clip_vision"),
    "audio_encoder": ("an audio encoder", "any:wav2vec2_large,wav2vec2,whisper"),
}


@dataclass
class RefFinding(Finding):
    """A finding for a file a workflow names: also which nodes load it and what they expect."""

    nodes: list[dict[str, str]] = field(default_factory=list)
    expects: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "nodes": self.nodes, "expects": self.expects}


@dataclass
class FileStatus(WorkflowStatus):
    """A workflow file's readiness: the WorkflowStatus keys, plus its format, its references, the
    node types the server lacks and the nodes at fault (for the frontend to highlight)."""

    format: str = "ui"
    shape: str = ""
    unknown_nodes: list[dict[str, Any]] = field(default_factory=list)
    unjudged: list[dict[str, str]] = field(default_factory=list)
    not_checked: list[dict[str, str]] = field(default_factory=list)
    nodes_at_fault: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "format": self.format, "shape": self.shape, "unjudged": self.unjudged,
                "files": [{"folder": f, "name": n} for f, n in self.files or ()],
                "unknown_nodes": self.unknown_nodes, "not_checked": self.not_checked,
                "nodes_at_fault": self.nodes_at_fault}


def entry_for(ref: ModelRef) -> CatalogFile:
    """The catalog entry a reference is judged as: the catalog's own for a catalog file name in its
    folder, else one built from what the node expects (with the workflow's download link)."""
    base = ref.name.replace("\\", "/").rsplit("/", 1)[-1]
    known = BY_ROLE.get(ref.role) if ref.role else BY_NAME.get(base)
    if known is not None and known.folder == ref.folder:
        if ref.name == known.name:
            return known
        same = base == known.name  # the catalog's file in a sub-folder: its size and link still apply
        return CatalogFile("", ref.name, ref.folder, known.kind, known.description, known.size if same else None,
                           known.size_exact, ref.url or (known.url if same else ""), known.dim, known.loader)
    words, spec = EXPECTS.get(ref.expects, ("a model file", "not:"))
    return CatalogFile("", ref.name, ref.folder, spec, f"{words} (node {ref.node} {ref.node_type} loads it as "
                       f"'{ref.input}')", None, False, ref.url or "", loader=ref.node_type)


def _name_only(cfg: FolderConfig, listing: Listing, entry: CatalogFile, extra: Mapping[str, frozenset[str]]) -> Finding:
    """A file whose header we cannot read (not safetensors) or whose folder we do not list: by name."""
    dirs = cfg.dirs(entry.folder)
    for d in dirs:
        p = listing.dir_files.get(d, {}).get(entry.name)
        if p is not None:
            return Finding(entry.name, entry.folder, entry.role, "ok", p, p, _size(p),
                           hint=f"a {os.path.splitext(entry.name)[1] or 'non-safetensors'} file: only its presence is checked")
    if entry.folder in extra:
        if entry.name in extra[entry.folder]:
            return Finding(entry.name, entry.folder, entry.role, "ok", None, None, None,
                           hint=f"listed by ComfyUI in '{entry.folder}'; only its presence is checked")
        pool = sorted(extra[entry.folder])
    else:
        pool = [n for d in dirs for n in listing.dir_files.get(d, {})]
    close = difflib.get_close_matches(entry.name, pool, n=3, cutoff=0.6)
    home = dirs[0] if dirs else None
    lines = ["closest names there: " + ", ".join(close)] if close else []
    if home and entry.url:
        lines.append(f"wget -c -O {shlex.quote(os.path.join(home, entry.name))} {shlex.quote(entry.url)}")
    else:
        lines.append(f"download: {entry.url or '(no download link is known: get it where the workflow came from)'}")
    return Finding(entry.name, entry.folder, entry.role, "missing", None, os.path.join(home, entry.name) if home else None,
                   None, hint="\n".join(lines))


def _windows_hint(cfg: FolderConfig, listing: Listing, ref: ModelRef) -> str:
    """A name saved on Windows (`wan_video\\x.safetensors`): ComfyUI here reads it as one file name."""
    slash = ref.name.replace("\\", "/")
    base = slash.rsplit("/", 1)[-1]
    dirs = cfg.dirs(ref.folder)
    lines = [f"saved on Windows: ComfyUI on this system reads {ref.name!r} as one file name, not as '{slash}' "
             f"in a subfolder of {ref.folder}"]
    names = {n for d in dirs for n in listing.dir_files.get(d, {})}
    where = f"in node {ref.node} ({ref.node_type}) '{ref.input}'"
    if slash in names:
        lines.append(f"pick the existing file '{slash}' {where}")
    if base in names:
        lines.append(f"pick '{base}' (the file at the folder root) {where}")
    if dirs:
        lines.append(f"or put the file at {os.path.join(dirs[0], *slash.split('/'))} and pick '{slash}'")
    return "\n".join(lines)


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


@dataclass
class _Run:
    """One check: folders, listing, headers, and the findings so far (one per folder/name)."""

    cfg: FolderConfig
    listing: Listing
    headers: HeaderCache
    extra: Mapping[str, frozenset[str]]
    findings: dict[tuple[str, str], RefFinding] = field(default_factory=dict)

    def _find(self, ref: ModelRef, entry: CatalogFile, listed: bool) -> Finding:
        """A catalog file as the catalog's; another name by its header where ComfyUI loads it;
        else where users misplace files, or by name for files without a header we read."""
        path = located(self.cfg, self.listing, ref) if listed and not entry.role else None
        if path is not None and path.lower().endswith(HEADER_EXTS) and entry.kind.startswith(("not:", "any:")):
            return judged_at(path, ref, self.headers)
        if listed and ref.name.lower().endswith(SAFETENSORS_EXTS):
            return find(self.cfg, entry, self.listing, self.headers)
        return _name_only(self.cfg, self.listing, entry, self.extra)

    def _elsewhere(self, ref: ModelRef) -> str:
        """For a missing file: the same model under another name, or this name in a subfolder."""
        same = same_model_hint(same_model(self.cfg, self.listing, ref, self.headers), ref)
        sub = same_name_elsewhere(self.cfg, self.listing, ref) if "\\" not in ref.name else []
        return "\n".join([*([same] if same else []), *(
            [f"a file of this name is in a subfolder: pick '{sub[0]}' in node {ref.node} ({ref.node_type}) "
             f"'{ref.input}' if it is this one" + (f" (also: {', '.join(sub[1:])})" if sub[1:] else "")] if sub else [])])

    def judge(self, ref: ModelRef) -> RefFinding | None:
        """The finding for `ref` (shared by every reference to the same file); None: not checked."""
        key = (ref.folder, ref.name)
        if key not in self.findings:
            entry = entry_for(ref)
            listed = ref.folder in WAN_FOLDER_KEYS
            if not listed and ref.folder not in self.extra:
                return None
            f = self._find(ref, entry, listed)
            if "\\" in ref.name and f.status not in USABLE:
                rest = [ln for ln in f.hint.splitlines() if ref.name not in ln and "download it to" not in ln]
                f.status, f.hint = "missing", "\n".join([_windows_hint(self.cfg, self.listing, ref), *rest])
            if f.status == "missing" and listed:
                f.hint = "\n".join(h for h in (self._elsewhere(ref), f.hint) if h)
            words = EXPECTS.get(ref.expects, ("", ""))[0]
            self.findings[key] = RefFinding(**{k: getattr(f, k) for k in Finding.__dataclass_fields__},
                                            expects=entry.description if entry.role else words)
        found = self.findings[key]
        node = {"node": ref.node, "type": ref.node_type, "input": ref.input, "title": ref.title}
        if node not in found.nodes:
            found.nodes.append(node)
        return found


def _status(run: _Run, wf: WorkflowRefs) -> FileStatus:
    st = FileStatus(ready=True, blocking=[], files=[], format=wf.format, shape=wf.shape)
    for problem in run.cfg.problems:
        st.blocking.append({"role": "config", "name": problem.split(": ", 1)[0], "status": "corrupt", "hint": problem})
    for ref in wf.refs:
        f = run.judge(ref)
        if f is None:
            why = (f"not checked: {ref.folder}/{ref.name} (node {ref.node} {ref.node_type}): this check reads only the "
                   f"Wan model folders ({', '.join(WAN_FOLDER_KEYS)}); Check this workflow in ComfyUI's sidebar "
                   "reads every folder ComfyUI has")
            st.not_checked.append({"folder": ref.folder, "name": ref.name, "node": ref.node})
            st.blocking.append({"role": "unjudged", "name": f"{ref.folder}/{ref.name}", "status": "missing",
                                "hint": why, "nodes": [ref.node], "input": ref.input, "why": why})
            continue
        assert st.files is not None
        if (f.folder, f.name) in st.files:
            continue
        st.files.append((f.folder, f.name))
        nodes = [n["node"] for n in f.nodes]
        if f.status == "stand_in":
            st.stand_ins.append(f.name)
        elif f.status not in USABLE:
            st.blocking.append({"role": f.role, "name": f.name, "folder": f.folder, "status": f.status, "hint": f.hint,
                                "nodes": nodes})
    for c in wf.conflicts:
        st.blocking.append({"role": "pairing", "name": f"{c.node_type} {c.input}", "status": "wrong_model",
                            "hint": c.hint(), "nodes": [c.node], "input": c.input, "why": c.why})
    for j in wf.unjudged:
        st.unjudged.append(j.as_dict())
        st.blocking.append({"role": "unjudged", "name": f"{j.node_type} {j.input}", "status": "missing",
                            "hint": j.hint(), "nodes": [j.node], "input": j.input, "why": j.why})
    for u in wf.unknown:
        st.unknown_nodes.append(u.as_dict())
        if wf.live:
            st.blocking.append({"role": "node_type", "name": u.type, "status": "missing", "hint": u.hint(),
                                "nodes": list(u.nodes)})
        else:
            st.warnings.append(u.hint())
    st.warnings += list(wf.notes)
    st.nodes_at_fault = sorted({n for b in st.blocking for n in b.get("nodes") or ()}, key=_node_order)
    st.ready = not st.blocking
    return st


def _node_order(nid: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in str(nid).split(":"))


def check_workflows(cfg: FolderConfig, workflows: Mapping[str, WorkflowRefs], ids: Iterable[str] = (),
                    verify: bool = False, progress: Progress | None = None, cache: bool = True,
                    extra_listings: Mapping[str, Iterable[str]] | None = None) -> Report:
    """The inventory for workflow ids (`ids`, the catalog's files they use) and workflow files
    (`workflows`: key -> its references, e.g. the path as given): one Report whose `workflows` has
    an entry per id and per key, and whose `files` hold every file either names. `extra_listings`:
    {folder key: names} of folders this check does not list itself (ComfyUI's, in the route)."""
    t0 = time.perf_counter()
    listing = scan(cfg)
    ids = list(ids)
    roles = {r for w in ids for r in preset_roles(w)}
    if ids:
        report = run_inventory(cfg, verify=verify, roles=roles, progress=progress, cache=cache, listing=listing)
    else:
        warnings = [f"stopped listing {t} after {MAX_ROOT_ENTRIES:,} entries" for t in listing.truncated_walk]
        report = Report(roots=list(cfg.roots), files=[], workflows={}, problems=list(cfg.problems),
                        warnings=list(cfg.warnings) + warnings, seconds=0.0,
                        search_dirs={k: cfg.dirs(k) for k in WAN_FOLDER_KEYS})
    run = _Run(cfg, listing, HeaderCache(shared=cache), {k: frozenset(v) for k, v in (extra_listings or {}).items()})
    gc_was_enabled = gc.isenabled()
    gc.disable()  # header parsing makes many small acyclic dicts (see inventory.run_inventory)
    try:
        statuses = {key: _status(run, wf) for key, wf in workflows.items()}
    finally:
        if gc_was_enabled:
            gc.enable()
    if verify:
        verify_findings([f for f in run.findings.values() if f.role or f.status == "stand_in"], run.headers, progress)
        statuses = {key: _status(run, wf) for key, wf in workflows.items()}
    _merge(report, run.findings)
    report.workflows.update(statuses)
    report.seconds = time.perf_counter() - t0
    return report


def _merge(report: Report, found: Mapping[tuple[str, str], RefFinding]) -> None:
    """Each file once: a catalog finding the workflow ids already hold takes the nodes of the
    workflow files' references."""
    by_key = {(f.folder, f.name): i for i, f in enumerate(report.files)}
    for key, f in found.items():
        if key in by_key:
            old = report.files[by_key[key]]
            f.role = old.role or f.role
            report.files[by_key[key]] = f
        else:
            report.files.append(f)
