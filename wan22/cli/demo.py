"""`python -m wan22 demo`: argv -> the demo run."""

from __future__ import annotations

import argparse
import sys


def cmd_demo(a: argparse.Namespace) -> int:
    from ..demo.demo import DemoOptions, run

    return run(DemoOptions(comfyui=a.comfyui, python=a.python, workdir=a.workdir, port=a.port, out=a.out))


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("demo", help="start ComfyUI with the pack on a demo volume and run the i2v fast example")
    s.add_argument("--comfyui", help="ComfyUI folder (default: $COMFYUI_PATH, ~/comfy/ComfyUI)")
    s.add_argument("--python", default=sys.executable, help="Python that runs ComfyUI")
    s.add_argument("--workdir", default=".demo", help="where the volume, inputs and outputs go")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--out", default="demo_output")
    s.set_defaults(func=cmd_demo)
