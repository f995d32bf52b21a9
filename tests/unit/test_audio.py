"""wan22.audio (S2V audio prep) and the audio-prep CLI: resampling accuracy, layouts, dtypes,
frame-plan arithmetic, levels, files and every bad input the issue lists.

torchaudio is only a test reference (skipped with a reason when missing); PyAV is needed for the
file tests (skipped likewise). No ComfyUI needed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="wan22.audio needs torch (ComfyUI always has it)")

from wan22.audio.files import load_audio_file, write_wav  # noqa: E402
from wan22.audio.frames import frame_plan, frames_for, round_frames  # noqa: E402
from wan22.audio.levels import LOUDNESS_TARGET_LUFS, integrated_loudness  # noqa: E402
from wan22.audio.prepare import TARGET_SR, prepare  # noqa: E402
from wan22.audio.resample import resample  # noqa: E402
from wan22.cli import main as cli_main  # noqa: E402
from wan22.errors import AudioError  # noqa: E402

try:
    import torchaudio
except ImportError:  # pragma: no cover - depends on the machine
    torchaudio = None

try:
    import av
except ImportError:  # pragma: no cover - depends on the machine
    av = None

needs_torchaudio = pytest.mark.skipif(torchaudio is None, reason="torchaudio (the accuracy reference) is not installed")
needs_av = pytest.mark.skipif(av is None, reason="PyAV (the file decoder) is not installed")

RATES = (8000, 22050, 44100, 48000, 96000)


def _fade(t: torch.Tensor, dur: float, fade: float = 0.05) -> torch.Tensor:
    w = torch.ones_like(t)
    a = t < fade
    w[a] = 0.5 - 0.5 * torch.cos(math.pi * t[a] / fade)
    b = t > dur - fade
    w[b] = 0.5 - 0.5 * torch.cos(math.pi * (dur - t[b]).clamp_min(0) / fade)
    w[t > dur] = 0
    return w


def _signal(kind: str, sr: int, dur: float = 1.0) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """(float32 [1, T] at sr, exact function of time) for a faded sine or chirp (amplitude 0.9)."""
    nyq = min(sr, TARGET_SR) / 2
    if kind == "sine440":
        def f(t: torch.Tensor) -> torch.Tensor:
            return 0.9 * torch.sin(2 * math.pi * 440.0 * t)
    elif kind == "sine1k":
        def f(t: torch.Tensor) -> torch.Tensor:
            return 0.9 * torch.sin(2 * math.pi * 1000.0 * t + 0.3)
    elif kind == "sine_hi":  # 0.8 of the lower Nyquist: inside our pass band
        def f(t: torch.Tensor) -> torch.Tensor:
            return 0.9 * torch.sin(2 * math.pi * 0.8 * nyq * t + 0.1)
    elif kind == "chirp_mid":  # 50 Hz -> half the lower Nyquist
        def f(t: torch.Tensor) -> torch.Tensor:
            return 0.9 * torch.sin(2 * math.pi * (50.0 * t + (0.5 * nyq - 50.0) * t * t / (2 * dur)))
    elif kind == "chirp_full":  # 50 Hz -> 0.85 of the lower Nyquist
        def f(t: torch.Tensor) -> torch.Tensor:
            return 0.9 * torch.sin(2 * math.pi * (50.0 * t + (0.85 * nyq - 50.0) * t * t / (2 * dur)))
    else:  # pragma: no cover
        raise ValueError(kind)

    def g(t: torch.Tensor) -> torch.Tensor:
        return f(t) * _fade(t, dur)

    t_in = torch.arange(int(dur * sr), dtype=torch.float64) / sr
    return g(t_in).to(torch.float32)[None], g


def _exact_out(g: Callable[[torch.Tensor], torch.Tensor], n: int) -> torch.Tensor:
    return g(torch.arange(n, dtype=torch.float64) / TARGET_SR)


# --------------------------------------------------------------------------------------------
# resampling
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("kind", ["sine440", "sine1k", "sine_hi", "chirp_mid", "chirp_full"])
def test_resample_matches_the_exact_signal(sr: int, kind: str) -> None:
    x, g = _signal(kind, sr)
    y = resample(x, sr, TARGET_SR)
    assert y.dtype == torch.float32
    assert y.shape == (1, math.ceil(x.shape[-1] * TARGET_SR / sr))
    err = float((y[0].double() - _exact_out(g, y.shape[-1])).abs().max())
    assert err < 5e-5, f"{kind} at {sr} Hz: max error {err:.2e} against the exact output"


@needs_torchaudio
@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("kind", ["sine440", "sine1k", "chirp_mid"])
def test_resample_matches_torchaudio_in_band(sr: int, kind: str) -> None:
    x, g = _signal(kind, sr)
    ours = resample(x, sr, TARGET_SR)
    ref = torchaudio.functional.resample(x, sr, TARGET_SR)
    assert ours.shape == ref.shape
    err = float((ours - ref).abs().max())
    # torchaudio's own error against the exact signal is what separates us (its Hann filter
    # ripples ~2e-4..4e-4 in band and rolls off early); we are within that of it
    ref_err = float((ref[0].double() - _exact_out(g, ref.shape[-1])).abs().max())
    limit = 1e-3 if kind.startswith("sine") else 5e-3
    assert err < limit, f"{kind} at {sr} Hz: max |ours - torchaudio| = {err:.2e}"
    assert err <= ref_err + 5e-5


@needs_torchaudio
@pytest.mark.parametrize(("orig", "n"), [(48000, 1), (48000, 2), (48000, 3), (44100, 7), (44100, 4411), (22050, 100),
                                         (8000, 1), (8000, 33), (96000, 12345), (11025, 999), (32000, 5000), (16000, 17)])
def test_resample_length_and_alignment_match_torchaudio(orig: int, n: int) -> None:
    g = torch.Generator().manual_seed(n)
    x = torch.randn(2, n, generator=g)
    ours = resample(x, orig, TARGET_SR)
    ref = torchaudio.functional.resample(x, orig, TARGET_SR)
    assert ours.shape == ref.shape
    if n >= 2000:  # same time alignment: a slow sine lines up sample for sample
        t = torch.arange(n, dtype=torch.float64) / orig
        s = torch.sin(2 * math.pi * 300 * t).float()[None]
        mid = slice(200, -200)
        assert float((resample(s, orig, 16000) - torchaudio.functional.resample(s, orig, 16000))[..., mid].abs().max()) < 2e-3


def test_resample_odd_rate() -> None:
    # 44101 Hz: no common factor with 16000 (torchaudio builds a 16000-phase kernel for this)
    x, g = _signal("chirp_mid", 44101, dur=0.5)
    y = resample(x, 44101, 16000)
    assert y.shape[-1] == math.ceil(x.shape[-1] * 16000 / 44101)
    assert float((y[0].double() - _exact_out(g, y.shape[-1])).abs().max()) < 5e-5


def test_resample_is_anti_aliased() -> None:
    # a full-scale 9 kHz tone at 48 kHz would alias to 7 kHz; it must be gone (< -80 dB)
    t = torch.arange(48000, dtype=torch.float64) / 48000
    x = (torch.sin(2 * math.pi * 9000 * t) * _fade(t, 1.0)).float()[None]
    y = resample(x, 48000, 16000)
    assert float(y.abs().max()) < 1e-4
    # and an 8.5 kHz tone from 44.1 kHz
    t = torch.arange(44100, dtype=torch.float64) / 44100
    x = (torch.sin(2 * math.pi * 8500 * t) * _fade(t, 1.0)).float()[None]
    assert float(resample(x, 44100, 16000).abs().max()) < 1e-4


# The resampler's reason to exist, held as thresholds (wan22/audio/resample.py says why it is
# hand-written; bench/bench_audio.py prints the accuracy figures). Measured with torch 2.9.1 on
# x86_64: full-scale noise above 8.1 kHz leaves at most -134.3 dB (22.05 kHz input), the pass
# band is within 8.6e-5 dB of unity up to 0.90 of the lower Nyquist, the chirp SNR is at least
# 115.6 dB (44.1 kHz). The limits keep about 15 dB, 3x and 10 dB of margin. Each limit fails for
# a weaker filter: a stop edge at 1.05 of Nyquist leaves up to -95.6 dB of the noise; a -80 dB design
# ripples 5e-4 dB and drops the SNR to 96 dB; a pass edge at 0.85 is 1.3 dB down at 7.2 kHz.
STOP_BAND_MAX_DB = -120.0
PASS_BAND_RIPPLE_DB = 3e-4
SNR_MIN_DB = 105.0
ODD_RATES = (*RATES, 44101)  # 44101 Hz: no common factor with 16000


def _tones(sr: int, freqs: list[float], amp: float = 1.0, dur: float = 1.0) -> torch.Tensor:
    """float32 [len(freqs), T]: one faded sine per row."""
    t = torch.arange(int(sr * dur), dtype=torch.float64) / sr
    f = torch.tensor(freqs, dtype=torch.float64)[:, None]
    return (amp * torch.sin(2 * math.pi * f * t) * _fade(t, dur)).float()


def _steady(y: torch.Tensor) -> torch.Tensor:
    """The 16 kHz output between 0.1 s and 0.9 s: past the 50 ms fades and the filter's reach."""
    return y[..., TARGET_SR // 10: -(TARGET_SR // 10)]


def _level_db(y: torch.Tensor) -> float:
    return 20 * math.log10(max(float(y.abs().max()), 1e-20))


def _stop_band_noise(sr: int, lowest: float = 8100.0) -> torch.Tensor:
    """float32 [1, sr] of full-scale-peak white noise with nothing below ``lowest`` Hz (cut exactly
    in the spectrum of the whole second): everything in it would alias into a 16 kHz output."""
    x = torch.randn(sr, generator=torch.Generator().manual_seed(sr), dtype=torch.float64)
    spec = torch.fft.rfft(x)
    spec[torch.fft.rfftfreq(sr, 1.0 / sr, dtype=torch.float64) < lowest] = 0
    y = torch.fft.irfft(spec, n=sr)
    return (y / y.abs().max()).float()[None]


@pytest.mark.parametrize("sr", [22050, 44100, 48000, 96000, 44101])
def test_resampler_stop_band_rejection(sr: int) -> None:
    # noise from 8.1 kHz up to the input's Nyquist: the largest sample that comes out
    left = _level_db(_steady(resample(_stop_band_noise(sr), sr, TARGET_SR)))
    assert left <= STOP_BAND_MAX_DB, f"{sr} Hz: stop-band noise leaves {left:.1f} dB (limit {STOP_BAND_MAX_DB} dB)"


@pytest.mark.parametrize("sr", ODD_RATES)
def test_resampler_pass_band_is_flat(sr: int) -> None:
    # the gain at 24 frequencies up to the pass edge (0.90 of the lower Nyquist), by a least-squares
    # fit of the known tone to the steady part of the output
    edge = 0.9 * min(sr, TARGET_SR) / 2
    tones = torch.linspace(50.0, edge, 24).tolist()
    y = _steady(resample(_tones(sr, tones, amp=0.5), sr, TARGET_SR)).double()
    t = (torch.arange(y.shape[-1], dtype=torch.float64) + TARGET_SR // 10) / TARGET_SR
    dev = {}
    for f, row in zip(tones, y):
        basis = torch.stack([torch.sin(2 * math.pi * f * t), torch.cos(2 * math.pi * f * t)])  # [2, T]
        coef = torch.linalg.solve(basis @ basis.T, basis @ row)  # least squares, normal equations
        dev[f] = abs(20 * math.log10(float(coef.norm()) / 0.5))
    at = max(dev, key=lambda f: dev[f])
    assert dev[at] <= PASS_BAND_RIPPLE_DB, f"{sr} Hz: gain off by {dev[at]:.2e} dB at {at:.0f} Hz (limit {PASS_BAND_RIPPLE_DB} dB)"


@pytest.mark.parametrize("sr", ODD_RATES)
def test_resampler_snr_against_the_exact_signal(sr: int) -> None:
    x, g = _signal("chirp_full", sr)  # 50 Hz -> 0.85 of the lower Nyquist, 1 s
    y = resample(x, sr, TARGET_SR)[0].double()
    exact = _exact_out(g, y.shape[-1])
    snr = 10 * math.log10(float(exact.square().sum()) / float((y - exact).square().sum()))
    assert snr >= SNR_MIN_DB, f"{sr} Hz: SNR {snr:.1f} dB against the exact chirp (limit {SNR_MIN_DB} dB)"


@needs_torchaudio
def test_the_reason_torchaudio_defaults_alias() -> None:
    # what ComfyUI's S2V path would do without us: torchaudio.functional.resample with its
    # defaults lets a full-scale 8.5 kHz tone from 48 kHz through at -10.8 dB (measured). If this
    # fails, torchaudio's defaults have become anti-aliased: re-measure and reconsider resample.py.
    x = _tones(48000, [8500.0])
    ref = _level_db(_steady(torchaudio.functional.resample(x, 48000, TARGET_SR)))
    ours = _level_db(_steady(resample(x, 48000, TARGET_SR)))
    assert ref > -40.0, f"torchaudio's default resampler now leaves only {ref:.1f} dB of an 8.5 kHz tone"
    assert ours <= STOP_BAND_MAX_DB and ours < ref - 60.0


def test_resample_keeps_leading_axes_and_identity_rate() -> None:
    x = torch.randn(3, 2, 4800)
    y = resample(x, 48000, 16000)
    assert y.shape == (3, 2, 1600)
    assert torch.allclose(y[1, 0], resample(x[1, 0], 48000, 16000), atol=1e-6)
    z = torch.randn(2, 100)
    same = resample(z, 16000, 16000)
    assert torch.equal(same, z) and same.data_ptr() != z.data_ptr()


def test_resample_long_signal_crosses_blocks_seamlessly() -> None:
    # longer than one FFT block group: block joins must be invisible
    sr = 48000
    n = int(sr * 100)
    t = torch.arange(n, dtype=torch.float64) / sr
    x = (0.8 * torch.sin(2 * math.pi * 1234.5 * t)).float()[None]
    y = resample(x, sr, 16000)[0]
    to = torch.arange(y.shape[-1], dtype=torch.float64) / 16000
    exact = 0.8 * torch.sin(2 * math.pi * 1234.5 * to)
    inner = slice(1000, -1000)
    assert float((y.double() - exact)[inner].abs().max()) < 2e-5


# --------------------------------------------------------------------------------------------
# layouts and dtypes
# --------------------------------------------------------------------------------------------


def _tone(sr: int, dur: float, f: float = 440.0, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(sr * dur), dtype=torch.float64) / sr
    return (amp * torch.sin(2 * math.pi * f * t)).float()


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_channel_layouts_downmix_to_the_mean(channels: int) -> None:
    sr = 44100
    base = _tone(sr, 1.0)
    gains = torch.linspace(1.0, 0.4, channels)
    x = (gains[:, None] * base[None])[None]  # [1, C, T]
    p = prepare(x, sr, normalize="none", pad=False)
    assert p.waveform.shape == (1, 1, 16000)
    assert p.waveform.dtype == torch.float32
    assert p.source_channels == channels
    expect = resample(x[0].mean(0), sr, 16000)
    expect = expect - expect.mean()
    assert float((p.waveform[0, 0] - expect).abs().max()) < 1e-5


def test_accepts_t_ct_and_bct_shapes_and_numpy() -> None:
    sr = 22050
    x = _tone(sr, 0.5)
    a = prepare(x, sr).waveform
    b = prepare(x[None], sr).waveform
    c = prepare(x[None, None], sr).waveform
    d = prepare(x.numpy(), sr).waveform
    assert a.shape == b.shape == c.shape == d.shape == (1, 1, frame_plan(0.5).frames * 1000)
    assert torch.equal(a, b) and torch.equal(a, c) and torch.allclose(a, d)


@pytest.mark.parametrize(("dtype", "scale", "offset"), [
    (torch.int16, 2 ** 15, 0), (torch.int32, 2 ** 31, 0), (torch.uint8, 128, 128), (torch.int8, 128, 0),
    (torch.float64, 1, 0), (torch.float16, 1, 0), (torch.bfloat16, 1, 0),
])
def test_int_and_float_dtypes_are_scaled_to_full_scale(dtype: torch.dtype, scale: int, offset: int) -> None:
    sr = 16000
    f = _tone(sr, 0.5, amp=0.5)
    if dtype.is_floating_point:
        x = f.to(dtype)
    else:
        x = (torch.round(f.double() * scale) + offset).clamp(torch.iinfo(dtype).min, torch.iinfo(dtype).max).to(dtype)
    p = prepare(x[None], sr, normalize="none", pad=False)
    tol = 2e-2 if dtype in (torch.uint8, torch.int8, torch.bfloat16) else 2e-3
    assert abs(10 ** (p.peak_dbfs / 20) - 0.5) < tol, (dtype, p.peak_dbfs)
    assert float((p.waveform[0, 0] - (f - f.mean())).abs().max()) < tol


def test_numpy_unsigned_16_bit_is_centred() -> None:
    f = _tone(16000, 0.25, amp=0.5).double().numpy()
    x = np.round(f * 32768 + 32768).astype(np.uint16)
    p = prepare(x, 16000, normalize="none", pad=False)
    assert abs(10 ** (p.peak_dbfs / 20) - 0.5) < 1e-3


def test_batch_index_picks_one_item() -> None:
    sr = 16000
    items = torch.stack([_tone(sr, 0.5, f=f)[None] for f in (200.0, 400.0, 800.0)])  # [3, 1, T]
    p = prepare(items, sr, batch_index=2, normalize="none", pad=False)
    expect = items[2, 0] - items[2, 0].mean()
    assert torch.allclose(p.waveform[0, 0], expect, atol=1e-6)


# --------------------------------------------------------------------------------------------
# frame plan
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "frames"), [
    (0.0, 5), (0.01, 5), (0.25, 5), (5 / 16, 5), (5 / 16 + 1e-4, 9), (3.0, 49), (48.5 / 16, 49), (49 / 16, 49),
    (49 / 16 + 0.001, 53), (77 / 16, 77), (77 / 16 + 1e-9, 77), (77 / 16 + 1e-3, 81), (5.0, 81), (12.3, 197),
    (10.0, 161), (600.0, 9601),
])
def test_frames_cover_the_audio_with_4n_plus_1(seconds: float, frames: int) -> None:
    n = frames_for(seconds, 16.0)
    assert n == frames
    assert (n - 1) % 4 == 0 and n >= 5
    assert n / 16 >= seconds - 1e-9  # every sample of audio gets a frame
    assert n < 5 or (n - 4) / 16 < seconds or n == 5  # and 4 fewer frames would not have covered it


