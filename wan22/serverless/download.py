"""Job media downloads that cannot be pointed at the worker's own network.

A job may give a file as an `https://` URL. The worker fetches it with urllib3, one hop at a time:

- the host name is resolved once (`socket.getaddrinfo`) and every address it resolves to is
  checked: loopback, private (RFC 1918, IPv6 unique-local), link-local, multicast, reserved,
  unspecified, shared (100.64/10) and the cloud metadata addresses (169.254.169.254,
  fd00:ec2::254, ...) are refused, IPv4-mapped IPv6 addresses as the IPv4 address they carry;
- the connection goes to the checked address itself (the host name is kept for TLS: SNI and
  certificate check), so a second DNS answer cannot swap the address (DNS rebinding);
- redirects are followed by hand, at most `MAX_REDIRECTS`, each target checked as above; only
  `https://` targets (no redirect from https to http);
- the body is read up to the worker's size limit plus one byte, never more.

`WAN22_MEDIA_ALLOW_HOSTS` (addresses or networks, comma-separated, e.g. `10.0.0.0/8`) lets the
worker fetch from addresses that are otherwise refused: for a media server on the same private
network, and for the tests' loopback servers. Unset (the default), loopback is refused too.

Why urllib3 and not urllib or requests: urllib.request follows redirects to any scheme and address
and resolves the host again when it connects; requests has no hook to connect to a given address.
urllib3 (under requests, so wherever ComfyUI is) has a connection pool per address with
`server_hostname`/`assert_hostname`, which is exactly "connect here, verify that name".
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import urllib.parse
from typing import TYPE_CHECKING

from ..errors import Wan22Error

if TYPE_CHECKING:
    import urllib3

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ALLOW_ENV = "WAN22_MEDIA_ALLOW_HOSTS"
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
# instance metadata and platform services of the big clouds (AWS IPv4/IPv6, ECS task metadata,
# AWS time sync, Alibaba, Azure wire server, Oracle): refused even where they look public
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.169.123", "fd00:ec2::254", "fd00:ec2::23",
    "100.100.100.200", "168.63.129.16", "192.0.0.192"))


class Refused(Wan22Error):
    """A URL the worker will not fetch; the message says which address and why."""


def allowed_networks(env: str | None = None) -> list[IPNetwork]:
    """WAN22_MEDIA_ALLOW_HOSTS parsed; a bad entry is an operator error naming the variable."""
    raw = os.environ.get(ALLOW_ENV, "") if env is None else env
    nets = []
    for item in (p.strip() for p in raw.split(",")):
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise Wan22Error(f"{ALLOW_ENV}: '{item}' is not an address or network (e.g. 10.0.0.0/8, 127.0.0.1)") from None
    return nets


def why_refused(ip: IPAddress) -> str | None:
    """Why the worker never connects to `ip` (None: a public address)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    checks: tuple[tuple[bool, str], ...] = (
        (ip in METADATA, "a cloud metadata address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "not a public address"),
    )
    return next((why for bad, why in checks if bad), None)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_host(host: str, port: int, allow: list[IPNetwork]) -> IPAddress:
    """The one address to connect to for `host`: every address it resolves to must be allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise Refused(f"cannot resolve {host} ({e})") from None
    addrs: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if ip not in addrs:
            addrs.append(ip)
    if not addrs:
        raise Refused(f"{host} resolves to no address")
    for ip in addrs:
        why = why_refused(ip)
        if why and not any(ip in n for n in allow):
            name = host if _is_address(host) else f"{host} resolves to {ip}, which"
            raise Refused(f"{name} is {why}; the worker fetches from public addresses only "
                          f"({ALLOW_ENV} lists addresses or networks to allow)")
    return addrs[0]


def _pool(ip: IPAddress, host: str, port: int, timeout: float) -> urllib3.HTTPSConnectionPool:
    import urllib3

    ctx = ssl.create_default_context()  # the system's CA store (SSL_CERT_FILE honoured)
    return urllib3.HTTPSConnectionPool(
        str(ip), port, maxsize=1, retries=False, timeout=urllib3.Timeout(connect=timeout, read=timeout),
        ssl_context=ctx, server_hostname=host, assert_hostname=host)


def _next_url(url: str, status: int, location: str | None, hops: int) -> str:
    if not location:
        raise Refused(f"HTTP {status} redirect without a Location")
    if hops >= MAX_REDIRECTS:
        raise Refused(f"more than {MAX_REDIRECTS} redirects")
    target = urllib.parse.urljoin(url, location)
    scheme = urllib.parse.urlsplit(target).scheme
    if scheme == "http":
        raise Refused(f"a redirect from https to http ({target.split('?')[0]}) is refused")
    if scheme != "https":
        raise Refused(f"a redirect to a {scheme or 'schemeless'} URL is refused (https only)")
    return target


class HTTPStatus(Wan22Error):
    """The server answered with an error status."""

    def __init__(self, code: int, where: str) -> None:
        super().__init__(f"GET {where} answered HTTP {code}")
        self.code = code


class TooBig(Wan22Error):
    """The body is over the limit."""


def fetch(url: str, max_bytes: int, timeout: float = 60.0) -> bytes:
    """GET `url` (https only) under the rules above: the body, or Refused / HTTPStatus / TooBig /
    Wan22Error (a network error, with the reason)."""
    import urllib3

    allow = allowed_networks()
    hops = 0
    while True:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise Refused(f"only https:// URLs are fetched (got {parts.scheme or 'no'} scheme)")
        host, port = parts.hostname, parts.port or 443
        ip = check_host(host, port, allow)
        netloc = parts.netloc.rpartition("@")[2]  # never send URL credentials on
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        pool = _pool(ip, host, port, timeout)
        try:
            r = pool.urlopen("GET", path, headers={"Host": netloc, "User-Agent": "wan22-worker", "Accept-Encoding": "identity"},
                             redirect=False, retries=False, preload_content=False)
            try:
                if r.status in REDIRECTS:
                    url = _next_url(url, r.status, r.headers.get("Location"), hops)
                    hops += 1
                    continue
                if r.status != 200:
                    raise HTTPStatus(r.status, f"{host}{parts.path}")
                size = r.headers.get("Content-Length")
                if size and size.isdigit() and int(size) > max_bytes:
                    raise TooBig(f"{int(size)} bytes announced")
                data = bytes(r.read(max_bytes + 1))
            finally:
                r.release_conn()
        except urllib3.exceptions.HTTPError as e:
            raise Wan22Error(f"{type(e).__name__}: {getattr(e, 'reason', None) or e}") from None
        finally:
            pool.close()
        if len(data) > max_bytes:
            raise TooBig(f"over {max_bytes} bytes")
        return data
