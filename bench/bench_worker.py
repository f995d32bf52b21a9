"""Benchmark of the RunPod worker path against submitting the same prompt straight to ComfyUI.

    python bench/bench_worker.py [--pairs 10] [--size 64] [--frames 9] [--comfyui DIR]
                                 [--boot-runs 5] [--latency-ms 2] [--bandwidth-mbs 250] [--plain-disk]
                                 [--cache-runs N] [--real-layout-blocks N]

Starts `python -m wan22 worker --start-comfyui <ComfyUI> --rp_serve_api` on a demo volume
(tiny stand-ins, WAN22_PRECOMPUTED_CONDITIONING=1 so no umT5 encode), and measures:

  * boot: worker launch -> its first job accepted (POST /run answered with a job id): ComfyUI
    start, volume inventory, the runpod SDK's API;
  * per job, in alternating pairs (worker first on even pairs, direct first on odd ones), each
    with its own seed so ComfyUI really samples:
      worker: POST /runsync with the typed i2v_fast job (base64 image in, base64 mp4 out);
      direct: the same API prompt (built by the worker's own code, image already uploaded) to
              ComfyUI's POST /prompt, followed on the websocket, mp4 fetched through /view;
  * the medians, their ratio (goal <= 1.05) and the median per-pair overhead in seconds;
  * boot to first video with and without boot prefetch (issue 14, `--boot-runs N`, 0 skips it):
    the same demo volume served by bench/slowfs.py (FUSE, per-request latency, bandwidth cap;
    the plain disk when FUSE is not available or with --plain-disk, said in the output), page
    cache dropped before each run (root), a fresh worker that starts its own ComfyUI each run,
    runs alternating: with WAN22_DEFAULT_WORKFLOW=i2v_fast (the worker prefetches while ComfyUI
    boots) and without it (ComfyUI's own prefetch on the queued prompt still runs, as today).
    Figure: worker launch -> the first job's video back (POST /run as soon as the API answers,
    then /status), medians of N runs each, ratio with / without.
  * boot to first video by model source (issue 23, `--cache-runs N`, 0 skips it): the same files
    (i) on the emulated network volume (bench/slowfs.py, WAN22_MODEL_SOURCE=volume) and (ii) in a
    Hugging Face cache on the local disk, Comfy-Org's `split_files/<folder>/` layout written by
    huggingface_hub's snapshot_download from a loopback Hub stand-in (WAN22_MODEL_SOURCE=hf-cache,
    no volume: what RunPod's cached models give a worker), alternating, page cache dropped before
    each; then the warm floor: the cache variant again with the page cache kept (no disk read at
    all). Medians of N runs each, the ratio cache / volume and what the cache leaves above the floor.

On a shared machine the figures move with background load. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
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
sys.path.insert(0, str(REPO / "bench"))

import slowfs  # noqa: E402

from wan22.api.client import Client  # noqa: E402
from wan22.comfyui_dir import find_comfyui  # noqa: E402
from wan22.demo.demo_volume import make_demo_volume  # noqa: E402
from wan22.demo.server import free_port, make_base, start_image  # noqa: E402
from wan22.demo.server import write_model_paths_yaml as write_extra_model_paths  # noqa: E402
from wan22.serverless.build import typed_prompt  # noqa: E402
from wan22.serverless.jobs import Limits, TypedJob, parse_job  # noqa: E402


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


def boot_worker(comfyui: Path, work: Path, api_port: int, comfy_port: int, yaml: Path | None = None,
                env_extra: dict[str, str] | None = None, log_name: str = "worker.log") -> tuple[subprocess.Popen[bytes], float]:
    base = work / "base"
    if yaml is None:
        volume = work / "volume"
        make_demo_volume(str(volume))
        base = make_base(base, REPO)
        yaml = write_extra_model_paths(base / "extra_model_paths.yaml", volume)
    cmd = [sys.executable, "-m", "wan22", "worker", "--comfy-url", f"http://127.0.0.1:{comfy_port}",
           "--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", str(api_port),
           "--start-comfyui", str(comfyui), "--", "--cpu", "--base-directory", str(base),
           "--extra-model-paths-config", str(yaml), "--database-url", "sqlite:///:memory:", "--disable-auto-launch"]
    env = {k: v for k, v in os.environ.items() if k not in ("WAN22_DEFAULT_WORKFLOW", "WAN22_PREFETCH")}
    env.update(WAN22_PRECOMPUTED_CONDITIONING="1", PYTHONUNBUFFERED="1", DO_NOT_TRACK="1", HF_HUB_OFFLINE="1", **(env_extra or {}))
    log = open(work / log_name, "wb")
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


def overhead_phase(comfyui: Path, work: Path, image_b64: str, a: argparse.Namespace) -> dict[str, Any]:
    """Per-job overhead, worker vs direct, and boot to the first accepted job (issue 12)."""
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
        stop(proc)
    wm, dm = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
    print(f"worker median {wm:.3f} s, direct median {dm:.3f} s, ratio {wm / dm:.3f} (goal <= 1.05); "
          f"boot to first accepted job {boot_s:.1f} s")
    return {"pairs": len(rows), "worker_median_s": round(wm, 4), "direct_median_s": round(dm, 4), "ratio": round(wm / dm, 4),
            "overhead_median_s": round(statistics.median(r[0] - r[1] for r in rows), 4),
            "boot_to_first_accepted_job_s": round(boot_s, 2), "first_job_s": round(first_job_s, 2)}


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def boot_run(comfyui: Path, work: Path, yaml: Path, prefetch: bool, plain: bool, image_b64: str, seed: int,
             a: argparse.Namespace, tag: str) -> dict[str, Any]:
    """One cold boot: page cache dropped, a fresh worker + ComfyUI, launch -> the first video."""
    cold = slowfs.drop_caches()
    env = {"WAN22_DEFAULT_WORKFLOW": "i2v_fast"} if prefetch else {}
    if plain:
        env["WAN22_PREFETCH"] = "1"  # a local disk: 'auto' would prefetch nothing, with or without
    api_port, comfy_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    proc, t0 = boot_worker(comfyui, work, api_port, comfy_port, yaml, env, f"boot-{tag}.log")
    try:
        job_id, accepted_s = first_accepted(api, proc, job_input(image_b64, seed, a.size, a.frames), t0)
        done = post(f"{api}/status/{job_id}")
        video_s = time.perf_counter() - t0
        if done.get("status") != "COMPLETED":
            raise SystemExit(f"boot run {tag} failed: {json.dumps(done)[:800]}")
        base64.b64decode(done["output"]["video"]["data"])
    finally:
        stop(proc)
    log = (work / f"boot-{tag}.log").read_text(errors="replace")
    line = next((ln.split("boot prefetch of i2v_fast: ", 1)[1] for ln in log.splitlines()
                 if "boot prefetch of i2v_fast: prefetched" in ln), "")
    return {"prefetch": prefetch, "cold": cold, "first_accepted_s": round(accepted_s, 2), "first_video_s": round(video_s, 2),
            "first_job_run_s": float(done["output"]["timings"]["run_s"]), "boot_prefetch_log": line}


def boot_phase(comfyui: Path, work: Path, image_b64: str, a: argparse.Namespace) -> dict[str, Any]:
    """Boot to first video with and without boot prefetch, alternating, medians and ratio (issue 14)."""
    volume = work / ("volume" if not a.real_layout_blocks else f"volume_real{a.real_layout_blocks}")
    if not volume.is_dir():
        make_demo_volume(str(volume))
    if a.real_layout_blocks:  # the experts, LoRAs and VAE at the real 14B layout (bench_cold_start's volume)
        import bench_cold_start

        bench_cold_start.make_volume(volume, a.real_layout_blocks)
    base = make_base(work / "base", REPO)
    why = "--plain-disk" if a.plain_disk else slowfs.ensure_fuse()
    settings = slowfs.Settings(a.latency_ms, a.bandwidth_mbs)
    size_mb = sum(f.stat().st_size for f in volume.rglob("*") if f.is_file()) / 1e6
    with contextlib.ExitStack() as stack:
        if why is None:
            src = stack.enter_context(slowfs.mounted(volume, work / "mnt", settings, log_path=str(work / "slowfs.log")))
            where = f"emulated network volume (bench/slowfs.py, {a.latency_ms:g} ms/request, {a.bandwidth_mbs:g} MB/s)"
        else:
            src = str(volume)
            where = f"plain disk ({why}; WAN22_PREFETCH=1 for both variants)"
        print(f"boot to first video: {volume.name} ({size_mb:.0f} MB) on the {where}", flush=True)
        yaml = write_extra_model_paths(base / "extra_model_paths.yaml", Path(src))
        rows = []
        for i in range(2 * a.boot_runs):
            prefetch = (i % 4) in (1, 2)  # without, with, with, without, ...: neither always goes first
            r = boot_run(comfyui, work, yaml, prefetch, why is not None, image_b64, 900 + i, a, f"{i}-{'with' if prefetch else 'without'}")
            rows.append(r)
            print(f"boot run {i + 1:>2} {'with   ' if prefetch else 'without'} boot prefetch: first job accepted "
                  f"{r['first_accepted_s']:6.2f} s, first video {r['first_video_s']:6.2f} s (its run in ComfyUI "
                  f"{r['first_job_run_s']:5.2f} s, load {os.getloadavg()[0]:.1f})  {r['boot_prefetch_log']}", flush=True)
    med = {v: statistics.median(r["first_video_s"] for r in rows if r["prefetch"] is v) for v in (True, False)}
    acc = {v: statistics.median(r["first_accepted_s"] for r in rows if r["prefetch"] is v) for v in (True, False)}
    run = {v: statistics.median(r["first_job_run_s"] for r in rows if r["prefetch"] is v) for v in (True, False)}
    print(f"boot to first video: with boot prefetch {med[True]:.2f} s, without {med[False]:.2f} s, "
          f"ratio {med[True] / med[False]:.3f} (median of {a.boot_runs} each); the first job's run in ComfyUI "
          f"{run[True]:.2f} s vs {run[False]:.2f} s, ratio {run[True] / run[False]:.3f}")
    return {"boot_volume": where, "boot_volume_mb": round(size_mb, 1), "boot_runs": a.boot_runs,
            "boot_cold": all(r["cold"] for r in rows),
            "boot_to_first_video_with_prefetch_s": round(med[True], 2),
            "boot_to_first_video_without_prefetch_s": round(med[False], 2),
            "boot_prefetch_ratio": round(med[True] / med[False], 4),
            "boot_to_first_accepted_with_s": round(acc[True], 2), "boot_to_first_accepted_without_s": round(acc[False], 2),
            "first_job_run_with_s": round(run[True], 3), "first_job_run_without_s": round(run[False], 3),
            "first_job_run_ratio": round(run[True] / run[False], 4),
            "slowfs": settings.as_dict() if why is None else None}


def source_run(comfyui: Path, work: Path, yaml: Path, env: dict[str, str], image_b64: str, seed: int,
               a: argparse.Namespace, tag: str, drop: bool = True) -> dict[str, Any]:
    """One boot (page cache dropped unless `drop` is False): launch -> the first job's video."""
    cold = slowfs.drop_caches() if drop else False
    api_port, comfy_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    proc, t0 = boot_worker(comfyui, work, api_port, comfy_port, yaml, env, f"source-{tag}.log")
    try:
        job_id, accepted_s = first_accepted(api, proc, job_input(image_b64, seed, a.size, a.frames), t0)
        done = post(f"{api}/status/{job_id}")
        video_s = time.perf_counter() - t0
        if done.get("status") != "COMPLETED":
            raise SystemExit(f"run {tag} failed: {json.dumps(done)[:800]}\n{(work / f'source-{tag}.log').read_text()[-3000:]}")
        base64.b64decode(done["output"]["video"]["data"])
    finally:
        stop(proc)
    return {"cold": cold, "first_accepted_s": round(accepted_s, 2), "first_video_s": round(video_s, 2),
            "first_job_run_s": float(done["output"]["timings"]["run_s"])}


