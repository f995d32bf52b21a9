"""Levels of S2V audio: finiteness and clipping scan, DC and channel statistics, peak / loudness
normalisation under a -1 dBFS ceiling, fades, and an approximate BS.1770 loudness meter.

The meter (:func:`integrated_loudness`) is an FFT-magnitude approximation of ITU-R BS.1770-4
(within ~0.5 dB for speech and music, exact for the standard's 997 Hz reference); it only
serves ``normalize="loudness"``, which is not the default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import AudioError

PEAK_CEILING_DBFS = -1.0
LOUDNESS_TARGET_LUFS = -20.0
SILENCE_DBFS = -80.0

_SCAN_BLOCK = 4096
_EXCERPTS = 16

# ITU-R BS.1770-4 K-weighting, the standard's coefficients at 48 kHz. Evaluated at the bin
# frequencies (< 8 kHz for 16 kHz audio) they give the standard's magnitude response.
_K_SHELF = ((1.53512485958697, -2.69169618940638, 1.19839281085285), (1.0, -1.69065929318241, 0.73248077421585))
_K_HP = ((1.0, -2.0, 1.0), (1.0, -1.99004745483398, 0.99007225036621))


def db(x: float) -> float:
    """20 log10 of an amplitude; -inf for 0."""
    return 20.0 * math.log10(x) if x > 0 else -math.inf


def fmt_db(x: float) -> str:
    """A dB figure for messages: ``+1.5``, ``-20.0`` or ``-inf``."""
    return "-inf" if not math.isfinite(x) else f"{x:+.1f}"


# --------------------------------------------------------------------------------------------
# scans and statistics of the input
# --------------------------------------------------------------------------------------------


def _scan(x: torch.Tensor) -> tuple[float, float, int]:
    """(min, max, flat tops) of ``x`` [C, T]. A flat top is a sample equal to the signal's max
    (or min) and to the sample before it: what clipping leaves. One pass of per-block max/min
    (NaN/Inf propagate into min/max); only blocks that reach the peak are searched for flat
    tops, so clean audio costs no more than the min/max pass."""
    c, t = int(x.shape[0]), int(x.shape[1])
    bs = _SCAN_BLOCK
    tb = t // bs * bs
    maxes: list[torch.Tensor] = []
    mins: list[torch.Tensor] = []
    bmax = bmin = None
    if tb:
        xv = x[:, :tb].reshape(c, tb // bs, bs)  # a view: rows keep their stride
        bmax, bmin = xv.amax(-1), xv.amin(-1)
        maxes.append(bmax.amax())
        mins.append(bmin.amin())
    if tb < t:
        maxes.append(x[:, tb:].amax())
        mins.append(x[:, tb:].amin())
    hi = float(torch.stack(maxes).amax())
    lo = float(torch.stack(mins).amin())
    if not (math.isfinite(hi) and math.isfinite(lo)) or hi == lo:
        return lo, hi, 0
    starts: list[tuple[int, int, int]] = []  # (channel, start, stop) slices to search
    if bmax is not None and bmin is not None:
        cand = ((bmax == hi) | (bmin == lo)).nonzero().tolist()
        if len(cand) > 256:  # heavily clipped: search everything
            starts = [(ch, 0, t) for ch in range(c)]
        else:
            starts = [(ch, j * bs, (j + 1) * bs) for ch, j in cand]
    if tb < t and not (starts and starts[0][1:] == (0, t)):
        starts += [(ch, tb, t) for ch in range(c)]
    return lo, hi, sum(_flat_tops(x[ch, max(a - 1, 0):b], lo, hi) for ch, a, b in starts)


def _flat_tops(seg: torch.Tensor, lo: float, hi: float) -> int:
    """Samples of ``seg`` equal to the one before and to ``hi`` (> 0) or ``lo`` (< 0)."""
    if seg.shape[0] < 2:
        return 0
    prev, cur = seg[:-1], seg[1:]
    n = 0
    if hi > 0:  # both samples at the maximum <=> the smaller of the two is the maximum
        n += int(torch.count_nonzero(torch.minimum(prev, cur) == hi))
    if lo < 0:
        n += int(torch.count_nonzero(torch.maximum(prev, cur) == lo))
    return n


def check_finite(x: torch.Tensor, sr: int, first_sample: int = 0) -> tuple[float, int]:
    """(peak, flat tops) of ``x`` [C, T] at ``sr`` Hz; :class:`AudioError` with the NaN and Inf
    counts and the time of the first one (``first_sample`` is where ``x`` starts in the source)."""
    lo, hi, flat = _scan(x)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        bad = ~torch.isfinite(x)
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(bad.sum()) - n_nan
        first = first_sample + int(bad.any(0).nonzero()[0, 0])
        raise AudioError(f"audio has invalid samples ({n_nan} NaN, {n_inf} Inf; first at {first / sr:.3f} s): "
                         "the decoder or an upstream node produced broken data; re-export the audio")
    return max(-lo, hi), flat


def input_warnings(peak: float, flat: int) -> list[str]:
    """Warnings about the input's level: clipped (3+ flat tops at the peak), above full scale."""
    out = []
    if flat >= 3 and peak > 10 ** (SILENCE_DBFS / 20):
        out.append(f"input looks clipped: {flat} samples sit flat at the peak ({fmt_db(db(peak))} dBFS); "
                   "speech may be distorted; use an unclipped source if you have one")
    if peak > 1.0 + 1e-6:
        out.append(f"input peaks above full scale ({fmt_db(db(peak))} dBFS); the output is kept under full "
                   "scale, but anything that clipped upstream stays clipped")
    return out


