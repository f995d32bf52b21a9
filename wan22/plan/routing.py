"""Mode router: (mode, preset, overrides) -> Settings -> Plan, in two steps.

`resolve` applies the user's overrides to the preset and makes every check (ranges, expert and
LoRA pairings, distilled-LoRA settings): it needs no sigmas, so the node validates with it before
anything loads. `stages` cuts a real schedule at the MoE boundary: the split step is the number
of steps whose sigma is at or above the boundary, exactly as the official code switches experts
at t >= boundary * 1000; it is never assumed to be half. The node and the /wan22/plan route pass
ComfyUI's own sigmas (every scheduler); `make_plan` uses the pure 'simple' schedule (the CLI).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..catalog import BY_NAME, BY_ROLE, CatalogFile
from ..errors import PlanError
from . import lightning as lx
from .modes import MODE_TABLE, mode_spec
from .overrides import CFG_MAX, LORA_STRENGTH_MAX, SHIFT_MAX, STEPS_MAX, Overrides
from .presets import (
    LIGHTNING_ROLES,
    PRESET_BY_KEY,
    LoraUse,
    Preset,
    get_preset,
)
from .sigmas import sigmas_for, split_step

RELIGHT_ROLE = "lora_animate_relight"  # chained after the first LoRA; `Overrides.relight` drops it


# ---------------------------------------------------------------- plans

@dataclass(frozen=True)
class PlanLora:
    role: str | None  # catalog role, None for a file the catalog does not know
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
    cfg: float  # this stage's cfg (a base stage's differs from the plan's)

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
            "cfg": self.cfg,
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
    lightning: dict[str, Any] | None = None  # the Lightning generation a fast preset runs (lightning.py)

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
            "lightning": self.lightning,
        }

    def text(self) -> str:
        own = [f"stage {k + 1} cfg {s.cfg:g}" for k, s in enumerate(self.stages) if s.cfg != self.cfg]
        lines = [f"Wan 2.2 {self.mode} / {self.preset}: {self.steps} steps, cfg {self.cfg:g}"
                 f"{' (' + ', '.join(own) + ')' if own else ''}, {self.sampler}/{self.scheduler}, shift {self.shift:g}"]
        if self.lightning is not None:
            lx_ = self.lightning
            lines.append(f"lightning {lx_['id']} ({lx_['chosen']}): {lx_['label']}, "
                         f"{'distilled experts, no LoRA' if lx_['kind'] == 'experts' else 'LoRA pair'}")
        if self.boundary is not None:
            lines.append(f"boundary {self.boundary:.3f} -> high-noise steps 0-{self.split_step}, "
                         f"low-noise steps {self.split_step}-{self.steps}")
        for s in self.stages:
            loras = ", ".join(f"{x.file} @ {x.strength:g}" for x in s.loras) or "no LoRA"
            lines.append(f"  steps {s.start_step:>2}-{s.end_step:<2} {s.expert_file}  [{loras}]  cfg {s.cfg:g}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# ---------------------------------------------------------------- resolve, then stages

@dataclass(frozen=True)
class StagePick:
    """One stage of `Settings.layout`: its expert (index into Settings.experts), its LoRA slot
    (index into Settings.loras; None: no LoRA), its cfg, and its length when it ends by steps
    (a base stage); otherwise it ends at the hand-off to the next expert or at the last step."""

    expert: int
    lora: int | None
    cfg: float
    steps: int | None = None


@dataclass(frozen=True)
class Settings:
    """A preset with the user's overrides applied and every check passed; no sigmas yet.

    `experts` and `loras` are per expert (high then low, or the single model: the router's LoRA
    slots); `layout` lists the stages that run them (one per expert, or a base stage first). The
    node loads and patches one model per stage before it asks ComfyUI for the schedule that
    `stages` cuts.
    """

    mode: str
    preset: Preset
    steps: int
    cfg: float
    sampler: str
    scheduler: str
    shift: float
    experts: tuple[tuple[str, str], ...]  # (role, file) per stage
    loras: tuple[tuple[PlanLora, ...], ...]  # per stage, in application order
    split_step: int | None  # the user's hand-off step; None: from the boundary
    boundary: float | None  # the MoE boundary; None for single-model modes
    warnings: tuple[str, ...] = ()
    layout: tuple[StagePick, ...] = ()  # the stages; () = one per expert at `cfg`
    lightning: lx.Generation | None = None  # the generation a fast preset runs
    lightning_chosen: str = ""  # 'auto' or 'set'


def _lora_identity(name: str) -> CatalogFile | None:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    hit = lx.identify(name)  # a Lightning file under a re-upload name or in its official folder
    x = hit[0].side(hit[1]) if hit is not None else None
    return BY_NAME.get(base) or (BY_ROLE[x.role] if x is not None else None)


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


def _numbers(p: Preset, ov: Overrides) -> tuple[int, float, float, list[str]]:
    """steps, cfg, shift (0 or None keeps the preset's) and what is out of range."""
    steps = p.steps if not ov.steps else int(ov.steps)
    cfg = p.cfg if not ov.cfg else float(ov.cfg)
    shift = p.shift if not ov.shift else float(ov.shift)
    problems: list[str] = []
    if not 1 <= steps <= STEPS_MAX:
        problems.append(f"steps {steps} is out of range: use 1-{STEPS_MAX} (0 keeps the preset's {p.steps})")
    if not 0 < shift <= SHIFT_MAX:
        problems.append(f"shift {shift:g} is out of range: use a value in (0, {SHIFT_MAX:g}] "
                        f"(0 keeps the preset's {p.shift:g})")
    if not 0 <= cfg <= CFG_MAX:
        problems.append(f"cfg {cfg:g} is out of range: use 0-{CFG_MAX:g} (0 keeps the preset's {p.cfg:g})")
    return steps, cfg, shift, problems


def _experts(mode: str, p: Preset, ov: Overrides) -> tuple[dict[str, str], list[str]]:
    """role -> file (catalog defaults unless the user picked others) and the wrong pairings."""
    files = {r: ov.experts.get(r) or BY_ROLE[r].name for r in p.experts}
    problems: list[str] = []
    if len(p.experts) != 2:
        return files, problems
    hi, lo = p.experts
    if files[hi] == files[lo]:
        problems.append(f"the high-noise and low-noise expert are the same file ({files[hi]}): "
                        f"pick {BY_ROLE[hi].name} for high and {BY_ROLE[lo].name} for low")
    for role, fname in files.items():
        want = BY_ROLE[role]
        noise = _lora_noise(fname)
        side = "high" if role.endswith("_high") else "low"
        if noise is not None and noise != side:
            problems.append(f"{fname} is a {noise}-noise expert but is set as the {side}-noise expert: use {want.name}")
        task = _lora_task(fname)
        family = mode_spec(mode).family or mode
        if task is not None and task != family:
            problems.append(f"{fname} is a {task.upper()} expert but mode {mode} runs on the "
                            f"{family.upper()} experts: use {want.name}")
    return files, problems


def _slot_loras(slot: str, uses: tuple[LoraUse, ...], ov: Overrides) -> list[PlanLora]:
    """One stage's LoRAs: the user's pick replaces the preset's first; the rest (relight) follow."""
    chosen: list[PlanLora] = []
    picked = ov.loras.get(slot)
    if picked:
        ident = _lora_identity(picked)
        chosen.append(PlanLora(ident.role if ident else None, picked, uses[0].strength if uses else 1.0))
    rest = uses[1:] if slot in ov.loras else uses
    chosen += [PlanLora(u.role, BY_ROLE[u.role].name, u.strength) for u in rest if ov.relight or u.role != RELIGHT_ROLE]
    if ov.lora_strength is not None and chosen:
        chosen[0] = replace(chosen[0], strength=float(ov.lora_strength))
    return chosen


def _stage_loras(mode: str, p: Preset, ov: Overrides) -> tuple[tuple[tuple[PlanLora, ...], ...], list[str]]:
    slots = ("high", "low") if len(p.experts) == 2 else ("single",)
    out: list[tuple[PlanLora, ...]] = []
    problems: list[str] = []
    for slot, uses in zip(slots, p.loras, strict=True):
        chosen = _slot_loras(slot, uses, ov)
        for lora in chosen:
            problems += _pairing_problems(mode, slot, uses, lora)
        out.append(tuple(chosen))
    return tuple(out), problems


def _layout(p: Preset, ov: Overrides, steps: int, cfg: float) -> tuple[tuple[StagePick, ...], list[str]]:
    """The preset's stages with the user's cfg (stages without their own), base_steps and base_cfg
    (a first stage that ends by steps) applied, and what is out of range."""
    specs = p.layout
    base = specs[0].steps is not None
    picks = [StagePick(sp.expert, sp.lora, cfg if sp.cfg is None else sp.cfg, sp.steps) for sp in specs]
    problems: list[str] = []
    if not base:
        for name, value in (("base_steps", ov.base_steps), ("base_cfg", ov.base_cfg)):
            if value:
                problems.append(f"{name} has no effect in {p.mode}/{p.preset} (no base stage): leave it unset, "
                                "or use preset 'fast_motion'")
        return tuple(picks), problems
    first = replace(picks[0], steps=int(ov.base_steps) if ov.base_steps else picks[0].steps,
                    cfg=float(ov.base_cfg) if ov.base_cfg else picks[0].cfg)
    if not 1 <= (first.steps or 0) < steps:
        problems.append(f"base_steps {first.steps} is out of range: use 1-{steps - 1} (fewer than the {steps} steps; "
                        f"0 keeps the preset's {specs[0].steps})")
    if not 0 < first.cfg <= CFG_MAX:
        problems.append(f"base_cfg {first.cfg:g} is out of range: use a value in (0, {CFG_MAX:g}] "
                        f"(0 keeps the preset's {specs[0].cfg:g})")
    return (first, *picks[1:]), problems


def _distilled(x: PlanLora) -> tuple[bool, bool]:
    """(a 4-step Lightning LoRA, another step-distilled LoRA) from its role or file name."""
    hit = lx.identify(x.file)
    lightning = (x.role in LIGHTNING_ROLES or "4step" in x.file.lower()
                 or (hit is not None and hit[0].pair))
    return lightning, x.role == "lora_i2v_480p" or "distill" in x.file.lower()


def _distill_checks(mode: str, p: Preset, loras: tuple[tuple[PlanLora, ...], ...], layout: tuple[StagePick, ...],
                    steps: int, sampler: str) -> tuple[list[str], list[str]]:
    """Step-distilled LoRAs need cfg 1 on their stages and their step count: (problems, warnings).
    A stage without such a LoRA (a base stage) keeps its real cfg."""
    kinds = [_distilled(x) for stage in loras for x in stage]
    lightning = any(k[0] for k in kinds)
    if not any(k[0] or k[1] for k in kinds):
        return [], []
    quality = PRESET_BY_KEY[(mode, "quality")]
    problems: list[str] = []
    warnings: list[str] = []
    hot = [pk.cfg for pk in layout if pk.lora is not None and any(any(_distilled(x)) for x in loras[pk.lora])
           and abs(pk.cfg - 1.0) > 1e-6]
    if hot:
        problems.append(
            f"cfg {hot[0]:g} with a step-distilled LoRA: these LoRAs are distilled for cfg 1.0 "
            f"(cfg > 1 burns the video and doubles the cost); set cfg to 1 (or 0 for the preset), "
            f"or use preset 'quality' for cfg {quality.cfg:g} without the LoRA"
        )
    if p.stages and p.allowed_steps:
        lo, hi = p.allowed_steps  # a staged preset spends steps on a base stage: its own range
    else:
        lo, hi = (4, 4) if lightning else (p.allowed_steps or (4, 8))
    if not lo <= steps <= hi:
        want = f"{lo}" if lo == hi else f"{lo}-{hi}"
        takes = "this preset's base and LoRA stages take" if p.stages else "it is distilled for"
        problems.append(
            f"steps {steps} with a step-distilled LoRA: {takes} {want} steps; "
            f"set steps to {lo} (or 0 for the preset), or use preset 'quality' for "
            f"{quality.steps} steps without the LoRA"
        )
    if sampler not in ("euler", "uni_pc", "lcm", "euler_ancestral") and lightning:
        warnings.append(f"sampler {sampler}: the 4-step LoRAs were distilled with euler")
    return problems, warnings


def _pairing_problems(mode: str, slot: str, preset_uses: tuple[LoraUse, ...], lora: PlanLora) -> list[str]:
    """Why `lora` does not fit the `slot` expert of `mode`; preset_uses are the preset's LoRAs there."""
    out: list[str] = []
    name = lora.file
    task = _lora_task(name)
    noise = _lora_noise(name)
    right = ", ".join(BY_ROLE[u.role].name for u in preset_uses) or "no LoRA (preset 'quality')"
    spec = mode_spec(mode)
    if spec.family is not None:
        family = spec.family
        if task is not None and task != family:
            out.append(f"{name} is a {task.upper()} LoRA but the {slot}-noise expert is {family.upper()}: use {right}")
        if noise is not None and noise != slot:
            out.append(f"{name} is the {noise}-noise LoRA but it is on the {slot}-noise expert: use {right}")
    out += [rule.message(name) for rule in spec.lora_rules if rule.matches(lora.role, name, noise)]
    out += [f"{name} is {why}" for m in MODE_TABLE if m.mode != mode for role, why in m.own_loras if lora.role == role]
    if not 0 < abs(lora.strength) <= LORA_STRENGTH_MAX:
        out.append(f"LoRA strength {lora.strength:g} for {name} is out of range: "
                   f"use a value in (0, {LORA_STRENGTH_MAX:g}]")
    return out


def resolve(mode: str, preset: str, overrides: Overrides | None = None) -> Settings:
    """The preset with `overrides` applied, every check made. Raises one PlanError listing every
    problem with its fix; needs no sigmas (ComfyUI's come later, for `stages`)."""
    ov = overrides or Overrides()
    try:
        p, ov, gen, chosen = lx.apply(mode, get_preset(mode, preset), ov)
    except PlanError as e:
        raise PlanError(f"Wan 2.2 {mode}/{preset} plan refused:\n- {e}") from None
    steps, cfg, shift, problems = _numbers(p, ov)
    sampler = ov.sampler or p.sampler
    files, expert_problems = _experts(mode, p, ov)
    loras, lora_problems = _stage_loras(mode, p, ov)
    layout, layout_problems = _layout(p, ov, steps, cfg)
    distill_problems, warnings = _distill_checks(mode, p, loras, layout, steps, sampler)
    slots = ("high", "low") if len(p.experts) == 2 else ("single",)
    lx_problems, lx_warnings = lx.refusals(mode, {r: files[r] for r in p.experts}, [
        (slot, lo.file) for slot, stage in zip(slots, loras, strict=True) for lo in stage], cfg, steps)
    warnings += lx_warnings
    problems += expert_problems + lora_problems + layout_problems + distill_problems + lx_problems
    boundary = mode_spec(mode).boundary if len(p.experts) == 2 else None
    split = ov.split_step if ov.split_step is not None and ov.split_step >= 0 else None
    if boundary is not None and split is not None and not 0 <= split <= steps:
        problems.append(f"split_step {split} is out of range: use 0-{steps} (-1 computes it from the boundary)")
    if problems:
        raise PlanError(f"Wan 2.2 {mode}/{preset} plan refused:\n- " + "\n- ".join(problems))
    return Settings(mode=mode, preset=p, steps=steps, cfg=cfg, sampler=sampler, scheduler=ov.scheduler or p.scheduler,
                    shift=shift, experts=tuple((r, files[r]) for r in p.experts), loras=loras,
                    split_step=split if boundary is not None else None, boundary=boundary, warnings=tuple(warnings),
                    layout=layout, lightning=gen, lightning_chosen=chosen)


def stages(settings: Settings, sigmas: list[float]) -> Plan:
    """The plan on a real schedule: `sigmas` are the N+1 sigmas of `settings` (ComfyUI's own in the
    node and the route), cut at the MoE boundary unless the user set the split step."""
    s = settings
    if len(sigmas) != s.steps + 1:
        raise PlanError(f"internal: got {len(sigmas)} sigmas for {s.steps} steps")
    warnings = list(s.warnings)
    if s.boundary is not None:
        split = split_step(sigmas, s.boundary)
        if s.split_step is not None:
            if s.split_step != split:
                warnings.append(f"split_step {s.split_step} overrides the boundary split {split} "
                                f"(sigma {sigmas[s.split_step]:.4f} at the hand-off, boundary {s.boundary:.3f})")
            split = s.split_step
    else:
        split = s.steps
    cut = _cut(s, split)
    return Plan(mode=s.mode, preset=s.preset.preset, workflow=s.preset.workflow_id, stages=cut, steps=s.steps,
                split_step=split, cfg=s.cfg, sampler=s.sampler, scheduler=s.scheduler, shift=s.shift,
                boundary=s.boundary, sigmas=[round(x, 6) for x in sigmas], summary=s.preset.summary,
                warnings=warnings, lightning=None if s.lightning is None else s.lightning.as_dict(
                    s.lightning_chosen, s.lightning is lx.preset_generation(get_preset(s.mode, s.preset.preset)),
                    [f for _r, f in s.experts] + [lo.file for stage in s.loras for lo in stage]))


def _cut(s: Settings, split: int) -> list[Stage]:
    """The stages on the step axis: a base stage ends after its steps, a stage before another
    expert's ends at `split` (the hand-off), the last at the last step. Noise is added once, at
    the start; every stage but the last returns its leftover noise."""
    layout = s.layout or tuple(StagePick(i, i, s.cfg) for i in range(len(s.experts)))
    cut: list[Stage] = []
    start = 0
    for k, pk in enumerate(layout):
        last = k == len(layout) - 1
        end = start + pk.steps if pk.steps is not None else s.steps if last else split
        if k == 1 and layout[0].steps is not None and end <= start:
            raise PlanError(
                f"Wan 2.2 {s.mode}/{s.preset.preset} plan refused: the base stage's {start} steps reach the hand-off "
                f"to the low-noise expert at step {split}, so the stage after it gets no step: use fewer base_steps, "
                f"more steps, or a split_step above {start}")
        role, file = s.experts[pk.expert]
        loras = list(s.loras[pk.lora]) if pk.lora is not None else []
        cut.append(Stage(role, file, loras, start, end, k == 0, not last, pk.cfg))
        start = end
    return cut


def stage_names(stages: Sequence[Stage]) -> tuple[str, ...]:
    """Progress labels: 'model' for one stage, else the expert side ('high', 'low'); a stage on the
    same expert as the next one without its LoRA (fast_motion's first) is 'base'."""
    if len(stages) == 1:
        return ("model",)
    names = [str(s.expert).rsplit("_", 1)[-1] for s in stages]
    return tuple("base" if i + 1 < len(stages) and stages[i + 1].expert == s.expert and not s.loras else names[i]
                 for i, s in enumerate(stages))


def make_plan(mode: str, preset: str, overrides: Overrides | None = None) -> Plan:
    """`resolve` then `stages` on the pure schedule (the 'simple' scheduler only; PlanError names
    the fix for others). Without ComfyUI: the CLI, the tests, the workflow generator."""
    s = resolve(mode, preset, overrides)
    return stages(s, sigmas_for(s.scheduler, s.steps, s.shift))
