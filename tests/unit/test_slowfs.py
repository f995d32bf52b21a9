"""bench/slowfs.py, the emulated network volume: its link model (no FUSE needed), and on a real
FUSE mount (skipped without /dev/fuse, fuse3 and mfusepy): read-only, and what the prefetcher read
is then served from the page cache. Throughput (one stream, the prefetcher's streams, page-sized
reads) is a figure of bench/bench_slowfs.py, not a test."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import slowfs
from wan22.prefetch import engine as pf

MB = 1 << 20


def test_link_adds_latency_per_request_and_caps_bandwidth() -> None:
    link = slowfs.Link(latency_s=0.01, bandwidth_bps=100e6)
    t = time.monotonic()
    link.transfer(4096)
    assert 0.009 <= time.monotonic() - t < 0.2  # one round trip
    t = time.monotonic()
    threads = [threading.Thread(target=link.transfer, args=(10 * MB,)) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.monotonic() - t
    assert took >= 4 * 10 * MB / 100e6 * 0.95  # 42 MB through a 100 MB/s link: at least 0.4 s
    s = link.stats()
    assert s["requests"] == 5 and s["bytes"] == 4096 + 40 * MB
    assert s["sizes"] == {"4096": 1, str(16 * MB): 4}


def test_latencies_overlap_for_concurrent_requests() -> None:
    link = slowfs.Link(latency_s=0.05, bandwidth_bps=0)
    t = time.monotonic()
    threads = [threading.Thread(target=link.transfer, args=(4096,)) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert time.monotonic() - t < 8 * 0.05 * 0.6  # not serialised


def test_settings_are_published_with_their_source() -> None:
    d = slowfs.Settings().as_dict()
    assert d["latency_ms"] == slowfs.DEFAULT_LATENCY_MS and d["bandwidth_mbs"] == slowfs.DEFAULT_BANDWIDTH_MBS
    assert "guess" in d["source"]


# ---------------------------------------------------------------- on a real mount

@pytest.fixture()
def mount(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    why = slowfs.fuse_problem()
    if why:
        pytest.skip(f"no FUSE here: {why}")
    src = tmp_path / "src"
    src.mkdir()
    chunk = os.urandom(MB)
    for name in ("a.bin", "b.bin", "c.bin"):
        with open(src / name, "wb") as f:
            for _ in range(48):
                f.write(chunk)
    stats = str(tmp_path / "stats.json")
    with slowfs.mounted(src, tmp_path / "mnt", slowfs.Settings(2.0, 250.0), stats_path=stats,
                        log_path=str(tmp_path / "slowfs.log")) as mnt:
        yield src, Path(mnt), stats  # a fresh mount: nothing of it is in the page cache yet


def _mbps(nbytes: int, seconds: float) -> float:
    return nbytes / 1e6 / seconds


def test_mount_is_read_only_and_served_with_latency(mount: tuple[Path, Path, str]) -> None:
    src, mnt, stats = mount
    with pytest.raises(OSError):
        open(mnt / "a.bin", "r+b")
    with pytest.raises(OSError):
        (mnt / "new.bin").write_bytes(b"x")
    assert sorted(os.listdir(mnt)) == ["a.bin", "b.bin", "c.bin"]
    assert (mnt / "a.bin").stat().st_size == 48 * MB
    assert sorted(os.listdir(src)) == ["a.bin", "b.bin", "c.bin"]


def test_a_prefetched_file_is_then_served_from_the_page_cache(mount: tuple[Path, Path, str]) -> None:
    """What the prefetcher does on the mount; its throughput against one stream and page-sized
    reads is a figure of bench/bench_slowfs.py, not a test."""
    _src, mnt, stats = mount
    report = pf.prefetch_files([str(mnt / "b.bin")], streams=4)
    assert report.files[0].status == "read" and report.read_bytes == 48 * MB
    # the prefetched file is now served from the page cache: reading it again asks the volume for
    # almost nothing, where a file the prefetcher did not read costs every request (the kernel may
    # drop a few pages under memory pressure, so 'almost': at most a tenth)
    before = _settled_requests(stats)
    (mnt / "b.bin").read_bytes()
    prefetched = _settled_requests(stats) - before
    (mnt / "c.bin").read_bytes()
    cold = _settled_requests(stats) - before - prefetched
    assert cold >= 48 * MB // (1 << 20) and prefetched <= cold // 10, (prefetched, cold)


def _settled_requests(stats: str, timeout: float = 30.0) -> int:
    """The mount's request count once it stops changing (slowfs writes its stats every 0.2 s; on a
    loaded machine that thread can lag, so one fixed sleep could read a stale count)."""
    deadline = time.monotonic() + timeout
    last, same = slowfs.read_stats(stats)["requests"], 0
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = slowfs.read_stats(stats)["requests"]
        same = same + 1 if now == last else 0
        if same == 3:  # unchanged for 1.5 s: one equal pair was not enough with other tests on the cores
            return int(now)
        last = now
    raise AssertionError(f"the mount's request count kept changing for {timeout:g} s")


def _rows(video: list[float], rss: int = 1000) -> list[dict[str, float]]:
    return [{"video_s": v, "first_step_s": v / 2, "rss_peak_mb": rss, "load_avg_1m": 1.0} for v in video]


def test_bench_summary_ratios_floor_disable_mmap_and_local_cache_blocks() -> None:
    """bench_cold_start's arithmetic on given rows: medians, ratios ours / native, the floor
    (native warm / native cold), the disable_mmap block and the local cache's first and later runs."""
    from bench import bench_cold_start as bc

    def mode(native_cold: list[float], ours_cold: list[float], cache: bool) -> dict[str, list[dict[str, float]]]:
        r = {"native_cold": _rows(native_cold), "ours_cold": _rows(ours_cold, 1050),
             "native_warm": _rows([40.0, 41.0, 39.0]), "ours_warm": _rows([40.0, 42.0, 40.0], 1100)}
        if cache:
            r.update(ours_cache_cold=_rows([45.0, 44.0, 46.0]), ours_cache_filling=_rows([60.0]))
        return r

    results = {"default": mode([50.0, 60.0, 55.0], [44.0, 45.0, 90.0], True), "disable-mmap": mode([80.0, 70.0, 75.0], [60.0, 61.0, 59.0], False)}
    summary = {m: bc.summarize(results, m) for m in results}
    d = summary["default"]
    assert (d["native_cold_s"], d["ours_cold_s"], d["cold_ratio"]) == (55.0, 45.0, round(45 / 55, 3))
    assert d["warm_ratio"] == round(40 / 40, 3) and d["ram_ratio"] == 1.1
    assert d["cold_ratio_floor"] == round(40 / 55, 3)
    assert d["ours_cache_cold_ratio"] == round(45 / 55, 3) and d["ours_cache_filling_ratio"] == round(60 / 55, 3)
    out = bc.headline(summary, ["default", "disable-mmap"])
    assert out["cold_ratio"] == d["cold_ratio"] and out["loading"] == "default"
    assert out["disable_mmap"]["cold_ratio"] == round(60 / 75, 3)
    assert out["disable_mmap"]["native_vs_default_native_cold"] == round(75 / 55, 3)
    lc = out["local_cache"]["default"]
    assert (lc["first_cold_copying_s"], lc["cold_from_local_disk_s"], lc["native_cold_s"]) == (60.0, 45.0, 55.0)
    assert "disable-mmap" not in out["local_cache"]