def excerpt_stats(x: torch.Tensor, sr: int) -> tuple[float, float, float]:
    """(DC, mean square per channel, mean square of the channel average, both without DC) from
    up to 16 one-second excerpts spread over ``x`` [C, T] (all of it when it is short): a cheap,
    deterministic estimate for the DC pre-removal and the phase-cancellation check."""
    t = int(x.shape[1])
    n = min(sr, t)
    if t <= _EXCERPTS * n:
        parts = x
    else:
        starts = [round(i * (t - n) / (_EXCERPTS - 1)) for i in range(_EXCERPTS)]
        parts = torch.cat([x[:, a:a + n] for a in starts], dim=1)
    dc = float(parts.mean())
    centred = parts - dc
    ch_ms = float(centred.square().mean())
    mono_ms = float(centred.mean(0).square().mean())
    return dc, ch_ms, mono_ms


# --------------------------------------------------------------------------------------------
# normalisation and fades
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """What :func:`normalise` did: ``gain`` applied, ``peak`` before it, loudness after it."""

    gain: float
    peak: float  # linear peak before the gain
    loudness_lufs: float  # after the gain; NaN unless mode "loudness" measured it
    silent: bool  # peak at or below SILENCE_DBFS: gain left at 1
    notes: tuple[str, ...] = ()


def normalise(y: torch.Tensor, mode: str, sr: int) -> Level:
    """Scale mono ``y`` (at ``sr`` Hz) in place: "peak" to -1 dBFS, "loudness" to -20 LUFS but never above the
    -1 dBFS peak ceiling, "none" unchanged unless the peak is above full scale. Silence is left
    alone."""
    ylo, yhi = torch.aminmax(y)
    peak = max(-float(ylo), float(yhi))
    silent = peak <= 10 ** (SILENCE_DBFS / 20)
    ceiling = 10 ** (PEAK_CEILING_DBFS / 20)
    gain = 1.0
    loud = math.nan  # measured only for normalize="loudness" (it costs an extra FFT pass)
    notes: list[str] = []
    if silent:
        pass
    elif mode == "peak":
        gain = ceiling / peak
    elif mode == "loudness":
        loud = integrated_loudness(y, sr)
        gain = 10 ** ((LOUDNESS_TARGET_LUFS - loud) / 20) if math.isfinite(loud) else 1.0
        if peak * gain > ceiling:
            notes.append(f"loudness target {LOUDNESS_TARGET_LUFS:g} LUFS not reached: held at the "
                         f"{PEAK_CEILING_DBFS:g} dBFS peak ceiling")
            gain = ceiling / peak
    elif peak > 1.0:
        gain = ceiling / peak
    if gain != 1.0:
        y.mul_(gain)
    if math.isfinite(loud):
        loud += db(gain)
    return Level(gain=gain, peak=peak, loudness_lufs=loud, silent=silent, notes=tuple(notes))


