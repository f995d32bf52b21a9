"""Which Lightning generation a volume can run a fast workflow with, found by name and header.

A fast workflow (i2v_fast, t2v_fast, flf2v_fast, and the fast_motion ones) is ready through any
of its paths: the preset's own LoRA pair, a newer LoRA pair of wan22/data/lightning.json on the
base experts, or (preset 'fast' only) a distilled expert pair without LoRA. `fast_path` judges
each with the inventory's own finder (the same statuses, headers and hints) and says which path
is ready, newest first; `generation_roles` gives the catalog roles one generation's path needs,
for `fetch --lightning`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..catalog import BY_ROLE, LIGHTNING_FILES, USABLE
from ..errors import PlanError
from ..plan.lightning import GENERATIONS, LIGHTNING_PRESETS, Generation, identify
from ..plan.modes import family
from ..plan.presets import Preset
from .checks import HeaderCache, inspect_file
from .find import find
from .listing import Listing
from .report import Finding
from .roots import FolderConfig

LIGHTNING_ROLES: tuple[str, ...] = tuple(f.role for f in LIGHTNING_FILES)


@dataclass(frozen=True)
class FastPath:
    generation: Generation
    roles: tuple[str, ...]  # every role this path needs

    @property
    def kind(self) -> str:
        return self.generation.kind


def applies(p: Preset) -> bool:
    return family(p.mode) is not None and p.preset in LIGHTNING_PRESETS


def path_roles(p: Preset, g: Generation) -> tuple[str, ...]:
    """The roles workflow `p` needs when it runs generation `g`: its LoRAs replace the preset's
    LoRAs, its experts replace the experts (and then no LoRA)."""
    assert g.high is not None and g.low is not None
    if g.kind == "experts":
        swap = dict(zip(p.experts, (g.high.role, g.low.role), strict=True))
        lora_roles = {u.role for stage in p.loras for u in stage}
        return tuple(dict.fromkeys(swap.get(r, r) for r in p.required_roles if r not in lora_roles))
    swap = {}
    for uses, side in zip(p.loras, (g.high, g.low), strict=True):
        if uses:
            swap[uses[0].role] = side.role
    return tuple(dict.fromkeys(swap.get(r, r) for r in p.required_roles))


def fast_paths(p: Preset) -> list[FastPath]:
    """Every path of a fast workflow, newest generation first; the preset's own path included."""
    if not applies(p):
        return []
    task = family(p.mode)
    gens = [g for g in GENERATIONS if g.task == task and g.pair
            and (g.kind == "lora" or p.preset == "fast")]
    gens.sort(key=lambda g: g.date or "", reverse=True)
    return [FastPath(g, path_roles(p, g)) for g in gens]


def generation_roles(p: Preset, lightning: str) -> tuple[str, ...]:
    """The roles `fetch --lightning ID` makes ready for workflow `p`; PlanError when it does not fit."""
    for path in fast_paths(p):
        if path.generation.id == lightning:
            return path.roles
    fits = [x.generation.id for x in fast_paths(p)]
    raise PlanError(f"lightning {lightning} does not fit workflow {p.workflow_id}"
                    + (f": use one of {', '.join(fits)}" if fits else " (it has no 4-step LoRA pair)"))


RANKS: dict[str, int] = {x.role: x.rank for g in GENERATIONS for x in (g.high, g.low)
                         if x is not None and x.rank and x.role in LIGHTNING_ROLES}


def lightning_findings(cfg: FolderConfig, listing: Listing, headers: HeaderCache) -> dict[str, Finding]:
    """The inventory's finding for every generation file the catalog's FILES do not hold; a LoRA
    whose header has another rank than its release (a rank-reduced re-upload under the published
    name) is the wrong model."""
    out = {f.role: find(cfg, f, listing, headers) for f in LIGHTNING_FILES}
    for f in out.values():
        _check_rank(f, headers)
    return out


def _check_rank(f: Finding, headers: HeaderCache) -> None:
    want = RANKS.get(f.role)
    if want is None or f.status != "ok" or not f.path:
        return
    try:
        _h, ident = headers.get(f.path, os.stat(f.path))
    except OSError:
        return
    rank = ident.facts.get("rank") if ident is not None else None
    if isinstance(rank, int) and rank != want:
        f.status = "wrong_model"
        f.hint = (f"the header says rank {rank}, but {f.name} is the rank-{want} release (a rank-reduced copy "
                  f"under the published name?). Get the right file: {BY_ROLE[f.role].url}")


def listed_copies(cfg: FolderConfig, listing: Listing) -> dict[str, list[tuple[str, str]]]:
    """role -> [(name as ComfyUI lists it, path)] of the generation files the volume holds under
    another name of the same release (a re-upload name, or the official folder's
    <folder>/high_noise_model.safetensors), in ComfyUI's search order."""
    out: dict[str, list[tuple[str, str]]] = {}
    for key in ("loras", "diffusion_models"):
        for d in cfg.dirs(key):
            for rel, path in listing.dir_files.get(d, {}).items():
                hit = identify(rel)
                x = hit[0].side(hit[1]) if hit is not None else None
                if x is not None and BY_ROLE[x.role].folder == key and os.path.basename(rel).lower() != x.name.lower():
                    out.setdefault(x.role, []).append((rel, path))
    return out


def copy_findings(cfg: FolderConfig, listing: Listing, headers: HeaderCache) -> dict[str, Finding]:
    """role -> the finding of the first copy ComfyUI lists under another name of the release
    (judged by its header as the published file: statuses, hints and rank as for that file)."""
    out: dict[str, Finding] = {}
    for role, copies in listed_copies(cfg, listing).items():
        rel, path = copies[0]
        check = inspect_file(replace(BY_ROLE[role], name=rel), path, headers, listing.aria2)
        f = Finding(rel, BY_ROLE[role].folder, role, check.status, path, path, check.size, check.hint,
                    check.identity.label if check.identity else None)
        _check_rank(f, headers)
        out[role] = f
    return out


def fast_path(p: Preset, by_role: Mapping[str, Finding]) -> dict[str, Any] | None:
    """The workflow's `lightning` entry: the newest ready path ({path: 'lora' | 'experts',
    generation, label, files}), or path None with the generations it could run once fetched."""
    paths = fast_paths(p)
    if not paths:
        return None
    for path in paths:
        if all(r in by_role and by_role[r].status in USABLE for r in path.roles):
            g = path.generation
            own = {x.role for x in (g.high, g.low) if x is not None}
            files = [by_role[r].name for r in path.roles if r in own]
            return {"path": g.kind, "generation": g.id, "label": g.label, "files": files}
    return {"path": None, "generation": None, "label": None, "files": [],
            "fetch": [x.generation.id for x in paths]}


def available_names(cfg: FolderConfig, listing: Listing) -> tuple[str, ...]:
    """File names as ComfyUI lists them in the loras and diffusion_models folders ('sub/name' for a
    file in a sub-folder): what 'auto' picks from."""
    out: list[str] = []
    for key in ("loras", "diffusion_models"):
        for d in cfg.dirs(key):
            out += list(listing.dir_files.get(d, {}))
    return tuple(dict.fromkeys(out))
