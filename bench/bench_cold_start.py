"""Cold start on an emulated network volume: ours (Wan22BundleLoader -> Wan22ModeRouter ->
Wan22MoESampler, with the pack's prefetcher) against the native two-KSamplerAdvanced template graph
(stock ComfyUI loading: WAN22_PREFETCH=0), same seed, on a real `main.py --cpu` server.

The volume: the I2V experts with the real 14B tensor layout (real shapes, dtypes and header; the
first --blocks of the 40 transformer blocks, random data, marked as stand-ins), their LightX2V LoRAs
(rank 64, the same blocks) and the real-size Wan 2.1 VAE, served by bench/slowfs.py (FUSE, per
request latency, bandwidth cap). Conditioning comes from LoadTrainingDataset in both graphs (a
real umT5 cannot run in this machine's RAM; see docs).

Each run: a fresh server, page cache dropped after it is up (cold) or kept from the run before
(warm), POST /prompt, times to the first sampling step and to the saved video from the websocket,
the server's peak RSS (VmHWM). Variants alternate run by run. Figures: medians and ratios
ours / native. The last output line is one JSON object (contract): cold_ratio, warm_ratio,
ram_ratio, native_cold_s, ours_cold_s, the emulator settings and more.

Usage: python bench/bench_cold_start.py [--quick] [--runs N] [--blocks K] [--modes default,disable-mmap]
       [--latency-ms 2] [--bandwidth-mbs 250] [--json bench/results/cold_start.json]
Needs root (drop_caches), /dev/fuse, fuse3 (installed with apt-get when missing) and mfusepy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import slowfs  # noqa: E402

from wan22.catalog import BY_ROLE  # noqa: E402
from wan22.demo.demo_volume import (  # noqa: E402
    conditioning_datasets,
    real_header_tensors,
    real_lora_tensors,
    sparse_tensors_for,
    stand_in_metadata,
)
from wan22.demo.graphs import i2v_native, i2v_ours  # noqa: E402
from wan22.demo.server import ComfyServer as Server  # noqa: E402
from wan22.demo.server import find_comfyui, free_port, make_base, not_found_reason, start_image  # noqa: E402

YAML_KEYS = ("diffusion_models", "text_encoders", "vae", "clip_vision", "audio_encoders", "loras", "datasets")


def write_yaml(path: Path, volume: Path) -> Path:
    from wan22.demo.server import write_model_paths_yaml

    return write_model_paths_yaml(path, volume, section="wan22_test", keys=YAML_KEYS)
from wan22.plan.overrides import Overrides  # noqa: E402
from wan22.plan.routing import make_plan  # noqa: E402
from wan22.volume.safetensors_header import DTYPE_SIZES, build_header  # noqa: E402

VOLUME_VERSION = "1"
T0 = time.time()
W = {"width": 64, "height": 64, "length": 5}


# ---------------------------------------------------------------- the volume

def _block(name: str) -> int | None:
    parts = name.split(".")
    i = parts.index("blocks") if "blocks" in parts else -1
    return int(parts[i + 1]) if i >= 0 and parts[i + 1].isdigit() else None


def volume_tensors(role: str, blocks: int) -> list[tuple[str, str, tuple[int, ...]]]:
    if role in ("i2v_high", "i2v_low"):
        tensors = real_header_tensors("real_i2v", fp8_scaled=True)
    elif role.startswith("lora_"):
        tensors = real_lora_tensors("real_i2v")
    else:
        tensors = sparse_tensors_for(role)
    return [t for t in tensors if (b := _block(t[0])) is None or b < blocks]


class Pools:
    """Finite random bytes per dtype (fp8 without NaN patterns), written cyclically."""

    def __init__(self, n: int = 32 << 20) -> None:
        rng = np.random.default_rng(22)
        self.pool = {
            "F8_E4M3": (rng.integers(0, 256, n, dtype=np.uint8) & 0xBF).tobytes(),  # exponent < 8: no NaN
            "F16": (rng.standard_normal(n // 2, dtype=np.float32) * 0.02).astype(np.float16).tobytes(),
            "BF16": ((rng.standard_normal(n // 2, dtype=np.float32) * 0.02).view(np.uint32) >> 16).astype(np.uint16).tobytes(),
            "F32": np.full(n // 4, 0.004, dtype=np.float32).tobytes(),
        }
        self.pos = 0

    def write(self, f: Any, dtype: str, nbytes: int) -> None:
        pool = self.pool.get(dtype, self.pool["F16"])
        while nbytes > 0:
            start = self.pos % (len(pool) - 1)
            take = min(nbytes, len(pool) - start)
            f.write(pool[start:start + take])
            nbytes -= take
            self.pos += 4099


def write_model(path: Path, role: str, blocks: int, pools: Pools) -> int:
    tensors = volume_tensors(role, blocks)
    meta = stand_in_metadata(role, 22, {"wan22.note": f"cold-start bench: real 14B layout, {blocks} block(s), random data"})
    head, total = build_header(tensors, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(head)
        for _name, dtype, shape in tensors:
            n = int(np.prod(shape)) * int(DTYPE_SIZES[dtype]) if shape else int(DTYPE_SIZES[dtype])
            pools.write(f, dtype, n)
    os.replace(tmp, path)
    assert path.stat().st_size == len(head) + total
    return len(head) + total


def make_volume(root: Path, blocks: int) -> dict[str, int]:
    """The bench volume under root (reused when the same version and block count is there)."""
    marker = root / "wan22-coldstart.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        if info.get("version") == VOLUME_VERSION and info.get("blocks") == blocks:
            return dict(info["sizes"])
    pools = Pools()
    sizes = {}
    for role in ("i2v_high", "i2v_low", "lora_i2v_high", "lora_i2v_low", "vae"):
        e = BY_ROLE[role]
        sizes[e.name] = write_model(root / e.folder / e.name, role, blocks, pools)
    conditioning_datasets(str(root), 22)
    os.sync()
    marker.write_text(json.dumps({"version": VOLUME_VERSION, "blocks": blocks, "sizes": sizes}))
    return sizes


# ---------------------------------------------------------------- one run

def vm_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def timed_prompt(server: Server, prompt: dict[str, Any], timeout: float = 900.0) -> dict[str, float]:
    """POST the prompt and follow the websocket: seconds to the first sampling step and to the end."""
    import websocket

    cid = uuid.uuid4().hex
    ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws?clientId={cid}", timeout=timeout)
    try:
        t0 = time.perf_counter()
        status, body = server.request("POST", "/prompt", {"prompt": prompt, "client_id": cid})
        if status != 200:
            raise RuntimeError(f"prompt refused: {json.dumps(body)[:1500]}")
        first = None
        while True:
            raw = ws.recv()
            if not isinstance(raw, str):
                continue
            msg = json.loads(raw)
            kind, data = msg.get("type"), msg.get("data", {})
            if kind == "progress" and first is None:
                first = time.perf_counter() - t0
            elif kind == "execution_error":
                raise RuntimeError(f"{data.get('node_type')}: {data.get('exception_message')}\n{server.log_tail(30)}")
            elif kind == "execution_success" or (kind == "executing" and data.get("node") is None
                                                  and data.get("prompt_id") == body["prompt_id"]):
                end = time.perf_counter() - t0
                break
    finally:
        ws.close()
    pid = body["prompt_id"]
    for _ in range(300):  # the history entry is stored just after the last websocket message
        hist = server.get(f"/history/{pid}")
        if pid in hist:
            break
        time.sleep(0.1)
    if not server.output_files(hist.get(pid, {})):
        raise RuntimeError("no video saved")
    return {"first_step_s": round(first if first is not None else end, 3), "video_s": round(end, 3)}


def prompt_for(variant: str, seed: int, preset: str, steps: int) -> dict[str, Any]:
    """The same plan in both graphs: the preset, `steps`, the split from the MoE boundary."""
    plan = make_plan("i2v", preset, Overrides(steps=steps))
    if variant == "ours":
        p = i2v_ours(preset, seed=seed, prefix="cold/ours", steps=steps, **W)
        p["bundle"]["inputs"]["text_encoder"] = "none"  # conditioning comes from LoadTrainingDataset, as in native
        return p
    p = i2v_native(preset, seed=seed, prefix="cold/native", split=plan.split_step, **W)
    for k in ("ks_high", "ks_low"):
        p[k]["inputs"]["steps"] = plan.steps
    return p


def one_run(comfy: Path, base: Path, yaml: Path, variant: str, mode: str, cold: bool, seed: int,
            stats: str, logdir: Path, preset: str = "fast", steps: int = 4) -> dict[str, Any]:
    """One fresh server and one prompt. Variants: native (stock loading), ours (our graph with the
    prefetcher), and the extras native_prefetch (native graph, prefetcher on) and ours_cache (ours
    with WAN22_LOCAL_CACHE on this machine's disk)."""
    os.environ["WAN22_PREFETCH"] = "0" if variant == "native" else "1"
    if variant == "ours_cache":
        os.environ["WAN22_LOCAL_CACHE"] = str(logdir / "localcache")
    else:
        os.environ.pop("WAN22_LOCAL_CACHE", None)
    extra = ["--disable-mmap"] if mode == "disable-mmap" else []
    server = Server(comfyui=comfy, base=base, yaml=yaml, port=free_port(),
                    log_path=logdir / f"{variant}_{mode}_{'cold' if cold else 'warm'}_{seed}.log")
    server.start(extra_args=extra)
    try:
        if cold and not slowfs.drop_caches():
            raise RuntimeError("cannot drop the page cache (needs root)")
        before = slowfs.read_stats(stats)
        t = timed_prompt(server, prompt_for("ours" if variant.startswith("ours") else "native", seed, preset, steps))
        time.sleep(0.3)
        after = slowfs.read_stats(stats)
        assert server.proc is not None
        t["rss_peak_mb"] = round(vm_hwm_mb(server.proc.pid))
        t["volume_requests"] = after["requests"] - before["requests"]
        t["volume_mb"] = round((after["bytes"] - before["bytes"]) / 1e6)
        t["load_avg_1m"] = round(os.getloadavg()[0], 1)
        pre = [ln.split("[wan22] ", 1)[1] for ln in server.log_text().splitlines() if "[wan22] prefetched" in ln]
        if pre:
            t["prefetch"] = pre[-1]
    finally:
        server.stop()
    return t


# ---------------------------------------------------------------- loader only: ComfyUI's file reading alone

def loader_child(comfy: str, prefetch: bool, paths: list[str]) -> None:
    """In a fresh process: comfy.utils.load_torch_file on each file in load order, each tensor
    copied out (as load_state_dict copies it), with or without the prefetcher running alongside."""
    sys.path.insert(0, comfy)
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    import comfy.utils

    from wan22.volume.prefetch import start_prefetch

    t0 = time.perf_counter()
    job = start_prefetch(paths) if prefetch else None
    per = []
    for p in paths:
        t = time.perf_counter()
        sd = comfy.utils.load_torch_file(p, safe_load=True)
        for v in sd.values():
            v.clone()
        del sd
        per.append(round(time.perf_counter() - t, 2))
    total = time.perf_counter() - t0
    print(json.dumps({"seconds": round(total, 2), "per_file_s": per,
                      "prefetch": job.wait().summary_line() if job else ""}))


def loader_phase(comfy: Path, mnt: Path, sizes: dict[str, int], runs: int) -> dict[str, Any]:
    import subprocess

    paths = [str(mnt / BY_ROLE[r].folder / BY_ROLE[r].name) for r in ("vae", "i2v_high", "i2v_low")]
    rows: dict[str, list[float]] = {"native": [], "prefetch": []}
    for i in range(runs):
        for variant in (["native", "prefetch"] if i % 2 == 0 else ["prefetch", "native"]):
            slowfs.drop_caches()
            out = subprocess.run([sys.executable, __file__, "--loader-child", str(comfy), variant, *paths],
                                 capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            r = json.loads(out)
            rows[variant].append(r["seconds"])
            print(f"   loader only, run {i + 1} {variant:<8}: {r['seconds']:6.1f} s {r['per_file_s']}"
                  + (f"\n        {r['prefetch']}" if r["prefetch"] else ""), flush=True)
    mb = sum(sizes[BY_ROLE[r].name] for r in ("vae", "i2v_high", "i2v_low")) / 1e6
    n, p = statistics.median(rows["native"]), statistics.median(rows["prefetch"])
    res = {"native_s": n, "prefetch_s": p, "ratio": round(p / n, 3), "mb": round(mb), "runs": rows,
           "native_mbps": round(mb / n, 1), "prefetch_mbps": round(mb / p, 1)}
    print(f"loader only (comfy.utils.load_torch_file + copy, {mb:.0f} MB, page cache dropped): native {n:.1f} s "
          f"({mb / n:.0f} MB/s), with the prefetcher {p:.1f} s ({mb / p:.0f} MB/s) -> ratio {res['ratio']:.3f}", flush=True)
    return res


# ---------------------------------------------------------------- the benchmark

def median(rows: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in rows))


def summarize(results: dict[str, dict[str, list[dict[str, Any]]]], mode: str) -> dict[str, Any]:
    r = results[mode]
    s: dict[str, Any] = {}
    for v in ("native", "ours"):
        for c in ("cold", "warm"):
            rows = r[f"{v}_{c}"]
            s[f"{v}_{c}_s"] = median(rows, "video_s")
            s[f"{v}_{c}_first_step_s"] = median(rows, "first_step_s")
            s[f"{v}_{c}_rss_peak_mb"] = max(x["rss_peak_mb"] for x in rows)
    s["cold_ratio"] = round(s["ours_cold_s"] / s["native_cold_s"], 3)
    s["warm_ratio"] = round(s["ours_warm_s"] / s["native_warm_s"], 3)
    s["first_step_cold_ratio"] = round(s["ours_cold_first_step_s"] / s["native_cold_first_step_s"], 3)
    s["ram_ratio"] = round(max(s["ours_cold_rss_peak_mb"], s["ours_warm_rss_peak_mb"])
                           / max(s["native_cold_rss_peak_mb"], s["native_warm_rss_peak_mb"]), 3)
    for key, rows in r.items():  # the extra variants (cold only)
        v = key[: -len("_cold")]
        if key.endswith("_cold") and v not in ("native", "ours") and rows:
            s[f"{v}_cold_s"] = median(rows, "video_s")
            s[f"{v}_cold_ratio"] = round(s[f"{v}_cold_s"] / s["native_cold_s"], 3)
            s[f"{v}_rss_peak_mb"] = max(x["rss_peak_mb"] for x in rows)
    return s


def report_summary(summary: dict[str, dict[str, Any]]) -> None:
    for m, s in summary.items():
        print(f"\n[{m}] cold: native {s['native_cold_s']:.1f} s, ours {s['ours_cold_s']:.1f} s -> ratio {s['cold_ratio']:.3f} "
              f"(target <= 0.5); first step {s['first_step_cold_ratio']:.3f}\n"
              f"[{m}] warm: native {s['native_warm_s']:.1f} s, ours {s['ours_warm_s']:.1f} s -> ratio {s['warm_ratio']:.3f}\n"
              f"[{m}] peak RSS: native {max(s['native_cold_rss_peak_mb'], s['native_warm_rss_peak_mb'])} MB, "
              f"ours {max(s['ours_cold_rss_peak_mb'], s['ours_warm_rss_peak_mb'])} MB -> ratio {s['ram_ratio']:.3f}")
        for k in s:
            if k.endswith("_cold_ratio") and k not in ("cold_ratio", "first_step_cold_ratio"):
                v = k[: -len("_cold_ratio")]
                print(f"[{m}] {v}: cold {s[v + '_cold_s']:.1f} s -> ratio to native {s[k]:.3f}, peak RSS {s[v + '_rss_peak_mb']} MB")


def main() -> int:
    if len(sys.argv) > 3 and sys.argv[1] == "--loader-child":
        loader_child(sys.argv[2], sys.argv[3] == "prefetch", sys.argv[4:])
        return 0
    ap = argparse.ArgumentParser(description="cold start on an emulated network volume, ours vs native")
    ap.add_argument("--quick", action="store_true",
                    help="3 runs, 1 block, quality preset at 2 steps, default loading only (about 10 minutes on a quiet 2-core machine)")
    ap.add_argument("--runs", type=int, default=None, help="runs per variant and cache state (default 5; --quick 3)")
    ap.add_argument("--blocks", type=int, default=None, help="transformer blocks per expert (default 4; --quick 1)")
    ap.add_argument("--preset", default=None, help="i2v preset (default fast; --quick quality)")
    ap.add_argument("--steps", type=int, default=None, help="sampling steps (default 4; --quick 2)")
    ap.add_argument("--modes", default=None, help="comma list of default,disable-mmap (default both; --quick default)")
    ap.add_argument("--latency-ms", type=float, default=slowfs.DEFAULT_LATENCY_MS)
    ap.add_argument("--bandwidth-mbs", type=float, default=slowfs.DEFAULT_BANDWIDTH_MBS)
    ap.add_argument("--phases", default="loader,server",
                    help="loader: ComfyUI's file loading alone, in-process; server: the prompts end to end")
    ap.add_argument("--extra", default="", help="extra cold-only variants: native_prefetch, ours_cache (comma list)")
    ap.add_argument("--volume-dir", default=None, help="where the bench volume is written (reused); default a temp dir")
    ap.add_argument("--json", default=str(REPO / "bench" / "results" / "cold_start.json"))
    a = ap.parse_args()
    runs = a.runs or (3 if a.quick else 5)
    blocks = a.blocks or (1 if a.quick else 4)
    preset = a.preset or ("quality" if a.quick else "fast")
    steps = a.steps or (2 if a.quick else 4)
    modes = (a.modes or ("default" if a.quick else "default,disable-mmap")).split(",")
    comfy = find_comfyui()
    why = not_found_reason()
    why = why if comfy is None else slowfs.ensure_fuse()
    if why or os.geteuid() != 0:
        print(f"SKIPPED: bench_cold_start cannot run here: {why or 'needs root to drop the page cache'}")
        print(json.dumps({"skipped": why or "needs root"}))
        return 2
    assert comfy is not None
    settings = slowfs.Settings(a.latency_ms, a.bandwidth_mbs)
    tmp = Path(tempfile.mkdtemp(prefix="wan22-coldstart-"))
    vol = Path(a.volume_dir) if a.volume_dir else Path(tempfile.gettempdir()) / f"wan22-coldstart-volume-{blocks}"
    t = time.time()
    sizes = make_volume(vol, blocks)
    total_mb = sum(sizes.values()) / 1e6
    print(f"volume {vol}: {len(sizes)} files, {total_mb:.0f} MB ({blocks} of 40 blocks per expert), "
          f"written/checked in {time.time() - t:.0f} s")
    for name, n in sizes.items():
        print(f"   {n / 1e6:9.1f} MB  {name}")
    base = make_base(tmp / "base")
    start_image(base / "input" / "wan22_start.png", 64)
    mnt, stats = tmp / "mnt", str(tmp / "slowfs.json")
    yaml = write_yaml(tmp / "extra.yaml", mnt)  # harness keys: the datasets folder too
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    print(f"emulated volume: {settings.latency_ms} ms per request, {settings.bandwidth_mbs} MB/s cap; "
          f"{runs} runs per variant and cache state; modes {', '.join(modes)}; i2v {preset}, {steps} steps, "
          f"{W['width']}x{W['height']}x{W['length']}; load average now {os.getloadavg()[0]:.1f}", flush=True)
    phases = a.phases.split(",")
    loader: dict[str, Any] = {}
    with slowfs.mounted(vol, mnt, settings, stats_path=stats, log_path=str(tmp / "slowfs.log")):
        if "loader" in phases:
            loader = loader_phase(comfy, mnt, sizes, runs)
        for mode in modes if "server" in phases else []:
            res: dict[str, list[dict[str, Any]]] = {f"{v}_{c}": [] for v in ("native", "ours") for c in ("cold", "warm")}
            extras = [x for x in a.extra.split(",") if x]
            res.update({f"{x}_cold": [] for x in extras})
            if "ours_cache" in extras:  # fills the local copies (a cold read from the volume plus the copy)
                row = one_run(comfy, base, yaml, "ours_cache", mode, True, 99, stats, tmp, preset, steps)
                res["ours_cache_filling"] = [row]
                print(f"   [{mode}] ours_cache filling run: video {row['video_s']:.1f} s", flush=True)
            for i in range(runs):
                order = ["native", "ours"] if i % 2 == 0 else ["ours", "native"]
                for variant in order + extras:
                    for cold in (True, False) if variant in ("native", "ours") else (True,):
                        row = one_run(comfy, base, yaml, variant, mode, cold, 100 + i, stats, tmp, preset, steps)
                        res[f"{variant}_{'cold' if cold else 'warm'}"].append(row)
                        print(f"   [{mode}] run {i + 1} {variant:<15} {'cold' if cold else 'warm'}: "
                              f"first step {row['first_step_s']:6.1f} s, video {row['video_s']:6.1f} s, "
                              f"peak RSS {row['rss_peak_mb']} MB, volume {row['volume_mb']} MB in "
                              f"{row['volume_requests']} requests, load avg {row['load_avg_1m']}" + (f"\n        {row['prefetch']}" if "prefetch" in row else ""),
                              flush=True)
            results[mode] = res
    summary = {m: summarize(results, m) for m in results}
    report_summary(summary)
    out: dict[str, Any] = {}
    if summary:
        main_s = summary[modes[0]]
        out = {k: main_s[k] for k in ("cold_ratio", "warm_ratio", "ram_ratio", "native_cold_s", "ours_cold_s",
                                      "native_warm_s", "ours_warm_s", "first_step_cold_ratio")}
        out["loading"] = modes[0]
        out["load_avg_1m_median"] = statistics.median(r["load_avg_1m"] for m in results.values() for rows in m.values() for r in rows)
    out.update({"emulator": settings.as_dict(), "runs": runs, "quick": a.quick, "blocks": blocks,
                "volume_mb": round(total_mb), "preset": preset, "steps": steps,
                "video": f"{W['width']}x{W['height']}x{W['length']}",
                "machine": f"{platform.machine()} {os.cpu_count()} CPU, no GPU", "modes": summary})
    if loader:
        out["loader_only"] = {k: v for k, v in loader.items() if k != "runs"}
    path = Path(a.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    out["wall_s"] = round(time.time() - T0)
    path.write_text(json.dumps({**out, "runs_detail": results, "loader_runs": loader.get("runs")}, indent=2))
    print(f"results: {path}")
    print(json.dumps(out, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
