"""Shared machinery for the ComfyUI-dependent tiers: find ComfyUI, build a hermetic base
directory with the pack in custom_nodes, start a real `main.py --cpu` server, submit prompts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

YAML_KEYS = ("diffusion_models", "text_encoders", "vae", "clip_vision", "audio_encoders", "loras", "datasets")


def find_comfyui() -> tuple[Path | None, str]:
    """(ComfyUI path or None, why not). COMFYUI_PATH first, else ~/comfy/ComfyUI."""
    env = os.environ.get("COMFYUI_PATH")
    cands = [Path(env).expanduser()] if env else []
    cands.append(Path("~/comfy/ComfyUI").expanduser())
    for c in cands:
        if (c / "main.py").is_file() and (c / "comfy").is_dir():
            try:
                import torch  # noqa: F401
                import torchaudio  # noqa: F401
            except ImportError as e:
                return None, f"ComfyUI found at {c} but this Python ({sys.executable}) lacks its dependencies ({e}); run `make test` (it sets up the venv)"
            return c, ""
    where = " or ".join(str(c) for c in cands)
    return None, f"no ComfyUI checkout at {where} (set COMFYUI_PATH to a ComfyUI folder to run this tier)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_yaml(path: Path, volume: Path, section: str = "wan22_test", extra: dict[str, Path] | None = None) -> Path:
    lines: list[str] = []
    for name, root in [(section, volume), *(extra or {}).items()]:
        lines += [f"{name}:", f"  base_path: {root}"] + [f"  {k}: {k}/" for k in YAML_KEYS]
    path.write_text("\n".join(lines) + "\n")
    return path


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


def make_base(base: Path, pack: Path = REPO) -> Path:
    """A ComfyUI --base-directory whose custom_nodes holds only this pack (symlinked)."""
    from wan22.demo.demo import make_base as demo_make_base

    return demo_make_base(base, pack)


@dataclass
class Server:
    comfyui: Path
    base: Path
    yaml: Path
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    client_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0, extra_args: list[str] | None = None) -> None:
        cmd = [sys.executable, str(self.comfyui / "main.py"), "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
               "--base-directory", str(self.base), "--extra-model-paths-config", str(self.yaml),
               "--database-url", "sqlite:///:memory:", "--disable-auto-launch", *(extra_args or [])]
        env = dict(os.environ, PYTHONUNBUFFERED="1", DO_NOT_TRACK="1", HF_HUB_OFFLINE="1")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=str(self.comfyui), stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode} during start-up:\n{self.log_tail()}")
            try:
                self.get("/object_info/Wan22BundleLoader", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.5)
        raise RuntimeError(f"ComfyUI did not answer within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "_log", None):
            self._log.close()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 80) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    # -- HTTP
    def request(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raw = e.read()
            status = e.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def get(self, path: str, timeout: float = 60.0) -> Any:
        status, body = self.request("GET", path, timeout=timeout)
        if status != 200:
            raise urllib.error.URLError(f"GET {path}: HTTP {status}: {body}")
        return body

    def queue(self, prompt: dict[str, Any]) -> tuple[int, Any]:
        return self.request("POST", "/prompt", {"prompt": prompt, "client_id": self.client_id})

    def run(self, prompt: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
        """Queue and wait; returns the history entry. Raises with node errors or the exception."""
        status, body = self.queue(prompt)
        if status != 200:
            raise PromptRejected(status, body)
        pid = body["prompt_id"]
        deadline = time.time() + timeout
        while time.time() < deadline:
            hist = self.get(f"/history/{pid}")
            if pid in hist:
                entry = hist[pid]
                st = entry.get("status", {})
                if st.get("status_str") != "success":
                    raise PromptFailed(entry)
                return dict(entry)
            time.sleep(0.1)
        raise TimeoutError(f"prompt {pid} did not finish in {timeout}s:\n{self.log_tail()}")

    def output_files(self, entry: dict[str, Any]) -> list[Path]:
        files = []
        for out in entry.get("outputs", {}).values():
            for key in ("images", "gifs", "video", "audio", "latents"):
                for item in out.get(key, []) or []:
                    if isinstance(item, dict) and "filename" in item:
                        files.append(self.base / item.get("type", "output") / item.get("subfolder", "") / item["filename"])
        return files


class PromptRejected(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {json.dumps(body)[:2000]}")
        self.status = status
        self.body = body

    def messages(self) -> str:
        return json.dumps(self.body)


class PromptFailed(Exception):
    def __init__(self, entry: dict[str, Any]) -> None:
        msgs = entry.get("status", {}).get("messages", [])
        err = next((m[1] for m in msgs if m[0] == "execution_error"), {})
        super().__init__(f"{err.get('node_type')} (node {err.get('node_id')}): {err.get('exception_message')}")
        self.error = err


def start_image(path: Path, size: int = 64) -> Path:
    """A deterministic test image with structure (gradients + noise)."""
    import numpy as np
    from PIL import Image

    rng = np.random.RandomState(0)
    y, x = np.mgrid[0:size, 0:size]
    img = np.stack([x * 4 % 256, y * 4 % 256, (x + y) * 2 % 256], -1).astype("uint8")
    img = np.clip(img.astype(int) + rng.randint(-8, 8, img.shape), 0, 255).astype("uint8")
    Image.fromarray(img).save(path)
    return path


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
