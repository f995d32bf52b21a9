"""Plain HTTP(S) transfers of one model file into its `<name>.part`, resumable with `Range`.

Standard library only (urllib). The safetensors header is read and checked *before* the `.part`
is created: a login page, a JSON error, a file the server itself holds truncated, or another
model under the right name is refused after a few kB, and nothing is written. Once the `.part`
exists it only grows: an interrupted transfer is resumed from its size (`Range: bytes=N-`), in
this run (a few retries on dropped connections) or the next. A server that ignores `Range`
is read past the bytes already held. Credentials in `Remote.auth` go only to the URL's own
host, never along a redirect (Hugging Face redirects to a signed CDN URL).
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from .._version import __version__
from ..errors import Wan22Error
from ..volume.safetensors_header import MAX_HEADER_BYTES, Header, HeaderError, parse_header

USER_AGENT = f"wan22-fetch/{__version__}"
TIMEOUT = 60.0
CHUNK = 1 << 20
RETRIES = 3
BACKOFF = 0.5  # seconds before the first retry; doubles each time
_RANGE_RE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_DROPPED = (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionError, socket.timeout, TimeoutError)

Progress = Callable[[int], None]
HeaderCheck = Callable[[Header], str]


class FetchError(Wan22Error):
    """A transfer that cannot succeed as it is (HTTP status, wrong content); names file and URL."""


class Dropped(FetchError):
    """The connection ended before the last byte: resumable."""


@dataclass
class Remote:
    """Where one file comes from."""

    url: str  # what is requested
    shown_url: str  # what messages name (the catalog or mirror URL)
    auth: dict[str, str] = field(default_factory=dict)  # sent to url's own host only
    size: int | None = None  # total bytes, when the server or its metadata said
    sha256: str | None = None  # published hash (Hugging Face's LFS etag), when known
    via: str = "http"  # http | huggingface_hub | hf_xet
    xet: Any = None  # huggingface_hub XetFileData, for hf_xet transfers


def _request(url: str, auth: dict[str, str], method: str = "GET", offset: int = 0) -> urllib.request.Request:
    req = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    for k, v in auth.items():
        req.add_unredirected_header(k, v)  # never forwarded to a redirect target
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    return req


def status_error(name: str, url: str, code: int, reason: str) -> FetchError:
    """A clear message for an HTTP error status, naming the file, the URL and what to try."""
    hf = "huggingface" in url or os.environ.get("HF_ENDPOINT", "\0") in url
    if code in (401, 403):
        what = ("the Hub refused it: set HF_TOKEN to a read token (huggingface.co/settings/tokens) and accept the "
                "model's terms on its page if it is gated" if hf else "the server refused access (a login or a token?)")
    elif code == 404:
        what = ("no such file there: a --mirror must serve <URL>/<folder key>/<file name>" if not hf
                else "no such file on the Hub at this revision (renamed or removed upstream?)")
    elif code == 416:
        what = "the server cannot serve the requested byte range"
    elif code >= 500:
        what = "the server failed; try again later"
    else:
        what = "unexpected HTTP status"
    return FetchError(f"{name}: HTTP {code} {reason} from {url}: {what}")


def probe(name: str, remote: Remote) -> int | None:
    """The file's size from a HEAD request (a 1-byte GET where HEAD is not allowed); raises FetchError."""
    try:
        with urllib.request.urlopen(_request(remote.url, remote.auth, "HEAD"), timeout=TIMEOUT) as r:
            n = r.headers.get("Content-Length")
            if _content_type(r.headers) == "text/html":
                raise FetchError(f"{name}: {remote.shown_url} serves an HTML page, not a model file (a login or "
                                 "download page?): use the direct file URL")
            return int(n) if n and n.isdigit() else None
    except urllib.error.HTTPError as e:
        if e.code not in (405, 501):
            raise status_error(name, remote.shown_url, e.code, str(e.reason)) from None
    except (urllib.error.URLError, OSError) as e:
        raise FetchError(f"{name}: cannot reach {remote.shown_url}: {getattr(e, 'reason', e)}") from None
    resp, _start, total = _open(name, remote, 0)
    resp.close()
    return total


