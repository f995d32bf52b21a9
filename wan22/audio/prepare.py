"""S2V audio prep: any waveform in, exactly what Wan 2.2 S2V needs out, plus the frame plan.

ComfyUI's S2V path (see docs/wan22-facts.md section 5) resamples to 16 kHz, averages channels
and feeds wav2vec2; ``WanSoundImageToVideo`` / ``...Extend`` then slice the features at a fixed
16 fps, ``4 * latent_frames`` audio frames per call. This module does the signal work up front,
once and correctly, and says how many frames and chunks the audio needs.

Pipeline of :func:`prepare` (torch on the CPU, no torchaudio):

1. layout: ``[T]``, ``[C, T]`` or ComfyUI's ``[B, C, T]``; a batch must hold one item (or pick
   one with ``batch_index``). Integer samples are scaled by their full scale (int16 / 32768,
   int32 / 2**31, uint8 (x - 128) / 128, ...), floats are taken as they are.
2. checks: empty audio, NaN/Inf samples, a sample rate that is 0, negative, fractional or below
   1 kHz are errors (:class:`~wan22.errors.AudioError`); silent, clipped (flat tops at the
   peak), above-full-scale or phase-cancelling stereo input succeeds with a warning.
3. trim at the source rate (``start``, then ``seconds`` or ``frames``).
4. channel average + :func:`resample` to 16 kHz in one pass: a Kaiser-windowed sinc low-pass
   (cutoff 0.95 of the lower Nyquist: flat to 0.90, -100 dB from 1.00) applied by overlap-save
   FFT blocks whose spectrum is cut (or zero-padded) to the output rate. Same output length and
   time alignment as ``torchaudio.functional.resample``, no aliasing, faster on CPU.
5. DC removal (an estimate before resampling so no DC step rings at the edges, the exact
   remainder after), normalisation (``"peak"``: peak to -1 dBFS; ``"loudness"``: gated
   integrated loudness to -20 LUFS, see :func:`integrated_loudness`, but never above the
   -1 dBFS peak ceiling; ``"none"``: gain unchanged unless the peak is above full scale), fades.
6. padding with silence to exactly ``frames / fps`` seconds (the frame rule below).

Frame rule (:func:`frame_plan`): ``frames`` is the smallest ``4n+1`` that is at least
``audio_seconds * fps`` (and at least 5), so every sample of the audio gets a video frame and
the video is less than 4 frames longer than the audio; the audio is then padded with silence to
exactly ``frames / fps`` seconds, so padded audio and video have the same duration. Video frame
``i`` shows the audio at ``i / fps``. At 16 fps: 3 s -> 49 frames (3.0625 s), 4.8125 s -> 77,
5.0 s -> 81 (one frame past a 77-frame chunk), 12.3 s -> 197 (12.3125 s).

Chunk rule: a chunk of ``chunk`` frames (77 by default) is ``(chunk - 1) // 4 + 1`` latent
frames (20) and consumes ``4 * latents`` audio frames (80 = 5.0 s at 16 fps) in ComfyUI.
``chunks = ceil(frames / (4 * latents))``: one ``WanSoundImageToVideo`` with ``length = chunk``
(or ``frames`` when one chunk is enough), then ``chunks - 1`` ``WanSoundImageToVideoExtend`` steps
of ``length = chunk``, the last one shortened to the frames still missing. Decoding the
concatenated latents gives exactly ``frames`` frames. Extend's ``frame_offset`` is 4 x the
latent frames so far, so chunk ``k`` hears the audio from ``k * 5.0`` s to ``(k + 1) * 5.0`` s.
"""

from __future__ import annotations

import math
import os
import tempfile
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import torch

from ..errors import AudioError

TARGET_SR = 16000
"""Sample rate wav2vec2 (and so Wan 2.2 S2V) works at."""
S2V_AUDIO_FPS = 16.0
"""Frame rate ComfyUI's WanSoundImageToVideo hard-codes when it slices the audio features."""
DEFAULT_CHUNK = 77
MIN_FRAMES = 5
PEAK_CEILING_DBFS = -1.0
LOUDNESS_TARGET_LUFS = -20.0
SILENCE_DBFS = -80.0
MIN_SAMPLE_RATE = 1000
MAX_CHANNELS = 64
AUTO_FADE_MS = 10.0

# resampler design (fractions of the lower of the two Nyquist frequencies)
PASS_EDGE = 0.90
STOP_EDGE = 1.00
STOP_DB = 100.0

Normalize = Literal["peak", "loudness", "none"]
NORMALIZE_MODES: tuple[str, ...] = ("peak", "loudness", "none")

_FRAME_EPS = 1e-6  # frames; audio that ends 1e-6 frames past a boundary does not get 4 more frames


def _db(x: float) -> float:
    return 20.0 * math.log10(x) if x > 0 else -math.inf


def _fmt_db(x: float) -> str:
    return "-inf" if not math.isfinite(x) else f"{x:+.1f}"


# --------------------------------------------------------------------------------------------
# frame plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkStep:
    """One S2V sampling pass: which node, its ``length`` widget and the audio it hears."""

    index: int
    node: str  # "WanSoundImageToVideo" or "WanSoundImageToVideoExtend"
    length: int  # the node's `length` input (4n+1)
    latent_start: int  # latent frames generated before this step
    latent_frames: int  # (length - 1) // 4 + 1
    frame_offset: int  # audio frames (at 16 fps) this step starts at: 4 * latent_start
    audio_start: float  # seconds: frame_offset / 16
    audio_end: float  # seconds: (frame_offset + 4 * latent_frames) / 16, what ComfyUI slices
    video_start: int  # first decoded frame this step produces (in the concatenated video)
    video_end: int  # one past its last decoded frame

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "node": self.node, "length": self.length, "latent_start": self.latent_start,
            "latent_frames": self.latent_frames, "frame_offset": self.frame_offset,
            "audio_start": round(self.audio_start, 6), "audio_end": round(self.audio_end, 6),
            "video_start": self.video_start, "video_end": self.video_end,
        }


