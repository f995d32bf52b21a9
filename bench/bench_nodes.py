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


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Bench:
    def __init__(self, server: Server) -> None:
        self.s = server
        self.last_patched = 0

    def loads(self) -> dict[str, Any]:
        return dict(self.s.get("/bench/loads"))

    def reset(self) -> None:
        self.s.request("POST", "/bench/reset", {})

    def run(self, prompt: dict[str, Any]) -> tuple[float, dict[str, int]]:
        self.reset()
        entry = self.s.run(prompt, timeout=900)
        loads = self.loads()
        self.last_patched = int(loads.get("patching", {}).get("patch_weight_to_device", 0))
        return exec_ms(entry), loads["by_file"]


def no_text_encoder(p: dict[str, Any]) -> dict[str, Any]:
    """Our bundle without umT5: the graph uses precomputed conditioning, like the native one."""
    p["bundle"]["inputs"]["text_encoder"] = "none"
    return p


def overhead(b: Bench, W: dict[str, int], runs: int, label: str) -> dict[str, Any]:
    """Alternating pairs (ours, native; order flipped every pair), the seed changes every pair."""
    cold_ours, _ = b.run(no_text_encoder(i2v_ours("fast", seed=0, prefix="bench/o", **W)))
    cold_native, _ = b.run(i2v_native("fast", seed=0, prefix="bench/n", **W))
    ours, native = [], []
    patched = {"ours": 0, "native": 0}
    for i in range(runs):
        pair = [("ours", no_text_encoder(i2v_ours("fast", seed=100 + i, prefix="bench/o", **W))),
                ("native", i2v_native("fast", seed=100 + i, prefix="bench/n", **W))]
        if i % 2:
            pair.reverse()
        for tag, prompt in pair:
            ms, _ = b.run(prompt)
            (ours if tag == "ours" else native).append(ms)
            patched[tag] += b.last_patched
    ratios = [o / n for o, n in zip(ours, native)]
    r = {"label": label, "ours_ms": ours, "native_ms": native, "ours_ms_median": statistics.median(ours),
         "native_ms_median": statistics.median(native), "ratio_median": statistics.median(ratios),
         "ratio_of_medians": statistics.median(ours) / statistics.median(native),
         "cold_ours_ms": cold_ours, "cold_native_ms": cold_native,
         "weights_patched_ours": patched["ours"], "weights_patched_native": patched["native"]}
    print(f"\n1. overhead, i2v fast {W['width']}x{W['height']}x{W['length']}, {runs} alternating pairs, {label}")
    print(f"   ours   median {r['ours_ms_median']:.0f} ms   native median {r['native_ms_median']:.0f} ms"
          f"   ratio of medians {r['ratio_of_medians']:.3f}   median of pair ratios {r['ratio_median']:.3f}   (target <= 1.02)")
    print(f"   cold first run: ours {cold_ours:.0f} ms, native {cold_native:.0f} ms")
    print(f"   LoRA weight patches over the {runs} pairs (ModelPatcher.patch_weight_to_device on patched keys): "
          f"ours {patched['ours']}, native {patched['native']}")
    return r


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
        res["overhead_default_cache"] = overhead(b, W, a.runs, "default cache (RAM pressure)")
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
