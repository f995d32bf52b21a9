#!/usr/bin/env python3
"""ComfyUI-Wan22 post-install check. ComfyUI-Manager runs it from this folder after
`pip install -r requirements.txt`, with COMFYUI_PATH set and no arguments.

It checks the ComfyUI version against pyproject.toml's `requires-comfyui` and, when a network
volume is mounted (WAN22_MODELS_DIR, /workspace/models, /runpod-volume/models), says whether
ComfyUI searches its Wan 2.2 folders and prints the extra_model_paths.yaml section that would
add them. It writes that section only when asked:

    python install.py --write-yaml          # or WAN22_WRITE_MODEL_PATHS=1
    python install.py --dry-run             # what --write-yaml would do
    python install.py --comfyui DIR --models-dir DIR --yaml FILE --strict

Fast, offline, idempotent: no downloads, no git, no pip, never waits for input, and an optional
step that fails never fails the install (exit 0; --strict exits 1 on a missing or too old ComfyUI).
The logic lives in wan22/install/support.py.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv: list[str] | None = None) -> int:
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    try:
        from wan22.install.support import run
    except Exception as e:  # a broken optional check must not fail the install
        print(f"[wan22] note: post-install check skipped ({type(e).__name__}: {e}); the pack itself is installed. "
              f"Run `python {os.path.join(HERE, 'install.py')}` again after `pip install -r requirements.txt`.")
        return 0
    try:
        return run(argv, os.environ, HERE, print)
    except Exception as e:
        print(f"[wan22] note: post-install check stopped ({type(e).__name__}: {e}); the pack itself is installed.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
