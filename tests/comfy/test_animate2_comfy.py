"""Issue 16, Animate 2: the stand-ins load through ComfyUI's own detection and int8 ConvRot ops, and
both example API twins (quality, distilled) run on the demo volume (real `main.py --cpu` over HTTP)
and write an mp4 whose frame count is the one the graph's length/latent rules give.

Runs are shrunk as in test_example_workflows_comfy: 64x64, 5 frames (two latent frames plus the reference frame),
precomputed text conditioning, and a 17-frame driving video (a moving stick figure).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from support.harness import PromptFailed, video_info

from wan22.api.edits import expected_frames, tiny_overrides, use_precomputed_conditioning
from wan22.catalog import BY_ROLE
from wan22.demo.demo_volume import DEMO_SEED, model_tensors
from wan22.demo.inputs import EXAMPLE_POSE, motion_video
from wan22.demo.layouts import load

REPO = Path(__file__).resolve().parents[2]
TWINS = {"quality": "wan22_animate2_quality", "distilled": "wan22_animate2_distilled"}


def twin(preset: str, length: int = 5) -> dict[str, Any]:
    p = json.loads((REPO / "example_workflows" / "api" / f"{TWINS[preset]}.json").read_text())
    return use_precomputed_conditioning(tiny_overrides(p, 64, 64, length))


def node_of(prompt: dict[str, Any], class_type: str) -> dict[str, Any]:
    (node,) = [n for n in prompt.values() if n["class_type"] == class_type]
    return node


@pytest.fixture(scope="module")
def driving_video(comfy_server: Any) -> str:
    return motion_video(str(comfy_server.base / "input" / EXAMPLE_POSE), frames=17, kind="pose")


@pytest.mark.parametrize("role", ["animate2", "animate2_distill"])
def test_stand_in_is_detected_as_animate2_with_int8_convrot_weights(comfy_inproc: Any, role: str) -> None:
    import comfy.sd
    from comfy_kitchen.tensor import QuantizedTensor

    path = comfy_inproc.volume / "diffusion_models" / BY_ROLE[role].name
    patcher = comfy.sd.load_diffusion_model(str(path))
    assert type(patcher.model.model_config).__name__ == "WAN_Animate2"  # from the metadata config
    dm = patcher.model.diffusion_model
    assert type(dm).__name__ == "WanAnimate2Model"
    w = dm.blocks[0].self_attn.q.weight
    assert isinstance(w, QuantizedTensor) and w._layout_cls == "TensorWiseINT8Layout"
    assert w._params.convrot is True
    # ComfyUI's own dequantize (un-rotating) gives back the float weights the stand-in was made from
    original = dict(model_tensors(load("tiny_animate2"), role, DEMO_SEED, dtype=torch.float32))["blocks.0.self_attn.q.weight"]
    back = w.dequantize().float()
    assert back.shape == original.shape
    assert ((back - original).norm() / original.norm()).item() < 0.02  # int8 rounding only (about 0.5 %)
    assert not torch.allclose(w._qdata.float() * w._params.scale, original, atol=1e-3)  # stored rotated


@pytest.mark.parametrize("preset", ["quality", "distilled"])
def test_api_twin_writes_the_frames_the_graph_gives(comfy_server: Any, driving_video: str, preset: str) -> None:
    prompt = twin(preset)
    an = node_of(prompt, "WanAnimate2ToVideo")
    assert an["inputs"]["length"] == 5 and all(k in an["inputs"] for k in ("reference_image", "pose_video",
                                                                           "clip_vision_output", "clip_vision_output_pose"))
    bundle = node_of(prompt, "Wan22BundleLoader")
    want = BY_ROLE["animate2" if preset == "quality" else "animate2_distill"].name
    assert bundle["inputs"]["model"] == want and bundle["inputs"]["vae"] == BY_ROLE["vae_bf16"].name
    entry = comfy_server.run(prompt, timeout=1200)
    videos = [f for f in comfy_server.output_files(entry) if f.suffix == ".mp4"]
    assert len(videos) == 1, entry["outputs"]
    info = video_info(videos[0])
    assert info["frames"] == expected_frames(prompt) == 5  # 2 latent frames after the reference frame is trimmed
    assert (info["width"], info["height"]) == (64, 64)
    assert info["fps"] == 16.0  # the driving video's


def test_distilled_preset_on_the_quality_file_names_the_file_to_get(comfy_server: Any, driving_video: str) -> None:
    prompt = twin("distilled")
    node_of(prompt, "Wan22BundleLoader")["inputs"]["model"] = BY_ROLE["animate2"].name
    with pytest.raises(PromptFailed) as e:
        comfy_server.run(prompt, timeout=600)
    text = str(e.value)
    assert BY_ROLE["animate2_distill"].name in text and BY_ROLE["animate2_distill"].url in text
    assert "auto" in text
