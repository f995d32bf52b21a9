"""Prefetch the model files a prompt needs from a slow (network) volume into the page cache.

ComfyUI's loaders read safetensors through mmap, one page-fault readahead window at a time (on
bench/slowfs.py's emulated volume: 171-185 MB/s of a 250 MB/s link; four streams reach 200-240).
The prefetcher reads the same files ahead of the loaders, in the order they will ask for them, with
large sequential reads on a few parallel streams; ComfyUI's own loaders still do all the loading.

It never writes to the volume (files are opened O_RDONLY, O_NOATIME where allowed), skips pages
already in the page cache (mincore), stays within a memory budget (a fraction of MemAvailable,
and stops when MemAvailable falls under a reserve), can be cancelled at any time, and reports a
file that is missing, vanishes or shrinks instead of failing.

API (used by nodes/prefetch.py when a prompt is queued, and by the serverless worker at boot):

    needed = files_for_prompt(prompt, resolve, order=None, listings=None)   # API-format prompt
    report = prefetch_files([n.path for n in needed])                       # blocking
    job = start_prefetch(paths); ...; job.cancel(); report = job.wait()     # background
    print(report.summary_line())                                            # what, how long

`resolve(folder_key, file_name) -> path | None` maps loader inputs to files (ComfyUI's
folder_paths.get_full_path, or a volume root on the worker). `order` is the node execution order
(nodes/prefetch.py computes ComfyUI's own); `listings` (folder key -> file names) lets
Wan22BundleLoader's 'auto' inputs and Wan22ModeRouter's preset LoRAs be resolved.

Switches: WAN22_PREFETCH=0 turns it off, =1 on for every volume; unset ('auto') it runs only for
files on network or FUSE filesystems (where it was measured to help; bench/bench_cold_start.py).
WAN22_LOCAL_CACHE=DIR keeps a size-capped local copy of what was read (see cache.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import mmap
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..graph.load_order import node_files
from ..graph.reader import workflow_refs

log = logging.getLogger("wan22")

ENV_SWITCH = "WAN22_PREFETCH"
NETWORK_FS = ("fuse", "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "lustre", "9p", "virtiofs", "glusterfs", "gpfs",
              "beegfs", "mfs", "juicefs", "s3fs", "gcsfuse", "wekafs")


# ---------------------------------------------------------------- switches and machine facts

def switch(env: Mapping[str, str] | None = None) -> str:
    """'off', 'on' or 'auto' from WAN22_PREFETCH (0/off/false, 1/on/true, unset/auto)."""
    raw = (os.environ if env is None else env).get(ENV_SWITCH, "auto").strip().lower()
    if raw in ("0", "off", "false", "no"):
        return "off"
    if raw in ("1", "on", "true", "yes", "always"):
        return "on"
    return "auto"


def fs_type(path: str, mountinfo: str = "/proc/self/mountinfo") -> str:
    """The filesystem type of the mount holding `path` ('' when unknown)."""
    real = os.path.realpath(path)
    best, kind = "", ""
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) < 5 or not right:
                    continue
                point = fields[4].replace("\\040", " ")
                inside = real == point or real.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, right.split()[0]
    except OSError:
        return ""
    return kind


def is_network_fs(path: str) -> bool:
    kind = fs_type(path)
    return any(kind == k or kind.startswith(k + ".") for k in NETWORK_FS)


def wanted(path: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether the switch lets `path` be prefetched (auto: network and FUSE filesystems only)."""
    mode = switch(env)
    return mode == "on" or (mode == "auto" and is_network_fs(path))


def mem_available(meminfo: str = "/proc/meminfo") -> int:
    """MemAvailable in bytes (0 when unknown, which makes the prefetcher read nothing)."""
    try:
        with open(meminfo, encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class _Residency:
    """Which pages of a file are in the page cache (mincore on a PROT_READ mapping, no data read)."""

    def __init__(self) -> None:
        self.ok = False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            self._mmap, self._mincore, self._munmap = libc.mmap, libc.mincore, libc.munmap
            self._mmap.restype = ctypes.c_void_p
            self._mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                   ctypes.c_long]
            self._mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
            self._munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            self.ok = True
        except (OSError, AttributeError):
            pass

    def resident(self, fd: int, offset: int, length: int) -> bool:
        """True when every page of [offset, offset+length) is cached; False when unsure."""
        if not self.ok or length <= 0:
            return False
        page = mmap.PAGESIZE
        start = offset - offset % page
        span = length + (offset - start)
        addr = self._mmap(None, span, mmap.PROT_READ, mmap.MAP_SHARED, fd, start)
        if addr in (None, ctypes.c_void_p(-1).value):
            return False
        try:
            n = (span + page - 1) // page
            vec = (ctypes.c_ubyte * n)()
            if self._mincore(addr, span, vec) != 0:
                return False
            return all(b & 1 for b in vec)
        finally:
            self._munmap(addr, span)


_RESIDENCY = _Residency()


# ---------------------------------------------------------------- reports

