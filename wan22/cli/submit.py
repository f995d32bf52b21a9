"""`python -m wan22 submit`: argv -> the api wing's SubmitOptions -> submit."""

from __future__ import annotations

import argparse
import os
import sys


def cmd_submit(a: argparse.Namespace) -> int:
    """Run `submit` with the parsed flags: results on stdout, problems and the progress bar on stderr."""
    from ..api.progress import ProgressBar
    from ..api.submit import SubmitOptions, submit

    opts = SubmitOptions(workflow=a.workflow, server=a.server, image=a.image, audio=a.audio, prompt=a.prompt,
                         seed=a.seed, wait=a.wait, out=a.out, timeout=a.timeout, runpod_request=a.runpod_request,
                         preflight=not a.no_preflight, width=a.width, height=a.height, frames=a.frames, steps=a.steps,
                         cfg=a.cfg, sets=list(a.set or []))
    return submit(opts, _out, _err, progress=lambda prompt: ProgressBar(prompt, sys.stderr))


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `submit` subcommand (its flags and help are a contract: tests/fixtures/cli/)."""
    s = sub.add_parser("submit", help="preflight and queue an API-format workflow on a ComfyUI server")
    s.add_argument("workflow", metavar="WORKFLOW.json")
    s.add_argument("--server", default=os.environ.get("COMFYUI_URL", "http://127.0.0.1:8188"))
    s.add_argument("--image", help="start/reference image to upload and put in the LoadImage node")
    s.add_argument("--audio", help="audio file to upload and put in the LoadAudio node")
    s.add_argument("--prompt", help="positive prompt text")
    s.add_argument("--seed", type=int, help="sampler seed")
    s.add_argument("--wait", action="store_true", help="wait for the run and download outputs")
    s.add_argument("--out", default="wan22_outputs", help="where --wait saves outputs")
    s.add_argument("--timeout", type=float, default=3600.0)
    s.add_argument("--runpod-request", metavar="FILE", help="write a RunPod worker request body instead of submitting")
    s.add_argument("--no-preflight", action="store_true")
    s.add_argument("--width", type=int, help="width on every Wan video node that has one (WanImageToVideo, ...)")
    s.add_argument("--height", type=int, help="height on every Wan video node that has one")
    s.add_argument("--frames", type=int, help="length (frames, 4n+1) on every Wan video node that has one")
    s.add_argument("--steps", type=int, help="steps on every sampler (KSampler, KSamplerAdvanced, BasicScheduler, router)")
    s.add_argument("--cfg", type=float, help="cfg on every sampler that has one")
    s.add_argument("--set", action="append", metavar="NODE.INPUT=VALUE",
                   help="set one input (NODE: a node id, 129:95 inside a subgraph, or a title; repeatable)")
    s.set_defaults(func=cmd_submit)
