"""`python -m wan22 submit WORKFLOW.json`: pre-flight, upload, queue, follow, download.

Stdlib only (urllib + the small websocket client in .websocket), so it runs on a laptop, in a
RunPod pod or in a CI job without ComfyUI installed:

1. read the workflow (API format; a UI workflow is converted with the server's /object_info);
2. set `--prompt` (the CLIPTextEncode feeding `positive`), `--seed`, and the LoadImage/LoadAudio
   file names for `--image`/`--audio`;
3. pre-flight against GET /object_info: every node type installed, every input legal, every
   model/LoRA file present (closest name and download link when not), the router's pairing rules;
   all problems are listed at once and nothing is uploaded or queued when there is one;
4. upload the image/audio (POST /upload/image: ComfyUI stores any file type there, and LoadAudio
   lists audio files from the same input folder), POST /prompt;
5. with `--wait`: follow progress over the websocket (a progress bar on stderr; /history polling
   when the websocket is unavailable), then download every output through /view into `--out`.

`--runpod-request FILE` writes instead the request body a RunPod ComfyUI worker
(runpod-workers/worker-comfyui) takes: `{"input": {"workflow": <API prompt>, "images":
[{"name", "image": <base64>}]}}`. The worker uploads every `images` entry through the same
/upload/image route before queueing, so the audio file travels in `images` too (see
docs/workflows.md).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import mimetypes
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..errors import WorkflowError
from .websocket import WebSocket, WebSocketError
from .workflows import (
    JSON,
    load_prompt_file,
    nodes_of,
    preflight,
    set_file_input,
    set_positive_prompt,
    set_seed,
    ui_to_api,
)

OUTPUT_KEYS = ("images", "gifs", "video", "videos", "audio")
RUNPOD_SOFT_LIMIT = 10 * 1024 * 1024  # RunPod: /run bodies up to 10 MB, /runsync up to 20 MB


def _out(msg: str = "") -> None:
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def _err(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


class SubmitError(WorkflowError):
    """The server refused or failed the prompt (message names the node and the fix)."""


# --------------------------------------------------------------------------- HTTP client

class Client:
    def __init__(self, url: str, timeout: float = 60.0) -> None:
        url = url.strip().rstrip("/")
        if "://" not in url:
            url = "http://" + url
        self.url = url
        self.timeout = timeout
        self.client_id = uuid.uuid4().hex

    def _request(self, method: str, path: str, data: bytes | None = None,
                 headers: Mapping[str, str] | None = None, timeout: float | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as r:
                return int(r.status), r.read()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read()

    def get_json(self, path: str, timeout: float | None = None) -> Any:
        status, body = self._request("GET", path, timeout=timeout)
        if status != 200:
            raise SubmitError(f"GET {self.url}{path}: HTTP {status}: {body[:300].decode(errors='replace')}")
        return json.loads(body)

    def post_json(self, path: str, payload: Any) -> tuple[int, Any]:
        status, body = self._request("POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body.decode(errors="replace")

    def object_info(self) -> dict[str, Any]:
        try:
            info = self.get_json("/object_info", timeout=max(self.timeout, 120))
        except (urllib.error.URLError, OSError) as e:
            raise SubmitError(f"cannot reach ComfyUI at {self.url} ({getattr(e, 'reason', e)}): start it, or pass "
                              "--server URL (or set COMFYUI_URL)") from None
        if not isinstance(info, dict):
            raise SubmitError(f"{self.url}/object_info did not return a JSON object: is this a ComfyUI server?")
        return info

    def upload(self, path: str) -> str:
        """POST /upload/image (any file type: images, audio, video); returns the stored name."""
        name = os.path.basename(path)
        with open(path, "rb") as f:
            blob = f.read()
        boundary = "----wan22" + uuid.uuid4().hex
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
                f"Content-Type: {ctype}\r\n\r\n").encode() + blob + f"\r\n--{boundary}--\r\n".encode()
        status, raw = self._request("POST", "/upload/image", body,
                                    {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        if status != 200:
            raise SubmitError(f"upload of {path} to {self.url}/upload/image failed: HTTP {status}: "
                              f"{raw[:300].decode(errors='replace')}")
        info = json.loads(raw)
        sub = info.get("subfolder") or ""
        return f"{sub}/{info['name']}" if sub else str(info["name"])

    def queue(self, prompt: JSON) -> str:
        status, body = self.post_json("/prompt", {"prompt": prompt, "client_id": self.client_id})
        if status != 200 or not isinstance(body, dict) or "prompt_id" not in body:
            raise SubmitError("ComfyUI refused the prompt:\n" + format_rejection(body, prompt))
        return str(body["prompt_id"])

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        h = self.get_json(f"/history/{urllib.parse.quote(prompt_id)}")
        entry = h.get(prompt_id) if isinstance(h, dict) else None
        return entry if isinstance(entry, dict) else None

    def ws_url(self) -> str:
        u = urllib.parse.urlsplit(self.url)
        scheme = "wss" if u.scheme == "https" else "ws"
        return f"{scheme}://{u.netloc}{u.path}/ws?clientId={self.client_id}"

    def download(self, item: Mapping[str, Any], out_dir: str) -> str:
        filename = os.path.basename(str(item["filename"]))
        subfolder = str(item.get("subfolder") or "")
        parts = [p for p in subfolder.replace("\\", "/").split("/") if p not in ("", ".", "..")]
        q = urllib.parse.urlencode({"filename": item["filename"], "subfolder": subfolder, "type": item.get("type", "output")})
        status, data = self._request("GET", f"/view?{q}", timeout=max(self.timeout, 300))
        if status != 200:
            raise SubmitError(f"download of {filename} failed: HTTP {status}")
        dest_dir = os.path.join(out_dir, *parts)
        os.makedirs(dest_dir, exist_ok=True)
        dest = os.path.join(dest_dir, filename)
        with open(dest, "wb") as f:
            f.write(data)
        return dest


def format_rejection(body: Any, prompt: Mapping[str, Any]) -> str:
    if not isinstance(body, dict):
        return f"  {str(body)[:2000]}"
    lines = []
    err = body.get("error")
    if isinstance(err, dict):
        lines.append(f"  {err.get('message', '')}: {err.get('details', '')}".rstrip(": "))
    elif err:
        lines.append(f"  {err}")
    for nid, ne in (body.get("node_errors") or {}).items():
        ctype = ne.get("class_type") or (prompt.get(nid) or {}).get("class_type")
        for e in ne.get("errors", []):
            detail = e.get("details") or ""
            lines.append(f"  node {nid} ({ctype}): {e.get('message', '')}{': ' + detail if detail else ''}")
    return "\n".join(lines) or f"  {json.dumps(body)[:2000]}"


# --------------------------------------------------------------------------- progress

@dataclass
class Progress:
    prompt: Mapping[str, Any]
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    done: set[str] = field(default_factory=set)
    cached: set[str] = field(default_factory=set)
    current: str | None = None
    step: tuple[int, int] | None = None
    started: float = field(default_factory=time.monotonic)
    _last_line: str = ""
    _last_key: str = ""

    @property
    def total(self) -> int:
        return max(1, len(self.prompt) - len(self.cached))

    def fraction(self) -> float:
        n = len(self.done - self.cached)
        part = self.step[0] / self.step[1] if self.step and self.step[1] else 0.0
        return min(1.0, (n + (part if self.current and self.current not in self.done else 0.0)) / self.total)

    def render(self) -> None:
        f = self.fraction()
        width = 24
        bar = "#" * int(f * width) + "-" * (width - int(f * width))
        node = ""
        if self.current:
            ctype = (self.prompt.get(self.current) or {}).get("class_type", "?")
            node = f" node {self.current} {ctype}"
            if self.step:
                node += f" {self.step[0]}/{self.step[1]}"
        secs = int(time.monotonic() - self.started)
        line = f"[wan22] [{bar}] {f * 100:3.0f}%{node} {secs // 60}:{secs % 60:02d}"
        if self.stream.isatty():
            self.stream.write("\r" + line.ljust(len(self._last_line)))
            self._last_line = line
        else:  # a log, not a terminal: one line per node and sampler step
            key = f"{self.current}|{self.step}"
            if key == self._last_key:
                return
            self._last_key = key
            self.stream.write(line + "\n")
        self.stream.flush()

    def event(self, msg: Mapping[str, Any]) -> None:
        kind, data = msg.get("type"), msg.get("data") or {}
        if kind == "execution_cached":
            self.cached |= {str(n) for n in data.get("nodes", [])}
            self.done |= self.cached
        elif kind == "executing":
            node = data.get("node")
            if self.current and self.current != node:
                self.done.add(self.current)
            self.current = str(node) if node is not None else None
            self.step = None
        elif kind == "progress":
            self.step = (int(data.get("value", 0)), int(data.get("max", 0)))
            if data.get("node") is not None:
                self.current = str(data["node"])
        elif kind == "executed" and data.get("node") is not None:
            self.done.add(str(data["node"]))
        self.render()

    def finish(self) -> None:
        self.done = set(self.prompt)
        self.current = None
        self.render()
        if self.stream.isatty():
            self.stream.write("\n")
            self.stream.flush()


def follow(client: Client, prompt_id: str, prompt: Mapping[str, Any], timeout: float,
           ws: WebSocket | None, progress: Progress | None) -> dict[str, Any]:
    """Wait for the prompt to finish (websocket events, /history as the source of truth)."""
    deadline = time.monotonic() + timeout
    next_poll = 0.0
    while time.monotonic() < deadline:
        if ws is not None:
            ws.settimeout(1.0)
            try:
                raw = ws.recv()
                if isinstance(raw, str):
                    msg = json.loads(raw)
                    data = msg.get("data") or {}
                    if data.get("prompt_id") in (None, prompt_id) and progress is not None:
                        progress.event(msg)
                    if data.get("prompt_id") == prompt_id and msg.get("type") in (
                            "execution_success", "execution_error", "execution_interrupted"):
                        next_poll = 0.0
                    elif msg.get("type") == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                        next_poll = 0.0
            except TimeoutError:
                pass
            except (WebSocketError, OSError, ValueError):
                ws = None  # fall back to polling
        else:
            time.sleep(0.5)
        if time.monotonic() >= next_poll:
            entry = client.history(prompt_id)
            if entry is not None and (entry.get("status") or {}).get("completed") is not None:
                if progress is not None:
                    progress.finish()
                return entry
            next_poll = time.monotonic() + (2.0 if ws is not None else 0.5)
    raise SubmitError(f"prompt {prompt_id} did not finish within {timeout:g} s (it may still be running: "
                      f"see {client.url}/history/{prompt_id}); raise --timeout")


def execution_error(entry: Mapping[str, Any]) -> str | None:
    st = entry.get("status") or {}
    if st.get("status_str") == "success":
        return None
    for kind, data in st.get("messages", []):
        if kind == "execution_error":
            return (f"node {data.get('node_id')} ({data.get('node_type')}) failed: {data.get('exception_message', '').strip()}")
        if kind == "execution_interrupted":
            return f"the run was interrupted at node {data.get('node_id')} ({data.get('node_type')})"
    return f"the run ended with status {st.get('status_str')!r}"


def output_items(entry: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    items = []
    for nid, out in (entry.get("outputs") or {}).items():
        for key in OUTPUT_KEYS:
            for item in out.get(key) or []:
                if isinstance(item, dict) and item.get("filename") and item.get("type") != "temp":
                    items.append((str(nid), item))
    return items


def text_outputs(entry: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for nid, o in (entry.get("outputs") or {}).items():
        for t in o.get("text") or []:
            if isinstance(t, str):
                out.append((str(nid), t))
    return out


# --------------------------------------------------------------------------- RunPod

def runpod_body(prompt: JSON, files: list[tuple[str, bytes]]) -> dict[str, Any]:
    """The request body of runpod-workers/worker-comfyui: the API prompt in input.workflow and
    every input file as {"name", "image": base64} in input.images (the worker uploads each one to
    ComfyUI's /upload/image, which stores any file type, audio included, in input/)."""
    body: dict[str, Any] = {"input": {"workflow": prompt}}
    if files:
        body["input"]["images"] = [{"name": n, "image": base64.b64encode(b).decode("ascii")} for n, b in files]
    return body


# --------------------------------------------------------------------------- command

def _read_workflow(path: str) -> tuple[str, JSON]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise WorkflowError(f"{path}: no such file (example workflows: example_workflows/api/*.json)") from None
    except ValueError as e:
        raise WorkflowError(f"{path}: not valid JSON ({e})") from None
    return load_prompt_file(data)


@dataclass
class Inputs:
    image: str | None
    audio: str | None


def _apply_edits(prompt: JSON, a: argparse.Namespace, names: Inputs) -> tuple[list[str], list[tuple[str, str]]]:
    """Set prompt text, seed and input file names. Returns (problems, (node, input) uploads)."""
    problems: list[str] = []
    uploads: list[tuple[str, str]] = []
    if a.prompt is not None:
        try:
            set_positive_prompt(prompt, a.prompt)
        except WorkflowError as e:
            problems.append(str(e))
    if a.seed is not None:
        try:
            set_seed(prompt, a.seed)
        except WorkflowError as e:
            problems.append(str(e))
    for flag, path, ctype, key in (("--image", a.image, "LoadImage", "image"), ("--audio", a.audio, "LoadAudio", "audio")):
        if path is None:
            continue
        if not os.path.isfile(path):
            problems.append(f"{flag} {path}: no such file")
        ids = nodes_of(prompt, ctype)
        if not ids:
            problems.append(f"{flag}: the workflow has no {ctype} node to put the file in")
            continue
        name = names.image if ctype == "LoadImage" else names.audio
        set_file_input(prompt, ctype, name or os.path.basename(path))
        uploads += [(nid, key) for nid in ids]
    return problems, uploads


def _report(problems: list[str], where: str) -> None:
    _err(f"preflight: {len(problems)} problem(s) with {where}; nothing was uploaded or queued:")
    for i, p in enumerate(problems, 1):
        _err(f"  {i}. " + p.replace("\n", "\n     "))


def run(a: argparse.Namespace) -> int:
    """Exit 0: queued (and with --wait: finished, outputs saved); 1: pre-flight problems, refused
    or failed run, unreachable server; 2: unreadable workflow or bad arguments (via the CLI)."""
    kind, data = _read_workflow(a.workflow)
    client = Client(a.server)
    try:
        if a.runpod_request:
            return _run_runpod(a, kind, data, client)
        return _submit(a, kind, data, client)
    except SubmitError as e:
        _err(f"error: {e}")
        return 1


def _submit(a: argparse.Namespace, kind: str, data: JSON, client: Client) -> int:
    info = client.object_info()
    prompt = ui_to_api(data, info) if kind == "ui" else data
    problems, uploads = _apply_edits(prompt, a, Inputs(None, None))
    if not a.no_preflight:
        problems += preflight(prompt, info, skip_files=uploads)
    if problems:
        _report(problems, f"{a.workflow} on {client.url}")
        return 1

    names = Inputs(client.upload(a.image) if a.image else None, client.upload(a.audio) if a.audio else None)
    for label, path, name in (("image", a.image, names.image), ("audio", a.audio, names.audio)):
        if path:
            _out(f"uploaded {label} {path} -> input/{name}")
    if names.image:
        set_file_input(prompt, "LoadImage", names.image)
    if names.audio:
        set_file_input(prompt, "LoadAudio", names.audio)

    ws: WebSocket | None = None
    if a.wait:
        try:
            ws = WebSocket.connect(client.ws_url(), timeout=10)
        except (OSError, WebSocketError) as e:
            _err(f"[wan22] websocket unavailable ({e}); following the run by polling /history")
    try:
        prompt_id = client.queue(prompt)
        _out(f"queued {a.workflow} on {client.url}: prompt_id {prompt_id}")
        if not a.wait:
            _out(f"follow it in the ComfyUI queue, or GET {client.url}/history/{prompt_id}")
            return 0
        progress = Progress(prompt)
        entry = follow(client, prompt_id, prompt, a.timeout, ws, progress)
    finally:
        if ws is not None:
            ws.close()
    err = execution_error(entry)
    if err:
        _err(f"error: {err}")
        return 1
    for nid, text in text_outputs(entry):
        ctype = (prompt.get(nid) or {}).get("class_type", "?")
        _out(f"--- node {nid} ({ctype}) ---\n{text.rstrip()}")
    saved = [client.download(item, a.out) for _nid, item in output_items(entry)]
    for path in saved:
        _out(f"saved {path}")
    if not saved and nodes_of(prompt, "SaveVideo"):
        _err("warning: the run finished but returned no files")
    return 0


def _job_name(path: str | None) -> str | None:
    """A content-addressed input name ('<sha256[:10]>_<file name>'): a warm worker keeps input/
    between jobs and its handler uploads with overwrite, so equal names must mean equal bytes."""
    if not path or not os.path.isfile(path):
        return os.path.basename(path) if path else None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"{h.hexdigest()[:10]}_{os.path.basename(path)}"


def _run_runpod(a: argparse.Namespace, kind: str, data: JSON, client: Client) -> int:
    info: dict[str, Any] | None = None
    if kind == "ui" or not a.no_preflight:
        try:
            info = client.object_info()
        except SubmitError as e:
            if kind == "ui":
                raise WorkflowError(f"{a.workflow} is a UI workflow: converting it needs a server's /object_info ({e}); "
                                    "or use its API twin in example_workflows/api/") from None
            _err(f"[wan22] no server at {client.url}: skipped the server preflight (pass --server URL of a ComfyUI "
                 "with the same models to check the workflow before sending it to RunPod)")
    prompt = ui_to_api(data, info) if kind == "ui" and info is not None else data
    image_name = _job_name(a.image)
    audio_name = _job_name(a.audio)
    problems, uploads = _apply_edits(prompt, a, Inputs(image_name, audio_name))
    if info is not None and not a.no_preflight:
        problems += preflight(prompt, info, skip_files=uploads)
    if problems:
        _report(problems, a.workflow)
        return 1
    files: list[tuple[str, bytes]] = []
    for path, name in ((a.image, image_name), (a.audio, audio_name)):
        if path and name:
            with open(path, "rb") as f:
                files.append((name, f.read()))
    body = runpod_body(prompt, files)
    text = json.dumps(body)
    with open(a.runpod_request, "w", encoding="utf-8") as f:
        f.write(text)
    _out(f"wrote {a.runpod_request}: input.workflow ({len(prompt)} nodes)"
         + (f" + input.images: {', '.join(n for n, _ in files)}" if files else "") + f", {len(text):,} bytes")
    if audio_name:
        _out(f"audio: {audio_name} travels in input.images; the worker uploads it to ComfyUI's input folder, "
             "where LoadAudio finds it")
    if len(text) > RUNPOD_SOFT_LIMIT:
        _err(f"warning: {len(text) / 1e6:.1f} MB: RunPod limits /run bodies to 10 MB and /runsync to 20 MB; put large "
             "inputs on the network volume (ComfyUI input folder) instead")
    _out("send it:  curl -X POST https://api.runpod.ai/v2/$ENDPOINT_ID/run -H \"Authorization: Bearer $RUNPOD_API_KEY\" "
         f"-H 'Content-Type: application/json' -d @{a.runpod_request}")
    return 0