def test_frames_at_other_fps() -> None:
    assert frames_for(3.0, 24.0) == 73
    assert frames_for(2.0, 25.0) == 53
    assert round_frames(80) == 81 and round_frames(77) == 77 and round_frames(1) == 5 and round_frames(78) == 81


@pytest.mark.parametrize(("seconds", "frames", "lengths", "offsets", "windows"), [
    (3.0, 49, [49], [0], [(0.0, 3.25)]),
    (4.8125, 77, [77], [0], [(0.0, 5.0)]),
    (5.0, 81, [77, 1], [0, 80], [(0.0, 5.0), (5.0, 5.25)]),
    (9.8125, 157, [77, 77], [0, 80], [(0.0, 5.0), (5.0, 10.0)]),
    (12.3, 197, [77, 77, 37], [0, 80, 160], [(0.0, 5.0), (5.0, 10.0), (10.0, 12.5)]),
])
def test_chunk_plan_worked_examples(seconds: float, frames: int, lengths: list[int], offsets: list[int],
                                    windows: list[tuple[float, float]]) -> None:
    p = frame_plan(seconds)
    assert p.frames == frames
    assert [s.length for s in p.steps] == lengths
    assert [s.frame_offset for s in p.steps] == offsets
    assert [(s.audio_start, s.audio_end) for s in p.steps] == windows
    assert p.chunks == len(lengths) and p.extend_steps == len(lengths) - 1
    assert p.steps[0].node == "WanSoundImageToVideo"
    assert all(s.node == "WanSoundImageToVideoExtend" for s in p.steps[1:])
    assert p.seconds == frames / 16


