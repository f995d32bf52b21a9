"""The pure sigma schedule: ComfyUI's flow-matching sigmas without ComfyUI, and the MoE split.

The router node never uses these sigmas: it takes ComfyUI's own (every scheduler). They serve
the CLI and anything without ComfyUI, for the 'simple' scheduler only, and a comfy-tier test
proves them bit-equal to ComfyUI's.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import PlanError

# Schedulers whose sigmas this module reproduces bit for bit without ComfyUI. The router node
# always takes the sigmas from ComfyUI itself, so it supports every scheduler.
PURE_SCHEDULERS = ("simple",)


def flow_sigma_table(shift: float, timesteps: int = 1000, multiplier: float = 1000) -> np.ndarray:
    """ComfyUI's ModelSamplingDiscreteFlow.sigmas, in float32 like torch computes them."""
    ts = (np.arange(1, timesteps + 1, dtype=np.int64) / np.float32(timesteps)).astype(np.float32)
    ts = (ts * np.float32(multiplier)).astype(np.float32)
    t: np.ndarray = (ts / np.float32(multiplier)).astype(np.float32)
    if shift == 1.0:
        return t
    a = np.float32(shift)
    num = (a * t).astype(np.float32)
    den = (np.float32(1) + (np.float32(shift - 1) * t).astype(np.float32)).astype(np.float32)
    out: np.ndarray = (num / den).astype(np.float32)
    return out


def sigmas_for(scheduler: str, steps: int, shift: float) -> list[float]:
    """The N+1 sigmas ComfyUI's `scheduler` gives for `steps` at `shift` (last one 0)."""
    if steps < 1:
        raise PlanError(f"steps must be at least 1, got {steps}")
    if scheduler not in PURE_SCHEDULERS:
        raise PlanError(
            f"scheduler {scheduler!r}: without ComfyUI only {', '.join(PURE_SCHEDULERS)} can be computed here; "
            "the Wan22ModeRouter node computes every scheduler from ComfyUI's own schedule"
        )
    table = flow_sigma_table(shift)
    ss = len(table) / steps
    sig = [float(table[-(1 + int(x * ss))]) for x in range(steps)]
    return sig + [0.0]


def split_step(sigmas: list[float], boundary: float) -> int:
    """Number of leading steps whose sigma is >= boundary (the high-noise expert's steps).

    Clamped to [1, N-1] when N >= 2 so each expert runs at least one step, as in every template.
    """
    n = len(sigmas) - 1
    count = sum(1 for s in sigmas[:n] if s >= boundary)
    if n >= 2:
        count = max(1, min(n - 1, count))
    return count


def split_closed_form(steps: int, shift: float, boundary: float) -> float:
    """floor(N*(1-t_b))+1 from the fact sheet: a cross-check for split_step, not used for routing."""
    t_b = boundary / (boundary + shift * (1 - boundary))
    return math.floor(steps * (1 - t_b)) + 1
