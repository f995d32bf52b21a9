"""Lightning generations: which 4-step LoRA pair, or which distilled expert pair, a fast preset
runs (wan22/data/lightning.json, every row checked at import).

`lightning` is 'auto' or a generation id. 'auto' keeps the preset's own LoRAs unless it knows
what is on the volume (`Overrides.available`, the file names ComfyUI lists): then it picks the
newest complete high + low pair there is for the mode, or the distilled experts the bundle holds.
A generation of kind 'lora' puts its high LoRA on the high expert and its low LoRA on the low one;
one of kind 'experts' replaces both experts and runs them without a LoRA, at the card's settings.
`refusals` names what does not fit: a step-distill LoRA on a distilled expert, a high LoRA of one
generation with the low of another, a T2V generation on the I2V experts.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..catalog import BY_ROLE, LIGHTNING_DATA, lightning_role
from ..errors import PlanError
from .modes import FAMILIES, FAMILY_MODES, family
from .overrides import AUTO, Overrides
from .presets import Preset

SIDES = ("high", "low")
# The presets whose LoRA slots a generation fills: the 4-step pair, and the 3-stage recipe whose
# last two stages carry the same pair (a distilled expert pair cannot run fast_motion's base stage).
LIGHTNING_PRESETS = ("fast", "fast_motion")
KINDS = ("lora", "experts")


@dataclass(frozen=True)
class Side:
    role: str  # catalog role
    name: str  # the file name ComfyUI lists (the catalog's)
    aliases: tuple[str, ...]  # the same file under the names of common re-uploads
    rank: int | None


@dataclass(frozen=True)
class Card:
    """The settings a generation's card (or the ComfyUI template, where the card names none) gives."""

    steps: int
    cfg: float
    strength: float
    shift: float
    sampler: str
    scheduler: str


@dataclass(frozen=True)
class Generation:
    id: str
    label: str
    kind: str  # lora | experts
    task: str  # i2v | t2v: the experts it fits
    date: str | None
    auto: bool  # lightning=auto may pick it
    high: Side | None
    low: Side | None
    card: Card
    source: str
    folders: tuple[str, ...] = ()  # the official repository's <folder>/{high,low}_noise_model.safetensors

    @property
    def complete(self) -> bool:
        return self.high is not None and self.low is not None

    @property
    def pair(self) -> bool:
        """A high and a low file of their own (the Wan 2.1 480p LoRA is one file on both experts)."""
        return self.high is not None and self.low is not None and self.high.role != self.low.role

    def side(self, side: str) -> Side | None:
        return self.high if side == "high" else self.low

    def as_dict(self, chosen: str, default: bool, used: Collection[str] = ()) -> dict[str, Any]:
        """The plan's `lightning` entry; `chosen` says how ('auto' or 'set'), `default` whether it is
        the preset's own LoRA pair; `files` per side the name the plan runs (of the files in `used`:
        a re-upload name or the official folder), else the published name."""
        files = {s: x.name for s in SIDES if (x := self.side(s)) is not None}
        for f in used:
            hit = identify(f)
            if hit is not None and hit[0] is self:
                files[hit[1]] = f
        return {"id": self.id, "label": self.label, "kind": self.kind, "task": self.task, "date": self.date,
                "chosen": chosen, "default": default, "files": files}


def _side(gid: str, side: str, raw: Any) -> Side | None:
    if raw is None:
        return None
    where = f"{LIGHTNING_DATA.name}: generation {gid}: {side}"
    if not isinstance(raw, dict) or ("role" in raw) == ("name" in raw):
        raise PlanError(f"{where}: give either a catalog 'role' or a new file's 'name' (and its fields)")
    role = raw["role"] if "role" in raw else lightning_role(gid, side)
    if role not in BY_ROLE:
        raise PlanError(f"{where}: {role!r} is not a catalog role (wan22/catalog.py)")
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise PlanError(f"{where}: 'aliases' must be a list of file names")
    return Side(role, BY_ROLE[role].name, tuple(aliases), raw.get("rank"))


