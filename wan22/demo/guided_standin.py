"""Conditioning-following I2V expert stand-ins: ComfyUI's real Wan I2V architecture and tensor
names at the demo volume's tiny size, with structured instead of random weights, so that the
denoised latent is the image latent in the conditioning (`concat_latent_image`).

Why: the random stand-ins (demo_volume.py) sample a video that ignores the start/end frames, so
no test could check that FLF2V's first and last frames come from its two images. With these
experts every denoise step of ComfyUI's own sampler predicts x0 = c, the concat image latent, so
the decoded video is the VAE round trip of the image sequence `WanFirstLastFrameToVideo` builds.

How one forward pass of comfy/ldm/wan/model.py WanModel computes that (x: the noisy latent, c:
the concat image latent, both after process_latent_in; P = out_dim * prod(patch_size) values per
patch; the model's width `dim` > P):
- patch_embedding (input channels [x 16, mask 4, c 16], WAN21.concat_cond's order) writes
  d + a*mean(d) with d = x - c in the first P features and constants +B / -B in the others, with
  a = P / (dim - P): the LayerNorm's mean is then exactly a*mean(d), so it leaves d as it is;
- time_projection and every block's modulation are zero, so the self-attention and FFN gates
  e[2], e[5] are 0; the cross-attention (ungated) has zero projections, so each block is the
  identity; text_embedding is zero, so the prompt changes nothing;
- time_embedding is a one-hidden-layer SiLU ramp network on the lowest-frequency sine of the
  timestep, fitted so its output (the same in every channel) is E(t) = kappa / sigma - 1;
- the head: LayerNorm (d / S, S ~ B * sqrt(nb / dim) is nearly constant because of the +-B
  features), modulation zero, so the modulated features are m = (d / S)(1 + E) + E, and the head
  linear takes m_j - mean(m) = (d_j / S)(1 + E) times alpha = S / kappa, i.e. v = (x - c) / sigma:
  the flow model's denoised x - sigma * v is c.
The fit holds for sigma in [SIGMA_MIN, 1] (relative error under 1e-3); below SIGMA_MIN E grows
too slowly, so the prediction only moves part of the way to c. The distill-LoRA stand-ins patch
the blocks' projections by small random amounts; in the FLF2V colour test the frames stay within
2 RGB levels of the VAE round trip with them.

The experts are written in float32, the high-noise one too (the real file is fp8_scaled): the
ramp's sharp units need float32 weights, float8_e4m3fn's 3-bit mantissa cannot hold the head's
127/128, and ComfyUI's detection and the inventory read the architecture, not the dtype. They
assume float32 compute (ComfyUI on a CPU does so).
"""

from __future__ import annotations

import math
import os

import torch

from ..catalog import BY_ROLE
from .demo_volume import DEMO_SEED, _refuse_real_file, stand_in_metadata, write_safetensors
from .layouts import Layout, load

GUIDED_ROLES = ("i2v_high", "i2v_low")
GUIDED_LAYOUT = "tiny_i2v"
SIGMA_MIN = 0.01
RAMP_SHARPNESS = 20.0  # A_k * knot gap: each SiLU unit is a ReLU to a few % one knot away
BIAS_LEVEL = 64.0  # B: large next to |x - c| (about 1-3), so S varies by under 0.05 % per patch
NOISE_CHANNELS = 16  # the latent's channels; the mask's 4 follow, then the image latent's 16
MASK_CHANNELS = 4
TIME_FREQ_DIM = 256  # sinusoidal_embedding_1d(freq_dim, t): [cos(t f_i), sin(t f_i)], f_i = 1e4^(-i/128)
TIMESTEP_SCALE = 1000.0  # ModelSamplingDiscreteFlow: t = sigma * 1000


def _sizes(layout: Layout) -> tuple[int, int, int]:
    """(dim, out_dim, P) of `layout`, checked against what the construction needs."""
    cfg = layout.config
    dim, out_dim = int(cfg["dim"]), int(cfg["out_dim"])
    p = out_dim * math.prod(int(s) for s in cfg["patch_size"])
    nb = dim - p
    ok = nb >= 2 and nb % 2 == 0 and int(cfg["patch_size"][0]) == 1
    if not ok or int(cfg["in_dim"]) != 2 * out_dim + MASK_CHANNELS or int(cfg["freq_dim"]) != TIME_FREQ_DIM:
        raise ValueError(f"layout {layout.name!r}: a guided stand-in needs in_dim = 2*out_dim + 4, freq_dim 256, "
                         f"a temporal patch of 1 and dim - out_dim*prod(patch_size) even and >= 2 (dim {dim}, P {p})")
    return dim, out_dim, p


