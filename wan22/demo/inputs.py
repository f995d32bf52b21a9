"""Example input files the example workflows name (a start image, speech-like audio, driving
videos), written for the demo, the tests and the workflow generator."""

from __future__ import annotations

import math
import os
import wave

import numpy as np

from .server import start_image

EXAMPLE_IMAGE = "wan22_start.png"
EXAMPLE_END_IMAGE = "wan22_end.png"  # flf2v's last frame
EXAMPLE_AUDIO = "wan22_speech.wav"
EXAMPLE_POSE = "wan22_pose.mp4"
EXAMPLE_FACE = "wan22_face.mp4"

__all__ = ["EXAMPLE_AUDIO", "EXAMPLE_END_IMAGE", "EXAMPLE_FACE", "EXAMPLE_IMAGE", "EXAMPLE_POSE", "end_image",
           "motion_video", "solid_image", "speech_wav", "write_example_inputs"]


def solid_image(path: str, rgb: tuple[int, int, int], size: int = 64) -> str:
    """A solid-colour PNG (the flf2v tests tell the first and last frame apart by mean colour)."""
    from PIL import Image

    Image.new("RGB", (size, size), rgb).save(path)
    return path


def end_image(path: str, size: int = 256) -> str:
    """flf2v's example last frame: the start card's colours turned around (a cool disc on warm
    stripes), so the hand-over from the first to the last frame is easy to see."""
    from PIL import Image

    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    r = np.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2)
    img = np.stack([1.0 - x, 0.5 + 0.5 * np.sin(y * 30.0), 1.0 - y], -1)
    img[r < 0.18] = (0.2, 0.6, 1.0)
    Image.fromarray((img * 255).clip(0, 255).astype(np.uint8)).save(path)
    return path


def speech_wav(path: str, seconds: float = 1.0, rate: int = 44100, channels: int = 2) -> str:
    """A speech-like test signal: a 140 Hz voice with formant-ish harmonics, 4 syllables a
    second, written as 16-bit PCM (stereo 44.1 kHz by default, so S2V's resample/downmix runs)."""
    t = np.arange(int(seconds * rate), dtype=np.float64) / rate
    f0 = 140.0 * (1.0 + 0.05 * np.sin(2 * math.pi * 0.7 * t))
    phase = 2 * math.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) * a for k, a in ((1, 1.0), (2, 0.6), (3, 0.5), (5, 0.3), (8, 0.2)))
    env = np.clip(np.sin(2 * math.pi * 4.0 * t), 0.0, None) ** 0.5
    y = 0.3 * voice * env
    pcm = (np.clip(y, -1, 1) * 32767).astype("<i2")
    data = np.repeat(pcm[:, None], channels, axis=1)
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return path


def motion_video(path: str, frames: int = 17, size: int = 64, fps: int = 16, kind: str = "pose") -> str:
    """A short h264 clip standing in for a driving video: a stick figure ('pose') or a face-like
    disc ('face') moving across a dark background."""
    import av

    with av.open(path, "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        yy, xx = np.mgrid[0:size, 0:size]
        for i in range(frames):
            img = np.full((size, size, 3), 20, np.uint8)
            cx = size * (0.3 + 0.4 * i / max(frames - 1, 1))
            if kind == "face":
                m = (xx - cx) ** 2 + (yy - size / 2) ** 2 < (size / 4) ** 2
                img[m] = (230, 190, 160)
            else:
                m = (np.abs(xx - cx) < 2) & (yy > size * 0.3) & (yy < size * 0.7)
                m |= (xx - cx) ** 2 + (yy - size * 0.22) ** 2 < (size / 12) ** 2
                m |= (np.abs(yy - size * 0.45) < 2) & (np.abs(xx - cx) < size * 0.2)
                img[m] = (255, 255, 255)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def write_example_inputs(directory: str, *, audio_seconds: float = 1.0, video_frames: int = 17, size: int = 64) -> list[str]:
    """The input files the example workflows name, written into a ComfyUI input folder."""
    os.makedirs(directory, exist_ok=True)
    return [
        start_image(os.path.join(directory, EXAMPLE_IMAGE)),
        end_image(os.path.join(directory, EXAMPLE_END_IMAGE)),
        speech_wav(os.path.join(directory, EXAMPLE_AUDIO), audio_seconds),
        motion_video(os.path.join(directory, EXAMPLE_POSE), video_frames, size, kind="pose"),
        motion_video(os.path.join(directory, EXAMPLE_FACE), video_frames, size, kind="face"),
    ]
