"""Get the pinned ComfyUI release when there is no checkout: the one mechanism `make test`
(tools/setup_env.sh) and `make demo` (wan22.demo.demo) share.

    python tools/get_comfyui.py DEST PYTHON [--no-install]

Exit 0 when DEST is a ComfyUI checkout afterwards (cloned now or already there); 3 when offline
(the ComfyUI test tiers then skip with their one reason); other codes when git or pip failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wan22.comfyui_dir import is_comfyui
from wan22.demo.server import COMFYUI_REPO, PINNED_COMFYUI, clone_pinned, online


def main(argv: list[str]) -> int:
    install = "--no-install" not in argv
    argv = [a for a in argv if a != "--no-install"]
    if len(argv) != 3:
        print(__doc__)
        return 2
    dest, python = Path(argv[1]).expanduser(), argv[2]
    if is_comfyui(dest):
        return 0
    if not online():
        print(f"[setup] no ComfyUI at {dest} and github.com is unreachable: cannot clone {COMFYUI_REPO} "
              f"{PINNED_COMFYUI}; the ComfyUI test tiers will be skipped (set COMFYUI_PATH to a checkout)")
        return 3
    if dest.exists() and any(dest.iterdir()):
        print(f"[setup] {dest} exists but is not a ComfyUI checkout; not touching it (set COMFYUI_PATH elsewhere)")
        return 4
    clone_pinned(dest, python, lambda m: print(f"[setup] {m}"), install=install)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
