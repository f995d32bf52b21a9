"""`python -m wan22 demo` (`make demo`): the pack end to end on this machine, in about a minute.

1. find ComfyUI: --comfyui, $COMFYUI_PATH, ~/comfy/ComfyUI; else clone the pinned release into
   the work dir when github.com is reachable (and install its requirements), or say how when offline;
2. install the pack without touching that ComfyUI: a ComfyUI base directory (--base-directory) in
   the work dir whose custom_nodes/ holds a symlink to this pack, its own input/output/user dirs;
3. write a demo volume (tiny random-weight stand-ins under the real file names, see demo-volume)
   and an extra_model_paths.yaml that points the server at it;
4. start `main.py --cpu` on 127.0.0.1 (a free port), wait for it;
5. submit example_workflows/api/wan22_i2v_fast.json through `submit` (pre-flight, image upload,
   progress, download), resized for a CPU and with the demo volume's precomputed text
   conditioning in place of CLIPTextEncode (the umT5 stand-in would take ~30 s and give NaN,
   i.e. a black video): the mp4 shows the stand-in experts' (random) output;
6. print the server's inventory (GET /wan22/inventory) and stop the server, also on errors
   and Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import wave
from pathlib import Path
from types import FrameType

import numpy as np

from .. import __version__
from ..catalog import DEFAULT_DIRS

PINNED_COMFYUI = "v0.33.0"  # the ComfyUI release the comfy test tier runs against
COMFYUI_REPO = "https://github.com/comfyanonymous/ComfyUI.git"
PACK_DIR_NAME = "ComfyUI-Wan22"
DEMO_WORKFLOW = "wan22_i2v_fast"
DEMO_SIZE = 96
DEMO_FRAMES = 17
TORCH_PINS = ("torch==2.9.1", "torchvision==0.24.1", "torchaudio==2.9.1")

EXAMPLE_IMAGE = "wan22_start.png"
EXAMPLE_AUDIO = "wan22_speech.wav"
EXAMPLE_POSE = "wan22_pose.mp4"
EXAMPLE_FACE = "wan22_face.mp4"


def start_image(path: str, size: int = 256) -> str:
    """A colourful test card (gradient, rings, a bright disc) so decoded frames are easy to judge."""
    from PIL import Image

    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    r = np.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2)
    img = np.stack([x, y, 0.5 + 0.5 * np.sin(r * 40.0)], -1)
    disc = r < 0.18
    img[disc] = (1.0, 0.85, 0.2)
    Image.fromarray((img * 255).clip(0, 255).astype(np.uint8)).save(path)
    return path


def speech_wav(path: str, seconds: float = 1.0, rate: int = 44100, channels: int = 2) -> str:
    """A speech-like test signal: a 140 Hz voice with formant-ish harmonics, 4 syllables a
    second, written as 16-bit PCM (stereo 44.1 kHz by default, so S2V's resample/downmix runs)."""
    t = np.arange(int(seconds * rate), dtype=np.float64) / rate
    f0 = 140.0 * (1.0 + 0.05 * np.sin(2 * math.pi * 0.7 * t))
    phase = 2 * math.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) * a for k, a in ((1, 1.0), (2, 0.6), (3, 0.5), (5, 0.3), (8, 0.2)))
    env = np.clip(np.sin(2 * math.pi * 4.0 * t), 0.0, None) ** 0.5
    y = 0.3 * voice * env
    pcm = (np.clip(y, -1, 1) * 32767).astype("<i2")
    data = np.repeat(pcm[:, None], channels, axis=1)
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return path


