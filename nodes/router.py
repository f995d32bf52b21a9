"""Wan22ModeRouter: mode + preset -> the right expert and LoRA per phase, and the settings.

The rules live in wan22.plan: `overrides_from_inputs` turns the widgets into Overrides,
`resolve` checks them (validation, and once in execute), `stages` cuts ComfyUI's own sigmas.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import comfy.samplers
from comfy_api.latest import io, ui

from ..wan22.errors import PlanError
from ..wan22.plan.bundle_spec import resolve_lora
from ..wan22.plan.lightning import CHOICES as LIGHTNING_CHOICES
from ..wan22.plan.modes import MODES, mode_spec
from ..wan22.plan.overrides import AUTO, CFG_MAX, LORA_STRENGTH_MAX, NONE, SHIFT_MAX, STEPS_MAX, overrides_from_inputs
from ..wan22.plan.overrides import DEFAULTS as D
from ..wan22.plan.presets import PRESETS
from ..wan22.plan.routing import Plan, PlanLora, Settings, StagePick, resolve, stages
from ..wan22.volume.checks import check_model_file
from . import loading
from .types import SAMPLING, Bundle
from .types import Plan as PlanType


@dataclass
class RoutedPlan:
    """The WAN22_PLAN value: the pure plan plus the patched model of each stage (one per plan
    stage, in order: a base stage and the LoRA stage after it are two clones of one expert).

    A stage whose model is None is built on first use (`build`): the sampler asks for the low
    expert only at the hand-off, so on a cold volume its file is read (by the prefetcher, into the
    page cache) while the high expert samples instead of before the first step.
    """

    plan: Plan
    models: list[Any]
    build: Callable[[int], Any] | None = None

    def model_for(self, stage_index: int) -> Any:
        if self.models[stage_index] is None:
            assert self.build is not None
            self.models[stage_index] = self.build(stage_index)
        return self.models[stage_index]


_LAZY_RUNS: set[str] = set()  # router node ids whose last run left later stages to load on use


def output_linked(prompt: Any, unique_id: Any, slot: int) -> bool:
    """Whether any node of the API `prompt` reads output `slot` of node `unique_id` (unknown: True)."""
    if not isinstance(prompt, dict) or unique_id is None:
        return True
    uid = str(unique_id)
    for node in prompt.values():
        for v in (node.get("inputs") or {}).values() if isinstance(node, dict) else ():
            if isinstance(v, list) and len(v) == 2 and str(v[0]) == uid and v[1] == slot:
                return True
    return False


def output_linked_now(unique_id: Any, slot: int) -> bool | None:
    """output_linked for the prompt ComfyUI is running now (its queue's one running entry:
    fingerprint_inputs gets no prompt), or None where that prompt or the node is not known."""
    try:
        from server import PromptServer

        queue = PromptServer.instance.prompt_queue
        with queue.mutex:
            running = list(queue.currently_running.values())
    except Exception:  # outside ComfyUI's server, or a release without these attributes
        return None
    if len(running) != 1 or len(running[0]) < 3 or not isinstance(running[0][2], dict):
        return None
    prompt = running[0][2]
    if unique_id is None or str(unique_id) not in prompt:
        return None
    return output_linked(prompt, unique_id, slot)


def _stage_model(bundle: Any, settings: Settings, pick: StagePick) -> Any:
    """One stage's patched model: its expert (loaded once per bundle, so a base stage and the
    LoRA stage after it share the file; LoRA and shift patch clones), its LoRAs, the shift.
    The bundle keeps it by what it is made of, so the same inputs give the same object."""
    role, file = settings.experts[pick.expert]
    loras = settings.loras[pick.lora] if pick.lora is not None else ()
    cache = loading.animate2_cache_choice() if mode_spec(settings.mode).pose_cache else None
    key = (role, file, tuple((lo.file, lo.strength) for lo in loras), cache, settings.shift)

    def build() -> Any:
        m = bundle.expert(role)
        for lo in loras:
            m = loading.apply_lora(m, bundle.lora(lo.file), lo.strength)
        if cache is not None:  # as the official templates: the pose-branch cache
            m = loading.apply_animate2_cache(m)
        return loading.apply_shift(m, settings.shift)

    return bundle.stage_model(key, build)


def _settings(mode: str, preset: str, widgets: dict[str, Any], experts: dict[str, str] | None = None) -> Settings:
    """The one path from widget values to checked settings (validation and execution)."""
    ov = overrides_from_inputs(mode, widgets, samplers=comfy.samplers.KSampler.SAMPLERS,
                               schedulers=comfy.samplers.KSampler.SCHEDULERS)
    if experts is not None:
        ov.experts = experts
    ov.available = tuple(loading.list_files("loras"))  # what lightning 'auto' picks from
    return resolve(mode, preset, ov)


def _lora_problems(mode: str, preset: str, loras: list[PlanLora]) -> str | None:
    """Every LoRA the settings use exists in ComfyUI's loras folders and has a sound header."""
    listing = loading.list_files("loras")
    missing = [m for lo in loras if (m := resolve_lora(lo.file, listing))]
    if missing:
        return f"Wan22ModeRouter {mode}/{preset} needs LoRA files that are missing:\n- " + "\n- ".join(dict.fromkeys(missing))
    damaged = []
    for lo in {x.file: x for x in loras}.values():
        path = loading.full_path("loras", lo.file)
        if path.lower().endswith((".safetensors", ".sft")):
            why = check_model_file(lo.role or "lora_i2v_high", path)
            if why:
                damaged.append(f"LoRA '{lo.file}' ({path}) is {why}")
    if damaged:
        return f"Wan22ModeRouter {mode}/{preset} cannot use:\n- " + "\n- ".join(damaged)
    return None


