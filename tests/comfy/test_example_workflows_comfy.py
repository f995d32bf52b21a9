"""The example workflows in real ComfyUI. Every UI workflow validates against the live server (node types,
widget values, links) and converts to its API twin; every API twin is submitted over HTTP to a
real `main.py --cpu` server on the stand-in volume and completes with an mp4 of the frame count
the graph's length/latent rules give.

How the runs are shrunk (all through documented functions in wan22.api.edits):
- tiny_overrides: 64x64, 9 frames per clip/chunk (the examples use 640x640 / 832x480, 81 frames,
  S2V chunks of 77); S2V and Animate *quality* also get the router's steps override (4), the
  other presets run their own steps;
- use_precomputed_conditioning: CLIPTextEncode -> LoadTrainingDataset (the umT5 stand-in takes
  ~40 s per encode and returns NaN). test_worker_restart.py's
  test_typed_job_with_the_real_clip_text_encode runs the i2v fast twin with CLIPTextEncode as-is.
- Animate twins run without the face video: WanAnimateToVideo resizes face frames to 512x512
  and the motion encoder runs on them every step (~7 s per frame per step on 2 CPU cores);
  test_animate_fast_with_face_video runs the full graph at 1 frame.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from support.harness import video_info

from wan22.api.edits import expected_frames, strip_seeds, tiny_overrides, use_precomputed_conditioning
from wan22.api.preflight import preflight, validate_ui
from wan22.demo.inputs import (
    EXAMPLE_AUDIO,
    EXAMPLE_END_IMAGE,
    EXAMPLE_FACE,
    EXAMPLE_POSE,
    end_image,
    motion_video,
    speech_wav,
)
from wan22.graph.convert import ui_to_api
from wan22.graph.widgets import UPLOAD_FLAGS

REPO = Path(__file__).resolve().parents[2]
EX = REPO / "example_workflows"
SNAPSHOT_PATH = REPO / "tests" / "fixtures" / "object_info.json"
STEMS = sorted(p.stem for p in EX.glob("*.json"))
VIDEO_STEMS = [s for s in STEMS if s != "wan22_volume_check"]
STEPS = {"wan22_s2v_quality": 4, "wan22_animate_quality": 4, "wan22_animate_fast": 4}


def ui(stem: str) -> dict[str, Any]:
    return json.loads((EX / f"{stem}.json").read_text())


def api(stem: str) -> dict[str, Any]:
    return json.loads((EX / "api" / f"{stem}.json").read_text())


@pytest.fixture(scope="module")
def live(comfy_server: Any) -> dict[str, Any]:
    """The server's /object_info once the example inputs are in its input folder (the start
    image is already there: conftest writes wan22_start.png)."""
    inp = comfy_server.base / "input"
    speech_wav(str(inp / EXAMPLE_AUDIO), seconds=1.0)
    end_image(str(inp / EXAMPLE_END_IMAGE))
    motion_video(str(inp / EXAMPLE_POSE), frames=17, kind="pose")
    motion_video(str(inp / EXAMPLE_FACE), frames=17, kind="face")
    return dict(comfy_server.get("/object_info"))


MODEL_EXT = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft", ".gguf")


def _file_lists_as_subsets(snapshot: dict[str, Any], live: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Combos that list files differ between servers (input folder, extra model folders): upload
    combos are blanked; a model-file list is stale only when a snapshot name is missing live."""
    snap, cur = copy.deepcopy(snapshot), copy.deepcopy(live)
    for section in ("required", "optional"):
        a = snap.get("input", {}).get(section) or {}
        b = cur.get("input", {}).get(section) or {}
        for name, spec in a.items():
            other = b.get(name)
            opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            oopts = other[1] if other and len(other) > 1 and isinstance(other[1], dict) else {}
            if any(opts.get(f) for f in UPLOAD_FLAGS):
                for sp, op in ((spec, opts), (other, oopts)):
                    if sp and isinstance(sp[0], list):
                        sp[0] = []
                    op["options"] = []
                continue
            listed = opts.get("options") if isinstance(opts.get("options"), list) else None
            if listed and any(str(o).endswith(MODEL_EXT) for o in listed) and isinstance(oopts.get("options"), list):
                if set(listed) <= set(oopts["options"]):
                    oopts["options"] = list(listed)
    return snap, cur


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{path}/{k}: only in {'live' if k not in a else 'snapshot'}"
            d = _first_difference(a[k], b[k], f"{path}/{k}")
            if d:
                return d
        return ""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := _first_difference(x, y, f"{path}[{i}]"))), "")
    if a != b:
        return f"{path}: snapshot {json.dumps(a)[:200]} != live {json.dumps(b)[:200]}"
    return ""