@dataclass
class FileReport:
    path: str
    size: int = 0
    read_bytes: int = 0  # read from the volume by the prefetcher
    cached_bytes: int = 0  # already in the page cache: skipped
    seconds: float = 0.0
    status: str = "pending"  # read | cached | partial | missing | shrank | error | cancelled | skipped
    detail: str = ""


@dataclass
class PrefetchReport:
    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0
    budget_bytes: int = 0
    stopped: str = ""  # '' | 'cancelled' | 'memory' | 'budget'
    streams: int = 0

    @property
    def read_bytes(self) -> int:
        return sum(f.read_bytes for f in self.files)

    @property
    def cached_bytes(self) -> int:
        return sum(f.cached_bytes for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(read_bytes=self.read_bytes, cached_bytes=self.cached_bytes,
                 mb_per_s=round(self.read_bytes / 1e6 / self.seconds, 1) if self.seconds > 0 else 0.0)
        return d

    def summary_line(self) -> str:
        rate = self.read_bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0
        parts = [f"prefetched {len([f for f in self.files if f.status in ('read', 'cached')])}/{len(self.files)} file(s): "
                 f"{self.read_bytes / 1e9:.2f} GB read in {self.seconds:.1f} s ({rate:.0f} MB/s, {self.streams} streams), "
                 f"{self.cached_bytes / 1e9:.2f} GB already cached"]
        odd = [f"{os.path.basename(f.path)}: {f.status}{' (' + f.detail + ')' if f.detail else ''}"
               for f in self.files if f.status not in ("read", "cached")]
        if self.stopped:
            parts.append(f"stopped: {self.stopped}")
        return "; ".join(parts + odd)


# ---------------------------------------------------------------- the engine

@dataclass
class _File:
    report: FileReport
    fd: int = -1
    next_offset: int = 0
    outstanding: int = 0
    started: float = 0.0
    closed: bool = False
    cache: Any = None  # cache.Writer or None


def _open_ro(path: str) -> int:
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, flags | getattr(os, "O_NOATIME", 0))
    except PermissionError:  # O_NOATIME needs to own the file
        return os.open(path, flags)


