"""`python -m wan22 run WORKFLOW_ID --endpoint URL`: argv -> the serverless wing's endpoint client."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

SETTINGS = ("prompt", "negative_prompt", "seed", "width", "height", "frames", "fps", "steps", "cfg", "shift", "timeout")


def cmd_run(a: argparse.Namespace) -> int:
    from ..serverless.remote import Endpoint, endpoint_url, save_video, typed_input

    job = typed_input(a.workflow, {"image": a.image, "end_image": a.end_image, "audio": a.audio, "video": a.video},
                      {k: getattr(a, k) for k in SETTINGS})
    ep = Endpoint(endpoint_url(a.endpoint), a.api_key or os.environ.get("RUNPOD_API_KEY") or None, a.wait_timeout)
    job_id = ep.submit(job)
    print(f"queued {a.workflow} on {ep.url}: job {job_id}", flush=True)
    last = [""]

    def show(body: Mapping[str, Any]) -> None:
        out = body.get("output")
        line = f"{body.get('status')}" + (f": {out}" if isinstance(out, str) else "")
        if line != last[0]:
            last[0] = line
            print(f"[wan22] {line}", file=sys.stderr, flush=True)

    final = ep.follow(job_id, show)
    if final.get("status") != "COMPLETED":
        print(f"error: job {job_id} {final.get('status')}: {final.get('error') or ''}".rstrip(), file=sys.stderr)
        return 1
    output = final.get("output") or {}
    path = save_video(output, a.out)
    meta = {k: output.get(k) for k in ("workflow", "seed", "frames", "fps", "width", "height", "timings")}
    print(f"saved {path}  {json.dumps(meta)}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("run", help="post a typed Wan 2.2 job to a RunPod endpoint (or the local worker API), save the video")
    s.add_argument("workflow", metavar="WORKFLOW_ID", help="i2v, i2v_fast, i2v_fast_480p, t2v, t2v_fast, s2v, s2v_fast, animate...")
    s.add_argument("--endpoint", required=True, metavar="URL",
                   help="https://api.runpod.ai/v2/<endpoint id>, the endpoint id, or the worker's local API URL")
    s.add_argument("--api-key", default=None, help="RunPod API key (default $RUNPOD_API_KEY)")
    s.add_argument("--image", help="start/reference image: a file (sent as base64) or an https:// URL")
    s.add_argument("--end-image", dest="end_image", help="flf2v: the last frame, a file or an https:// URL")
    s.add_argument("--audio", help="s2v: the speech audio (any format FFmpeg reads), file or https:// URL")
    s.add_argument("--video", help="animate: the driving video, file or https:// URL")
    s.add_argument("--prompt", help="positive prompt text")
    s.add_argument("--negative-prompt", dest="negative_prompt")
    s.add_argument("--seed", type=int)
    s.add_argument("--width", type=int)
    s.add_argument("--height", type=int)
    s.add_argument("--frames", type=int, help="4n+1 (s2v: from the audio length unless given)")
    s.add_argument("--fps", type=float)
    s.add_argument("--steps", type=int)
    s.add_argument("--cfg", type=float)
    s.add_argument("--shift", type=float)
    s.add_argument("--timeout", type=float, help="the job's time limit on the worker, seconds")
    s.add_argument("--wait-timeout", type=float, default=3600.0, help="how long to follow /status (default 3600 s)")
    s.add_argument("--out", default="wan22_outputs", help="where the video is saved")
    s.set_defaults(func=cmd_run)
