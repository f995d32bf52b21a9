"""`python -m wan22 submit` and `python -m wan22 demo` against real ComfyUI.

- submit end to end: uploads the image, queues, follows the websocket, downloads the mp4;
- the pre-flight against the live /object_info lists every problem and queues nothing;
- the RunPod request body, replayed exactly as runpod-workers/worker-comfyui replays it
  (every input.images entry POSTed to /upload/image as an image, then input.workflow to /prompt),
  runs S2V with the audio that travelled in input.images;
- `python -m wan22 demo` end to end (slow: it starts its own server).
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.harness import video_info, worker_comfyui_upload

from wan22.api.edits import expected_frames, tiny_overrides, use_precomputed_conditioning
from wan22.demo.inputs import speech_wav
from wan22.demo.server import start_image

REPO = Path(__file__).resolve().parents[2]
API = REPO / "example_workflows" / "api"


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wan22", *args], cwd=str(REPO), capture_output=True, text=True,
                          timeout=timeout, env=env)


def tiny_file(tmp_path: Path, stem: str) -> Path:
    p = use_precomputed_conditioning(tiny_overrides(json.loads((API / f"{stem}.json").read_text())))
    out = tmp_path / f"{stem}_tiny.json"
    out.write_text(json.dumps(p))
    return out


def queue_size(server: Any) -> int:
    q = server.get("/queue")
    return len(q["queue_running"]) + len(q["queue_pending"])


def test_submit_uploads_waits_and_downloads_the_mp4(comfy_server: Any, tmp_path: Path) -> None:
    img = Path(start_image(str(tmp_path / f"submit_{uuid.uuid4().hex[:6]}.png"), size=80))
    wf = tiny_file(tmp_path, "wan22_i2v_fast")
    r = cli("submit", str(wf), "--server", comfy_server.url, "--image", str(img), "--seed", "3",
            "--wait", "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"-> input/{img.name}" in r.stdout
    assert (comfy_server.base / "input" / img.name).read_bytes() == img.read_bytes()
    assert "[wan22] [" in r.stderr and "100%" in r.stderr  # the progress bar followed the run
    assert "websocket unavailable" not in r.stderr
    videos = list((tmp_path / "out").rglob("*.mp4"))
    assert len(videos) == 1
    assert video_info(videos[0])["frames"] == 9


def test_submit_preflight_lists_problems_and_queues_nothing(comfy_server: Any, tmp_path: Path) -> None:
    p = use_precomputed_conditioning(tiny_overrides(json.loads((API / "wan22_i2v_fast.json").read_text())))
    kinds = {v["class_type"]: k for k, v in p.items()}
    p[kinds["Wan22BundleLoader"]]["inputs"]["vae"] = "wan_2.2_vae.safetensors"
    p[kinds["CreateVideo"]]["class_type"] = "CreateVideoDeluxe"
    p[kinds["Wan22ModeRouter"]]["inputs"]["lora_low"] = "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors"
    wf = tmp_path / "bad.json"
    wf.write_text(json.dumps(p))
    history_before = len(comfy_server.get("/history"))
    r = cli("submit", str(wf), "--server", comfy_server.url, "--image", str(REPO / "example_workflows" / "wan22_i2v_fast.jpg"),
            "--wait")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "3 problem(s)" in r.stderr
    assert "vae: 'wan_2.2_vae.safetensors' is not in vae" in r.stderr
    assert "(CreateVideoDeluxe): node type is not installed on the server" in r.stderr
    assert "is the high-noise LoRA but it is on the low-noise expert" in r.stderr
    assert queue_size(comfy_server) == 0 and len(comfy_server.get("/history")) == history_before
    assert not (comfy_server.base / "input" / "wan22_i2v_fast.jpg").exists()  # nothing uploaded


@pytest.mark.slow
def test_runpod_request_replayed_like_the_worker_runs_s2v_with_its_audio(comfy_server: Any, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    img = Path(start_image(str(tmp_path / f"rp_ref_{tag}.png"), size=64))
    wav = Path(speech_wav(str(tmp_path / f"rp_voice_{tag}.wav"), seconds=1.0, rate=48000, channels=1))
    req = tmp_path / "runpod.json"
    r = cli("submit", str(tiny_file(tmp_path, "wan22_s2v_fast")), "--server", comfy_server.url, "--image", str(img),
            "--audio", str(wav), "--runpod-request", str(req))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "skipped the server preflight" not in r.stderr  # the live server checked it first
    body = json.loads(req.read_text())["input"]
    wf = body["workflow"]
    audio_name = next(n["inputs"]["audio"] for n in wf.values() if n["class_type"] == "LoadAudio")
    assert audio_name.endswith(wav.name)
    assert not (comfy_server.base / "input" / audio_name).exists()  # writing the body uploads nothing
    for item in body["images"]:
        status, answer = worker_comfyui_upload(comfy_server, item["name"], base64.b64decode(item["image"]))
        assert status == 200, answer
    assert (comfy_server.base / "input" / audio_name).read_bytes() == wav.read_bytes()
    entry = comfy_server.run(body["workflow"], timeout=1200)
    videos = [f for f in comfy_server.output_files(entry) if f.suffix == ".mp4"]
    info = video_info(videos[0])
    assert info["frames"] == expected_frames(body["workflow"]) == 21
    assert info["audio_seconds"] > 0.9


@pytest.mark.slow
def test_demo_end_to_end(comfyui_path: Path, tmp_path: Path) -> None:
    env = dict(os.environ, COMFYUI_PATH=str(comfyui_path))
    custom_nodes = sorted(p.name for p in (comfyui_path / "custom_nodes").iterdir())
    r = cli("demo", "--python", sys.executable, "--workdir", str(tmp_path / "demo"), "--out", str(tmp_path / "out"),
            env=env, timeout=1200)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "is not modified" in out and "precomputed text conditioning" in out
    videos = list((tmp_path / "out").rglob("*.mp4"))
    assert len(videos) == 1
    assert video_info(videos[0])["frames"] == 17
    assert "17 frames, 96x96" in out
    assert re.search(r"t2v_fast +NOT ready: .*t2v_high_noise", out)  # the user's volume has no T2V experts
    assert "server stopped" in out
    port = int(re.search(r"starting ComfyUI on http://127\.0\.0\.1:(\d+)", out).group(1))  # type: ignore[union-attr]
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the demo left its server running"
    assert sorted(p.name for p in (comfyui_path / "custom_nodes").iterdir()) == custom_nodes  # user's ComfyUI untouched
