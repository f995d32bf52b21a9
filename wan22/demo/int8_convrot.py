"""ComfyUI's int8 ConvRot weight format, written without ComfyUI (for the Animate 2 stand-ins).

The Animate 2 checkpoints (wan_animate_2{,_distill}_int8_convrot) keep every Linear weight as int8
after a ConvRot rotation: comfy/ops.py reads a per-layer `comfy_quant` JSON {"format":
"int8_tensorwise", "convrot": true, "convrot_groupsize": g} with the I8 `weight` and an F32 per-row
`weight_scale`, and comfy_kitchen's TensorWiseINT8Layout (eager backend on CPU) un-rotates on use.
This module reproduces comfy_kitchen's quantize_int8_convrot_weight bit for bit
(tests/unit/test_animate2.py compares them when comfy_kitchen is installed).
"""

from __future__ import annotations

import json
import math

import torch


def hadamard(size: int) -> torch.Tensor:
    """The normalised regular Hadamard matrix ConvRot rotates by: Kronecker powers of comfy_kitchen's
    4x4 block (comfy_kitchen.tensor.int8_utils._build_hadamard), size a power of 4."""
    if size < 4 or 4 ** round(math.log(size, 4)) != size:
        raise ValueError(f"ConvRot group size must be a power of 4, got {size}")
    h4 = torch.tensor([[1, 1, 1, -1], [1, 1, -1, 1], [1, -1, 1, 1], [-1, 1, 1, 1]], dtype=torch.float32)
    h = h4
    while h.shape[0] < size:
        h = torch.kron(h, h4)
    return h / math.sqrt(size)


def int8_convrot(weight: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One Linear weight [out, in] as ComfyUI's int8 ConvRot: rotate each `group` of input columns
    by the Hadamard matrix (W @ H^T), then per-row int8 with an F32 scale [out, 1] (absmax / 127,
    round half to even), as comfy_kitchen's quantize_int8_convrot_weight does on CPU."""
    w = weight.to(torch.float32)
    out_f, in_f = w.shape
    rot = torch.matmul(w.reshape(out_f, in_f // group, group), hadamard(group).T).reshape(out_f, in_f)
    scale = (rot.abs().amax(dim=-1, keepdim=True) / 127.0).clamp(min=1e-30)
    q = (rot / scale).round().clamp(-128.0, 127.0).to(torch.int8)
    return q, scale


def int8_convrot_tensors(tensors: list[tuple[str, torch.Tensor]], group: int,
                         rest: torch.dtype = torch.bfloat16) -> list[tuple[str, torch.Tensor]]:
    """A DiT in ComfyUI's mixed-precision int8 ConvRot form (comfy/ops.py loads it): every block
    Linear weight int8 with `weight_scale` and a `comfy_quant` layer config; everything else `rest`."""
    conf = json.dumps({"format": "int8_tensorwise", "convrot": True, "convrot_groupsize": group}).encode()
    out: list[tuple[str, torch.Tensor]] = []
    for key, t in tensors:
        if key.startswith("blocks.") and key.endswith(".weight") and t.ndim == 2 and t.shape[1] % group == 0:
            base = key[: -len(".weight")]
            q, scale = int8_convrot(t, group)
            out += [(key, q), (f"{base}.weight_scale", scale),
                    (f"{base}.comfy_quant", torch.tensor(list(conf), dtype=torch.uint8))]
        else:
            out.append((key, t.to(rest)))
    return out


def header_tensors(layout: list[tuple[str, tuple[int, ...], str]], group: int = 256,
                   rest: str = "BF16") -> list[tuple[str, str, tuple[int, ...]]]:
    """(name, safetensors dtype, shape) of a real-size int8 ConvRot file (for sparse headers):
    every block Linear weight I8 with an F32 [out, 1] `weight_scale` and a U8 `comfy_quant`, the
    rest `rest`. The published header is not in the sources here; with every block Linear int8 and
    the rest bf16 the 14B layout comes to 16,653,181,912 bytes = 15.51 GiB, the templates' figure
    for wan_animate_2_int8_convrot, so that is the layout assumed."""
    conf = len(json.dumps({"format": "int8_tensorwise", "convrot": True, "convrot_groupsize": group}).encode())
    out: list[tuple[str, str, tuple[int, ...]]] = []
    for key, shape, _dt in layout:
        if key.startswith("blocks.") and key.endswith(".weight") and len(shape) == 2 and shape[1] % group == 0:
            base = key[: -len(".weight")]
            out += [(key, "I8", shape), (f"{base}.weight_scale", "F32", (shape[0], 1)), (f"{base}.comfy_quant", "U8", (conf,))]
        else:
            out.append((key, rest, shape))
    return out
