"""Audio files: decode the first audio stream of anything PyAV reads, write WAV.

PyAV comes with ComfyUI and is imported lazily (only :func:`load_audio_file` needs it). Core's
own loader (``comfy_extras/nodes_audio.load``) imports ``folder_paths`` and cannot be used here;
this one also refuses mid-stream rate or channel changes and unknown sample formats by name.
"""

from __future__ import annotations

import os
import struct
import tempfile
import wave
from typing import Any, BinaryIO, Literal

import numpy as np
import torch

from ..errors import AudioError
from .resample import check_rate

_SAMPLE_SCALE = {"s16": 2.0 ** 15, "s32": 2.0 ** 31, "s64": 2.0 ** 63, "u8": 128.0}


def _samples(frame: Any, channels: int, path: str) -> np.ndarray[Any, Any]:
    """One decoded PyAV frame as float32 [C, n] in [-1, 1] full scale."""
    a: np.ndarray[Any, Any] = frame.to_ndarray()
    fmt = frame.format.name.rstrip("p")
    ch = len(frame.layout.channels) or channels or 1
    if not frame.format.is_planar:
        a = a.reshape(-1, ch).T
    if fmt in ("flt", "dbl"):
        return a.astype(np.float32, copy=False)
    if fmt == "u8":
        return (a.astype(np.float32) - 128.0) / 128.0
    if fmt in _SAMPLE_SCALE:
        return (a.astype(np.float64) / _SAMPLE_SCALE[fmt]).astype(np.float32)
    raise AudioError(f"{path}: unsupported sample format {frame.format.name}")


def _decode(av: Any, p: str) -> tuple[list[np.ndarray[Any, Any]], int]:
    """(float32 [C, n] chunks, sample rate) of the first audio stream of ``p``."""
    chunks: list[np.ndarray[Any, Any]] = []
    with av.open(p) as f:
        if not f.streams.audio:
            raise AudioError(f"{p} has no audio stream (a video without sound, or not media at all)")
        stream = f.streams.audio[0]
        sr = int(stream.codec_context.sample_rate or 0)
        channels = int(stream.codec_context.channels or 0)
        for frame in f.decode(stream):
            frame_sr = int(frame.sample_rate or 0)
            if frame_sr and sr and frame_sr != sr:
                raise AudioError(f"{p}: the sample rate changes mid-stream ({sr} -> {frame_sr} Hz); convert the file first")
            sr = sr or frame_sr
            chunks.append(_samples(frame, channels, p))
    return chunks, sr


def load_audio_file(path: str | os.PathLike[str]) -> tuple[torch.Tensor, int]:
    """Decode the first audio stream of any file PyAV reads (WAV, FLAC, MP3, OGG, M4A/AAC, video
    files...) to float32 ``[C, T]`` at the file's own sample rate."""
    import av  # lazy: PyAV comes with ComfyUI, the rest of the package does not need it

    p = os.fspath(path)
    if not os.path.exists(p):
        raise AudioError(f"{p}: no such file")
    if os.path.isdir(p):
        raise AudioError(f"{p} is a folder, not an audio file")
    try:
        chunks, sr = _decode(av, p)
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


def _as_ct(waveform: torch.Tensor | np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """[T], [C, T] or [1, C, T] -> float32 numpy [C, T]."""
    if isinstance(waveform, torch.Tensor):
        a = waveform.detach().to("cpu", torch.float32).numpy()
    else:
        a = np.asarray(waveform, np.float32)
    if a.ndim == 3:
        if a.shape[0] != 1:
            raise AudioError(f"write_wav takes one clip, got a batch of {a.shape[0]}")
        a = a[0]
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise AudioError(f"cannot write audio shaped {list(a.shape)} as WAV")
    return a


def write_wav(path: str | os.PathLike[str], waveform: torch.Tensor | np.ndarray[Any, Any], sample_rate: int,
              *, sample_format: Literal["int16", "float32"] = "int16") -> None:
    """Write ``waveform`` ([T], [C, T] or [1, C, T], float in [-1, 1]) as a WAV file.

    int16 goes through the stdlib ``wave`` module (values clipped to full scale, rounded);
    float32 writes an IEEE-float WAV (format 3). Written to a temporary file in the same folder
    and renamed into place, so a failed write leaves no half file.
    """
    sr = check_rate(sample_rate)
    a = _as_ct(waveform)
    inter = np.ascontiguousarray(a.T)  # [T, C]
    c = int(a.shape[0])
    p = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".wan22-", suffix=".wav", dir=os.path.dirname(os.path.abspath(p)))
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


def _write_float_wav(fh: BinaryIO, data: np.ndarray[Any, Any], channels: int, sr: int) -> None:
    """RIFF/WAVE with an IEEE-float ``fmt`` chunk (format 3) and the ``fact`` chunk it requires."""
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
