"""A small RFC 6455 websocket client (stdlib only) for following a ComfyUI prompt's progress.

Client side only: one connection, text and binary messages, ping/pong, close; client frames are
masked as the RFC requires. `ws://` and `wss://` (TLS through `ssl`). Enough for ComfyUI's
/ws?clientId=... channel; not a general-purpose library.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import struct
import urllib.parse

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 64 * 1024 * 1024


class WebSocketError(OSError):
    """Handshake refused, protocol violation or connection closed."""


class WebSocket:
    def __init__(self, sock: socket.socket, leftover: bytes = b"") -> None:
        self.sock = sock
        self._buf = bytearray(leftover)
        self.closed = False

    # -------------------------------------------------------------- connect
    @classmethod
    def connect(cls, url: str, timeout: float = 10.0, headers: dict[str, str] | None = None) -> WebSocket:
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("ws", "wss"):
            raise WebSocketError(f"websocket URL must start with ws:// or wss://, got {url!r}")
        host = u.hostname or "127.0.0.1"
        port = u.port or (443 if u.scheme == "wss" else 80)
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            if u.scheme == "wss":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            key = base64.b64encode(os.urandom(16)).decode()
            path = (u.path or "/") + (f"?{u.query}" if u.query else "")
            host_header = host if u.port is None else f"{host}:{port}"
            lines = [f"GET {path} HTTP/1.1", f"Host: {host_header}", "Upgrade: websocket", "Connection: Upgrade",
                     f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            raw = b""
            while b"\r\n\r\n" not in raw:
                chunk = sock.recv(4096)
                if not chunk:
                    raise WebSocketError("the server closed the connection during the websocket handshake")
                raw += chunk
                if len(raw) > 65536:
                    raise WebSocketError("websocket handshake response too large")
            head, _, rest = raw.partition(b"\r\n\r\n")
            status, *header_lines = head.decode("latin-1").split("\r\n")
            parts = status.split(" ", 2)
            if len(parts) < 2 or parts[1] != "101":
                raise WebSocketError(f"websocket handshake refused: {status!r}")
            got = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
            want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            if got.get("sec-websocket-accept") != want:
                raise WebSocketError("websocket handshake: bad Sec-WebSocket-Accept")
            return cls(sock, rest)
        except BaseException:
            sock.close()
            raise

    # -------------------------------------------------------------- frames
    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                self.closed = True
                raise WebSocketError("websocket connection closed by the server")
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _read_frame(self) -> tuple[bool, int, bytes]:
        b0, b1 = self._read_exact(2)
        fin, opcode = bool(b0 & 0x80), b0 & 0x0F
        masked, length = bool(b1 & 0x80), b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exact(8))
        if length > MAX_MESSAGE:
            raise WebSocketError(f"websocket frame of {length} bytes is too large")
        mask = self._read_exact(4) if masked else b""
        data = self._read_exact(length)
        if masked:
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
        return fin, opcode, data

    def send_frame(self, opcode: int, data: bytes = b"") -> None:
        head = bytearray([0x80 | opcode])
        n = len(data)
        if n < 126:
            head.append(0x80 | n)
        elif n < 65536:
            head.append(0x80 | 126)
            head += struct.pack("!H", n)
        else:
            head.append(0x80 | 127)
            head += struct.pack("!Q", n)
        mask = os.urandom(4)
        head += mask
        self.sock.sendall(bytes(head) + bytes(c ^ mask[i % 4] for i, c in enumerate(data)))

    def send_text(self, text: str) -> None:
        self.send_frame(OP_TEXT, text.encode())

    def recv(self) -> str | bytes:
        """The next message: str for text, bytes for binary. Answers pings; raises
        WebSocketError when the server closes; socket.timeout when nothing arrives in time."""
        parts: list[bytes] = []
        kind = None
        while True:
            fin, opcode, data = self._read_frame()
            if opcode == OP_PING:
                self.send_frame(OP_PONG, data)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                self.closed = True
                try:
                    self.send_frame(OP_CLOSE, data[:2])
                except OSError:
                    pass
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                raise WebSocketError(f"websocket closed by the server (code {code})")
            if opcode in (OP_TEXT, OP_BINARY):
                kind = opcode
                parts = [data]
            elif opcode == OP_CONT and kind is not None:
                parts.append(data)
            else:
                raise WebSocketError(f"unexpected websocket opcode {opcode}")
            if sum(len(p) for p in parts) > MAX_MESSAGE:
                raise WebSocketError("websocket message too large")
            if fin:
                payload = b"".join(parts)
                return payload.decode("utf-8") if kind == OP_TEXT else payload

    def settimeout(self, seconds: float | None) -> None:
        self.sock.settimeout(seconds)

    def close(self) -> None:
        if not self.closed:
            try:
                self.send_frame(OP_CLOSE, struct.pack("!H", 1000))
            except OSError:
                pass
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass
