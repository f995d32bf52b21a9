"""Issue: example workflows. Every UI workflow validates against the live server (node types,
widget values, links) and converts to its API twin; every API twin is submitted over HTTP to a
real `main.py --cpu` server on the stand-in volume and completes with an mp4 of the frame count
the graph's length/latent rules give.

How the runs are shrunk (all through documented functions in wan22.api.edits):
- tiny_overrides: 64x64, 9 frames per clip/chunk (the examples use 640x640 / 832x480, 81 frames,
  S2V chunks of 77); S2V and Animate *quality* also get the router's steps override (4), the
  other presets run their own steps;
- use_precomputed_conditioning: CLIPTextEncode -> LoadTrainingDataset (the umT5 stand-in takes
  ~30 s per encode and returns NaN). test_i2v_fast_with_real_text_encoder runs one twin with
  CLIPTextEncode as-is.
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
from harness import video_info

from wan22.api.convert import ui_to_api
from wan22.api.edits import expected_frames, strip_seeds, tiny_overrides, use_precomputed_conditioning
from wan22.api.preflight import preflight, validate_ui
from wan22.api.widgets import UPLOAD_FLAGS
from wan22.demo.inputs import (
    EXAMPLE_AUDIO,
    EXAMPLE_END_IMAGE,
    EXAMPLE_FACE,
    EXAMPLE_POSE,
    end_image,
    motion_video,
    solid_image,
    speech_wav,
)

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
    assert info["frames"] == {"i2v": 9, "t2v": 9, "s2v": 21, "animate": 9, "flf2v": 9}[mode]
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


@pytest.mark.slow
def test_i2v_fast_with_real_text_encoder(comfy_server: Any, live: dict[str, Any]) -> None:
    """The i2v fast twin as-is (CLIPTextEncode with the umT5 stand-in: slow, NaN conditioning,
    black frames) still writes an mp4 with the right frame count."""
    prompt = tiny_overrides(api("wan22_i2v_fast"))
    assert any(n["class_type"] == "CLIPTextEncode" for n in prompt.values())
    assert run_and_check(comfy_server, live, prompt)["frames"] == 9


def _frame_means(path: Path) -> list[tuple[float, float, float]]:
    import av

    with av.open(str(path)) as c:
        return [tuple(float(x) for x in f.to_ndarray(format="rgb24").reshape(-1, 3).mean(0))
                for f in c.decode(c.streams.video[0])]


def _nearer(rgb: tuple[float, ...], a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return sum((x - y) ** 2 for x, y in zip(rgb, a)) < sum((x - y) ** 2 for x, y in zip(rgb, b))


def _roundtrip(server: Any, name: str) -> tuple[float, float, float]:
    """The mean colour of `name` after the stand-in VAE's encode + decode (LoadImage -> VAEEncode
    -> VAEDecode -> CreateVideo -> SaveVideo), from the same volume and loader as the twins."""
    prompt = {
        "1": {"class_type": "Wan22BundleLoader", "inputs": {"mode": "flf2v", "high_noise_model": "auto",
              "low_noise_model": "auto", "model": "auto", "text_encoder": "none", "vae": "auto",
              "clip_vision": "auto", "audio_encoder": "auto", "weight_dtype": "default"}},
        "2": {"class_type": "LoadImage", "inputs": {"image": name}},
        "3": {"class_type": "VAEEncode", "inputs": {"pixels": ["2", 0], "vae": ["1", 2]}},
        "4": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["1", 2]}},
        "5": {"class_type": "CreateVideo", "inputs": {"images": ["4", 0], "fps": 16.0}},
        "6": {"class_type": "SaveVideo", "inputs": {"video": ["5", 0], "filename_prefix": f"wan22/rt_{name[:-4]}",
                                                     "format": "mp4", "codec": "auto"}},
    }
    entry = server.run(prompt, timeout=300)
    (video,) = [f for f in server.output_files(entry) if f.suffix == ".mp4"]
    return _frame_means(video)[0]


@pytest.mark.xfail(strict=True, reason=(
    "measured: the stand-in I2V experts have random weights, so the sampled latent does not carry the "
    "start/end frames WanFirstLastFrameToVideo puts in the conditioning (first frame ~(174, 154, 105) vs "
    "round trips red ~(234, 194, 91), blue ~(222, 188, 81)); needs a stand-in whose output follows the "
    "concat latent. strict: it fails the run as soon as it passes, so the mark cannot outlive the cause"))
@pytest.mark.parametrize("stem", ["wan22_flf2v_fast"])
def test_flf2v_first_and_last_frame_come_from_the_two_images(comfy_server: Any, stem: str) -> None:
    """Two distinct solid colours as first and last frame: the decoded video's first frame is
    nearer the first image's VAE round trip and its last frame nearer the last image's. The stand-in
    VAE is checked first: its two round trips must stay apart, or the test would prove nothing."""
    inp = comfy_server.base / "input"
    red, blue = (220, 40, 30), (30, 60, 220)
    solid_image(str(inp / "wan22_flf_red.png"), red)
    solid_image(str(inp / "wan22_flf_blue.png"), blue)
    rt_red, rt_blue = _roundtrip(comfy_server, "wan22_flf_red.png"), _roundtrip(comfy_server, "wan22_flf_blue.png")
    # Measured: the random stand-in VAE does not keep the hue (red -> ~(234, 194, 91), blue ->
    # ~(222, 188, 81)) but its two round trips stay ~16 apart, so frames are judged against them.
    apart = sum((x - y) ** 2 for x, y in zip(rt_red, rt_blue)) ** 0.5
    assert apart > 5, f"the stand-in VAE does not keep the colours apart: red -> {rt_red}, blue -> {rt_blue}"
    prompt = small(stem)
    loads = [n for n in prompt.values() if n["class_type"] == "LoadImage"]
    by_title = {n["_meta"]["title"]: n for n in loads}
    by_title["First frame"]["inputs"]["image"] = "wan22_flf_red.png"
    by_title["Last frame"]["inputs"]["image"] = "wan22_flf_blue.png"
    fresh = dict(comfy_server.get("/object_info"))  # LoadImage now lists the two solid images
    info = run_and_check(comfy_server, fresh, prompt)
    means = _frame_means(info["path"])
    assert len(means) == info["frames"] == 9
    assert _nearer(means[0], rt_red, rt_blue), (means[0], rt_red, rt_blue)
    assert _nearer(means[-1], rt_blue, rt_red), (means[-1], rt_red, rt_blue)
