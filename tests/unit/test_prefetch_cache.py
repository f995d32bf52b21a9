"""The prefetcher's optional local copy cache (WAN22_LOCAL_CACHE): copies are exact, keyed by the
volume file's size, mtime and header, atomic, size-capped, and the volume is never written."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

from wan22.prefetch import engine as pf
from wan22.prefetch.cache import KEY_SUFFIX, CacheSink, LocalCache, file_key

MB = 1 << 20


def _safetensors(path: Path, data_bytes: int, tag: str = "a") -> Path:
    """A small valid-looking safetensors file: header + data."""
    head = json.dumps({"__metadata__": {"tag": tag}, "t": {"dtype": "U8", "shape": [data_bytes],
                                                           "data_offsets": [0, data_bytes]}}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(head)) + head + hashlib.sha256(tag.encode()).digest() * (data_bytes // 32))
    return path


def _copy_through_prefetch(cache: LocalCache, vol_file: Path, folder: str = "diffusion_models", **kw: object) -> pf.PrefetchReport:
    sink = CacheSink(cache, {str(vol_file): (folder, vol_file.name)})
    return pf.prefetch_files([str(vol_file)], chunk_bytes=MB, cache=sink, **kw)  # type: ignore[arg-type]


def test_prefetch_makes_an_exact_copy_and_never_writes_the_volume(tmp_path: Path) -> None:
    src = _safetensors(tmp_path / "vol" / "diffusion_models" / "m.safetensors", 5 * MB)
    before = (hashlib.sha256(src.read_bytes()).hexdigest(), src.stat().st_mtime_ns, sorted(os.listdir(src.parent)))
    cache = LocalCache(tmp_path / "cache", max_bytes=100 * MB)
    report = _copy_through_prefetch(cache, src)
    assert report.files[0].status == "read"
    copy = cache.lookup("diffusion_models", "m.safetensors", str(src))
    assert copy == str(tmp_path / "cache" / "diffusion_models" / "m.safetensors")
    assert Path(copy).read_bytes() == src.read_bytes()
    assert (hashlib.sha256(src.read_bytes()).hexdigest(), src.stat().st_mtime_ns, sorted(os.listdir(src.parent))) == before
    assert not [p for p in (tmp_path / "cache").rglob(".*part*")]  # no temporary left


def test_a_changed_volume_file_invalidates_its_copy(tmp_path: Path) -> None:
    src = _safetensors(tmp_path / "vol" / "m.safetensors", 2 * MB, "v1")
    cache = LocalCache(tmp_path / "cache", max_bytes=100 * MB)
    _copy_through_prefetch(cache, src)
    assert cache.validate("diffusion_models", "m.safetensors", str(src))
    _safetensors(src, 2 * MB, "v2")  # same size, new header and data
    assert file_key(str(src)) is not None
    assert cache.lookup("diffusion_models", "m.safetensors", str(src)) is None
    assert not cache.validate("diffusion_models", "m.safetensors", str(src))
    assert not (tmp_path / "cache" / "diffusion_models" / "m.safetensors").exists()  # removed before use


def test_the_cap_evicts_the_least_recently_used_copy(tmp_path: Path) -> None:
    a = _safetensors(tmp_path / "vol" / "a.safetensors", 6 * MB, "a")
    b = _safetensors(tmp_path / "vol" / "b.safetensors", 6 * MB, "b")
    cache = LocalCache(tmp_path / "cache", max_bytes=10 * MB)
    _copy_through_prefetch(cache, a)
    _copy_through_prefetch(cache, b)
    assert cache.lookup("diffusion_models", "a.safetensors", str(a)) is None
    assert cache.lookup("diffusion_models", "b.safetensors", str(b))
    assert cache.used_bytes() <= 10 * MB


def test_a_file_bigger_than_the_cap_is_not_copied(tmp_path: Path) -> None:
    big = _safetensors(tmp_path / "vol" / "big.safetensors", 8 * MB)
    cache = LocalCache(tmp_path / "cache", max_bytes=4 * MB)
    report = _copy_through_prefetch(cache, big)
    assert report.files[0].status in ("read", "cached")  # still prefetched
    assert cache.lookup("diffusion_models", "big.safetensors", str(big)) is None


def test_a_cancelled_copy_leaves_nothing_behind(tmp_path: Path) -> None:
    src = _safetensors(tmp_path / "vol" / "m.safetensors", 8 * MB)
    cache = LocalCache(tmp_path / "cache", max_bytes=100 * MB)
    report = _copy_through_prefetch(cache, src, streams=1, progress=lambda job, _f, _n: job.cancel())
    assert report.stopped == "cancelled"
    assert cache.lookup("diffusion_models", "m.safetensors", str(src)) is None
    assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def test_from_env(tmp_path: Path) -> None:
    assert LocalCache.from_env({}) is None
    c = LocalCache.from_env({"WAN22_LOCAL_CACHE": str(tmp_path / "c"), "WAN22_LOCAL_CACHE_MAX_GB": "1.5"})
    assert c is not None and c.max_bytes == 1_500_000_000 and c.root.is_dir()
    d = LocalCache.from_env({"WAN22_LOCAL_CACHE": str(tmp_path / "d")})
    assert d is not None and d.max_bytes > 0


def test_key_file_is_written_after_the_copy(tmp_path: Path) -> None:
    src = _safetensors(tmp_path / "vol" / "m.safetensors", MB)
    cache = LocalCache(tmp_path / "cache", max_bytes=100 * MB)
    _copy_through_prefetch(cache, src)
    key = json.loads((tmp_path / "cache" / "diffusion_models" / ("m.safetensors" + KEY_SUFFIX)).read_text())
    assert key == file_key(str(src)) and key["size"] == src.stat().st_size
