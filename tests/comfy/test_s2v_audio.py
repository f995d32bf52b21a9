"""S2V end to end: any audio -> Wan22S2VAudioPrep -> wav2vec2 -> S2V + Extend -> mp4 whose video
and audio durations match within one frame."""

from __future__ import annotations

from typing import Any

import pytest
from support.harness import video_info

from wan22.audio.frames import frame_plan
from wan22.demo.graphs import bundle, conditioning_nodes, router

SECONDS = 5.5  # more than one 77-frame chunk: the plan needs one Extend


def _tone(path: Any, seconds: float, rate: int = 44100) -> None:
    import av
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    voice = (0.4 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(np.float32)
    stereo = np.stack([voice, 0.8 * voice])
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=rate)
        s.layout = "stereo"
        frame_len = 1024
        for i in range(0, stereo.shape[1], frame_len):
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo[:, i:i + frame_len]), format="fltp", layout="stereo")
            f.sample_rate = rate
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)


@pytest.mark.slow
def test_s2v_with_extend_video_matches_audio(comfy_server: Any) -> None:
    _tone(comfy_server.base / "input" / "wan22_voice.m4a", SECONDS)
    plan = frame_plan(SECONDS)
    assert [s.node for s in plan.steps] == ["WanSoundImageToVideo", "WanSoundImageToVideoExtend"]
    first, ext = plan.steps
    p: dict[str, Any] = {"bundle": bundle("s2v"), "router": router("bundle", "s2v", "fast")}
    pos, neg = conditioning_nodes(p)
    p["load"] = {"class_type": "LoadAudio", "inputs": {"audio": "wan22_voice.m4a"}}
    p["prep"] = {"class_type": "Wan22S2VAudioPrep", "inputs": {"audio": ["load", 0], "fps": 16.0, "start_seconds": 0.0,
                                                                "max_seconds": 0.0, "normalize": "peak", "chunk_length": 77,
                                                                "batch_index": -1}}
    p["enc"] = {"class_type": "AudioEncoderEncode", "inputs": {"audio_encoder": ["bundle", 4], "audio": ["prep", 0]}}
    p["img"] = {"class_type": "LoadImage", "inputs": {"image": "wan22_start.png"}}
    p["s2v"] = {"class_type": "WanSoundImageToVideo", "inputs": {
        "positive": pos, "negative": neg, "vae": ["bundle", 2], "width": 64, "height": 64, "length": first.length,
        "batch_size": 1, "audio_encoder_output": ["enc", 0], "ref_image": ["img", 0]}}
    p["k1"] = {"class_type": "Wan22MoESampler", "inputs": {"plan": ["router", 8], "positive": ["s2v", 0],
                                                           "negative": ["s2v", 1], "latent_image": ["s2v", 2], "seed": 3}}
    p["ext"] = {"class_type": "WanSoundImageToVideoExtend", "inputs": {
        "positive": pos, "negative": neg, "vae": ["bundle", 2], "length": ext.length, "video_latent": ["k1", 0],
        "audio_encoder_output": ["enc", 0], "ref_image": ["img", 0]}}
    p["k2"] = {"class_type": "Wan22MoESampler", "inputs": {"plan": ["router", 8], "positive": ["ext", 0],
                                                           "negative": ["ext", 1], "latent_image": ["ext", 2], "seed": 4}}
    p["cat"] = {"class_type": "LatentConcat", "inputs": {"samples1": ["k1", 0], "samples2": ["k2", 0], "dim": "t"}}
    p["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": ["cat", 0], "vae": ["bundle", 2]}}
    p["video"] = {"class_type": "CreateVideo", "inputs": {"images": ["decode", 0], "fps": ["prep", 3], "audio": ["prep", 0]}}
    p["save"] = {"class_type": "SaveVideo", "inputs": {"video": ["video", 0], "filename_prefix": "wan22/s2v_audio",
                                                       "format": "mp4", "codec": "h264"}}
    entry = comfy_server.run(p, timeout=600)
    summary = entry["outputs"]["prep"]["text"][0]
    assert "16000" in summary or "16 kHz" in summary, summary
    mp4 = [f for f in comfy_server.output_files(entry) if f.suffix == ".mp4"]
    assert len(mp4) == 1
    info = video_info(mp4[0])
    assert info["frames"] == plan.frames == 89
    video_seconds = info["frames"] / info["fps"]
    assert abs(info["audio_seconds"] - video_seconds) <= 1 / 16, (info, video_seconds)
