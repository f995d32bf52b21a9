"""Wan22MoESampler: every stage of the plan (both experts, the hand-off at the split step; a base
stage first for fast_motion), each with its own cfg, through ComfyUI's own sampling."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

import nodes as comfy_nodes

from ..wan22.errors import GraphError
from .types import SAMPLING
from .types import Plan as PlanType


def check_latent(model: Any, latent: Any) -> None:
    """A Wan 2.1-format video latent is [batch, 16, frames, height/8, width/8]."""
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if samples is None or not hasattr(samples, "shape"):
        raise GraphError("Wan22MoESampler latent_image is not a latent: connect the latent output of WanImageToVideo, "
                         "WanSoundImageToVideo or WanAnimateToVideo")
    want = model.model.latent_format.latent_channels
    shape = tuple(samples.shape)
    if samples.is_nested:
        return
    if len(shape) != 5 or shape[1] != want:
        raise GraphError(
            f"Wan22MoESampler latent_image has shape {list(shape)}, but this Wan model needs a video latent "
            f"[batch, {want}, frames, height/8, width/8]: connect the latent output of WanImageToVideo / "
            f"WanSoundImageToVideo / WanAnimateToVideo (an image latent such as EmptyLatentImage does not fit)"
        )


class Wan22MoESampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="Wan22MoESampler",
            display_name="Wan 2.2 MoE Sampler",
            category=SAMPLING,
            description="Runs the plan from Wan22ModeRouter: the high-noise expert from step 0 to the split step "
                        "(leftover noise kept), then the low-noise expert to the end, with ComfyUI's KSamplerAdvanced "
                        "sampling, each stage at its own cfg (fast_motion: a base stage without LoRA first). Identical "
                        "to the official two-KSamplerAdvanced graph (three for fast_motion) at the same seed.",
            search_aliases=["wan sampler", "moe sampler", "two expert sampler"],
            inputs=[
                PlanType.Input("plan"),
                io.Conditioning.Input("positive"),
                io.Conditioning.Input("negative"),
                io.Latent.Input("latent_image"),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True),
            ],
            outputs=[io.Latent.Output(display_name="latent")],
        )

    @classmethod
    def execute(cls, plan: Any, positive: Any, negative: Any, latent_image: dict[str, Any], seed: int) -> io.NodeOutput:
        p = plan.plan
        check_latent(plan.model_for(0), latent_image)
        stages = [(i, s) for i, s in enumerate(p.stages) if s.end_step > s.start_step]
        latent = latent_image
        for k, (i, st) in enumerate(stages):
            first, last = k == 0, k == len(stages) - 1
            add_noise = st.add_noise or first
            leftover = st.return_with_leftover_noise and not last
            latent = comfy_nodes.common_ksampler(
                plan.model_for(i), seed, p.steps, st.cfg, p.sampler, p.scheduler, positive, negative, latent,
                denoise=1.0, disable_noise=not add_noise, start_step=st.start_step, last_step=st.end_step,
                force_full_denoise=not leftover,
            )[0]
        return io.NodeOutput(latent)
