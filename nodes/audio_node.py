"""Wan22S2VAudioPrep: any AUDIO -> the 16 kHz mono AUDIO Wan 2.2 S2V wants, with its frame plan."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io, ui

from ..wan22.audio.frames import DEFAULT_CHUNK, S2V_AUDIO_FPS, check_chunk, check_fps
from ..wan22.audio.params import DEFAULT_NORMALIZE, NORMALIZE_MODES
from ..wan22.audio.prepare import prepare
from ..wan22.errors import AudioError
from .types import AUDIO

NODE = "Wan22S2VAudioPrep"
LABELS = {
    "fps": "fps", "start": "start_seconds", "seconds": "max_seconds", "chunk": "chunk_length",
    "batch_index": "batch_index", "normalize": "normalize", "sample_rate": "the audio's sample_rate",
}


def _err(msg: str) -> AudioError:
    return AudioError(f"{NODE}: {msg}")


class Wan22S2VAudioPrep(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id=NODE,
            display_name="Wan 2.2 S2V Audio Prep",
            category=AUDIO,
            description="Turns any AUDIO (Load Audio or any node) into what Wan 2.2 S2V needs: 16 kHz mono with an "
                        "anti-aliased resampler, DC removed, normalised, trimmed, and padded with silence to exactly "
                        "length/fps seconds. Outputs the video length (4n+1 frames covering the audio) and how many "
                        "WanSoundImageToVideo + Extend chunks it takes. Feed 'audio' to AudioEncoderEncode and "
                        "'length' to WanSoundImageToVideo.",
            search_aliases=["s2v audio", "speech to video", "lip sync audio", "audio prep", "resample 16k"],
            inputs=[
                io.Audio.Input("audio", tooltip="any AUDIO: any sample rate, channel count and length (one clip)"),
                io.Float.Input("fps", default=S2V_AUDIO_FPS, min=1.0, max=120.0, step=1.0,
                               tooltip="video frame rate; ComfyUI's S2V nodes read the audio at 16 fps, so keep 16"),
                io.Float.Input("start_seconds", default=0.0, min=0.0, max=86400.0, step=0.1,
                               tooltip="skip this much audio from the start"),
                io.Float.Input("max_seconds", default=0.0, min=0.0, max=86400.0, step=0.1,
                               tooltip="keep at most this much audio after start_seconds; 0 = all of it"),
                io.Combo.Input("normalize", options=list(NORMALIZE_MODES), default=DEFAULT_NORMALIZE,
                               tooltip="peak: peak to -1 dBFS; loudness: about -20 LUFS, never above -1 dBFS peak; "
                                       "none: level unchanged"),
                io.Int.Input("chunk_length", default=DEFAULT_CHUNK, min=5, max=1025, step=4,
                             tooltip="the 'length' of each WanSoundImageToVideo / Extend step (4n+1; 77 = 5.0 s of audio)"),
                io.Int.Input("batch_index", default=-1, min=-1, max=4095,
                             tooltip="which clip of a batched AUDIO to use; -1 = the batch must hold exactly one"),
            ],
            outputs=[
                io.Audio.Output(display_name="audio"),
                io.Int.Output(display_name="length"),
                io.Int.Output(display_name="chunks"),
                io.Float.Output(display_name="fps"),
                io.String.Output(display_name="summary"),
            ],
        )

    @classmethod
    def validate_inputs(cls, fps: Any = None, chunk_length: Any = None) -> bool | str:
        # Only these two: naming an input here (or taking **kwargs) makes ComfyUI skip its own
        # min/max checks for it, and the other inputs rely on those.
        try:
            if fps is not None:
                check_fps(fps, labels=LABELS)
            if chunk_length is not None:
                check_chunk(chunk_length, labels=LABELS)
        except AudioError as e:
            return f"{NODE}: {e}"
        return True

    @classmethod
    def execute(cls, audio: Any, fps: float, start_seconds: float, max_seconds: float, normalize: str,
                chunk_length: int, batch_index: int) -> io.NodeOutput:
        if audio is None:
            raise _err("the audio input is empty (None); the source may have no audio track")
        if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
            raise _err(f"the audio input is not an AUDIO (a dict with 'waveform' and 'sample_rate'), got "
                       f"{type(audio).__name__}")
        try:
            p = prepare(
                audio["waveform"], audio["sample_rate"], fps=float(fps), start=float(start_seconds),
                seconds=float(max_seconds) if max_seconds and max_seconds > 0 else None, normalize=normalize,
                chunk=int(chunk_length), batch_index=None if batch_index < 0 else int(batch_index), labels=LABELS)
        except AudioError as e:
            raise _err(str(e)) from e
        summary = p.summary
        return io.NodeOutput(p.as_comfy_audio(), p.frames, p.chunks, p.fps, summary, ui=ui.PreviewText(summary))
