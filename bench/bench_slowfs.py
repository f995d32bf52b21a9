"""Throughput on the emulated network volume (bench/slowfs.py, FUSE): one sequential stream, the
prefetcher's four streams, and page-sized random reads (what mmap page faults cost), on a fresh
mount of three 48 MB files at 2 ms and 250 MB/s.

Checks the two ratios the cold-start bench relies on: four streams beat one by more than 1.5x,
and page-sized reads are more than 5x slower than one stream. Prints the figures as JSON (with
the 1-minute load average) and writes bench/results/slowfs.json.

    python bench/bench_slowfs.py [--runs 3]

Needs /dev/fuse, fuse3 and mfusepy (requirements-dev.txt); says SKIPPED and exits 1 without them.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository, for wan22 and bench
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import slowfs
from wan22.prefetch import engine as pf

MB = 1 << 20
SIZE = 48 * MB
FOUR_OVER_ONE = 1.5  # four prefetch streams beat one sequential stream by more than this
ONE_OVER_PAGES = 5.0  # one sequential stream beats page-sized random reads by more than this


def _mbps(nbytes: int, seconds: float) -> float:
    return nbytes / 1e6 / seconds


def one_run(work: Path, touches: int = 300) -> dict[str, float]:
    """MB/s of one stream, four prefetch streams and page-sized reads, each on a file nothing has read yet."""
    src = work / "src"
    src.mkdir()
    chunk = os.urandom(MB)
    for name in ("a.bin", "b.bin", "c.bin"):
        with open(src / name, "wb") as f:
            for _ in range(SIZE // MB):
                f.write(chunk)
    with slowfs.mounted(src, work / "mnt", slowfs.Settings(2.0, 250.0), stats_path=str(work / "stats.json"),
                        log_path=str(work / "slowfs.log")) as mnt:
        t = time.perf_counter()
        with open(Path(mnt) / "a.bin", "rb", buffering=0) as f:
            while f.read(16 * MB):
                pass
        one_stream = _mbps(SIZE, time.perf_counter() - t)
        report = pf.prefetch_files([str(Path(mnt) / "b.bin")], streams=4)
        if report.files[0].status != "read" or report.read_bytes != SIZE:
            raise RuntimeError(f"the prefetcher did not read b.bin: {report.files[0]}")
        four_streams = _mbps(report.read_bytes, report.seconds)
        rnd = random.Random(1)
        with open(Path(mnt) / "c.bin", "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            t = time.perf_counter()
            for _ in range(touches):
                m[rnd.randrange(0, SIZE // 4096) * 4096]
            page_faults = _mbps(touches * 4096, time.perf_counter() - t)
    return {"one_stream_mbs": round(one_stream, 1), "four_streams_mbs": round(four_streams, 1),
            "page_faults_mbs": round(page_faults, 2), "load_avg_1m": os.getloadavg()[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    why = slowfs.fuse_problem()
    if why:
        print(f"SKIPPED: no FUSE here: {why}")
        return 1
    rows = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="wan22-bench-slowfs-") as tmp:
            rows.append(one_run(Path(tmp)))
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    out = {"runs": rows, "median": med, "four_over_one": round(med["four_streams_mbs"] / med["one_stream_mbs"], 2),
           "one_over_pages": round(med["one_stream_mbs"] / med["page_faults_mbs"], 1)}
    out["ok"] = out["four_over_one"] > FOUR_OVER_ONE and out["one_over_pages"] > ONE_OVER_PAGES
    print(json.dumps(out, indent=1))
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "slowfs.json").write_text(json.dumps(out, indent=1) + "\n")
    if not out["ok"]:
        print(f"FAILED: want four streams > {FOUR_OVER_ONE}x one stream and one stream > {ONE_OVER_PAGES}x page-sized reads")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