def motion_video(path: str, frames: int = 17, size: int = 64, fps: int = 16, kind: str = "pose") -> str:
    """A short h264 clip standing in for a driving video: a stick figure ('pose') or a face-like
    disc ('face') moving across a dark background."""
    import av

    with av.open(path, "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        yy, xx = np.mgrid[0:size, 0:size]
        for i in range(frames):
            img = np.full((size, size, 3), 20, np.uint8)
            cx = size * (0.3 + 0.4 * i / max(frames - 1, 1))
            if kind == "face":
                m = (xx - cx) ** 2 + (yy - size / 2) ** 2 < (size / 4) ** 2
                img[m] = (230, 190, 160)
            else:
                m = (np.abs(xx - cx) < 2) & (yy > size * 0.3) & (yy < size * 0.7)
                m |= (xx - cx) ** 2 + (yy - size * 0.22) ** 2 < (size / 12) ** 2
                m |= (np.abs(yy - size * 0.45) < 2) & (np.abs(xx - cx) < size * 0.2)
                img[m] = (255, 255, 255)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def write_example_inputs(directory: str, *, audio_seconds: float = 1.0, video_frames: int = 17, size: int = 64) -> list[str]:
    """The input files the example workflows name, written into a ComfyUI input folder."""
    os.makedirs(directory, exist_ok=True)
    return [
        start_image(os.path.join(directory, EXAMPLE_IMAGE)),
        speech_wav(os.path.join(directory, EXAMPLE_AUDIO), audio_seconds),
        motion_video(os.path.join(directory, EXAMPLE_POSE), video_frames, size, kind="pose"),
        motion_video(os.path.join(directory, EXAMPLE_FACE), video_frames, size, kind="face"),
    ]


# ----------------------------------------------------------------------------- the demo

def _say(msg: str) -> None:
    sys.stdout.write(f"[demo] {msg}\n")
    sys.stdout.flush()


def pack_root() -> Path:
    """The pack's folder (the one holding wan22/, nodes/ and example_workflows/)."""
    return Path(__file__).resolve().parents[2]


def _is_comfyui(path: Path) -> bool:
    return (path / "main.py").is_file() and (path / "comfy").is_dir()


def _online(host: str = "github.com", timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def find_comfyui(explicit: str | None, workdir: Path, python: str) -> Path | None:
    """The ComfyUI to run: --comfyui, $COMFYUI_PATH, ~/comfy/ComfyUI, a clone made earlier in the
    work dir; else a fresh clone of the pinned release when online. None (with the reason
    printed) when there is none and no way to get one."""
    if explicit:
        p = Path(explicit).expanduser()
        if not _is_comfyui(p):
            _say(f"--comfyui {p}: not a ComfyUI folder (no main.py and comfy/)")
            return None
        return p
    for label, cand in (("$COMFYUI_PATH", os.environ.get("COMFYUI_PATH")), ("~/comfy/ComfyUI", "~/comfy/ComfyUI"),
                        ("the work dir", str(workdir / "ComfyUI"))):
        if cand and _is_comfyui(Path(cand).expanduser()):
            _say(f"ComfyUI: {Path(cand).expanduser()} (from {label})")
            return Path(cand).expanduser()
    dest = workdir / "ComfyUI"
    if not _online():
        _say("no ComfyUI found ($COMFYUI_PATH, ~/comfy/ComfyUI) and github.com is unreachable (offline), so the pinned "
             f"release cannot be cloned. Install ComfyUI ({COMFYUI_REPO}, tag {PINNED_COMFYUI}) and set COMFYUI_PATH, "
             "or pass --comfyui DIR.")
        return None
    _say(f"no ComfyUI found ($COMFYUI_PATH, ~/comfy/ComfyUI): cloning ComfyUI {PINNED_COMFYUI} into {dest} (online)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "--depth", "1", "--branch", PINNED_COMFYUI, COMFYUI_REPO, str(dest)], check=True)
    constraints = workdir / "torch-constraints.txt"
    constraints.write_text("\n".join(TORCH_PINS) + "\n")
    _say(f"installing ComfyUI's requirements into {python} (torch pinned to {', '.join(TORCH_PINS)}; several GB)")
    subprocess.run([python, "-m", "pip", "install", "-q", "-c", str(constraints), "-r", str(dest / "requirements.txt")],
                   check=True)
    return dest


def make_base(base: Path, pack: Path) -> Path:
    """A ComfyUI --base-directory whose custom_nodes holds only this pack (a symlink): the
    user's ComfyUI checkout, its custom_nodes, models and settings stay untouched."""
    for d in ("custom_nodes", "input", "output", "temp", "user/default"):
        (base / d).mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / PACK_DIR_NAME
    if link.is_symlink() and link.resolve() != pack.resolve():
        link.unlink()
    if not link.exists():
        link.symlink_to(pack, target_is_directory=True)
    settings = base / "user" / "default" / "comfy.settings.json"
    if not settings.exists():
        settings.write_text(json.dumps({"Comfy.TutorialCompleted": True, "Comfy.Notification.ShowVersionUpdates": False}))
    return base


def write_extra_model_paths(path: Path, volume: Path) -> Path:
    lines = ["wan22_demo:", f"  base_path: {volume}"] + [f"  {k}: {k}/" for k in DEFAULT_DIRS]
    path.write_text("\n".join(lines) + "\n")
    return path


def ensure_volume(volume: Path) -> str:
    from .demo_volume import make_demo_volume

    stamp = volume / ".wan22-demo-volume"
    if stamp.is_file() and stamp.read_text().strip() == __version__:
        return f"demo volume: {volume} (reused)"
    info = make_demo_volume(str(volume))
    stamp.write_text(__version__ + "\n")
    files = info["files"]
    n = len(files) if isinstance(files, list) else 0
    return f"demo volume: {volume} ({n} stand-in files under the real names, {info['bytes']:,} bytes, {info['seconds']} s)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ComfyServer:
    """`main.py --cpu` on loopback with the demo base directory; stop() always ends it."""

    def __init__(self, comfyui: Path, python: str, base: Path, yaml: Path, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.cmd = [python, str(comfyui / "main.py"), "--cpu", "--listen", "127.0.0.1", "--port", str(port),
                    "--base-directory", str(base), "--extra-model-paths-config", str(yaml),
                    "--database-url", "sqlite:///:memory:", "--disable-auto-launch"]
        self.cwd = comfyui
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 300.0) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", DO_NOT_TRACK="1", HF_HUB_OFFLINE="1")
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(self.cmd, cwd=str(self.cwd), stdout=logf, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with code {self.proc.returncode} while starting; log {self.log}:\n"
                                   + self.tail())
            try:
                with urllib.request.urlopen(self.url + "/object_info/Wan22BundleLoader", timeout=2) as r:
                    if r.status == 200 and "Wan22BundleLoader" in json.loads(r.read()):
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"ComfyUI did not answer within {timeout:g} s; log {self.log}:\n" + self.tail())

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def demo_prompt(pack: Path, dest: Path) -> Path:
    """The i2v fast example, resized for a CPU and with precomputed conditioning (documented in
    wan22.workflows.tiny_overrides / use_precomputed_conditioning)."""
    from ..api.workflows import dumps, tiny_overrides, use_precomputed_conditioning

    src = pack / "example_workflows" / "api" / f"{DEMO_WORKFLOW}.json"
    prompt = json.loads(src.read_text(encoding="utf-8"))
    prompt = use_precomputed_conditioning(tiny_overrides(prompt, DEMO_SIZE, DEMO_SIZE, DEMO_FRAMES))
    dest.write_text(dumps(prompt), encoding="utf-8")
    return dest


def print_inventory(url: str) -> None:
    with urllib.request.urlopen(url + "/wan22/inventory", timeout=60) as r:
        inv = json.loads(r.read())
    _say(str(inv.get("summary", "")))
    for wid, st in (inv.get("workflows") or {}).items():
        if st.get("ready"):
            extra = f" ({len(st.get('stand_ins') or [])} stand-in files)" if st.get("stand_ins") else ""
            _say(f"  {wid:<14} ready{extra}")
        else:
            missing = ", ".join(b.get("name", "?") for b in st.get("blocking", []))
            _say(f"  {wid:<14} NOT ready: {missing}")


def _video_summary(path: Path) -> str:
    try:
        import av

        with av.open(str(path)) as c:
            vs = c.streams.video[0]
            n = sum(1 for _ in c.decode(vs))
            return f"{n} frames, {vs.codec_context.width}x{vs.codec_context.height}, {float(vs.average_rate or 0):g} fps"
    except Exception as e:  # the file is there; describing it is a bonus
        return f"(could not read it back: {e})"


def run(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    pack = pack_root()
    workdir = Path(args.workdir).expanduser().resolve()
    out = Path(args.out).expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    comfyui = find_comfyui(args.comfyui, workdir, args.python)
    if comfyui is None:
        return 2
    base = make_base(workdir / "comfy_base", pack)
    _say(f"pack installed for this run only: {base / 'custom_nodes' / PACK_DIR_NAME} -> {pack} "
         f"(ComfyUI --base-directory {base}; {comfyui} itself is not modified)")
    volume = workdir / "volume"
    _say(ensure_volume(volume))
    yaml = write_extra_model_paths(base / "extra_model_paths.yaml", volume)
    image = start_image(str(workdir / EXAMPLE_IMAGE))
    port = args.port or _free_port()
    server = ComfyServer(comfyui, args.python, base, yaml, port, workdir / "server.log")

    def on_term(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        _say(f"starting ComfyUI on {server.url} (loopback only, CPU; log {server.log})")
        t_start = time.monotonic()
        try:
            server.start()
        except RuntimeError as e:
            _say(str(e))
            _say(f"if a module is missing: {args.python} -m pip install -r {comfyui / 'requirements.txt'}")
            return 1
        _say(f"server ready in {time.monotonic() - t_start:.1f} s")
        prompt_file = demo_prompt(pack, workdir / f"{DEMO_WORKFLOW}_demo.json")
        _say(f"submitting example_workflows/api/{DEMO_WORKFLOW}.json at {DEMO_SIZE}x{DEMO_SIZE}, {DEMO_FRAMES} frames, "
             "with the demo volume's precomputed text conditioning instead of CLIPTextEncode (the umT5 stand-in "
             "would return NaN = a black video); the frames show the random stand-in experts' output")
        from ..api.submit import run as submit

        sub = argparse.Namespace(workflow=str(prompt_file), server=server.url, image=image, audio=None, prompt=None,
                                 seed=22, wait=True, out=str(out), timeout=1800.0, runpod_request=None,
                                 no_preflight=False)
        _say(f"= python -m wan22 submit {prompt_file} --server {server.url} --image {image} --seed 22 --wait --out {out}")
        rc = submit(sub)
        if rc != 0:
            _say(f"submit failed (exit {rc}); server log tail:\n{server.tail()}")
            return rc
        videos = sorted(out.rglob("*.mp4"), key=lambda p: p.stat().st_mtime)
        if not videos:
            _say("the run finished but no mp4 was downloaded")
            return 1
        _say(f"video: {videos[-1]} ({_video_summary(videos[-1])})")
        print_inventory(server.url)
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, old)
        _say("server stopped")
    _say(f"done in {time.monotonic() - t0:.1f} s")
    return 0

