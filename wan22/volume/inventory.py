"""Volume inventory: which Wan 2.2 workflows the model folders can serve, and exactly what is
missing, misplaced, misnamed or damaged. Reads directory listings and safetensors headers only
(tensor data only with verify=True). Never writes, moves or deletes anything; every fix is a
command in the finding's hint (and `fix`) for the user to run.

Resolution follows ComfyUI: a workflow names a file relative to a folder key, ComfyUI compares
that name exactly with its listing and loads the first match in the folder's search order.
This module ties the wing together: listing.py lists, find.py finds each catalog file (judged
by checks.py), verify.py hashes, report.py holds and renders the result. Other code imports
each name from the module that owns it.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable

from ..catalog import FILES, LIGHTNING_FILES, USABLE, WAN_FOLDER_KEYS
from ..plan.presets import PRESET_TABLE, Preset
from .checks import HeaderCache
from .find import find
from .listing import MAX_ROOT_ENTRIES, Listing, scan
from .lora_generation import applies as lightning_applies
from .lora_generation import copy_findings, fast_path, generation_roles, lightning_findings
from .report import Finding, Report, WorkflowStatus
from .roots import FolderConfig
from .verify import Progress, verify_findings


def run_inventory(cfg: FolderConfig, verify: bool = False, roles: Iterable[str] | None = None,
                  progress: Progress | None = None, cache: bool = True, listing: Listing | None = None) -> Report:
    """The inventory of the folders `cfg` describes, for every catalog file (or only `roles`):
    where each file is, what is wrong with it, and which workflows are ready. `verify` hashes the
    data too (slow; `progress` is told about each file); `cache` keeps headers between runs in
    this process (ComfyUI's node and route); `listing` is scan(cfg) when the caller has one."""
    t0 = time.perf_counter()
    headers = HeaderCache(shared=cache)
    listing = listing if listing is not None else scan(cfg)
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
        findings = [find(cfg, entry, listing, headers) for entry in FILES + LIGHTNING_FILES if entry.role in wanted]
        presets = [p for p in PRESET_TABLE if set(p.required_roles) <= wanted]
        fast = any(map(lightning_applies, presets))
        extra = lightning_findings(cfg, listing, headers) if fast else {}
        copies = copy_findings(cfg, listing, headers) if fast else {}
    finally:
        if gc_was_enabled:
            gc.enable()
    if verify:
        verify_findings(findings, headers, progress)
    workflows = {p.workflow_id: _workflow_status(p, findings, cfg, extra, copies) for p in presets}
    return Report(roots=list(cfg.roots), files=findings, workflows=workflows, problems=list(cfg.problems),
                  warnings=list(cfg.warnings) + warnings, seconds=time.perf_counter() - t0,
                  search_dirs={k: cfg.dirs(k) for k in WAN_FOLDER_KEYS})


def _workflow_status(p: Preset, findings: list[Finding], cfg: FolderConfig,
                     extra: dict[str, Finding] | None = None,
                     copies: dict[str, Finding] | None = None) -> WorkflowStatus:
    by_role = {f.role: f for f in findings}
    status = _preset_status(p, by_role, cfg)
    if not lightning_applies(p):
        return status
    # a fast workflow is ready through any Lightning path: a newer LoRA pair, or distilled experts
    found = {**(extra or {}), **by_role}
    for r, f in (copies or {}).items():  # the same release under a name ComfyUI lists (Seko folder, re-upload)
        if r not in found or found[r].status not in USABLE:
            found[r] = f
    status.lightning = fast_path(p, found)
    gen = status.lightning["generation"] if status.lightning else None
    if not status.ready and gen is not None and not cfg.problems:
        roles = generation_roles(p, gen)
        status.ready, status.blocking = True, []
        status.stand_ins = [found[r].name for r in roles if found[r].status == "stand_in"]
    return status


def _preset_status(p: Preset, by_role: dict[str, Finding], cfg: FolderConfig) -> WorkflowStatus:
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
