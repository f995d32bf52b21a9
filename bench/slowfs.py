"""A slow "network volume" for benchmarks: a read-only FUSE passthrough with a per-request latency
and a shared bandwidth cap. Benchmark and test tooling only; bench/ is never installed with the pack.

    python bench/slowfs.py mount SOURCE MOUNTPOINT [--latency-ms 2] [--bandwidth-mbs 250] [--stats F]
    python bench/slowfs.py probe SOURCE [--latency-ms 2] [--bandwidth-mbs 250]   # shows the effect

Model of one read request (what the kernel sends the FUSE daemon: a page-cache miss, a readahead
window, one chunk of a large read): it waits `latency` (a round trip; concurrent requests overlap
their waits, as on a real network), then its bytes go through one shared link of `bandwidth`
bytes/s (requests queue for the link), then the data is read from SOURCE with os.pread. Files
keep their kernel page cache across opens while unchanged (libfuse `kernel_cache`), like NFS's
close-to-open caching and MooseFS's default cache mode: a warm file is served from RAM, and
`echo 3 > /proc/sys/vm/drop_caches` makes it cold again.

Defaults are a guess, said as such: RunPod's documentation describes network volumes as
"networked NVMe" on MooseFS (a FUSE client) but publishes no latency or throughput figure that
this tool could be checked against. 2 ms per request is a plausible round trip to a
storage server in the same data centre plus the chunk server's work; 250 MB/s is a plausible share
of a 10 Gbit/s link for one worker, and is below this machine's local disk (about 650 MB/s
sequential, measured with dd), so the emulated link, not the disk, is the limit. Every figure
the benchmark prints carries these settings.

Needs libfuse3 (`apt-get install -y fuse3 libfuse3-3`) and mfusepy (requirements-dev.txt);
`ensure_fuse()` installs fuse3 when run as root and says why not otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_LATENCY_MS = 2.0
DEFAULT_BANDWIDTH_MBS = 250.0


@dataclass(frozen=True)
class Settings:
    """The emulated volume, published with every figure."""

    latency_ms: float = DEFAULT_LATENCY_MS
    bandwidth_mbs: float = DEFAULT_BANDWIDTH_MBS  # MB = 10**6 bytes
    kernel_cache: bool = True

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["source"] = "guess (no published RunPod network-volume figures found); see bench/slowfs.py"
        return d


class Link:
    """One shared link: each request waits its latency, then queues for `bandwidth` bytes/s."""

    def __init__(self, latency_s: float, bandwidth_bps: float) -> None:
        self.latency_s = latency_s
        self.bandwidth_bps = bandwidth_bps
        self._free_at = 0.0
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes = 0
        self.sizes: dict[int, int] = {}

    def transfer(self, size: int) -> None:
        now = time.monotonic()
        with self._lock:
            start = max(now + self.latency_s, self._free_at)
            done = start + (size / self.bandwidth_bps if self.bandwidth_bps > 0 else 0.0)
            self._free_at = done
            self.requests += 1
            self.bytes += size
            bucket = 1 << max(size - 1, 1).bit_length()  # size rounded up to a power of two
            self.sizes[bucket] = self.sizes.get(bucket, 0) + 1
        delay = done - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": self.requests, "bytes": self.bytes,
                    "sizes": {str(k): v for k, v in sorted(self.sizes.items())}}


def make_operations(source: str, link: Link, kernel_cache: bool) -> Any:
    """The passthrough: getattr, readdir, open (read-only), read (latency, link, pread), release."""
    import mfusepy as fuse

    root = os.path.realpath(source)

    class SlowFS(fuse.Operations):  # type: ignore[misc]
        use_ns = True

        def _full(self, path: str) -> str:
            return os.path.join(root, path.lstrip("/"))

        def init_with_config(self, conn_info: Any, config_3: Any) -> None:
            if config_3 is not None:
                config_3.kernel_cache = 1 if kernel_cache else 0
                config_3.attr_timeout = 60.0
                config_3.entry_timeout = 60.0

        def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
            try:
                st = os.lstat(self._full(path))
            except OSError as e:
                raise fuse.FuseOSError(e.errno) from None
            keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime_ns", "st_mtime_ns", "st_ctime_ns")
            out = {k.replace("_ns", ""): getattr(st, k) for k in keys}
            out["st_mode"] &= ~0o222  # read-only
            return out

        def readdir(self, path: str, fh: Any) -> list[str]:
            return [".", "..", *os.listdir(self._full(path))]

        def readlink(self, path: str) -> str:
            return os.readlink(self._full(path))

        def open(self, path: str, flags: int) -> int:
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_TRUNC):
                raise fuse.FuseOSError(errno.EROFS)
            return os.open(self._full(path), os.O_RDONLY)

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            link.transfer(size)
            return os.pread(fh, size, offset)

        def release(self, path: str, fh: int) -> int:
            os.close(fh)
            return 0

        def statfs(self, path: str) -> dict[str, Any]:
            sv = os.statvfs(self._full(path))
            return {k: getattr(sv, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree",
                                                "f_files", "f_flag", "f_frsize", "f_namemax")}

    return SlowFS()


def serve(source: str, mountpoint: str, settings: Settings, stats_path: str | None) -> None:
    """Mount in the foreground until unmounted (fusermount3 -u MOUNTPOINT)."""
    import mfusepy as fuse

    link = Link(settings.latency_ms / 1000.0, settings.bandwidth_mbs * 1e6)
    if stats_path:
        def dump() -> None:
            last: dict[str, Any] = {}
            while True:
                s = link.stats()
                if s != last:
                    tmp = stats_path + ".tmp"
                    Path(tmp).write_text(json.dumps(s))
                    os.replace(tmp, stats_path)
                    last = s
                time.sleep(0.2)

        threading.Thread(target=dump, daemon=True).start()
    fuse.FUSE(make_operations(source, link, settings.kernel_cache), mountpoint, foreground=True, ro=True,
              fsname="wan22-slowfs", default_permissions=True)


# ---------------------------------------------------------------- helpers for benchmarks and tests

def fuse_problem() -> str | None:
    """Why a mount cannot work here, or None."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is missing (apt-get install -y fuse3 libfuse3-3)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as e:
        return f"mfusepy cannot load libfuse3 ({e}); pip install -r requirements-dev.txt"
    return None


