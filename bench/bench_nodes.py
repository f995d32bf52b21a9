"""Node benchmarks on a real ComfyUI server (CPU, stand-in volume). Prints measured figures.

1. overhead: i2v fast through Wan22BundleLoader -> Wan22ModeRouter -> Wan22MoESampler against the
   native template graph (UNETLoader x2, LoraLoaderModelOnly x2, ModelSamplingSD3 x2, two
   KSamplerAdvanced), same seed, alternating runs; median of server-side execution times, ratio.
2. repeat-prompt cost: file loads of a first run, an identical second prompt, a seed-only change,
   a prompt-text-only change (CLIPTextEncode with the umT5 stand-in), for ours and for native.
3. switching i2v -> s2v -> i2v: which files each step loads.
4. fast vs quality: sampling steps and wall time at the same resolution.

Usage: python bench/bench_nodes.py [--runs 15] [--json bench/results/nodes.json]
Needs ComfyUI (COMFYUI_PATH or ~/comfy/ComfyUI). File loads are counted by bench/counting_pack,
installed only into this benchmark's server.
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
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wan22.comfyui_dir import find_comfyui, not_found_reason  # noqa: E402
from wan22.demo.demo_volume import make_demo_volume  # noqa: E402
from wan22.demo.graphs import bundle, conditioning_nodes, finish, i2v_native, i2v_ours, router  # noqa: E402
from wan22.demo.server import ComfyServer as Server  # noqa: E402
from wan22.demo.server import free_port, make_base, start_image  # noqa: E402
from wan22.demo.server import write_model_paths_yaml as write_yaml  # noqa: E402


def exec_ms(entry: dict[str, Any]) -> float:
    """Server-side execution time of a prompt: execution_start -> execution_success."""
    msgs = {m[0]: m[1] for m in entry["status"]["messages"]}
    return float(msgs["execution_success"]["timestamp"] - msgs["execution_start"]["timestamp"])


def cpu_ms(pid: int) -> float:
    """CPU time (user + system, all threads) the server process has used so far, in ms. A prompt's
    CPU time does not count the time the machine's other work kept the server off the cores, which
    the wall time between execution_start and execution_success does."""
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system) * 1000.0


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / (1 << 20)


class Bench:
    def __init__(self, server: Server) -> None:
        self.s = server
        self.last_patched = 0
        self.last_cpu_ms = 0.0

    def loads(self) -> dict[str, Any]:
        return dict(self.s.get("/bench/loads"))

    def reset(self) -> None:
        self.s.request("POST", "/bench/reset", {})

    def run(self, prompt: dict[str, Any]) -> tuple[float, dict[str, int]]:
        self.reset()
        pid = self.s.proc.pid if self.s.proc else None
        cpu0 = cpu_ms(pid) if pid else 0.0
        entry = self.s.run(prompt, timeout=900)
        self.last_cpu_ms = cpu_ms(pid) - cpu0 if pid else float("nan")
        loads = self.loads()
        self.last_patched = int(loads.get("patching", {}).get("patch_weight_to_device", 0))
        return exec_ms(entry), loads["by_file"]


def no_text_encoder(p: dict[str, Any]) -> dict[str, Any]:
    """Our bundle without umT5: the graph uses precomputed conditioning, like the native one."""
    p["bundle"]["inputs"]["text_encoder"] = "none"
    return p


def fast_graph(tag: str, seed: int, W: dict[str, int]) -> dict[str, Any]:
    """i2v fast, ours (without umT5, like native) or native."""
    if tag == "ours":
        return no_text_encoder(i2v_ours("fast", W["width"], W["height"], W["length"], seed, prefix="bench/o"))
    return i2v_native("fast", W["width"], W["height"], W["length"], seed, prefix="bench/n")


def wait_quiet(limit: float, most_s: float = 240.0) -> None:
    """Wait (at most `most_s`) until the 1-minute load average is under `limit` (0: do not wait): the
    benchmark's own server keeps it near 2 while it runs, and the next section should start quiet."""
    t0 = time.monotonic()
    while limit > 0 and os.getloadavg()[0] >= limit and time.monotonic() - t0 < most_s:
        time.sleep(5)
    print(f"   (waited {time.monotonic() - t0:.0f} s for the load average to fall under {limit:g}: now "
          f"{os.getloadavg()[0]:.2f})")


