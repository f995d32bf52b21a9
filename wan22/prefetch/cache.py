"""The optional local copy cache of the prefetcher: WAN22_LOCAL_CACHE=DIR (e.g. a serverless
worker's container disk) keeps a copy of each model file the prefetcher reads from the volume,
so a later cold load reads the local disk instead of the network.

Layout: DIR/<folder key>/<file name> (what ComfyUI's folder_paths finds when DIR/<folder key> is
registered ahead of the volume) plus DIR/<folder key>/<file name>.wan22key, the key of the
volume file it copies: size, mtime and the sha256 of its safetensors header. A copy whose key no
longer matches the volume file is removed before it can be used (`validate`). Writes are atomic
(a temporary name, then rename; the key file last), the total size is capped (least recently
used copies go first; WAN22_LOCAL_CACHE_MAX_GB, default 80% of the disk's free space when the cache
is opened), and nothing is ever written to the volume.

Off by default (decision, with the figures it rests on): on bench/bench_cold_start.py's emulated
volume (FUSE, 2 ms per request, 250 MB/s; VAE + both experts in the real 14B layout at 1 of 40
blocks, 1425 MB; page cache dropped before each run; `--quick`, 2 cores shared with other jobs),
ComfyUI's own load_torch_file of the three files, in two runs (load average 7-8, then 3.5-4.7):
natively 8.5 / 7.7 s, with the prefetcher 7.0 / 6.3 s (ratio 0.825 / 0.822), on the run that also
writes the copies 10.2 / 7.5 s (1.199 / 0.981: no gain on that first cold start), then from the
copies on the local disk 3.8 / 2.9 s (0.443 / 0.379). End to end (POST -> saved video, 2 runs,
load 2.3-4.5): the runs from the copies 1.180x native with ComfyUI's default mmap loading (noise
dominates: CPU work is most of a run here) and 0.603x with --disable-mmap. So it pays only where
the same local disk sees another cold start (a pod, or a serverless worker whose container disk
outlives a ComfyUI restart) and that disk is faster than the volume; a fresh serverless worker
(empty container disk) only gets the first run, which it does not speed up. Turn it on there,
after measuring: `python bench/bench_cold_start.py --extra ours_cache` (end to end; the loader-only
figures come with every run).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_DIR = "WAN22_LOCAL_CACHE"
ENV_MAX_GB = "WAN22_LOCAL_CACHE_MAX_GB"
KEY_SUFFIX = ".wan22key"
HEADER_LIMIT = 100 << 20


def file_key(path: str) -> dict[str, Any] | None:
    """size, mtime_ns and the header's sha256 of a safetensors file (None when unreadable)."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            raw = f.read(8)
            n = struct.unpack("<Q", raw)[0] if len(raw) == 8 else 0
            head = raw + f.read(min(n, HEADER_LIMIT))
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "header_sha256": hashlib.sha256(head).hexdigest()}


class Writer:
    """Receives the chunks the prefetcher read; becomes the cached copy on finish(ok=True)."""

    def __init__(self, cache: LocalCache, final: Path, key: dict[str, Any], size: int) -> None:
        self.cache, self.final, self.key, self.size = cache, final, key, size
        self.tmp = final.with_name(f".{final.name}.part-{os.getpid()}-{threading.get_ident()}")
        final.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.ftruncate(self.fd, size)
        self.written = 0
        self._lock = threading.Lock()

    def write(self, offset: int, data: memoryview) -> None:
        os.pwrite(self.fd, data, offset)
        with self._lock:
            self.written += len(data)

    def finish(self, ok: bool) -> None:
        os.close(self.fd)
        if ok and self.written == self.size:
            os.replace(self.tmp, self.final)
            _write_json(self.final.with_name(self.final.name + KEY_SUFFIX), self.key)
            self.cache.enforce_cap()
        else:
            self.tmp.unlink(missing_ok=True)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


class LocalCache:
    """Copies of volume files under `root`, keyed by the volume file's size, mtime and header."""

    def __init__(self, root: str | os.PathLike[str], max_bytes: int | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        if max_bytes is None:
            max_bytes = int(shutil.disk_usage(self.root).free * 0.8) + self.used_bytes()
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalCache | None:
        env = os.environ if env is None else env
        root = env.get(ENV_DIR, "").strip()
        if not root:
            return None
        gb = env.get(ENV_MAX_GB, "").strip()
        return cls(root, int(float(gb) * 1e9) if gb else None)

    def copy_path(self, folder: str, name: str) -> Path:
        return self.root / folder / name

    def lookup(self, folder: str, name: str, volume_path: str) -> str | None:
        """The local copy of `volume_path` when it is complete and still matches; else None."""
        copy = self.copy_path(folder, name)
        try:
            stored = json.loads(copy.with_name(copy.name + KEY_SUFFIX).read_text())
        except (OSError, ValueError):
            return None
        if not copy.is_file() or stored != file_key(volume_path):
            return None
        os.utime(copy.with_name(copy.name + KEY_SUFFIX))  # recently used
        return str(copy)

    def validate(self, folder: str, name: str, volume_path: str) -> bool:
        """Remove a copy that no longer matches the volume file; True when a valid copy remains."""
        if self.lookup(folder, name, volume_path):
            return True
        self.remove(folder, name)
        return False

    def remove(self, folder: str, name: str) -> None:
        copy = self.copy_path(folder, name)
        copy.with_name(copy.name + KEY_SUFFIX).unlink(missing_ok=True)  # the key first: the copy is then unusable
        copy.unlink(missing_ok=True)

    def writer_for(self, folder: str, name: str, volume_path: str, size: int) -> Writer | None:
        """A Writer for a new copy, or None (too big for the cap, or unreadable)."""
        key = file_key(volume_path)
        if key is None or size > self.max_bytes or key["size"] != size:
            return None
        self.remove(folder, name)
        self.enforce_cap(extra=size)
        return Writer(self, self.copy_path(folder, name), key, size)

    def entries(self) -> list[tuple[float, Path]]:
        out = []
        for k in self.root.rglob("*" + KEY_SUFFIX):
            copy = k.with_name(k.name[: -len(KEY_SUFFIX)])
            try:
                out.append((k.stat().st_mtime, copy))
            except OSError:
                continue
        return sorted(out)

    def used_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def enforce_cap(self, extra: int = 0) -> None:
        """Remove least recently used copies until used + extra fits under max_bytes."""
        with self._lock:
            used = self.used_bytes()
            for _t, copy in self.entries():
                if used + extra <= self.max_bytes:
                    break
                size = copy.stat().st_size if copy.exists() else 0
                copy.with_name(copy.name + KEY_SUFFIX).unlink(missing_ok=True)
                copy.unlink(missing_ok=True)
                used -= size


class CacheSink:
    """The `cache` a PrefetchJob takes: maps each volume path to its (folder, name) copy."""

    def __init__(self, cache: LocalCache, names: Mapping[str, tuple[str, str]]) -> None:
        self.cache = cache
        self.names = dict(names)
        self.started = time.monotonic()

    def writer(self, path: str, _fd: int, size: int) -> Writer | None:
        where = self.names.get(path)
        if where is None or self.cache.lookup(where[0], where[1], path):
            return None
        return self.cache.writer_for(where[0], where[1], path, size)