def _generation(raw: Mapping[str, Any]) -> Generation:
    gid = raw.get("id")
    where = f"{LIGHTNING_DATA.name}: generation {gid!r}"
    if not isinstance(gid, str) or raw.get("kind") not in KINDS or raw.get("task") not in FAMILIES:
        raise PlanError(f"{where}: needs a string 'id', 'kind' one of {KINDS} and 'task' {' or '.join(FAMILIES)}")
    s = raw.get("settings") or {}
    try:
        card = Card(int(s["steps"]), float(s["cfg"]), float(s["strength"]), float(s["shift"]), str(s["sampler"]),
                    str(s["scheduler"]))
    except (KeyError, TypeError, ValueError) as e:
        raise PlanError(f"{where}: 'settings' needs steps, cfg, strength, shift, sampler, scheduler ({e})") from None
    high, low = (_side(gid, side, raw.get(side)) for side in SIDES)
    if high is None and low is None:
        raise PlanError(f"{where}: neither a high nor a low file")
    folders = raw.get("folders", [])
    if not isinstance(folders, list) or not all(isinstance(f, str) and f and "/" not in f for f in folders):
        raise PlanError(f"{where}: 'folders' must be a list of folder names (no '/')")
    return Generation(gid, str(raw.get("label", gid)), raw["kind"], raw["task"], raw.get("date"),
                      bool(raw.get("auto", False)), high, low, card, str(raw.get("source", "")), tuple(folders))


def load_generations(doc: Mapping[str, Any]) -> tuple[Generation, ...]:
    gens = tuple(_generation(g) for g in doc.get("generations", []))
    ids = [g.id for g in gens]
    if len(set(ids)) != len(ids):
        raise PlanError(f"{LIGHTNING_DATA.name}: a generation id appears twice: {ids}")
    return gens


GENERATIONS: tuple[Generation, ...] = load_generations(json.loads(LIGHTNING_DATA.read_text(encoding="utf-8")))
BY_ID: dict[str, Generation] = {g.id: g for g in GENERATIONS}
CHOICES: tuple[str, ...] = (AUTO, *(g.id for g in GENERATIONS if g.pair))


# The official repository's bare file names inside a generation's folder, by side.
BARE = {"high_noise_model.safetensors": "high", "low_noise_model.safetensors": "low"}


def _file_index(gens: tuple[Generation, ...]) -> dict[str, tuple[Generation, str]]:
    """lower-case file name (published and re-upload names, and '<folder>/<bare name>' of the
    official folders) -> (generation, side)."""
    out: dict[str, tuple[Generation, str]] = {}
    for g in gens:
        for side in SIDES:
            x = g.side(side)
            for name in (x.name, *x.aliases) if x is not None else ():
                out.setdefault(name.lower(), (g, side))
            for folder in g.folders:
                bare = next(b for b, s in BARE.items() if s == side)
                out.setdefault(f"{folder}/{bare}".lower(), (g, side))
    return out


_BY_FILE = _file_index(GENERATIONS)


def identify(name: str | None) -> tuple[Generation, str] | None:
    """(generation, side) of a file name (a sub-folder path or another case is the same file; a
    bare high_noise_model / low_noise_model file is known by the folder it is in)."""
    if not name:
        return None
    base = _base(name)
    if base in BARE:
        parts = name.replace("\\", "/").lower().split("/")
        return _BY_FILE.get("/".join(parts[-2:])) if len(parts) > 1 else None
    return _BY_FILE.get(base)


def _base(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1].lower()


def _listed(gen: Generation, side: str, available: tuple[str, ...] | None) -> str | None:
    """The name ComfyUI lists for a generation's file: its published name (a file in a sub-folder
    is listed as 'sub/name') before a re-upload name or an official folder; None: not listed."""
    x = gen.side(side)
    if x is None:
        return None
    hits = [n for n in available or () if identify(n) == (gen, side)]
    return next((n for n in hits if _base(n) == x.name.lower()), hits[0] if hits else None)


def _newest(gens: list[Generation]) -> Generation | None:
    return max(gens, key=lambda g: g.date or "", default=None)


def preset_generation(p: Preset) -> Generation | None:
    """The generation of the preset's own LoRAs (v1 for i2v, v1.1 for t2v)."""
    if len(p.loras) != 2 or not p.loras[0]:
        return None
    hit = identify(BY_ROLE[p.loras[0][0].role].name)
    return hit[0] if hit else None


def applies(mode: str, preset: str) -> bool:
    return family(mode) is not None and preset in LIGHTNING_PRESETS


def _explicit(mode: str, p: Preset, lid: str) -> Generation:
    task = str(family(mode))  # `apply` comes here for a family's modes only
    gen = BY_ID.get(lid)
    if gen is None:
        raise PlanError(f"unknown lightning generation {lid!r}: use 'auto' or one of {', '.join(CHOICES[1:])}")
    fits = [g.id for g in GENERATIONS if g.task == task and g.pair and g.auto]
    if gen.task != task:
        raise PlanError(f"lightning {gen.id} is a {gen.task.upper()} generation ({gen.label}) but mode {mode} runs on "
                        f"the {task.upper()} experts: use lightning 'auto' or one of {', '.join(fits)}")
    if gen.complete and not gen.pair:
        raise PlanError(f"lightning {gen.id} ({gen.label}) is one LoRA on both experts, not a high + low pair: use "
                        f"preset 'fast_480p' for it, or one of {', '.join(fits)}")
    if not gen.complete:
        raise PlanError(f"lightning {gen.id} ({gen.label}) publishes no "
                        f"{'low' if gen.low is None else 'high'}-noise file, so it is no pair to run: use one of "
                        f"{', '.join(fits)}")
    if gen.kind == "experts" and p.preset == "fast_motion":
        raise PlanError(f"lightning {gen.id} is a distilled expert pair, and fast_motion's first stage runs the base "
                        "high-noise expert without LoRA: use preset 'fast' with it, or a LoRA generation "
                        f"({', '.join(g for g in fits if BY_ID[g].kind == 'lora')})")
    return gen