@pytest.mark.parametrize("chunk", [5, 9, 41, 77, 81, 121])
def test_chunk_plan_invariants(chunk: int) -> None:
    lat_chunk = (chunk - 1) // 4 + 1
    for frames in range(5, 700, 4):
        p = frame_plan(0.0, chunk=chunk, frames=frames)
        assert p.frames == frames
        assert p.chunks == math.ceil(frames / (4 * lat_chunk))
        assert all(s.length == chunk for s in p.steps[:-1])
        assert 1 <= p.steps[-1].length <= chunk and (p.steps[-1].length - 1) % 4 == 0
        assert sum(s.latent_frames for s in p.steps) == (frames - 1) // 4 + 1
        # what ComfyUI computes: latent_t = (length - 1) // 4 + 1; Extend offset = 4 x latents so far
        lat = 0
        for s in p.steps:
            assert s.latent_frames == (s.length - 1) // 4 + 1
            assert s.frame_offset == 4 * lat
            lat += s.latent_frames
        # decoding the concatenated latents gives exactly `frames` frames, chunk by chunk
        assert 4 * lat - 3 == frames
        assert p.steps[0].video_start == 0 and p.steps[-1].video_end == frames
        assert all(a.video_end == b.video_start for a, b in zip(p.steps, p.steps[1:]))


