"""Issue 16, fast_motion: three stages (base high expert at real cfg, high + Lightning LoRA, low +
Lightning LoRA) through Wan22MoESampler equal, bit for bit, the chain of three core
KSamplerAdvanced nodes a user would wire by hand. Real ComfyUI, stand-in volume, 64x64, 5 frames."""

from __future__ import annotations

import sys
from typing import Any

from wan22.catalog import BY_ROLE
from wan22.demo.graphs import i2v_ours, native_chain
from wan22.plan.overrides import Overrides
from wan22.plan.routing import make_plan

LENGTH = 5  # frames: 2 latent frames, enough for the chain and cheap on 2 CPU cores


def _latent(server: Any, prompt: dict[str, Any]) -> Any:
    import safetensors.torch

    entry = server.run(prompt)
    files = [f for f in server.output_files(entry) if f.suffix == ".latent"]
    assert len(files) == 1, entry["outputs"]
    return safetensors.torch.load_file(str(files[0]))["latent_tensor"]


def test_fast_motion_equals_three_ksampler_advanced_bit_for_bit(comfy_server: Any) -> None:
    import torch

    plan = make_plan("i2v", "fast_motion")
    assert [(s.start_step, s.end_step, s.cfg) for s in plan.stages] == [(0, 2, 3.5), (2, 3, 1.0), (3, 6, 1.0)]
    ours = _latent(comfy_server, i2v_ours("fast_motion", length=LENGTH, seed=1234, save_latent=True, prefix="fm_ours"))
    native = _latent(comfy_server, native_chain(plan, 1234, "fm_native"))
    assert ours.shape == native.shape
    assert torch.isfinite(ours).all()
    assert torch.equal(ours, native), f"max diff {(ours - native).abs().max().item()}"
    # Not vacuous: the base stage's cfg and its length both change the result ...
    flat = make_plan("i2v", "fast_motion", Overrides(base_cfg=1.0))
    assert not torch.equal(ours, _latent(comfy_server, native_chain(flat, 1234, "fm_cfg1")))
    shorter = make_plan("i2v", "fast_motion", Overrides(base_steps=1))
    assert not torch.equal(ours, _latent(comfy_server, native_chain(shorter, 1234, "fm_base1")))
    # ... and so does the seed.
    assert not torch.equal(ours, _latent(comfy_server, native_chain(plan, 1235, "fm_seed")))


def test_fast_motion_reads_the_high_expert_once_and_shows_three_stages(comfy_server: Any) -> None:
    comfy_server.request("POST", "/bench/reset", {})
    entry = comfy_server.run(i2v_ours("fast_motion", length=LENGTH, seed=77, save_latent=True, prefix="fm_loads"))
    loads = dict(comfy_server.get("/bench/loads")["by_file"])
    assert all(n == 1 for n in loads.values()), loads  # no file read twice (the base stage clones the high expert)
    text = entry["outputs"]["router"]["text"][0]
    stage_lines = [line for line in text.splitlines() if line.startswith("  steps")]
    assert len(stage_lines) == 3, text
    assert stage_lines[0].endswith("[no LoRA]  cfg 3.5") and BY_ROLE["i2v_high"].name in stage_lines[0]
    assert BY_ROLE["lora_i2v_high"].name in stage_lines[1] and stage_lines[1].endswith("cfg 1")
    assert BY_ROLE["lora_i2v_low"].name in stage_lines[2] and "cfg 1 (stage 1 cfg 3.5)" in text


def test_router_builds_one_model_per_stage_from_one_loaded_expert(comfy_inproc: Any) -> None:
    """In process: the base stage's and the LoRA stage's models are clones of one loaded high
    expert (same diffusion model object), with different patches; model_high is stage 1's."""
    pack = comfy_inproc.pack
    router = sys.modules[f"{pack.__name__}.nodes.router"]
    bundle_mod = sys.modules[f"{pack.__name__}.nodes.bundle"]
    b = bundle_mod.Wan22BundleLoader.execute("i2v", "auto", "auto", "auto", "auto", "auto", "auto", "auto").args[0]
    out = router.Wan22ModeRouter.execute(b, "i2v", "fast_motion", 0, 0.0, 0.0, -1, "auto", "auto", "auto", "auto",
                                         0.0, True).args
    routed = out[8]
    base, high, low = (routed.model_for(i) for i in range(3))
    assert base.model is high.model and base is not high and low.model is not base.model
    assert len(high.patches) > len(base.patches) == 0  # the LoRA patches only the second stage's clone
    assert out[0] is base and out[1] is low
    assert [s.cfg for s in routed.plan.stages] == [3.5, 1.0, 1.0]

