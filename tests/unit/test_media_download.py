"""Job media downloads (wan22/serverless/download.py) against real loopback HTTPS and HTTP servers:
every refusal one by one (addresses after DNS, redirects, https-to-http, the redirect cap, the
size cap), the connection going to the checked address (no second DNS answer is used), and the
loopback allowance that only tests and private media servers set."""

from __future__ import annotations

import http.server
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wan22.errors import Wan22Error
from wan22.serverless import download, media
from wan22.serverless.media import JobError

PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 100


class Server:
    def __init__(self, httpd: http.server.ThreadingHTTPServer, scheme: str) -> None:
        self.httpd = httpd
        self.port = int(httpd.server_address[1])
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        self.requests: list[tuple[str, str]] = []  # (path, Host header)


def _handler(server: list[Server]) -> type[http.server.BaseHTTPRequestHandler]:
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            me = server[0]
            me.requests.append((self.path, str(self.headers.get("Host"))))
            url = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/a.png":
                self._send(200, PNG)
            elif url.path == "/redir":
                self._send(302, b"", {"Location": q["to"]})
            elif url.path.startswith("/chain/"):
                n = int(url.path.rsplit("/", 1)[1])
                self._send(302, b"", {"Location": f"/chain/{n - 1}"}) if n > 0 else self._send(200, PNG)
            elif url.path == "/announced":
                self._send(200, b"", {"Content-Length": "999999"}, length=False)
            else:
                self._send(404, b"")

        def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None, length: bool = True) -> None:
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return H


def _serve(ctx: ssl.SSLContext | None) -> Iterator[Server]:
    holder: list[Server] = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    if ctx is not None:
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    holder.append(Server(httpd, "https" if ctx else "http"))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield holder[0]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed (needed to make the test's certificate)")
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:media.rebind.test"],
                   check=True, capture_output=True)
    return key, crt


@pytest.fixture(scope="module")
def https(cert: tuple[Path, Path]) -> Iterator[Server]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert[1]), str(cert[0]))
    yield from _serve(ctx)


@pytest.fixture(scope="module")
def plain() -> Iterator[Server]:
    yield from _serve(None)


@pytest.fixture
def trusted(cert: tuple[Path, Path], https: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[1]))
    monkeypatch.delenv(download.ALLOW_ENV, raising=False)
    https.requests.clear()
    return https