class Wan22ModeRouter(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        loras = loading.list_files("loras")
        samplers = list(comfy.samplers.KSampler.SAMPLERS)
        schedulers = list(comfy.samplers.KSampler.SCHEDULERS)
        return io.Schema(
            node_id="Wan22ModeRouter",
            display_name="Wan 2.2 Mode Router",
            category=SAMPLING,
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
                                       "fast_480p (i2v): the Wan 2.1 LightX2V 480p distill LoRA on both experts · "
                                       "fast_motion (i2v, t2v): 2 base steps on the high expert without LoRA at cfg 3.5, "
                                       "then the 4-step LoRAs at cfg 1 (against Lightning slow motion)"),
                io.Int.Input("steps", default=D["steps"], min=0, max=STEPS_MAX, tooltip="0 = the preset's steps"),
                io.Float.Input("cfg", default=D["cfg"], min=0.0, max=CFG_MAX, step=0.1, round=0.01,
                               tooltip="0 = the preset's cfg"),
                io.Float.Input("shift", default=D["shift"], min=0.0, max=SHIFT_MAX, step=0.01,
                               tooltip="0 = the preset's shift (ModelSamplingSD3)"),
                io.Int.Input("split_step", default=D["split_step"], min=-1, max=STEPS_MAX, advanced=True,
                             tooltip="-1 = computed from the MoE boundary on the sigma schedule"),
                io.Combo.Input("sampler_name", options=[AUTO, *samplers], default=D["sampler_name"], advanced=True),
                io.Combo.Input("scheduler", options=[AUTO, *schedulers], default=D["scheduler"], advanced=True),
                io.Combo.Input("lora_high", options=[AUTO, NONE, *loras], default=D["lora_high"], advanced=True,
                               tooltip="LoRA on the high-noise expert (or the single s2v/animate model); 'auto' = the preset's"),
                io.Combo.Input("lora_low", options=[AUTO, NONE, *loras], default=D["lora_low"], advanced=True,
                               tooltip="LoRA on the low-noise expert; 'auto' = the preset's"),
                io.Float.Input("lora_strength", default=D["lora_strength"], min=-LORA_STRENGTH_MAX, max=LORA_STRENGTH_MAX,
                               step=0.01, advanced=True, tooltip="0 = the preset's strength (1.0)"),
                io.Boolean.Input("relight", default=D["relight"], advanced=True,
                                 tooltip="animate: chain the relight LoRA (for character replacement)"),
                io.Combo.Input("lightning", options=list(LIGHTNING_CHOICES), default=D["lightning"], optional=True,
                               advanced=True,
                               tooltip="fast presets: the Lightning generation. auto = the distilled experts the bundle "
                                       "loads, else the newest complete high + low LoRA pair in the loras folders; "
                                       "or a generation id (its LoRA pair, or its distilled experts without LoRA)"),
            ],
            hidden=[io.Hidden.prompt, io.Hidden.unique_id],
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
    def fingerprint_inputs(cls, **_inputs: Any) -> Any:
        # A lazy run's model_low output is None (nothing read it), and ComfyUI's cache key does
        # not see links: the key carries whether this prompt reads model_low, so a lazy run's
        # outputs never serve a prompt that links it, and warm prompts reuse the cached outputs
        # (the same patched models: no re-patching). The running prompt is ComfyUI's own queue
        # entry; where it cannot be known, a node after a lazy run runs again (cheap: the bundle
        # keeps its stage models).
        hidden = getattr(cls, "hidden", None)
        uid = None if hidden is None else hidden.unique_id
        if os.environ.get("WAN22_LAZY_EXPERTS") == "0":
            return "eager"
        linked = output_linked_now(uid, 1)
        if linked is None:
            return float("nan") if str(uid) in _LAZY_RUNS else "eager"
        return "model_low linked" if linked else "lazy"

    @classmethod
    def validate_inputs(cls, mode: str, preset: str, steps: int, cfg: float, shift: float, split_step: int,
                        sampler_name: str, scheduler: str, lora_high: str, lora_low: str, lora_strength: float,
                        relight: bool, lightning: str = AUTO) -> bool | str:
        # Every input named here loses ComfyUI's own checks (min/max, combo lists; execution.py
        # validate_inputs skips any input the node's validate_inputs takes). The rules need all
        # of them, so overrides_from_inputs and resolve check every one: ranges, sampler and
        # scheduler against ComfyUI's lists, LoRA files against the loras folders (below).
        widgets = dict(steps=steps, cfg=cfg, shift=shift, split_step=split_step, sampler_name=sampler_name,
                       scheduler=scheduler, lora_high=lora_high, lora_low=lora_low, lora_strength=lora_strength,
                       relight=relight, lightning=lightning)
        try:
            settings = _settings(mode, preset, widgets)
        except PlanError as e:
            return str(e)
        return _lora_problems(mode, preset, [lo for stage in settings.loras for lo in stage]) or True

    @classmethod
    def execute(cls, bundle: Any, mode: str, preset: str, steps: int, cfg: float, shift: float, split_step: int,
                sampler_name: str, scheduler: str, lora_high: str, lora_low: str, lora_strength: float,
                relight: bool, lightning: str = AUTO) -> io.NodeOutput:
        if bundle.mode != mode:
            raise PlanError(
                f"Wan22ModeRouter mode is '{mode}' but its Wan22BundleLoader was set to '{bundle.mode}': set both to the same mode"
            )
        widgets = dict(steps=steps, cfg=cfg, shift=shift, split_step=split_step, sampler_name=sampler_name,
                       scheduler=scheduler, lora_high=lora_high, lora_low=lora_low, lora_strength=lora_strength,
                       relight=relight, lightning=lightning)
        settings = _settings(mode, preset, widgets, experts=bundle.describe())
        picks = settings.layout
        # Only stage 0 loads now; later stages load when the sampler reaches them, unless the
        # model_low output (slot 1) feeds another node, which needs it now.
        hidden = getattr(cls, "hidden", None)  # None when called outside ComfyUI's executor
        prompt, uid = (hidden.prompt, hidden.unique_id) if hidden is not None else (None, None)
        eager = len(picks) == 1 or output_linked(prompt, uid, 1) or os.environ.get("WAN22_LAZY_EXPERTS") == "0"
        first = _stage_model(bundle, settings, picks[0])
        sigmas = comfy.samplers.calculate_sigmas(first.get_model_object("model_sampling"), settings.scheduler,
                                                 settings.steps)
        plan = stages(settings, [float(s) for s in sigmas])
        routed = RoutedPlan(plan, [first] + [None] * (len(picks) - 1),
                            build=lambda i: _stage_model(bundle, settings, picks[i]))
        if eager:
            for i in range(len(picks)):
                routed.model_for(i)
            _LAZY_RUNS.discard(str(uid))
        else:
            _LAZY_RUNS.add(str(uid))
        low = routed.models[-1]  # None when lazy: nothing reads it
        return io.NodeOutput(first, low, plan.steps, plan.split_step, plan.cfg, plan.sampler, plan.scheduler,
                             plan.shift, routed, ui=ui.PreviewText(plan.text()))
