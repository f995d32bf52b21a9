"""Request bodies of a RunPod ComfyUI worker (runpod-workers/worker-comfyui):
`{"input": {"workflow": <API prompt>, "images": [{"name", "image": <base64>}]}}`.

The worker uploads every `images` entry through ComfyUI's /upload/image before queueing; that
route stores any file type in input/, so audio travels in `images` too (see docs/workflows.md).
Input names are content-addressed (`job_name`) because a warm worker keeps input/ between jobs
and uploads with overwrite: equal names must mean equal bytes.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from typing import Any

RUNPOD_SOFT_LIMIT = 10 * 1024 * 1024  # RunPod: /run bodies up to 10 MB, /runsync up to 20 MB


def runpod_body(prompt: Mapping[str, Any], files: list[tuple[str, bytes]]) -> dict[str, Any]:
    """The request body: the API prompt in input.workflow and every input file as
    {"name", "image": base64} in input.images (no `images` key when there are no files)."""
    body: dict[str, Any] = {"input": {"workflow": prompt}}
    if files:
        body["input"]["images"] = [{"name": n, "image": base64.b64encode(b).decode("ascii")} for n, b in files]
    return body


def job_name(path: str | None) -> str | None:
    """A content-addressed input name, '<sha256[:10]>_<file name>' (the plain base name when the
    file does not exist, so preflight can report it; None for no path)."""
    if not path or not os.path.isfile(path):
        return os.path.basename(path) if path else None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"{h.hexdigest()[:10]}_{os.path.basename(path)}"


def send_hint(request_file: str) -> str:
    """The curl line that sends a written request body to a RunPod endpoint."""
    return ("send it:  curl -X POST https://api.runpod.ai/v2/$ENDPOINT_ID/run -H \"Authorization: Bearer $RUNPOD_API_KEY\" "
            f"-H 'Content-Type: application/json' -d @{request_file}")