def cache_phase(comfyui: Path, work: Path, image_b64: str, a: argparse.Namespace) -> dict[str, Any]:
    """Boot to first video: files on the emulated network volume vs in a local Hugging Face cache
    (issue 23), alternating, then the warm floor; medians, ratios."""
    from wan22.demo.hub_standin import cache_repo

    volume = work / ("volume" if not a.real_layout_blocks else f"volume_real{a.real_layout_blocks}")
    if not volume.is_dir():
        make_demo_volume(str(volume))
    if a.real_layout_blocks:
        import bench_cold_start

        bench_cold_start.make_volume(volume, a.real_layout_blocks)
    hub = work / "huggingface-cache" / "hub"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    snapshot = cache_repo(volume, hub, "Comfy-Org/Wan_2.2_ComfyUI_Repackaged", prefix="split_files/")
    base = make_base(work / "base", REPO)
    (work / "no-volume").mkdir(exist_ok=True)
    why = slowfs.ensure_fuse()
    if why is not None:
        raise SystemExit(f"--cache-runs needs the emulated volume (bench/slowfs.py): {why}")
    settings = slowfs.Settings(a.latency_ms, a.bandwidth_mbs)
    size_mb = sum(f.stat().st_size for f in volume.rglob("*") if f.is_file()) / 1e6
    rows: dict[str, list[dict[str, Any]]] = {"volume": [], "cache": [], "floor": []}
    with slowfs.mounted(volume, work / "mnt", settings, log_path=str(work / "slowfs.log")) as src:
        yaml_volume = write_extra_model_paths(base / "volume.yaml", Path(src))
        yaml_none = write_extra_model_paths(base / "none.yaml", work / "no-volume")  # no network volume
        cache_env = {"WAN22_MODEL_SOURCE": "hf-cache", "WAN22_HF_CACHE": str(hub)}
        print(f"boot to first video by model source: {size_mb:.0f} MB, volume = bench/slowfs.py ({a.latency_ms:g} ms/request, "
              f"{a.bandwidth_mbs:g} MB/s), cache = {snapshot} on the local disk", flush=True)
        for i in range(2 * a.cache_runs):
            which = "cache" if (i % 4) in (1, 2) else "volume"  # volume, cache, cache, volume, ...
            yaml, env = (yaml_none, cache_env) if which == "cache" else (yaml_volume, {"WAN22_MODEL_SOURCE": "volume"})
            rows[which].append(source_run(comfyui, work, yaml, env, image_b64, 700 + i, a, f"{i}-{which}"))
            r = rows[which][-1]
            print(f"source run {i + 1:>2} {which:<6}: first video {r['first_video_s']:6.2f} s (accepted {r['first_accepted_s']:6.2f} s, "
                  f"run in ComfyUI {r['first_job_run_s']:5.2f} s, cold {r['cold']}, load {os.getloadavg()[0]:.1f})", flush=True)
        for i in range(a.cache_runs):  # the floor: the cache's files already in the page cache
            rows["floor"].append(source_run(comfyui, work, yaml_none, cache_env, image_b64, 800 + i, a, f"{i}-floor", drop=False))
            print(f"floor run {i + 1:>2}: first video {rows['floor'][-1]['first_video_s']:6.2f} s (page cache warm)", flush=True)
    med = {k: statistics.median(r["first_video_s"] for r in v) for k, v in rows.items()}
    runs = {k: statistics.median(r["first_job_run_s"] for r in v) for k, v in rows.items()}
    print(f"boot to first video: volume {med['volume']:.2f} s, hf cache {med['cache']:.2f} s, ratio cache/volume "
          f"{med['cache'] / med['volume']:.3f}; warm floor {med['floor']:.2f} s (cache - floor {med['cache'] - med['floor']:+.2f} s, "
          f"volume - floor {med['volume'] - med['floor']:+.2f} s); first job's run in ComfyUI: volume {runs['volume']:.2f} s, "
          f"cache {runs['cache']:.2f} s, floor {runs['floor']:.2f} s (median of {a.cache_runs} each)")
    return {"source_bytes_mb": round(size_mb, 1), "source_runs": a.cache_runs, "source_slowfs": settings.as_dict(),
            "source_cold": all(r["cold"] for k in ("volume", "cache") for r in rows[k]),
            "boot_to_first_video_volume_s": round(med["volume"], 2), "boot_to_first_video_hf_cache_s": round(med["cache"], 2),
            "boot_to_first_video_warm_floor_s": round(med["floor"], 2),
            "hf_cache_over_volume_ratio": round(med["cache"] / med["volume"], 4),
            "first_job_run_volume_s": round(runs["volume"], 3), "first_job_run_hf_cache_s": round(runs["cache"], 3),
            "first_job_run_floor_s": round(runs["floor"], 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=10, help="worker/direct job pairs (0 skips the overhead figure)")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=9)
    ap.add_argument("--comfyui", default=None)
    ap.add_argument("--boot-runs", type=int, default=5, help="cold boots per variant, with/without boot prefetch (0 skips)")
    ap.add_argument("--latency-ms", type=float, default=slowfs.DEFAULT_LATENCY_MS, help="emulated volume: per request")
    ap.add_argument("--bandwidth-mbs", type=float, default=slowfs.DEFAULT_BANDWIDTH_MBS, help="emulated volume: MB/s")
    ap.add_argument("--real-layout-blocks", type=int, default=0,
                    help="boot comparison: experts/LoRAs/VAE with the real 14B layout cut to N blocks (0: the demo volume)")
    ap.add_argument("--plain-disk", action="store_true", help="boot comparison on the plain disk, not the emulated volume")
    ap.add_argument("--cache-runs", type=int, default=0,
                    help="cold boots per model source: emulated volume vs local Hugging Face cache, then the warm floor (0 skips)")
    a = ap.parse_args()
    comfyui = find_comfyui(a.comfyui)
    if comfyui is None:
        print("no ComfyUI found: set COMFYUI_PATH or pass --comfyui DIR")
        return 2
    load_start = os.getloadavg()[0]
    result: dict[str, Any] = {"bench": "worker", "job": f"i2v_fast {a.size}x{a.size}x{a.frames}, precomputed conditioning, "
                                                   + (f"real 14B layout cut to {a.real_layout_blocks} block(s)"
                                                      if a.real_layout_blocks else "demo volume")}
    with tempfile.TemporaryDirectory(prefix="wan22-bench-worker-") as tmp:
        work = Path(tmp)
        img_path = start_image(str(work / "start.png"), a.size)
        image_b64 = base64.b64encode(Path(img_path).read_bytes()).decode()
        if a.pairs > 0:
            result.update(overhead_phase(comfyui, work, image_b64, a))
        if a.boot_runs > 0:
            result.update(boot_phase(comfyui, work, image_b64, a))
        if a.cache_runs > 0:
            result.update(cache_phase(comfyui, work, image_b64, a))
    result.update({
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "loadavg_1m_at_start": round(load_start, 2),
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),  # other work on the machine skews every wall figure
    })
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
