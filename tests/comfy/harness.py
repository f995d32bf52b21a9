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
PACK_DIR_NAME = "ComfyUI-Wan22"

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


def write_yaml(path: Path, volume: Path, section: str = "wan22_test") -> Path:
    lines = [f"{section}:", f"  base_path: {volume}"] + [f"  {k}: {k}/" for k in YAML_KEYS]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_base(base: Path, pack: Path = REPO) -> Path:
    """A ComfyUI --base-directory whose custom_nodes holds only this pack (symlinked)."""
    (base / "custom_nodes").mkdir(parents=True, exist_ok=True)
    for d in ("input", "output", "temp", "user/default"):
        (base / d).mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / PACK_DIR_NAME
    if not link.exists():
        link.symlink_to(pack, target_is_directory=True)
    settings = base / "user" / "default" / "comfy.settings.json"
    if not settings.exists():
        settings.write_text(json.dumps({"Comfy.TutorialCompleted": True, "Comfy.Notification.ShowVersionUpdates": False}))
    return base


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
