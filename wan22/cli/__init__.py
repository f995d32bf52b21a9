"""`python -m wan22 ...`: argparse only. Turns argv into the wings' typed options and calls them:
inventory | plan | audio-prep | submit | demo-volume | sparse-volume | demo. Imports any wing."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import Wan22Error

VOLUME_CANDIDATES = ("/workspace/models", "/runpod-volume/models")


def _default_comfyui() -> str | None:
    for c in (os.environ.get("COMFYUI_PATH"), os.path.expanduser("~/comfy/ComfyUI")):
        if c and os.path.isfile(os.path.join(c, "main.py")):
            return c
    return None


def cmd_inventory(a: argparse.Namespace) -> int:
    """Exit 0: every requested workflow is ready; 1: not; 2: bad usage (nothing was checked)."""
    from ..plan.routing import WORKFLOW_IDS
    from ..volume.inventory import preset_roles, run_inventory, stderr_progress
    from ..volume.roots import resolve

    def usage(msg: str) -> int:
        print(f"error: {msg}", file=sys.stderr)
        return 2

    for w in a.workflow or []:
        if w not in WORKFLOW_IDS:
            return usage(f"--workflow {w!r} is not a workflow id; use one of: {', '.join(WORKFLOW_IDS)}")
    comfyui = a.comfyui
    roots = list(a.root or [])
    if not (comfyui or roots or a.extra_model_paths):
        env_dir = os.environ.get("WAN22_MODELS_DIR")
        roots = [d for d in ([env_dir] if env_dir else []) + list(VOLUME_CANDIDATES) if d and os.path.isdir(d)]
        comfyui = _default_comfyui()
        if not roots and not comfyui:
            return usage("no model folders found. Pass --root DIR (a models folder: the one holding diffusion_models/, "
                         "vae/, loras/...), --comfyui DIR, or --extra-model-paths YAML (or set COMFYUI_PATH / "
                         "WAN22_MODELS_DIR)")
    for r in roots:
        if not os.path.isdir(r):
            return usage(f"--root {r}: no such folder" + (" (it is a file; pass the folder that holds the model "
                                                           "folders)" if os.path.isfile(r) else ""))
    for y in a.extra_model_paths or []:
        if not os.path.isfile(y):
            return usage(f"--extra-model-paths {y}: no such file")
    if comfyui and not os.path.isdir(comfyui):
        return usage(f"--comfyui {comfyui}: no such folder")
    cfg = resolve(comfyui=comfyui, extra_yaml=a.extra_model_paths, roots=roots)
    roles = {r for w in a.workflow for r in preset_roles(w)} if a.workflow else None
    report = run_inventory(cfg, verify=a.verify, roles=roles, progress=stderr_progress() if a.verify else None,
                           cache=False)
    if a.strict:
        report.apply_strict()
    ids = a.workflow or list(report.workflows)
    if a.json:
        print(json.dumps(report.as_dict(ids), indent=2))
    else:
        print(report.text(ids))
    return 0 if report.ready(ids) else 1


def cmd_plan(a: argparse.Namespace) -> int:
    from ..plan.routing import Overrides, make_plan

    ov = Overrides(steps=a.steps, cfg=a.cfg, shift=a.shift, sampler=a.sampler, scheduler=a.scheduler,
                   split_step=a.split_step, relight=not a.no_relight)
    plan = make_plan(a.mode, a.preset, ov)
    if a.json:
        print(json.dumps(plan.as_dict(), indent=2))
    else:
        print(plan.text())
    return 0


def cmd_demo_volume(a: argparse.Namespace) -> int:
    from ..demo.demo_volume import make_demo_volume

    info = make_demo_volume(a.dir, seed=a.seed, with_t2v=a.with_t2v)
    if a.json:
        print(json.dumps(info, indent=2))
    else:
        files = info["files"]
        assert isinstance(files, list)
        for f in files:
            print(f"{f['size']:>12,}  {f['path']}")
        print(f"{len(files)} stand-ins + conditioning datasets, {info['bytes']:,} bytes in {info['seconds']} s under {info['root']}")
        print("Add it to ComfyUI with an extra_model_paths.yaml section whose base_path is this folder, "
              "or run `python -m wan22 inventory --root` on it.")
    return 0


def cmd_sparse_volume(a: argparse.Namespace) -> int:
    from ..demo.demo_volume import make_sparse_volume

    info = make_sparse_volume(a.dir)
    print(json.dumps(info, indent=2) if a.json else f"sparse volume at {info['root']}: {info['apparent_bytes']:,} apparent bytes")
    return 0


def cmd_audio_prep(a: argparse.Namespace) -> int:
    from .audio import run as run_audio

    return int(run_audio(a))


def cmd_submit(a: argparse.Namespace) -> int:
    from ..api.submit import run as run_submit

    return int(run_submit(a))


def cmd_demo(a: argparse.Namespace) -> int:
    from ..demo.demo import run as run_demo

    return int(run_demo(a))


def build_parser() -> argparse.ArgumentParser:
    from ..plan.routing import MODES, PRESETS

    p = argparse.ArgumentParser(prog="python -m wan22", description="Wan 2.2 toolkit for ComfyUI")
    p.add_argument("--version", action="version", version=f"wan22 {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("inventory", help="which workflows the model folders can serve, and what is wrong",
                       description="Reads only directory listings and safetensors headers (tensor data only with "
                                   "--verify) and never writes. Exit 0: every requested workflow is ready; 1: not; "
                                   "2: bad usage.")
    s.add_argument("--root", action="append", metavar="DIR",
                   help="a models folder laid out like ComfyUI/models: diffusion_models/, vae/, loras/... (repeatable)")
    s.add_argument("--extra-model-paths", action="append", metavar="YAML",
                   help="an extra_model_paths.yaml, read exactly as ComfyUI reads it (repeatable, in ComfyUI's order)")
    s.add_argument("--comfyui", metavar="DIR", help="a ComfyUI folder: its models/ and its extra_model_paths.yaml")
    s.add_argument("--workflow", action="append", metavar="ID",
                   help="judge only these workflow ids (repeatable): i2v, i2v_fast, t2v, s2v, animate, ...")
    s.add_argument("--json", action="store_true", help="print one JSON object (roots, files, workflows, ...)")
    s.add_argument("--verify", action="store_true",
                   help="also hash file data against known hashes (blake3 when installed, else sha256; slow, "
                        "progress on stderr)")
    s.add_argument("--strict", action="store_true", help="stand-in files (demo-volume) make a workflow not ready")
    s.set_defaults(func=cmd_inventory)

    s = sub.add_parser("plan", help="the routing plan for a mode and preset")
    s.add_argument("--mode", required=True, choices=MODES)
    s.add_argument("--preset", required=True, choices=PRESETS)
    s.add_argument("--steps", type=int)
    s.add_argument("--cfg", type=float)
    s.add_argument("--shift", type=float)
    s.add_argument("--sampler")
    s.add_argument("--scheduler")
    s.add_argument("--split-step", type=int)
    s.add_argument("--no-relight", action="store_true", help="animate: leave the relight LoRA off")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_plan)

    s = sub.add_parser("audio-prep", help="any audio file -> 16 kHz mono WAV for S2V, with the frame plan")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--fps", type=float, default=16.0)
    g = s.add_mutually_exclusive_group()
    g.add_argument("--frames", type=int, help="video frames to cover (rounded to 4n+1)")
    g.add_argument("--seconds", type=float, help="seconds of audio to keep")
    s.add_argument("--start", type=float, default=0.0, help="start offset in seconds")
    s.add_argument("--normalize", choices=("peak", "loudness", "none"), default="peak")
    s.add_argument("--chunk", type=int, default=77, help="S2V chunk length in frames")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_audio_prep)

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
    s.set_defaults(func=cmd_submit)

    s = sub.add_parser("demo-volume", help="write tiny random-weight stand-ins under the real file names")
    s.add_argument("dir")
    s.add_argument("--seed", type=int, default=22)
    s.add_argument("--with-t2v", action="store_true", help="also the T2V experts and T2V low-noise LoRA")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_demo_volume)

    s = sub.add_parser("sparse-volume", help="real-size sparse files with real headers (for benchmarks)")
    s.add_argument("dir")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sparse_volume)

    s = sub.add_parser("demo", help="start ComfyUI with the pack on a demo volume and run the i2v fast example")
    s.add_argument("--comfyui", help="ComfyUI folder (default: $COMFYUI_PATH, ~/comfy/ComfyUI)")
    s.add_argument("--python", default=sys.executable, help="Python that runs ComfyUI")
    s.add_argument("--workdir", default=".demo", help="where the volume, inputs and outputs go")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--out", default="demo_output")
    s.set_defaults(func=cmd_demo)
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
