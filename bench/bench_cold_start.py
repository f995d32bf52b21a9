"""Cold start on an emulated network volume: ours (Wan22BundleLoader -> Wan22ModeRouter ->
Wan22MoESampler, with the pack's prefetcher) against the native two-KSamplerAdvanced template graph
(stock ComfyUI loading: WAN22_PREFETCH=0), same seed, on a real `main.py --cpu` server.

The volume: the I2V experts with the real 14B tensor layout (real shapes, dtypes and header; the
first --blocks of the 40 transformer blocks, random data, marked as stand-ins), their LightX2V LoRAs
(rank 64, the same blocks) and the real-size Wan 2.1 VAE, served by bench/slowfs.py (FUSE, per
request latency, bandwidth cap). Conditioning comes from LoadTrainingDataset in both graphs (a
real umT5 cannot run in this machine's RAM; see docs).

Each run: the variant's server (one per variant and loading mode, started once; --fresh-servers
starts a new one for every run) unloads its models and resets its executor cache (POST /free),
the page cache is dropped (cold) or kept from the run before (warm), POST /prompt, times to the
first sampling step and to the saved video from the websocket, the server's peak RSS for that run
(VmHWM, reset with /proc/PID/clear_refs), and the bytes and requests the volume served (a cold run
that read less than the files' size would show it). Variants alternate run by run. Extras:
ours_cache (WAN22_LOCAL_CACHE on this machine's disk; its first cold run fills the cache, the
others read the local copies) and native_prefetch. Figures: medians and ratios ours / native.
The last output line is one JSON object (contract): cold_ratio, warm_ratio, ram_ratio,
native_cold_s, ours_cold_s, the emulator settings, disable_mmap and local_cache blocks when run,
the wall time per phase (phase_s) and more.

Usage: python bench/bench_cold_start.py [--quick] [--runs N] [--blocks K] [--modes default,disable-mmap]
       [--extra ours_cache,native_prefetch] [--fresh-servers] [--latency-ms 2] [--bandwidth-mbs 250]
       [--json bench/results/cold_start.json]
--disable-mmap is ComfyUI 0.33's own flag; --disable-dynamic-vram is not passed: dynamic VRAM is
already off with --cpu (comfy/cli_args.py enables_dynamic_vram).
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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import slowfs  # noqa: E402

from wan22.catalog import BY_ROLE  # noqa: E402
from wan22.comfyui_dir import find_comfyui, not_found_reason  # noqa: E402
from wan22.demo.demo_volume import (  # noqa: E402
    conditioning_datasets,
    real_header_tensors,
    real_lora_tensors,
    sparse_tensors_for,
    stand_in_metadata,
)
from wan22.demo.graphs import i2v_native, i2v_ours  # noqa: E402
from wan22.demo.server import ComfyServer as Server  # noqa: E402
from wan22.demo.server import free_port, make_base, start_image  # noqa: E402

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


def timed_prompt(server: Server, prompt: dict[str, Any], timeout: float = 900.0) -> dict[str, Any]:
    """Run the prompt (the project's client, following the websocket): seconds from POST /prompt to
    the first sampling step and to the end of execution, both taken when the event arrives."""
    t: dict[str, float] = {}

    def on_event(msg: Mapping[str, Any]) -> None:
        kind, data = msg.get("type"), msg.get("data") or {}
        if kind == "progress":
            t.setdefault("first", time.perf_counter() - t0)
        elif kind == "execution_success" or (kind == "executing" and data.get("node") is None and data.get("prompt_id")):
            t.setdefault("end", time.perf_counter() - t0)

    t0 = time.perf_counter()
    out = server.execute(prompt, timeout, on_event=on_event)
    end = t.get("end", time.perf_counter() - t0)
    if not server.output_files(out.entry):
        raise RuntimeError("no video saved")
    return {"first_step_s": round(t.get("first", end), 3), "video_s": round(end, 3), "cached_nodes": list(out.cached)}


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


class Servers:
    """The ComfyUI servers of one loading mode. Default: one server per variant, kept for all its
    runs; before each run its models are unloaded and its executor cache reset (POST /free), and for
    a cold run the page cache is dropped, so every run loads every file again (the volume's request
    counter checks it). fresh=True: a new server for every run (the slow, strict way)."""

    def __init__(self, comfy: Path, base: Path, yaml: Path, mode: str, logdir: Path, fresh: bool) -> None:
        self.comfy, self.base, self.yaml, self.mode, self.logdir, self.fresh = comfy, base, yaml, mode, logdir, fresh
        self.live: dict[str, Server] = {}
        self.start_s: list[float] = []
        self.warm_paths: list[str] = []  # read before a warm run: the page cache may have been dropped meanwhile

    def cache_dir(self) -> Path:
        return self.logdir / f"localcache-{self.mode}"

    def get(self, variant: str, tag: str) -> Server:
        # Every live server lets go of its models (and their memory maps: drop_caches cannot drop
        # pages a process still maps, so an idle server holding them would warm the next cold run).
        for s in self.live.values():
            s.request("POST", "/free", {"unload_models": True, "free_memory": True})
        if self.live:
            time.sleep(1.5)  # each prompt worker unloads, resets its cache and collects at once
        if variant in self.live:
            return self.live[variant]
        os.environ["WAN22_PREFETCH"] = "0" if variant == "native" else "1"
        if variant == "ours_cache":
            os.environ["WAN22_LOCAL_CACHE"] = str(self.cache_dir())
        else:
            os.environ.pop("WAN22_LOCAL_CACHE", None)
        extra = ["--disable-mmap"] if self.mode == "disable-mmap" else []
        server = Server(comfyui=self.comfy, base=self.base, yaml=self.yaml, port=free_port(),
                        log_path=self.logdir / f"{variant}_{self.mode}_{tag if self.fresh else 'all'}.log")
        t = time.perf_counter()
        try:
            server.start(extra_args=extra)
        except BaseException:
            server.stop()
            raise
        self.start_s.append(round(time.perf_counter() - t, 1))
        if not self.fresh:
            self.live[variant] = server
        return server

    def release(self, server: Server) -> None:
        if self.fresh:
            server.stop()

    def close(self) -> None:
        for s in self.live.values():
            s.stop()
        self.live.clear()


def reset_peak_rss(pid: int) -> None:
    """Start VmHWM afresh for this run (clear_refs 5, Linux >= 4.0; root)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5\n")
    except OSError:
        pass


def one_run(servers: Servers, variant: str, cold: bool, seed: int, stats: str,
            preset: str = "fast", steps: int = 4) -> dict[str, Any]:
    """One prompt on the variant's server. Variants: native (stock loading), ours (our graph with the
    prefetcher), and the extras native_prefetch (native graph, prefetcher on) and ours_cache (ours
    with WAN22_LOCAL_CACHE on this machine's disk)."""
    server = servers.get(variant, f"{'cold' if cold else 'warm'}_{seed}")
    try:
        assert server.proc is not None
        if cold and not slowfs.drop_caches():
            raise RuntimeError("cannot drop the page cache (needs root)")
        if not cold:  # on a shared machine another job may have dropped the page cache since the last run
            for p in servers.warm_paths:
                with open(p, "rb", buffering=0) as f:
                    while f.read(16 << 20):
                        pass
            time.sleep(0.5)  # the volume's counters are written every 0.2 s
        log_at = len(server.log_text())
        reset_peak_rss(server.proc.pid)
        before = slowfs.read_stats(stats)
        prompt = prompt_for("ours" if variant.startswith("ours") else "native", seed, preset, steps)
        t = timed_prompt(server, prompt)
        if t["cached_nodes"]:  # POST /free raced the prompt worker: the executor reused outputs; free again, once
            server.request("POST", "/free", {"unload_models": True, "free_memory": True})
            time.sleep(3.0)
            if cold:
                slowfs.drop_caches()
            before = slowfs.read_stats(stats)
            reset_peak_rss(server.proc.pid)
            t = timed_prompt(server, prompt)
            if t["cached_nodes"]:
                raise RuntimeError(f"the executor reused cached outputs twice ({t['cached_nodes']}); POST /free did not reset it")
        time.sleep(0.3)
        after = slowfs.read_stats(stats)
        t["rss_peak_mb"] = round(vm_hwm_mb(server.proc.pid))
        t["volume_requests"] = after["requests"] - before["requests"]
        t["volume_mb"] = round((after["bytes"] - before["bytes"]) / 1e6)
        t["load_avg_1m"] = round(os.getloadavg()[0], 1)
        pre = [ln.split("[wan22] ", 1)[1] for ln in server.log_text()[log_at:].splitlines() if "[wan22] prefetched" in ln]
        if pre:
            t["prefetch"] = pre[-1]
    except BaseException:
        servers.close()
        server.stop()
        raise
    servers.release(server)
    return t


# ---------------------------------------------------------------- loader only: ComfyUI's file reading alone

def loader_child(comfy: str, variant: str, paths: list[str]) -> None:
    """In a fresh process: comfy.utils.load_torch_file on each file in load order, each tensor
    copied out (as load_state_dict copies it). Variants: native; prefetch (the prefetcher running
    alongside); cache_fill (the prefetcher also writing WAN22_LOCAL_CACHE copies: the time includes
    finishing the copies); local (loading those copies from this machine's disk)."""
    sys.path.insert(0, comfy)
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    import comfy.utils

    from wan22.prefetch.cache import CacheSink, LocalCache
    from wan22.prefetch.engine import start_prefetch

    cache = LocalCache(os.environ["WAN22_LOCAL_CACHE"]) if variant in ("cache_fill", "local") else None
    if variant == "local":
        assert cache is not None
        paths = [cache.lookup(Path(p).parent.name, Path(p).name, p) or "" for p in paths]
        if not all(paths):
            raise SystemExit("local: a copy is missing or stale (run cache_fill first)")
    t0 = time.perf_counter()
    job = None
    if variant == "prefetch":
        job = start_prefetch(paths)
    elif variant == "cache_fill":
        assert cache is not None
        job = start_prefetch(paths, cache=CacheSink(cache, {p: (Path(p).parent.name, Path(p).name) for p in paths}))
    per = []
    for p in paths:
        t = time.perf_counter()
        sd = comfy.utils.load_torch_file(p, safe_load=True)
        for v in sd.values():
            v.clone()
        del sd
        per.append(round(time.perf_counter() - t, 2))
    summary = job.wait().summary_line() if job else ""
    total = time.perf_counter() - t0
    print(json.dumps({"seconds": round(total, 2), "per_file_s": per, "prefetch": summary}))


def _loader_run(comfy: Path, variant: str, paths: list[str], env: dict[str, str]) -> dict[str, Any]:
    import subprocess

    slowfs.drop_caches()
    out = subprocess.run([sys.executable, __file__, "--loader-child", str(comfy), variant, *paths], env=env,
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    return dict(json.loads(out))


def loader_phase(comfy: Path, mnt: Path, sizes: dict[str, int], runs: int, cache_dir: Path) -> dict[str, Any]:
    """ComfyUI's file loading alone, page cache dropped before each run: native and with the
    prefetcher, alternating; then the local copy cache: one filling run, `runs` runs from it."""
    import shutil

    paths = [str(mnt / BY_ROLE[r].folder / BY_ROLE[r].name) for r in ("vae", "i2v_high", "i2v_low")]
    env = dict(os.environ, WAN22_LOCAL_CACHE=str(cache_dir))
    shutil.rmtree(cache_dir, ignore_errors=True)
    rows: dict[str, list[float]] = {"native": [], "prefetch": [], "cache_fill": [], "local": []}
    plan = [v for i in range(runs) for v in (["native", "prefetch"] if i % 2 == 0 else ["prefetch", "native"])]
    for i, variant in enumerate([*plan, "cache_fill", *["local"] * runs]):
        r = _loader_run(comfy, variant, paths, env)
        rows[variant].append(r["seconds"])
        print(f"   loader only, {i + 1:2d} {variant:<10}: {r['seconds']:6.1f} s {r['per_file_s']}"
              + (f"\n        {r['prefetch']}" if r["prefetch"] else ""), flush=True)
    shutil.rmtree(cache_dir, ignore_errors=True)
    mb = sum(sizes[BY_ROLE[r].name] for r in ("vae", "i2v_high", "i2v_low")) / 1e6
    med = {k: round(statistics.median(v), 3) for k, v in rows.items()}
    n = med["native"]
    res = {"native_s": n, "prefetch_s": med["prefetch"], "ratio": round(med["prefetch"] / n, 3), "mb": round(mb),
           "runs": rows, "native_mbps": round(mb / n, 1), "prefetch_mbps": round(mb / med["prefetch"], 1),
           "local_cache_fill_s": med["cache_fill"], "local_cache_fill_ratio": round(med["cache_fill"] / n, 3),
           "local_cache_cold_s": med["local"], "local_cache_cold_ratio": round(med["local"] / n, 3)}
    print(f"loader only (comfy.utils.load_torch_file + copy, {mb:.0f} MB, page cache dropped): native {n:.1f} s "
          f"({mb / n:.0f} MB/s), with the prefetcher {med['prefetch']:.1f} s ({res['prefetch_mbps']:.0f} MB/s) -> ratio "
          f"{res['ratio']:.3f}; local copy cache: filling {med['cache_fill']:.1f} s (ratio {res['local_cache_fill_ratio']:.3f}), "
          f"then from the local disk {med['local']:.1f} s (ratio {res['local_cache_cold_ratio']:.3f})", flush=True)
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
    # The floor of cold_ratio: if every byte from the volume were hidden, ours cold would take what
    # native takes warm (everything in RAM): compute, not the volume, is what remains.
    s["cold_ratio_floor"] = round(s["native_warm_s"] / s["native_cold_s"], 3)
    s["ram_ratio"] = round(max(s["ours_cold_rss_peak_mb"], s["ours_warm_rss_peak_mb"])
                           / max(s["native_cold_rss_peak_mb"], s["native_warm_rss_peak_mb"]), 3)
    for key, rows in r.items():  # the extra variants (cold only)
        v = key[: -len("_cold")]
        if key.endswith("_cold") and v not in ("native", "ours") and rows:
            s[f"{v}_cold_s"] = median(rows, "video_s")
            s[f"{v}_cold_ratio"] = round(s[f"{v}_cold_s"] / s["native_cold_s"], 3)
            s[f"{v}_rss_peak_mb"] = max(x["rss_peak_mb"] for x in rows)
    for key, rows in r.items():  # ours_cache's first run: the copy is made while loading
        if key.endswith("_filling") and rows:
            s[f"{key}_s"] = rows[0]["video_s"]
            s[f"{key}_ratio"] = round(rows[0]["video_s"] / s["native_cold_s"], 3)
    return s


def report_summary(summary: dict[str, dict[str, Any]]) -> None:
    for m, s in summary.items():
        print(f"\n[{m}] cold: native {s['native_cold_s']:.1f} s, ours {s['ours_cold_s']:.1f} s -> ratio {s['cold_ratio']:.3f} "
              f"(target <= 0.5; floor native warm / native cold {s['cold_ratio_floor']:.3f}); "
              f"first step {s['first_step_cold_ratio']:.3f}\n"
              f"[{m}] warm: native {s['native_warm_s']:.1f} s, ours {s['ours_warm_s']:.1f} s -> ratio {s['warm_ratio']:.3f}\n"
              f"[{m}] peak RSS: native {max(s['native_cold_rss_peak_mb'], s['native_warm_rss_peak_mb'])} MB, "
              f"ours {max(s['ours_cold_rss_peak_mb'], s['ours_warm_rss_peak_mb'])} MB -> ratio {s['ram_ratio']:.3f}")
        for k in s:
            if k.endswith("_cold_ratio") and k not in ("cold_ratio", "first_step_cold_ratio"):
                v = k[: -len("_cold_ratio")]
                print(f"[{m}] {v}: cold {s[v + '_cold_s']:.1f} s -> ratio to native {s[k]:.3f}, peak RSS {s[v + '_rss_peak_mb']} MB")
            if k.endswith("_filling_ratio"):
                v = k[: -len("_ratio")]
                print(f"[{m}] {v} (first cold run, copying): {s[v + '_s']:.1f} s -> ratio to native {s[k]:.3f}")


def print_row(mode: str, label: str, cold: bool, row: dict[str, Any]) -> None:
    print(f"   [{mode}] {label:<22} {'cold' if cold else 'warm'}: first step {row['first_step_s']:6.1f} s, "
          f"video {row['video_s']:6.1f} s, peak RSS {row['rss_peak_mb']} MB, volume {row['volume_mb']} MB in "
          f"{row['volume_requests']} requests, load avg {row['load_avg_1m']}"
          + (f"\n        {row['prefetch']}" if "prefetch" in row else ""), flush=True)


def server_phase(servers: Servers, extras: list[str], runs: int, warm_runs: int, stats: str, preset: str,
                 steps: int) -> dict[str, list[dict[str, Any]]]:
    """`runs` cold and `warm_runs` warm prompts of native and ours (alternating which goes first),
    plus the cold-only extras; ours_cache starts with an empty cache: its first cold run fills it."""
    import shutil

    res: dict[str, list[dict[str, Any]]] = {f"{v}_{c}": [] for v in ("native", "ours") for c in ("cold", "warm")}
    res.update({f"{x}_cold": [] for x in extras})
    if "ours_cache" in extras:  # a cold read from the volume plus the copy to the local disk
        shutil.rmtree(servers.cache_dir(), ignore_errors=True)
        row = one_run(servers, "ours_cache", True, 99, stats, preset, steps)
        res["ours_cache_filling"] = [row]
        print_row(servers.mode, "ours_cache (filling)", True, row)
    for i in range(runs):
        order = ["native", "ours"] if i % 2 == 0 else ["ours", "native"]
        for variant in order + extras:
            for cold in (True, False) if variant in ("native", "ours") and i < warm_runs else (True,):
                row = one_run(servers, variant, cold, 100 + i, stats, preset, steps)
                res[f"{variant}_{'cold' if cold else 'warm'}"].append(row)
                print_row(servers.mode, f"run {i + 1} {variant}", cold, row)
    return res


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="cold start on an emulated network volume, ours vs native")
    ap.add_argument("--quick", action="store_true",
                    help="3 cold and 2 warm runs (loader only: 2), 1 block, quality preset at 2 steps (one step per "
                         "expert), default loading only, no extras (under 10 minutes on a 2-core machine)")
    ap.add_argument("--runs", type=int, default=None, help="cold runs per variant (default 5; --quick 3)")
    ap.add_argument("--warm-runs", type=int, default=None, help="warm runs per variant (default --runs; --quick 2)")
    ap.add_argument("--blocks", type=int, default=None, help="transformer blocks per expert (default 4; --quick 1)")
    ap.add_argument("--preset", default=None, help="i2v preset (default fast; --quick quality: fast refuses 2 steps)")
    ap.add_argument("--steps", type=int, default=None, help="sampling steps (default 4; --quick 2)")
    ap.add_argument("--modes", default=None, help="comma list of default,disable-mmap (default both; --quick default)")
    ap.add_argument("--latency-ms", type=float, default=slowfs.DEFAULT_LATENCY_MS)
    ap.add_argument("--bandwidth-mbs", type=float, default=slowfs.DEFAULT_BANDWIDTH_MBS)
    ap.add_argument("--phases", default="loader,server",
                    help="loader: ComfyUI's file loading alone, in-process; server: the prompts end to end")
    ap.add_argument("--extra", default=None,
                    help="extra cold-only variants, comma list of native_prefetch, ours_cache (default ours_cache; --quick none)")
    ap.add_argument("--fresh-servers", action="store_true",
                    help="a new ComfyUI server for every run (default: one per variant, POST /free before each run)")
    ap.add_argument("--volume-dir", default=None, help="where the bench volume is written (reused); default a temp dir")
    ap.add_argument("--json", default=str(REPO / "bench" / "results" / "cold_start.json"))
    a = ap.parse_args()
    a.runs = a.runs or (3 if a.quick else 5)
    a.loader_runs = min(a.runs, 2) if a.quick else a.runs
    a.blocks = a.blocks or (1 if a.quick else 4)
    a.warm_runs = a.warm_runs if a.warm_runs is not None else (min(a.runs, 2) if a.quick else a.runs)
    a.preset = a.preset or ("quality" if a.quick else "fast")
    a.steps = a.steps or (2 if a.quick else 4)
    a.modes = (a.modes or ("default" if a.quick else "default,disable-mmap")).split(",")
    a.extras = [x for x in (a.extra if a.extra is not None else ("" if a.quick else "ours_cache")).split(",") if x]
    return a


def headline(summary: dict[str, dict[str, Any]], modes: list[str]) -> dict[str, Any]:
    """The contract keys (from the first mode), then disable_mmap and local_cache blocks."""
    if not summary:
        return {}
    s = summary[modes[0]]
    out = {k: s[k] for k in ("cold_ratio", "warm_ratio", "ram_ratio", "native_cold_s", "ours_cold_s",
                             "native_warm_s", "ours_warm_s", "first_step_cold_ratio", "cold_ratio_floor")}
    out["loading"] = modes[0]
    if "disable-mmap" in summary:
        d = summary["disable-mmap"]
        out["disable_mmap"] = {k: d[k] for k in ("cold_ratio", "warm_ratio", "ram_ratio", "native_cold_s", "ours_cold_s",
                                                 "native_warm_s", "ours_warm_s", "cold_ratio_floor")}
        out["disable_mmap"]["native_vs_default_native_cold"] = round(d["native_cold_s"] / s["native_cold_s"], 3)
    for m in modes:
        c = summary[m]
        if "ours_cache_cold_s" in c:
            out.setdefault("local_cache", {})[m] = {
                "first_cold_copying_s": c.get("ours_cache_filling_s"), "first_cold_ratio": c.get("ours_cache_filling_ratio"),
                "cold_from_local_disk_s": c["ours_cache_cold_s"], "cold_ratio": c["ours_cache_cold_ratio"],
                "native_cold_s": c["native_cold_s"], "ours_cold_s": c["ours_cold_s"]}
    return out


def main() -> int:
    if len(sys.argv) > 3 and sys.argv[1] == "--loader-child":
        loader_child(sys.argv[2], sys.argv[3], sys.argv[4:])
        return 0
    a = parse_args()
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
    vol = Path(a.volume_dir) if a.volume_dir else Path(tempfile.gettempdir()) / f"wan22-coldstart-volume-{a.blocks}"
    t = time.time()
    sizes = make_volume(vol, a.blocks)
    phase_s: dict[str, Any] = {"volume": round(time.time() - t)}
    total_mb = sum(sizes.values()) / 1e6
    print(f"volume {vol}: {len(sizes)} files, {total_mb:.0f} MB ({a.blocks} of 40 blocks per expert), "
          f"written/checked in {phase_s['volume']} s")
    for name, n in sizes.items():
        print(f"   {n / 1e6:9.1f} MB  {name}")
    base = make_base(tmp / "base")
    start_image(base / "input" / "wan22_start.png", 64)
    mnt, stats = tmp / "mnt", str(tmp / "slowfs.json")
    yaml = write_yaml(tmp / "extra.yaml", mnt)  # harness keys: the datasets folder too
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    print(f"emulated volume: {settings.latency_ms} ms per request, {settings.bandwidth_mbs} MB/s cap; "
          f"{a.runs} cold and {a.warm_runs} warm runs per variant; modes {', '.join(a.modes)}; extras {', '.join(a.extras) or 'none'}; "
          f"i2v {a.preset}, {a.steps} steps, {W['width']}x{W['height']}x{W['length']}; "
          f"{'a fresh server per run' if a.fresh_servers else 'one server per variant'}; "
          f"load average now {os.getloadavg()[0]:.1f}", flush=True)
    phases = a.phases.split(",")
    loader: dict[str, Any] = {}
    with slowfs.mounted(vol, mnt, settings, stats_path=stats, log_path=str(tmp / "slowfs.log")):
        if "loader" in phases:
            t = time.time()
            loader = loader_phase(comfy, mnt, sizes, a.loader_runs, tmp / "localcache-loader")
            phase_s["loader"] = round(time.time() - t)
        for mode in a.modes if "server" in phases else []:
            t = time.time()
            servers = Servers(comfy, base, yaml, mode, tmp, fresh=a.fresh_servers)
            servers.warm_paths = list(dict.fromkeys(str(mnt / e.folder / e.name) for e in BY_ROLE.values() if e.name in sizes))
            try:
                results[mode] = server_phase(servers, a.extras, a.runs, a.warm_runs, stats, a.preset, a.steps)
            finally:
                servers.close()
            phase_s[f"server_{mode}"] = round(time.time() - t)
            phase_s[f"server_starts_{mode}_s"] = servers.start_s
    summary = {m: summarize(results, m) for m in results}
    report_summary(summary)
    out = headline(summary, a.modes)
    if results:
        out["load_avg_1m_median"] = statistics.median(r["load_avg_1m"] for m in results.values() for rows in m.values() for r in rows)
    out.update({"emulator": settings.as_dict(), "runs": a.runs, "warm_runs": a.warm_runs, "quick": a.quick, "blocks": a.blocks,
                "volume_mb": round(total_mb), "file_mb": {k: round(v / 1e6, 1) for k, v in sizes.items()},
                "preset": a.preset, "steps": a.steps, "video": f"{W['width']}x{W['height']}x{W['length']}",
                "servers": "fresh per run" if a.fresh_servers else "one per variant, POST /free before each run",
                "machine": f"{platform.machine()} {os.cpu_count()} CPU, no GPU", "modes": summary})
    if loader:
        out["loader_only"] = {k: v for k, v in loader.items() if k != "runs"}
    out["phase_s"] = phase_s
    out["wall_s"] = round(time.time() - T0)
    path = Path(a.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**out, "runs_detail": results, "loader_runs": loader.get("runs")}, indent=2))
    print(f"results: {path}")
    print(json.dumps(out, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