def _patch_embedding(layout: Layout) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv3d weight/bias: feature j < P is d_j + a * mean(d), d = x - c at the patch value j
    (the head's (q, r, channel) order); the rest are the constants +B and -B, half each."""
    dim, out_dim, p = _sizes(layout)
    _, ph, pw = (int(s) for s in layout.config["patch_size"])
    in_dim = int(layout.config["in_dim"])
    c0 = NOISE_CHANNELS + MASK_CHANNELS
    a = p / (dim - p)
    w = torch.zeros((dim, in_dim, 1, ph, pw), dtype=torch.float64)
    w[:p, :out_dim] += a / p
    w[:p, c0:c0 + out_dim] -= a / p
    for j in range(p):
        q, r, ch = j // (pw * out_dim), (j // out_dim) % pw, j % out_dim
        w[j, ch, 0, q, r] += 1.0
        w[j, c0 + ch, 0, q, r] -= 1.0
    b = torch.zeros(dim, dtype=torch.float64)
    half = (dim - p) // 2
    b[p:p + half], b[p + half:] = BIAS_LEVEL, -BIAS_LEVEL
    return w, b


def _ln_scale(layout: Layout) -> float:
    """S: the head LayerNorm's standard deviation for d = 0 (the +-B features alone)."""
    dim, _, p = _sizes(layout)
    return BIAS_LEVEL * math.sqrt((dim - p) / dim)


def _head(layout: Layout, alpha: float) -> torch.Tensor:
    """Head linear: output j = alpha * (m_j - mean over all features of m), for j < P."""
    dim, _, p = _sizes(layout)
    w = torch.full((p, dim), -alpha / dim, dtype=torch.float64)
    w[:, :p] += alpha * torch.eye(p, dtype=torch.float64)
    return w


def time_ramp(dim: int, kappa: float, sigma_min: float = SIGMA_MIN) -> dict[str, torch.Tensor]:
    """time_embedding weights whose output, in every channel, is kappa / sigma - 1 for sigma in
    [sigma_min, 1]: hidden unit k is SiLU(A (u_k - u)) with u = sin(t f_min) (monotone in t), and
    the output sums them with the slope changes of the piecewise-linear interpolant at the knots
    u_k (geometric in sigma, so dense where 1/sigma bends)."""
    f_min = 10000.0 ** (-(TIME_FREQ_DIM // 2 - 1) / (TIME_FREQ_DIM // 2))
    sig = torch.logspace(math.log10(sigma_min), 0.0, dim, dtype=torch.float64)
    u = torch.sin(sig * TIMESTEP_SCALE * f_min)
    g = kappa / sig - 1.0
    m = (g[1:] - g[:-1]) / (u[1:] - u[:-1])  # segment slopes, increasing (g is convex in u)
    s = torch.zeros(dim, dtype=torch.float64)
    s[-1] = -m[-1]
    s[1:-1] = m[1:] - m[:-1]  # slope below knot k gains s_k
    s[0] = 0.0  # below sigma_min: keep the first segment's slope
    gap = torch.cat([u[1:] - u[:-1], u[-1:] - u[-2:-1]])
    sharp = RAMP_SHARPNESS / gap  # A_k: unit k is within a few % of a ReLU one knot away
    w0 = torch.zeros((dim, TIME_FREQ_DIM), dtype=torch.float64)
    w0[:, TIME_FREQ_DIM - 1] = -sharp
    return {
        "time_embedding.0.weight": w0,
        "time_embedding.0.bias": sharp * u,
        "time_embedding.2.weight": (s / sharp).expand(dim, dim).clone(),
        "time_embedding.2.bias": torch.full((dim,), float(g[-1]), dtype=torch.float64),
    }


def guided_expert_tensors(layout: Layout | None = None, dtype: torch.dtype = torch.float32) -> list[tuple[str, torch.Tensor]]:
    """Every tensor of `layout` (default tiny_i2v), in its order and shape: the structured ones
    above, LayerNorm/RMSNorm weights 1, everything else 0."""
    layout = layout or load(GUIDED_LAYOUT)
    dim = int(layout.config["dim"])
    s = _ln_scale(layout)
    kappa = math.sqrt(2.0)  # any value > 0 works; alpha = S / kappa keeps the head weights modest
    pw, pb = _patch_embedding(layout)
    special = {"patch_embedding.weight": pw, "patch_embedding.bias": pb,
               "head.head.weight": _head(layout, s / kappa), **time_ramp(dim, kappa)}
    out: list[tuple[str, torch.Tensor]] = []
    for key, shape, _dt in layout.tensors:
        t = special.get(key)
        if t is None:
            is_norm_weight = key.endswith(".weight") and len(shape) == 1 and "norm" in key
            t = torch.ones(shape) if is_norm_weight else torch.zeros(shape)
        if tuple(t.shape) != tuple(shape):
            raise ValueError(f"layout {layout.name!r}: {key} is {tuple(shape)}, the guided stand-in built {tuple(t.shape)}")
        out.append((key, t.to(dtype)))
    return out


def write_guided_experts(root: str, seed: int = DEMO_SEED) -> list[dict[str, object]]:
    """Write the I2V high- and low-noise experts under `root` (<root>/<folder>/<catalog name>) as
    guided stand-ins, replacing demo-volume's random ones; refuses to overwrite a real file."""
    paths = {role: os.path.join(os.path.abspath(root), BY_ROLE[role].folder, BY_ROLE[role].name) for role in GUIDED_ROLES}
    for path in paths.values():  # all checked before any is written
        _refuse_real_file(path)
    tensors = guided_expert_tensors()
    files: list[dict[str, object]] = []
    for role, path in paths.items():
        meta = stand_in_metadata(role, seed, {"wan22.recipe": "guided",
                                              "wan22.note": "structured weights: predicts x0 = the concat image latent"})
        files.append({"role": role, "path": path, "size": write_safetensors(path, tensors, meta)})
    return files
