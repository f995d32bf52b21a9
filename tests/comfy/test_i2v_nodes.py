"""The core generation path through the pack's nodes over HTTP (real ComfyUI, demo volume, real
executor): the pack registers its nodes, the I2V graph (bundle loader -> mode router -> MoE
sampler) writes an mp4 of the requested frames and equals two core KSamplerAdvanced bit for bit,
and the bundle loader, the router and the plan route refuse what they must, naming the fix.

The in-process checks of the stand-ins themselves are tests/comfy/test_standins_in_comfyui.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.harness import PromptFailed, PromptRejected, video_info

from wan22.catalog import BY_ROLE
from wan22.demo.graphs import bundle, i2v_native, i2v_ours, router
from wan22.plan.routing import make_plan
from wan22.plan.sigmas import split_step

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
