"""Benchmark: the volume inventory on the user's full inventory at real sizes, against a naive
full-file hash check. Prints figures; asserts nothing.

    python bench/bench_inventory.py [--dir DIR] [--runs 15] [--hash-gb 2] [--keep]

1. Builds the user's inventory (the 13 files of their volume, wan22.demo_volume.USER_VOLUME) as
   sparse files with real 14B headers at real sizes (~74 GB apparent, a few MB on disk).
2. Cold: the page cache is dropped (echo 3 > /proc/sys/vm/drop_caches when permitted, else
   posix_fadvise(DONTNEED) on every file, which evicts their cached pages), then a fresh Python
   process runs the inventory; both the inventory's own wall time and the whole
   `python -m wan22 inventory` command are timed.
3. Warm: the median of N runs in this process (page cache warm, no header cache), and the median
   with the in-process header cache the ComfyUI node and route use.
4. Naive: writes a real (non-sparse, random data) ~2 GB subset (the VAE, CLIP vision and wav2vec2
   files at their real sizes), evicts it from the cache, and times sha256 of the whole files
   (and blake3 when installed) in the same run; the ratio compares that with the inventory.
Everything is written under a temporary folder that is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wan22.demo.demo_volume import USER_VOLUME, make_sparse_volume, sparse_tensors_for  # noqa: E402
from wan22.volume.inventory import run_inventory  # noqa: E402
from wan22.volume.roots import resolve  # noqa: E402
from wan22.volume.safetensors_header import build_header  # noqa: E402
from wan22.volume.verify import blake3_available, hash_range  # noqa: E402

SUBSET_ROLES = ("vae", "clip_vision", "audio_encoder")  # ~2.2 GB at real sizes
CHILD = """
import json, sys, time
t0 = time.perf_counter()
from wan22.volume.inventory import run_inventory  # noqa: E402
from wan22.volume.roots import resolve
t1 = time.perf_counter()
c1 = time.process_time()
r = run_inventory(resolve(roots=[sys.argv[1]]), cache=False)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "inventory_s": t2 - t1, "cpu_s": time.process_time() - c1,
                  "statuses": sorted({f.status for f in r.files})}))
"""


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def drop_caches(root: Path) -> str:
    """Evict the volume from the page cache; says how."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return "dropped the page cache (echo 3 > /proc/sys/vm/drop_caches)"
    except OSError as e:
        why = e.strerror or str(e)
    n = 0
    for p in files_under(root):
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            n += 1
        finally:
            os.close(fd)
    return (f"could not drop caches ({why}); evicted the {n} files' pages with posix_fadvise(DONTNEED) "
            "instead (directory entries may stay cached)")


def write_real_subset(root: Path, target_bytes: int) -> list[Path]:
    """Real files (random data, no holes) with real headers at real sizes, about target_bytes."""
    import numpy as np

    from wan22.catalog import BY_ROLE

    rng = np.random.default_rng(22)
    written: list[Path] = []
    total = 0
    chunk = 64 * 1024 * 1024
    for role in SUBSET_ROLES:
        if total >= target_bytes:
            break
        e = BY_ROLE[role]
        head, data = build_header(sparse_tensors_for(role))
        p = root / e.folder / e.name
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "wb") as f:
            f.write(head)
            left = data
            while left > 0:
                n = min(chunk, left)
                f.write(rng.bytes(n))
                left -= n
            f.flush()
            os.fsync(f.fileno())
        written.append(p)
        total += len(head) + data
    return written