def _open(name: str, remote: Remote, offset: int) -> tuple[http.client.HTTPResponse, int, int | None]:
    """GET from `offset`: (response, first byte it carries, total size or None)."""
    try:
        resp = urllib.request.urlopen(_request(remote.url, remote.auth, offset=offset), timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            m = re.search(r"/(\d+)", e.headers.get("Content-Range", ""))
            total = int(m.group(1)) if m else None
            e.close()
            if total == offset:
                return _Empty(), offset, total  # type: ignore[return-value]
            raise FetchError(f"{name}: the .part holds {offset:,} bytes but {remote.shown_url} has "
                             f"{'only ' + format(total, ',') if total is not None else 'fewer'}: it is not this file. "
                             "Move the .part away and run again") from None
        raise status_error(name, remote.shown_url, e.code, str(e.reason)) from None
    except (urllib.error.URLError, OSError) as e:
        raise Dropped(f"{name}: cannot reach {remote.shown_url}: {getattr(e, 'reason', e)}") from None
    if _content_type(resp.headers) == "text/html" and not offset:
        body = resp.read(200)
        resp.close()
        raise FetchError(f"{name}: {remote.shown_url} answered with an HTML page "
                         f"({_snippet(body)}), not a model file: a login page or an error. Nothing was written")
    if resp.status == 206:
        m = _RANGE_RE.match(resp.headers.get("Content-Range", ""))
        if not m:
            resp.close()
            raise FetchError(f"{name}: {remote.shown_url} sent a partial response without a valid Content-Range")
        return resp, int(m.group(1)), (int(m.group(3)) if m.group(3) != "*" else None)
    n = resp.headers.get("Content-Length")
    return resp, 0, (int(n) if n and n.isdigit() else None)


def _content_type(headers: Any) -> str:
    return str(headers.get("Content-Type", "")).split(";")[0].strip().lower()


class _Empty:
    """The response to a range that starts at the end of the file: nothing more to read."""

    status = 206

    def read(self, _n: int = -1) -> bytes:
        return b""

    def close(self) -> None:
        pass

    def __enter__(self) -> _Empty:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass


def _snippet(raw: bytes) -> str:
    text = raw[:60].decode("utf-8", "replace").replace("\n", " ").strip()
    return f"it starts with {text!r}" if text else "an empty body"


def _read_exact(resp: Any, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = resp.read(min(CHUNK, n - len(out)))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def _read_header(name: str, remote: Remote, resp: Any, total: int | None, check: HeaderCheck) -> bytes:
    """The first bytes up to the end of the safetensors header, checked; raises FetchError."""
    head = _read_exact(resp, 8)
    if len(head) < 8:
        raise Dropped(f"{name}: {remote.shown_url} ended after {len(head)} bytes")
    (n,) = struct.unpack("<Q", head)
    if n == 0 or n > MAX_HEADER_BYTES or head[:1] in (b"<", b"{") or (total is not None and n > total - 8):
        raise FetchError(f"{name}: {remote.shown_url} did not send a safetensors file ({_snippet(head)}): refused, "
                         "nothing was written")
    raw = _read_exact(resp, n)
    if len(raw) < n:
        raise Dropped(f"{name}: {remote.shown_url} ended inside the safetensors header")
    try:
        h = parse_header(raw, name, total)
    except HeaderError as e:
        raise FetchError(f"{name}: {remote.shown_url} sent an invalid safetensors header ({e}): refused, nothing "
                         "was written") from None
    if total is not None and h.truncated:
        raise FetchError(f"{name}: the file at {remote.shown_url} is itself truncated: the server sends {total:,} "
                         f"bytes but its header needs {h.data_end:,}. Refused, nothing was written")
    if total is not None and h.trailing_bytes:
        raise FetchError(f"{name}: the file at {remote.shown_url} has {h.trailing_bytes:,} bytes after its last "
                         "tensor (safetensors refuses such a file). Refused, nothing was written")
    problem = check(h)
    if problem:
        raise FetchError(f"{name}: {remote.shown_url} serves another file under this name: {problem} Refused after "
                         "reading its header; nothing was written")
    return head + raw


def _lock(fh: IO[bytes], name: str) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one fetch at a time is the user's job
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise FetchError(f"{name}: another fetch is writing {fh.name} right now") from None


def _transfer(name: str, remote: Remote, part: str, check: HeaderCheck, progress: Progress | None) -> int:
    """One request: from the end of `part` (created here when absent) to the end of the file."""
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    resp, start, total = _open(name, remote, offset)
    got = 0
    with resp:
        if remote.size is not None and total is not None and total != remote.size:
            raise FetchError(f"{name}: {remote.shown_url} now has {total:,} bytes, not the {remote.size:,} it "
                             "announced: the file changed on the server; run again")
        if offset == 0:
            first = _read_header(name, remote, resp, total, check)
            fh = open(part, "xb")  # closed by the with below; "x": never reuse a file
            fh.write(first)
            got = len(first)
        else:
            skip = offset - start  # > 0 when the server ignored Range and starts from byte 0
            while skip > 0:
                chunk = resp.read(min(CHUNK, skip))
                if not chunk:
                    raise Dropped(f"{name}: {remote.shown_url} ended before the resume point")
                skip -= len(chunk)
            fh = open(part, "ab")
        with fh:
            _lock(fh, name)
            if progress is not None and got:
                progress(got)
            got += _stream(resp, fh, progress)
    size = offset + got
    if total is not None and size < total:
        raise Dropped(f"{name}: the connection ended at {size:,} of {total:,} bytes")
    return got


def _stream(resp: Any, fh: IO[bytes], progress: Progress | None) -> int:
    got = 0
    while True:
        chunk = resp.read(CHUNK)
        if not chunk:
            break
        fh.write(chunk)
        got += len(chunk)
        if progress is not None:
            progress(len(chunk))
    fh.flush()
    os.fsync(fh.fileno())
    return got


def download(name: str, remote: Remote, part: str, check: HeaderCheck, progress: Progress | None = None,
             retries: int = RETRIES) -> int:
    """Fetch `remote` into `part`, resuming from its size; bytes received in this call. Dropped
    connections are retried `retries` times (resuming each time); other errors raise FetchError."""
    received = 0
    for attempt in range(retries + 1):
        before = os.path.getsize(part) if os.path.exists(part) else 0
        try:
            return received + _transfer(name, remote, part, check, progress)
        except Dropped as e:
            received += (os.path.getsize(part) if os.path.exists(part) else 0) - before
            if attempt == retries:
                kept = os.path.getsize(part) if os.path.exists(part) else 0
                raise Dropped(f"{e}; gave up after {retries + 1} attempts. " + (
                    f"{kept:,} bytes are kept in {part}: run the same command again to resume" if kept else
                    "Nothing was written")) from None
        except _DROPPED as e:
            received += (os.path.getsize(part) if os.path.exists(part) else 0) - before
            if attempt == retries:
                raise Dropped(f"{name}: the connection to {remote.shown_url} failed ({e.__class__.__name__}: {e}); "
                              f"run the same command again to resume from {part}") from None
        time.sleep(BACKOFF * 2**attempt)
    raise AssertionError("unreachable")
