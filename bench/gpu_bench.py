"""GPU benchmark: real Wan 2.2 I2V A14B architecture, random weights, on a CUDA GPU.

Prepared for a machine with one large GPU (H100/H200 class) and ComfyUI importable
(COMFYUI_PATH). It writes real-size random experts in ComfyUI's scaled-fp8 form (about 14.3 GB
each; generated on the GPU, written to --workdir), real-size rank-64 4-step LoRAs and a real-size
VAE, then measures i2v fast and i2v quality through this pack's nodes
(Wan22BundleLoader -> Wan22ModeRouter -> Wan22MoESampler) and through the native template graph
(UNETLoader, LoraLoaderModelOnly, ModelSamplingSD3, two KSamplerAdvanced), at 832x480x81 and
640x640x81: seconds per step per expert, total sampling time and peak VRAM.

Quality (20 steps) is measured on a window of --window steps of each expert and extrapolated to
the full 8 + 12 steps (printed as such); fast (4 steps) runs in full. Text conditioning is random
(umT5 encoding is not part of what is measured).

    COMFYUI_PATH=/path/to/ComfyUI python bench/gpu_bench.py --workdir /tmp/wan22-gpu
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def setup_comfy(volume: Path) -> Any:
    sys.path.insert(0, str(REPO))
    from wan22.comfyui_dir import find_comfyui, not_found_reason

    root = find_comfyui()
    if root is None:
        raise SystemExit(not_found_reason())
    sys.path.insert(0, str(root))
    import folder_paths

    for key in ("diffusion_models", "text_encoders", "vae", "clip_vision", "audio_encoders", "loras"):
        folder_paths.add_model_folder_path(key, str(volume / key), is_default=True)
    import nodes

    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))
    assert asyncio.run(nodes.load_custom_node(str(REPO), module_parent="custom_nodes")), "pack failed to load"
    return sys.modules[str(REPO).replace(".", "_x_")]


def write_volume(volume: Path) -> None:
    import torch

    from wan22.catalog import BY_ROLE
    from wan22.demo.demo_volume import real_header_tensors, real_lora_tensors, umt5_stub_tensors, write_safetensors
    from wan22.demo.layouts import load

    def random_file(role: str, spec: list[tuple[str, str, tuple[int, ...]]]) -> None:
        e = BY_ROLE[role]
        path = volume / e.folder / e.name
        if path.exists():
            return
        dt = {"F8_E4M3": torch.float8_e4m3fn, "F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32}
        tensors = []
        for name, dtype, shape in spec:
            if name.endswith(".scale_weight"):
                t = torch.tensor(0.02 / 448 * 8, dtype=torch.float32)
            elif dtype == "F8_E4M3":
                t = (torch.randn(shape, device="cuda") * 8).clamp(-448, 448).to(torch.float8_e4m3fn).cpu()
            else:
                fan = max(1, int(torch.tensor(shape[1:]).prod().item())) if len(shape) > 1 else 1
                t = (torch.randn(shape, device="cuda") / fan**0.5).to(dt[dtype]).cpu()
            tensors.append((name, t))
        write_safetensors(str(path), tensors, {"wan22.note": "random weights for the GPU benchmark"})
        print(f"wrote {path.name} ({path.stat().st_size / 1e9:.2f} GB)", flush=True)

    for role in ("i2v_high", "i2v_low"):
        random_file(role, real_header_tensors("real_i2v"))
    for role in ("lora_i2v_high", "lora_i2v_low"):
        random_file(role, real_lora_tensors("real_i2v"))
    random_file("vae", [(k, "F16", s) for k, s, _ in load("real_vae21").tensors])
    te = BY_ROLE["text_encoder"]
    if not (volume / te.folder / te.name).exists():
        write_safetensors(str(volume / te.folder / te.name), umt5_stub_tensors(0), {})


def cond(seed: int) -> list[Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    return [[torch.randn((1, 512, 4096), generator=g) * 0.3, {}]]


def sample_stage(model: Any, plan: Any, st: Any, stop: int, pos: Any, neg: Any, latent: Any) -> Any:
    import nodes as comfy_nodes

    return comfy_nodes.common_ksampler(model, 0, plan.steps, plan.cfg, plan.sampler, plan.scheduler, pos, neg, latent,
                                       disable_noise=not st.add_noise, start_step=st.start_step, last_step=stop,
                                       force_full_denoise=not st.return_with_leftover_noise)[0]


def timed(fn: Any) -> tuple[Any, float, float]:
    import torch

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return out, time.perf_counter() - t0, torch.cuda.max_memory_allocated() / 2**30


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default="/tmp/wan22-gpu")
    ap.add_argument("--sizes", default="832x480x81,640x640x81")
    ap.add_argument("--window", type=int, default=2, help="quality: steps measured per expert")
    ap.add_argument("--json", default=str(REPO / "bench" / "results" / "gpu.json"))
    a = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: the GPU benchmark needs one")
        return 2
    volume = Path(a.workdir) / "volume"
    write_volume(volume)
    pack = setup_comfy(volume)
    from comfy_extras.nodes_model_advanced import ModelSamplingSD3
    from comfy_extras.nodes_wan import WanImageToVideo

    import nodes as comfy_nodes
    from wan22.plan.routing import make_plan

    n = pack.nodes
    card = torch.cuda.get_device_name(0)
    results: dict[str, Any] = {"card": card, "torch": torch.__version__, "runs": []}
    print(f"card: {card}")
    bundle = n.bundle.Wan22BundleLoader.execute("i2v", "auto", "auto", "auto", "auto", "auto", "auto", "auto", "default")[0]
    vae = bundle.vae
    for size in a.sizes.split(","):
        w, h, length = (int(x) for x in size.split("x"))
        image = torch.rand((1, h, w, 3))
        pos, neg, latent = WanImageToVideo.execute(cond(1), cond(2), vae, w, h, length, 1, start_image=image)
        for preset in ("fast", "quality"):
            plan = make_plan("i2v", preset)
            # ours
            routed = n.router.Wan22ModeRouter.execute(bundle, "i2v", preset, 0, 0.0, 0.0, -1, "auto", "auto", "auto", "auto", 0.0, True)[8]
            # native models
            native = []
            for st in plan.stages:
                m = comfy_nodes.UNETLoader().load_unet(st.expert_file, "default")[0]
                for lo in st.loras:
                    m = comfy_nodes.LoraLoaderModelOnly().load_lora_model_only(m, lo.file, lo.strength)[0]
                native.append(ModelSamplingSD3().patch(m, plan.shift)[0])
            for path_name, models in (("ours", routed.models), ("native", native)):
                if preset == "fast" and path_name == "ours":
                    # the whole node, as users run it
                    _, secs, peak = timed(partial(n.sampler.Wan22MoESampler.execute, routed, pos, neg, latent, 0))
                    per_stage = [{"expert": "both", "steps": plan.steps, "measured_steps": plan.steps,
                                  "s_per_step": secs / plan.steps}]
                else:
                    per_stage, peak = [], 0.0
                    lat = latent
                    for i, st in enumerate(plan.stages):
                        stop = st.end_step if preset == "fast" else min(st.end_step, st.start_step + a.window)
                        lat2, secs, mem = timed(partial(sample_stage, models[i], plan, st, stop, pos, neg, lat))
                        if preset == "fast":
                            lat = lat2
                        ran = stop - st.start_step
                        per_stage.append({"expert": st.expert, "steps": st.end_step - st.start_step, "measured_steps": ran,
                                          "s_per_step": secs / max(ran, 1)})
                        peak = max(peak, mem)
                total = sum(x["s_per_step"] * x["steps"] for x in per_stage)
                row = {"size": size, "preset": preset, "path": path_name, "stages": per_stage, "total_s": total,
                       "extrapolated": preset == "quality", "peak_vram_gib": peak}
                results["runs"].append(row)
                print(json.dumps(row), flush=True)
            del native
            torch.cuda.empty_cache()
    for size in a.sizes.split(","):
        for preset in ("fast", "quality"):
            o = next(r for r in results["runs"] if r["size"] == size and r["preset"] == preset and r["path"] == "ours")
            nat = next(r for r in results["runs"] if r["size"] == size and r["preset"] == preset and r["path"] == "native")
            print(f"{size} {preset:<8} ours {o['total_s']:.1f} s  native {nat['total_s']:.1f} s  ratio {o['total_s'] / nat['total_s']:.3f}"
                  f"  peak {o['peak_vram_gib']:.1f} GiB{'  (extrapolated from a window)' if o['extrapolated'] else ''}")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