def test_chunk_of_81_hears_84_audio_frames() -> None:
    p = frame_plan(20.0, chunk=81)
    assert p.chunk_latents == 21 and p.chunk_audio_frames == 84 and p.chunk_seconds == 5.25
    assert [s.frame_offset for s in p.steps][:3] == [0, 84, 168]


@pytest.mark.parametrize("chunk", [0, 4, 76, 78, 80, -3])
def test_bad_chunk_length_is_refused(chunk: int) -> None:
    with pytest.raises(AudioError, match=r"chunk_length=.*4n\+1"):
        frame_plan(3.0, chunk=chunk, labels={"chunk": "chunk_length"})


def test_prepare_pads_to_exactly_frames_over_fps() -> None:
    sr = 44100
    for secs, frames in ((3.0, 49), (12.3, 197), (4.8125, 77)):
        p = prepare(_tone(sr, secs), sr)
        assert p.frames == frames
        assert p.waveform.shape == (1, 1, frames * 1000)  # frames / 16 fps * 16000 Hz
        kept = math.ceil(int(sr * secs) * 16000 / sr)
        assert torch.count_nonzero(p.waveform[0, 0, kept:]) == 0
        assert p.seconds == frames / 16
    p = prepare(_tone(sr, 3.0), sr, fps=24.0)
    assert p.frames == 73 and p.waveform.shape[-1] == round(73 / 24 * 16000)
    assert any("16 fps" in w for w in p.warnings)
    q = prepare(_tone(sr, 3.0), sr, pad=False)
    assert q.waveform.shape[-1] == 48000 and q.frames == 49


