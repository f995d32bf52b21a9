"""Lightning generations in real ComfyUI, on a volume of their own (the shared demo volume keeps
only the user's v1 LoRAs, so 'auto' there stays today's plan): a 1022-style LoRA pair (rank 64,
the release's extra keys) and a distilled expert pair (260412) run to mp4; our router + sampler
equal the core KSamplerAdvanced chain bit for bit for the 1022 pair in 2 and 3 stages, and for
the distilled experts; 'auto' picks what the volume and the bundle hold. 64x64, 5 frames, CPU."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import pytest
from support.harness import Server, start_image, video_info

from wan22.catalog import BY_ROLE, lightning_role
from wan22.demo.demo_volume import make_demo_volume
from wan22.demo.graphs import i2v_ours, native_chain
from wan22.demo.server import PromptFailed
from wan22.plan.lightning import BY_ID
from wan22.plan.overrides import Overrides
from wan22.plan.routing import make_plan

LENGTH = 5
SEKO = "Wan2.2-I2V-A14B-4steps-lora-rank64-Seko-V1"
SEKO_FILES = ("high_noise_model.safetensors", "low_noise_model.safetensors")
ROLES = ["i2v_high", "i2v_low", "vae", "text_encoder", "lora_i2v_high", "lora_i2v_low",
         *(lightning_role(g, s) for g in ("i2v_1022", "i2v_260412") for s in ("high", "low"))]


def pair(gid: str) -> tuple[str, str]:
    g = BY_ID[gid]
    assert g.high is not None and g.low is not None
    return g.high.name, g.low.name


@pytest.fixture(scope="module")
def lx_server(own_server: Callable[..., Server], tmp_path_factory: pytest.TempPathFactory) -> Server:
    volume = tmp_path_factory.mktemp("lightning_volume")
    make_demo_volume(str(volume), roles=ROLES, with_lightning=True)
    (volume / "loras" / SEKO).mkdir()  # the v1 pair as the official repository lays it out
    for role, bare in zip(("lora_i2v_high", "lora_i2v_low"), SEKO_FILES, strict=True):
        shutil.copyfile(volume / "loras" / BY_ROLE[role].name, volume / "loras" / SEKO / bare)
    return own_server(volume, "lightning", inputs=lambda d: start_image(d / "wan22_start.png"))


def distilled(graph: dict[str, Any], gid: str = "i2v_260412") -> dict[str, Any]:
    hi, lo = pair(gid)
    graph["bundle"]["inputs"].update(high_noise_model=hi, low_noise_model=lo)
    return graph


def latent(server: Server, prompt: dict[str, Any]) -> Any:
    import safetensors.torch

    entry = server.run(prompt)
    files = [f for f in server.output_files(entry) if f.suffix == ".latent"]
    assert len(files) == 1, entry["outputs"]
    return safetensors.torch.load_file(str(files[0]))["latent_tensor"]


def mp4(server: Server, prompt: dict[str, Any]) -> tuple[dict[str, Any], str]:
    entry = server.run(prompt)
    videos = [f for f in server.output_files(entry) if f.suffix == ".mp4"]
    assert len(videos) == 1 and video_info(videos[0])["frames"] == LENGTH, entry["outputs"]
    return video_info(videos[0]), entry["outputs"]["router"]["text"][0]


def test_the_1022_pair_runs_to_mp4_and_auto_picks_it_over_v1(lx_server: Server) -> None:
    info, text = mp4(lx_server, i2v_ours("fast", length=LENGTH, seed=5, prefix="lx_1022"))
    assert info["width"] == 64 and "lightning i2v_1022 (auto)" in text, text
    assert all(n in text for n in pair("i2v_1022")), text


def test_the_official_seko_folder_pair_runs_under_its_bare_names(lx_server: Server) -> None:
    hi, lo = (f"{SEKO}/{b}" for b in SEKO_FILES)
    _info, text = mp4(lx_server, i2v_ours("fast", length=LENGTH, seed=5, prefix="lx_seko", lora_high=hi, lora_low=lo))
    assert "lightning i2v_v1 (auto)" in text and hi in text and lo in text, text


def test_the_distilled_pair_runs_to_mp4_without_a_lora(lx_server: Server) -> None:
    _info, text = mp4(lx_server, distilled(i2v_ours("fast", length=LENGTH, seed=5, prefix="lx_260412")))
    assert "lightning i2v_260412 (auto)" in text and text.count("[no LoRA]") == 2, text
    assert all(n in text for n in pair("i2v_260412")), text


@pytest.mark.parametrize("preset", ["fast", "fast_motion"])
def test_1022_equals_the_core_ksampler_advanced_chain_bit_for_bit(lx_server: Server, preset: str) -> None:
    import torch

    plan = make_plan("i2v", preset, Overrides(lightning="i2v_1022"))
    assert len(plan.stages) == (2 if preset == "fast" else 3)
    assert [lo.file for st in plan.stages for lo in st.loras] == list(pair("i2v_1022"))
    ours = latent(lx_server, i2v_ours(preset, length=LENGTH, seed=99, save_latent=True, prefix=f"lx_ours_{preset}",
                                      lightning="i2v_1022"))
    native = latent(lx_server, native_chain(plan, 99, f"lx_native_{preset}", LENGTH))
    assert torch.isfinite(ours).all()
    assert torch.equal(ours, native), f"max diff {(ours - native).abs().max().item()}"
    # Not vacuous: the v1 pair on the same experts gives another latent.
    v1 = latent(lx_server, native_chain(make_plan("i2v", preset), 99, f"lx_v1_{preset}", LENGTH))
    assert not torch.equal(ours, v1)


def test_distilled_experts_equal_the_core_chain_bit_for_bit(lx_server: Server) -> None:
    import torch

    plan = make_plan("i2v", "fast", Overrides(lightning="i2v_260412"))
    ours = latent(lx_server, distilled(i2v_ours("fast", length=LENGTH, seed=7, save_latent=True, prefix="lx_d_ours",
                                                lightning="i2v_260412")))
    native = latent(lx_server, native_chain(plan, 7, "lx_d_native", LENGTH))
    assert torch.equal(ours, native), f"max diff {(ours - native).abs().max().item()}"
    assert not all(st.loras for st in plan.stages)


def test_the_router_refuses_a_distilled_id_on_base_experts_naming_the_bundle_inputs(lx_server: Server) -> None:
    with pytest.raises(PromptFailed) as e:
        lx_server.run(i2v_ours("fast", length=LENGTH, seed=1, prefix="lx_refused", lightning="i2v_260412"))
    msg = str(e.value)
    assert f"set the bundle's high_noise_model to {pair('i2v_260412')[0]}" in msg, msg


def test_a_distill_lora_on_distilled_experts_is_refused_before_anything_runs(lx_server: Server) -> None:
    from wan22.demo.server import PromptRejected

    graph = distilled(i2v_ours("fast", length=LENGTH, seed=1, prefix="lx_refused2", lora_high=BY_ROLE["lora_i2v_high"].name))
    with pytest.raises((PromptFailed, PromptRejected)) as e:
        lx_server.run(graph)
    assert "distilled 4-step expert" in str(e.value), str(e.value)
