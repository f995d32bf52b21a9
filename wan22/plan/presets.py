"""The router's presets: one `Preset` per (mode, preset), read from `wan22/data/presets.json`.

The table is data, not code: each row names its fields (no positional arguments to count), and
the loader checks every row (known fields, types, catalog roles, one row per key) so a bad edit
fails at import with the file, the row and the field. What a mode is (its files, boundary, media,
nodes) is its row in modes.json (`modes.ModeSpec`); a preset's experts must be the mode's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from ..catalog import BY_ROLE
from ..errors import PlanError
from .modes import MODE_BY_NAME, MODES, mode_spec

PRESETS = ("quality", "fast", "fast_480p", "fast_motion", "distilled")

# The 4-step Lightning LoRAs are distilled for exactly these settings.
LIGHTNING_ROLES = ("lora_i2v_high", "lora_i2v_low", "lora_t2v_high", "lora_t2v_low")

PRESETS_FILE = Path(__file__).resolve().parent.parent / "data" / "presets.json"


@dataclass(frozen=True)
class LoraUse:
    """One LoRA of a preset: its catalog role and strength."""

    role: str
    strength: float = 1.0


@dataclass(frozen=True)
class StageSpec:
    """One sampling stage of a preset's `stages` layout (presets.json).

    `expert` indexes `experts`; `lora` indexes `loras` (the router's LoRA slot: 0 high, 1 low) or
    is None for no LoRA; `cfg` is the stage's own cfg (None: the plan's cfg, which the user's cfg
    sets); `steps`, only on the first stage, ends it that many steps in (the user's base_steps
    replaces it). A stage without `steps` ends where the next stage's expert takes over (the MoE
    boundary or split_step) or at the last step.
    """

    expert: int
    lora: int | None
    cfg: float | None = None
    steps: int | None = None


@dataclass(frozen=True)
class Preset:
    """One row of presets.json."""

    mode: str
    preset: str
    experts: tuple[str, ...]  # one role (single model) or (high, low)
    loras: tuple[tuple[LoraUse, ...], ...]  # per expert, in application order
    steps: int
    cfg: float
    sampler: str
    scheduler: str
    shift: float
    summary: str
    source: str
    distill: bool = False  # step/cfg-distilled LoRAs: cfg must be 1
    allowed_steps: tuple[int, int] | None = None  # inclusive range when distilled
    optional: tuple[str, ...] = ()  # roles used when present, not required
    stages: tuple[StageSpec, ...] = ()  # the stage layout; () = one stage per expert with its own LoRAs

    @property
    def layout(self) -> tuple[StageSpec, ...]:
        """The stages to run: the row's `stages`, else one per expert with its LoRA slot."""
        return self.stages or tuple(StageSpec(i, i) for i in range(len(self.experts)))

    @property
    def workflow_id(self) -> str:
        return self.mode if self.preset == "quality" else f"{self.mode}_{self.preset}"

    @property
    def required_roles(self) -> tuple[str, ...]:
        roles: list[str] = list(self.experts)
        for stage in self.loras:
            roles += [u.role for u in stage if u.role not in self.optional]
        spec = MODE_BY_NAME[self.mode]
        roles += [spec.text_encoder, spec.vae, *spec.extra_roles]
        return tuple(dict.fromkeys(roles))


# ---------------------------------------------------------------- loading presets.json

_REQUIRED = {f.name for f in fields(Preset) if f.default is MISSING}  # no default: each row gives it
_KIND = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}
_SCALARS: dict[str, type] = {"mode": str, "preset": str, "steps": int, "cfg": float, "sampler": str,
                             "scheduler": str, "shift": float, "summary": str, "source": str, "distill": bool}


def _fail(where: str, msg: str) -> PlanError:
    return PlanError(f"{PRESETS_FILE.name}: {where}: {msg}; fix the row (fields: see wan22/plan/presets.py Preset)")