def time_hash(paths: list[Path], algo: str) -> float:
    t = time.perf_counter()
    for p in paths:
        hash_range(str(p), 0, None, algo)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", help="where to make the temporary folder (default: the system temp dir)")
    ap.add_argument("--runs", type=int, default=15, help="warm runs (median)")
    ap.add_argument("--hash-gb", type=float, default=2.0, help="size of the real-data subset for the naive hash")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="wan22_bench_inv_", dir=a.dir))
    try:
        out(f"machine: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
            f"Python {sys.version.split()[0]}")
        vol = tmp / "volume"
        t = time.perf_counter()
        info = make_sparse_volume(str(vol))
        apparent = int(str(info["apparent_bytes"]))
        on_disk = sum(p.stat().st_blocks * 512 for p in files_under(vol))
        headers = sum(len(build_header(sparse_tensors_for(s.role))[0]) for s in USER_VOLUME)
        out(f"sparse volume: {len(USER_VOLUME)} files, {apparent / 1e9:.1f} GB apparent ({apparent:,} bytes), "
            f"{on_disk / 1e6:.1f} MB on disk, {headers / 1e6:.2f} MB of headers; built in {time.perf_counter() - t:.1f} s")

        # cold: fresh process, page cache dropped
        how = drop_caches(vol)
        out(f"cold cache: {how}")
        env = dict(os.environ, PYTHONPATH=str(REPO))
        t = time.perf_counter()
        child = subprocess.run([sys.executable, "-c", CHILD, str(vol)], env=env, capture_output=True, text=True,
                               check=True)
        cold_proc = time.perf_counter() - t
        cold = json.loads(child.stdout)
        drop_caches(vol)
        t = time.perf_counter()
        cli = subprocess.run([sys.executable, "-m", "wan22", "inventory", "--root", str(vol), "--json"], cwd=REPO,
                             env=env, capture_output=True, text=True)
        cold_cli = time.perf_counter() - t
        out(f"cold inventory (fresh process): {cold['inventory_s'] * 1e3:.1f} ms wall, {cold['cpu_s'] * 1e3:.1f} ms CPU "
            f"(imports {cold['import_s'] * 1e3:.0f} ms, whole child process {cold_proc * 1e3:.0f} ms); statuses {cold['statuses']}")
        out(f"cold `python -m wan22 inventory --root ... --json`: {cold_cli * 1e3:.0f} ms end to end, exit {cli.returncode} "
            "(1: the user's volume lacks the T2V files)")

        # warm
        cfg = resolve(roots=[str(vol)])
        warm = []
        warm_cpu = []
        for _ in range(a.runs):
            t, c = time.perf_counter(), time.process_time()
            run_inventory(cfg, cache=False)
            warm.append(time.perf_counter() - t)
            warm_cpu.append(time.process_time() - c)
        cached = []
        run_inventory(cfg, cache=True)
        for _ in range(a.runs):
            t = time.perf_counter()
            run_inventory(cfg, cache=True)
            cached.append(time.perf_counter() - t)
        w = statistics.median(warm)
        out(f"warm inventory: median {w * 1e3:.1f} ms wall of {a.runs} (min {min(warm) * 1e3:.1f}, max {max(warm) * 1e3:.1f}), "
            f"median {statistics.median(warm_cpu) * 1e3:.1f} ms CPU; "
            f"with the in-process header cache (node/route): median {statistics.median(cached) * 1e3:.1f} ms")

        # naive: sha256 of whole files on a real-data subset
        sub = tmp / "subset"
        t = time.perf_counter()
        paths = write_real_subset(sub, int(a.hash_gb * 1e9))
        sub_bytes = sum(p.stat().st_size for p in paths)
        out(f"real-data subset: {len(paths)} files, {sub_bytes / 1e9:.2f} GB of random data, written in "
            f"{time.perf_counter() - t:.1f} s")
        drop_caches(sub)
        naive = time_hash(paths, "sha256")
        rate = sub_bytes / naive
        out(f"naive full-file sha256, cold: {naive:.2f} s for {sub_bytes / 1e9:.2f} GB ({rate / 1e6:.0f} MB/s); "
            f"at that rate the whole {apparent / 1e9:.0f} GB volume would take about {apparent / rate:.0f} s")
        if blake3_available():
            drop_caches(sub)
            b3 = time_hash(paths, "blake3")
            out(f"full-file blake3 (what --verify uses when installed), cold: {b3:.2f} s ({sub_bytes / b3 / 1e6:.0f} MB/s)")
        drop_caches(sub)
        t = time.perf_counter()
        run_inventory(resolve(roots=[str(sub)]), cache=False)
        sub_inv = time.perf_counter() - t
        out(f"inventory of the same subset, cold: {sub_inv * 1e3:.1f} ms")
        out()
        out(f"ratio: naive sha256 of {sub_bytes / 1e9:.1f} GB / cold inventory of the whole {apparent / 1e9:.0f} GB volume = "
            f"{naive / cold['inventory_s']:,.0f}x; / warm = {naive / w:,.0f}x; "
            f"same subset, hash / inventory = {naive / sub_inv:,.0f}x")
        target = "met" if max(cold["inventory_s"], w) < 0.1 else "NOT met in wall time on this machine at this load"
        out(f"target < 100 ms for the whole volume: {target} (cold {cold['inventory_s'] * 1e3:.0f} ms, warm {w * 1e3:.0f} ms "
            f"wall; CPU {cold['cpu_s'] * 1e3:.0f} / {statistics.median(warm_cpu) * 1e3:.0f} ms; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    finally:
        if a.keep:
            out(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
