"""`python -m wan22 worker`: argv -> the serverless wing's RunPod worker."""

from __future__ import annotations

import argparse
import os
import sys

RP_FLAGS = ("rp_serve_api", "rp_api_host", "rp_api_port", "rp_api_concurrency", "rp_log_level", "rp_debugger", "test_input")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def rp_argv(a: argparse.Namespace) -> list[str]:
    """The runpod SDK's own flags, back as argv for `runpod.serverless.start` to parse."""
    out: list[str] = []
    for name in RP_FLAGS:
        value = getattr(a, name, None)
        if value is None or value is False:
            continue
        out += [f"--{name}"] if value is True else [f"--{name}", str(value)]
    return out


def cmd_worker(a: argparse.Namespace) -> int:
    from ..errors import Wan22Error
    from ..serverless.boot_prefetch import default_workflow
    from ..serverless.hf_cache import cache_dir, model_source
    from ..serverless.jobs import Limits
    from ..serverless.worker import WorkerConfig, main

    limits = Limits.from_env()
    if a.job_timeout is not None:
        limits = Limits(limits.max_frames, limits.max_side, limits.max_payload, limits.max_file, a.job_timeout)
    comfy_args = list(a.comfy_args or [])
    if comfy_args[:1] == ["--"]:
        comfy_args = comfy_args[1:]
    if comfy_args and not a.start_comfyui:
        print("error: ComfyUI arguments after -- need --start-comfyui DIR", file=sys.stderr)
        return 2
    try:
        default = default_workflow()
        source = model_source()
    except Wan22Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg = WorkerConfig(comfy_url=a.comfy_url, start_comfyui=a.start_comfyui, comfy_args=comfy_args, python=a.python,
                       boot_timeout=a.boot_timeout, hang_timeout=a.hang_timeout, precomputed=a.precomputed_conditioning,
                       limits=limits, default_workflow=default, model_source=source, hf_cache=cache_dir())
    return main(cfg, rp_argv(a))


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "worker", help="the RunPod serverless worker: typed Wan 2.2 jobs on a ComfyUI (runpod SDK)",
        description="Runs typed Wan 2.2 jobs ({\"workflow\": \"i2v_fast\", \"image\": ..., \"prompt\": ...}) and stock "
                    "worker-comfyui jobs on a ComfyUI with this pack, as a runpod SDK handler. Limits from the "
                    "environment: WAN22_MAX_FRAMES, WAN22_MAX_SIDE, WAN22_MAX_PAYLOAD, WAN22_MAX_FILE (docs/deploy.md).")
    s.add_argument("--comfy-url", default=os.environ.get("COMFY_URL", "http://127.0.0.1:8188"),
                   help="ComfyUI to drive (default $COMFY_URL or http://127.0.0.1:8188)")
    s.add_argument("--start-comfyui", metavar="DIR", default=os.environ.get("WAN22_START_COMFYUI") or None,
                   help="start ComfyUI's main.py in DIR as a child (restarted if it dies); arguments after -- go to it")
    s.add_argument("--python", default=sys.executable, help="interpreter for ComfyUI's main.py (default: this one)")
    s.add_argument("--job-timeout", type=float, default=None,
                   help="seconds a job may run before ComfyUI is interrupted (default $WAN22_JOB_TIMEOUT or 3600)")
    s.add_argument("--hang-timeout", type=float, default=_env_float("WAN22_HANG_TIMEOUT", 120.0),
                   help="seconds without an answer from ComfyUI before a job counts it as hung (default 120)")
    s.add_argument("--boot-timeout", type=float, default=_env_float("WAN22_BOOT_TIMEOUT", 600.0),
                   help="seconds to wait for ComfyUI at boot (default 600)")
    s.add_argument("--precomputed-conditioning", action="store_true",
                   default=os.environ.get("WAN22_PRECOMPUTED_CONDITIONING", "") == "1",
                   help="test/demo switch (or WAN22_PRECOMPUTED_CONDITIONING=1): typed jobs use the demo volume's "
                        "precomputed text conditioning instead of CLIPTextEncode")
    g = s.add_argument_group("runpod SDK flags (passed to runpod.serverless.start unchanged)")
    g.add_argument("--rp_serve_api", action="store_true", default=None, help="serve the SDK's local job API")
    g.add_argument("--rp_api_host", default=None, help="its host (SDK default localhost)")
    g.add_argument("--rp_api_port", type=int, default=None, help="its port (SDK default 8000)")
    g.add_argument("--rp_api_concurrency", type=int, default=None, help="its uvicorn workers")
    g.add_argument("--rp_log_level", default=None, help="ERROR, WARN, INFO or DEBUG")
    g.add_argument("--rp_debugger", action="store_true", default=None, help="the SDK's debugger output")
    g.add_argument("--test_input", default=None, metavar="JSON", help="run this one job and exit")
    s.add_argument("comfy_args", nargs=argparse.REMAINDER, metavar="-- COMFYUI_ARGS",
                   help="arguments for ComfyUI's main.py, after -- (with --start-comfyui)")
    s.set_defaults(func=cmd_worker)
