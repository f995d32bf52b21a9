"""Inputs for the worker tests (unit and comfy tiers): real media made on the spot, and the bad
jobs every one of which the worker must refuse with an error naming the field."""

from __future__ import annotations

import base64
import io
import math
import wave
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def png_bytes(size: int = 64) -> bytes:
    from PIL import Image

    y, x = np.mgrid[0:size, 0:size]
    img = np.stack([x * 4 % 256, y * 4 % 256, (x + y) * 2 % 256], -1).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def wav_bytes(seconds: float = 1.0, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.3 * np.sin(2 * math.pi * 220 * t) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def m4a_bytes(seconds: float = 2.0, rate: int = 44100) -> bytes:
    """AAC in an MP4 container (.m4a), stereo 44.1 kHz: what a phone records."""
    import av

    t = np.arange(int(seconds * rate)) / rate
    voice = (0.4 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(np.float32)
    stereo = np.stack([voice, 0.8 * voice])
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("aac", rate=rate)
        s.layout = "stereo"
        for i in range(0, stereo.shape[1], 1024):
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo[:, i:i + 1024]), format="fltp", layout="stereo")
            f.sample_rate = rate
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    return buf.getvalue()


def mp4_bytes(frames: int = 9, size: int = 64) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=16)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        for i in range(frames):
            img = np.full((size, size, 3), 20 + 10 * i, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return buf.getvalue()


def ui_workflow() -> dict[str, Any]:
    import json

    return dict(json.loads((REPO / "example_workflows" / "wan22_i2v_fast.json").read_text()))


def bad_jobs(max_payload: int = 2_000_000) -> list[tuple[str, dict[str, Any], str]]:
    """(label, job input, text the error must contain: the field it names). The worker under
    test runs with WAN22_MAX_PAYLOAD=`max_payload`."""
    img, wav, text = b64(png_bytes()), b64(wav_bytes()), b64(b"hello, this is not a picture" * 4)
    ok = {"workflow": "i2v_fast", "image": img, "width": 64, "height": 64, "frames": 9}

    def i2v(**kw: Any) -> dict[str, Any]:
        d = dict(ok)
        for k, v in kw.items():
            if v is None:
                d.pop(k, None)
            else:
                d[k] = v
        return d

    stock = {"4": {"class_type": "LoadImage", "inputs": {"image": "x.png"}}}
    return [
        ("no workflow", {"prompt": "a fox"}, "input.workflow"),
        ("unknown workflow", {"workflow": "i2v_turbo"}, "input.workflow: unknown workflow 'i2v_turbo'"),
        ("workflow of the wrong type", {"workflow": 5}, "input.workflow"),
        ("unknown key", i2v(sampler="euler"), "unknown key 'sampler'"),
        ("missing image", i2v(image=None), "input.image"),
        ("undecodable base64", i2v(image="!!not*base64!!"), "input.image: not base64"),
        ("text is not an image", i2v(image=text), "input.image: the data is not an image"),
        ("audio where an image goes", i2v(image=wav), "input.image: got an audio file, expected image"),
        ("http URL", i2v(image="http://127.0.0.1:9/x.png"), "input.image: only https://"),
        ("data URL without base64", i2v(image="data:image/png,abc"), "input.image: only base64 data: URLs"),
        ("t2v takes no image", {"workflow": "t2v_fast", "image": img}, "input.image: workflow 't2v_fast' takes no input files"),
        ("s2v without audio", {"workflow": "s2v_fast", "image": img}, "input.audio"),
        ("image where audio goes", {"workflow": "s2v_fast", "image": img, "audio": img}, "input.audio: got an image file"),
        ("animate without video", {"workflow": "animate_fast", "image": img}, "input.video"),
        ("frames not 4n+1", i2v(frames=10), "input.frames: 10 is not 4n+1"),
        ("frames above the limit", i2v(frames=1001), "input.frames: 1001 is out of range"),
        ("frames as a string", i2v(frames="9"), "input.frames: expected a whole number"),
        ("width not a multiple of 16", i2v(width=100), "input.width: 100 is not a multiple of 16"),
        ("height above the limit", i2v(height=4096), "input.height: 4096 is out of range"),
        ("width as a boolean", i2v(width=True), "input.width: expected a whole number"),
        ("negative seed", i2v(seed=-1), "input.seed"),
        ("fractional seed", i2v(seed=1.5), "input.seed"),
        ("zero fps", i2v(fps=0), "input.fps"),
        ("prompt not a string", i2v(prompt=123), "input.prompt: expected a string"),
        ("20 steps on a 4-step preset", i2v(steps=20), "input.steps"),
        ("cfg on a distilled preset", i2v(cfg=3.5), "input.cfg"),
        ("timeout above the worker's", i2v(timeout=10**9), "input.timeout"),
        ("s2v at 24 fps", {"workflow": "s2v_fast", "image": img, "audio": wav, "fps": 24}, "input.fps: s2v runs at 16 fps"),
        ("payload over the limit", i2v(prompt="x" * 10, image=b64(b"\0" * int(max_payload * 0.8))), "input: "),
        ("UI workflow", {"workflow": ui_workflow()}, "input.workflow: this is a UI workflow"),
        ("images not a list", {"workflow": stock, "images": {"name": "x.png"}}, "input.images: expected a list"),
        ("name with path parts", {"workflow": stock, "images": [{"name": "../../evil.png", "image": img}]},
         "input.images[0].name: '../../evil.png' is not a plain file name"),
        ("absolute name", {"workflow": stock, "images": [{"name": "/etc/passwd", "image": img}]}, "input.images[0].name"),
        ("entry without data", {"workflow": stock, "images": [{"name": "x.png"}]}, "input.images[0]: expected exactly"),
        ("file that is not media", {"workflow": stock, "files": [{"name": "x.txt", "data": text}]},
         "input.files[0].data: the data is not an image or audio or video"),
        ("duplicate names", {"workflow": stock, "images": [{"name": "x.png", "image": img}, {"name": "x.png", "image": img}]},
         "given more than once"),
        ("unknown stock key", {"workflow": stock, "webhook_url": "x"}, "unknown key 'webhook_url'"),
    ]


# ---------------------------------------------------------------- the worker as a subprocess

class Recorder:
    """A loopback HTTP server standing where RunPod receives progress updates
    (RUNPOD_WEBHOOK_POST_OUTPUT): records each POST body as JSON, by job id."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.posts: list[tuple[str, Any]] = []
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                import json

                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                job = self.path.split("/")[2].split("?")[0] if self.path.count("/") >= 2 else ""
                try:
                    rec.posts.append((job, json.loads(raw)))
                except ValueError:
                    rec.posts.append((job, raw.decode(errors="replace")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/progress/$ID?source=wan22-test"

    def progress(self, job_id: str) -> list[Any]:
        return [b.get("output") for j, b in self.posts if j == job_id and isinstance(b, dict)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class WorkerProc:
    """`python -m wan22 worker ... --rp_serve_api` on a loopback port, and its local job API."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> None:
        import os
        import socket
        import subprocess
        import sys

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.log_path = log_path
        cmd = [sys.executable, "-m", "wan22", "worker", "--rp_serve_api", "--rp_api_host", "127.0.0.1",
               "--rp_api_port", str(self.port), *args]
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO), **env)
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=str(cwd), env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 300.0) -> float:
        import time
        import urllib.request

        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/docs", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - t0
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"the worker's API did not answer within {timeout:g} s:\n{self.log_tail()}")

    def call(self, path: str, body: Any = None, timeout: float = 600.0) -> dict[str, Any]:
        import json
        import urllib.error
        import urllib.request

        data = json.dumps(body).encode() if body is not None else b""
        req = urllib.request.Request(self.url + path, data=data, method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return dict(json.loads(r.read()))
        except urllib.error.HTTPError as e:
            return {"http_status": e.code, "body": e.read().decode(errors="replace")}

    def runsync(self, job_input: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
        return self.call("/runsync", {"input": job_input}, timeout)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(line[:400] for line in self.log_text().splitlines()[-n:])

    def stop(self) -> None:
        import os
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()


def save_video(entry: dict[str, Any], dest: Path) -> Path:
    """Write a {"type": "base64", "data"} output entry to `dest`."""
    assert entry["type"] == "base64", entry.get("type")
    dest.write_bytes(base64.b64decode(entry["data"]))
    return dest


def brightest(path: Path) -> int:
    """The largest 8-bit RGB value in any frame of a video (0: every frame black)."""
    import av

    with av.open(str(path)) as c:
        return max(int(f.to_ndarray(format="rgb24").max()) for f in c.decode(c.streams.video[0]))
