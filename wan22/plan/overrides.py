"""The router's input rules, in one place: Wan22ModeRouter's widget values -> `Overrides`.

The node, the `/wan22/plan` route and the API-workflow preflight all call
`overrides_from_inputs`, so "0 / -1 / auto means the preset" and the LoRA slot rules cannot drift
apart; the frontend sends the raw widget values to the route and re-declares none of them.
`routing.resolve` then applies the overrides to a preset and checks every pairing.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import PlanError
from .presets import SINGLE_MODEL_MODES

AUTO = "auto"  # combo value: the preset's (or the catalog's) choice
NONE = "none"  # combo value: nothing in this slot

# Widget limits, shared by the node's schema and resolve's range checks.
STEPS_MAX = 10000
CFG_MAX = 100.0
SHIFT_MAX = 100.0
LORA_STRENGTH_MAX = 100.0

# Every router input this module reads, with the widget value that keeps the preset's setting.
DEFAULTS: dict[str, Any] = {
    "steps": 0, "cfg": 0.0, "shift": 0.0, "split_step": -1, "sampler_name": AUTO, "scheduler": AUTO,
    "lora_high": AUTO, "lora_low": AUTO, "lora_strength": 0.0, "relight": True, "lightning": AUTO,
}


@dataclass
class Overrides:
    """Optional user overrides; None (or 0 in steps/cfg/shift) keeps the preset's value."""

    steps: int | None = None
    cfg: float | None = None
    shift: float | None = None
    sampler: str | None = None
    scheduler: str | None = None
    split_step: int | None = None  # None or negative: from the MoE boundary
    lora_strength: float | None = None  # of each stage's first LoRA
    experts: dict[str, str] = field(default_factory=dict)  # role -> file name
    loras: dict[str, str | None] = field(default_factory=dict)  # "high"/"low"/"single" -> file or None (none)
    relight: bool = True
    # Presets with a base stage (fast_motion): its length in steps and its cfg; None keeps the preset's.
    # No router widget yet: the CLI and the Python API set them.
    base_steps: int | None = None
    base_cfg: float | None = None
    # Fast presets: the Lightning generation ('auto' or an id of wan22/data/lightning.json), and the
    # file names on the volume 'auto' may pick from (None: unknown, 'auto' keeps the preset's LoRAs).
    lightning: str | None = None
    available: tuple[str, ...] | None = None


def _number(name: str, value: Any, kind: type[int] | type[float]) -> int | float:
    """A widget number, converted as ComfyUI converts it (int("4") = 4); PlanError names the input."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise PlanError(f"{name} {value!r} is not a number: give a {kind.__name__}")
    try:
        out = kind(value)
    except (ValueError, OverflowError):
        raise PlanError(f"{name} {value!r} is not a valid {kind.__name__}") from None
    if not math.isfinite(out):
        raise PlanError(f"{name} must be a finite number, got {value!r}")
    return out


def _choice(name: str, value: Any, options: Collection[str] | None, what: str) -> str | None:
    """None for 'auto'; the value when `options` is None or lists it."""
    text = str(value)
    if text == AUTO:
        return None
    if options is not None and text not in options:
        raise PlanError(f"{name} '{text}' is not a ComfyUI {what}: use 'auto' (the preset's) or one of ComfyUI's")
    return text


def _lora_slots(mode: str, lora_high: str, lora_low: str) -> dict[str, str | None]:
    """The LoRA per stage slot the user picked; 'auto' slots are absent (the preset's LoRA)."""
    single = mode in SINGLE_MODEL_MODES
    if single and lora_low not in (AUTO, NONE):
        raise PlanError(f"lora_low has no effect in mode {mode} (one model): put the LoRA in lora_high, "
                        "or set lora_low to 'auto'")
    slots = (("single", lora_high),) if single else (("high", lora_high), ("low", lora_low))
    return {slot: None if value == NONE else value for slot, value in slots if value != AUTO}


def overrides_from_inputs(mode: str, inputs: Mapping[str, Any], *, samplers: Collection[str] | None = None,
                          schedulers: Collection[str] | None = None) -> Overrides:
    """Overrides from the router's widget values (keys as in DEFAULTS; others are ignored).

    A missing key keeps its default, which means the preset's value: steps/cfg/shift/lora_strength
    0, split_step -1, sampler_name/scheduler/lora_high/lora_low/lightning 'auto'; lora 'none' means no LoRA
    in that slot. Numbers may be numeric strings (ComfyUI converts them the same way). `samplers`
    and `schedulers`, when given, are ComfyUI's lists to check the names against. A caller that
    cannot know a value (an API prompt's link) leaves the key out. Raises PlanError naming the input.
    """
    v = {**DEFAULTS, **{k: inputs[k] for k in DEFAULTS if k in inputs}}
    split = int(_number("split_step", v["split_step"], int))
    if split < -1:
        raise PlanError(f"split_step {split}: use -1 (from the boundary) or a step number")
    strength = float(_number("lora_strength", v["lora_strength"], float))
    if not -LORA_STRENGTH_MAX <= strength <= LORA_STRENGTH_MAX:
        raise PlanError(f"lora_strength {strength:g} is out of range -{LORA_STRENGTH_MAX:g}..{LORA_STRENGTH_MAX:g} "
                        "(0 keeps the preset's strength)")
    if not isinstance(v["relight"], bool):
        raise PlanError(f"relight must be true or false, got {v['relight']!r}")
    if not isinstance(v["lightning"], str) or not v["lightning"]:
        raise PlanError(f"lightning must be 'auto' or a generation id, got {v['lightning']!r}")
    return Overrides(
        steps=int(_number("steps", v["steps"], int)) or None,
        cfg=float(_number("cfg", v["cfg"], float)) or None,
        shift=float(_number("shift", v["shift"], float)) or None,
        split_step=None if split < 0 else split,
        sampler=_choice("sampler_name", v["sampler_name"], samplers, "sampler"),
        scheduler=_choice("scheduler", v["scheduler"], schedulers, "scheduler"),
        lora_strength=strength or None,
        loras=_lora_slots(mode, str(v["lora_high"]), str(v["lora_low"])),
        relight=v["relight"],
        lightning=None if v["lightning"] == AUTO else v["lightning"],
    )
