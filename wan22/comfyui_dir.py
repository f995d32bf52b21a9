"""The one definition of a ComfyUI folder and where one is looked for (the inventory CLI, install
support, the demo, tests and benchmarks find ComfyUI here). Stdlib only, with no process, network
or git code, so install.py (run by ComfyUI-Manager) can use it too."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from .catalog import COMFYUI_CANDIDATES


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


def find_comfyui(explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None,
                 extra: Iterable[Path] = ()) -> Path | None:
    """`explicit` when it is a ComfyUI folder (None when it is not), else the first ComfyUI among
    comfyui_candidates() and then `extra`."""
    if explicit:
        p = Path(explicit).expanduser()
        return p if is_comfyui(p) else None
    return next((c for c in [*comfyui_candidates(env), *extra] if is_comfyui(c)), None)


def not_found_reason(env: Mapping[str, str] | None = None) -> str:
    where = " or ".join(str(c) for c in comfyui_candidates(env))
    return f"no ComfyUI checkout at {where} (set COMFYUI_PATH to a ComfyUI folder)"
