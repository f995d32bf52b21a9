"""`python -m wan22 ...`: argparse only. Turns argv into the wings' typed options and calls them.
One module per command group (each with `add_parsers(sub)`); this module only assembles them:
inventory | plan | audio-prep | submit | demo-volume | sparse-volume | demo | fetch | worker | run. Imports any wing."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import Wan22Error
from . import audio, demo, fetch, inventory, plan, run, submit, volumes, worker

COMMANDS = (inventory, plan, audio, submit, volumes, demo, fetch, worker, run)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m wan22", description="Wan 2.2 toolkit for ComfyUI")
    p.add_argument("--version", action="version", version=f"wan22 {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        return int(a.func(a))
    except Wan22Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
