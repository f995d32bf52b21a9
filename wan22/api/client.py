"""A client for ComfyUI's HTTP API: /object_info, uploads, POST /prompt, /history, /view,
/queue, /interrupt, and following a prompt's events over the /ws websocket.

HTTP through the stdlib (urllib), the websocket through the `websocket-client` package (what
ComfyUI's own API examples use). No printing: a caller that wants to show progress passes
`on_event` / `on_progress` callbacks to `Client.follow` / `Client.execute`. The one ComfyUI
client of the project: `python -m wan22 submit`, the RunPod worker (its liveness and time-limit
checks are `follow`'s hooks), the demo's dev server (`demo/server.ComfyServer`), the benchmarks and
the test harness all go through it.
"""

from __future__ import annotations

import json
import mimetypes
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import websocket

from ..errors import WorkflowError

OUTPUT_KEYS = ("images", "gifs", "video", "videos", "audio")
DONE_EVENTS = ("execution_success", "execution_error", "execution_interrupted")

JSONDict = dict[str, Any]
EventCallback = Callable[[Mapping[str, Any]], None]


class SubmitError(WorkflowError):
    """The server refused or failed the prompt, or cannot be reached (message names the fix).
    A refusal of POST /prompt carries the HTTP `status` and ComfyUI's parsed `body` (node_errors)."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class Step(NamedTuple):
    """One websocket `progress` event: sampler step `value` of `max` in node `node`."""

    node: str | None
    value: int
    max: int


ProgressCallback = Callable[[Step], None]
PollErrorCallback = Callable[[Exception, float], None]


class Outcome(NamedTuple):
    """A finished prompt: its /history entry; the nodes that ran, in order (from the websocket's
    `executing` events; None when it could not be opened, so not known); the nodes ComfyUI served
    from its cache (the entry's execution_cached message)."""

    prompt_id: str
    entry: JSONDict
    executed: tuple[str, ...] | None
    cached: tuple[str, ...]

    def did_run(self, node: str) -> bool:
        """The node ran in this prompt (not served from the cache). ValueError when not known."""
        if self.executed is None:
            raise ValueError("which nodes ran is not known: the websocket could not be opened")
        return node in self.executed


class Client:
    """One ComfyUI server (`url`, e.g. http://127.0.0.1:8188) and one websocket client id."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        """Normalise `url` (adds http://, drops a trailing slash); `timeout` is per HTTP request."""
        url = url.strip().rstrip("/")
        if "://" not in url:
            url = "http://" + url
        self.url = url
        self.timeout = timeout
        self.client_id = uuid.uuid4().hex

    # ------------------------------------------------------------------ raw HTTP
    def request(self, method: str, path: str, data: bytes | None = None,
                headers: Mapping[str, str] | None = None, timeout: float | None = None) -> tuple[int, bytes]:
        """One HTTP request; returns (status, body), HTTP errors included. Raises URLError/OSError
        when the server cannot be reached."""
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as r:
                return int(r.status), r.read()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read()

    def get_json(self, path: str, timeout: float | None = None) -> Any:
        """GET `path` and parse the JSON body; SubmitError on any status but 200."""
        status, body = self.request("GET", path, timeout=timeout)
        if status != 200:
            raise SubmitError(f"GET {self.url}{path}: HTTP {status}: {body[:300].decode(errors='replace')}")
        return json.loads(body)

    def post_json(self, path: str, payload: Any) -> tuple[int, Any]:
        """POST `payload` as JSON; returns (status, parsed body or its text when not JSON)."""
        status, body = self.request("POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body.decode(errors="replace")

    # ------------------------------------------------------------------ routes
    def object_info(self) -> JSONDict:
        """GET /object_info: every installed node type with its inputs (SubmitError when the
        server cannot be reached or is not a ComfyUI)."""
        try:
            info = self.get_json("/object_info", timeout=max(self.timeout, 120))
        except (urllib.error.URLError, OSError) as e:
            raise SubmitError(f"cannot reach ComfyUI at {self.url} ({getattr(e, 'reason', e)}): start it, or pass "
                              "--server URL (or set COMFYUI_URL)") from None
        if not isinstance(info, dict):
            raise SubmitError(f"{self.url}/object_info did not return a JSON object: is this a ComfyUI server?")
        return info

    def upload_bytes(self, name: str, data: bytes, *, overwrite: bool = False, subfolder: str = "") -> str:
        """POST /upload/image with `data` as file `name` (any file type: images, audio, video all
        land in input/, where LoadImage and LoadAudio list them); returns the stored name
        ('subfolder/name' when in a subfolder). ComfyUI renames on a clash unless `overwrite`."""
        return self._upload(os.path.basename(name), data, name, overwrite, subfolder)

    def upload(self, path: str, name: str | None = None, *, overwrite: bool = False) -> str:
        """Upload the file at `path` (as `name`, default its base name); returns the stored name."""
        with open(path, "rb") as f:
            blob = f.read()
        return self._upload(os.path.basename(name or path), blob, path, overwrite, "")

    def _upload(self, name: str, data: bytes, label: str, overwrite: bool, subfolder: str) -> str:
        boundary = "----wan22" + uuid.uuid4().hex
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        fields = [("overwrite", "true")] if overwrite else []
        if subfolder:
            fields.append(("subfolder", subfolder))
        body = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
                        for k, v in fields)
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
                 f"Content-Type: {ctype}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        status, raw = self.request("POST", "/upload/image", body,
                                   {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        if status != 200:
            raise SubmitError(f"upload of {label} to {self.url}/upload/image failed: HTTP {status}: "
                              f"{raw[:300].decode(errors='replace')}")
        info = json.loads(raw)
        sub = info.get("subfolder") or ""
        return f"{sub}/{info['name']}" if sub else str(info["name"])

    def queue(self, prompt: Mapping[str, Any]) -> str:
        """POST /prompt with this client's id; returns the prompt_id. SubmitError lists every node
        error ComfyUI reported when it refuses the prompt."""
        status, body = self.post_json("/prompt", {"prompt": prompt, "client_id": self.client_id})
        if status != 200 or not isinstance(body, dict) or "prompt_id" not in body:
            raise SubmitError("ComfyUI refused the prompt:\n" + format_rejection(body, prompt), status, body)
        return str(body["prompt_id"])

    def history(self, prompt_id: str) -> JSONDict | None:
        """GET /history/<prompt_id>: the entry (status, outputs), or None while it has none."""
        h = self.get_json(f"/history/{urllib.parse.quote(prompt_id)}")
        entry = h.get(prompt_id) if isinstance(h, dict) else None
        return entry if isinstance(entry, dict) else None

    def queue_state(self) -> JSONDict:
        """GET /queue: {"queue_running": [...], "queue_pending": [...]}."""
        state = self.get_json("/queue")
        return state if isinstance(state, dict) else {}

    def interrupt(self, prompt_id: str | None = None) -> None:
        """POST /interrupt: stop the running prompt (only if it is `prompt_id`, when given)."""
        status, body = self.post_json("/interrupt", {"prompt_id": prompt_id} if prompt_id else {})
        if status != 200:
            raise SubmitError(f"POST {self.url}/interrupt: HTTP {status}: {str(body)[:300]}")

    def view(self, item: Mapping[str, Any]) -> bytes:
        """GET /view for one output item ({"filename", "subfolder", "type"}): the file's bytes."""
        q = urllib.parse.urlencode({"filename": item["filename"], "subfolder": str(item.get("subfolder") or ""),
                                    "type": item.get("type", "output")})
        status, data = self.request("GET", f"/view?{q}", timeout=max(self.timeout, 300))
        if status != 200:
            raise SubmitError(f"download of {os.path.basename(str(item['filename']))} failed: HTTP {status}")
        return data

    def download(self, item: Mapping[str, Any], out_dir: str) -> str:
        """Save one output item under `out_dir`/<its subfolder>/ (no '..' escapes); returns the path."""
        filename = os.path.basename(str(item["filename"]))
        subfolder = str(item.get("subfolder") or "")
        parts = [p for p in subfolder.replace("\\", "/").split("/") if p not in ("", ".", "..")]
        data = self.view(item)
        dest_dir = os.path.join(out_dir, *parts)
        os.makedirs(dest_dir, exist_ok=True)
        dest = os.path.join(dest_dir, filename)
        with open(dest, "wb") as f:
            f.write(data)
        return dest

    # ------------------------------------------------------------------ websocket
    def ws_url(self) -> str:
        """The /ws?clientId=... URL (ws:// or wss:// after the server's scheme)."""
        u = urllib.parse.urlsplit(self.url)
        scheme = "wss" if u.scheme == "https" else "ws"
        return f"{scheme}://{u.netloc}{u.path}/ws?clientId={self.client_id}"

    def connect_events(self, timeout: float = 10.0) -> websocket.WebSocket:
        """Open the event websocket (before `queue`, so no event is missed). Raises
        websocket.WebSocketException or OSError when it is unavailable."""
        return websocket.create_connection(self.ws_url(), timeout=timeout)

    def follow(self, prompt_id: str, timeout: float, ws: websocket.WebSocket | None = None, *,
               on_event: EventCallback | None = None, on_progress: ProgressCallback | None = None,
               on_poll_error: PollErrorCallback | None = None, on_deadline: Callable[[], None] | None = None,
               poll_s: float = 2.0) -> JSONDict:
        """Wait until `prompt_id` finishes and return its /history entry: the one loop that follows a
        prompt, for submit, the demo, the worker, the benchmarks and the tests.

        With `ws` (from `connect_events`), every JSON event for this prompt (or with no prompt_id)
        goes to `on_event` and each `progress` event to `on_progress`; /history stays the source of
        truth: polled every `poll_s` seconds, every 0.1 s once an event said the prompt ended (the
        entry is stored just after execution_success), every 0.5 s without a websocket or when it
        drops. A failed poll goes to `on_poll_error(error, seconds since the last good poll)`, which
        may raise to end the wait (without it the error propagates). After `timeout` seconds
        `on_deadline()` runs (it should raise), else SubmitError."""
        deadline = time.monotonic() + timeout
        next_poll, last_ok, ended = 0.0, time.monotonic(), False
        while True:
            if time.monotonic() >= deadline:
                if on_deadline is not None:
                    on_deadline()
                raise SubmitError(f"prompt {prompt_id} did not finish within {timeout:g} s (it may still be running: "
                                  f"see {self.url}/history/{prompt_id}); raise --timeout")
            if ws is not None and not ended:
                try:
                    if _pump(ws, prompt_id, on_event, on_progress):
                        ended, next_poll = True, 0.0
                except (websocket.WebSocketException, OSError, ValueError):
                    ws, next_poll = None, 0.0  # fall back to polling, at once
            else:
                time.sleep(max(0.0, min(next_poll - time.monotonic(), 0.5)))
            if time.monotonic() < next_poll:
                continue
            try:
                entry = self.history(prompt_id)
                last_ok = time.monotonic()
            except (SubmitError, urllib.error.URLError, OSError, ValueError) as e:
                if on_poll_error is None:
                    raise
                on_poll_error(e, time.monotonic() - last_ok)
                entry = None
            if entry is not None and (entry.get("status") or {}).get("completed") is not None:
                return entry
            next_poll = time.monotonic() + (0.1 if ended else poll_s if ws is not None else 0.5)

    def execute(self, prompt: Mapping[str, Any], timeout: float, *, on_event: EventCallback | None = None,
                on_progress: ProgressCallback | None = None, on_deadline: Callable[[], None] | None = None) -> Outcome:
        """Queue `prompt` and follow it to the end (the websocket when it opens, else /history
        polling): its Outcome, with the nodes that ran and the nodes served from ComfyUI's cache."""
        try:
            ws: websocket.WebSocket | None = self.connect_events()
        except (websocket.WebSocketException, OSError):
            ws = None
        executed: list[str] = []

        def track(msg: Mapping[str, Any]) -> None:
            data = msg.get("data") or {}
            if msg.get("type") == "executing" and data.get("node") is not None:
                executed.append(str(data["node"]))
            if on_event is not None:
                on_event(msg)

        try:
            prompt_id = self.queue(prompt)
            entry = self.follow(prompt_id, timeout, ws, on_event=track, on_progress=on_progress, on_deadline=on_deadline)
        finally:
            if ws is not None:
                ws.close()
        return Outcome(prompt_id, entry, tuple(dict.fromkeys(executed)) if ws is not None else None, cached_nodes(entry))

    def run(self, prompt: Mapping[str, Any], timeout: float, *, on_event: EventCallback | None = None,
            on_progress: ProgressCallback | None = None) -> tuple[str, JSONDict]:
        """Queue `prompt` and follow it to the end: (prompt_id, /history entry)."""
        out = self.execute(prompt, timeout, on_event=on_event, on_progress=on_progress)
        return out.prompt_id, out.entry


def _pump(ws: websocket.WebSocket, prompt_id: str, on_event: EventCallback | None,
          on_progress: ProgressCallback | None) -> bool:
    """Read one websocket message (waiting up to 1 s) and dispatch it; True when it says the
    prompt finished. Binary messages (previews) are skipped."""
    ws.settimeout(1.0)
    try:
        raw = ws.recv()
    except websocket.WebSocketTimeoutException:
        return False
    if not isinstance(raw, str):
        return False
    msg = json.loads(raw)
    if not isinstance(msg, dict):
        return False
    kind, data = msg.get("type"), msg.get("data") or {}
    if data.get("prompt_id") not in (None, prompt_id):
        return False
    if on_event is not None:
        on_event(msg)
    if kind == "progress" and on_progress is not None:
        node = data.get("node")
        on_progress(Step(str(node) if node is not None else None, int(data.get("value", 0)), int(data.get("max", 0))))
    if data.get("prompt_id") != prompt_id:
        return False
    return kind in DONE_EVENTS or (kind == "executing" and data.get("node") is None)


def cached_nodes(entry: Mapping[str, Any]) -> tuple[str, ...]:
    """The node ids a /history entry's execution_cached message names."""
    for kind, data in (entry.get("status") or {}).get("messages") or []:
        if kind == "execution_cached" and isinstance(data, dict):
            return tuple(str(n) for n in data.get("nodes") or [])
    return ()


def format_rejection(body: Any, prompt: Mapping[str, Any]) -> str:
    """ComfyUI's /prompt refusal as lines: the error, then each node's errors by id and type."""
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


def execution_error(entry: Mapping[str, Any]) -> str | None:
    """None when the /history entry succeeded, else one line naming the failed node and why."""
    st = entry.get("status") or {}
    if st.get("status_str") == "success":
        return None
    for kind, data in st.get("messages", []):
        if kind == "execution_error":
            return f"node {data.get('node_id')} ({data.get('node_type')}) failed: {data.get('exception_message', '').strip()}"
        if kind == "execution_interrupted":
            return f"the run was interrupted at node {data.get('node_id')} ({data.get('node_type')})"
    return f"the run ended with status {st.get('status_str')!r}"


def output_items(entry: Mapping[str, Any]) -> list[tuple[str, JSONDict]]:
    """Every saved output file of a /history entry as (node id, item); temp previews left out."""
    items = []
    for nid, out in (entry.get("outputs") or {}).items():
        for key in OUTPUT_KEYS:
            for item in out.get(key) or []:
                if isinstance(item, dict) and item.get("filename") and item.get("type") != "temp":
                    items.append((str(nid), item))
    return items


def text_outputs(entry: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every text output of a /history entry (e.g. the inventory node's report) as (node id, text)."""
    out = []
    for nid, o in (entry.get("outputs") or {}).items():
        for t in o.get("text") or []:
            if isinstance(t, str):
                out.append((str(nid), t))
    return out
