"""The ComfyUI the worker drives: its URL, and the `main.py` child process when the worker
started it (`--start-comfyui DIR`). Knows whether that ComfyUI is up, why it is not, and how to
get it back: restart the child, or (a ComfyUI the worker did not start) ask RunPod for a fresh
worker.

The child dies with the worker (PR_SET_PDEATHSIG on Linux, set from one long-lived spawner
thread, since the signal follows the thread that forked the child), its output goes to the worker's own
log (RunPod shows it), and the last lines are kept to explain a failed start.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..api.client import Client
from ..errors import Wan22Error

log = logging.getLogger("wan22.worker")
PR_SET_PDEATHSIG = 1


class ComfyDown(Wan22Error):
    """ComfyUI is not running or does not answer; the message says why and what happens next."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class _Spawner:
    """One long-lived thread that makes every child: Linux sends PR_SET_PDEATHSIG when the
    *thread* that forked the child ends, so a child started from a job or restart thread would be
    killed as soon as that thread finished."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Any], list[Any], threading.Event]] = queue.Queue()
        threading.Thread(target=self._loop, daemon=True, name="comfyui-spawner").start()

    def _loop(self) -> None:
        while True:
            fn, box, done = self._jobs.get()
            try:
                box.append(fn())
            except BaseException as e:  # handed back to the caller, raised there
                box.append(e)
            done.set()

    def run(self, fn: Callable[[], Any]) -> Any:
        box: list[Any] = []
        done = threading.Event()
        self._jobs.put((fn, box, done))
        done.wait()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]


_SPAWNER: _Spawner | None = None
_SPAWNER_LOCK = threading.Lock()


def spawn(fn: Callable[[], Any]) -> Any:
    """Run `fn` (a Popen) on the spawner thread."""
    global _SPAWNER
    with _SPAWNER_LOCK:
        if _SPAWNER is None:
            _SPAWNER = _Spawner()
    return _SPAWNER.run(fn)


def describe_exit(code: int | None) -> str:
    """'exit code 1' / 'killed by signal 9 (SIGKILL)'."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "?"
        return f"killed by signal {-code} ({name})"
    return f"exit code {code}"


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when ComfyUI's GET /queue answers 200 within `timeout` seconds."""
    try:
        return Client(url, timeout=timeout).request("GET", "/queue")[0] == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def arg_values(args: Sequence[str], flag: str) -> list[str]:
    """Every value ComfyUI's argparse would give `flag` (`--flag a b`, `--flag=a`, repeated)."""
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith(flag + "="):
            out.append(a.split("=", 1)[1])
        elif a == flag:
            i += 1
            while i < len(args) and not args[i].startswith("--"):
                out.append(args[i])
                i += 1
            continue
        i += 1
    return out


class ComfyProcess:
    """`python main.py --listen HOST --port PORT [args]` in `comfyui`, restartable."""

    def __init__(self, comfyui: str | os.PathLike[str], url: str, args: Sequence[str] = (), python: str = sys.executable) -> None:
        self.comfyui = Path(comfyui).expanduser().resolve()
        if not (self.comfyui / "main.py").is_file():
            raise Wan22Error(f"--start-comfyui {comfyui}: no main.py there; give the ComfyUI folder (the one with main.py)")
        parts = urllib.parse.urlsplit(url)
        self.args = list(args)
        if not arg_values(self.args, "--listen") and "--listen" not in self.args:
            self.args = ["--listen", parts.hostname or "127.0.0.1", *self.args]
        if not arg_values(self.args, "--port"):
            self.args = ["--port", str(parts.port or 8188), *self.args]
        self.python = python
        self.proc: subprocess.Popen[bytes] | None = None
        self.tail: collections.deque[str] = collections.deque(maxlen=60)
        self.starts = 0

    @property
    def cmd(self) -> list[str]:
        return [self.python, str(self.comfyui / "main.py"), *self.args]

    def _pump(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            self.tail.append(line)
            sys.stdout.write(f"[comfyui] {line}\n")
            sys.stdout.flush()

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.tail.clear()
        self.proc = spawn(lambda: subprocess.Popen(self.cmd, cwd=str(self.comfyui), stdout=subprocess.PIPE,
                                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                                   preexec_fn=_die_with_parent))
        self.starts += 1
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True, name="comfyui-log").start()
        log.info("started ComfyUI (pid %s): %s", self.proc.pid, " ".join(self.cmd))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_text(self) -> str:
        return describe_exit(self.proc.poll() if self.proc else None)

    def stop(self, grace: float = 15.0) -> None:
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Comfy:
    """The worker's ComfyUI: `url`, plus `process` when the worker started it."""

    def __init__(self, url: str, process: ComfyProcess | None = None, boot_timeout: float = 600.0) -> None:
        self.url = url.rstrip("/")
        self.process = process
        self.boot_timeout = boot_timeout
        self._lock = threading.Lock()
        self._restarting: threading.Thread | None = None

    def wait_up(self, timeout: float | None = None) -> float:
        """Block until ComfyUI answers; seconds waited. ComfyDown when the child exits or time runs out."""
        t0 = time.monotonic()
        deadline = t0 + (self.boot_timeout if timeout is None else timeout)
        while time.monotonic() < deadline:
            if self.process is not None and not self.process.alive():
                tail = "\n".join(list(self.process.tail)[-20:])
                raise ComfyDown(f"ComfyUI exited while starting ({self.process.exit_text()}); its last lines:\n{tail}")
            if answers(self.url):
                return time.monotonic() - t0
            time.sleep(0.25)
        raise ComfyDown(f"ComfyUI at {self.url} did not answer within {time.monotonic() - t0:.0f} s: "
                        + ("see the [comfyui] log lines" if self.process else "start it, or pass --start-comfyui DIR"))

    def boot(self) -> float:
        """Start the child (if any) and wait for it; seconds taken."""
        if self.process is not None and not self.process.alive():
            self.process.start()
        return self.wait_up()

    def ensure_up(self) -> None:
        """Before a job: restart a child that died between jobs, wait out a restart in progress,
        then wait until ComfyUI answers (ComfyDown if it does not)."""
        if self.process is not None and not self.process.alive():
            log.warning("ComfyUI is not running (%s): restarting it before the job", self.process.exit_text())
            self.recover()
        with self._lock:
            t = self._restarting
        if t is not None:
            t.join()
        self.wait_up(timeout=self.boot_timeout if self.process else 30.0)

    def down_reason(self) -> str | None:
        """Why ComfyUI cannot serve a job now, or None when it answers."""
        if self.process is not None and not self.process.alive():
            return f"ComfyUI stopped ({self.process.exit_text()})"
        if not answers(self.url, timeout=5.0):
            return f"ComfyUI at {self.url} does not answer"
        return None

    def _restart(self) -> None:
        assert self.process is not None
        self.process.stop(grace=5.0)
        self.process.start()
        try:
            self.wait_up()
        except ComfyDown as e:
            log.error("ComfyUI restart failed: %s", e)

    def recover(self, hung: bool = False) -> tuple[str, bool]:
        """After a crash or hang mid-job: (what the worker does about it, refresh_worker)."""
        if self.process is None:
            return "the worker did not start this ComfyUI, so it asks RunPod for a fresh worker", True
        with self._lock:
            if self._restarting is None or not self._restarting.is_alive():
                if hung:
                    self.process.kill()
                self._restarting = threading.Thread(target=self._restart, daemon=True, name="comfyui-restart")
                self._restarting.start()
        return "the worker is restarting ComfyUI; the next job runs on the new one", False

    def close(self) -> None:
        if self.process is not None:
            self.process.stop()
