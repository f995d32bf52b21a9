"""The RunPod worker end to end, through the runpod SDK's own local job API (`--rp_serve_api`:
/run, /runsync, /status) against a real ComfyUI (`main.py --cpu`) on the demo volume.

One ComfyUI (the session's) and one worker for the module. The worker runs with the
WAN22_PRECOMPUTED_CONDITIONING test/demo switch: its typed jobs use the demo volume's
precomputed text conditioning, because the umT5 stand-in takes ~30-60 s per CLIPTextEncode on
this CPU (test_worker_restart.py runs typed jobs with the real CLIPTextEncode). Progress updates
go, as on RunPod, to RUNPOD_WEBHOOK_POST_OUTPUT: here a loopback recorder.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("runpod", reason="the worker tests drive the runpod SDK's local API: pip install -r requirements-dev.txt")
from support.harness import tree_hashes, video_info
from support.worker_jobs import REPO, Recorder, WorkerProc, b64, bad_jobs, brightest, m4a_bytes, png_bytes, save_video

from wan22.api.edits import tiny_overrides, use_precomputed_conditioning

MAX_PAYLOAD = 2_000_000
TINY = {"width": 64, "height": 64, "frames": 9}


@pytest.fixture(scope="module")
def recorder() -> Any:
    r = Recorder()
    yield r
    r.close()


@pytest.fixture(scope="module")
def worker(comfy_server: Any, recorder: Recorder, tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("worker")
    w = WorkerProc(["--comfy-url", comfy_server.url], {
        "WAN22_PRECOMPUTED_CONDITIONING": "1", "WAN22_MAX_PAYLOAD": str(MAX_PAYLOAD),
        "RUNPOD_WEBHOOK_POST_OUTPUT": recorder.url}, tmp / "worker.log", tmp)
    try:
        w.wait_ready()
        yield w
    finally:
        w.stop()


def _ok(resp: dict[str, Any], w: WorkerProc) -> dict[str, Any]:
    assert resp.get("status") == "COMPLETED", f"{json.dumps(resp)[:1500]}\n--- worker log ---\n{w.log_tail()}"
    return dict(resp["output"])


def test_boot_logs_one_readiness_table_from_comfyuis_own_inventory(worker: WorkerProc, comfy_server: Any) -> None:
    log = worker.log_text()
    assert log.count("Wan 2.2 worker readiness") == 1
    assert f"{comfy_server.url}/wan22/inventory" in log
    assert "i2v_fast        yes" in log
    assert "wan22 worker ready to take jobs" in log


def test_runsync_typed_i2v_fast(worker: WorkerProc, recorder: Recorder, tmp_path: Path) -> None:
    out = _ok(worker.runsync({"workflow": "i2v_fast", "image": b64(png_bytes()), "prompt": "a fox", "seed": 7, **TINY}), worker)
    assert {k: out[k] for k in ("workflow", "seed", "frames", "fps", "width", "height")} == {
        "workflow": "i2v_fast", "seed": 7, "frames": 9, "fps": 16.0, "width": 64, "height": 64}
    assert set(out["timings"]) == {"queued_s", "run_s"} and out["timings"]["run_s"] > 0
    assert out["video"]["filename"].endswith(".mp4") and out["video"]["type"] == "base64"
    info = video_info(save_video(out["video"], tmp_path / "i2v.mp4"))
    assert (info["frames"], info["width"], info["height"]) == (9, 64, 64)
    assert brightest(tmp_path / "i2v.mp4") > 16, "precomputed conditioning gives visible frames"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "high 2/2, low 1/2" not in str(recorder.posts):
        time.sleep(0.2)
    updates = [o for _j, b in recorder.posts if isinstance(b, dict) and b.get("status") == "IN_PROGRESS" for o in [b.get("output")]]
    assert "high 2/2, low 1/2" in updates and "high 1/2" in updates, updates


def _solid_png(rgb: tuple[int, int, int], size: int = 64) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buf, "PNG")
    return buf.getvalue()


def test_typed_flf2v_fast_with_two_images(worker: WorkerProc, tmp_path: Path) -> None:
    """Issue 16: `end_image` goes to WanFirstLastFrameToVideo's end_image; the mp4 has the graph's frames."""
    out = _ok(worker.runsync({"workflow": "flf2v_fast", "image": b64(_solid_png((230, 30, 30))),
                              "end_image": b64(_solid_png((30, 30, 230))), "seed": 4, **TINY}), worker)
    assert {k: out[k] for k in ("workflow", "frames", "width", "height")} == {
        "workflow": "flf2v_fast", "frames": 9, "width": 64, "height": 64}
    info = video_info(save_video(out["video"], tmp_path / "flf2v.mp4"))
    assert (info["frames"], info["width"], info["height"]) == (9, 64, 64)


def test_typed_s2v_fast_with_a_2s_m4a(worker: WorkerProc, tmp_path: Path) -> None:
    out = _ok(worker.runsync({"workflow": "s2v_fast", "image": b64(png_bytes()), "audio": b64(m4a_bytes(2.0)),
                              "width": 64, "height": 64, "seed": 3}), worker)
    assert out["frames"] == 33 and out["fps"] == 16.0  # 2 s at 16 fps -> 33 (4n+1), one chunk
    info = video_info(save_video(out["video"], tmp_path / "s2v.mp4"))
    assert info["frames"] == 33
    video_s = info["frames"] / info["fps"]
    assert "audio_seconds" in info, "the mp4 has no audio track"
    assert abs(info["audio_seconds"] - video_s) <= 1 / 16, (info, video_s)
    assert 2.0 - 1 / 16 <= info["audio_seconds"] <= 2.0 + 2 / 16, info  # the 2 s, padded to 33 frames (+ AAC padding)


def test_stock_worker_format_with_audio_in_files(worker: WorkerProc, tmp_path: Path) -> None:
    twin = json.loads((REPO / "example_workflows" / "api" / "wan22_s2v_fast.json").read_text())
    prompt = use_precomputed_conditioning(tiny_overrides(twin, 64, 64, 9))
    for node in prompt.values():
        if node["class_type"] == "LoadAudio":
            node["inputs"]["audio"] = "voice.m4a"
        if node["class_type"] == "LoadImage":
            node["inputs"]["image"] = "me.png"
    out = _ok(worker.runsync({"workflow": prompt, "images": [{"name": "me.png", "image": b64(png_bytes())}],
                              "files": [{"name": "voice.m4a", "data": b64(m4a_bytes(1.0))}]}), worker)
    assert [v["filename"][-4:] for v in out["videos"]] == [".mp4"]
    assert any(i["filename"].endswith(".mp4") for i in out["images"]), "the stock worker's images list keeps SaveVideo's file"
    info = video_info(save_video(out["videos"][0], tmp_path / "stock.mp4"))
    assert info["frames"] > 1 and "audio_seconds" in info


def test_four_jobs_posted_to_run_at_once(worker: WorkerProc) -> None:
    ids = [worker.call("/run", {"input": {"workflow": "i2v_fast", "image": b64(png_bytes()), "seed": s, **TINY}})["id"]
           for s in (11, 12, 13, 14)]
    results: dict[str, dict[str, Any]] = {}

    def status(job_id: str) -> None:  # the SDK's local API runs a /run job when its /status is asked
        results[job_id] = worker.call(f"/status/{job_id}")

    threads = [threading.Thread(target=status, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    outs = [_ok(results[i], worker) for i in ids]
    assert [o["seed"] for o in outs] == [11, 12, 13, 14]
    digests = {hashlib.sha256(base64.b64decode(o["video"]["data"])).hexdigest() for o in outs}
    assert len(digests) == 4, "each seed gives its own video"
    assert worker.call(f"/status/{ids[0]}")["error"] == "Job ID not found"


def _comfy_files(server: Any) -> dict[str, str]:
    """Every file under ComfyUI's base directory but its logs and user settings."""
    return {k: v for k, v in tree_hashes(server.base).items() if "/user/" not in k and not k.endswith("server.log")}


