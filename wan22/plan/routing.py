"""Mode router: (mode, preset, overrides) -> plan.

A plan says which expert runs which steps with which LoRA at what strength, and the steps, cfg,
sampler, scheduler and shift. The split step is the number of steps whose sigma is at or above
the MoE boundary on the actual schedule (ComfyUI's, for the chosen steps and shift), exactly as
the official code switches experts at t >= boundary * 1000. It is never assumed to be half.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..catalog import BY_NAME, BY_ROLE, CatalogFile
from ..errors import PlanError

MODES = ("i2v", "t2v", "s2v", "animate")
PRESETS = ("quality", "fast", "fast_480p")

# MoE boundaries of the official configs (wan/configs/wan_{i2v,t2v}_A14B.py).
BOUNDARY = {"i2v": 0.900, "t2v": 0.875}

# Schedulers whose sigmas this module reproduces bit for bit without ComfyUI. The router node
# always takes the sigmas from ComfyUI itself, so it supports every scheduler.
PURE_SCHEDULERS = ("simple",)


@dataclass(frozen=True)
class LoraUse:
    role: str
    strength: float = 1.0


@dataclass(frozen=True)
class Preset:
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

    @property
    def workflow_id(self) -> str:
        return self.mode if self.preset == "quality" else f"{self.mode}_{self.preset}"

    @property
    def required_roles(self) -> tuple[str, ...]:
        roles: list[str] = list(self.experts)
        for stage in self.loras:
            roles += [u.role for u in stage if u.role not in self.optional]
        roles += ["text_encoder", "vae"]
        if self.mode == "s2v":
            roles.append("audio_encoder")
        if self.mode == "animate":
            roles.append("clip_vision")
        return tuple(dict.fromkeys(roles))


L = LoraUse
_RELIGHT = L("lora_animate_relight")

PRESET_TABLE: tuple[Preset, ...] = (
    Preset("i2v", "quality", ("i2v_high", "i2v_low"), ((), ()), 20, 3.5, "euler", "simple", 5.0,
           "Both I2V experts, no distill LoRA, 20 steps, cfg 3.5, shift 5 (ComfyUI template settings); split from the 0.900 boundary.",
           "ComfyUI template video_wan2_2_14B_i2v (20-step group); wan/configs/wan_i2v_A14B.py"),
    Preset("i2v", "fast", ("i2v_high", "i2v_low"), ((L("lora_i2v_high"),), (L("lora_i2v_low"),)), 4, 1.0, "euler", "simple", 5.0,
           "LightX2V 4-step: high-noise LoRA on the high expert, low-noise LoRA on the low expert, cfg 1, 2+2 steps.",
           "ComfyUI template video_wan2_2_14B_i2v (4-step LoRA group); Wan2.2-Lightning i2v config",
           distill=True, allowed_steps=(4, 4)),
    Preset("i2v", "fast_480p", ("i2v_high", "i2v_low"), ((L("lora_i2v_480p"),), (L("lora_i2v_480p"),)), 4, 1.0, "euler", "simple", 5.0,
           "The Wan 2.1 LightX2V 480p step/cfg-distill LoRA on both experts (the setup document's '480p optimized' row); cfg 1.",
           "community recipe; LoRA from lightx2v (Wan 2.1 I2V 480p, rank 64)",
           distill=True, allowed_steps=(4, 8)),
    Preset("t2v", "quality", ("t2v_high", "t2v_low"), ((), ()), 20, 3.5, "euler", "simple", 5.0,
           "Both T2V experts, no distill LoRA, 20 steps, cfg 3.5, shift 5 (ComfyUI template settings); split from the 0.875 boundary.",
           "ComfyUI template video_wan2_2_14B_t2v (20-step group); wan/configs/wan_t2v_A14B.py"),
    Preset("t2v", "fast", ("t2v_high", "t2v_low"), ((L("lora_t2v_high"),), (L("lora_t2v_low"),)), 4, 1.0, "euler", "simple", 5.0,
           "LightX2V 4-step T2V v1.1: high-noise LoRA on the high expert, low-noise LoRA on the low expert, cfg 1.",
           "ComfyUI template video_wan2_2_14B_t2v (4-step LoRA group); Wan2.2-Lightning t2v config",
           distill=True, allowed_steps=(4, 4)),
    Preset("s2v", "quality", ("s2v",), ((),), 20, 6.0, "uni_pc", "simple", 8.0,
           "S2V single model, 20 steps, cfg 6, uni_pc, shift 8 (ComfyUI template without LoRA).",
           "ComfyUI template video_wan2_2_14B_s2v (sampler settings note)"),
    Preset("s2v", "fast", ("s2v",), ((L("lora_t2v_high"),),), 4, 1.0, "uni_pc", "simple", 8.0,
           "S2V with the T2V v1.1 high-noise 4-step LoRA (as the ComfyUI template does), 4 steps, cfg 1.",
           "ComfyUI template video_wan2_2_14B_s2v (4-step group, enabled by default)",
           distill=True, allowed_steps=(4, 4)),
    Preset("animate", "quality", ("animate",), ((_RELIGHT,),), 20, 1.0, "euler", "simple", 5.0,
           "Animate without the distill LoRA: 20 steps, cfg 1, shift 5 (official animate config); relight LoRA when present.",
           "wan/configs/wan_animate_14B.py", optional=("lora_animate_relight",)),
    Preset("animate", "fast", ("animate",), ((L("lora_i2v_480p"), _RELIGHT),), 6, 1.0, "euler", "simple", 8.0,
           "Animate as the ComfyUI template runs it: LightX2V 480p LoRA then relight LoRA, 6 steps, cfg 1, shift 8.",
           "ComfyUI template video_wan2_2_14B_animate (0.1.95)",
           distill=True, allowed_steps=(4, 8), optional=("lora_animate_relight",)),
)

PRESET_BY_KEY: dict[tuple[str, str], Preset] = {(p.mode, p.preset): p for p in PRESET_TABLE}
WORKFLOW_IDS: tuple[str, ...] = tuple(p.workflow_id for p in PRESET_TABLE)
PRESETS_OF_MODE: dict[str, tuple[str, ...]] = {m: tuple(p.preset for p in PRESET_TABLE if p.mode == m) for m in MODES}

# The 4-step Lightning LoRAs are distilled for exactly these settings.
LIGHTNING_ROLES = ("lora_i2v_high", "lora_i2v_low", "lora_t2v_high", "lora_t2v_low")


def get_preset(mode: str, preset: str) -> Preset:
    if mode not in MODES:
        raise PlanError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    p = PRESET_BY_KEY.get((mode, preset))
    if p is None:
        raise PlanError(
            f"unknown preset {preset!r} for mode {mode!r}: use one of {', '.join(PRESETS_OF_MODE[mode])}"
        )
    return p


def preset_for_workflow(workflow_id: str) -> Preset:
    for p in PRESET_TABLE:
        if p.workflow_id == workflow_id:
            return p
    raise PlanError(f"unknown workflow {workflow_id!r}: use one of {', '.join(WORKFLOW_IDS)}")


# ---------------------------------------------------------------- sigma schedules

def flow_sigma_table(shift: float, timesteps: int = 1000, multiplier: float = 1000) -> np.ndarray:
    """ComfyUI's ModelSamplingDiscreteFlow.sigmas, in float32 like torch computes them."""
    ts = (np.arange(1, timesteps + 1, dtype=np.int64) / np.float32(timesteps)).astype(np.float32)
    ts = (ts * np.float32(multiplier)).astype(np.float32)
    t = (ts / np.float32(multiplier)).astype(np.float32)
    if shift == 1.0:
        return t
    a = np.float32(shift)
    num = (a * t).astype(np.float32)
    den = (np.float32(1) + (np.float32(shift - 1) * t).astype(np.float32)).astype(np.float32)
    return (num / den).astype(np.float32)