def _auto(mode: str, p: Preset, ov: Overrides) -> Generation | None:
    """What 'auto' runs: the distilled experts the user chose, the generation of a LoRA the user
    chose, else the newest complete pair on the volume (when known), else the preset's own."""
    task = family(mode)
    experts = [identify(f) for f in ov.experts.values()]
    if experts and all(e is not None and e[0].kind == "experts" for e in experts):
        gens = {e[0].id for e in experts if e is not None}
        return experts[0][0] if experts[0] and len(gens) == 1 else None  # a mixed pair: `refusals` says so
    picked = [hit[0] for s in SIDES if (hit := identify(ov.loras.get(s))) is not None]
    if picked:
        return picked[0] if picked[0].complete else None
    if ov.available is not None:
        present = [g for g in GENERATIONS if g.task == task and g.auto and g.complete
                   and (g.kind == "lora" or (p.preset == "fast" and not ov.experts))
                   and all(_listed(g, s, ov.available) is not None for s in SIDES)]
        newest = _newest(present)
        if newest is not None:
            return newest
    return preset_generation(p)


def apply(mode: str, p: Preset, ov: Overrides) -> tuple[Preset, Overrides, Generation | None, str]:
    """The preset and overrides with the generation's files and card settings filled in where the
    user left 'auto'; the generation (None: not a lightning preset) and how it was chosen."""
    lid = ov.lightning if ov.lightning and ov.lightning != AUTO else None
    if not applies(mode, p.preset):
        if lid is not None:
            raise PlanError(f"lightning {lid} applies to the presets {', '.join(LIGHTNING_PRESETS)} of modes "
                            f"{', '.join(FAMILY_MODES)}; {mode}/{p.preset} has no 4-step LoRA pair: set lightning to 'auto'")
        return p, ov, None, ""
    gen = _explicit(mode, p, lid) if lid is not None else _auto(mode, p, ov)
    if gen is None:
        return p, ov, None, ""
    ov = replace(ov, loras=dict(ov.loras), experts=dict(ov.experts))
    if lid is not None:  # a named generation replaces the Lightning LoRAs a workflow names (the examples name v1)
        ov.loras = {slot: f for slot, f in ov.loras.items() if f is None or identify(f) is None}
    if gen.kind == "experts":
        wrong = []
        for role, side in zip(p.experts, SIDES, strict=True):
            x = gen.side(side)
            assert x is not None
            if identify(ov.experts.setdefault(role, _listed(gen, side, ov.available) or x.name)) != (gen, side):
                wrong.append(f"{'high' if side == 'high' else 'low'}_noise_model to {x.name}")
        if wrong:
            raise PlanError(f"lightning {gen.id} runs its own distilled experts, not the ones the bundle loads: set "
                            f"the bundle's {' and '.join(wrong)} (or lightning to 'auto' for a LoRA pair)")
        for side in SIDES:
            ov.loras.setdefault(side, None)
        p = replace(p, loras=((), ()))
    else:
        for side, uses in zip(SIDES, p.loras, strict=True):
            x = gen.side(side)
            listed = _listed(gen, side, ov.available)
            if side not in ov.loras and x is not None and (not uses or uses[0].role != x.role or (
                    listed is not None and listed != x.name)):  # the preset's file under another listed name
                ov.loras[side] = listed or x.name
    if ov.lora_strength is None and gen.card.strength != 1.0:
        ov.lora_strength = gen.card.strength
    if p.preset == "fast":
        c = gen.card
        p = replace(p, steps=c.steps, cfg=c.cfg, shift=c.shift, sampler=c.sampler, scheduler=c.scheduler,
                    distill=True, allowed_steps=(c.steps, c.steps))
        if gen is not preset_generation(p):
            what = ("the distilled high- and low-noise experts, no LoRA" if gen.kind == "experts" else
                    "its high-noise LoRA on the high expert, its low-noise LoRA on the low expert")
            p = replace(p, summary=f"{gen.label}: {what}, {c.steps} steps, cfg {c.cfg:g}, shift {c.shift:g}, "
                                   f"{c.sampler}/{c.scheduler}.", source=gen.source)
    return p, ov, gen, "set" if lid is not None else "auto"


