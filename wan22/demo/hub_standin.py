"""A Hugging Face Hub stand-in on loopback, so that `huggingface_hub` itself writes a real cache
layout (blobs/, refs/main, snapshots/<commit>/ with relative symlinks into blobs/) from local
files, with no network: what RunPod's cached models put at /runpod-volume/huggingface-cache/hub.

It answers the calls `snapshot_download` and `hf_hub_download` make for a model repo:
`GET /api/models/<org>/<name>/revision/<rev>` (the commit sha and file list),
`GET /api/models/<org>/<name>/tree/<rev>?recursive=...` (paths, sizes, LFS sha256) and
`HEAD|GET /<org>/<name>/resolve/<rev>/<path>` (the file, with X-Repo-Commit, ETag /
X-Linked-Etag = sha256, X-Linked-Size; no Xet headers, so plain HTTP). Used by the tests and
bench/bench_worker.py; `cache_repo` is the one-call form.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHUNK = 8 << 20


class Repo:
    """One repo: the files under `root`, each at `prefix + <path relative to root>`."""

    def __init__(self, root: str | os.PathLike[str], prefix: str = "") -> None:
        self.root = Path(root)
        self.prefix = prefix
        self.files = {prefix + p.relative_to(self.root).as_posix(): p
                      for p in sorted(self.root.rglob("*")) if p.is_file()}
        self._sha: dict[str, str] = {}
        digest = hashlib.sha1()
        for path, f in self.files.items():
            digest.update(f"{path}\0{f.stat().st_size}\0{f.stat().st_mtime_ns}\n".encode())
        self.commit = digest.hexdigest()  # 40 hex digits, as a git commit id

    def sha256(self, path: str) -> str:
        if path not in self._sha:
            h = hashlib.sha256()
            with open(self.files[path], "rb") as f:
                for block in iter(lambda: f.read(CHUNK), b""):
                    h.update(block)
            self._sha[path] = h.hexdigest()
        return self._sha[path]

    def tree(self) -> list[dict[str, Any]]:
        out = []
        for path, f in self.files.items():
            size = f.stat().st_size
            out.append({"type": "file", "path": path, "size": size, "oid": hashlib.sha1(path.encode()).hexdigest(),
                        "lfs": {"oid": self.sha256(path), "size": size, "pointerSize": 134}})
        return out


class HubStandin(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, repos: dict[str, Repo]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.repos = repos
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: HubStandin
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _send(self, code: int, body: bytes, headers: dict[str, str], head: bool) -> None:
        self.send_response(code)
        for k, v in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        self.server.requests.append(f"{self.command} {path}")
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6:
            return self._api(parts[2] + "/" + parts[3], parts[4], head)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._file("/".join(parts[:2]), "/".join(parts[4:]), head)
        return self._send(404, b'{"error": "not found"}', {"Content-Type": "application/json"}, head)

    def _api(self, repo_id: str, what: str, head: bool) -> None:
        repo = self.server.repos.get(repo_id)
        if repo is None:
            return self._send(404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"}, head)
        if what == "revision":
            body: Any = {"id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": False,
                         "siblings": [{"rfilename": p} for p in repo.files]}
        elif what == "tree":
            body = repo.tree()
        else:
            return self._send(404, b"{}", {}, head)
        return self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)

    def _file(self, repo_id: str, path: str, head: bool) -> None:
        repo = self.server.repos.get(repo_id)
        if repo is None or path not in repo.files:
            return self._send(404, b"not found", {"X-Error-Code": "EntryNotFound"}, head)
        f = repo.files[path]
        size = f.stat().st_size
        sha = repo.sha256(path)
        self.send_response(200)
        for k, v in {"Content-Length": str(size), "Content-Type": "application/octet-stream", "X-Repo-Commit": repo.commit,
                     "ETag": f'"{sha}"', "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(size)}.items():
            self.send_header(k, v)
        self.end_headers()
        if head:
            return
        with open(f, "rb") as src:
            for block in iter(lambda: src.read(CHUNK), b""):
                self.wfile.write(block)


@contextmanager
def serving(repos: dict[str, Repo]) -> Iterator[HubStandin]:
    srv = HubStandin(repos)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def cache_repo(src: str | os.PathLike[str], cache_dir: str | os.PathLike[str], repo_id: str, prefix: str = "") -> str:
    """Put the files under `src` into a Hugging Face cache at `cache_dir` as repo `repo_id`
    (each at `prefix + relative path`), through `huggingface_hub.snapshot_download` talking to a
    loopback stand-in (HF_ENDPOINT set for the call). Returns the snapshot folder."""
    from huggingface_hub import snapshot_download

    with serving({repo_id: Repo(src, prefix)}) as hub:
        old = os.environ.get("HF_ENDPOINT")
        os.environ["HF_ENDPOINT"] = hub.url
        try:
            return str(snapshot_download(repo_id, cache_dir=str(cache_dir), endpoint=hub.url))
        finally:
            if old is None:
                os.environ.pop("HF_ENDPOINT", None)
            else:
                os.environ["HF_ENDPOINT"] = old