def sigmas_for(scheduler: str, steps: int, shift: float) -> list[float]:
    """The N+1 sigmas ComfyUI's `scheduler` gives for `steps` at `shift` (last one 0)."""
    if steps < 1:
        raise PlanError(f"steps must be at least 1, got {steps}")
    if scheduler != "simple":
        raise PlanError(
            f"scheduler {scheduler!r}: without ComfyUI only {', '.join(PURE_SCHEDULERS)} can be computed here; "
            "the Wan22ModeRouter node computes every scheduler from ComfyUI's own schedule"
        )
    table = flow_sigma_table(shift)
    ss = len(table) / steps
    sig = [float(table[-(1 + int(x * ss))]) for x in range(steps)]
    return sig + [0.0]


def split_step(sigmas: list[float], boundary: float) -> int:
    """Number of leading steps whose sigma is >= boundary (the high-noise expert's steps).

    Clamped to [1, N-1] when N >= 2 so each expert runs at least one step, as in every template.
    """
    n = len(sigmas) - 1
    count = sum(1 for s in sigmas[:n] if s >= boundary)
    if n >= 2:
        count = max(1, min(n - 1, count))
    return count


def split_closed_form(steps: int, shift: float, boundary: float) -> float:
    """floor(N*(1-t_b))+1 from the fact sheet: a cross-check for split_step, not used for routing."""
    t_b = boundary / (boundary + shift * (1 - boundary))
    return math.floor(steps * (1 - t_b)) + 1