def _history_ids(server: Any) -> set[str]:
    return set(server.get("/history?max_items=10000"))


def test_bad_jobs_fail_naming_the_field_and_touch_nothing(worker: WorkerProc, comfy_server: Any, demo_volume: Path) -> None:
    cases = bad_jobs(MAX_PAYLOAD)
    stock_base = {"4": {"class_type": "LoadImage", "inputs": {"image": "not_uploaded.png"}},
                  "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}}}
    cases += [("an input value ComfyUI refuses", {"workflow": stock_base}, "node 4 (LoadImage)"),
              ("a node type ComfyUI lacks", {"workflow": {"1": {"class_type": "NoSuchNode", "inputs": {}}}}, "NoSuchNode")]
    volume_before = tree_hashes(demo_volume)
    base_before = _comfy_files(comfy_server)
    history_before = _history_ids(comfy_server)
    for label, job, expect in cases:
        t0 = time.monotonic()
        resp = worker.runsync(job)
        assert resp.get("status") == "FAILED", f"{label}: {json.dumps(resp)[:600]}"
        assert expect in resp["error"], f"{label}: {resp['error'][:600]}"
        assert time.monotonic() - t0 < 10, f"{label} took {time.monotonic() - t0:.1f} s"
    q = comfy_server.get("/queue")
    assert q["queue_running"] == [] and q["queue_pending"] == []
    assert _history_ids(comfy_server) == history_before, "a bad job reached ComfyUI's queue"
    assert _comfy_files(comfy_server) == base_before, \
        "a bad job wrote a file into ComfyUI's folders"
    assert tree_hashes(demo_volume) == volume_before, "a bad job touched the model volume"


def test_run_client_against_the_local_api(worker: WorkerProc, tmp_path: Path) -> None:
    img = tmp_path / "in.png"
    img.write_bytes(png_bytes())
    out_dir = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "wan22", "run", "i2v_fast", "--endpoint", worker.url, "--image", str(img),
                        "--prompt", "a fox", "--seed", "5", "--width", "64", "--height", "64", "--frames", "9",
                        "--out", str(out_dir)], cwd=str(REPO), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr + worker.log_tail()
    (mp4,) = out_dir.glob("*.mp4")
    assert video_info(mp4)["frames"] == 9
    assert '"seed": 5' in r.stdout and "COMPLETED" in r.stderr
    bad = subprocess.run([sys.executable, "-m", "wan22", "run", "i2v_fast", "--endpoint", worker.url, "--frames", "10",
                          "--image", str(img), "--out", str(out_dir)], cwd=str(REPO), capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "input.frames: 10 is not 4n+1" in bad.stderr


def test_test_input_runs_one_job_and_exits(comfy_server: Any, tmp_path: Path) -> None:
    job = {"input": {"workflow": "i2v_fast", "image": b64(png_bytes()), "seed": 2, **TINY}}
    r = subprocess.run([sys.executable, "-m", "wan22", "worker", "--comfy-url", comfy_server.url, "--precomputed-conditioning",
                        "--test_input", json.dumps(job)], cwd=str(tmp_path), capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "completed successfully" in out and "i2v_fast" in out
    assert not list(tmp_path.iterdir()), "the worker left files in its working directory"
    bad = {"input": {"workflow": "i2v_fast", "frames": 10}}
    r = subprocess.run([sys.executable, "-m", "wan22", "worker", "--comfy-url", comfy_server.url, "--test_input", json.dumps(bad)],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 1 and "input.frames: 10 is not 4n+1" in r.stdout + r.stderr