def _scalar(where: str, name: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool) == (kind is bool):
        if kind is float and isinstance(value, int):
            return float(value)  # a hand edit may write 5.0 as 5
        if isinstance(value, kind):
            return value
    raise _fail(where, f"'{name}' must be {_KIND[kind]}, got {value!r}")


def _roles(where: str, name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise _fail(where, f"'{name}' must be a list of catalog roles, got {value!r}")
    unknown = [r for r in value if r not in BY_ROLE]
    if unknown:
        raise _fail(where, f"'{name}' names {unknown[0]!r}, which is not a catalog role (wan22/catalog.py)")
    return tuple(value)


def _lora(where: str, raw: Any) -> LoraUse:
    if not isinstance(raw, dict) or "role" not in raw or set(raw) - {"role", "strength"}:
        raise _fail(where, f"a LoRA is {{\"role\": ..., \"strength\": ...}}, got {raw!r}")
    (role,) = _roles(where, "loras", [raw["role"]])
    return LoraUse(role, _scalar(where, "strength", raw.get("strength", 1.0), float))


_STAGE_KEYS = {"expert", "lora", "cfg", "steps"}


def _stage(where: str, k: int, raw: Any, n_experts: int) -> StageSpec:
    at = f"{where}: stages[{k}]"
    if not isinstance(raw, dict) or "expert" not in raw or set(raw) - _STAGE_KEYS:
        raise _fail(at, f"a stage is {{\"expert\": i, \"lora\": i or null, \"cfg\": x, \"steps\": n}}, got {raw!r}")
    expert, lora, cfg, steps = raw["expert"], raw.get("lora"), raw.get("cfg"), raw.get("steps")
    if isinstance(expert, bool) or not isinstance(expert, int) or not 0 <= expert < n_experts:
        raise _fail(at, f"'expert' must index 'experts' (0-{n_experts - 1}), got {expert!r}")
    if lora is not None and (isinstance(lora, bool) or not isinstance(lora, int) or not 0 <= lora < n_experts):
        raise _fail(at, f"'lora' must index 'loras' (0-{n_experts - 1}) or be null, got {lora!r}")
    if cfg is not None and not (_scalar(at, "cfg", cfg, float) > 0):
        raise _fail(at, f"'cfg' must be above 0, got {cfg!r}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1 or k != 0):
        raise _fail(at, f"'steps' (a whole number >= 1) is for the first stage only, got {steps!r}")
    return StageSpec(expert, lora, None if cfg is None else float(cfg), steps)


def _layout(where: str, raw: Any, n_experts: int) -> tuple[StageSpec, ...]:
    """A row's `stages`, checked: every expert in order, each stage after the first either on the
    next expert or after a first stage that ends by `steps`."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise _fail(where, f"'stages' must be a non-empty list of stages, got {raw!r}")
    out = tuple(_stage(where, k, s, n_experts) for k, s in enumerate(raw))
    experts = [s.expert for s in out]
    if experts[0] != 0 or experts[-1] != n_experts - 1 or any(b - a not in (0, 1) for a, b in zip(experts, experts[1:])):
        raise _fail(where, f"'stages' must run the experts in order, each at least once, got experts {experts}")
    repeats = [k for k in range(1, len(out)) if experts[k] == experts[k - 1]]
    if repeats != ([1] if out[0].steps is not None else []):
        raise _fail(where, "only the first two stages may share an expert, and then the first needs 'steps' "
                           "(where the second takes over), which no other layout takes")
    return out


def _row(where: str, raw: Any) -> Preset:
    if not isinstance(raw, dict):
        raise _fail(where, f"a row is an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {f.name for f in fields(Preset)})
    missing = sorted(_REQUIRED - set(raw))
    if unknown or missing:
        raise _fail(where, f"unknown fields {unknown}" if unknown else f"missing fields {missing}")
    values = {k: _scalar(where, k, raw[k], kind) for k, kind in _SCALARS.items() if k in raw}
    experts = _roles(where, "experts", raw["experts"])
    loras = raw["loras"]
    if not isinstance(loras, list) or len(loras) != len(experts) or not all(isinstance(s, list) for s in loras):
        raise _fail(where, f"'loras' must hold one list per expert ({len(experts)}), got {loras!r}")
    allowed = raw.get("allowed_steps")
    if allowed is not None and not (isinstance(allowed, list) and len(allowed) == 2
                                    and all(isinstance(x, int) for x in allowed)):
        raise _fail(where, f"'allowed_steps' must be [min, max], got {allowed!r}")
    return Preset(**values, experts=experts, loras=tuple(tuple(_lora(where, u) for u in s) for s in loras),
                  allowed_steps=(allowed[0], allowed[1]) if allowed else None,
                  optional=_roles(where, "optional", raw.get("optional", [])),
                  stages=_layout(where, raw.get("stages"), len(experts)))


def _fits_mode(where: str, p: Preset) -> None:
    """The row's experts are its mode's (modes.json), one per expert input, in order."""
    spec = MODE_BY_NAME[p.mode]
    if len(p.experts) != len(spec.experts) or any(r not in roles for r, (_inp, roles) in zip(p.experts, spec.experts)):
        want = " and ".join("/".join(roles) for _inp, roles in spec.experts)
        raise _fail(where, f"'experts' must be mode {p.mode}'s ({want}: modes.json), got {list(p.experts)}")


def load_presets(doc: Mapping[str, Any]) -> tuple[Preset, ...]:
    """The presets of a presets.json document, each row checked; PlanError names the row and field."""
    rows = doc.get("presets")
    if not isinstance(rows, list):
        raise _fail("top level", "'presets' must be a list of rows")
    table: list[Preset] = []
    for i, raw in enumerate(rows):
        label = f"{raw.get('mode')}/{raw.get('preset')}" if isinstance(raw, dict) else "?"
        p = _row(f"row {i} ({label})", raw)
        if p.mode not in MODES or p.preset not in PRESETS:
            raise _fail(f"row {i} ({label})", f"mode must be one of {MODES} and preset one of {PRESETS}")
        _fits_mode(f"row {i} ({label})", p)
        if any((q.mode, q.preset) == (p.mode, p.preset) for q in table):
            raise _fail(f"row {i} ({label})", "a second row for this mode and preset")
        table.append(p)
    bare = [m for m in MODES if not any((p.mode, p.preset) == (m, "quality") for p in table)]
    if bare:
        raise _fail("top level", f"mode {bare[0]} has no 'quality' row (every mode needs one: the refusals name it)")
    return tuple(table)


PRESET_TABLE: tuple[Preset, ...] = load_presets(json.loads(PRESETS_FILE.read_text(encoding="utf-8")))
PRESET_BY_KEY: dict[tuple[str, str], Preset] = {(p.mode, p.preset): p for p in PRESET_TABLE}
WORKFLOW_IDS: tuple[str, ...] = tuple(p.workflow_id for p in PRESET_TABLE)
PRESETS_OF_MODE: dict[str, tuple[str, ...]] = {m: tuple(p.preset for p in PRESET_TABLE if p.mode == m) for m in MODES}
# Modes that run one model (no high/low hand-off): their router has one LoRA slot, lora_high.
SINGLE_MODEL_MODES: tuple[str, ...] = tuple(m for m in MODES if MODE_BY_NAME[m].single_model)


def get_preset(mode: str, preset: str) -> Preset:
    """The preset row, or PlanError naming the modes or the presets of `mode` to use."""
    mode_spec(mode)
    p = PRESET_BY_KEY.get((mode, preset))
    if p is None:
        raise PlanError(
            f"unknown preset {preset!r} for mode {mode!r}: use one of {', '.join(PRESETS_OF_MODE[mode])}"
        )
    return p


def preset_for_workflow(workflow_id: str) -> Preset:
    """The preset a workflow id ('i2v_fast', 't2v', ...) stands for."""
    for p in PRESET_TABLE:
        if p.workflow_id == workflow_id:
            return p
    raise PlanError(f"unknown workflow {workflow_id!r}: use one of {', '.join(WORKFLOW_IDS)}")
