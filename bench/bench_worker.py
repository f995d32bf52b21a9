"""Benchmark of the RunPod worker path against submitting the same prompt straight to ComfyUI.

    python bench/bench_worker.py [--pairs 10] [--size 64] [--frames 9] [--comfyui DIR]

Starts `python -m wan22 worker --start-comfyui <ComfyUI> --rp_serve_api` on a demo volume
(tiny stand-ins, WAN22_PRECOMPUTED_CONDITIONING=1 so no umT5 encode), and measures:

  * boot: worker launch -> its first job accepted (POST /run answered with a job id): ComfyUI
    start, volume inventory, the runpod SDK's API;
  * per job, in alternating pairs (worker first on even pairs, direct first on odd ones), each
    with its own seed so ComfyUI really samples:
      worker: POST /runsync with the typed i2v_fast job (base64 image in, base64 mp4 out);
      direct: the same API prompt (built by the worker's own code, image already uploaded) to
              ComfyUI's POST /prompt, followed on the websocket, mp4 fetched through /view;
  * the medians, their ratio (goal <= 1.05) and the median per-pair overhead in seconds.

On a shared machine the figures move with background load. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wan22.api.client import Client  # noqa: E402
from wan22.demo.demo import make_base, start_image, write_extra_model_paths  # noqa: E402
from wan22.demo.demo_volume import make_demo_volume  # noqa: E402
from wan22.demo.server import find_comfyui  # noqa: E402
from wan22.serverless.build import typed_prompt  # noqa: E402
from wan22.serverless.jobs import Limits, TypedJob, parse_job  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(url: str, body: Any = None, timeout: float = 900.0) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return dict(json.loads(r.read()))


def job_input(image_b64: str, seed: int, size: int, frames: int) -> dict[str, Any]:
    return {"workflow": "i2v_fast", "image": image_b64, "prompt": "benchmark", "seed": seed,
            "width": size, "height": size, "frames": frames}


def worker_job(api: str, body: dict[str, Any]) -> float:
    t = time.perf_counter()
    resp = post(api + "/runsync", {"input": body})
    took = time.perf_counter() - t
    if resp.get("status") != "COMPLETED":
        raise SystemExit(f"worker job failed: {json.dumps(resp)[:800]}")
    base64.b64decode(resp["output"]["video"]["data"])
    return took


def direct_job(comfy_url: str, body: dict[str, Any], stored: str) -> float:
    job = parse_job(body, Limits())
    assert isinstance(job, TypedJob)
    prompt = typed_prompt(job, {"image": stored}, precomputed=True)
    t = time.perf_counter()
    client = Client(comfy_url)
    _pid, entry = client.run(prompt, timeout=900)
    videos = [i for o in entry["outputs"].values() for i in o.get("images") or [] if str(i.get("filename")).endswith(".mp4")]
    client.view(videos[0])
    return time.perf_counter() - t


def boot_worker(comfyui: Path, work: Path, api_port: int, comfy_port: int) -> tuple[subprocess.Popen[bytes], float]:
    volume = work / "volume"
    make_demo_volume(str(volume))
    base = make_base(work / "base", REPO)
    yaml = write_extra_model_paths(base / "extra_model_paths.yaml", volume)
    cmd = [sys.executable, "-m", "wan22", "worker", "--comfy-url", f"http://127.0.0.1:{comfy_port}",
           "--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", str(api_port),
           "--start-comfyui", str(comfyui), "--", "--cpu", "--base-directory", str(base),
           "--extra-model-paths-config", str(yaml), "--database-url", "sqlite:///:memory:", "--disable-auto-launch"]
    env = dict(os.environ, WAN22_PRECOMPUTED_CONDITIONING="1", PYTHONUNBUFFERED="1", DO_NOT_TRACK="1", HF_HUB_OFFLINE="1")
    log = open(work / "worker.log", "wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return proc, t0


def first_accepted(api: str, proc: subprocess.Popen[bytes], body: dict[str, Any], t0: float) -> tuple[str, float]:
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited with {proc.returncode}")
        try:
            job_id = str(post(api + "/run", {"input": body}, timeout=5)["id"])
            return job_id, time.perf_counter() - t0
        except OSError:
            time.sleep(0.1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=9)
    ap.add_argument("--comfyui", default=None)
    a = ap.parse_args()
    comfyui = find_comfyui(a.comfyui)
    if comfyui is None:
        print("no ComfyUI found: set COMFYUI_PATH or pass --comfyui DIR")
        return 2
    with tempfile.TemporaryDirectory(prefix="wan22-bench-worker-") as tmp:
        work = Path(tmp)
        img_path = start_image(str(work / "start.png"), a.size)
        image_b64 = base64.b64encode(Path(img_path).read_bytes()).decode()
        api_port, comfy_port = free_port(), free_port()
        api, comfy_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{comfy_port}"
        proc, t0 = boot_worker(comfyui, work, api_port, comfy_port)
        try:
            job_id, boot_s = first_accepted(api, proc, job_input(image_b64, 1, a.size, a.frames), t0)
            t1 = time.perf_counter()
            first = post(f"{api}/status/{job_id}")
            first_job_s = time.perf_counter() - t1
            if first.get("status") != "COMPLETED":
                raise SystemExit(f"first job failed: {json.dumps(first)[:800]}")
            job = parse_job(job_input(image_b64, 1, a.size, a.frames), Limits())
            assert isinstance(job, TypedJob)
            stored = job.media["image"].stored_name()  # the worker uploaded it under this name
            direct_job(comfy_url, job_input(image_b64, 2, a.size, a.frames), stored)  # warm the direct path too
            rows = []
            for i in range(a.pairs):
                wb, db = job_input(image_b64, 100 + i, a.size, a.frames), job_input(image_b64, 500 + i, a.size, a.frames)
                if i % 2 == 0:
                    w = worker_job(api, wb)
                    d = direct_job(comfy_url, db, stored)
                else:
                    d = direct_job(comfy_url, db, stored)
                    w = worker_job(api, wb)
                rows.append((w, d))
                print(f"pair {i + 1:>2}: worker {w:6.3f} s  direct {d:6.3f} s  overhead {w - d:+.3f} s", flush=True)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    wm, dm = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
    result = {
        "bench": "worker", "job": f"i2v_fast {a.size}x{a.size}x{a.frames}, precomputed conditioning, demo volume",
        "pairs": len(rows), "worker_median_s": round(wm, 4), "direct_median_s": round(dm, 4), "ratio": round(wm / dm, 4),
        "overhead_median_s": round(statistics.median(r[0] - r[1] for r in rows), 4),
        "boot_to_first_accepted_job_s": round(boot_s, 2), "first_job_s": round(first_job_s, 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),  # other work on the machine skews every wall figure
    }
    print(f"worker median {wm:.3f} s, direct median {dm:.3f} s, ratio {wm / dm:.3f} (goal <= 1.05); "
          f"boot to first accepted job {boot_s:.1f} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
