"""Benchmark and accuracy report for wan22.audio (S2V audio prep).

    python bench/bench_audio.py [--minutes 10] [--repeat 5] [--threads N] [--alternatives]

Prints, for M minutes of 48 kHz stereo float32 (a speech-like synthetic signal), best of N
interleaved runs, wall time and CPU time (all threads) and the x realtime they mean:
  * ours: prepare() full path: checks, channel average, resample to 16 kHz, DC, peak
    normalisation, padding to the frame plan;
  * ours: resample() alone, on the mean-downmixed mono;
  * torchaudio.functional.resample(mono, 48000, 16000) on the same mono, in the same process;
  * torchaudio: mean-downmix + resample (the least a torchaudio-based prep would do);
then the ratios ours / torchaudio (>1 = ours faster), the max abs error of our resampler
against torchaudio and against the exact (analytic) output for sines and a chirp at 8, 22.05,
44.1, 48 and 96 kHz, and the aliasing rejection of both for tones above the 8 kHz Nyquist.
With --alternatives, also the libraries wan22/audio/resample.py could have been (torchaudio
tuned to Kaiser width 64, scipy.signal.resample_poly, PyAV's swresample): speed on the same
mono, an in-band 6 kHz tone's max error and an 8.5 kHz tone's level left, at 48 and 44.1 kHz.

On a shared machine the wall figures move with background load; the CPU figures less so.
It measures and prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Callable

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wan22.audio.prepare import TARGET_SR, prepare
from wan22.audio.resample import resample

try:
    import torchaudio
except ImportError:  # pragma: no cover - reported, not fatal
    torchaudio = None


def speech_like(seconds: float, sr: int, channels: int = 2, seed: int = 0) -> torch.Tensor:
    """[1, C, T] float32: a harmonic voice with gliding pitch, syllable-rate envelope, some noise."""
    g = torch.Generator().manual_seed(seed)
    n = int(seconds * sr)
    t = torch.arange(n, dtype=torch.float64) / sr
    f0 = 140.0 + 60.0 * torch.sin(2 * math.pi * 0.3 * t)
    phase = 2 * math.pi * torch.cumsum(f0, 0) / sr
    voice = torch.zeros(n, dtype=torch.float64)
    for h, amp in ((1, 1.0), (2, 0.5), (3, 0.35), (5, 0.2), (8, 0.1), (13, 0.05)):
        voice += amp * torch.sin(h * phase)
    env = (0.5 + 0.5 * torch.sin(2 * math.pi * 4.0 * t)).clamp_min(0.0) ** 2
    mono = (voice * env).to(torch.float32)
    mono = 0.45 * mono / mono.abs().max()
    out = torch.empty(1, channels, n)
    for c in range(channels):
        out[0, c] = mono * (1.0 - 0.1 * c) + 0.003 * torch.randn(n, generator=g)
    return out


def best_of(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, tuple[float, float]]:
    """Interleaved best-of-N (wall seconds, CPU seconds of all threads): each round runs every
    function once, so background load on a shared machine hits all of them alike."""
    best = {k: (math.inf, math.inf) for k in fns}
    for _ in range(repeat):
        for k, f in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            best[k] = (min(best[k][0], wall), min(best[k][1], cpu))
    return best


def faded(fn: Callable[[torch.Tensor], torch.Tensor], t: torch.Tensor, dur: float, fade: float = 0.05) -> torch.Tensor:
    """fn(t) with raised-cosine fades so the test signal has no edge transients."""
    w = torch.ones_like(t)
    a = t < fade
    w[a] = 0.5 - 0.5 * torch.cos(math.pi * t[a] / fade)
    b = t > dur - fade
    w[b] = 0.5 - 0.5 * torch.cos(math.pi * (dur - t[b]).clamp_min(0) / fade)
    w[t > dur] = 0
    return fn(t) * w


def accuracy(sr: int, dur: float = 2.0) -> list[tuple[str, float, float, float]]:
    """[(signal, ours vs torchaudio, ours vs exact, torchaudio vs exact)] max abs errors."""
    nyq = min(sr, TARGET_SR) / 2
    sigs: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "sine 440 Hz": lambda t: 0.9 * torch.sin(2 * math.pi * 440.0 * t),
        "sine 1 kHz": lambda t: 0.9 * torch.sin(2 * math.pi * 1000.0 * t + 0.3),
        f"sine {0.75 * nyq / 1000:g} kHz": lambda t: 0.9 * torch.sin(2 * math.pi * 0.75 * nyq * t + 0.1),
        f"chirp 50 Hz-{0.5 * nyq / 1000:g} kHz": lambda t: 0.9 * torch.sin(
            2 * math.pi * (50.0 * t + (0.5 * nyq - 50.0) * t * t / (2 * dur))),
    }
    rows = []
    n_in = int(dur * sr)
    t_in = torch.arange(n_in, dtype=torch.float64) / sr
    for name, fn in sigs.items():
        x = faded(fn, t_in, dur).to(torch.float32)[None]
        ours = resample(x, sr, TARGET_SR)[0].double()
        t_out = torch.arange(ours.shape[-1], dtype=torch.float64) / TARGET_SR
        exact = faded(fn, t_out, dur)
        e_ours = float((ours - exact).abs().max())
        if torchaudio is not None:
            ref = torchaudio.functional.resample(x, sr, TARGET_SR)[0].double()
            rows.append((name, float((ours - ref).abs().max()), e_ours, float((ref - exact).abs().max())))
        else:
            rows.append((name, math.nan, e_ours, math.nan))
    return rows


def alias_rejection(sr: int, freq: float) -> tuple[float, float]:
    """dB of a full-scale tone at `freq` (above 8 kHz) left after resampling to 16 kHz."""
    t = torch.arange(sr, dtype=torch.float64) / sr
    x = faded(lambda tt: torch.sin(2 * math.pi * freq * tt), t, 1.0).to(torch.float32)[None]
    m = slice(1600, -1600)
    ours = resample(x, sr, TARGET_SR)[0, m]
    o = 20 * math.log10(max(float(ours.square().mean().sqrt()) * math.sqrt(2), 1e-12))
    if torchaudio is None:
        return o, math.nan
    ref = torchaudio.functional.resample(x, sr, TARGET_SR)[0, m]
    return o, 20 * math.log10(max(float(ref.square().mean().sqrt()) * math.sqrt(2), 1e-12))


def _pyav_resample(x: torch.Tensor, sr: int, new: int) -> torch.Tensor:
    import av
    import numpy as np

    r = av.AudioResampler(format="flt", layout="mono", rate=new)
    fr = av.AudioFrame.from_ndarray(x.numpy()[None].astype(np.float32), format="flt", layout="mono")
    fr.sample_rate = sr
    out = [f.to_ndarray() for f in r.resample(fr)] + [f.to_ndarray() for f in r.resample(None)]
    return torch.from_numpy(np.concatenate(out, axis=1)[0])


def _scipy_resample(x: torch.Tensor, sr: int, new: int) -> torch.Tensor:
    from scipy.signal import resample_poly

    g = math.gcd(sr, new)
    return torch.from_numpy(resample_poly(x.double().numpy(), new // g, sr // g).astype("float32"))


def resamplers() -> dict[str, Callable[[torch.Tensor, int, int], torch.Tensor]]:
    """Ours and every alternative importable here: mono [T] float32 in, mono [T'] out."""
    out: dict[str, Callable[[torch.Tensor, int, int], torch.Tensor]] = {"ours": resample}
    if torchaudio is not None:
        out["torchaudio default"] = torchaudio.functional.resample
        out["torchaudio kaiser w64"] = lambda x, sr, new: torchaudio.functional.resample(
            x, sr, new, lowpass_filter_width=64, rolloff=0.9475937167399596, resampling_method="sinc_interp_kaiser",
            beta=14.769656459379492)
    for name, mod, fn in (("scipy resample_poly", "scipy", _scipy_resample), ("PyAV swresample", "av", _pyav_resample)):
        try:
            __import__(mod)
        except ImportError:
            continue
        out[name] = fn
    return out


def alternatives(mono: torch.Tensor, secs: float, repeat: int) -> None:
    """Speed (best of `repeat` on `mono` at 48 kHz) and accuracy of ours and each alternative."""
    fns = resamplers()
    for f in fns.values():
        f(mono[:48000], 48000, TARGET_SR)
    best = best_of({k: (lambda f=f: f(mono, 48000, TARGET_SR)) for k, f in fns.items()}, repeat)
    print(f"\nalternatives: {secs / 60:g} min of 48 kHz mono -> 16 kHz; 6 kHz tone max error; 8.5 kHz tone level left")
    print(f"{'resampler':24s} {'wall s':>7s} {'x realtime':>11s} {'ours is':>12s}   {'rate':>6s} {'6 kHz err':>9s} {'8.5 kHz':>8s}")
    for k, f in fns.items():
        wall = best[k][0]
        for j, sr in enumerate((48000, 44100)):
            t = torch.arange(2 * sr, dtype=torch.float64) / sr
            tone = faded(lambda tt: 0.9 * torch.sin(2 * math.pi * 6000.0 * tt + 0.1), t, 2.0).to(torch.float32)
            y = f(tone, sr, TARGET_SR).double()[:2 * TARGET_SR]
            exact = faded(lambda tt: 0.9 * torch.sin(2 * math.pi * 6000.0 * tt + 0.1),
                          torch.arange(y.shape[0], dtype=torch.float64) / TARGET_SR, 2.0)
            hi = faded(lambda tt: torch.sin(2 * math.pi * 8500.0 * tt), t[:sr], 1.0).to(torch.float32)
            left = f(hi, sr, TARGET_SR)[1600:-1600]
            db = 20 * math.log10(max(float(left.square().mean().sqrt()) * math.sqrt(2), 1e-12))
            head = f"{k:24s} {wall:7.3f} {secs / wall:11.0f} {wall / best['ours'][0]:5.2f}x faster" if j == 0 else " " * 57
            print(f"{head}   {sr:6d} {float((y - exact).abs().max()):9.2e} {db:6.1f} dB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--alternatives", action="store_true", help="also time and measure the libraries we could use")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    secs = a.minutes * 60
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), torchaudio {getattr(torchaudio, '__version__', 'not installed')}, "
          f"load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "")
    print(f"input: {secs / 60:g} min of 48 kHz stereo float32 ({int(secs * 48000):,} samples per channel), best of {a.repeat}")
    x = speech_like(secs, 48000)
    mono = x.mean(1)
    fns: dict[str, Callable[[], object]] = {
        "ours: prepare() full path": lambda: prepare(x, 48000),
        "ours: resample() alone": lambda: resample(mono, 48000, 16000),
    }
    if torchaudio is not None:
        fns["torchaudio.functional.resample"] = lambda: torchaudio.functional.resample(mono, 48000, 16000)
        fns["torchaudio: mean-downmix + resample"] = lambda: torchaudio.functional.resample(x.mean(1), 48000, 16000)
    for f in fns.values():  # warm up (filter design cache, allocator)
        f()
    best = best_of(fns, a.repeat)
    print(f"\n{'path':36s} {'best wall s':>11s} {'x realtime':>11s} {'best CPU s':>11s} {'x realtime/CPU':>15s}")
    for k, (wall, cpu) in best.items():
        print(f"{k:36s} {wall:11.3f} {secs / wall:11.0f} {cpu:11.3f} {secs / cpu:15.0f}")
    if torchaudio is not None:
        print("\nratio, speed ours / torchaudio (>1 = ours faster):")
        for ours_k, ta_k in (("ours: resample() alone", "torchaudio.functional.resample"),
                             ("ours: prepare() full path", "torchaudio: mean-downmix + resample"),
                             ("ours: prepare() full path", "torchaudio.functional.resample")):
            (w, c), (ta_w, ta_c) = best[ours_k], best[ta_k]
            print(f"  {ours_k:28s} vs {ta_k:36s} wall {ta_w / w:5.2f}x   CPU {ta_c / c:5.2f}x")
        y1 = resample(mono, 48000, 16000)
        y2 = torchaudio.functional.resample(mono, 48000, 16000)
        print(f"on this signal, max |ours - torchaudio| = {float((y1 - y2).abs().max()):.2e} (peak 0.45; its harmonics "
              "reach ~4.7 kHz, where torchaudio's filter already rolls off)")

    print("\naccuracy (max abs error over the whole 2 s signal, amplitude 0.9, 50 ms fades):")
    print(f"{'rate':>8s}  {'signal':24s} {'ours-ta':>9s} {'ours-exact':>11s} {'ta-exact':>9s}")
    for sr in (8000, 22050, 44100, 48000, 96000):
        for name, e_ta, e_ours, ta_exact in accuracy(sr):
            print(f"{sr:8d}  {name:24s} {e_ta:9.2e} {e_ours:11.2e} {ta_exact:9.2e}")
    print("\naliasing: level left of a full-scale tone above the 8 kHz output Nyquist (lower is better)")
    for sr, f in ((48000, 8500.0), (48000, 9000.0), (48000, 12000.0), (44100, 9000.0), (96000, 20000.0)):
        o, r = alias_rejection(sr, f)
        print(f"{sr:8d} Hz, {f / 1000:5.1f} kHz tone: ours {o:7.1f} dB, torchaudio {r:7.1f} dB")
    if a.alternatives:
        alternatives(mono[0], secs, a.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