class PrefetchJob:
    """A background prefetch of `paths` in order. cancel() stops it within one chunk per stream."""

    def __init__(self, paths: Iterable[str], streams: int = 4, chunk_bytes: int = 8 << 20, memory_fraction: float = 0.5,
                 reserve_bytes: int = 1 << 30, max_bytes: int | None = None, skip_cached: bool = True,
                 meminfo: Callable[[], int] = mem_available, progress: Callable[[PrefetchJob, FileReport, int], None] | None = None,
                 cache: Any = None) -> None:
        self.streams = max(1, int(streams))
        self.chunk = max(mmap.PAGESIZE, int(chunk_bytes))
        self.reserve = reserve_bytes
        self.meminfo = meminfo
        self.progress = progress
        self.skip_cached = skip_cached
        self.cache = cache
        self._files = [_File(FileReport(p)) for p in dict.fromkeys(os.fspath(p) for p in paths)]
        budget = int(memory_fraction * meminfo())
        self.report = PrefetchReport(files=[f.report for f in self._files], streams=self.streams,
                                     budget_bytes=budget if max_bytes is None else min(budget, max_bytes))
        self._planned = 0
        self._index = 0
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running = 0
        self._t0 = 0.0

    # -- control
    def start(self) -> PrefetchJob:
        self._t0 = time.monotonic()
        self._running = self.streams
        for i in range(self.streams):
            t = threading.Thread(target=self._worker, name=f"wan22-prefetch-{i}", daemon=True)
            self._threads.append(t)
            t.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> PrefetchReport:
        self._done.wait(timeout)
        return self.report

    # -- work
    def _stop(self, why: str) -> None:
        if not self.report.stopped:
            self.report.stopped = why

    def _open(self, f: _File) -> bool:
        """Open and size the file under the lock; False when it cannot be read (reported)."""
        try:
            f.fd = _open_ro(f.report.path)
            f.report.size = os.fstat(f.fd).st_size
        except FileNotFoundError:
            f.report.status, f.report.detail = "missing", "not found when its turn came"
            return False
        except OSError as e:
            f.report.status, f.report.detail = "error", f"{e.__class__.__name__}: {e.strerror or e}"
            return False
        f.started = time.monotonic()
        if self.cache is not None:
            f.cache = self.cache.writer(f.report.path, f.fd, f.report.size)
        return True

    def _limits_reached(self, length: int) -> bool:
        if self._cancel.is_set():
            self._stop("cancelled")
            return True
        if self._planned + length > self.report.budget_bytes:
            self._stop("budget")
            return True
        if self.meminfo() < self.reserve:
            self._stop("memory")
            return True
        return False

    def _next(self) -> tuple[_File, int, int] | None:
        """The next chunk in need order, or None when there is nothing (more) to do."""
        with self._lock:
            while self._index < len(self._files) and not self.report.stopped:
                f = self._files[self._index]
                if f.fd < 0 and f.report.status == "pending" and not self._open(f):
                    self._index += 1
                    continue
                if f.report.status != "pending" or f.next_offset >= f.report.size:
                    self._finish_if_idle(f)
                    self._index += 1
                    continue
                length = min(self.chunk, f.report.size - f.next_offset)
                if self._limits_reached(length):
                    return None
                off = f.next_offset
                f.next_offset += length
                f.outstanding += 1
                self._planned += length
                return f, off, length
            return None

    def _worker(self) -> None:
        buf = bytearray(self.chunk)
        view = memoryview(buf)
        try:
            while (item := self._next()) is not None:
                f, off, length = item
                n, cached = self._read(f, off, length, view)
                with self._lock:
                    if cached:
                        f.report.cached_bytes += length
                        self._planned -= length  # nothing new in RAM
                    else:
                        f.report.read_bytes += n
                if self.progress is not None:
                    self.progress(self, f.report, n)
                with self._lock:
                    f.outstanding -= 1
                    self._finish_if_idle(f)
        finally:
            self._worker_exit()

    def _read(self, f: _File, off: int, length: int, view: memoryview) -> tuple[int, bool]:
        """(bytes read, already cached) for one chunk; marks a shrunk or failing file."""
        try:
            if self.skip_cached and f.cache is None and _RESIDENCY.resident(f.fd, off, length):
                return 0, True
            n = os.preadv(f.fd, [view[:length]], off)
        except OSError as e:
            with self._lock:
                if f.report.status == "pending":
                    f.report.status, f.report.detail = "error", f"{e.__class__.__name__} at byte {off:,}: {e.strerror or e}"
            return 0, False
        if n < length:
            with self._lock:
                if f.report.status == "pending":
                    now = _size_now(f.report.path)
                    f.report.status = "shrank"
                    f.report.detail = f"{f.report.size:,} bytes when opened, {now} now; read up to byte {off + n:,}"
        elif f.cache is not None:
            f.cache.write(off, view[:n])
        return n, False

    def _finish_if_idle(self, f: _File) -> None:
        """Close a file whose chunks are all done (called under the lock)."""
        if f.closed or f.outstanding or f.fd < 0:
            return
        if f.next_offset < f.report.size and f.report.status == "pending" and not self.report.stopped:
            return
        f.closed = True
        f.report.seconds = round(time.monotonic() - f.started, 3)
        r = f.report
        if r.status == "pending":
            done = r.read_bytes + r.cached_bytes
            r.status = ("cached" if r.cached_bytes == r.size else "read") if done >= r.size else (
                "cancelled" if self.report.stopped == "cancelled" else "partial")
            if r.status == "partial":
                r.detail = f"{done:,} of {r.size:,} bytes ({self.report.stopped} limit)"
        if f.cache is not None:
            f.cache.finish(ok=r.status == "read")
        os.close(f.fd)

    def _worker_exit(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running:
                return
            for f in self._files:
                if f.fd >= 0 and not f.closed:
                    f.outstanding = 0
                    self._finish_if_idle(f)
                if f.report.status == "pending":
                    f.report.status = "cancelled" if self.report.stopped == "cancelled" else "skipped"
                    f.report.detail = f.report.detail or f"not reached ({self.report.stopped or 'stopped'})"
            self.report.seconds = round(time.monotonic() - self._t0, 3)
        self._done.set()


def _size_now(path: str) -> str:
    return f"{os.stat(path).st_size:,} bytes" if os.path.exists(path) else "gone"


def start_prefetch(paths: Iterable[str], **options: Any) -> PrefetchJob:
    """Start reading `paths` (in this order) in the background; options as PrefetchJob."""
    return PrefetchJob(paths, **options).start()


def prefetch_files(paths: Iterable[str], timeout: float | None = None, **options: Any) -> PrefetchReport:
    """Read `paths` into the page cache and return the report (blocking; cancelled at `timeout`)."""
    job = start_prefetch(paths, **options)
    if not job._done.wait(timeout):
        job.cancel()
    return job.wait()


# ---------------------------------------------------------------- what a prompt needs

@dataclass(frozen=True)
class Needed:
    node_id: str
    class_type: str
    folder: str
    name: str
    path: str


def files_for_prompt(prompt: Mapping[str, Any], resolve: Callable[[str, str], str | None],
                     order: Sequence[str] | None = None,
                     listings: Mapping[str, Sequence[str]] | None = None) -> list[Needed]:
    """The files an API-format prompt loads (read by wan22.graph, as every reader of prompts
    reads them), each once, in `order` (node ids; the prompt's own order for nodes it leaves
    out). Names `resolve` cannot find are left to validation."""
    wf = workflow_refs(prompt, listings=listings)
    per_node = node_files(wf, listings)
    ids = [i for i in (order or []) if i in prompt] + [i for i in prompt if i not in set(order or [])]
    out: dict[str, Needed] = {}
    for nid in ids:
        for folder, name in per_node.get(nid, ()):
            path = resolve(folder, name)
            if path and path not in out:
                out[path] = Needed(nid, str(prompt[nid].get("class_type", "")), folder, name, path)
    return list(out.values())