def fade(y: torch.Tensor, n_in: int, n_out: int) -> None:
    """Raised-cosine fade-in over the first ``n_in`` and fade-out over the last ``n_out`` samples
    of ``y`` [T], in place (each at most half of ``y``)."""
    t = int(y.shape[-1])
    for n, front in ((n_in, True), (n_out, False)):
        n = min(n, t // 2)
        if n <= 0:
            continue
        ramp = 0.5 - 0.5 * torch.cos(torch.linspace(0.0, math.pi, n + 2, dtype=torch.float32, device=y.device)[1:-1])
        if front:
            y[:n].mul_(ramp)
        else:
            y[t - n:].mul_(ramp.flip(0))


# --------------------------------------------------------------------------------------------
# loudness
# --------------------------------------------------------------------------------------------


def _k_weight_power(freqs_hz: torch.Tensor) -> torch.Tensor:
    w = 2.0 * math.pi * freqs_hz.to(torch.float64) / 48000.0
    z1 = torch.exp(-1j * w)
    z2 = z1 * z1
    p = torch.ones_like(w)
    for b, a in (_K_SHELF, _K_HP):
        num = b[0] + b[1] * z1 + b[2] * z2
        den = a[0] + a[1] * z1 + a[2] * z2
        p = p * (num.abs() ** 2 / den.abs() ** 2)
    return p


def integrated_loudness(x: torch.Tensor, sr: int) -> float:
    """Approximate BS.1770 gated integrated loudness (LUFS) of mono ``x``.

    K-weighting is applied as a magnitude weighting of each 100 ms segment's spectrum
    (Parseval; segments are treated as periodic, an approximation within ~0.5 dB for speech
    and music); 400 ms blocks with 75 % overlap are averages of four segments; then the
    -70 LUFS absolute and -10 LU relative gates. Audio shorter than 400 ms is one block.
    No true-peak or channel weighting (the input is mono). Returns -inf for silence.
    """
    x = x.reshape(-1).to(torch.float32)
    seg = max(1, sr // 10)
    n = int(x.shape[0]) // seg
    if n < 4:
        seg, n = int(x.shape[0]), 1
        blocks = x[None]
    else:
        blocks = x[: n * seg].reshape(n, seg)
    if seg == 0:
        return -math.inf
    spec = torch.view_as_real(torch.fft.rfft(blocks, dim=-1))  # [n, K, 2]
    freqs = torch.fft.rfftfreq(seg, d=1.0 / sr, dtype=torch.float64)
    wgt = _k_weight_power(freqs)
    wgt[1:] *= 2.0  # one-sided spectrum
    if seg % 2 == 0:
        wgt[-1] /= 2.0
    wgt = (wgt / (seg * seg)).to(torch.float32)  # Parseval: sum x^2 = sum |X|^2 / seg; then per-sample mean
    power = spec.square_().sum(-1) @ wgt  # [n] mean square of each K-weighted segment
    z = power.to(torch.float64)
    if n >= 4:
        z = z.unfold(0, 4, 1).mean(-1)
    lk = -0.691 + 10.0 * torch.log10(z.clamp_min(1e-30))
    gated = z[lk > -70.0]
    if gated.numel() == 0:
        return -math.inf
    rel = -0.691 + 10.0 * math.log10(float(gated.mean())) - 10.0
    gated = z[(lk > -70.0) & (lk > rel)]
    return -0.691 + 10.0 * math.log10(float(gated.mean()))
