"""`python -m wan22 submit` against a stub ComfyUI (http.server in a thread): pre-flight lists
every problem and sends nothing, uploads/queue/poll/download, the RunPod request body, and the
websocket client against a raw-socket server."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from wan22.api.submit import Progress, runpod_body
from wan22.api.websocket import GUID, WebSocket, WebSocketError
from wan22.api.workflows import positive_text_nodes, strip_seeds
from wan22.cli import main

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = json.loads((REPO / "tests" / "fixtures" / "object_info.json").read_text())
API = REPO / "example_workflows" / "api"
T2V_LORA_HIGH = "wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors"


class StubComfy:
    """Answers like ComfyUI: /object_info, /upload/image, /prompt, /history/<id>, /view."""

    def __init__(self, upload_rename: str | None = None, reject: dict[str, Any] | None = None) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self.upload_rename = upload_rename
        self.reject = reject
        self.queued: dict[str, Any] = {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, status: int, body: Any, ctype: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                stub.requests.append(("GET", self.path, b""))
                if self.path == "/object_info":
                    return self._send(200, SNAPSHOT)
                if self.path.startswith("/history/"):
                    pid = self.path.rsplit("/", 1)[1]
                    if pid not in stub.queued:
                        return self._send(200, {})
                    entry = {"prompt": [0, pid, stub.queued[pid]],
                             "outputs": {"11": {"images": [{"filename": "i2v_fast_00001_.mp4", "subfolder": "wan22",
                                                            "type": "output"}], "animated": [True]},
                                         "3": {"text": ["Wan 2.2 i2v / fast: 4 steps"]}},
                             "status": {"status_str": "success", "completed": True, "messages": []}}
                    return self._send(200, {pid: entry})
                if self.path.startswith("/view?"):
                    return self._send(200, b"\x00\x00\x00\x18ftypmp42 fake video", "video/mp4")
                return self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stub.requests.append(("POST", self.path, body))
                if self.path == "/upload/image":
                    name = body.split(b'filename="', 1)[1].split(b'"', 1)[0].decode()
                    return self._send(200, {"name": stub.upload_rename or name, "subfolder": "", "type": "input"})
                if self.path == "/prompt":
                    if stub.reject is not None:
                        return self._send(400, stub.reject)
                    payload = json.loads(body)
                    stub.queued["pid-1"] = payload["prompt"]
                    return self._send(200, {"prompt_id": "pid-1", "number": 0, "node_errors": {}})
                return self._send(404, {"error": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def posts(self) -> list[tuple[str, bytes]]:
        return [(p, b) for m, p, b in self.requests if m == "POST"]


@pytest.fixture
def stub() -> Iterator[StubComfy]:
    s = StubComfy()
    s.thread.start()
    yield s
    s.server.shutdown()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    p = tmp_path / "my start.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    return p


def write(tmp_path: Path, prompt: dict[str, Any], name: str = "wf.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(prompt))
    return p


def twin(stem: str) -> dict[str, Any]:
    return json.loads((API / f"{stem}.json").read_text())


def by_type(prompt: dict[str, Any], ctype: str) -> str:
    return next(k for k, v in prompt.items() if v["class_type"] == ctype)


# ----------------------------------------------------------------------------- pre-flight

def test_preflight_lists_every_problem_at_once_and_sends_nothing(stub: StubComfy, image: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    p = twin("wan22_i2v_fast")
    p[by_type(p, "Wan22BundleLoader")]["inputs"]["high_noise_model"] = "wan2.2_i2v_high_noise_14B_fp16.safetensors"
    p[by_type(p, "VAEDecode")]["class_type"] = "VAEDecodeHyper"
    p[by_type(p, "Wan22ModeRouter")]["inputs"]["lora_high"] = T2V_LORA_HIGH
    rc = main(["submit", str(write(tmp_path, p)), "--server", stub.url, "--image", str(image), "--wait",
               "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "3 problem(s)" in err and "nothing was uploaded or queued" in err
    assert "high_noise_model: 'wan2.2_i2v_high_noise_14B_fp16.safetensors' is not in diffusion_models" in err
    assert "closest existing: 'wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors'" in err
    assert "(VAEDecodeHyper): node type is not installed on the server" in err
    assert f"{T2V_LORA_HIGH} is a T2V LoRA but the high-noise expert is I2V" in err
    assert stub.posts == []
    assert not (tmp_path / "out").exists()


def test_preflight_checks_local_inputs_and_router_bundle_pairing(stub: StubComfy, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    p = twin("wan22_i2v_fast")
    p[by_type(p, "Wan22BundleLoader")]["inputs"]["mode"] = "s2v"
    p[by_type(p, "WanImageToVideo")]["inputs"]["width"] = 100000
    rc = main(["submit", str(write(tmp_path, p)), "--server", stub.url, "--image", str(tmp_path / "nope.png"),
               "--audio", str(tmp_path / "nope.wav")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "--image" in err and "nope.png: no such file" in err
    assert "--audio: the workflow has no LoadAudio node" in err
    assert "set both to the same mode" in err
    assert "'width': 100000 is above the maximum 16384" in err
    assert stub.posts == []


def test_missing_pack_nodes_name_the_pack(stub: StubComfy, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = twin("wan22_volume_check")
    p[by_type(p, "Wan22VolumeInventory")]["class_type"] = "Wan22VolumeInventoryV9"
    assert main(["submit", str(write(tmp_path, p)), "--server", stub.url]) == 1
    assert "install this pack (ComfyUI-Wan22)" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the happy path

def test_upload_queue_poll_download(tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = StubComfy(upload_rename="my start (1).png")
    s.thread.start()
    try:
        rc = main(["submit", str(API / "wan22_i2v_fast.json"), "--server", s.url.replace("http://", ""),
                   "--image", str(image), "--prompt", "a cat waves", "--seed", "7", "--wait", "--out", str(tmp_path / "out")])
    finally:
        s.server.shutdown()
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert [p for p, _ in s.posts] == ["/upload/image", "/prompt"]
    upload = s.posts[0][1]
    assert b'name="image"; filename="my start.png"' in upload and b"not really a png" in upload
    payload = json.loads(s.posts[1][1])
    sent = payload["prompt"]
    assert payload["client_id"]
    assert sent[by_type(sent, "LoadImage")]["inputs"]["image"] == "my start (1).png"  # the name the server chose
    assert sent[positive_text_nodes(sent)[0]]["inputs"]["text"] == "a cat waves"
    assert sent[by_type(sent, "Wan22MoESampler")]["inputs"]["seed"] == 7
    saved = tmp_path / "out" / "wan22" / "i2v_fast_00001_.mp4"
    assert saved.read_bytes().startswith(b"\x00\x00\x00\x18ftyp")
    assert f"saved {saved}" in out.out
    assert "Wan 2.2 i2v / fast: 4 steps" in out.out  # text outputs are printed
    assert "websocket unavailable" in out.err  # the stub has no /ws: polling took over


def test_ui_workflow_is_converted_with_the_servers_object_info(stub: StubComfy, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["submit", str(REPO / "example_workflows" / "wan22_t2v_fast.json"), "--server", stub.url])
    assert rc == 0, capsys.readouterr().err
    sent = json.loads(stub.posts[-1][1])["prompt"]
    assert strip_seeds(sent) == strip_seeds(twin("wan22_t2v_fast"))


def test_refused_prompt_shows_node_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = StubComfy(reject={"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                                    "details": ""},
                          "node_errors": {"2": {"errors": [{"message": "Value not in list",
                                                            "details": "vae: 'x' not in [...]"}],
                                                "class_type": "Wan22BundleLoader"}}})
    s.thread.start()
    try:
        rc = main(["submit", str(API / "wan22_t2v_fast.json"), "--server", s.url, "--no-preflight"])
    finally:
        s.server.shutdown()
    err = capsys.readouterr().err
    assert rc == 1
    assert "ComfyUI refused the prompt" in err and "node 2 (Wan22BundleLoader): Value not in list: vae" in err


def test_unreachable_server_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    assert main(["submit", str(API / "wan22_t2v_fast.json"), "--server", f"127.0.0.1:{port}"]) == 1
    assert "cannot reach ComfyUI" in capsys.readouterr().err


# ----------------------------------------------------------------------------- RunPod

def test_runpod_request_body_with_image_and_audio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = tmp_path / "ref.png"
    img.write_bytes(b"PNGDATA")
    wav = tmp_path / "voice.wav"
    wav.write_bytes(b"RIFF....WAVEfmt ")
    out = tmp_path / "req.json"
    with socket.socket() as sk:  # a port nobody listens on: the body is written offline
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    rc = main(["submit", str(API / "wan22_s2v_fast.json"), "--server", f"127.0.0.1:{port}", "--image", str(img),
               "--audio", str(wav), "--prompt", "she sings", "--runpod-request", str(out)])
    std = capsys.readouterr()
    assert rc == 0, std.err
    body = json.loads(out.read_text())
    assert set(body) == {"input"} and set(body["input"]) == {"workflow", "images"}
    wf = body["input"]["workflow"]
    ref = hashlib.sha256(b"PNGDATA").hexdigest()[:10] + "_ref.png"  # content-addressed: safe on a warm worker
    voice = hashlib.sha256(b"RIFF....WAVEfmt ").hexdigest()[:10] + "_voice.wav"
    assert wf[by_type(wf, "LoadImage")]["inputs"]["image"] == ref
    assert wf[by_type(wf, "LoadAudio")]["inputs"]["audio"] == voice
    assert wf[positive_text_nodes(wf)[0]]["inputs"]["text"] == "she sings"
    images = {i["name"]: base64.b64decode(i["image"]) for i in body["input"]["images"]}
    assert images == {ref: b"PNGDATA", voice: b"RIFF....WAVEfmt "}
    assert "skipped the server preflight" in std.err
    assert f"{voice} travels in input.images" in std.out


def test_runpod_request_runs_preflight_when_a_server_answers(stub: StubComfy, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    p = twin("wan22_i2v_fast")
    p[by_type(p, "Wan22ModeRouter")]["inputs"]["lora_low"] = T2V_LORA_HIGH
    out = tmp_path / "req.json"
    rc = main(["submit", str(write(tmp_path, p)), "--server", stub.url, "--runpod-request", str(out)])
    assert rc == 1 and not out.exists()
    assert "is a T2V LoRA" in capsys.readouterr().err
    assert stub.posts == []


def test_runpod_body_without_files_has_no_images_key() -> None:
    assert runpod_body({"1": {"class_type": "X", "inputs": {}}}, []) == {"input": {"workflow": {"1": {"class_type": "X", "inputs": {}}}}}


# ----------------------------------------------------------------------------- progress and websocket

def test_progress_lines_in_a_log() -> None:
    prompt = {"1": {"class_type": "A", "inputs": {}}, "2": {"class_type": "Wan22MoESampler", "inputs": {}}}
    buf = io.StringIO()
    pr = Progress(prompt, stream=buf)
    for msg in ({"type": "execution_cached", "data": {"nodes": ["1"]}},
                {"type": "executing", "data": {"node": "2"}},
                {"type": "progress", "data": {"value": 1, "max": 4, "node": "2"}},
                {"type": "progress", "data": {"value": 1, "max": 4, "node": "2"}},
                {"type": "progress", "data": {"value": 4, "max": 4, "node": "2"}}):
        pr.event(msg)
    pr.finish()
    lines = buf.getvalue().splitlines()
    assert any("node 2 Wan22MoESampler 1/4" in line and " 25%" in line for line in lines)
    assert sum("1/4" in line for line in lines) == 1  # repeated events are not repeated in a log
    assert "100%" in lines[-1]


def _ws_server(script: list[bytes], received: list[bytes]) -> tuple[int, threading.Thread]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            req = b""
            while b"\r\n\r\n" not in req:
                req += conn.recv(4096)
            key = next(line.split(b":", 1)[1].strip() for line in req.split(b"\r\n") if line.lower().startswith(b"sec-websocket-key"))
            accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + script[0])
            for chunk in script[1:]:
                conn.sendall(chunk)
            conn.settimeout(2)
            try:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    received.append(data)
            except OSError:
                pass
        srv.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv.getsockname()[1], t


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    head += bytes([n]) if n < 126 else bytes([126]) + struct.pack("!H", n)
    return head + payload


def test_websocket_client_reads_text_binary_fragments_and_answers_ping() -> None:
    big = json.dumps({"type": "progress", "data": {"value": 1, "max": 4, "pad": "x" * 300}}).encode()
    script = [frame(1, b'{"type": "status"}') + frame(9, b"hi"),
              frame(2, b"\x01\x02preview"),
              frame(1, big[:100], fin=False) + frame(0, big[100:]),
              frame(8, struct.pack("!H", 1000))]
    received: list[bytes] = []
    port, t = _ws_server(script, received)
    ws = WebSocket.connect(f"ws://127.0.0.1:{port}/ws?clientId=abc", timeout=5)
    assert ws.recv() == '{"type": "status"}'
    assert ws.recv() == b"\x01\x02preview"
    assert json.loads(ws.recv())["data"]["pad"] == "x" * 300
    with pytest.raises(WebSocketError, match="closed by the server"):
        ws.recv()
    ws.close()
    t.join(5)
    raw = b"".join(received)
    # the pong: FIN+opcode 0xA, masked, payload "hi" unmasked with the key
    assert raw[0] == 0x8A and raw[1] == 0x80 | 2
    mask = raw[2:6]
    assert bytes(c ^ mask[i % 4] for i, c in enumerate(raw[6:8])) == b"hi"


def test_websocket_handshake_refusal_is_an_error() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        conn.close()
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    with pytest.raises(WebSocketError, match="refused"):
        WebSocket.connect(f"ws://127.0.0.1:{srv.getsockname()[1]}/ws")
