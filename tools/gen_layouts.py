"""Regenerate wan22/data/layouts/*.json from ComfyUI's own model classes.

The layouts are the exact tensor names, shapes and dtypes that ComfyUI's Wan modules have, for
the tiny sizes the demo volume uses and for the real 14B sizes the inventory checks against.
They let `python -m wan22 demo-volume` run without ComfyUI installed. Every module is built on
the `meta` device, so nothing is allocated.

Run with ComfyUI importable:  COMFYUI_PATH=~/comfy/ComfyUI python tools/gen_layouts.py
tests/comfy/test_standins_in_comfyui.py fails when a committed layout drifts from ComfyUI's code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "wan22" / "data" / "layouts"

# Tiny sizes: dim must be a multiple of 128 (heads = dim // 128); Animate needs >= 5 blocks.
TINY = {"dim": 128, "ffn_dim": 256, "num_layers": 5}
REAL_14B = {"dim": 5120, "ffn_dim": 13824, "num_layers": 40}
REAL_5B = {"dim": 3072, "ffn_dim": 14336, "num_layers": 30}


def _comfy() -> None:
    sys.path.insert(0, str(OUT.parents[2]))
    from wan22.comfyui_dir import find_comfyui, not_found_reason

    root = find_comfyui()
    if root is None:
        raise SystemExit(not_found_reason())
    sys.path.insert(0, str(root))
    import comfy.cli_args

    comfy.cli_args.args.cpu = True


def dit_config(size: dict[str, int], model_type: str, in_dim: int, out_dim: int = 16) -> dict[str, Any]:
    """The dict comfy/model_detection.py derives for a Wan DiT (the model class gets it as kwargs)."""
    return {
        "image_model": "wan2.1",
        "dim": size["dim"],
        "out_dim": out_dim,
        "num_heads": size["dim"] // 128,
        "ffn_dim": size["ffn_dim"],
        "num_layers": size["num_layers"],
        "patch_size": (1, 2, 2),
        "freq_dim": 256,
        "window_size": (-1, -1),
        "qk_norm": True,
        "cross_attn_norm": True,
        "eps": 1e-6,
        "in_dim": in_dim,
        "model_type": model_type,
    }


def tensors_of(module: Any) -> list[list[Any]]:
    import torch

    out = []
    for name, t in module.state_dict().items():
        if not isinstance(t, torch.Tensor):
            continue
        out.append([name, list(t.shape), str(t.dtype).replace("torch.", "")])
    return out


def build_dit(kind: str, size: dict[str, int]) -> tuple[dict[str, Any], list[list[Any]]]:
    import comfy.ldm.wan.model as wan
    import comfy.ldm.wan.model_animate as wan_animate
    import comfy.ops
    import torch

    ops = comfy.ops.disable_weight_init
    common = {"device": "meta", "dtype": torch.float16, "operations": ops}
    if kind == "t2v":
        cfg = dit_config(size, "t2v", 16)
        m = wan.WanModel(**cfg, **common)
    elif kind == "i2v":
        cfg = dit_config(size, "t2v", 36)  # Wan 2.2 I2V A14B: no img_emb, detected as t2v
        m = wan.WanModel(**cfg, **common)
    elif kind == "wan21_i2v":
        cfg = dit_config(size, "i2v", 36)  # Wan 2.1 I2V: CLIP image embeddings (img_emb)
        m = wan.WanModel(**cfg, **common)
    elif kind == "ti2v_5b":
        cfg = dit_config(size, "t2v", 48, out_dim=48)
        m = wan.WanModel(**cfg, **common)
    elif kind == "s2v":
        cfg = dit_config(size, "s2v", 16)
        m = wan.WanModel_S2V(**cfg, **common)
    elif kind == "animate":
        cfg = dit_config(size, "animate", 36)
        m = wan_animate.AnimateWanModel(**cfg, **common)
    elif kind == "animate2":
        # ---- animate2: Wan 2.1 I2V-shaped weights (img_emb, in_dim 36) in ComfyUI's WanAnimate2Model;
        # model_type 'animate2' comes from the file's metadata config (comfy/model_detection.py).
        import comfy.ldm.wan.model_animate2 as wan_animate2

        cfg = dit_config(size, "animate2", 36)
        m = wan_animate2.WanAnimate2Model(**cfg, **common)
    else:
        raise ValueError(kind)
    cfg = {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}
    return cfg, tensors_of(m)


def build_vae(kind: str, dim: int) -> tuple[dict[str, Any], list[list[Any]]]:
    import comfy.ldm.wan.vae as vae21
    import comfy.ldm.wan.vae2_2 as vae22
    import torch

    with torch.device("meta"):
        if kind == "vae21":
            cfg = {"dim": dim, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2,
                   "attn_scales": [], "temperal_downsample": [False, True, True], "dropout": 0.0}
            m = vae21.WanVAE(**cfg)
        else:
            cfg = {"dim": dim, "z_dim": 48, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2,
                   "attn_scales": [], "temperal_downsample": [False, True, True], "dropout": 0.0}
            m = vae22.WanVAE(**cfg)
    m = m.to(torch.float16)
    return cfg, tensors_of(m)


def build_umt5() -> tuple[dict[str, Any], list[list[Any]]]:
    import comfy.ops
    import comfy.text_encoders.t5 as t5
    import torch

    cfg_path = Path(sys.modules["comfy.text_encoders.t5"].__file__).parent / "umt5_config_xxl.json"
    cfg = json.loads(cfg_path.read_text())
    m = t5.T5(cfg, dtype=torch.float16, device="meta", operations=comfy.ops.disable_weight_init)
    return cfg, tensors_of(m)


def build_clip_vision_h() -> tuple[dict[str, Any], list[list[Any]]]:
    import comfy.clip_model
    import comfy.ops
    import torch

    cfg_path = Path(sys.modules["comfy.clip_model"].__file__).parent / "clip_vision_config_h.json"
    cfg = json.loads(cfg_path.read_text())
    m = comfy.clip_model.CLIPVisionModelProjection(cfg, torch.float16, "meta", comfy.ops.disable_weight_init)
    return cfg, tensors_of(m)


def build_wav2vec2_large() -> tuple[dict[str, Any], list[list[Any]]]:
    import comfy.audio_encoders.wav2vec2 as w2v
    import comfy.ops
    import torch

    cfg = {"embed_dim": 1024, "num_heads": 16, "num_layers": 24, "conv_norm": True,
           "conv_bias": True, "do_normalize": True, "do_stable_layer_norm": True}
    m = w2v.Wav2Vec2Model(**cfg, dtype=torch.float16, device="meta", operations=comfy.ops.disable_weight_init)
    return cfg, tensors_of(m)


def main() -> None:
    _comfy()
    OUT.mkdir(parents=True, exist_ok=True)
    jobs: dict[str, Any] = {}
    for kind in ("t2v", "i2v", "wan21_i2v", "s2v", "animate"):
        jobs[f"tiny_{kind}"] = lambda k=kind: build_dit(k, TINY)
        jobs[f"real_{kind}"] = lambda k=kind: build_dit(k, REAL_14B)
    jobs["tiny_animate2"] = lambda: build_dit("animate2", TINY)  # ---- animate2
    jobs["real_animate2"] = lambda: build_dit("animate2", REAL_14B)
    jobs["tiny_ti2v_5b"] = lambda: build_dit("ti2v_5b", TINY)
    jobs["real_ti2v_5b"] = lambda: build_dit("ti2v_5b", REAL_5B)
    jobs["tiny_vae21"] = lambda: build_vae("vae21", 16)
    jobs["real_vae21"] = lambda: build_vae("vae21", 96)
    # ---- ti2v: tiny_vae22 is for header tests only. ComfyUI's VAE loader builds the Wan 2.2 VAE at a
    # fixed size (comfy/sd.py: dim 160, and WanVAE's default dec_dim 256) whatever the file holds, so
    # a loadable stand-in needs real_vae22's layout: demo-volume writes it sparse (FIVE_B_EXTRA).
    jobs["tiny_vae22"] = lambda: build_vae("vae22", 16)
    jobs["real_vae22"] = lambda: build_vae("vae22", 160)
    jobs["real_umt5_xxl"] = build_umt5
    jobs["real_clip_vision_h"] = build_clip_vision_h
    jobs["real_wav2vec2_large"] = build_wav2vec2_large
    for name, job in jobs.items():
        cfg, tensors = job()
        doc = {"name": name, "config": cfg, "tensors": tensors}
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
        print(f"{name}: {len(tensors)} tensors -> {path.name}")


if __name__ == "__main__":
    main()