def overhead(b: Bench, W: dict[str, int], runs: int, label: str, settle: bool = False) -> dict[str, Any]:
    """Alternating pairs (ours, native; order flipped every pair), the seed changes every pair.

    `settle` (the default cache): ComfyUI's default cache keeps one graph's outputs, so a graph that
    runs after the other one reloads its models. Timed as they come, the flipped order gives each
    graph about half warm runs and half reload runs, and the median of 11 falls on whichever of the
    two clusters has six: that measured the order, not the nodes. With `settle` each timed run
    follows an untimed run of the same graph (another seed), so it is a warm run as on a worker that
    runs one workflow job after job; the untimed runs, which follow the other graph, are reported
    as the switching cost."""
    load0 = os.getloadavg()[0]
    cold_ours, _ = b.run(fast_graph("ours", 0, W))
    cold_native, _ = b.run(fast_graph("native", 0, W))
    wall: dict[str, list[float]] = {"ours": [], "native": []}
    switch: dict[str, list[float]] = {"ours": [], "native": []}
    cpu: dict[str, list[float]] = {"ours": [], "native": []}
    patched = {"ours": 0, "native": 0}
    for i in range(runs):
        for tag in ("ours", "native")[:: -1 if i % 2 else 1]:
            if settle:
                switch[tag].append(b.run(fast_graph(tag, 5000 + i, W))[0])
                patched[tag] += b.last_patched
            ms, _ = b.run(fast_graph(tag, 100 + i, W))
            wall[tag].append(ms)
            cpu[tag].append(b.last_cpu_ms)
            patched[tag] += b.last_patched
    med = {k: statistics.median(v) for k, v in wall.items()}
    r = {"label": label, "ours_ms": wall["ours"], "native_ms": wall["native"], "ours_ms_median": med["ours"],
         "native_ms_median": med["native"], "ratio_of_medians": med["ours"] / med["native"],
         "ratio_median": statistics.median([o / n for o, n in zip(wall["ours"], wall["native"])]),
         "cold_ours_ms": cold_ours, "cold_native_ms": cold_native,
         "weights_patched_ours": patched["ours"], "weights_patched_native": patched["native"],
         "cpu_ms_ours": cpu["ours"], "cpu_ms_native": cpu["native"],
         "cpu_ratio_of_medians": statistics.median(cpu["ours"]) / statistics.median(cpu["native"]),
         "load_avg_1min_at_start": load0}
    if settle:
        r.update(switch_ours_ms=switch["ours"], switch_native_ms=switch["native"],
                 switch_ratio_of_medians=statistics.median(switch["ours"]) / statistics.median(switch["native"]))
    _print_overhead(r, W, runs)
    return r


def _print_overhead(r: dict[str, Any], W: dict[str, int], runs: int) -> None:
    warm = " (each timed run follows an untimed run of the same graph)" if "switch_ours_ms" in r else ""
    print(f"\n1. overhead, i2v fast {W['width']}x{W['height']}x{W['length']}, {runs} alternating pairs, {r['label']}{warm}")
    print(f"   ours   median {r['ours_ms_median']:.0f} ms   native median {r['native_ms_median']:.0f} ms"
          f"   ratio of medians {r['ratio_of_medians']:.3f}   median of pair ratios {r['ratio_median']:.3f}   (target <= 1.02)")
    print(f"   server CPU time (all threads): ours median {statistics.median(r['cpu_ms_ours']):.0f} ms, native median "
          f"{statistics.median(r['cpu_ms_native']):.0f} ms, ratio of medians {r['cpu_ratio_of_medians']:.3f}"
          f"   (load average at the start: {r['load_avg_1min_at_start']:.2f})")
    if "switch_ours_ms" in r:
        print(f"   after the other graph (models reloaded): ours median {statistics.median(r['switch_ours_ms']):.0f} ms, "
              f"native median {statistics.median(r['switch_native_ms']):.0f} ms, ratio of medians "
              f"{r['switch_ratio_of_medians']:.3f}")
    print(f"   cold first run: ours {r['cold_ours_ms']:.0f} ms, native {r['cold_native_ms']:.0f} ms")
    print(f"   LoRA weight patches over the {runs} pairs (ModelPatcher.patch_weight_to_device on patched keys): "
          f"ours {r['weights_patched_ours']}, native {r['weights_patched_native']}")


