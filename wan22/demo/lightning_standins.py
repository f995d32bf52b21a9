"""Stand-ins for the newer Lightning generations (`demo-volume --with-lightning`): tiny files
under the published names, so the comfy tier runs them through ComfyUI's own loaders.

- LoRA pairs at their published ranks: the 1022 I2V pair (rank 64) with the keys that release
  carries besides lora_down/lora_up (`.diff_b` on biases, `.diff` on the 1-D norms, `.diff_m` on
  the modulation and `cross_attn.norm_k_img` keys a Wan 2.2 expert lacks, which ComfyUI reports as
  not loaded); the T2V 1217 pair (rank 64), the T2V 250928 pair (high rank 128, low rank 64), and
  Kijai's 260412 extraction (rank 64), in plain lora_down/lora_up form.
- Distilled expert pairs (1030, 260412): full tiny I2V experts, as the real ones are full experts.
"""

from __future__ import annotations

import math

import torch

from ..catalog import CatalogFile, lightning_role
from .demo_volume import StandIn, _gen, lora_tensors, model_tensors
from .layouts import Layout, load

LIGHTNING_EXTRA = (
    StandIn(lightning_role("i2v_1022", "high"), "lightning:lx1022:tiny_i2v:64"),
    StandIn(lightning_role("i2v_1022", "low"), "lightning:lx1022:tiny_i2v:64"),
    StandIn(lightning_role("i2v_260412_lora", "high"), "lightning:lora:tiny_i2v:64"),
    StandIn(lightning_role("i2v_260412_lora", "low"), "lightning:lora:tiny_i2v:64"),
    StandIn(lightning_role("t2v_1217", "high"), "lightning:lx1022:tiny_t2v:64"),
    StandIn(lightning_role("t2v_1217", "low"), "lightning:lx1022:tiny_t2v:64"),
    StandIn(lightning_role("t2v_250928", "high"), "lightning:lora:tiny_t2v:128"),
    StandIn(lightning_role("t2v_250928", "low"), "lightning:lora:tiny_t2v:64"),
    StandIn(lightning_role("i2v_1030", "high"), "lightning:dit:tiny_i2v"),
    StandIn(lightning_role("i2v_1030", "low"), "lightning:dit:tiny_i2v"),
    StandIn(lightning_role("i2v_260412", "high"), "lightning:dit:tiny_i2v"),
    StandIn(lightning_role("i2v_260412", "low"), "lightning:dit:tiny_i2v"),
)


def lx1022_tensors(layout: Layout, seed_key: str, seed: int, rank: int) -> list[tuple[str, torch.Tensor]]:
    """A LoRA in the 1022 release's form: lora_down/lora_up at `rank` on every block Linear (no
    `.alpha`: whether the release has one is not known, and without it ComfyUI applies up @ down
    at scale 1), `.diff_b` on their biases, `.diff` on the 1-D norm weights, `.diff_m` on each
    block's modulation and a `cross_attn.norm_k_img.diff` the Wan 2.2 experts have no weight for."""
    g = _gen(seed_key, seed)
    dtype = torch.bfloat16
    shapes = {k: s for k, s, _ in layout.tensors}
    out: list[tuple[str, torch.Tensor]] = []
    blocks = sorted({int(k.split(".")[1]) for k in shapes if k.startswith("blocks.")})
    for key, shape, _dt in layout.tensors:
        if not key.startswith("blocks."):
            continue
        mod, leaf = key.rsplit(".", 1)
        base = f"diffusion_model.{mod}"
        if leaf == "weight" and len(shape) == 2:
            out_f, in_f = shape
            out.append((f"{base}.lora_down.weight", (torch.randn((rank, in_f), generator=g) / math.sqrt(in_f)).to(dtype)))
            out.append((f"{base}.lora_up.weight",
                        (torch.randn((out_f, rank), generator=g) * (0.01 / math.sqrt(rank))).to(dtype)))
        elif leaf == "bias" and len(shapes.get(f"{mod}.weight", ())) == 2:
            out.append((f"{base}.diff_b", (torch.randn(shape, generator=g) * 0.001).to(dtype)))
        elif leaf == "weight" and len(shape) == 1:
            out.append((f"{base}.diff", (torch.randn(shape, generator=g) * 0.001).to(dtype)))
        elif leaf == "modulation":
            out.append((f"diffusion_model.{key}.diff_m", (torch.randn(shape, generator=g) * 0.001).to(dtype)))
    dim = layout.config.get("dim", 0)
    for b in blocks:
        out.append((f"diffusion_model.blocks.{b}.cross_attn.norm_k_img.diff",
                    (torch.randn((int(dim),), generator=g) * 0.001).to(dtype)))
    return out


def build_lightning(entry: CatalogFile, parts: list[str], seed: int) -> list[tuple[str, torch.Tensor]]:
    """The tensors of one LIGHTNING_EXTRA recipe ('lightning:<kind>:<layout>[:<rank>]', kind lx1022,
    lora or dit)."""
    kind, layout_name = parts[0], parts[1]
    layout = load(layout_name)
    if kind == "dit":
        return model_tensors(layout, entry.role, seed)
    rank = int(parts[2])
    if kind == "lx1022":
        return lx1022_tensors(layout, entry.role, seed, rank)
    if kind == "lora":
        return lora_tensors(layout, entry.role, seed, rank=rank)
    raise ValueError(f"unknown lightning stand-in recipe {':'.join(parts)!r}")