def test_trim_start_seconds_frames_and_fade() -> None:
    sr = 16000
    # a ramp: the sample value tells where it came from
    x = torch.linspace(0.0, 1.0, sr * 10)
    p = prepare(x, sr, start=2.0, seconds=3.0, normalize="none", fade_ms=0.0, pad=False)
    y = p.waveform[0, 0]
    assert y.shape[-1] == 48000 and p.audio_seconds == 3.0
    dc = float(x[32000:80000].mean())
    assert abs(float(y[0]) + dc - float(x[32000])) < 1e-5
    p = prepare(x, sr, start=1.0, frames=80)  # 80 -> 81 frames = 5.0625 s
    assert p.frames == 81 and p.waveform.shape[-1] == 81000 and p.audio_seconds == 5.0625
    # automatic 10 ms fades where trimming cut into the audio
    tone = _tone(sr, 4.0)
    p = prepare(tone, sr, start=0.5, seconds=2.0, normalize="none")
    y = p.waveform[0, 0]
    assert abs(float(y[0])) < 1e-3 and abs(float(y[31999])) < 1e-3
    assert float(y[160:400].abs().max()) > 0.45  # full level after the 10 ms fade
    # explicit fade on both ends
    p = prepare(tone, sr, fade_ms=50.0, normalize="none", pad=False)
    y = p.waveform[0, 0]
    assert float(y[:80].abs().max()) < 0.05 and float(y[-80:].abs().max()) < 0.05
    assert float(y[1000:2000].abs().max()) > 0.49


def test_frames_longer_than_the_audio_pads_with_silence_and_warns() -> None:
    p = prepare(_tone(16000, 1.0), 16000, frames=77)
    assert p.frames == 77 and p.waveform.shape[-1] == 77000
    assert any("silence" in w for w in p.warnings)


def test_seconds_longer_than_the_audio_uses_all_of_it() -> None:
    p = prepare(_tone(16000, 1.0), 16000, seconds=5.0)
    assert p.audio_seconds == 1.0 and p.frames == 17
    assert any("only 1.000 s remain" in n for n in p.notes)


# --------------------------------------------------------------------------------------------
# levels
# --------------------------------------------------------------------------------------------


def test_peak_normalisation_and_dc_removal() -> None:
    sr = 48000
    x = _tone(sr, 1.0, amp=0.1) + 0.2
    p = prepare(x, sr)
    y = p.waveform[0, 0, :16000]
    assert abs(float(y.abs().max()) - 10 ** (-1 / 20)) < 1e-4
    assert abs(float(y.mean())) < 1e-4
    assert abs(p.gain_db - 20 * math.log10(0.891251 / 0.1)) < 0.02  # no ringing from a DC step at the edges
    assert any("DC offset" in n for n in p.notes)


def test_loudness_meter_reads_bs1770_reference() -> None:
    # BS.1770: a 997 Hz sine at 0 dBFS on one channel reads -3.01 LKFS
    t = torch.arange(16000 * 4, dtype=torch.float64) / 16000
    assert abs(integrated_loudness(torch.sin(2 * math.pi * 997 * t).float(), 16000) + 3.01) < 0.05
    assert abs(integrated_loudness(0.1 * torch.sin(2 * math.pi * 997 * t).float(), 16000) + 23.01) < 0.05
    # the absolute gate drops the silent blocks; as in BS.1770, the 3 blocks straddling the
    # edge (3/4, 1/2, 1/4 tone) pass the relative gate: 37 full + 1.5 full-block equivalents in 40
    half = torch.cat([torch.sin(2 * math.pi * 997 * t).float(), torch.zeros(16000 * 4)])
    assert abs(integrated_loudness(half, 16000) - (-3.01 + 10 * math.log10(38.5 / 40))) < 0.03
    # and the relative gate (-10 LU) drops a section 30 dB down, except the straddling blocks
    quiet = torch.cat([torch.sin(2 * math.pi * 997 * t).float(), 0.0316 * torch.sin(2 * math.pi * 997 * t).float()])
    assert abs(integrated_loudness(quiet, 16000) - (-3.01 + 10 * math.log10((38.5 + 0.0015) / 40))) < 0.03
    assert integrated_loudness(torch.zeros(16000), 16000) == -math.inf


