"""S2V audio prep: any waveform in, exactly what Wan 2.2 S2V needs out, plus the frame plan.

ComfyUI's S2V path (see docs/wan22-facts.md section 5) resamples to 16 kHz, averages channels
and feeds wav2vec2; ``WanSoundImageToVideo`` / ``...Extend`` then slice the features at a fixed
16 fps, ``4 * latent_frames`` audio frames per call. This module does the signal work up front,
once and correctly, and says how many frames and chunks the audio needs (:mod:`.frames`).

Pipeline of :func:`prepare` (torch on the CPU, no torchaudio):

1. layout: ``[T]``, ``[C, T]`` or ComfyUI's ``[B, C, T]``; a batch must hold one item (or pick
   one with ``batch_index``). Integer samples are scaled by their full scale (int16 / 32768,
   int32 / 2**31, uint8 (x - 128) / 128, ...), floats are taken as they are.
2. checks: empty audio, NaN/Inf samples, a sample rate that is 0, negative, fractional or below
   1 kHz are errors (:class:`~wan22.errors.AudioError`); silent, clipped (flat tops at the
   peak), above-full-scale or phase-cancelling stereo input succeeds with a warning.
3. trim at the source rate (``start``, then ``seconds`` or ``frames``).
4. channel average + resample to 16 kHz in one pass (:mod:`.resample`: a Kaiser-windowed sinc
   low-pass, flat to 0.90 of the lower Nyquist, -100 dB from 1.00, applied by overlap-save FFT
   blocks). Same output length and time alignment as ``torchaudio.functional.resample``, no
   aliasing, faster on CPU.
5. DC removal (an estimate before resampling so no DC step rings at the edges, the exact
   remainder after), normalisation (:mod:`.levels`; ``"peak"``: peak to -1 dBFS;
   ``"loudness"``: gated integrated loudness to -20 LUFS, but never above the -1 dBFS peak
   ceiling; ``"none"``: gain unchanged unless the peak is above full scale), fades.
6. padding with silence to exactly ``frames / fps`` seconds (the frame rule in :mod:`.frames`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import AudioError
from .frames import (
    DEFAULT_CHUNK,
    S2V_AUDIO_FPS,
    ChunkStep,
    FramePlan,
    check_chunk,
    check_fps,
    check_frames,
    frame_plan,
    round_frames,
)
from .levels import check_finite, db, excerpt_stats, fade, fmt_db, input_warnings, normalise
from .params import DEFAULT_NORMALIZE, NORMALIZE_MODES, is_finite_real, is_whole, label
from .resample import check_rate, resample_rows

TARGET_SR = 16000
"""Sample rate wav2vec2 (and so Wan 2.2 S2V) works at."""
MAX_CHANNELS = 64
AUTO_FADE_MS = 10.0


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
        """ComfyUI's AUDIO: ``{"waveform": [1, 1, T], "sample_rate": 16000}``."""
        return {"waveform": self.waveform, "sample_rate": self.sample_rate}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (what ``audio-prep --json`` prints); non-finite dB figures are None."""
        return {
            "sample_rate": self.sample_rate, "channels": 1, "samples": self.samples, "seconds": round(self.seconds, 6),
            "audio_seconds": round(self.audio_seconds, 6), "fps": self.fps, "frames": self.frames,
            "chunks": self.chunks, "extend_steps": self.extend_steps,
            "gain_db": _finite(self.gain_db), "peak_dbfs": _finite(self.peak_dbfs), "rms_dbfs": _finite(self.rms_dbfs),
            "loudness_lufs": _finite(self.loudness_lufs),
            "source": {"description": self.source, "sample_rate": self.source_sample_rate,
                       "channels": self.source_channels, "seconds": round(self.source_seconds, 6)},
            "plan": self.plan.as_dict(), "warnings": list(self.warnings), "notes": list(self.notes),
        }


def _finite(x: float) -> float | None:
    return None if not math.isfinite(x) else round(x, 3)


# --------------------------------------------------------------------------------------------
# input layout and sample format
# --------------------------------------------------------------------------------------------


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


def _batch_item(b: int, batch_index: int | None, name: str) -> int:
    """The item of a batch of ``b`` to use: ``batch_index``, or 0 when the batch holds one."""
    if batch_index is None:
        if b != 1:
            raise AudioError(f"the AUDIO batch holds {b} items and S2V takes one: set {name} to the one "
                             f"to use (0 to {b - 1})" if b > 1 else "the AUDIO batch is empty (0 items)")
        return 0
    if not is_whole(batch_index):
        raise AudioError(f"{name}={batch_index!r} must be a whole number")
    if not 0 <= batch_index < b:
        raise AudioError(f"{name}={batch_index} is out of range: the AUDIO batch holds {b} "
                         f"item{'s' if b != 1 else ''} (use 0 to {b - 1})" if b else "the AUDIO batch is empty (0 items)")
    return int(batch_index)


def as_channels(x: torch.Tensor | np.ndarray[Any, Any], *, batch_index: int | None = None,
                labels: Mapping[str, str] | None = None) -> torch.Tensor:
    """``[T]``, ``[C, T]`` or ``[B, C, T]`` -> float32 ``[C, T]``; a batch must hold one item."""
    if not isinstance(x, (torch.Tensor, np.ndarray)):
        raise AudioError(f"audio waveform must be a tensor shaped [batch, channels, samples], not {type(x).__name__}")
    shape = tuple(int(s) for s in x.shape)
    bi_name = label(labels, "batch_index")
    if len(shape) == 3:
        x = x[_batch_item(shape[0], batch_index, bi_name)]
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
# prepare
# --------------------------------------------------------------------------------------------


def _check_args(sample_rate: object, *, fps: float, start: float, seconds: float | None, frames: int | None,
                normalize: str, fade_ms: float | None, chunk: int, labels: Mapping[str, str] | None) -> int:
    """Every argument check of :func:`prepare` that needs no samples; returns the sample rate."""
    sr = check_rate(sample_rate, label(labels, "sample_rate"))
    check_fps(fps, labels=labels)
    check_chunk(chunk, labels=labels)
    if normalize not in NORMALIZE_MODES:
        raise AudioError(f"{label(labels, 'normalize')}={normalize!r} is not one of {', '.join(NORMALIZE_MODES)}")
    if seconds is not None and frames is not None:
        raise AudioError(f"give {label(labels, 'seconds')} or {label(labels, 'frames')}, not both")
    if not is_finite_real(start) or start < 0:
        raise AudioError(f"{label(labels, 'start')}={start!r} must be a number of seconds >= 0")
    if seconds is not None and (not is_finite_real(seconds) or seconds <= 0):
        raise AudioError(f"{label(labels, 'seconds')}={seconds!r} must be a number of seconds > 0")
    if frames is not None:
        check_frames(frames, labels=labels)
    if fade_ms is not None and (not is_finite_real(fade_ms) or fade_ms < 0):
        raise AudioError(f"{label(labels, 'fade_ms')}={fade_ms!r} must be >= 0 milliseconds")
    return sr


def _trim(t: int, sr: int, *, start: float, seconds: float | None, frames: int | None, fps: float,
          labels: Mapping[str, str] | None) -> tuple[int, int, list[str]]:
    """(first, end) source samples to keep of ``t`` at ``sr`` Hz, and notes about the choice."""
    s0 = int(round(start * sr))
    if s0 >= t:
        raise AudioError(f"{label(labels, 'start')}={start:g} s is past the end of the audio ({t / sr:.3f} s long)")
    notes = []
    if seconds is not None:
        s1 = min(t, s0 + max(1, int(round(seconds * sr))))
        if s0 + seconds * sr > t + 0.5:
            notes.append(f"asked for {seconds:g} s but only {(t - s0) / sr:.3f} s remain after {start:g} s: using all of it")
    elif frames is not None:
        s1 = min(t, s0 + max(1, int(round(round_frames(int(frames)) / fps * sr))))
    else:
        s1 = t
    return s0, s1, notes


def _mono_16k(x: torch.Tensor, sr: int, length: int) -> tuple[torch.Tensor, float, list[str]]:
    """Channel average, DC estimate off, resample to 16 kHz and zero padding to ``length``, in one
    pass: ([length] float32, the DC taken off, warnings)."""
    c = int(x.shape[0])
    mix = x.new_full((c,), 1.0 / c) if c > 1 else None
    # DC comes off before resampling (a DC step at the clip's edges would ring through the
    # filter); estimated from excerpts, the exact remainder comes off the 16 kHz result
    dc, ch_ms, mono_ms = excerpt_stats(x, sr)
    y = resample_rows(x, sr, TARGET_SR, mix=mix, length=length, offset=dc)[0]
    warnings = []
    if c > 1 and ch_ms > 0 and mono_ms < 0.0625 * ch_ms:
        warnings.append(f"the {c} channels largely cancel when averaged (out of phase?): the mono mix is "
                        f"{fmt_db(10 * math.log10(max(mono_ms, 1e-30) / ch_ms))} dB below the channels; "
                        "ComfyUI's encoder averages them the same way; use one channel if speech is lost")
    return y, dc, warnings


def _fade_samples(fade_ms: float | None, cut_front: bool, cut_back: bool) -> tuple[int, int]:
    """(fade-in, fade-out) samples at 16 kHz: ``fade_ms`` both, or 10 ms where trimming cut."""
    if fade_ms is None:
        fin = AUTO_FADE_MS if cut_front else 0.0
        fout = AUTO_FADE_MS if cut_back else 0.0
    else:
        fin = fout = float(fade_ms)
    return int(round(fin * TARGET_SR / 1000)), int(round(fout * TARGET_SR / 1000))


def _plan_warnings(plan: FramePlan, frames: int | None, audio_seconds: float, fps: float,
                   labels: Mapping[str, str] | None) -> list[str]:
    out = []
    if frames is not None and plan.seconds > audio_seconds + 1.0 / fps:
        out.append(f"{label(labels, 'frames')}={frames} asks for {plan.seconds:.3f} s but the audio has "
                   f"{audio_seconds:.3f} s: the rest is silence")
    if not math.isclose(fps, S2V_AUDIO_FPS):
        out.append(f"{label(labels, 'fps')}={fps:g}: ComfyUI's WanSoundImageToVideo reads the audio at "
                   f"{S2V_AUDIO_FPS:g} fps whatever the video rate, so lips will drift; use 16")
    if audio_seconds < 0.5:
        out.append(f"only {audio_seconds:.3f} s of audio: too short for useful lip sync")
    return out


def prepare(waveform: torch.Tensor | np.ndarray[Any, Any], sample_rate: int, *, fps: float = S2V_AUDIO_FPS,
            start: float = 0.0, seconds: float | None = None, frames: int | None = None, normalize: str = DEFAULT_NORMALIZE,
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
    sr = _check_args(sample_rate, fps=fps, start=start, seconds=seconds, frames=frames, normalize=normalize,
                     fade_ms=fade_ms, chunk=chunk, labels=labels)
    x = as_channels(waveform, batch_index=batch_index, labels=labels)  # [C, T] float32
    source = describe(waveform, sr, batch_index=batch_index)
    c, t = int(x.shape[0]), int(x.shape[1])
    s0, s1, notes = _trim(t, sr, start=start, seconds=seconds, frames=frames, fps=fps, labels=labels)
    x = x[:, s0:s1]
    in_peak, flat = check_finite(x, sr, s0)
    warnings = input_warnings(in_peak, flat)

    # plan, then channels -> mono + resample + padding in one pass
    t_out = -(-int(x.shape[1]) * TARGET_SR // sr)
    audio_seconds = t_out / TARGET_SR
    plan = frame_plan(audio_seconds, fps, chunk, frames=frames, labels=labels)
    y_all, dc, mono_warnings = _mono_16k(x, sr, int(round(plan.frames / fps * TARGET_SR)) if pad else t_out)
    warnings += mono_warnings
    y = y_all[:min(t_out, int(y_all.shape[0]))]  # the audio; the rest is padding (zeros)
    y.sub_(float(y.mean()))  # the DC the estimate left
    if abs(dc) > 0.01:
        notes.append(f"removed a DC offset of {dc:+.3f}")
    lvl = normalise(y, normalize, TARGET_SR)
    notes += lvl.notes
    if lvl.silent:
        warnings.append(f"input is silent (peak {fmt_db(db(lvl.peak))} dBFS): S2V gets no speech to follow; "
                        f"check the file, {label(labels, 'start')} and the channels")
    fade(y, *_fade_samples(fade_ms, cut_front=s0 > 0, cut_back=s1 < t))
    warnings += _plan_warnings(plan, frames, audio_seconds, fps, labels)
    rms = math.sqrt(float(torch.dot(y, y)) / max(1, int(y.shape[0])))
    return Prepared(waveform=y_all.reshape(1, 1, -1), sample_rate=TARGET_SR, plan=plan, source=source,
                    source_sample_rate=sr, source_channels=c, source_seconds=t / sr, audio_seconds=audio_seconds,
                    gain_db=db(lvl.gain), peak_dbfs=db(lvl.peak * lvl.gain), rms_dbfs=db(rms),
                    loudness_lufs=lvl.loudness_lufs, warnings=warnings, notes=notes)


# --------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------


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
    lvl = f"gain {fmt_db(p.gain_db)} dB, peak {fmt_db(p.peak_dbfs)} dBFS, rms {fmt_db(p.rms_dbfs)} dBFS"
    if math.isfinite(p.loudness_lufs):
        lvl += f", ~{p.loudness_lufs:.1f} LUFS"
    lines.append(f"input: {p.source}; {lvl}")
    lines += [f"note: {n}" for n in p.notes]
    lines += [f"WARNING: {w}" for w in p.warnings]
    return "\n".join(lines)
