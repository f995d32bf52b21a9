"""Build deploy/Dockerfile and serve typed jobs from the container, on a machine without Docker.

    make test-image            # or: python tools/test_image.py [--rmi] [--purge] [--keep]

Every step, from nothing:
1. installs buildah, podman, mmdebstrap, runc and fuse-overlayfs with apt-get when missing;
2. keeps all container state in one folder (WAN22_IMAGE_DIR, default ~/.cache/wan22-test-image:
   storage, configuration, the torch wheels, the demo volume); `--purge` deletes it at the end;
3. builds a stand-in of the worker-comfyui `-base` image layout (never worker-comfyui's own
   Dockerfile or code): a Debian bookworm rootfs from mmdebstrap, a venv at /opt/venv on PATH, the
   pinned torch trio (wheels downloaded once into the folder and installed from it), ComfyUI at
   /comfyui from the checkout the tests use (COMFYUI_PATH, else ~/comfy/ComfyUI) with its
   requirements; tagged docker.io/runpod/worker-comfyui:standin-base, so the Dockerfile's FROM
   resolves locally with WORKER_VERSION=standin;
4. builds deploy/Dockerfile unchanged (build arguments only) with buildah;
5. runs the image the way docs/deploy.md says (`podman run ... IMAGE --rp_serve_api ...`: container
   arguments reach the worker through the ENTRYPOINT), on loopback, with a demo volume
   (`python -m wan22 demo-volume`) at /runpod-volume/models (the volume at /runpod-volume), and checks that a full command given
   instead (RunPod's "container start command") runs as given;
6. posts typed i2v_fast and s2v_fast jobs to the runpod SDK's local API (/runsync) and counts the
   frames of the returned mp4s with PyAV;
7. removes the containers it started (always), the worker image (`--rmi`), everything (`--purge`).

Needs root (apt-get, rootful podman) and ~25 GB free in the folder's filesystem on the first run.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("buildah", "podman", "mmdebstrap", "runc", "fuse-overlayfs")
TORCH = ("torch==2.9.1", "torchvision==0.24.1", "torchaudio==2.9.1")
BASE_OS = "localhost/wan22-bookworm:minbase"
STANDIN = "docker.io/runpod/worker-comfyui:standin-base"
IMAGE = "localhost/wan22-worker:test"
CA = "/etc/ssl/certs/ca-certificates.crt"
LABEL = "wan22.standin.key"
TINY = {"width": 64, "height": 64, "frames": 9}


def say(msg: str) -> None:
    print(f"[test-image] {msg}", flush=True)


class Fail(Exception):
    pass


def run(cmd: list[str], env: dict[str, str] | None = None, capture: bool = False, check: bool = True,
        timeout: float | None = None, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    if not quiet:
        say("$ " + " ".join(cmd))
    r = subprocess.run(cmd, env=env, text=True, capture_output=capture, timeout=timeout, check=False)
    if check and r.returncode != 0:
        raise Fail(f"{cmd[0]} {cmd[1] if len(cmd) > 1 else ''} exited {r.returncode}" + (f": {r.stderr[-2000:]}" if capture else ""))
    return r


def ensure_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise Fail(f"missing {', '.join(missing)}: run as root (apt-get install -y {' '.join(TOOLS)})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], env=env)
    run(["apt-get", "install", "-y", "-q", *TOOLS], env=env)


def container_env(home: Path) -> dict[str, str]:
    """Storage and engine settings in `home` only (CONTAINERS_STORAGE_CONF, CONTAINERS_CONF)."""
    (home / "storage").mkdir(parents=True, exist_ok=True)
    storage = home / "storage.conf"
    storage.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{home}/storage/root"\nrunroot = "{home}/storage/run"\n')
    conf = home / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n\n'
                    '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
    return {**os.environ, "CONTAINERS_STORAGE_CONF": str(storage), "CONTAINERS_CONF": str(conf)}


def image_label(env: dict[str, str], image: str, label: str) -> str | None:
    r = run(["podman", "image", "inspect", "--format", f'{{{{index .Labels "{label}"}}}}', image], env, capture=True, check=False)
    return r.stdout.strip() if r.returncode == 0 else None


def base_os(home: Path, env: dict[str, str]) -> None:
    if image_label(env, BASE_OS, "wan22.base") is not None:
        return
    tar = home / "bookworm-rootfs.tar"
    run(["mmdebstrap", "--variant=minbase", "--include=python3,python3-venv,python3-pip,ca-certificates,libgl1,libglib2.0-0",
         "bookworm", str(tar)])
    run(["podman", "import", "--change", "LABEL wan22.base=bookworm", str(tar), BASE_OS], env)
    tar.unlink()


def wheels(home: Path) -> Path:
    """The torch trio and its dependencies as wheels, downloaded once (pip skips files it has);
    this Python must match the image's (Debian bookworm: CPython 3.11, x86_64)."""
    if sys.version_info[:2] != (3, 11):
        raise Fail(f"run this tool with a Python 3.11 (the image's), not {sys.version.split()[0]}: pip downloads the wheels for it")
    d = home / "wheels"
    stamp = d / (".done-" + "-".join(TORCH))
    if not stamp.exists():
        d.mkdir(parents=True, exist_ok=True)
        run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "--only-binary=:all:",
             "-d", str(d), *TORCH])
        stamp.touch()
    return d


