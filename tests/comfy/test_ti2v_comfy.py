"""Issue 16, TI2V-5B in a real ComfyUI (`main.py --cpu`) on the demo volume with the 5B stand-ins
(`demo-volume --with-5b`: a tiny 5B DiT and the Wan 2.2 VAE at its real, fixed layout, sparse).

- the ti2v API twin (bundle loader mode ti2v -> router -> Wan22ImageToVideoLatent -> MoE sampler ->
  VAEDecode -> CreateVideo -> SaveVideo) writes an mp4 whose frame count is the graph's: the latent
  has ((length - 1) // 4) + 1 frames and the Wan 2.2 VAE decodes T latent frames to 4 (T - 1) + 1;
  with the start image (image to video) and without it (text to video, as the template's default);
- the bundle loader refuses the Wan 2.1 VAE for ti2v and the Wan 2.2 VAE for a 14B mode at
  validation (POST /prompt answers 400: nothing has been loaded), naming the node, the file and the
  right file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.harness import PromptRejected, video_info

from wan22.api.edits import expected_frames, tiny_overrides, use_precomputed_conditioning
from wan22.api.preflight import preflight
from wan22.catalog import BY_ROLE
from wan22.demo.graphs import bundle, i2v_ours

REPO = Path(__file__).resolve().parents[2]
TWIN = REPO / "example_workflows" / "api" / "wan22_ti2v_quality.json"
STEPS = 4  # the router's steps override: the frame count does not depend on it


def small(length: int, start_image: bool) -> dict[str, Any]:
    p = use_precomputed_conditioning(tiny_overrides(json.loads(TWIN.read_text()), 64, 64, length, steps=STEPS))
    (lat,) = [n for n in p.values() if n["class_type"] == "Wan22ImageToVideoLatent"]
    assert "start_image" in lat["inputs"]  # the example wires the start image (image to video)
    if not start_image:  # text to video: the optional input left empty, as when Load Image is bypassed
        src = lat["inputs"].pop("start_image")[0]
        del p[src]
    return p


@pytest.mark.parametrize(("length", "start_image"), [(9, True), (5, False)])
def test_ti2v_twin_writes_the_graphs_frame_count(comfy_server: Any, length: int, start_image: bool) -> None:
    prompt = small(length, start_image)
    live = dict(comfy_server.get("/object_info"))
    assert preflight(prompt, live) == []
    want = expected_frames(prompt)
    assert want == 4 * ((length - 1) // 4) + 1  # 9 -> 3 latent frames -> 9; 5 -> 2 -> 5
    entry = comfy_server.run(prompt, timeout=900)
    videos = [f for f in comfy_server.output_files(entry) if f.suffix == ".mp4"]
    assert len(videos) == 1, entry["outputs"]
    info = video_info(videos[0])
    assert (info["frames"], info["width"], info["height"], info["fps"]) == (want, 64, 64, 24.0)
    # ComfyUI detected the 5B stand-in as its own WAN22 model class (model_base.WAN22: WAN22_T2V, out_dim 48)
    assert "Requested to load WAN22" in comfy_server.log_text()


def _refusal(comfy_server: Any, prompt: dict[str, Any]) -> str:
    with pytest.raises(PromptRejected) as e:
        comfy_server.run(prompt)
    return json.dumps(e.value.body)


def test_bundle_loader_refuses_the_21_vae_for_ti2v(comfy_server: Any) -> None:
    prompt = small(9, True)
    (b,) = [n for n in prompt.values() if n["class_type"] == "Wan22BundleLoader"]
    b["inputs"]["vae"] = BY_ROLE["vae"].name
    text = _refusal(comfy_server, prompt)
    assert "Wan22BundleLoader (mode ti2v) cannot use 1 file(s)" in text, text[:2000]
    assert "vae: 'wan_2.1_vae.safetensors'" in text and "wrong_model" in text and "Wan 2.1 VAE" in text
    assert "Mode ti2v decodes with wan2.2_vae.safetensors" in text


def test_bundle_loader_refuses_the_22_vae_for_a_14b_mode(comfy_server: Any) -> None:
    prompt = i2v_ours("fast")
    prompt["bundle"] = bundle("i2v", vae=BY_ROLE["vae22"].name)
    text = _refusal(comfy_server, prompt)
    assert "Wan22BundleLoader (mode i2v) cannot use 1 file(s)" in text, text[:2000]
    assert "vae: 'wan2.2_vae.safetensors'" in text and "wrong_model" in text and "Wan 2.2 VAE" in text
    assert "Mode i2v decodes with wan_2.1_vae.safetensors" in text