def ensure_fuse(say: Any = print) -> str | None:
    """Install fuse3 with apt-get when it is missing and we are root; the remaining problem or None."""
    why = fuse_problem()
    if why and "fusermount3" in why and os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing fuse3 (apt-get install -y fuse3 libfuse3-3)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        rc = subprocess.call(["apt-get", "install", "-y", "-q", "fuse3", "libfuse3-3"], env=env,
                             stdout=subprocess.DEVNULL)
        if rc:
            subprocess.call(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
            subprocess.call(["apt-get", "install", "-y", "-q", "fuse3", "libfuse3-3"], env=env,
                            stdout=subprocess.DEVNULL)
        why = fuse_problem()
    return why


def drop_caches() -> bool:
    """Drop the page cache (FUSE files and their source files alike). False when not allowed."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def unmount(mountpoint: str) -> None:
    subprocess.call(["fusermount3", "-u", "-z", mountpoint], stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def mounted(source: str | os.PathLike[str], mountpoint: str | os.PathLike[str], settings: Settings = Settings(),
            stats_path: str | None = None, log_path: str | None = None) -> Iterator[str]:
    """Mount SOURCE read-only at MOUNTPOINT in a child process; always unmounts."""
    mnt = str(mountpoint)
    os.makedirs(mnt, exist_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "mount", str(source), mnt,
           "--latency-ms", str(settings.latency_ms), "--bandwidth-mbs", str(settings.bandwidth_mbs)]
    if not settings.kernel_cache:
        cmd.append("--no-kernel-cache")
    if stats_path:
        cmd += ["--stats", stats_path]
    log = open(log_path or os.devnull, "wb")  # closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not os.path.ismount(mnt):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"slowfs did not mount {mnt} (exit {proc.poll()}); see {log_path or 'its log'}")
            time.sleep(0.05)
        yield mnt
    finally:
        unmount(mnt)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def read_stats(stats_path: str) -> dict[str, Any]:
    try:
        return dict(json.loads(Path(stats_path).read_text()))
    except (OSError, ValueError):
        return {"requests": 0, "bytes": 0, "sizes": {}}


# ---------------------------------------------------------------- probe: the known effect

def probe(source: str, settings: Settings, size_mb: int = 256) -> dict[str, Any]:
    """MB/s on the mount, page cache dropped before each: large sequential reads, the same file
    copied out of an mmap (how safetensors is read), and random page-sized touches of an mmap."""
    import mmap
    import random
    import tempfile

    src = Path(tempfile.mkdtemp(prefix="slowfs-probe-", dir=source))
    f = src / "probe.bin"
    chunk = os.urandom(1 << 20)
    with open(f, "wb") as out:
        for _ in range(size_mb):
            out.write(chunk)
    n = size_mb << 20
    res: dict[str, Any] = {"settings": settings.as_dict(), "file_mb": size_mb}
    mnt = tempfile.mkdtemp(prefix="slowfs-mnt-")
    try:
        with mounted(source, mnt, settings):
            path = os.path.join(mnt, src.name, f.name)
            for name, fn in (("sequential_16MB_reads", _seq), ("mmap_sequential_copy", _mmap_copy),
                             ("mmap_random_4KB_touches", _mmap_random)):
                drop_caches()
                t = time.perf_counter()
                done = fn(path, n, mmap, random)
                res[name + "_MBps"] = round(done / (time.perf_counter() - t) / 1e6, 1)
    finally:
        shutil.rmtree(src, ignore_errors=True)
        os.rmdir(mnt)
    return res


def _seq(path: str, n: int, _mmap: Any, _random: Any) -> int:
    with open(path, "rb", buffering=0) as fh:
        while fh.read(16 << 20):
            pass
    return n


def _mmap_copy(path: str, n: int, mmap: Any, _random: Any) -> int:
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
        for off in range(0, n, 4 << 20):
            bytes(m[off: off + (4 << 20)])
    return n


def _mmap_random(path: str, n: int, mmap: Any, random: Any) -> int:
    touches = 1500
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
        rnd = random.Random(0)
        for _ in range(touches):
            off = rnd.randrange(0, n // 4096) * 4096
            m[off]
    return touches * 4096


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("mount", "probe"):
        p = sub.add_parser(name)
        p.add_argument("source")
        if name == "mount":
            p.add_argument("mountpoint")
            p.add_argument("--stats", help="keep this JSON file updated with request counts and sizes")
        p.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY_MS)
        p.add_argument("--bandwidth-mbs", type=float, default=DEFAULT_BANDWIDTH_MBS)
        p.add_argument("--no-kernel-cache", action="store_true", help="drop the page cache on every open")
    a = ap.parse_args(argv)
    settings = Settings(a.latency_ms, a.bandwidth_mbs, not a.no_kernel_cache)
    why = fuse_problem()
    if why:
        print(f"slowfs: {why}", file=sys.stderr)
        return 2
    if a.cmd == "mount":
        serve(a.source, a.mountpoint, settings, a.stats)
        return 0
    print(json.dumps(probe(a.source, settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