@dataclass(frozen=True)
class FramePlan:
    fps: float
    frames: int  # total video frames, 4n+1
    seconds: float  # frames / fps: video duration and padded audio duration
    audio_seconds: float  # the audio the plan was made for (before padding)
    chunk: int  # chunk length in frames (4n+1)
    chunk_latents: int  # latent frames per full chunk
    chunk_audio_frames: int  # audio frames per full chunk (4 * chunk_latents)
    latent_frames: int  # (frames - 1) // 4 + 1
    steps: tuple[ChunkStep, ...]

    @property
    def chunks(self) -> int:
        return len(self.steps)

    @property
    def extend_steps(self) -> int:
        return len(self.steps) - 1

    @property
    def chunk_seconds(self) -> float:
        """Audio one full chunk hears (5.0 s for 77 frames)."""
        return self.chunk_audio_frames / S2V_AUDIO_FPS

    def as_dict(self) -> dict[str, Any]:
        return {
            "fps": self.fps, "frames": self.frames, "seconds": round(self.seconds, 6),
            "audio_seconds": round(self.audio_seconds, 6), "chunk": self.chunk, "chunk_latents": self.chunk_latents,
            "chunk_audio_frames": self.chunk_audio_frames, "latent_frames": self.latent_frames,
            "chunks": self.chunks, "extend_steps": self.extend_steps, "steps": [s.as_dict() for s in self.steps],
        }


def _label(labels: Mapping[str, str] | None, name: str) -> str:
    return (labels or {}).get(name, name)


def check_chunk(chunk: int, *, labels: Mapping[str, str] | None = None) -> None:
    """Raise :class:`AudioError` unless ``chunk`` is a 4n+1 length of at least 5."""
    name = _label(labels, "chunk")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)):
        raise AudioError(f"{name}={chunk!r} must be a whole number of frames such as 77")
    if chunk < MIN_FRAMES or (chunk - 1) % 4:
        lo = max(MIN_FRAMES, ((chunk - 1) // 4) * 4 + 1)
        hint = f"{lo} or {lo + 4}" if chunk >= MIN_FRAMES else "5, 9, ... or 77"
        raise AudioError(f"{name}={chunk} is not a length S2V accepts: use 4n+1 frames of at least 5 ({hint}; 77 is the default)")


def check_fps(fps: float, *, labels: Mapping[str, str] | None = None) -> None:
    name = _label(labels, "fps")
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.floating, np.integer)) or not math.isfinite(fps) or fps <= 0:
        raise AudioError(f"{name}={fps!r} must be a positive number of frames per second (Wan 2.2 S2V uses 16)")
    if fps > 240:
        raise AudioError(f"{name}={fps} is not a video frame rate; use 16 (what WanSoundImageToVideo assumes)")


def frames_for(seconds: float, fps: float = S2V_AUDIO_FPS) -> int:
    """Smallest 4n+1 frame count (at least 5) whose video covers ``seconds`` of audio at ``fps``."""
    need = math.ceil(seconds * fps - _FRAME_EPS)
    return round_frames(need)


def round_frames(frames: int) -> int:
    """Round a frame count up to the next 4n+1, at least 5 (80 -> 81, 77 -> 77, 1 -> 5)."""
    frames = max(int(frames), MIN_FRAMES)
    return frames + (-(frames - 1)) % 4


def frame_plan(seconds: float, fps: float = S2V_AUDIO_FPS, chunk: int = DEFAULT_CHUNK, *,
               frames: int | None = None, labels: Mapping[str, str] | None = None) -> FramePlan:
    """The frame count and chunk plan for ``seconds`` of audio (or for ``frames`` video frames).

    >>> p = frame_plan(12.3)
    >>> p.frames, p.chunks, [s.length for s in p.steps]
    (197, 3, [77, 77, 37])
    """
    check_fps(fps, labels=labels)
    check_chunk(chunk, labels=labels)
    if frames is not None:
        if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1:
            raise AudioError(f"{_label(labels, 'frames')}={frames!r} must be a whole number of video frames >= 1")
        n = round_frames(int(frames))
    else:
        if not math.isfinite(seconds) or seconds < 0:
            raise AudioError(f"audio length {seconds!r} s is not a duration")
        n = frames_for(seconds, fps)
    chunk_latents = (chunk - 1) // 4 + 1
    chunk_audio = 4 * chunk_latents
    latents_total = (n - 1) // 4 + 1
    steps: list[ChunkStep] = []
    lat = 0
    while lat < latents_total:
        k = len(steps)
        take = min(chunk_latents, latents_total - lat)
        length = 4 * (take - 1) + 1
        offset = 4 * lat
        v0 = 0 if lat == 0 else 4 * lat - 3
        v1 = 4 * (lat + take) - 3
        steps.append(ChunkStep(
            index=k, node="WanSoundImageToVideo" if k == 0 else "WanSoundImageToVideoExtend", length=length,
            latent_start=lat, latent_frames=take, frame_offset=offset, audio_start=offset / S2V_AUDIO_FPS,
            audio_end=(offset + 4 * take) / S2V_AUDIO_FPS, video_start=v0, video_end=v1))
        lat += take
    return FramePlan(fps=float(fps), frames=n, seconds=n / fps, audio_seconds=float(seconds), chunk=chunk,
                     chunk_latents=chunk_latents, chunk_audio_frames=chunk_audio, latent_frames=latents_total,
                     steps=tuple(steps))


