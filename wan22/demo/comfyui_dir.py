"""The one definition of a ComfyUI folder and where one is looked for. Stdlib only, with no
process, network or git code, so install.py (run by ComfyUI-Manager) can use it too."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..catalog import COMFYUI_CANDIDATES


def is_comfyui(path: str | os.PathLike[str]) -> bool:
    """A ComfyUI folder: `main.py` beside `folder_paths.py` and the `comfy/` package."""
    p = Path(path)
    return (p / "main.py").is_file() and (p / "folder_paths.py").is_file() and (p / "comfy").is_dir()


def comfyui_candidates(env: Mapping[str, str] | None = None) -> list[Path]:
    """Where to look, in order: $COMFYUI_PATH, then comfy-cli's default workspace."""
    env = os.environ if env is None else env
    out = [Path(env["COMFYUI_PATH"]).expanduser()] if env.get("COMFYUI_PATH") else []
    out.extend(Path(c).expanduser() for c in COMFYUI_CANDIDATES)
    return out