def comfyui_dir() -> Path:
    d = Path(os.environ.get("COMFYUI_PATH") or Path.home() / "comfy" / "ComfyUI").expanduser()
    if not (d / "main.py").is_file():
        raise Fail(f"no ComfyUI checkout at {d} (set COMFYUI_PATH): the stand-in base copies it to /comfyui")
    return d


STANDIN_FILE = """\
FROM {base}
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_DISABLE_PIP_VERSION_CHECK=1
RUN printf '%s\\n' {pins} > /opt/torch-pins.txt \\
    && pip install --no-cache-dir --no-index --find-links /wheels -r /opt/torch-pins.txt
RUN tar -C /src/comfyui --exclude=.git --exclude=__pycache__ --exclude=./models --exclude=./output \\
        --exclude=./user --exclude=./input --exclude=./temp -cf - . | (mkdir /comfyui && tar -C /comfyui -xf -) \\
    && pip install --no-cache-dir -c /opt/torch-pins.txt -r /comfyui/requirements.txt
LABEL {label}={key}
WORKDIR /
"""


def standin(home: Path, env: dict[str, str]) -> None:
    """The worker-comfyui -base stand-in; rebuilt when ComfyUI's files or the pins change."""
    comfy = comfyui_dir()
    digest = hashlib.sha256("\n".join(TORCH).encode())
    for p in sorted(comfy.glob("*.py")) + [comfy / "requirements.txt"]:
        digest.update(p.name.encode() + p.read_bytes())
    key = digest.hexdigest()[:16]
    if image_label(env, STANDIN, LABEL) == key:
        say(f"stand-in base {STANDIN} is current ({key})")
        return
    wheel_dir = wheels(home)
    ctx = home / "standin"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(STANDIN_FILE.format(base=BASE_OS, pins=" ".join(f"'{p}'" for p in TORCH), label=LABEL, key=key))
    run(["buildah", "build", "--pull=never", "--isolation=chroot", "--layers", "-v", f"{CA}:{CA}:ro",
         "-v", f"{wheel_dir}:/wheels:ro", "-v", f"{comfy}:/src/comfyui:ro", "-t", STANDIN, str(ctx)], env)


