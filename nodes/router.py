"""Wan22ModeRouter: mode + preset -> the right expert and LoRA per phase, and the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import comfy.samplers
from comfy_api.latest import io, ui

from ..wan22.errors import PlanError
from ..wan22.plan.bundle_spec import AUTO, NONE, resolve_lora
from ..wan22.plan.routing import MODES, PRESETS, Overrides, Plan, get_preset, make_plan
from ..wan22.volume.inventory import check_model_file
from . import loading
from .types import CATEGORY, Bundle
from .types import Plan as PlanType


@dataclass
class RoutedPlan:
    """The WAN22_PLAN value: the pure plan plus the patched model of each stage."""

    plan: Plan
    models: list[Any]

    def model_for(self, stage_index: int) -> Any:
        return self.models[stage_index]


def overrides_from_inputs(mode: str, steps: int, cfg: float, shift: float, split_step: int, sampler_name: str,
                          scheduler: str, lora_high: str, lora_low: str, lora_strength: float,
                          relight: bool) -> Overrides:
    ov = Overrides(steps=steps or None, cfg=cfg or None, shift=shift or None,
                   split_step=None if split_step < 0 else split_step,
                   sampler=None if sampler_name == AUTO else sampler_name,
                   scheduler=None if scheduler == AUTO else scheduler,
                   lora_strength=lora_strength or None, relight=relight)
    single = mode in ("s2v", "animate")
    slots = (("single", lora_high),) if single else (("high", lora_high), ("low", lora_low))
    for slot, value in slots:
        if value == NONE:
            ov.loras[slot] = None
        elif value != AUTO:
            ov.loras[slot] = value
    if single and lora_low not in (AUTO, NONE):
        raise PlanError(f"lora_low has no effect in mode {mode} (one model): put the LoRA in lora_high, or set lora_low to 'auto'")
    return ov


def _placeholder_sigmas(steps: int) -> list[float]:
    return [1.0 - i / max(steps, 1) for i in range(steps)] + [0.0]


def draft_plan(mode: str, preset: str, ov: Overrides) -> Plan:
    """The plan before ComfyUI's real sigmas are known: checks every pairing rule. For schedulers
    other than 'simple' the split is provisional until execute() computes it from ComfyUI."""
    p = get_preset(mode, preset)
    scheduler = ov.scheduler or p.scheduler
    steps = ov.steps or p.steps
    return make_plan(mode, preset, ov, sigmas=None if scheduler == "simple" else _placeholder_sigmas(steps))


class Wan22ModeRouter(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        loras = loading.list_files("loras")
        samplers = list(comfy.samplers.KSampler.SAMPLERS)
        schedulers = list(comfy.samplers.KSampler.SCHEDULERS)
        return io.Schema(
            node_id="Wan22ModeRouter",
            display_name="Wan 2.2 Mode Router",
            category=CATEGORY,
            description="Puts the high-noise expert on the early steps and the low-noise expert on the rest, each with "
                        "its own LightX2V LoRA for the 'fast' preset, and sets steps, cfg, sampler, scheduler and shift "
                        "(via ModelSamplingSD3). The hand-off step is computed from the MoE boundary (0.900 I2V, 0.875 T2V) "
                        "on the actual sigma schedule. Wrong pairings are refused before sampling.",
            search_aliases=["wan router", "moe", "lightx2v", "wan 2.2 preset", "high noise low noise"],
            inputs=[
                Bundle.Input("bundle"),
                io.Combo.Input("mode", options=list(MODES), default="i2v"),
                io.Combo.Input("preset", options=list(PRESETS), default="fast",
                               tooltip="quality: no distill LoRA, 20 steps · fast: LightX2V 4-step LoRAs, cfg 1 · "
                                       "fast_480p (i2v): the Wan 2.1 LightX2V 480p distill LoRA on both experts"),
                io.Int.Input("steps", default=0, min=0, max=10000, tooltip="0 = the preset's steps"),
                io.Float.Input("cfg", default=0.0, min=0.0, max=100.0, step=0.1, round=0.01, tooltip="0 = the preset's cfg"),
                io.Float.Input("shift", default=0.0, min=0.0, max=100.0, step=0.01, tooltip="0 = the preset's shift (ModelSamplingSD3)"),
                io.Int.Input("split_step", default=-1, min=-1, max=10000, advanced=True,
                             tooltip="-1 = computed from the MoE boundary on the sigma schedule"),
                io.Combo.Input("sampler_name", options=[AUTO, *samplers], default=AUTO, advanced=True),
                io.Combo.Input("scheduler", options=[AUTO, *schedulers], default=AUTO, advanced=True),
                io.Combo.Input("lora_high", options=[AUTO, NONE, *loras], default=AUTO, advanced=True,
                               tooltip="LoRA on the high-noise expert (or the single s2v/animate model); 'auto' = the preset's"),
                io.Combo.Input("lora_low", options=[AUTO, NONE, *loras], default=AUTO, advanced=True,
                               tooltip="LoRA on the low-noise expert; 'auto' = the preset's"),
                io.Float.Input("lora_strength", default=0.0, min=-100.0, max=100.0, step=0.01, advanced=True,
                               tooltip="0 = the preset's strength (1.0)"),
                io.Boolean.Input("relight", default=True, advanced=True,
                                 tooltip="animate: chain the relight LoRA (for character replacement)"),
            ],
            outputs=[
                io.Model.Output(display_name="model_high", tooltip="high-noise expert (or the single model), patched"),
                io.Model.Output(display_name="model_low", tooltip="low-noise expert (same as model_high for s2v/animate)"),
                io.Int.Output(display_name="steps"),
                io.Int.Output(display_name="split_step", tooltip="end_at_step of the high sampler = start_at_step of the low"),
                io.Float.Output(display_name="cfg"),
                io.Combo.Output(display_name="sampler_name", options=samplers),
                io.Combo.Output(display_name="scheduler", options=schedulers),
                io.Float.Output(display_name="shift"),
                PlanType.Output(display_name="plan"),
            ],
        )

    @classmethod
    def validate_inputs(cls, mode: str, preset: str, steps: int, cfg: float, shift: float, split_step: int,
                        sampler_name: str, scheduler: str, lora_high: str, lora_low: str, lora_strength: float,
                        relight: bool) -> bool | str:
        samplers = comfy.samplers.KSampler.SAMPLERS
        schedulers = comfy.samplers.KSampler.SCHEDULERS
        if sampler_name != AUTO and sampler_name not in samplers:
            return f"sampler_name '{sampler_name}' is not a ComfyUI sampler"
        if scheduler != AUTO and scheduler not in schedulers:
            return f"scheduler '{scheduler}' is not a ComfyUI scheduler"
        if split_step < -1:
            return f"split_step {split_step}: use -1 (from the boundary) or a step number"
        if not -100 <= lora_strength <= 100:
            return f"lora_strength {lora_strength} is out of range -100..100"
        try:
            ov = overrides_from_inputs(mode, steps, cfg, shift, split_step, sampler_name, scheduler, lora_high,
                                       lora_low, lora_strength, relight)
            plan = draft_plan(mode, preset, ov)
        except ValueError as e:
            return str(e)
        listing = loading.list_files("loras")
        missing = [m for st in plan.stages for lo in st.loras if (m := resolve_lora(lo.file, listing))]
        if missing:
            return f"Wan22ModeRouter {mode}/{preset} needs LoRA files that are missing:\n- " + "\n- ".join(dict.fromkeys(missing))
        damaged = []
        for lo in {x.file: x for st in plan.stages for x in st.loras}.values():
            path = loading.full_path("loras", lo.file)
            if path.lower().endswith((".safetensors", ".sft")):
                why = check_model_file(lo.role or "lora_i2v_high", path)
                if why:
                    damaged.append(f"LoRA '{lo.file}' ({path}) is {why}")
        if damaged:
            return f"Wan22ModeRouter {mode}/{preset} cannot use:\n- " + "\n- ".join(damaged)
        return True

    @classmethod
    def execute(cls, bundle: Any, mode: str, preset: str, steps: int, cfg: float, shift: float, split_step: int,
                sampler_name: str, scheduler: str, lora_high: str, lora_low: str, lora_strength: float,
                relight: bool) -> io.NodeOutput:
        if bundle.mode != mode:
            raise PlanError(
                f"Wan22ModeRouter mode is '{mode}' but its Wan22BundleLoader was set to '{bundle.mode}': set both to the same mode"
            )
        ov = overrides_from_inputs(mode, steps, cfg, shift, split_step, sampler_name, scheduler, lora_high, lora_low,
                                   lora_strength, relight)
        ov.experts = bundle.describe()
        draft = draft_plan(mode, preset, ov)
        models = []
        for stage in draft.stages:
            m = bundle.expert(stage.expert)
            for lo in stage.loras:
                m = loading.apply_lora(m, bundle.lora(lo.file), lo.strength)
            m = loading.apply_shift(m, draft.shift)
            models.append(m)
        sigmas = comfy.samplers.calculate_sigmas(models[0].get_model_object("model_sampling"), draft.scheduler, draft.steps)
        plan = make_plan(mode, preset, ov, sigmas=[float(s) for s in sigmas])
        high = models[0]
        low = models[1] if len(models) > 1 else models[0]
        routed = RoutedPlan(plan, models)
        return io.NodeOutput(high, low, plan.steps, plan.split_step, plan.cfg, plan.sampler, plan.scheduler,
                             plan.shift, routed, ui=ui.PreviewText(plan.text()))