def text_prompts(p: dict[str, Any], clip: list[Any], text: str) -> None:
    """Replace the precomputed conditioning with real CLIPTextEncode nodes (umT5 stand-in)."""
    p["cpos"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": clip, "text": text}}
    p["cneg"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": clip, "text": "static, blurry"}}
    for node in p.values():
        for k, v in node["inputs"].items():
            if isinstance(v, list) and len(v) == 2 and v[0] in ("cpos", "cneg"):
                node["inputs"][k] = [v[0], 0]


def s2v_ours(seed: int = 1) -> dict[str, Any]:
    p: dict[str, Any] = {"bundle": bundle("s2v"), "router": router("bundle", "s2v", "fast")}
    pos, neg = conditioning_nodes(p)
    p["img"] = {"class_type": "LoadImage", "inputs": {"image": "wan22_start.png"}}
    p["s2v"] = {"class_type": "WanSoundImageToVideo", "inputs": {"positive": pos, "negative": neg, "vae": ["bundle", 2],
                                                                  "width": 64, "height": 64, "length": 9, "batch_size": 1,
                                                                  "ref_image": ["img", 0]}}
    p["sampler"] = {"class_type": "Wan22MoESampler", "inputs": {"plan": ["router", 8], "positive": ["s2v", 0],
                                                                "negative": ["s2v", 1], "latent_image": ["s2v", 2],
                                                                "seed": seed}}
    finish(p, ["sampler", 0], ["bundle", 2], "bench/s2v")
    return p


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--length", type=int, default=17)
    ap.add_argument("--skip-text", action="store_true", help="skip the CLIPTextEncode runs (about 30 s each on CPU)")
    ap.add_argument("--wait-load", type=float, default=1.0,
                    help="before each overhead section wait (up to 4 min) until the load average is under this (0: no wait)")
    ap.add_argument("--json", default=str(REPO / "bench" / "results" / "nodes.json"))
    a = ap.parse_args()
    comfy = find_comfyui()
    if comfy is None:
        print(f"cannot run: {not_found_reason()}")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="wan22-bench-"))
    vol = tmp / "volume"
    make_demo_volume(str(vol))
    base = make_base(tmp / "base")
    (base / "custom_nodes" / "wan22_counting").symlink_to(REPO / "bench" / "counting_pack", target_is_directory=True)
    start_image(base / "input" / "wan22_start.png")
    server = Server(comfyui=comfy, base=base, yaml=write_yaml(base / "extra.yaml", vol), port=free_port(),
                    log_path=tmp / "server.log")
    server.start()
    b = Bench(server)
    res: dict[str, Any] = {"machine": f"{platform.machine()} {os.cpu_count()} CPU, {platform.python_version()}",
                           "device": "cpu", "size": f"{a.size}x{a.size}x{a.length}"}
    try:
        W = {"width": a.size, "height": a.size, "length": a.length}
        print(f"server up; machine: {res['machine']}; video {res['size']}; runs {a.runs}")

        # ---- 1. overhead under ComfyUI's default cache (alternating graphs evict each other)
        wait_quiet(a.wait_load)
        res["overhead_default_cache"] = overhead(b, W, a.runs, "default cache", settle=True)
        # ---- 2. repeat-prompt cost (file loads)
        print("\n2. repeat-prompt cost (file reads through comfy.utils.load_torch_file)")
        rows = []
        for tag, make in (("ours", i2v_ours), ("native", i2v_native)):
            seq = []
            p1 = make("fast", seed=7, prefix=f"bench/r{tag}", **W)
            if not a.skip_text:
                clip = ["bundle", 1] if tag == "ours" else ["clip", 0]
                if tag == "native":
                    p1["clip"] = {"class_type": "CLIPLoader", "inputs": {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
                                                                         "type": "wan", "device": "default"}}
                text_prompts(p1, clip, "a red fox runs through snow")
            # a fresh graph id layout forces cold loads: restart not needed, the files differ per tag
            _, l1 = b.run(p1)
            seq.append(("first run", l1))
            _, l2 = b.run(p1)
            seq.append(("identical prompt", l2))
            p3 = json.loads(json.dumps(p1))
            for node in p3.values():
                for k in ("seed", "noise_seed"):
                    if k in node["inputs"]:
                        node["inputs"][k] = 8
            _, l3 = b.run(p3)
            seq.append(("seed changed", l3))
            if not a.skip_text:
                p4 = json.loads(json.dumps(p3))
                p4["cpos"]["inputs"]["text"] = "a grey wolf runs through snow"
                _, l4 = b.run(p4)
                seq.append(("prompt text changed", l4))
            for name, loads in seq:
                n = sum(loads.values())
                rows.append({"graph": tag, "step": name, "loads": n, "files": loads})
                print(f"   {tag:<6} {name:<20} {n} file load(s) {sorted(loads) if n else ''}")
        res["repeat"] = rows

        # ---- 3. switching
        print("\n3. switching i2v -> s2v -> i2v (ours)")
        sw = []
        for name, prompt in (("i2v fast", i2v_ours("fast", seed=3, prefix="bench/sw", **W)), ("s2v fast", s2v_ours(3)),
                             ("i2v fast again", i2v_ours("fast", seed=4, prefix="bench/sw", **W))):
            ms, loads = b.run(prompt)
            sw.append({"step": name, "loads": sum(loads.values()), "files": loads, "ms": ms})
            print(f"   {name:<15} {sum(loads.values())} load(s): {sorted(loads)}")
        res["switching"] = sw

        # ---- 4. fast vs quality
        print(f"\n4. fast vs quality at {res['size']} ({a.runs} runs each, seed changes, loaders cached)")
        b.run(i2v_ours("quality", seed=0, prefix="bench/q", **W))
        fast_ms = [b.run(i2v_ours("fast", seed=200 + i, prefix="bench/f", **W))[0] for i in range(a.runs)]
        qual_ms = [b.run(i2v_ours("quality", seed=200 + i, prefix="bench/q", **W))[0] for i in range(a.runs)]
        f_med, q_med = statistics.median(fast_ms), statistics.median(qual_ms)
        per_step = (q_med - f_med) / (20 - 4)
        res["presets"] = {"fast_steps": 4, "quality_steps": 20, "fast_ms_median": f_med, "quality_ms_median": q_med,
                          "wall_ratio_quality_over_fast": q_med / f_med, "ms_per_step_estimate": per_step}
        print(f"   fast 4 steps: {f_med:.0f} ms   quality 20 steps: {q_med:.0f} ms   ratio {q_med / f_med:.2f}x")
        print(f"   marginal cost per sampling step ~{per_step:.1f} ms (the rest is decode/encode/save)")
        res["server_rss_mb"] = rss_mb(server.proc.pid) if server.proc else None
        print(f"\nserver RSS at the end: {res['server_rss_mb']:.0f} MB")
    finally:
        server.stop()
    # ---- 1b. overhead with an LRU cache: both graphs stay cached, only the sampler path re-runs
    lru = Server(comfyui=comfy, base=base, yaml=server.yaml, port=free_port(), log_path=tmp / "server_lru.log")
    lru.start(extra_args=["--cache-lru", "200"])
    try:
        wait_quiet(a.wait_load)
        res["overhead_lru_cache"] = overhead(Bench(lru), W, a.runs, "--cache-lru 200 (node overhead alone)")
    finally:
        lru.stop()
    out = Path(a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print(f"wall {time.time() - t0:.0f} s")
    sys.exit(rc)