# --------------------------------------------------------------------------------------------
# resampling
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Design:
    up: int
    down: int
    taps: int  # odd FIR length at the input rate
    center: int  # (taps - 1) // 2
    overlap: int  # input samples shared by neighbouring blocks (multiple of down, >= taps - 1)
    kernel: torch.Tensor  # float64 [taps], DC gain 1


@lru_cache(maxsize=64)
def _design(orig: int, new: int) -> _Design:
    g = math.gcd(orig, new)
    up, down = new // g, orig // g
    nyq = min(orig, new) / 2.0
    f_pass, f_stop = PASS_EDGE * nyq / orig, STOP_EDGE * nyq / orig  # cycles per input sample
    width = f_stop - f_pass
    fc = 0.5 * (f_pass + f_stop)
    beta = 0.1102 * (STOP_DB - 8.7)
    taps = int(math.ceil((STOP_DB - 7.95) / (2.285 * 2.0 * math.pi * width))) + 1
    taps += 1 - taps % 2
    center = (taps - 1) // 2
    n = torch.arange(taps, dtype=torch.float64) - center
    h = 2.0 * fc * torch.sinc(2.0 * fc * n) * torch.kaiser_window(taps, periodic=False, beta=beta, dtype=torch.float64)
    h = h / h.sum()
    overlap = -(-(taps - 1) // down) * down
    return _Design(up=up, down=down, taps=taps, center=center, overlap=overlap, kernel=h)


_BLOCK_TARGET = 1 << 16  # input samples per FFT block (before rounding to the ratio)
_GROUP_SAMPLES = 1 << 22  # input samples transformed per batched FFT call (bounds memory)


def resample(x: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    """Resample the last axis of ``x`` from ``orig`` Hz to ``new`` Hz; returns float32.

    Output length ``ceil(T * new / orig)`` and sample ``m`` is the signal at input time
    ``m * orig / new``, as ``torchaudio.functional.resample`` (so the two can be compared
    sample by sample). The low-pass is a Kaiser-windowed sinc: flat (to ~1e-5) up to 0.90 of
    the lower Nyquist, -100 dB from 1.00 of it, so nothing aliases into the band. It is applied
    by overlap-save FFT blocks; the spectrum of each block is cut to (or zero-padded to) the
    output rate, which evaluates the filtered signal exactly on the output grid.
    """
    orig, new = _check_rate(orig, "orig"), _check_rate(new, "new")
    xf = x if x.dtype == torch.float32 else x.to(torch.float32)
    if orig == new:
        return xf.clone()
    lead = xf.shape[:-1]
    t = int(xf.shape[-1])
    out = _resample_rows(xf.reshape(-1, t), orig, new)
    return out.reshape(*lead, int(out.shape[-1]))


def _resample_rows(rows: torch.Tensor, orig: int, new: int, *, mix: torch.Tensor | None = None,
                   length: int | None = None, offset: float = 0.0) -> torch.Tensor:
    """Resample float32 ``rows`` [R, T] -> [R, length]; with ``mix`` ([R] weights) the rows are
    mixed block by block first (a fused downmix, no full-size intermediate) -> [1, length].
    ``offset`` is subtracted from the (mixed) signal first, not from the zeros around it.
    ``length`` defaults to ``ceil(T * new / orig)``; samples past that are zeros (padding)."""
    r, t = int(rows.shape[0]), int(rows.shape[1])
    t_out = -(-t * new // orig)
    n_rows = 1 if mix is not None else r
    total_out = t_out if length is None else length
    write = min(t_out, total_out)
    out = rows.new_empty((n_rows, total_out))
    out[:, write:] = 0.0
    if t == 0 or write == 0:
        return out
    if orig == new:
        src = rows[:, :write]
        out[:, :write] = (mix @ src)[None] if mix is not None else src
        if offset:
            out[:, :write] -= offset
        return out
    d = _design(orig, new)
    up, down = d.up, d.down
    # block length: a multiple of `down` (so each block maps to a whole number of output samples),
    # at least 4 overlaps, about _BLOCK_TARGET, and no longer than the whole signal needs
    need = d.overlap + t + d.center + down
    target = max(4 * d.overlap, min(_BLOCK_TARGET, need))
    k = 1
    while k * down < target:
        k *= 2
    l_in, l_out = k * down, k * up
    hop_in = l_in - d.overlap
    hop_out = hop_in // down * up
    ov_out = d.overlap // down * up
    blocks = -(-write // hop_out)
    pad_front = d.overlap - d.center  # virtual zeros before the signal: block b starts at b*hop_in - pad_front
    spec = (torch.fft.rfft(d.kernel.to(rows.device), n=l_in) * (l_out / l_in)).to(torch.complex64)
    keep = min(l_in, l_out) // 2 + 1
    spec = spec[:keep].contiguous()
    group = max(1, _GROUP_SAMPLES // l_in)
    mixbuf = rows.new_empty((group - 1) * hop_in + l_in) if mix is not None else None
    for b0 in range(0, blocks, group):
        nb = min(group, blocks - b0)
        s = b0 * hop_in - pad_front
        span = (nb - 1) * hop_in + l_in
        inside = s >= 0 and s + span <= t
        if inside:
            src = _mixdown(rows[:, s:s + span], mix, mixbuf)
        else:  # an edge group: the part inside the signal, zeros around it
            a, b = min(max(s, 0), t), max(min(s + span, t), 0)
            src = rows.new_zeros((n_rows, span))
            if b > a:
                src[:, a - s:b - s] = _mixdown(rows[:, a:b], mix) - offset
        spectrum = torch.fft.rfft(src.unfold(-1, l_in, hop_in), n=l_in)
        if inside and offset:  # a constant lives in bin 0 only: take the offset off there
            spectrum[..., 0] -= offset * l_in
        filtered = spectrum[..., :keep] * spec  # out of place: a contiguous (smaller) array for irfft
        y = torch.fft.irfft(filtered, n=l_out)[..., ov_out:]  # [n_rows, nb, hop_out]
        o0 = b0 * hop_out
        o1 = min(o0 + nb * hop_out, write)
        full = (o1 - o0) // hop_out
        if full:
            out[:, o0:o0 + full * hop_out].view(n_rows, full, hop_out).copy_(y[:, :full])
        if o0 + full * hop_out < o1:
            out[:, o0 + full * hop_out:o1] = y[:, full, :o1 - o0 - full * hop_out]
    return out


def _mixdown(src: torch.Tensor, mix: torch.Tensor | None, buf: torch.Tensor | None = None) -> torch.Tensor:
    """[R, n] -> [1, n] weighted sum of the rows, written into ``buf`` when it is given and long
    enough (reusing one buffer between blocks spares the page faults of fresh allocations)."""
    if mix is None:
        return src
    n = int(src.shape[1])
    out = buf[:n] if buf is not None and int(buf.shape[0]) >= n else src.new_empty(n)
    if int(src.shape[0]) == 2 and bool(mix[0] == mix[1]):
        torch.add(src[0], src[1], out=out)
        out.mul_(float(mix[0]))
    else:
        torch.matmul(mix[None], src, out=out[None])
    return out[None]


def _check_rate(sr: object, name: str = "sample_rate") -> int:
    if isinstance(sr, bool) or not isinstance(sr, (int, float, np.integer, np.floating)):
        raise AudioError(f"{name} {sr!r} is not a sample rate (expected a whole number of Hz such as 44100)")
    if not math.isfinite(sr) or sr <= 0:
        raise AudioError(f"{name} is {sr!r} Hz: the audio has no valid sample rate; the loader or the node that "
                         f"made this AUDIO set it wrong (expected e.g. 16000, 44100 or 48000)")
    if float(sr) != int(sr):
        raise AudioError(f"{name} {sr!r} Hz is not a whole number of Hz")
    if int(sr) < MIN_SAMPLE_RATE:
        raise AudioError(f"{name} {int(sr)} Hz is implausibly low for audio (below {MIN_SAMPLE_RATE} Hz): the "
                         "AUDIO's sample_rate is probably mislabelled; S2V timing would be wrong")
    return int(sr)


# --------------------------------------------------------------------------------------------
# input normalisation
# --------------------------------------------------------------------------------------------


def to_float(x: torch.Tensor | np.ndarray[Any, Any]) -> torch.Tensor:
    """Samples as float32 on the CPU, in [-1, 1] full scale: ints are divided by their full scale."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "iuf":
            raise AudioError(f"audio samples of dtype {x.dtype} are not numbers; expected float or integer PCM")
        if x.dtype.kind == "u" and x.dtype.itemsize > 1:
            # torch has little uint16/32/64 support: shift to signed first
            bits = 8 * x.dtype.itemsize
            return torch.from_numpy(((x.astype(np.float64) - 2.0 ** (bits - 1)) / 2.0 ** (bits - 1)).astype(np.float32))
        x = torch.from_numpy(np.ascontiguousarray(x.astype(x.dtype.newbyteorder("="), copy=False)))
    if not isinstance(x, torch.Tensor):
        raise AudioError(f"audio waveform must be a torch tensor or numpy array, not {type(x).__name__}")
    x = x.detach()
    if x.device.type != "cpu":  # the signal work is CPU work (and LoadAudio's AUDIO lives there)
        x = x.cpu()
    dt = x.dtype
    if dt.is_floating_point:
        return x if dt == torch.float32 else x.to(torch.float32)
    if dt.is_complex or dt == torch.bool:
        raise AudioError(f"audio samples of dtype {dt} are not PCM; expected float or integer samples")
    if dt == torch.uint8:
        return (x.to(torch.float32) - 128.0) / 128.0
    bits = {torch.int8: 8, torch.int16: 16, torch.int32: 32, torch.int64: 64}.get(dt)
    if bits is None:
        raise AudioError(f"audio samples of dtype {dt} are not supported; convert to float32, int16 or int32")
    if bits == 64:
        return (x.to(torch.float64) / 2.0 ** 63).to(torch.float32)
    return x.to(torch.float32) / float(2 ** (bits - 1))


def as_channels(x: torch.Tensor | np.ndarray[Any, Any], *, batch_index: int | None = None,
                labels: Mapping[str, str] | None = None) -> torch.Tensor:
    """``[T]``, ``[C, T]`` or ``[B, C, T]`` -> float32 ``[C, T]``; a batch must hold one item."""
    if not isinstance(x, (torch.Tensor, np.ndarray)):
        raise AudioError(f"audio waveform must be a tensor shaped [batch, channels, samples], not {type(x).__name__}")
    shape = tuple(int(s) for s in x.shape)
    bi_name = _label(labels, "batch_index")
    if len(shape) == 3:
        b = shape[0]
        if batch_index is None:
            if b != 1:
                raise AudioError(f"the AUDIO batch holds {b} items and S2V takes one: set {bi_name} to the one "
                                 f"to use (0 to {b - 1})" if b > 1 else "the AUDIO batch is empty (0 items)")
            batch_index = 0
        if isinstance(batch_index, bool) or not isinstance(batch_index, (int, np.integer)):
            raise AudioError(f"{bi_name}={batch_index!r} must be a whole number")
        if not 0 <= batch_index < b:
            raise AudioError(f"{bi_name}={batch_index} is out of range: the AUDIO batch holds {b} "
                             f"item{'s' if b != 1 else ''} (use 0 to {b - 1})" if b else "the AUDIO batch is empty (0 items)")
        x = x[int(batch_index)]
    elif len(shape) == 2:
        if batch_index not in (None, 0):
            raise AudioError(f"{bi_name}={batch_index} but the audio is a single clip shaped {list(shape)} (no batch); use 0 or leave it unset")
    elif len(shape) == 1:
        x = x[None]
    else:
        raise AudioError(f"audio waveform shaped {list(shape)} is not audio: expected [samples], [channels, samples] "
                         "or ComfyUI's [batch, channels, samples]")
    c, t = int(x.shape[0]), int(x.shape[1])
    if c > MAX_CHANNELS:
        if t <= MAX_CHANNELS:
            raise AudioError(f"audio waveform shaped {list(x.shape)} looks like [samples, channels]; ComfyUI AUDIO is "
                             "[batch, channels, samples]: transpose the last two axes")
        raise AudioError(f"audio has {c} channels (more than {MAX_CHANNELS}); expected [batch, channels, samples]")
    if c == 0 or t == 0:
        raise AudioError(f"audio is empty ({t} samples in {c} channel{'s' if c != 1 else ''}): nothing to prepare; "
                         "check the file or the node that produced it")
    return to_float(x)


# --------------------------------------------------------------------------------------------
# levels
# --------------------------------------------------------------------------------------------

# ITU-R BS.1770-4 K-weighting, the standard's coefficients at 48 kHz. Evaluated at the bin
# frequencies (< 8 kHz for 16 kHz audio) they give the standard's magnitude response.
_K_SHELF = ((1.53512485958697, -2.69169618940638, 1.19839281085285), (1.0, -1.69065929318241, 0.73248077421585))
_K_HP = ((1.0, -2.0, 1.0), (1.0, -1.99004745483398, 0.99007225036621))


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


_SCAN_BLOCK = 4096


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
    n = 0
    for ch, a, b in starts:
        seg = x[ch, max(a - 1, 0):b]
        if seg.shape[0] < 2:
            continue
        prev, cur = seg[:-1], seg[1:]
        if hi > 0:  # both samples at the maximum <=> the smaller of the two is the maximum
            n += int(torch.count_nonzero(torch.minimum(prev, cur) == hi))
        if lo < 0:
            n += int(torch.count_nonzero(torch.maximum(prev, cur) == lo))
    return lo, hi, n


# --------------------------------------------------------------------------------------------
# prepare
# --------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """16 kHz mono audio for S2V plus the frame plan; ``waveform`` is ComfyUI's ``[1, 1, T]``."""

    waveform: torch.Tensor
    sample_rate: int
    plan: FramePlan
    source: str  # input description
    source_sample_rate: int
    source_channels: int
    source_seconds: float
    audio_seconds: float  # kept audio before padding
    gain_db: float
    peak_dbfs: float  # of the output
    rms_dbfs: float  # of the output audio (before padding)
    loudness_lufs: float  # of the output (approximate, see integrated_loudness); NaN unless normalize="loudness"
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return self.plan.frames

    @property
    def fps(self) -> float:
        return self.plan.fps

    @property
    def chunks(self) -> int:
        return self.plan.chunks

    @property
    def extend_steps(self) -> int:
        return self.plan.extend_steps

    @property
    def samples(self) -> int:
        return int(self.waveform.shape[-1])

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate

    @property
    def summary(self) -> str:
        return summarize(self)

    def as_comfy_audio(self) -> dict[str, Any]:
        return {"waveform": self.waveform, "sample_rate": self.sample_rate}

    def as_dict(self) -> dict[str, Any]:
        return {
            "sample_rate": self.sample_rate, "channels": 1, "samples": self.samples, "seconds": round(self.seconds, 6),
            "audio_seconds": round(self.audio_seconds, 6), "fps": self.fps, "frames": self.frames,
            "chunks": self.chunks, "extend_steps": self.extend_steps,
            "gain_db": None if not math.isfinite(self.gain_db) else round(self.gain_db, 3),
            "peak_dbfs": None if not math.isfinite(self.peak_dbfs) else round(self.peak_dbfs, 3),
            "rms_dbfs": None if not math.isfinite(self.rms_dbfs) else round(self.rms_dbfs, 3),
            "loudness_lufs": None if not math.isfinite(self.loudness_lufs) else round(self.loudness_lufs, 3),
            "source": {"description": self.source, "sample_rate": self.source_sample_rate,
                       "channels": self.source_channels, "seconds": round(self.source_seconds, 6)},
            "plan": self.plan.as_dict(), "warnings": list(self.warnings), "notes": list(self.notes),
        }


def describe(x: torch.Tensor | np.ndarray[Any, Any], sample_rate: object, *, batch_index: int | None = None) -> str:
    """'48000 Hz, 2 ch, float32, 12.30 s' (plus the batch item when there is a batch)."""
    shape = tuple(int(s) for s in x.shape)
    t = shape[-1] if shape else 0
    c = shape[-2] if len(shape) >= 2 else 1
    sr = sample_rate if isinstance(sample_rate, (int, float)) and not isinstance(sample_rate, bool) else None
    dur = f", {t / sr:.2f} s" if sr and sr > 0 and math.isfinite(sr) else ""
    dt = str(x.dtype).replace("torch.", "")
    batch = f", item {batch_index or 0} of a batch of {shape[0]}" if len(shape) == 3 and shape[0] > 1 else ""
    return f"{sample_rate} Hz, {c} ch, {dt}{dur}{batch}"


def prepare(waveform: torch.Tensor | np.ndarray[Any, Any], sample_rate: int, *, fps: float = S2V_AUDIO_FPS,
            start: float = 0.0, seconds: float | None = None, frames: int | None = None, normalize: str = "peak",
            fade_ms: float | None = None, chunk: int = DEFAULT_CHUNK, pad: bool = True, batch_index: int | None = None,
            labels: Mapping[str, str] | None = None) -> Prepared:
    """Any waveform -> 16 kHz mono float32 ``[1, 1, T]`` for S2V, with its frame plan.

    ``start`` skips that many seconds; ``seconds`` keeps at most that much audio after it;
    ``frames`` instead keeps (or pads to) the audio for that many video frames (rounded up to
    4n+1). ``normalize``: "peak" (to -1 dBFS), "loudness" (to -20 LUFS, peak ceiling -1 dBFS)
    or "none". ``fade_ms``: fade in/out length; None = 10 ms at an edge that trimming cut, 0 =
    never. ``pad``: pad with silence to exactly ``frames / fps`` seconds. ``labels`` renames
    parameters in error messages (e.g. ``{"seconds": "max_seconds"}`` for a node input).
    Raises :class:`AudioError` for input that cannot be prepared.
    """
    sr = _check_rate(sample_rate, _label(labels, "sample_rate"))
    check_fps(fps, labels=labels)
    check_chunk(chunk, labels=labels)
    if normalize not in NORMALIZE_MODES:
        raise AudioError(f"{_label(labels, 'normalize')}={normalize!r} is not one of {', '.join(NORMALIZE_MODES)}")
    if seconds is not None and frames is not None:
        raise AudioError(f"give {_label(labels, 'seconds')} or {_label(labels, 'frames')}, not both")
    if not isinstance(start, (int, float)) or isinstance(start, bool) or not math.isfinite(start) or start < 0:
        raise AudioError(f"{_label(labels, 'start')}={start!r} must be a number of seconds >= 0")
    if seconds is not None and (not math.isfinite(seconds) or seconds <= 0):
        raise AudioError(f"{_label(labels, 'seconds')}={seconds!r} must be a number of seconds > 0")
    if frames is not None and (isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1):
        raise AudioError(f"{_label(labels, 'frames')}={frames!r} must be a whole number of video frames >= 1")
    if fade_ms is not None and (not math.isfinite(fade_ms) or fade_ms < 0):
        raise AudioError(f"{_label(labels, 'fade_ms')}={fade_ms!r} must be >= 0 milliseconds")

    x = as_channels(waveform, batch_index=batch_index, labels=labels)  # [C, T] float32
    source = describe(waveform, sr, batch_index=batch_index)
    c, t = int(x.shape[0]), int(x.shape[1])
    warnings: list[str] = []
    notes: list[str] = []

    # trim at the source rate
    s0 = int(round(start * sr))
    if s0 >= t:
        raise AudioError(f"{_label(labels, 'start')}={start:g} s is past the end of the audio ({t / sr:.3f} s long)")
    if seconds is not None:
        s1 = min(t, s0 + max(1, int(round(seconds * sr))))
        if s0 + seconds * sr > t + 0.5:
            notes.append(f"asked for {seconds:g} s but only {(t - s0) / sr:.3f} s remain after {start:g} s: using all of it")
    elif frames is not None:
        s1 = min(t, s0 + max(1, int(round(round_frames(int(frames)) / fps * sr))))
    else:
        s1 = t
    cut_front, cut_back = s0 > 0, s1 < t
    x = x[:, s0:s1]
    lo_f, hi_f, flat = _scan(x)
    if not (math.isfinite(lo_f) and math.isfinite(hi_f)):
        bad = ~torch.isfinite(x)
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(bad.sum()) - n_nan
        first = s0 + int(bad.any(0).nonzero()[0, 0])
        raise AudioError(f"audio has invalid samples ({n_nan} NaN, {n_inf} Inf; first at {first / sr:.3f} s): "
                         "the decoder or an upstream node produced broken data; re-export the audio")
    in_peak = max(-lo_f, hi_f)
    if flat >= 3 and in_peak > 10 ** (SILENCE_DBFS / 20):
        warnings.append(f"input looks clipped: {flat} samples sit flat at the peak ({_fmt_db(_db(in_peak))} dBFS); "
                        "speech may be distorted; use an unclipped source if you have one")
    if in_peak > 1.0 + 1e-6:
        warnings.append(f"input peaks above full scale ({_fmt_db(_db(in_peak))} dBFS); the output is kept under full "
                        "scale, but anything that clipped upstream stays clipped")

    # plan, then channels -> mono + resample + padding in one pass
    tk = int(x.shape[1])
    t_out = -(-tk * TARGET_SR // sr)
    audio_seconds = t_out / TARGET_SR
    plan = frame_plan(audio_seconds, fps, chunk, frames=frames, labels=labels)
    n_total = int(round(plan.frames / fps * TARGET_SR)) if pad else t_out
    mix = x.new_full((c,), 1.0 / c) if c > 1 else None
    # DC comes off before resampling (a DC step at the clip's edges would ring through the
    # filter); estimated from excerpts, the exact remainder comes off the 16 kHz result
    dc, ch_ms, mono_ms = _excerpt_stats(x, sr)
    y2 = _resample_rows(x, sr, TARGET_SR, mix=mix, length=n_total, offset=dc)
    y_all = y2[0]
    y = y_all[:min(t_out, n_total)]  # the audio; the rest is padding (zeros)
    if c > 1 and ch_ms > 0 and mono_ms < 0.0625 * ch_ms:
        warnings.append(f"the {c} channels largely cancel when averaged (out of phase?): the mono mix is "
                        f"{_fmt_db(10 * math.log10(max(mono_ms, 1e-30) / ch_ms))} dB below the channels; "
                        "ComfyUI's encoder averages them the same way; use one channel if speech is lost")

    # DC (what the resampler left), level
    y.sub_(float(y.mean()))
    if abs(dc) > 0.01:
        notes.append(f"removed a DC offset of {dc:+.3f}")
    ylo, yhi = torch.aminmax(y)
    peak = max(-float(ylo), float(yhi))
    silent = peak <= 10 ** (SILENCE_DBFS / 20)
    ceiling = 10 ** (PEAK_CEILING_DBFS / 20)
    gain = 1.0
    loud = math.nan  # measured only for normalize="loudness" (it costs an extra FFT pass)
    if silent:
        warnings.append(f"input is silent (peak {_fmt_db(_db(peak))} dBFS): S2V gets no speech to follow; "
                        f"check the file, {_label(labels, 'start')} and the channels")
    elif normalize == "peak":
        gain = ceiling / peak
    elif normalize == "loudness":
        lufs = integrated_loudness(y, TARGET_SR)
        loud = lufs
        gain = 10 ** ((LOUDNESS_TARGET_LUFS - lufs) / 20) if math.isfinite(lufs) else 1.0
        if peak * gain > ceiling:
            notes.append(f"loudness target {LOUDNESS_TARGET_LUFS:g} LUFS not reached: held at the "
                         f"{PEAK_CEILING_DBFS:g} dBFS peak ceiling")
            gain = ceiling / peak
    elif peak > 1.0:
        gain = ceiling / peak
    if gain != 1.0:
        y.mul_(gain)

    # fades
    if fade_ms is None:
        fin = AUTO_FADE_MS if cut_front else 0.0
        fout = AUTO_FADE_MS if cut_back else 0.0
    else:
        fin = fout = float(fade_ms)
    _fade(y, int(round(fin * TARGET_SR / 1000)), int(round(fout * TARGET_SR / 1000)))

    if frames is not None and plan.seconds > audio_seconds + 1.0 / fps:
        warnings.append(f"{_label(labels, 'frames')}={frames} asks for {plan.seconds:.3f} s but the audio has "
                        f"{audio_seconds:.3f} s: the rest is silence")
    if not math.isclose(fps, S2V_AUDIO_FPS):
        warnings.append(f"{_label(labels, 'fps')}={fps:g}: ComfyUI's WanSoundImageToVideo reads the audio at "
                        f"{S2V_AUDIO_FPS:g} fps whatever the video rate, so lips will drift; use 16")
    if audio_seconds < 0.5:
        warnings.append(f"only {audio_seconds:.3f} s of audio: too short for useful lip sync")
    out_peak = peak * gain
    if math.isfinite(loud):
        loud += _db(gain)
    rms = math.sqrt(float(torch.dot(y, y)) / max(1, int(y.shape[0])))
    return Prepared(waveform=y_all.reshape(1, 1, -1), sample_rate=TARGET_SR, plan=plan, source=source,
                    source_sample_rate=sr, source_channels=c, source_seconds=t / sr, audio_seconds=audio_seconds,
                    gain_db=_db(gain), peak_dbfs=_db(out_peak), rms_dbfs=_db(rms), loudness_lufs=loud, warnings=warnings,
                    notes=notes)


_EXCERPTS = 16


def _excerpt_stats(x: torch.Tensor, sr: int) -> tuple[float, float, float]:
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


def _fade(y: torch.Tensor, n_in: int, n_out: int) -> None:
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


def _lengths(steps: Sequence[ChunkStep]) -> str:
    lens = [s.length for s in steps]
    if len(set(lens)) == 1:
        return str(lens[0])
    if len(set(lens[:-1])) == 1:
        return f"{lens[0]}, last {lens[-1]}"
    return ", ".join(str(n) for n in lens)


def summarize(p: Prepared) -> str:
    """A few lines for the node's preview and the CLI: frames, chunks, levels, warnings."""
    pl = p.plan
    pad_ms = (p.seconds - p.audio_seconds) * 1000
    pad = f", padded {pad_ms:.1f} ms" if pad_ms > 0.05 else ""
    lines = [f"S2V audio: {p.audio_seconds:.3f} s -> {p.sample_rate} Hz mono, {p.seconds:.4f} s = "
             f"{pl.frames} frames at {pl.fps:g} fps{pad}"]
    first, last = pl.steps[0], pl.steps[-1]
    if pl.chunks == 1:
        lines.append(f"1 chunk: WanSoundImageToVideo length {first.length} (audio 0.00-{first.audio_end:.2f} s), no Extend")
    else:
        lines.append(f"{pl.chunks} chunks: WanSoundImageToVideo length {first.length} + {pl.extend_steps} x "
                     f"WanSoundImageToVideoExtend length {_lengths(pl.steps[1:])}")
        lines.append(f"each chunk hears {pl.chunk_seconds:.2f} s (chunk k from k x {pl.chunk_seconds:.2f} s); "
                     f"the last {last.audio_start:.2f}-{last.audio_end:.2f} s")
    lvl = f"gain {_fmt_db(p.gain_db)} dB, peak {_fmt_db(p.peak_dbfs)} dBFS, rms {_fmt_db(p.rms_dbfs)} dBFS"
    if math.isfinite(p.loudness_lufs):
        lvl += f", ~{p.loudness_lufs:.1f} LUFS"
    lines.append(f"input: {p.source}; {lvl}")
    lines += [f"note: {n}" for n in p.notes]
    lines += [f"WARNING: {w}" for w in p.warnings]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------

_SAMPLE_SCALE = {"s16": 2.0 ** 15, "s32": 2.0 ** 31, "s64": 2.0 ** 63, "u8": 128.0}


def load_audio_file(path: str | os.PathLike[str]) -> tuple[torch.Tensor, int]:
    """Decode the first audio stream of any file PyAV reads (WAV, FLAC, MP3, OGG, M4A/AAC, video
    files...) to float32 ``[C, T]`` at the file's own sample rate."""
    import av  # lazy: PyAV comes with ComfyUI, the rest of the package does not need it

    p = os.fspath(path)
    if not os.path.exists(p):
        raise AudioError(f"{p}: no such file")
    if os.path.isdir(p):
        raise AudioError(f"{p} is a folder, not an audio file")
    chunks: list[np.ndarray[Any, Any]] = []
    try:
        with av.open(p) as f:
            if not f.streams.audio:
                raise AudioError(f"{p} has no audio stream (a video without sound, or not media at all)")
            stream = f.streams.audio[0]
            sr = int(stream.codec_context.sample_rate or 0)
            channels = int(stream.codec_context.channels or 0)
            for frame in f.decode(stream):
                a = frame.to_ndarray()
                fmt = frame.format.name.rstrip("p")
                ch = len(frame.layout.channels) or channels or 1
                if not frame.format.is_planar:
                    a = a.reshape(-1, ch).T
                frame_sr = int(frame.sample_rate or 0)
                if frame_sr and sr and frame_sr != sr:
                    raise AudioError(f"{p}: the sample rate changes mid-stream ({sr} -> {frame_sr} Hz); convert the file first")
                sr = sr or frame_sr
                if fmt in ("flt", "dbl"):
                    a = a.astype(np.float32, copy=False)
                elif fmt == "u8":
                    a = (a.astype(np.float32) - 128.0) / 128.0
                elif fmt in _SAMPLE_SCALE:
                    a = (a.astype(np.float64) / _SAMPLE_SCALE[fmt]).astype(np.float32)
                else:
                    raise AudioError(f"{p}: unsupported sample format {frame.format.name}")
                chunks.append(a)
    except AudioError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise AudioError(f"{p} cannot be read as audio ({e}); is it a WAV, FLAC, MP3, OGG or M4A file?") from e
    except OSError as e:
        raise AudioError(f"{p} cannot be read: {e.strerror or e}") from e
    if not chunks or sum(a.shape[1] for a in chunks) == 0:
        raise AudioError(f"{p} holds no audio samples (zero-length audio)")
    if sr <= 0:
        raise AudioError(f"{p} declares a sample rate of {sr} Hz; the file is broken")
    if len({a.shape[0] for a in chunks}) != 1:
        raise AudioError(f"{p}: the channel count changes mid-stream; convert the file first")
    return torch.from_numpy(np.concatenate(chunks, axis=1)), sr


def write_wav(path: str | os.PathLike[str], waveform: torch.Tensor | np.ndarray[Any, Any], sample_rate: int,
              *, sample_format: Literal["int16", "float32"] = "int16") -> None:
    """Write ``waveform`` ([T], [C, T] or [1, C, T], float in [-1, 1]) as a WAV file.

    int16 goes through the stdlib ``wave`` module (values clipped to full scale, rounded);
    float32 writes an IEEE-float WAV (format 3). Written to a temporary file in the same folder
    and renamed into place, so a failed write leaves no half file.
    """
    sr = _check_rate(sample_rate)
    a = waveform.detach().to("cpu", torch.float32).numpy() if isinstance(waveform, torch.Tensor) else np.asarray(waveform, np.float32)
    if a.ndim == 3:
        if a.shape[0] != 1:
            raise AudioError(f"write_wav takes one clip, got a batch of {a.shape[0]}")
        a = a[0]
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise AudioError(f"cannot write audio shaped {list(a.shape)} as WAV")
    inter = np.ascontiguousarray(a.T)  # [T, C]
    c = int(a.shape[0])
    p = os.fspath(path)
    d = os.path.dirname(os.path.abspath(p))
    fd, tmp = tempfile.mkstemp(prefix=".wan22-", suffix=".wav", dir=d)
    try:
        with os.fdopen(fd, "wb") as fh:
            if sample_format == "int16":
                pcm = np.clip(np.round(inter * 32768.0), -32768, 32767).astype("<i2")
                with wave.open(fh, "wb") as w:
                    w.setnchannels(c)
                    w.setsampwidth(2)
                    w.setframerate(sr)
                    w.writeframes(pcm.tobytes())
            elif sample_format == "float32":
                _write_float_wav(fh, inter.astype("<f4"), c, sr)
            else:
                raise AudioError(f"sample_format {sample_format!r} is not int16 or float32")
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_float_wav(fh: Any, data: np.ndarray[Any, Any], channels: int, sr: int) -> None:
    import struct

    payload = data.tobytes()
    frames = int(data.shape[0])
    fmt = struct.pack("<HHIIHHH", 3, channels, sr, sr * channels * 4, channels * 4, 32, 0)
    fact = struct.pack("<I", frames)
    riff_size = 4 + (8 + len(fmt)) + (8 + len(fact)) + (8 + len(payload))
    fh.write(b"RIFF" + struct.pack("<I", riff_size) + b"WAVE")
    fh.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
    fh.write(b"fact" + struct.pack("<I", len(fact)) + fact)
    fh.write(b"data" + struct.pack("<I", len(payload)) + payload)
    if len(payload) % 2:
        fh.write(b"\0")


__all__: Sequence[str] = (
    "TARGET_SR", "S2V_AUDIO_FPS", "DEFAULT_CHUNK", "ChunkStep", "FramePlan", "Prepared", "AudioError",
    "frame_plan", "frames_for", "round_frames", "check_chunk", "check_fps", "resample", "prepare", "summarize",
    "integrated_loudness", "load_audio_file", "write_wav", "to_float", "as_channels", "describe",
)