def test_loudness_normalisation_hits_target_or_ceiling() -> None:
    g = torch.Generator().manual_seed(1)
    noise = 0.01 * torch.randn(16000 * 3, generator=g)  # quiet noise: crest factor ~4, target reachable
    p = prepare(noise, 16000, normalize="loudness")
    assert abs(p.loudness_lufs - LOUDNESS_TARGET_LUFS) < 0.5
    assert p.peak_dbfs <= -1.0 + 1e-4
    # a spiky signal: the -1 dBFS ceiling wins over the loudness target
    spiky = torch.zeros(16000 * 3)
    spiky[::4000] = 0.5
    p = prepare(spiky, 16000, normalize="loudness")
    assert abs(p.peak_dbfs + 1.0) < 1e-3 and p.loudness_lufs < LOUDNESS_TARGET_LUFS
    assert any("ceiling" in n for n in p.notes)


def test_normalize_none_keeps_level_unless_above_full_scale() -> None:
    p = prepare(_tone(16000, 1.0, amp=0.3), 16000, normalize="none")
    assert abs(p.gain_db) < 1e-9 and abs(p.peak_dbfs - 20 * math.log10(0.3)) < 0.01
    p = prepare(_tone(16000, 1.0, amp=1.7), 16000, normalize="none")
    assert p.peak_dbfs <= -1.0 + 1e-4
    assert any("above full scale" in w for w in p.warnings)


def test_silent_input_succeeds_with_a_warning() -> None:
    p = prepare(torch.zeros(1, 2, 48000), 48000)
    assert p.frames == 17 and torch.count_nonzero(p.waveform) == 0
    assert any("silent" in w for w in p.warnings)
    assert "WARNING: input is silent" in p.summary


def test_clipped_input_succeeds_with_a_warning_and_clean_input_does_not() -> None:
    loud = (_tone(44100, 1.0, f=220.0, amp=2.0)).clamp(-1.0, 1.0)
    p = prepare(loud[None], 44100)
    assert any("clipped" in w for w in p.warnings)
    assert "clipped" in p.summary
    clean = prepare(_tone(44100, 1.0, f=220.0, amp=0.99)[None], 44100)
    assert not any("clipped" in w for w in clean.warnings)
    # a synthetic 1 kHz tone at 48 kHz hits its exact peak every cycle but is not flat-topped
    clean48 = prepare(_tone(48000, 1.0, f=1000.0, amp=1.0), 48000)
    assert not any("clipped" in w for w in clean48.warnings)
    # clipped int16 (flat at 32767 / -32768)
    i16 = (_tone(16000, 1.0, f=100.0, amp=1.5).double() * 32768).clamp(-32768, 32767).to(torch.int16)
    assert any("clipped" in w for w in prepare(i16, 16000).warnings)


def test_out_of_phase_channels_warn() -> None:
    s = _tone(16000, 1.0)
    p = prepare(torch.stack([s, -s * 0.98])[None], 16000)
    assert any("cancel" in w for w in p.warnings)


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1, 0), (0,), (1, 0, 100), (2, 0)])
def test_empty_audio_is_an_error(shape: tuple[int, ...]) -> None:
    with pytest.raises(AudioError, match="empty"):
        prepare(torch.zeros(shape), 44100)


@pytest.mark.parametrize(("value", "word"), [(float("nan"), "NaN"), (float("inf"), "Inf"), (float("-inf"), "Inf")])
def test_nan_and_inf_are_errors(value: float, word: str) -> None:
    x = _tone(16000, 1.0)[None].repeat(2, 1)
    x[1, 8000] = value
    x[0, 9000] = value
    with pytest.raises(AudioError, match=rf"invalid samples \(.*2 {word}.*first at 0\.500 s"):
        prepare(x, 16000)


@pytest.mark.parametrize(("sr", "msg"), [
    (0, "0 Hz"), (-44100, "-44100"), (float("nan"), "nan"), (44100.5, "whole number"), (10, "implausibly low"),
    ("44100", "not a sample rate"), (None, "not a sample rate"),
])
def test_bad_sample_rate_is_an_error(sr: Any, msg: str) -> None:
    with pytest.raises(AudioError, match=msg):
        prepare(_tone(16000, 0.5), sr)


def test_sample_rate_zero_names_the_input() -> None:
    with pytest.raises(AudioError, match="audio's sample_rate is 0 Hz"):
        prepare(_tone(16000, 0.5), 0, labels={"sample_rate": "the audio's sample_rate"})


def test_batch_of_more_than_one_says_how_many_and_how_to_pick() -> None:
    x = torch.zeros(3, 2, 1000)
    with pytest.raises(AudioError, match=r"holds 3 items.*set batch_index to the one to use \(0 to 2\)"):
        prepare(x, 16000, labels={"batch_index": "batch_index"})
    with pytest.raises(AudioError, match=r"batch_index=3 is out of range.*3 items"):
        prepare(x, 16000, batch_index=3)
    with pytest.raises(AudioError, match="empty"):
        prepare(torch.zeros(0, 2, 1000), 16000)