# ---------------------------------------------------------------- plans

@dataclass
class PlanLora:
    role: str | None
    file: str
    strength: float


@dataclass
class Stage:
    expert: str  # role
    expert_file: str
    loras: list[PlanLora]
    start_step: int
    end_step: int
    add_noise: bool
    return_with_leftover_noise: bool

    def as_dict(self) -> dict[str, Any]:
        first = self.loras[0] if self.loras else None
        return {
            "expert": self.expert,
            "expert_file": self.expert_file,
            "lora": first.file if first else None,
            "strength": first.strength if first else None,
            "loras": [asdict(x) for x in self.loras],
            "start_step": self.start_step,
            "end_step": self.end_step,
            "add_noise": self.add_noise,
            "return_with_leftover_noise": self.return_with_leftover_noise,
        }


@dataclass
class Plan:
    mode: str
    preset: str
    workflow: str
    stages: list[Stage]
    steps: int
    split_step: int
    cfg: float
    sampler: str
    scheduler: str
    shift: float
    boundary: float | None
    sigmas: list[float]
    summary: str
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "preset": self.preset,
            "workflow": self.workflow,
            "stages": [s.as_dict() for s in self.stages],
            "steps": self.steps,
            "split_step": self.split_step,
            "cfg": self.cfg,
            "sampler": self.sampler,
            "scheduler": self.scheduler,
            "shift": self.shift,
            "boundary": self.boundary,
            "sigmas": self.sigmas,
            "summary": self.summary,
            "warnings": self.warnings,
        }

    def text(self) -> str:
        lines = [f"Wan 2.2 {self.mode} / {self.preset}: {self.steps} steps, cfg {self.cfg:g}, "
                 f"{self.sampler}/{self.scheduler}, shift {self.shift:g}"]
        if self.boundary is not None:
            lines.append(f"boundary {self.boundary:.3f} -> high-noise steps 0-{self.split_step}, "
                         f"low-noise steps {self.split_step}-{self.steps}")
        for s in self.stages:
            loras = ", ".join(f"{x.file} @ {x.strength:g}" for x in s.loras) or "no LoRA"
            lines.append(f"  steps {s.start_step:>2}-{s.end_step:<2} {s.expert_file}  [{loras}]")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass
class Overrides:
    """Optional user overrides; None (or 0 / 'auto' in the node) keeps the preset's value."""
    steps: int | None = None
    cfg: float | None = None
    shift: float | None = None
    sampler: str | None = None
    scheduler: str | None = None
    split_step: int | None = None
    lora_strength: float | None = None
    experts: dict[str, str] = field(default_factory=dict)  # role -> file name
    loras: dict[str, str | None] = field(default_factory=dict)  # "high"/"low"/"single" -> file or None (none)
    relight: bool = True


def _lora_identity(name: str) -> CatalogFile | None:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return BY_NAME.get(base)


def _lora_task(name: str) -> str | None:
    """'t2v' / 'i2v' / None from a LoRA's file name."""
    low = name.lower()
    if "t2v" in low:
        return "t2v"
    if "i2v" in low:
        return "i2v"
    return None


def _lora_noise(name: str) -> str | None:
    low = name.lower()
    if "high_noise" in low or "high-noise" in low or "highnoise" in low:
        return "high"
    if "low_noise" in low or "low-noise" in low or "lownoise" in low:
        return "low"
    return None


