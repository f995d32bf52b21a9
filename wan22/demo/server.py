"""The one ComfyUI server toolkit: what a ComfyUI folder is, where to find one, a free loopback
port, an extra_model_paths.yaml for a volume, a start image, and a `main.py --cpu` server that
always stops. Used by the demo, the tests, tools/ and bench/ alike (tests keep only test
concerns in tests/comfy/harness.py)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

from ..catalog import COMFYUI_CANDIDATES


def is_comfyui(path: str | os.PathLike[str]) -> bool:
    """The one definition of a ComfyUI folder: `main.py` beside `folder_paths.py` and `comfy/`."""
    p = Path(path)
    return (p / "main.py").is_file() and (p / "folder_paths.py").is_file() and (p / "comfy").is_dir()


def comfyui_candidates(env: Mapping[str, str] | None = None) -> list[Path]:
    """Where to look, in order: $COMFYUI_PATH, then comfy-cli's default workspace."""
    env = os.environ if env is None else env
    out = [Path(env["COMFYUI_PATH"]).expanduser()] if env.get("COMFYUI_PATH") else []
    out.extend(Path(c).expanduser() for c in COMFYUI_CANDIDATES)
    return out


def find_comfyui(explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """`explicit` when it is a ComfyUI folder (None when it is not), else the first ComfyUI among
    comfyui_candidates()."""
    if explicit:
        p = Path(explicit).expanduser()
        return p if is_comfyui(p) else None
    return next((c for c in comfyui_candidates(env) if is_comfyui(c)), None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