def refusals(mode: str, experts: Mapping[str, str], loras: Collection[tuple[str, str]], cfg: float,
             steps: int) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the generation rules. `experts` is role -> file (high role first),
    `loras` the (slot, file) pairs on the experts."""
    problems: list[str] = []
    warnings: list[str] = []
    task = family(mode)
    if task is None or len(experts) != 2:
        return problems, warnings
    hx, lx = (identify(f) for f in experts.values())
    distilled = {s: x[0] for s, x in zip(SIDES, (hx, lx), strict=True) if x is not None and x[0].kind == "experts"}
    for slot, file in loras:
        hit = identify(file)
        if slot in distilled and (hit is not None or "4step" in file.lower() or "distill" in file.lower()):
            g = distilled[slot]
            problems.append(f"{file} is a step-distill LoRA but the {slot}-noise expert {list(experts.values())[SIDES.index(slot)]} "
                            f"is a distilled 4-step expert ({g.label}) that runs without one: set lora_{slot} to "
                            f"'none' (lightning {g.id} does), or load the base experts for a LoRA generation")
        if (hit is not None and slot in SIDES and hit[1] != slot and hit[0].high != hit[0].low
                and "_noise" not in file.lower()):  # names with high_noise/low_noise: routing says it
            problems.append(f"{file} is the {hit[1]}-noise LoRA of {hit[0].label} but it is on the {slot}-noise "
                            f"expert: put {_side_name(hit[0], slot)} there")
        if hit is not None and hit[0].task != task and task.lower() not in file.lower():
            problems.append(f"{file} belongs to {hit[0].label}, a {hit[0].task.upper()} generation, but mode {mode} "
                            f"runs on the {task.upper()} experts: use an {task.upper()} generation's LoRA")
    problems += _pair_problems(loras, warnings)
    if len(distilled) == 2 and distilled["high"].id != distilled["low"].id:
        problems.append(f"the high-noise expert is from {distilled['high'].label} and the low-noise expert from "
                        f"{distilled['low'].label}: load both experts of one generation ("
                        f"{_pair_names(distilled['high'])})")
    elif len(distilled) == 1:
        (side, g), = distilled.items()
        warnings.append(f"only the {side}-noise expert is a distilled expert ({g.label}); the other is a base expert: "
                        f"the card runs both distilled ({_pair_names(g)})")
    if distilled:
        g = next(iter(distilled.values()))
        if abs(cfg - g.card.cfg) > 1e-6:
            problems.append(f"cfg {cfg:g} with distilled experts ({g.label}): they are cfg-distilled for cfg "
                            f"{g.card.cfg:g}; set cfg to {g.card.cfg:g} (or 0 for the preset)")
        if steps != g.card.steps:
            problems.append(f"steps {steps} with distilled experts ({g.label}): they are distilled for "
                            f"{g.card.steps} steps; set steps to {g.card.steps} (or 0 for the preset)")
    return problems, warnings


def _side_name(g: Generation, side: str) -> str:
    x = g.side(side)
    return x.name if x is not None else f"no {side}-noise file ({g.label} publishes none)"


def _pair_names(g: Generation) -> str:
    return " + ".join(x.name for x in (g.high, g.low) if x is not None)


def _pair_problems(loras: Collection[tuple[str, str]], warnings: list[str]) -> list[str]:
    """A high LoRA of one generation with the low LoRA of another: refused when both generations
    publish a pair (the fix names a real file), a warning when one of them has no such file."""
    hits = {slot: identify(file) for slot, file in loras if slot in SIDES}
    hi, lo = hits.get("high"), hits.get("low")
    if hi is None or lo is None or hi[0].id == lo[0].id or hi[0].kind != "lora" or lo[0].kind != "lora":
        return []
    gh, gl = hi[0], lo[0]
    if gh.complete and gl.complete:
        assert gh.low is not None and gl.high is not None
        return [f"the high-noise LoRA is from {gh.label} and the low-noise LoRA from {gl.label}: a pair is distilled "
                f"together; use {gh.low.name} on the low expert (lightning {gh.id}), or {gl.high.name} on the high "
                f"expert (lightning {gl.id})"]
    warnings.append(f"the high-noise LoRA is from {gh.label} and the low-noise LoRA from {gl.label}: "
                    f"{gh.label if not gh.complete else gl.label} publishes only one side, so this mix is the "
                    "community's pairing, not a published pair")
    return []