def make_plan(mode: str, preset: str, overrides: Overrides | None = None,
              sigmas: list[float] | None = None) -> Plan:
    """Build the plan. `sigmas` are ComfyUI's own N+1 sigmas when the caller has them (the node);
    otherwise they are computed here (simple scheduler only). Raises PlanError naming the fix."""
    ov = overrides or Overrides()
    p = get_preset(mode, preset)
    problems: list[str] = []
    warnings: list[str] = []

    steps = p.steps if not ov.steps else int(ov.steps)
    cfg = p.cfg if not ov.cfg else float(ov.cfg)
    shift = p.shift if not ov.shift else float(ov.shift)
    sampler = ov.sampler or p.sampler
    scheduler = ov.scheduler or p.scheduler
    if not 1 <= steps <= 10000:
        problems.append(f"steps {steps} is out of range: use 1-10000 (0 keeps the preset's {p.steps})")
    if not 0 < shift <= 100:
        problems.append(f"shift {shift:g} is out of range: use a value in (0, 100] (0 keeps the preset's {p.shift:g})")
    if not 0 <= cfg <= 100:
        problems.append(f"cfg {cfg:g} is out of range: use 0-100 (0 keeps the preset's {p.cfg:g})")

    # Experts: catalog defaults unless the user picked other files.
    expert_files = {r: ov.experts.get(r) or BY_ROLE[r].name for r in p.experts}
    if len(p.experts) == 2:
        hi, lo = p.experts
        if expert_files[hi] == expert_files[lo]:
            problems.append(
                f"the high-noise and low-noise expert are the same file ({expert_files[hi]}): "
                f"pick {BY_ROLE[hi].name} for high and {BY_ROLE[lo].name} for low"
            )
        for role, fname in expert_files.items():
            want = BY_ROLE[role]
            noise = _lora_noise(fname)
            side = "high" if role.endswith("_high") else "low"
            if noise is not None and noise != side:
                problems.append(
                    f"{fname} is a {noise}-noise expert but is set as the {side}-noise expert: use {want.name}"
                )
            task = _lora_task(fname)
            if task is not None and task != mode:
                problems.append(f"{fname} is a {task.upper()} expert but mode is {mode}: use {want.name}")

    # LoRAs per stage.
    slots = ("high", "low") if len(p.experts) == 2 else ("single",)
    stage_loras: list[list[PlanLora]] = []
    for slot, uses in zip(slots, p.loras, strict=True):
        chosen: list[PlanLora] = []
        if slot in ov.loras:
            lora_file = ov.loras[slot]
            if lora_file:
                ident = _lora_identity(lora_file)
                strength = uses[0].strength if uses else 1.0
                chosen.append(PlanLora(ident.role if ident else None, lora_file, strength))
            # the remaining preset LoRAs (e.g. relight) still apply after the chosen first one
            rest = list(uses[1:])
        else:
            rest = list(uses)
            if uses:
                u = uses[0]
                chosen.append(PlanLora(u.role, BY_ROLE[u.role].name, u.strength))
                rest = list(uses[1:])
        for u in rest:
            if u.role == "lora_animate_relight" and not ov.relight:
                continue
            chosen.append(PlanLora(u.role, BY_ROLE[u.role].name, u.strength))
        if ov.lora_strength is not None and chosen:
            chosen[0].strength = float(ov.lora_strength)
        for lora in chosen:
            problems += _pairing_problems(mode, slot, uses, lora)
        stage_loras.append(chosen)

    # Distilled LoRAs need cfg 1 and their step count.
    uses_lightning = any(x.role in LIGHTNING_ROLES or (x.role is None and "4step" in x.file.lower())
                         for st in stage_loras for x in st)
    uses_distill = any(x.role == "lora_i2v_480p" or "distill" in x.file.lower() for st in stage_loras for x in st)
    if uses_lightning or uses_distill:
        if abs(cfg - 1.0) > 1e-6:
            problems.append(
                f"cfg {cfg:g} with a step-distilled LoRA: these LoRAs are distilled for cfg 1.0 "
                f"(cfg > 1 burns the video and doubles the cost); set cfg to 1 (or 0 for the preset), "
                f"or use preset 'quality' for cfg {PRESET_BY_KEY[(mode, 'quality')].cfg:g} without the LoRA"
            )
        lo_hi = (4, 4) if uses_lightning else (p.allowed_steps or (4, 8))
        if not lo_hi[0] <= steps <= lo_hi[1]:
            want_steps = f"{lo_hi[0]}" if lo_hi[0] == lo_hi[1] else f"{lo_hi[0]}-{lo_hi[1]}"
            problems.append(
                f"steps {steps} with a step-distilled LoRA: it is distilled for {want_steps} steps; "
                f"set steps to {lo_hi[0]} (or 0 for the preset), or use preset 'quality' for "
                f"{PRESET_BY_KEY[(mode, 'quality')].steps} steps without the LoRA"
            )
        if sampler not in ("euler", "uni_pc", "lcm", "euler_ancestral") and uses_lightning:
            warnings.append(f"sampler {sampler}: the 4-step LoRAs were distilled with euler")

    if problems:
        raise PlanError(f"Wan 2.2 {mode}/{preset} plan refused:\n- " + "\n- ".join(problems))

    if sigmas is None:
        sigmas = sigmas_for(scheduler, steps, shift)
    elif len(sigmas) != steps + 1:
        raise PlanError(f"internal: got {len(sigmas)} sigmas for {steps} steps")

    boundary = BOUNDARY.get(mode) if len(p.experts) == 2 else None
    if boundary is not None:
        split = split_step(sigmas, boundary)
        if ov.split_step is not None and ov.split_step >= 0:
            if not 0 <= ov.split_step <= steps:
                raise PlanError(f"split_step {ov.split_step} is out of range: use 0-{steps} (-1 computes it from the boundary)")
            if ov.split_step != split:
                warnings.append(
                    f"split_step {ov.split_step} overrides the boundary split {split} "
                    f"(sigma {sigmas[ov.split_step]:.4f} at the hand-off, boundary {boundary:.3f})"
                )
            split = ov.split_step
        hi, lo = p.experts
        stages = [
            Stage(hi, expert_files[hi], stage_loras[0], 0, split, True, True),
            Stage(lo, expert_files[lo], stage_loras[1], split, steps, False, False),
        ]
    else:
        split = steps
        (only,) = p.experts
        stages = [Stage(only, expert_files[only], stage_loras[0], 0, steps, True, False)]

    return Plan(mode=mode, preset=preset, workflow=p.workflow_id, stages=stages, steps=steps,
                split_step=split, cfg=cfg, sampler=sampler, scheduler=scheduler, shift=shift,
                boundary=boundary, sigmas=[round(s, 6) for s in sigmas], summary=p.summary,
                warnings=warnings)


