"""The one ComfyUI server toolkit: what a ComfyUI folder is, where to find one (and how to get the
pinned release when there is none), a free loopback port, an extra_model_paths.yaml for a
volume, a ComfyUI base directory with only this pack installed, a start image, and a
`main.py --cpu` server on loopback that always stops. Used by the demo, the tests, tools/ and
bench/ alike; tests keep only test concerns (damaged volumes, prompt errors) in
tests/comfy/harness.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ..api.client import Client, Outcome, SubmitError
from ..catalog import DEFAULT_DIRS

PACK_DIR_NAME = "ComfyUI-Wan22"
PINNED_COMFYUI = "v0.33.0"  # the ComfyUI release the comfy test tier runs against
COMFYUI_REPO = "https://github.com/comfyanonymous/ComfyUI.git"
TORCH_PINS = ("torch==2.9.1", "torchvision==0.24.1", "torchaudio==2.9.1")


def online(host: str = "github.com", timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def clone_pinned(dest: Path, python: str, say: Any = None, install: bool = True) -> Path:
    """`git clone` the pinned ComfyUI release into `dest` and (with `install`) its requirements
    into `python` with torch pinned: the one mechanism `make demo` and `make test` share."""
    say = say or (lambda _m: None)
    say(f"cloning ComfyUI {PINNED_COMFYUI} into {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "--depth", "1", "--branch", PINNED_COMFYUI, COMFYUI_REPO, str(dest)], check=True)
    if not install:
        return dest
    constraints = dest.parent / "torch-constraints.txt"
    constraints.write_text("\n".join(TORCH_PINS) + "\n")
    say(f"installing ComfyUI's requirements into {python} (torch pinned to {', '.join(TORCH_PINS)}; several GB)")
    subprocess.run([python, "-m", "pip", "install", "-q", "-c", str(constraints), "-r", str(dest / "requirements.txt")],
                   check=True)
    return dest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pack_root() -> Path:
    """The pack's folder (the one holding wan22/, nodes/ and example_workflows/)."""
    return Path(__file__).resolve().parents[2]


def make_base(base: Path, pack: Path | None = None) -> Path:
    """A ComfyUI --base-directory whose custom_nodes holds only this pack (a symlink): the
    user's ComfyUI checkout, its custom_nodes, models and settings stay untouched."""
    pack = pack or pack_root()
    for d in ("custom_nodes", "input", "output", "temp", "user/default"):
        (base / d).mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / PACK_DIR_NAME
    if link.is_symlink() and link.resolve() != pack.resolve():
        link.unlink()
    if not link.exists():
        link.symlink_to(pack, target_is_directory=True)
    settings = base / "user" / "default" / "comfy.settings.json"
    if not settings.exists():
        settings.write_text(json.dumps({"Comfy.TutorialCompleted": True, "Comfy.Notification.ShowVersionUpdates": False}))
    return base


