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

import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from .. import __version__
from ..api.client import Client
from ..comfyui_dir import find_comfyui
from .inputs import EXAMPLE_IMAGE
from .server import PACK_DIR_NAME, ComfyServer, clone_pinned, make_base, online, pack_root, start_image
from .server import write_model_paths_yaml as write_extra_model_paths

DEMO_WORKFLOW = "wan22_i2v_fast"
DEMO_SIZE = 96
DEMO_FRAMES = 17
DEMO_SEED = 22

Say = Callable[[str], None]


def _say(msg: str) -> None:
    sys.stdout.write(f"[demo] {msg}\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class DemoOptions:
    """What `python -m wan22 demo` takes (cli/demo.py builds it from argv)."""

    comfyui: str | None = None
    python: str = sys.executable
    workdir: str = ".demo"
    port: int = 0
    out: str = "demo_output"


def get_comfyui(explicit: str | None, workdir: Path, python: str, say: Say = _say) -> Path | None:
    """The ComfyUI to run: --comfyui, $COMFYUI_PATH, ~/comfy/ComfyUI, a clone made earlier in the
    work dir; else a fresh clone of the pinned release when online. None (with the reason said)
    when there is none and no way to get one."""
    if explicit:
        found = find_comfyui(explicit)
        if found is None:
            say(f"--comfyui {explicit}: not a ComfyUI folder (no main.py, folder_paths.py and comfy/)")
        return found
    found = find_comfyui(extra=[workdir / "ComfyUI"])
    if found is not None:
        say(f"ComfyUI: {found}")
        return found
    if not online():
        from .server import COMFYUI_REPO, PINNED_COMFYUI

        say("no ComfyUI found ($COMFYUI_PATH, ~/comfy/ComfyUI) and github.com is unreachable (offline), so the pinned "
            f"release cannot be cloned. Install ComfyUI ({COMFYUI_REPO}, tag {PINNED_COMFYUI}) and set COMFYUI_PATH, "
            "or pass --comfyui DIR.")
        return None
    return clone_pinned(workdir / "ComfyUI", python, say)


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


def demo_prompt(pack: Path, dest: Path) -> Path:
    """The i2v fast example, resized for a CPU and with precomputed conditioning (documented in
    wan22.api.edits.tiny_overrides / use_precomputed_conditioning)."""
    from ..api.edits import tiny_overrides, use_precomputed_conditioning
    from ..graph.widgets import dumps

    src = pack / "example_workflows" / "api" / f"{DEMO_WORKFLOW}.json"
    prompt = json.loads(src.read_text(encoding="utf-8"))
    prompt = use_precomputed_conditioning(tiny_overrides(prompt, DEMO_SIZE, DEMO_SIZE, DEMO_FRAMES))
    dest.write_text(dumps(prompt), encoding="utf-8")
    return dest


def print_inventory(url: str) -> None:
    inv = Client(url).get_json("/wan22/inventory", timeout=60)
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


def _prepare(opts: DemoOptions, comfyui: Path, say: Say) -> tuple[ComfyServer, str, Path]:
    """Base directory with the pack, demo volume, yaml, start image and the (unstarted) server."""
    pack = pack_root()
    workdir = Path(opts.workdir).expanduser().resolve()
    base = make_base(workdir / "comfy_base", pack)
    say(f"pack installed for this run only: {base / 'custom_nodes' / PACK_DIR_NAME} -> {pack} "
        f"(ComfyUI --base-directory {base}; {comfyui} itself is not modified)")
    volume = workdir / "volume"
    say(ensure_volume(volume))
    yaml = write_extra_model_paths(base / "extra_model_paths.yaml", volume)
    image = start_image(str(workdir / EXAMPLE_IMAGE))
    server = ComfyServer(comfyui, base, yaml, port=opts.port or None, log_path=workdir / "server.log", python=opts.python)
    prompt_file = demo_prompt(pack, workdir / f"{DEMO_WORKFLOW}_demo.json")
    return server, image, prompt_file


def _submit(server: ComfyServer, prompt_file: Path, image: str, out: Path, say: Say) -> int:
    """Submit the demo prompt through the api wing, as `python -m wan22 submit` would."""
    from ..api.progress import ProgressBar
    from ..api.submit import SubmitOptions, submit

    say(f"submitting example_workflows/api/{DEMO_WORKFLOW}.json at {DEMO_SIZE}x{DEMO_SIZE}, {DEMO_FRAMES} frames, "
        "with the demo volume's precomputed text conditioning instead of CLIPTextEncode (the umT5 stand-in "
        "would return NaN = a black video); the frames show the random stand-in experts' output")
    opts = SubmitOptions(workflow=str(prompt_file), server=server.url, image=image, seed=DEMO_SEED, wait=True,
                         out=str(out), timeout=1800.0)
    say(f"= python -m wan22 submit {prompt_file} --server {server.url} --image {image} --seed {DEMO_SEED} --wait --out {out}")
    return submit(opts, _line(sys.stdout), _line(sys.stderr), progress=lambda prompt: ProgressBar(prompt, sys.stderr))


def _line(stream: TextIO) -> Say:
    """submit's line callback on `stream` (as `python -m wan22 submit` prints: results on stdout,
    problems, warnings and the progress bar on stderr)."""

    def write(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    return write


def _run_server(server: ComfyServer, prompt_file: Path, image: str, opts: DemoOptions, say: Say) -> int:
    say(f"starting ComfyUI on {server.url} (loopback only, CPU; log {server.log_path})")
    t_start = time.monotonic()
    try:
        server.start()
    except RuntimeError as e:
        say(str(e))
        say(f"if a module is missing: {opts.python} -m pip install -r {server.comfyui / 'requirements.txt'}")
        return 1
    say(f"server ready in {time.monotonic() - t_start:.1f} s")
    out = Path(opts.out).expanduser().resolve()
    rc = _submit(server, prompt_file, image, out, say)
    if rc != 0:
        say(f"submit failed (exit {rc}); server log tail:\n{server.log_tail(40)}")
        return rc
    videos = sorted(out.rglob("*.mp4"), key=lambda p: p.stat().st_mtime)
    if not videos:
        say("the run finished but no mp4 was downloaded")
        return 1
    say(f"video: {videos[-1]} ({_video_summary(videos[-1])})")
    print_inventory(server.url)
    return 0


def run(opts: DemoOptions, say: Say = _say) -> int:
    """The demo end to end; the server is stopped on every path out (errors, Ctrl-C, SIGTERM)."""
    t0 = time.monotonic()
    workdir = Path(opts.workdir).expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    comfyui = get_comfyui(opts.comfyui, workdir, opts.python, say)
    if comfyui is None:
        return 2
    server, image, prompt_file = _prepare(opts, comfyui, say)

    def on_term(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        rc = _run_server(server, prompt_file, image, opts, say)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, old)
        say("server stopped")
    if rc == 0:
        say(f"done in {time.monotonic() - t0:.1f} s")
    return rc
