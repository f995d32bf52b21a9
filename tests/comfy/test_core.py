"""Issue: core generation path. Real ComfyUI, stand-in volume, real executor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.harness import PromptFailed, PromptRejected, video_info

from wan22.catalog import BY_ROLE
from wan22.demo.graphs import bundle, i2v_native, i2v_ours, router
from wan22.plan.routing import make_plan
from wan22.plan.sigmas import sigmas_for, split_step

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


# ------------------------------------------------------------ over HTTP: the node graph

CATEGORIES = {"Wan22BundleLoader": "Wan22/loaders", "Wan22ModeRouter": "Wan22/sampling", "Wan22MoESampler": "Wan22/sampling",
              "Wan22VolumeInventory": "Wan22/volume", "Wan22S2VAudioPrep": "Wan22/audio"}


def test_pack_loads_without_import_failure(comfy_server: Any) -> None:
    info = comfy_server.get("/object_info")
    for node_id, category in CATEGORIES.items():
        assert node_id in info, node_id
        assert info[node_id]["category"] == category, node_id
    log = comfy_server.log_text()
    assert "IMPORT FAILED" not in log
    assert "Cannot import" not in log
    startup = [line for line in log.splitlines() if "Wan22 inventory:" in line]
    assert len(startup) == 1, "expected exactly one start-up inventory line"


@pytest.mark.parametrize("preset,length", [("fast", 9), ("quality", 13)])
@pytest.mark.usefixtures("fresh_comfy")  # reads the router's UI text: it must execute, not come from the cache
def test_i2v_graph_writes_mp4_with_requested_frames(comfy_server: Any, preset: str, length: int) -> None:
    entry = comfy_server.run(i2v_ours(preset, length=length, prefix=f"wan22/core_{preset}"))
    files = [f for f in comfy_server.output_files(entry) if f.suffix == ".mp4"]
    assert len(files) == 1
    info = video_info(files[0])
    assert info["frames"] == length
    assert (info["width"], info["height"]) == (64, 64)
    plan_text = entry["outputs"]["router"]["text"][0]
    assert f"i2v / {preset}" in plan_text


def _latent(server: Any, entry: dict[str, Any]) -> Any:
    import safetensors.torch

    files = [f for f in server.output_files(entry) if f.suffix == ".latent"]
    assert len(files) == 1, entry["outputs"]
    return safetensors.torch.load_file(str(files[0]))["latent_tensor"]


@pytest.mark.parametrize("preset", ["fast", "quality"])
def test_moe_sampler_equals_two_ksampler_advanced_bit_for_bit(comfy_server: Any, preset: str) -> None:
    import torch

    ours = _latent(comfy_server, comfy_server.run(i2v_ours(preset, seed=1234, save_latent=True, prefix=f"eq_{preset}_ours")))
    native = _latent(comfy_server, comfy_server.run(i2v_native(preset, seed=1234, save_latent=True, prefix=f"eq_{preset}_native")))
    assert ours.shape == native.shape
    assert torch.isfinite(ours).all()
    assert torch.equal(ours, native), f"max diff {(ours - native).abs().max().item()}"
    # and the equality is not vacuous: another seed or another split gives another latent
    other = _latent(comfy_server, comfy_server.run(i2v_native(preset, seed=1235, save_latent=True, prefix=f"eq_{preset}_seed")))
    assert not torch.equal(ours, other)
    split = make_plan("i2v", preset).split_step
    shifted = _latent(comfy_server, comfy_server.run(i2v_native(preset, seed=1234, save_latent=True,
                                                                 prefix=f"eq_{preset}_split", split=split + 1)))
    assert not torch.equal(ours, shifted)


# ------------------------------------------------------------ errors that name the fix

def _node_errors(exc: PromptRejected) -> str:
    return json.dumps(exc.body)


def test_missing_files_listed_in_one_error(comfy_server: Any) -> None:
    p = i2v_ours()
    p["bundle"] = bundle("i2v", high_noise_model="wan2.2_i2v_high_noise_14B_fp16.safetensors", vae="wan_2.1_vae_v2.safetensors")
    with pytest.raises(PromptRejected) as e:
        comfy_server.run(p)
    text = _node_errors(e.value)
    assert "cannot find 2 file(s)" in text
    assert "wan2.2_i2v_high_noise_14B_fp16.safetensors" in text and "wan_2.1_vae_v2.safetensors" in text
    assert "diffusion_models" in text and "vae" in text
    assert "closest existing" in text and "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors" in text
    assert "wan_2.1_vae.safetensors" in text


@pytest.mark.parametrize("over,needle", [
    ({"lora_high": BY_ROLE["lora_t2v_high"].name}, "is a T2V LoRA"),
    ({"lora_high": BY_ROLE["lora_i2v_low"].name}, "low-noise LoRA but it is on the high-noise expert"),
    ({"cfg": 3.5}, "set cfg to 1"),
    ({"steps": 20}, "distilled for 4 steps"),
])
def test_router_refuses_wrong_pairings_before_sampling(comfy_server: Any, over: dict[str, Any], needle: str) -> None:
    with pytest.raises(PromptRejected) as e:
        comfy_server.run(i2v_ours("fast", **over))
    text = _node_errors(e.value)
    assert needle in text
    assert "Wan22ModeRouter" in text or "router" in text


def test_router_refuses_mode_mismatch_with_bundle(comfy_server: Any) -> None:
    p = i2v_ours("fast")
    p["bundle"] = bundle("s2v")
    with pytest.raises(PromptFailed) as e:
        comfy_server.run(p)
    assert "set both to the same mode" in str(e.value)


def test_missing_lora_fails_validation_with_download_hint(comfy_server: Any) -> None:
    p = i2v_ours("quality")
    p["router"] = router("bundle", "t2v", "fast")
    p["bundle"] = bundle("t2v")
    # the volume has both T2V experts and LoRAs: rename by choosing a file that is not there
    p["router"]["inputs"]["lora_low"] = "wan2.2_t2v_lightx2v_4steps_lora_v2_low_noise.safetensors"
    with pytest.raises(PromptRejected) as e:
        comfy_server.run(p)
    assert "v2_low_noise" in _node_errors(e.value)


def test_plan_route_uses_comfyui_schedules_and_pairing_rules(comfy_server: Any) -> None:
    simple = comfy_server.get("/wan22/plan?mode=i2v&preset=quality")
    assert simple["split_step"] == make_plan("i2v", "quality").split_step
    karras = comfy_server.get("/wan22/plan?mode=i2v&preset=quality&scheduler=karras")
    assert karras["scheduler"] == "karras" and len(karras["sigmas"]) == 21
    assert karras["sigmas"] != simple["sigmas"]
    assert karras["split_step"] == sum(1 for s in karras["sigmas"][:20] if s >= 0.9)
    status, body = comfy_server.request("GET", f"/wan22/plan?mode=i2v&preset=fast&lora_high={BY_ROLE['lora_t2v_high'].name}")
    assert status == 400 and "is a T2V LoRA" in body["error"]


def test_unused_bundle_input_with_a_value_not_in_the_list_is_refused_as_core_refuses(comfy_server: Any) -> None:
    """Naming every input in validate_inputs switches off core's combo check; the loader does it
    itself, also on inputs the mode ignores (i2v does not use 'model')."""
    native = {"unet": {"class_type": "UNETLoader", "inputs": {"unet_name": "no_such_file", "weight_dtype": "default"}},
              "save": {"class_type": "ModelSave", "inputs": {"model": ["unet", 0], "filename_prefix": "never_written"}}}
    with pytest.raises(PromptRejected) as core:
        comfy_server.run(native)
    assert "value_not_in_list" in _node_errors(core.value)  # what ComfyUI does with its own combos
    p = i2v_ours("fast", save_latent=True, prefix="unlisted")
    p["bundle"] = bundle("i2v", model="no_such_file")
    with pytest.raises(PromptRejected) as e:
        comfy_server.run(p)
    text = _node_errors(e.value)
    assert "Wan22BundleLoader" in text and "model: 'no_such_file' is not in diffusion_models" in text
    assert "mode i2v does not use this input" in text and "set it to 'auto'" in text
    ok = i2v_ours("fast", save_latent=True, prefix="listed_unused")
    ok["bundle"] = bundle("i2v", model=BY_ROLE["s2v"].name, clip_vision="auto")  # a listed file: accepted, not loaded
    assert comfy_server.run(ok)["status"]["status_str"] == "success"


def test_plan_route_takes_every_router_widget_as_the_frontend_sends_it(comfy_server: Any) -> None:
    """The preview sends every widget value unchanged (0, -1, 'auto' included): same plan as the defaults."""
    raw = ("steps=0&cfg=0&shift=0&split_step=-1&sampler=auto&scheduler=auto&lora_high=auto&lora_low=auto"
           "&lora_strength=0&relight=true")
    assert comfy_server.get(f"/wan22/plan?mode=i2v&preset=fast&{raw}") == comfy_server.get("/wan22/plan?mode=i2v&preset=fast")
    no_low = comfy_server.get("/wan22/plan?mode=i2v&preset=fast&lora_low=none")
    assert [st["loras"] for st in no_low["stages"]][1] == []
    assert no_low["stages"][0]["lora"] == BY_ROLE["lora_i2v_high"].name
    status, body = comfy_server.request("GET", "/wan22/plan?mode=s2v&preset=fast&lora_low=" + BY_ROLE["lora_i2v_low"].name)
    assert status == 400 and "lora_low has no effect in mode s2v" in body["error"]


def test_router_runs_any_scheduler_on_comfyui_sigmas_like_the_route(comfy_server: Any) -> None:
    """No placeholder sigmas: validation resolves without a schedule; execution cuts ComfyUI's own."""
    over = {"scheduler": "karras", "steps": 6}
    entry = comfy_server.run(i2v_ours("quality", seed=3, save_latent=True, prefix="karras", **over))
    route = comfy_server.get("/wan22/plan?mode=i2v&preset=quality&scheduler=karras&steps=6")
    assert route["scheduler"] == "karras" and route["split_step"] == split_step(route["sigmas"], 0.9)
    text = entry["outputs"]["router"]["text"][0]
    assert "euler/karras" in text
    assert f"high-noise steps 0-{route['split_step']}, low-noise steps {route['split_step']}-6" in text