def test_other_bad_inputs() -> None:
    with pytest.raises(AudioError, match="transpose"):
        prepare(torch.zeros(48000, 2), 48000)  # [T, C]
    with pytest.raises(AudioError, match="not audio"):
        prepare(torch.zeros(1, 1, 1, 100), 48000)
    with pytest.raises(AudioError, match="not PCM"):
        prepare(torch.zeros(100, dtype=torch.bool), 16000)
    with pytest.raises(AudioError, match="start=5 s is past the end"):
        prepare(torch.ones(16000), 16000, start=5.0)
    with pytest.raises(AudioError, match="--start=-1"):
        prepare(torch.ones(16000), 16000, start=-1.0, labels={"start": "--start"})
    with pytest.raises(AudioError, match="not both"):
        prepare(torch.ones(16000), 16000, seconds=1.0, frames=17)
    with pytest.raises(AudioError, match="normalize='rms'"):
        prepare(torch.ones(16000), 16000, normalize="rms")
    with pytest.raises(AudioError, match="fps=0"):
        prepare(torch.ones(16000), 16000, fps=0.0)
    with pytest.raises(AudioError, match="max_seconds=-2"):
        prepare(torch.ones(16000), 16000, seconds=-2.0, labels={"seconds": "max_seconds"})
    with pytest.raises(AudioError, match="frames=0"):
        prepare(torch.ones(16000), 16000, frames=0)
    with pytest.raises(AudioError, match="tensor"):
        prepare([0.0, 0.1], 16000)  # type: ignore[arg-type]
    with pytest.raises(AudioError, match="max_seconds='2' must be a number of seconds"):
        prepare(torch.ones(16000), 16000, seconds="2", labels={"seconds": "max_seconds"})  # type: ignore[arg-type]
    with pytest.raises(AudioError, match="fade_ms=nan"):
        prepare(torch.ones(16000), 16000, fade_ms=float("nan"))


def test_summary_is_short_and_names_the_plan() -> None:
    p = prepare(_tone(48000, 600.0 / 60), 48000)  # 10 s
    s = p.summary
    assert len(s.splitlines()) <= 6
    assert "161 frames at 16 fps" in s and "3 chunks" in s and "WanSoundImageToVideoExtend length 77, last 1" in s
    d = p.as_dict()
    assert d["sample_rate"] == 16000 and d["channels"] == 1 and d["frames"] == 161 and d["chunks"] == 3
    assert d["plan"]["steps"][2]["frame_offset"] == 160
    json.dumps(d)


# --------------------------------------------------------------------------------------------
# files and CLI
# --------------------------------------------------------------------------------------------


def _encode(path: Path, fmt: str, codec: str, sr: int, data: np.ndarray[Any, Any], sample_fmt: str) -> None:
    """Write [C, T] float data in [-1, 1] with PyAV."""
    c = data.shape[0]
    layout = "mono" if c == 1 else "stereo"
    if sample_fmt == "s16":
        arr = np.round(data.T.reshape(1, -1) * 32767).astype(np.int16)
    elif sample_fmt == "flt":
        arr = data.T.reshape(1, -1).astype(np.float32)
    else:  # fltp
        arr = data.astype(np.float32)
    with av.open(str(path), "w", format=fmt) as cont:
        st = cont.add_stream(codec, rate=sr, layout=layout)
        fr = av.AudioFrame.from_ndarray(arr, format=sample_fmt, layout=layout)
        fr.sample_rate = sr
        for pkt in st.encode(fr):
            cont.mux(pkt)
        for pkt in st.encode(None):
            cont.mux(pkt)


@needs_av
@pytest.mark.parametrize(("name", "fmt", "codec", "sr", "sample_fmt", "lossless"), [
    ("in.wav", "wav", "pcm_s16le", 44100, "s16", True),
    ("in.flac", "flac", "flac", 48000, "s16", True),
    ("in.mp3", "mp3", "libmp3lame", 44100, "fltp", False),
    ("in.ogg", "ogg", "libopus", 48000, "flt", False),
    ("in.m4a", "ipod", "aac", 44100, "fltp", False),
    ("float.wav", "wav", "pcm_f32le", 22050, "flt", True),
])
def test_load_audio_file_formats(tmp_path: Path, name: str, fmt: str, codec: str, sr: int, sample_fmt: str,
                                 lossless: bool) -> None:
    t = np.arange(sr) / sr
    data = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 440 * t)])
    path = tmp_path / name
    try:
        _encode(path, fmt, codec, sr, data, sample_fmt)
    except (av.error.FFmpegError, ValueError) as e:  # pragma: no cover - depends on the FFmpeg build
        pytest.skip(f"this PyAV build cannot encode {codec}: {e}")
    w, got_sr = load_audio_file(path)
    assert got_sr == sr and w.dtype == torch.float32 and w.shape[0] == 2
    assert abs(w.shape[1] - sr) <= sr * 0.1
    if lossless:
        assert float((w - torch.from_numpy(data).float()).abs().max()) < 1e-4
    else:  # lossy: right level and pitch
        mid = w[:, sr // 4: 3 * sr // 4]
        rms = mid.square().mean(1).sqrt()
        assert abs(float(rms[0]) - 0.5 / math.sqrt(2)) < 0.03 and abs(float(rms[1]) - 0.25 / math.sqrt(2)) < 0.03
        spec = torch.fft.rfft(mid[0])
        peak_hz = int(spec.abs().argmax()) * sr / mid.shape[1]
        assert abs(peak_hz - 440) < 5
    p = prepare(w[None], got_sr)
    assert p.sample_rate == 16000 and p.waveform.shape[:2] == (1, 1)


@needs_av
def test_unreadable_and_missing_files_are_errors(tmp_path: Path) -> None:
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" + os.urandom(200))
    with pytest.raises(AudioError, match=r"noise\.wav.*(cannot be read|no audio)"):
        load_audio_file(bad)
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio\n" * 50)
    with pytest.raises(AudioError, match=r"notes\.mp3"):
        load_audio_file(text)
    with pytest.raises(AudioError, match="no such file"):
        load_audio_file(tmp_path / "missing.flac")
    with pytest.raises(AudioError, match="folder"):
        load_audio_file(tmp_path)


@needs_av
def test_zero_length_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"")
    with pytest.raises(AudioError, match="empty.wav"):
        load_audio_file(path)


