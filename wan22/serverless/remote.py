"""The client side of the worker (`python -m wan22 run`): post a typed job to a RunPod endpoint
(`https://api.runpod.ai/v2/<endpoint id>`) or to the runpod SDK's local job API, follow
`/status` until the job ends, and save the video.

RunPod answers `GET /status/<id>` while the job waits or runs; the SDK's local API has
`POST /status/<id>` instead, which runs the job and answers when it is done. Both are handled.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import Wan22Error

RUNPOD_API = "https://api.runpod.ai/v2"
FINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
MEDIA_FIELDS = ("image", "end_image", "audio", "video")


class RemoteError(Wan22Error):
    """The endpoint refused or failed the job, or cannot be reached."""


def endpoint_url(endpoint: str) -> str:
    """An endpoint URL, or a bare RunPod endpoint id -> https://api.runpod.ai/v2/<id>."""
    e = endpoint.strip().rstrip("/")
    if "://" not in e:
        if not e or "/" in e:
            raise RemoteError(f"--endpoint {endpoint!r}: give https://api.runpod.ai/v2/<endpoint id>, the id, or a local API URL")
        return f"{RUNPOD_API}/{e}"
    return e


def media_value(path_or_url: str) -> str:
    """What a job field carries for a file argument: https:// URLs as they are, files as base64."""
    if path_or_url.startswith("https://"):
        return path_or_url
    try:
        with open(path_or_url, "rb") as f:
            return base64.b64encode(f.read()).decode("ascii")
    except OSError as e:
        raise RemoteError(f"{path_or_url}: cannot read it ({e.strerror})") from None


def typed_input(workflow: str, files: Mapping[str, str | None], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The typed job's `input` (None values left out)."""
    out: dict[str, Any] = {"workflow": workflow}
    for key in MEDIA_FIELDS:
        value = files.get(key)
        if value:
            out[key] = media_value(value)
    out.update({k: v for k, v in settings.items() if v is not None})
    return out


@dataclass
class Endpoint:
    url: str
    api_key: str | None = None
    timeout: float = 3600.0

    def _call(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = int(r.status), r.read()
        except urllib.error.HTTPError as e:
            status, raw = int(e.code), e.read()
        except (urllib.error.URLError, OSError) as e:
            raise RemoteError(f"cannot reach {self.url} ({getattr(e, 'reason', e)})") from None
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def submit(self, job_input: Mapping[str, Any]) -> str:
        """POST /run; the job id."""
        status, body = self._call("POST", "/run", {"input": dict(job_input)})
        if status == 401:
            raise RemoteError(f"{self.url}/run: HTTP 401: pass --api-key (or set RUNPOD_API_KEY)")
        if status != 200 or not isinstance(body, dict) or "id" not in body:
            raise RemoteError(f"{self.url}/run: HTTP {status}: {str(body)[:500]}")
        return str(body["id"])

    def follow(self, job_id: str, on_status: Callable[[Mapping[str, Any]], None] | None = None) -> dict[str, Any]:
        """/status until the job ends: the final status object."""
        path = f"/status/{urllib.parse.quote(job_id)}"
        deadline = time.monotonic() + self.timeout
        method = "GET"
        while time.monotonic() < deadline:
            status, body = self._call(method, path, timeout=self.timeout if method == "POST" else 60.0)
            if status == 405 and method == "GET":  # the SDK's local API: POST runs the job and answers at the end
                method = "POST"
                continue
            if status != 200 or not isinstance(body, dict):
                raise RemoteError(f"{self.url}{path}: HTTP {status}: {str(body)[:500]}")
            if on_status is not None:
                on_status(body)
            if body.get("status") in FINAL:
                return body
            time.sleep(2.0)
        raise RemoteError(f"job {job_id} did not end within {self.timeout:g} s; see {self.url}{path}")


def save_video(output: Mapping[str, Any], out_dir: str) -> str:
    """Write the output's video (base64 or s3_url) into `out_dir`; its path."""
    video = output.get("video")
    if not isinstance(video, dict):
        raise RemoteError(f"the job's output has no video: {str(output)[:300]}")
    name = os.path.basename(str(video.get("filename") or "wan22_output.mp4")) or "wan22_output.mp4"
    if video.get("type") == "base64":
        data = base64.b64decode(str(video.get("data", "")))
    elif video.get("type") == "s3_url" and str(video.get("url", "")).startswith("https://"):
        with urllib.request.urlopen(str(video["url"]), timeout=600) as r:
            data = r.read()
    else:
        raise RemoteError(f"unknown video entry type {video.get('type')!r}")
    os.makedirs(out_dir, exist_ok=True)
    dest = os.path.join(out_dir, name)
    with open(dest, "wb") as f:
        f.write(data)
    return dest
