"""Test-only machinery for the ComfyUI-dependent tiers: damaged volumes, tree hashes, prompt
errors, and a server with test helpers (queue, run, output files, a clean state). Finding ComfyUI,
base directories, yaml, ports, start images and the server process come from the one toolkit,
wan22.demo.server."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

from wan22 import comfyui_dir
from wan22.demo import server as toolkit
from wan22.demo.server import PromptFailed, PromptRejected, free_port, write_model_paths_yaml

REPO = Path(__file__).resolve().parents[2]
YAML_KEYS = ("diffusion_models", "text_encoders", "vae", "clip_vision", "audio_encoders", "loras", "datasets")
__all__ = ["REPO", "PromptFailed", "PromptRejected", "Server", "find_comfyui", "free_port", "make_base", "start_image", "write_yaml"]


def find_comfyui() -> tuple[Path | None, str]:
    """(ComfyUI path or None, why not): the toolkit's search, plus a check that this Python has
    ComfyUI's dependencies."""
    found = comfyui_dir.find_comfyui()
    if found is None:
        return None, comfyui_dir.not_found_reason() + " to run this tier"
    try:
        import torch  # noqa: F401
        import torchaudio  # noqa: F401
    except ImportError as e:
        return None, (f"ComfyUI found at {found} but this Python ({sys.executable}) lacks its dependencies ({e}); "
                      "run `make test` (it sets up the venv)")
    return found, ""


def write_yaml(path: Path, volume: Path, section: str = "wan22_test", extra: dict[str, Path] | None = None) -> Path:
    return write_model_paths_yaml(path, volume, section=section, extra=extra, keys=YAML_KEYS)


def make_base(base: Path, pack: Path = REPO) -> Path:
    """A ComfyUI --base-directory whose custom_nodes holds only this pack (symlinked)."""
    return toolkit.make_base(base, pack)


def start_image(path: Path, size: int = 64) -> Path:
    return Path(toolkit.start_image(path, size))


DAMAGED = {
    "truncated": ("diffusion_models", "broken_truncated_i2v.safetensors"),
    "bad_json": ("diffusion_models", "broken_header_json.safetensors"),
    "huge_tensor": ("diffusion_models", "broken_2pow60.safetensors"),
    "not_safetensors": ("diffusion_models", "broken_random_bytes.safetensors"),
    "lora_as_expert": ("diffusion_models", "lora_named_like_a_model.safetensors"),
    "t2v_as_i2v": ("diffusion_models", "t2v_expert_renamed_i2v_high_noise.safetensors"),
    "vae22": ("vae", "wan2.2_vae.safetensors"),
    "lora_truncated": ("loras", "broken_truncated_lora_high_noise.safetensors"),
}


def make_damaged_volume(root: Path) -> dict[str, Path]:
    """Files that must be refused with a clear error, under names that are not catalog names."""
    import os
    import struct

    from wan22.catalog import BY_ROLE
    from wan22.demo.demo_volume import build_stand_in, lora_tensors, model_tensors, stand_in_metadata, write_safetensors
    from wan22.demo.layouts import load

    paths = {k: root / f / n for k, (f, n) in DAMAGED.items()}
    for p in paths.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    full = root / "_tmp_full.safetensors"
    write_safetensors(str(full), build_stand_in(BY_ROLE["i2v_low"], "dit:tiny_i2v", 5), stand_in_metadata("i2v_low", 5))
    data = full.read_bytes()
    paths["truncated"].write_bytes(data[: len(data) // 2])
    full.unlink()
    head = b'{"a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]'  # unterminated JSON
    paths["bad_json"].write_bytes(struct.pack("<Q", len(head)) + head + b"\0" * 8)
    huge = b'{"x": {"dtype": "U8", "shape": [1152921504606846976], "data_offsets": [0, 1152921504606846976]}}'
    paths["huge_tensor"].write_bytes(struct.pack("<Q", len(huge)) + huge + b"\0" * 64)
    paths["not_safetensors"].write_bytes(os.urandom(4096))
    write_safetensors(str(paths["lora_as_expert"]), lora_tensors(load("tiny_i2v"), "x", 1), {})
    write_safetensors(str(paths["t2v_as_i2v"]), model_tensors(load("tiny_t2v"), "t2v", 1), {})
    write_safetensors(str(paths["vae22"]), model_tensors(load("tiny_vae22"), "vae22", 1), {})
    lora = root / "_tmp_lora.safetensors"
    write_safetensors(str(lora), lora_tensors(load("tiny_i2v"), "l", 2), {})
    b = lora.read_bytes()
    paths["lora_truncated"].write_bytes(b[: len(b) - 1000])
    lora.unlink()
    return paths


def tree_hashes(*roots: Path) -> dict[str, str]:
    """sha256 of every file under the roots (and the listing itself): proves nothing was written."""
    import hashlib

    out: dict[str, str] = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# the smallest prompt ComfyUI accepts (an output node on core nodes only): see Server.fresh
NOOP_PROMPT = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
               "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}


class Server(toolkit.ComfyServer):
    """The toolkit's server with the test tiers' defaults (180 s start-up limit)."""

    def start(self, timeout: float = 180.0, extra_args: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        super().start(timeout=timeout, extra_args=extra_args or (), env=env)

    def fresh(self) -> None:
        """Drop every cached node output and loaded model, so the next prompt runs every node.

        POST /free only sets flags; ComfyUI's queue worker applies them between prompts (main.py,
        prompt_worker: after a prompt, or when the flag wakes it while idle). Running NOOP_PROMPT
        after it makes that point certain: the worker resets its caches before it takes the next
        prompt from the queue, whatever it was doing when the flags arrived."""
        status, body = self.request("POST", "/free", {"unload_models": True, "free_memory": True})
        assert status == 200, (status, body)
        self.run(NOOP_PROMPT, timeout=120)


def video_info(path: Path) -> dict[str, Any]:
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        frames = sum(1 for _ in c.decode(vs))
        info: dict[str, Any] = {"frames": frames, "width": vs.codec_context.width, "height": vs.codec_context.height,
                                "fps": float(vs.average_rate) if vs.average_rate else None,
                                "video_seconds": float(vs.duration * vs.time_base) if vs.duration else None}
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            samples = sum(f.samples for f in c.decode(a))
            info["audio_seconds"] = samples / a.codec_context.sample_rate
    return info


def worker_comfyui_upload(server: Any, name: str, data: bytes, timeout: float = 60.0) -> tuple[int, Any]:
    """What worker-comfyui sends for an input image (its upload_images()): a multipart POST to
    /upload/image, 'image' typed image/png whatever the bytes are, overwrite=true. Sent raw on
    purpose (another client's request, not ours); (status, parsed JSON or text)."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + data + (
        f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"overwrite\"\r\n\r\ntrue\r\n--{boundary}--\r\n").encode()
    status, raw = server.client.request("POST", "/upload/image", body,
                                        {"Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=timeout)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")