def build_worker(env: dict[str, str]) -> None:
    """deploy/Dockerfile as it is; only WORKER_VERSION changes."""
    run(["buildah", "build", "--pull=never", "--isolation=chroot", "--layers", "--build-arg", "WORKER_VERSION=standin",
         "-v", f"{CA}:{CA}:ro", "--ignorefile", str(REPO / "deploy" / "Dockerfile.dockerignore"),
         "-f", str(REPO / "deploy" / "Dockerfile"), "-t", IMAGE, str(REPO)], env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_volume(home: Path) -> Path:
    """A network volume stand-in: the demo volume's files in <volume>/models/<folder>/."""
    vol = home / "volume"
    if not (vol / "models" / "vae").is_dir():
        run([sys.executable, "-m", "wan22", "demo-volume", str(vol / "models")])
    return vol


def post(url: str, body: dict[str, Any], timeout: float = 900.0) -> dict[str, Any]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        out: dict[str, Any] = json.loads(r.read())
    return out


def wait_api(api: str, name: str, env: dict[str, str], limit: float = 600.0) -> float:
    """Seconds until the SDK's local API answers (GET /docs redirects to /: urllib follows)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        state = run(["podman", "inspect", "--format", "{{.State.Status}}", name], env, capture=True, check=False,
                    quiet=True).stdout.strip()
        if state not in ("running", "created"):
            raise Fail(f"the container stopped ({state}) before its API answered")
        try:
            with urllib.request.urlopen(api + "/docs", timeout=5):
                return time.monotonic() - t0
        except (urllib.error.URLError, OSError):
            time.sleep(2)
    raise Fail(f"no answer from {api} within {limit:.0f} s")


def png() -> bytes:
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:64, 0:64]
    buf = io.BytesIO()
    Image.fromarray(np.stack([x * 4 % 256, y * 4 % 256, (x + y) * 2 % 256], -1).astype("uint8")).save(buf, format="PNG")
    return buf.getvalue()


def wav(seconds: float = 2.0, rate: int = 16000) -> bytes:
    import wave

    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def frames_of(video: dict[str, Any]) -> int:
    import av

    if video.get("type") != "base64":
        raise Fail(f"expected a base64 video, got {video.get('type')}")
    with av.open(io.BytesIO(base64.b64decode(video["data"]))) as c:
        return sum(1 for _ in c.decode(video=0))


def jobs(api: str) -> dict[str, float]:
    """Typed i2v_fast and s2v_fast through /runsync; every mp4's frames counted by PyAV."""
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    cases = [("i2v_fast", {"image": b64(png()), "prompt": "a fox", "seed": 7, **TINY}, 9),
             ("s2v_fast", {"image": b64(png()), "audio": b64(wav(2.0)), "seed": 3, "width": 64, "height": 64}, None)]
    took = {}
    for wid, fields, want in cases:
        t0 = time.monotonic()
        resp = post(api + "/runsync", {"input": {"workflow": wid, **fields}})
        took[wid] = time.monotonic() - t0
        out = resp.get("output")
        if resp.get("status") != "COMPLETED" or not isinstance(out, dict) or "video" not in out:
            raise Fail(f"{wid}: {json.dumps(resp)[:2000]}")
        n = frames_of(out["video"])
        expect = want if want is not None else out.get("frames")
        if n != expect:
            raise Fail(f"{wid}: the mp4 has {n} frames, the job says {expect}")
        say(f"{wid}: COMPLETED in {took[wid]:.1f} s, mp4 of {n} frames (PyAV), {out['width']}x{out['height']}")
    return took


def start_command(env: dict[str, str]) -> None:
    """A full command given to the container runs as given (RunPod's container start command)."""
    r = run(["podman", "run", "--rm", "--network=none", IMAGE, "python", "-c", "import sys; print('start-command', sys.prefix)"],
            env, capture=True)
    if "start-command /opt/venv" not in r.stdout:
        raise Fail(f"a full command did not run as given: {r.stdout[-500:]} {r.stderr[-500:]}")
    say("a full command given to the container runs as given (RunPod container start command)")


def serve(home: Path, env: dict[str, str], name: str) -> dict[str, float]:
    vol = demo_volume(home)
    api_port, comfy_port = free_port(), free_port()
    # the command docs/deploy.md gives, with podman and loopback ports (no GPU here: ComfyUI --cpu)
    run(["podman", "run", "-d", "--name", name, "--network=host", "-v", f"{vol}:/runpod-volume:ro",
         "-e", "WAN22_COMFY_ARGS=--cpu", "-e", f"COMFY_URL=http://127.0.0.1:{comfy_port}",
         "-e", "WAN22_PRECOMPUTED_CONDITIONING=1", IMAGE,
         "--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", str(api_port)], env)
    api = f"http://127.0.0.1:{api_port}"
    up = wait_api(api, name, env)
    say(f"container start to API answering: {up:.1f} s")
    logs = run(["podman", "logs", name], env, capture=True).stdout
    table = [ln for ln in logs.splitlines() if "worker readiness" in ln or ln.startswith(("  i2v_fast ", "  s2v_fast "))]
    say("boot table: " + " | ".join(t.split(" INFO ")[-1].strip() for t in table))
    if "i2v_fast        yes" not in logs or "s2v_fast        yes" not in logs:
        raise Fail("the readiness table does not say i2v_fast and s2v_fast are ready:\n" + logs[-3000:])
    took = jobs(api)
    (home / "container.log").write_text(run(["podman", "logs", name], env, capture=True).stdout)
    return {"api_up_s": up, **{f"{k}_s": v for k, v in took.items()}}


def cleanup(home: Path, env: dict[str, str], name: str, rmi: bool, purge: bool) -> None:
    run(["podman", "rm", "-f", "--ignore", name], env, check=False)
    if rmi or purge:
        run(["podman", "rmi", "-f", IMAGE], env, check=False)
    if purge:
        run(["podman", "system", "reset", "--force"], env, check=False)
        shutil.rmtree(home, ignore_errors=True)
        say(f"removed {home}")


def du(path: Path) -> str:
    r = subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True, check=False)
    return r.stdout.split("\t")[0] if r.returncode == 0 else "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=os.environ.get("WAN22_IMAGE_DIR") or str(Path.home() / ".cache" / "wan22-test-image"),
                    help="the one folder for storage, configuration, wheels and the demo volume")
    ap.add_argument("--rmi", action="store_true", help="remove the worker image at the end")
    ap.add_argument("--purge", action="store_true", help="remove the whole folder at the end (the next run starts from nothing)")
    ap.add_argument("--keep", action="store_true", help="leave the container running (its name is printed)")
    a = ap.parse_args(argv)
    home = Path(a.dir).expanduser().resolve()
    t0 = time.monotonic()
    steps: dict[str, float] = {}
    name = f"wan22-test-image-{os.getpid()}"
    env = dict(os.environ)
    try:
        ensure_tools()
        env = container_env(home)
        for step, fn in (("base_os", lambda: base_os(home, env)), ("standin", lambda: standin(home, env)),
                         ("worker_image", lambda: build_worker(env)), ("start_command", lambda: start_command(env))):
            ts = time.monotonic()
            fn()
            steps[step] = time.monotonic() - ts
        steps.update(serve(home, env, name))
    except (Fail, subprocess.TimeoutExpired, urllib.error.URLError, OSError) as e:
        if shutil.which("podman"):
            logs = run(["podman", "logs", name], env, capture=True, check=False)
            print(logs.stdout[-6000:] + logs.stderr[-2000:])
        say(f"FAILED: {e}")
        if not a.keep:
            cleanup(home, env, name, a.rmi, a.purge)
        return 1
    size = du(home)
    if a.keep:
        say(f"container {name} left running")
    else:
        cleanup(home, env, name, a.rmi, a.purge)
    say("step seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()))
    say(f"PASSED in {time.monotonic() - t0:.0f} s; {home} holds {size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