def write_model_paths_yaml(path: Path, volume: Path, section: str = "wan22_demo",
                           extra: Mapping[str, Path] | None = None, keys: Sequence[str] = tuple(DEFAULT_DIRS)) -> Path:
    """An extra_model_paths.yaml with one section per volume mapping each folder key to `<key>/`."""
    lines: list[str] = []
    for name, root in [(section, volume), *(extra or {}).items()]:
        lines += [f"{name}:", f"  base_path: {root}"] + [f"  {k}: {k}/" for k in keys]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_image(path: str | os.PathLike[str], size: int = 256) -> str:
    """A colourful test card (gradient, rings, a bright disc) so decoded frames are easy to judge."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    r = np.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2)
    img = np.stack([x, y, 0.5 + 0.5 * np.sin(r * 40.0)], -1)
    img[r < 0.18] = (1.0, 0.85, 0.2)
    Image.fromarray((img * 255).clip(0, 255).astype(np.uint8)).save(path)
    return str(path)


class ComfyServer:
    """`main.py --cpu` on 127.0.0.1 with a base directory and a model-paths yaml; stop() always
    ends it. It holds the project's one ComfyUI client (`self.client`, api/client.py);
    `request`/`get` are JSON shorthands over it for readiness checks and tests."""

    def __init__(self, comfyui: Path, base: Path, yaml: Path, port: int | None = None, log_path: Path | None = None,
                 python: str = sys.executable, extra_args: Sequence[str] = ()) -> None:
        self.comfyui, self.base, self.yaml = Path(comfyui), Path(base), Path(yaml)
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else self.base / "server.log"
        self.python = python
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.client = Client(self.url)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, extra_args: Sequence[str] = ()) -> list[str]:
        return [self.python, str(self.comfyui / "main.py"), "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
                "--base-directory", str(self.base), "--extra-model-paths-config", str(self.yaml),
                "--database-url", "sqlite:///:memory:", "--disable-auto-launch", *self.extra_args, *extra_args]

    def start(self, timeout: float = 300.0, extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> None:
        """Start (with `env` added to this process's environment) and wait until the pack's nodes are
        registered; on failure raise with the log tail."""
        env = dict(os.environ, PYTHONUNBUFFERED="1", DO_NOT_TRACK="1", HF_HUB_OFFLINE="1", **(env or {}))
        self._log = open(self.log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(self.command(extra_args), cwd=str(self.comfyui), stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with code {self.proc.returncode} while starting; log "
                                   f"{self.log_path}:\n{self.log_tail()}")
            if self.ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"ComfyUI did not answer within {timeout:g} s; log {self.log_path}:\n{self.log_tail()}")

    def ready(self) -> bool:
        try:
            status, body = self.request("GET", "/object_info/Wan22BundleLoader", timeout=2)
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return status == 200 and isinstance(body, dict) and "Wan22BundleLoader" in body

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 80) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def request(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> tuple[int, Any]:
        """(status, parsed JSON or text) of one request; HTTP errors are returned, not raised."""
        data = json.dumps(body).encode() if body is not None else None
        status, raw = self.client.request(method, path, data, {"Content-Type": "application/json"} if data else None,
                                          timeout=timeout)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def get(self, path: str, timeout: float = 60.0) -> Any:
        status, body = self.request("GET", path, timeout=timeout)
        if status != 200:
            raise urllib.error.URLError(f"GET {path}: HTTP {status}: {body}")
        return body

    def execute(self, prompt: Mapping[str, Any], timeout: float = 300.0,
                on_event: Callable[[Mapping[str, Any]], None] | None = None) -> Outcome:
        """Queue and follow the prompt (`Client.execute`: the websocket, /history the source of
        truth): its Outcome, with the nodes that ran and those served from the cache. Raises
        PromptRejected with ComfyUI's node errors, PromptFailed with the exception, TimeoutError
        with the log tail."""
        def too_long() -> None:
            raise TimeoutError(f"prompt did not finish in {timeout}s:\n{self.log_tail()}")

        try:
            out = self.client.execute(prompt, timeout, on_event=on_event, on_deadline=too_long)
        except SubmitError as e:
            if e.status is None:
                raise
            raise PromptRejected(e.status, e.body) from None
        if (out.entry.get("status") or {}).get("status_str") != "success":
            raise PromptFailed(out.entry)
        return out

    def run(self, prompt: Mapping[str, Any], timeout: float = 300.0) -> dict[str, Any]:
        """Queue and wait; returns the history entry (see `execute`)."""
        return dict(self.execute(prompt, timeout).entry)

    def output_files(self, entry: dict[str, Any]) -> list[Path]:
        """Paths of every file a history entry's outputs name, under this server's base directory."""
        files = []
        for out in entry.get("outputs", {}).values():
            for key in ("images", "gifs", "video", "audio", "latents"):
                for item in out.get(key, []) or []:
                    if isinstance(item, dict) and "filename" in item:
                        files.append(self.base / item.get("type", "output") / item.get("subfolder", "") / item["filename"])
        return files

    def __enter__(self) -> ComfyServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PromptRejected(Exception):
    """POST /prompt answered with an error (ComfyUI's validation: node_errors name node and input)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {json.dumps(body)[:2000]}")
        self.status = status
        self.body = body

    def messages(self) -> str:
        return json.dumps(self.body)


class PromptFailed(Exception):
    """The prompt ran and failed: the execution_error's node and exception message."""

    def __init__(self, entry: dict[str, Any]) -> None:
        msgs = entry.get("status", {}).get("messages", [])
        err: dict[str, Any] = next((m[1] for m in msgs if m[0] == "execution_error"), {})
        super().__init__(f"{err.get('node_type')} (node {err.get('node_id')}): {err.get('exception_message')}")
        self.error = err