@needs_av
def test_write_wav_round_trips(tmp_path: Path) -> None:
    x = _tone(16000, 0.5, amp=0.7)
    p16 = tmp_path / "a.wav"
    write_wav(p16, x[None, None], 16000)
    with wave.open(str(p16)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 16000, 8000)
    back, sr = load_audio_file(p16)
    assert sr == 16000 and float((back[0] - x).abs().max()) <= 1 / 32768 + 1e-7
    pf = tmp_path / "f.wav"
    write_wav(pf, x, 16000, sample_format="float32")
    back, sr = load_audio_file(pf)
    assert sr == 16000 and torch.equal(back[0], x)
    assert sorted(os.listdir(tmp_path)) == ["a.wav", "f.wav"]  # no temp files left behind


def test_cli_defaults_are_the_audio_constants_and_need_no_torch() -> None:
    from wan22.audio.frames import DEFAULT_CHUNK, S2V_AUDIO_FPS
    from wan22.audio.params import DEFAULT_NORMALIZE, NORMALIZE_MODES
    from wan22.cli import build_parser

    args = build_parser().parse_args(["audio-prep", "in.wav", "out.wav"])
    assert (args.chunk, args.fps, args.normalize, args.start) == (DEFAULT_CHUNK, S2V_AUDIO_FPS, DEFAULT_NORMALIZE, 0.0)
    for mode in NORMALIZE_MODES:
        assert build_parser().parse_args(["audio-prep", "a", "b.wav", "--normalize", mode]).normalize == mode
    # the parser, the frame plan and the parameter checks load without torch (only prepare needs it)
    code = ("import sys, wan22.cli, wan22.audio.frames, wan22.audio.params\n"
            "wan22.cli.build_parser()\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


@needs_av
def test_cli_writes_16k_mono_and_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "voice.flac"
    sr = 44100
    t = np.arange(int(sr * 3.0)) / sr
    _encode(src, "flac", "flac", sr, np.stack([0.3 * np.sin(2 * np.pi * 300 * t)] * 2), "s16")
    out = tmp_path / "voice16k.wav"
    assert cli_main(["audio-prep", str(src), str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for key in ("sample_rate", "channels", "frames", "seconds", "chunks"):
        assert key in doc
    assert (doc["sample_rate"], doc["channels"], doc["frames"], doc["chunks"]) == (16000, 1, 49, 1)
    assert doc["seconds"] == 3.0625 and doc["source"]["channels"] == 2 and doc["source"]["sample_rate"] == 44100
    with wave.open(str(out)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (1, 16000, 49000)
    # --seconds / --frames / --start and the text summary
    assert cli_main(["audio-prep", str(src), str(out), "--start", "0.5", "--seconds", "2"]) == 0
    text = capsys.readouterr().out
    assert "33 frames at 16 fps" in text and "wrote" in text
    assert cli_main(["audio-prep", str(src), str(out), "--frames", "80", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 81


@needs_av
def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "voice.wav"
    write_wav(src, _tone(16000, 1.0), 16000)
    before = src.read_bytes()
    assert cli_main(["audio-prep", str(src), str(src)]) == 2
    assert "never overwrites its input" in capsys.readouterr().err
    assert src.read_bytes() == before
    link = tmp_path / "same.wav"
    link.symlink_to(src)
    assert cli_main(["audio-prep", str(src), str(link)]) == 2
    assert src.read_bytes() == before
    capsys.readouterr()
    assert cli_main(["audio-prep", str(tmp_path / "nope.mp3"), str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nope.mp3: no such file" in err
    junk = tmp_path / "junk.m4a"
    junk.write_bytes(os.urandom(512))
    assert cli_main(["audio-prep", str(junk), str(tmp_path / "o.wav")]) == 2
    assert "junk.m4a" in capsys.readouterr().err
    assert cli_main(["audio-prep", str(src), str(tmp_path / "o.wav"), "--fps", "0"]) == 2
    err = capsys.readouterr().err
    assert "voice.wav" in err and "--fps=0" in err
    assert cli_main(["audio-prep", str(src), str(tmp_path / "o.wav"), "--chunk", "80"]) == 2
    assert "--chunk=80" in capsys.readouterr().err
    assert cli_main(["audio-prep", str(src), str(tmp_path / "o.wav"), "--start", "9"]) == 2
    assert "--start=9 s is past the end" in capsys.readouterr().err
    assert cli_main(["audio-prep", str(src), str(tmp_path / "o.mp3")]) == 2
    assert ".wav" in capsys.readouterr().err
    silent = tmp_path / "silent.wav"
    write_wav(silent, torch.zeros(16000), 16000)
    assert cli_main(["audio-prep", str(silent), str(tmp_path / "o.wav")]) == 0
    assert "warning:" in capsys.readouterr().err