@pytest.fixture
def allowed(trusted: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    monkeypatch.setenv(download.ALLOW_ENV, "127.0.0.1")
    return trusted


def _fetch(url: str, field: str = "input.image", limit: int = 10**6) -> bytes:
    return media.decode(url, field, limit)


def test_loopback_is_refused_by_default_and_nothing_is_sent(trusted: Server) -> None:
    with pytest.raises(JobError, match=r"^input.image: not fetched: 127.0.0.1 is a loopback address; the worker fetches "
                                        r"from public addresses only \(WAN22_MEDIA_ALLOW_HOSTS"):
        _fetch(f"{trusted.base}/a.png")
    assert trusted.requests == []


def test_a_name_is_checked_after_dns_resolution(trusted: Server) -> None:
    with pytest.raises(JobError, match=r"not fetched: localhost resolves to (127.0.0.1|::1), which is a loopback address"):
        _fetch(f"https://localhost:{trusted.port}/a.png")
    assert trusted.requests == []


@pytest.mark.parametrize(("host", "why"), [
    ("10.0.0.1", "a private address"),
    ("172.16.5.4", "a private address"),
    ("192.168.1.20", "a private address"),
    ("[fc00::1]", "a private address"),
    ("169.254.169.254", "a cloud metadata address"),
    ("[fd00:ec2::254]", "a cloud metadata address"),
    ("100.100.100.200", "a cloud metadata address"),
    ("168.63.129.16", "a cloud metadata address"),
    ("169.254.10.1", "a link-local address"),
    ("[fe80::1]", "a link-local address"),
    ("224.0.0.251", "a multicast address"),
    ("[ff02::1]", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
    ("0.0.0.0", "the unspecified address"),
    ("[::1]", "a loopback address"),
    ("127.8.9.10", "a loopback address"),
    ("[::ffff:127.0.0.1]", "a loopback address"),
    ("[::ffff:10.0.0.1]", "a private address"),
    ("100.64.0.1", "not a public address"),
])
def test_each_forbidden_address_is_refused_before_any_connection(host: str, why: str, allowed: Server) -> None:
    """Loopback 127.0.0.1 is allowed here, so each refusal is the address rule itself."""
    with pytest.raises(JobError, match=rf"^input.video: not fetched: {host.strip('[]')} is {why};"):
        _fetch(f"https://{host}/x.mp4", "input.video")


def test_public_addresses_pass_the_check() -> None:
    for a in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "151.101.1.69"):
        assert download.why_refused(ipaddress.ip_address(a)) is None, a


def test_allowed_loopback_is_fetched(allowed: Server) -> None:
    assert _fetch(f"{allowed.base}/a.png") == PNG
    assert allowed.requests == [("/a.png", f"127.0.0.1:{allowed.port}")]


def test_redirects_are_followed_up_to_the_cap_and_no_further(allowed: Server) -> None:
    assert _fetch(f"{allowed.base}/chain/{download.MAX_REDIRECTS}") == PNG
    allowed.requests.clear()
    with pytest.raises(JobError, match=rf"not fetched: more than {download.MAX_REDIRECTS} redirects"):
        _fetch(f"{allowed.base}/chain/{download.MAX_REDIRECTS + 1}")
    assert len(allowed.requests) == download.MAX_REDIRECTS + 1


@pytest.mark.parametrize(("target", "why"), [
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("https://10.20.30.40/a.png", "10.20.30.40 is a private address"),
    ("https://[::1]/a.png", "::1 is a loopback address"),  # loopback allowed as 127.0.0.1 only
    ("https://localhost6.invalid/a.png", "cannot resolve localhost6.invalid"),
])
def test_every_redirect_target_is_checked_again(allowed: Server, target: str, why: str) -> None:
    with pytest.raises(JobError, match=rf"not fetched: {why.replace('.', '[.]')}"):
        _fetch(f"{allowed.base}/redir?to={urllib.parse.quote(target)}")
    assert [p for p, _h in allowed.requests] == [f"/redir?to={urllib.parse.quote(target)}"]


def test_no_redirect_from_https_to_http(allowed: Server, plain: Server) -> None:
    plain.requests.clear()
    with pytest.raises(JobError, match=r"not fetched: a redirect from https to http \(http://127.0.0.1:\d+/a.png\) is refused"):
        _fetch(f"{allowed.base}/redir?to={urllib.parse.quote(plain.base + '/a.png?token=x')}")
    assert plain.requests == []
    with pytest.raises(JobError, match=r"not fetched: a redirect to a file URL is refused"):
        _fetch(f"{allowed.base}/redir?to={urllib.parse.quote('file:///etc/passwd')}")


def test_http_urls_are_never_fetched(allowed: Server, plain: Server) -> None:
    plain.requests.clear()
    with pytest.raises(JobError, match=r"^input.image: only https:// URLs are fetched \(got http scheme\)"):
        _fetch(f"{plain.base}/a.png")
    assert plain.requests == []


def test_the_connection_goes_to_the_checked_address(allowed: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name answers 127.0.0.1 (allowed) once, then a private address. The
    worker resolves once and connects to the address it checked; the name is kept for TLS and Host."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if host == "media.rebind.test":
            asked.append(host)
            ip = "127.0.0.1" if len(asked) == 1 else "10.66.66.66"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
        return real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    assert _fetch(f"https://media.rebind.test:{allowed.port}/a.png") == PNG
    assert asked == ["media.rebind.test"]
    assert allowed.requests == [("/a.png", f"media.rebind.test:{allowed.port}")]


def test_a_name_with_one_forbidden_address_among_public_ones_is_refused(allowed: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    def two(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.0.9", port))]

    monkeypatch.setattr(socket, "getaddrinfo", two)
    with pytest.raises(JobError, match=r"not fetched: cdn.example resolves to 192.168.0.9, which is a private address"):
        _fetch("https://cdn.example/a.png")


def test_size_caps_announced_and_read(allowed: Server) -> None:
    with pytest.raises(JobError, match=r"^input.audio: the file at 127.0.0.1/announced is over 0.001 MB"):
        _fetch(f"{allowed.base}/announced", "input.audio", 1000)
    with pytest.raises(JobError, match=r"^input.audio: the file at 127.0.0.1/a.png is over 0.0001 MB"):
        _fetch(f"{allowed.base}/a.png", "input.audio", 100)


def test_an_untrusted_certificate_fails_with_the_reason(https: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv(download.ALLOW_ENV, "127.0.0.0/8")
    with pytest.raises(JobError, match=r"^input.image: cannot fetch 127.0.0.1/a.png \(SSLError: .*(certificate|CERTIFICATE)"):
        _fetch(f"{https.base}/a.png")


def test_a_bad_allow_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(download.ALLOW_ENV, "127.0.0.1, media-box")
    with pytest.raises(Wan22Error, match=r"WAN22_MEDIA_ALLOW_HOSTS: 'media-box' is not an address or network"):
        download.allowed_networks()
