"""Run every CPU benchmark (`make bench`): inventory, S2V audio prep, nodes against the native
template graph, cold start on an emulated network volume (--quick; needs root and FUSE, installs
fuse3 with apt-get when missing, else says SKIPPED and fails). Each prints measured figures; results JSON lands in bench/results/.
The GPU benchmark (bench/gpu_bench.py) needs a CUDA machine and runs separately."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    ("volume inventory", ["bench_inventory.py"]),
    ("S2V audio prep", ["bench_audio.py"]),
    ("nodes vs native template graph", ["bench_nodes.py", "--runs", "15"]),
    ("emulated network volume: one stream, prefetch streams, page-sized reads", ["bench_slowfs.py"]),
    ("cold start on an emulated network volume", ["bench_cold_start.py", "--quick"]),
    ("RunPod worker path vs direct submit", ["bench_worker.py", "--pairs", "10"]),
]


def main() -> int:
    failed = []
    for title, cmd in SCRIPTS:
        print(f"\n===== {title}: python bench/{' '.join(cmd)}", flush=True)
        t = time.time()
        rc = subprocess.call([sys.executable, str(HERE / cmd[0]), *cmd[1:]])
        print(f"===== {title}: exit {rc}, {time.time() - t:.0f} s", flush=True)
        if rc:
            failed.append(title)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
