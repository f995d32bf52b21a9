"""What a finished job returns: the files ComfyUI saved, as base64 in the response or, with
`BUCKET_ENDPOINT_URL` set, uploaded through the runpod SDK's own helper (`rp_upload`) and
returned as presigned URLs.

Typed jobs (contract): `{"video": {"filename", "type": "base64", "data"} | {"filename", "type":
"s3_url", "url"}, ...}`. Stock jobs: the stock worker's `images` list (every file ComfyUI lists
under a node's `images`, SaveVideo's mp4 included, as the stock worker returns it) plus `videos`
and `audio` lists with every video and audio file the graph saved.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from ..api.client import output_items
from .media import JobError

VIDEO_EXTS = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif")
AUDIO_EXTS = (".flac", ".wav", ".mp3", ".m4a", ".ogg", ".opus", ".aac")
MAX_RESPONSE = 20_000_000  # RunPod drops results over 20 MB: such files must go to a bucket

Fetch = Callable[[Mapping[str, Any]], bytes]


def uses_bucket(env: Mapping[str, str] | None = None) -> bool:
    return bool((os.environ if env is None else env).get("BUCKET_ENDPOINT_URL"))


def _upload(job_id: str, filename: str, data: bytes) -> str:
    from runpod.serverless.utils import rp_upload

    with tempfile.TemporaryDirectory(prefix="wan22-out-") as tmp:
        path = os.path.join(tmp, filename)
        with open(path, "wb") as f:
            f.write(data)
        return str(rp_upload.upload_file_to_bucket(file_name=filename, file_location=path, prefix=job_id,
                                                   bucket_name=os.environ.get("BUCKET_NAME") or None))


class Files:
    """Turns output items into response entries, keeping the response under RunPod's limit."""

    def __init__(self, job_id: str, fetch: Fetch, bucket: bool | None = None) -> None:
        self.job_id = job_id
        self.fetch = fetch
        self.bucket = uses_bucket() if bucket is None else bucket
        self.inline = 0
        self.cache: dict[tuple[str, str, str], dict[str, Any]] = {}

    def entry(self, item: Mapping[str, Any], url_key: str = "url") -> dict[str, Any]:
        key = (str(item.get("filename")), str(item.get("subfolder") or ""), str(item.get("type") or "output"))
        if key not in self.cache:
            name = os.path.basename(key[0])
            data = self.fetch(item)
            if self.bucket:
                self.cache[key] = {"filename": name, "type": "s3_url", "url": _upload(self.job_id, name, data)}
            else:
                self.cache[key] = {"filename": name, "type": "base64", "data": base64.b64encode(data).decode("ascii")}
        out = dict(self.cache[key])
        if "url" in out and url_key != "url":
            out[url_key] = out.pop("url")
        self.inline += len(out.get("data", ""))
        if self.inline > MAX_RESPONSE:
            raise JobError(f"the outputs are over {MAX_RESPONSE / 1e6:g} MB as base64, more than RunPod returns: "
                           "set BUCKET_ENDPOINT_URL (and BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY) on the "
                           "endpoint so the worker uploads them, or ask for fewer frames")
        return out


def typed_video(entry: Mapping[str, Any], files: Files) -> dict[str, Any]:
    """The one video a typed job's SaveVideo wrote."""
    videos = [item for _nid, item in output_items(entry) if str(item.get("filename", "")).lower().endswith(VIDEO_EXTS)]
    if not videos:
        raise JobError("the workflow finished but saved no video (its SaveVideo node wrote nothing)")
    return files.entry(videos[-1])


def stock_outputs(entry: Mapping[str, Any], files: Files) -> dict[str, Any]:
    """`images` as the stock worker returns them, plus every saved `videos` and `audio` file."""
    images: list[dict[str, Any]] = []
    for node_out in (entry.get("outputs") or {}).values():
        for item in node_out.get("images") or []:
            if isinstance(item, dict) and item.get("filename") and item.get("type") != "temp":
                images.append(files.entry(item, url_key="data"))
    videos: list[dict[str, Any]] = []
    audio: list[dict[str, Any]] = []
    for _nid, item in output_items(entry):
        name = str(item.get("filename", "")).lower()
        if name.endswith(VIDEO_EXTS):
            videos.append(files.entry(item))
        elif name.endswith(AUDIO_EXTS):
            audio.append(files.entry(item))
    out: dict[str, Any] = {"images": images}
    if videos:
        out["videos"] = videos
    if audio:
        out["audio"] = audio
    return out
