"""Audio length <-> S2V video frames (4n+1) and the WanSoundImageToVideo + Extend chunk plan.

Pure arithmetic, torch-free. ComfyUI's ``WanSoundImageToVideo`` / ``...Extend`` slice the audio
features at a fixed 16 fps, ``4 * latent_frames`` audio frames per call (docs/wan22-facts.md
section 5).

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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import AudioError
from .params import is_finite_real, is_whole, label

S2V_AUDIO_FPS = 16.0
"""Frame rate ComfyUI's WanSoundImageToVideo hard-codes when it slices the audio features."""
DEFAULT_CHUNK = 77
"""Default S2V chunk: the ``length`` of each WanSoundImageToVideo / Extend step (5.0 s of audio)."""
MIN_FRAMES = 5
MAX_FPS = 240.0

_FRAME_EPS = 1e-6  # frames; audio that ends 1e-6 frames past a boundary does not get 4 more frames


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
        """JSON-ready fields (seconds rounded to 6 places)."""
        return {
            "index": self.index, "node": self.node, "length": self.length, "latent_start": self.latent_start,
            "latent_frames": self.latent_frames, "frame_offset": self.frame_offset,
            "audio_start": round(self.audio_start, 6), "audio_end": round(self.audio_end, 6),
            "video_start": self.video_start, "video_end": self.video_end,
        }


@dataclass(frozen=True)
class FramePlan:
    """The video length for some audio and the S2V steps that generate it."""

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
        """JSON-ready fields, the steps included."""
        return {
            "fps": self.fps, "frames": self.frames, "seconds": round(self.seconds, 6),
            "audio_seconds": round(self.audio_seconds, 6), "chunk": self.chunk, "chunk_latents": self.chunk_latents,
            "chunk_audio_frames": self.chunk_audio_frames, "latent_frames": self.latent_frames,
            "chunks": self.chunks, "extend_steps": self.extend_steps, "steps": [s.as_dict() for s in self.steps],
        }


def check_chunk(chunk: int, *, labels: Mapping[str, str] | None = None) -> None:
    """Raise :class:`AudioError` unless ``chunk`` is a 4n+1 length of at least 5."""
    name = label(labels, "chunk")
    if not is_whole(chunk):
        raise AudioError(f"{name}={chunk!r} must be a whole number of frames such as {DEFAULT_CHUNK}")
    if chunk < MIN_FRAMES or (chunk - 1) % 4:
        lo = max(MIN_FRAMES, ((chunk - 1) // 4) * 4 + 1)
        hint = f"{lo} or {lo + 4}" if chunk >= MIN_FRAMES else f"5, 9, ... or {DEFAULT_CHUNK}"
        raise AudioError(f"{name}={chunk} is not a length S2V accepts: use 4n+1 frames of at least 5 ({hint}; "
                         f"{DEFAULT_CHUNK} is the default)")


def check_fps(fps: float, *, labels: Mapping[str, str] | None = None) -> None:
    """Raise :class:`AudioError` unless ``fps`` is a plausible positive video frame rate."""
    name = label(labels, "fps")
    if not is_finite_real(fps) or fps <= 0:
        raise AudioError(f"{name}={fps!r} must be a positive number of frames per second (Wan 2.2 S2V uses 16)")
    if fps > MAX_FPS:
        raise AudioError(f"{name}={fps} is not a video frame rate; use 16 (what WanSoundImageToVideo assumes)")


def check_frames(frames: object, *, labels: Mapping[str, str] | None = None) -> int:
    """``frames`` as an int; :class:`AudioError` unless it is a whole number >= 1."""
    if not is_whole(frames) or frames < 1:
        raise AudioError(f"{label(labels, 'frames')}={frames!r} must be a whole number of video frames >= 1")
    return int(frames)


def frames_for(seconds: float, fps: float = S2V_AUDIO_FPS) -> int:
    """Smallest 4n+1 frame count (at least 5) whose video covers ``seconds`` of audio at ``fps``."""
    need = math.ceil(seconds * fps - _FRAME_EPS)
    return round_frames(need)


def round_frames(frames: int) -> int:
    """Round a frame count up to the next 4n+1, at least 5 (80 -> 81, 77 -> 77, 1 -> 5)."""
    frames = max(int(frames), MIN_FRAMES)
    return frames + (-(frames - 1)) % 4


def _steps(latents_total: int, chunk_latents: int) -> tuple[ChunkStep, ...]:
    steps: list[ChunkStep] = []
    lat = 0
    while lat < latents_total:
        k = len(steps)
        take = min(chunk_latents, latents_total - lat)
        offset = 4 * lat
        steps.append(ChunkStep(
            index=k, node="WanSoundImageToVideo" if k == 0 else "WanSoundImageToVideoExtend", length=4 * (take - 1) + 1,
            latent_start=lat, latent_frames=take, frame_offset=offset, audio_start=offset / S2V_AUDIO_FPS,
            audio_end=(offset + 4 * take) / S2V_AUDIO_FPS, video_start=0 if lat == 0 else 4 * lat - 3,
            video_end=4 * (lat + take) - 3))
        lat += take
    return tuple(steps)


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
        n = round_frames(check_frames(frames, labels=labels))
    else:
        if not math.isfinite(seconds) or seconds < 0:
            raise AudioError(f"audio length {seconds!r} s is not a duration")
        n = frames_for(seconds, fps)
    chunk_latents = (chunk - 1) // 4 + 1
    latents_total = (n - 1) // 4 + 1
    return FramePlan(fps=float(fps), frames=n, seconds=n / fps, audio_seconds=float(seconds), chunk=chunk,
                     chunk_latents=chunk_latents, chunk_audio_frames=4 * chunk_latents, latent_frames=latents_total,
                     steps=_steps(latents_total, chunk_latents))