def _pairing_problems(mode: str, slot: str, preset_uses: tuple[LoraUse, ...], lora: PlanLora) -> list[str]:
    """Why `lora` does not fit the `slot` expert of `mode`; preset_uses are the preset's LoRAs there."""
    out: list[str] = []
    name = lora.file
    task = _lora_task(name)
    noise = _lora_noise(name)
    right = ", ".join(BY_ROLE[u.role].name for u in preset_uses) or "no LoRA (preset 'quality')"
    if mode in ("i2v", "t2v"):
        if task is not None and task != mode:
            out.append(f"{name} is a {task.upper()} LoRA but the {slot}-noise expert is {mode.upper()}: use {right}")
        if noise is not None and noise != slot:
            out.append(f"{name} is the {noise}-noise LoRA but it is on the {slot}-noise expert: use {right}")
    elif mode == "s2v":
        if lora.role in ("lora_i2v_high", "lora_i2v_low", "lora_i2v_480p"):
            out.append(f"{name} is an I2V LoRA; S2V's 4-step LoRA is {BY_ROLE['lora_t2v_high'].name}")
        if noise == "low":
            out.append(f"{name} is a low-noise LoRA; S2V's 4-step LoRA is the high-noise {BY_ROLE['lora_t2v_high'].name}")
    elif mode == "animate":
        if lora.role in LIGHTNING_ROLES:
            out.append(f"{name} is a Wan 2.2 Lightning expert LoRA; Animate uses {BY_ROLE['lora_i2v_480p'].name}")
    if lora.role == "lora_animate_relight" and mode != "animate":
        out.append(f"{name} is the Animate relight LoRA and only fits the Animate model")
    if not 0 < abs(lora.strength) <= 100:
        out.append(f"LoRA strength {lora.strength:g} for {name} is out of range: use a value in (0, 100]")
    return out