def test_object_info_snapshot_is_current(live: dict[str, Any]) -> None:
    snapshot = json.loads(SNAPSHOT_PATH.read_text())
    missing = sorted(set(snapshot) - set(live))
    assert not missing, f"node types gone from the server: {missing}"
    stale = {t: _first_difference(*_file_lists_as_subsets(snapshot[t], live[t])) for t in snapshot}
    stale = {t: d for t, d in stale.items() if d}
    assert not stale, (f"tests/fixtures/object_info.json is stale ({stale}): run "
                       "`python tools/gen_workflows.py --refresh-object-info` and commit the result")


@pytest.mark.parametrize("stem", STEMS)
def test_ui_workflow_validates_against_live_server(live: dict[str, Any], stem: str) -> None:
    assert validate_ui(ui(stem), live) == []


@pytest.mark.parametrize("stem", STEMS)
def test_ui_converts_to_api_twin_with_live_object_info(live: dict[str, Any], stem: str) -> None:
    assert strip_seeds(ui_to_api(ui(stem), live)) == strip_seeds(api(stem))


def small(stem: str, length: int = 9, face: bool = False) -> dict[str, Any]:
    p = use_precomputed_conditioning(tiny_overrides(api(stem), 64, 64, length, steps=STEPS.get(stem)))
    if not face:
        for n in p.values():
            if n["class_type"] == "WanAnimateToVideo":
                n["inputs"].pop("face_video", None)
    return p


def run_and_check(server: Any, live: dict[str, Any], prompt: dict[str, Any]) -> dict[str, Any]:
    assert preflight(prompt, live) == []
    entry = server.run(prompt, timeout=1200)
    videos = [f for f in server.output_files(entry) if f.suffix == ".mp4"]
    assert len(videos) == 1, entry["outputs"]
    info = video_info(videos[0])
    assert info["frames"] == expected_frames(prompt)
    assert (info["width"], info["height"]) == (64, 64)
    info["path"] = videos[0]
    return info


@pytest.mark.parametrize("stem", VIDEO_STEMS)
def test_api_twin_completes_with_expected_frames(comfy_server: Any, live: dict[str, Any], stem: str) -> None:
    prompt = small(stem)
    info = run_and_check(comfy_server, live, prompt)
    mode = stem.split("_")[1]
    assert info["frames"] == {"i2v": 9, "t2v": 9, "s2v": 21, "animate": 9, "flf2v": 9, "ti2v": 9, "animate2": 9}[mode]
    if mode == "s2v":  # CreateVideo muxes the prepared 16 kHz audio
        assert info.get("audio_seconds", 0) > 0.9
        assert info["fps"] == 16.0


def test_volume_check_twin_reports_readiness(comfy_server: Any) -> None:
    entry = comfy_server.run(api("wan22_volume_check"), timeout=120)
    texts = {k: v.get("text", [""])[0] for k, v in entry["outputs"].items() if "text" in v}
    report = next(t for t in texts.values() if "inventory" in t.lower())
    assert "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors" in report
    assert any(t.strip().lower() == "true" for t in texts.values()), texts  # i2v_fast is ready on the stand-ins


@pytest.mark.slow
def test_animate_fast_with_face_video(comfy_server: Any, live: dict[str, Any]) -> None:
    """The full Animate graph, face video included, at 1 frame (see the module docstring)."""
    prompt = small("wan22_animate_fast", length=1, face=True)
    an = next(n for n in prompt.values() if n["class_type"] == "WanAnimateToVideo")
    assert "face_video" in an["inputs"] and "pose_video" in an["inputs"] and "clip_vision_output" in an["inputs"]
    assert run_and_check(comfy_server, live, prompt)["frames"] == 1
