"""What ComfyUI's own code makes of the demo volume's stand-ins, in process (no server): each
expert is detected as the intended model class, the scaled-fp8 expert loads as quantized, the
shared models (VAE, text encoder, CLIP vision, audio encoder) are detected, every stand-in LoRA
applies to its expert without warnings, the pack's pure sigma schedule equals ComfyUI's, and the
committed tiny layouts are what tools/gen_layouts.py produces from this ComfyUI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wan22.catalog import BY_ROLE
from wan22.plan.sigmas import sigmas_for

# ------------------------------------------------------------ in-process: detection and LoRAs

EXPECTED_CLASS = {
    "i2v_high": ("WAN21_T2V", "WanModel"),  # Wan 2.2 I2V has no img_emb: ComfyUI detects it as T2V + concat channels
    "i2v_low": ("WAN21_T2V", "WanModel"),
    "t2v_high": ("WAN21_T2V", "WanModel"),
    "t2v_low": ("WAN21_T2V", "WanModel"),
    "s2v": ("WAN22_S2V", "WanModel_S2V"),
    "animate": ("WAN22_Animate", "AnimateWanModel"),
}

LORA_TARGETS = {
    "lora_i2v_high": "i2v_high", "lora_i2v_low": "i2v_low", "lora_t2v_high": "t2v_high", "lora_t2v_low": "t2v_low",
    "lora_i2v_480p": "animate", "lora_animate_relight": "animate",
}


@pytest.mark.parametrize("role", sorted(EXPECTED_CLASS))
def test_stand_in_detected_as_intended_class(comfy_inproc: Any, role: str) -> None:
    import comfy.sd

    path = comfy_inproc.folder_paths.get_full_path_or_raise("diffusion_models", BY_ROLE[role].name)
    m = comfy.sd.load_diffusion_model(path)
    cfg_cls, dit_cls = EXPECTED_CLASS[role]
    assert type(m.model.model_config).__name__ == cfg_cls
    assert type(m.model.diffusion_model).__name__ == dit_cls
    in_dim = m.model.diffusion_model.patch_embedding.weight.shape[1]
    assert in_dim == {"i2v_high": 36, "i2v_low": 36, "t2v_high": 16, "t2v_low": 16, "s2v": 16, "animate": 36}[role]


def test_fp8_scaled_stand_in_is_loaded_as_quantized(comfy_inproc: Any) -> None:
    import comfy.sd

    logs = comfy_inproc.capture_logs()
    path = comfy_inproc.folder_paths.get_full_path_or_raise("diffusion_models", BY_ROLE["i2v_high"].name)
    comfy.sd.load_diffusion_model(path)
    assert any("quantization" in line.lower() for line in logs), "scaled fp8 marker not recognised by ComfyUI"


def test_shared_models_detected(comfy_inproc: Any) -> None:
    n = comfy_inproc.nodes
    from comfy_extras import nodes_audio_encoder

    vae = n.VAELoader().load_vae(BY_ROLE["vae"].name)[0]
    assert type(vae.first_stage_model).__module__ == "comfy.ldm.wan.vae"  # Wan 2.1 VAE, not vae2_2
    assert vae.latent_channels == 16
    clip = n.CLIPLoader().load_clip(BY_ROLE["text_encoder"].name, "wan")[0]
    assert type(clip.cond_stage_model).__name__ == "WanTEModel"
    cv = n.CLIPVisionLoader().load_clip(BY_ROLE["clip_vision"].name)[0]
    assert type(cv).__name__ == "ClipVisionModel"
    ae = nodes_audio_encoder.AudioEncoderLoader.execute(BY_ROLE["audio_encoder"].name)[0]
    assert type(ae).__name__ == "AudioEncoderModel"


@pytest.mark.parametrize("lora_role", sorted(LORA_TARGETS))
def test_stand_in_lora_applies_without_warnings(comfy_inproc: Any, lora_role: str) -> None:
    n = comfy_inproc.nodes
    model = n.UNETLoader().load_unet(BY_ROLE[LORA_TARGETS[lora_role]].name, "default")[0]
    logs = comfy_inproc.capture_logs()
    patched = n.LoraLoaderModelOnly().load_lora_model_only(model, BY_ROLE[lora_role].name, 1.0)[0]
    warnings = [m for m in logs if "lora key not loaded" in m or "NOT LOADED" in m]
    assert warnings == []
    assert len(patched.patches) >= 5 * 10  # every Linear of the 5 blocks at least


@pytest.mark.parametrize("shift", [1.0, 3.0, 5.0, 8.0, 12.0, 7.3])
def test_pure_sigmas_equal_comfyui_schedule(comfy_inproc: Any, shift: float) -> None:
    """The split step is computed on ComfyUI's schedule; the CLI's pure copy must match it exactly."""
    import comfy.samplers
    from comfy_extras.nodes_model_advanced import ModelSamplingSD3

    n = comfy_inproc.nodes
    model = n.UNETLoader().load_unet(BY_ROLE["i2v_low"].name, "default")[0]
    ms = ModelSamplingSD3().patch(model, shift)[0].get_model_object("model_sampling")
    for steps in list(range(1, 41)) + [50, 64, 100]:
        ref = [float(s) for s in comfy.samplers.calculate_sigmas(ms, "simple", steps)]
        assert sigmas_for("simple", steps, shift) == ref, (steps, shift)


def test_layouts_match_comfyui_modules(comfy_inproc: Any, repo_root: Path) -> None:
    """wan22/data/layouts must be what tools/gen_layouts.py produces from this ComfyUI."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_layouts", repo_root / "tools" / "gen_layouts.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    from wan22.demo.layouts import load

    for kind in ("i2v", "t2v", "s2v", "animate"):
        cfg, tensors = gen.build_dit(kind, gen.TINY)
        assert [[k, list(s), d] for k, s, d in load(f"tiny_{kind}").tensors] == tensors, kind
    cfg, tensors = gen.build_vae("vae21", 16)
    assert [[k, list(s), d] for k, s, d in load("tiny_vae21").tensors] == tensors
