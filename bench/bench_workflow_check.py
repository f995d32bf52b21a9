"""How long judging a workflow takes: in-process (the reader + the check, headers read the first
time, then cached as ComfyUI's route keeps them) and as a CLI process
(`python -m wan22 inventory --root DIR --workflow FILE --json`), per workflow file.

Usage: python bench/bench_workflow_check.py --root DIR [--runs 5] FILE.json...
Targets (issue 20): < 100 ms per workflow in-process with headers cached, < 1 s for the CLI.
The last output line is one JSON object: per file {cold_ms, warm_ms (median), cli_s (median)}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def in_process(root: str, path: str, runs: int) -> tuple[float, float]:
    from wan22.graph.reader import read_workflow_file, workflow_refs
    from wan22.volume.roots import resolve
    from wan22.volume.workflow_check import check_workflows

    times = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        check_workflows(resolve(roots=[root]), {path: workflow_refs(read_workflow_file(path))}, cache=True)
        times.append((time.perf_counter() - t0) * 1000)
    return times[0], statistics.median(times[1:])


def cli(root: str, path: str, runs: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COMFYUI_PATH": os.devnull}
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "wan22", "inventory", "--root", root, "--workflow", path, "--json"],
                       cwd=REPO, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args(argv)
    out = {}
    for f in a.files:
        cold, warm = in_process(a.root, f, a.runs)
        c = cli(a.root, f, a.runs)
        out[os.path.basename(f)] = {"cold_ms": round(cold, 1), "warm_ms": round(warm, 1), "cli_s": round(c, 3)}
        print(f"{os.path.basename(f)[:60]:60s} cold {cold:7.1f} ms  warm {warm:6.1f} ms  cli {c:5.2f} s", flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
