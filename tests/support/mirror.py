"""A model mirror on 127.0.0.1 for the fetch tests: a stdlib ThreadingHTTPServer with Range
support serving a folder as `<URL>/<folder key>/<file name>`, which can also drop a connection
halfway, send HTML, a truncated body or file, another model under the right name, 404/403/500, and
imitate the Hugging Face Hub (HEAD metadata, token, CDN redirect); and `python -m wan22 fetch`
run in-process."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from wan22.cli import main


@dataclass
class Behaviour:
    """What the server does for one path: a status, HTML, a cut, another file's bytes, a redirect."""

    status: int = 200
    html: bool = False
    drop_at: float | None = None  # fraction of the file after which the connection is closed
    drops: int | None = None  # how many transfers are cut (None: every one)
    down_after_drop: bool = False  # once it cut a transfer, answer 503 (the server "goes down")
    file_cut: float | None = None  # the server's copy itself is this fraction of the file
    serve_instead: str | None = None  # relative path whose bytes are sent instead
    cut: int = 0  # transfers cut so far


@dataclass
class Served:
    gets: dict[str, int] = field(default_factory=dict)  # path -> GET requests
    heads: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)  # path -> body bytes sent
    ranges: dict[str, list[str]] = field(default_factory=dict)
    auth: dict[str, list[str]] = field(default_factory=dict)  # path -> Authorization headers seen

    def reset(self) -> None:
        for d in (self.gets, self.heads, self.bytes, self.ranges, self.auth):
            d.clear()


class Mirror(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.root = root
        self.rules: dict[str, Behaviour] = {}
        self.served = Served()
        self.hub: dict[str, Any] = {}  # Hub imitation: sha256 override, token, redirect

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Mirror
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:
        pass

    def _body(self, path: str) -> bytes | None:
        rule = self.server.rules.get(path, Behaviour())
        src = rule.serve_instead or path
        f = os.path.join(self.server.root, src)
        if not os.path.isfile(f):
            return None
        data = Path(f).read_bytes()
        return data[: int(len(data) * rule.file_cut)] if rule.file_cut else data

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        path = self.path.lstrip("/")
        srv = self.server.served
        (srv.heads if head else srv.gets)[path] = (srv.heads if head else srv.gets).get(path, 0) + 1
        srv.auth.setdefault(path, []).append(self.headers.get("Authorization", ""))
        if path.startswith("hub/"):
            return self._hub(path, head)
        rule = self.server.rules.get(path, Behaviour())
        if rule.cut and rule.down_after_drop:
            return self._status(503)
        if rule.status != 200:
            return self._status(rule.status)
        if rule.html:
            page = b"<!DOCTYPE html><html><body>Please log in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            if not head:
                self.wfile.write(page)
            return None
        data = self._body(path)
        if data is None:
            return self._status(404)
        return self._send(path, data, head, rule)

    def _status(self, code: int) -> None:
        body = f"error {code}".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send(self, path: str, data: bytes, head: bool, rule: Behaviour, extra: dict[str, str] | None = None) -> None:
        start = 0
        m = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
        if m and not head:
            start = int(m.group(1))
            self.server.served.ranges.setdefault(path, []).append(self.headers["Range"])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if head:
            return
        end = len(data)
        if rule.drop_at is not None and (rule.drops is None or rule.cut < rule.drops):
            end = max(start, int(len(data) * rule.drop_at))
        body = data[start:end]
        self.wfile.write(body)
        self.server.served.bytes[path] = self.server.served.bytes.get(path, 0) + len(body)
        if end < len(data):
            rule.cut += 1
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)

    def _hub(self, path: str, head: bool) -> None:
        """/hub/<org>/<repo>/resolve/main/<folder>/<name> like the Hub: metadata headers, a token,
        optionally a redirect to /cdn/... (which must not receive the token)."""
        hub = self.server.hub
        if path.startswith("hub/cdn/"):
            data = Path(self.server.root, path[len("hub/cdn/"):]).read_bytes()
            return self._send(path, data, head, Behaviour())
        if hub.get("token") and self.headers.get("Authorization") != f"Bearer {hub['token']}":
            return self._status(401)
        m = re.match(r"hub/[^/]+/[^/]+/resolve/main/(.+)$", path)
        f = os.path.join(self.server.root, m.group(1)) if m else ""
        if not m or not os.path.isfile(f):
            return self._status(404)
        data = Path(f).read_bytes()
        sha = hub.get("sha256", {}).get(m.group(1)) or hashlib.sha256(data).hexdigest()
        meta = {"X-Repo-Commit": "0" * 40, "ETag": f'"{sha}"', "X-Linked-Etag": f'"{sha}"',
                "X-Linked-Size": str(len(data))}
        if hub.get("redirect"):
            self.send_response(302)
            # another host name for the same server, as the Hub's CDN is another host
            self.send_header("Location", f"http://localhost:{self.server.server_address[1]}/hub/cdn/{m.group(1)}")
            for k, v in meta.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return self._send(path, data, head, Behaviour(), meta)


def fetch(*args: str) -> int:
    return main(["fetch", *args])


def fetch_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    rc = fetch(*args, "--json")
    return rc, json.loads(capsys.readouterr().out)
