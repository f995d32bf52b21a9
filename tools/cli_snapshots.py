"""Write (or check) snapshots of every CLI surface: `--help` of the program and of each
subcommand, and the `--json` output of the commands that print one, with machine paths
replaced by placeholders. The snapshots in tests/fixtures/cli/ were taken from the code
before `wan22/` was split into wings (fetch, worker and run, and the plans of later preset rows:
when they were added);
tests/unit/test_cli_snapshots.py compares against them.

    python tools/cli_snapshots.py write DIR      # snapshots of the code on sys.path
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SUBCOMMANDS = ("inventory", "plan", "audio-prep", "submit", "demo-volume", "sparse-volume", "demo", "fetch", "worker", "run")
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from wan22.plan.presets import PRESET_TABLE  # noqa: E402

# `plan --json` of every preset row (a new preset gets its snapshot by running `write`).
PLAN_CASES = tuple((p.mode, p.preset) for p in PRESET_TABLE)


def run(repo: Path, args: list[str], env_extra: dict[str, str] | None = None) -> tuple[int, str]:
    env = {**os.environ, "COLUMNS": "100", "PYTHONPATH": str(repo), **(env_extra or {})}
    p = subprocess.run([sys.executable, "-m", "wan22", *args], cwd=repo, env=env, capture_output=True, text=True,
                       timeout=300)
    return p.returncode, p.stdout


def help_cases() -> dict[str, list[str]]:
    cases = {"help": ["--help"]}
    for s in SUBCOMMANDS:
        cases[f"help_{s}"] = [s, "--help"]
    return cases


def json_cases(volume: str) -> dict[str, list[str]]:
    cases = {f"plan_{m}_{p}": ["plan", "--mode", m, "--preset", p, "--json"] for m, p in PLAN_CASES}
    cases["plan_i2v_quality_steps40"] = ["plan", "--mode", "i2v", "--preset", "quality", "--steps", "40", "--json"]
    cases["inventory_demo"] = ["inventory", "--root", volume, "--json"]
    cases["inventory_demo_i2v_fast_strict"] = ["inventory", "--root", volume, "--workflow", "i2v_fast", "--strict",
                                               "--json"]
    return cases


def normalise(text: str, volume: str) -> str:
    return text.replace(volume, "<VOLUME>")


def collect(repo: Path, volume: str, with_json: bool = True) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, args in help_cases().items():
        rc, text = run(repo, args)
        out[name] = f"rc={rc}\n{text}"
    if with_json:
        for name, args in json_cases(volume).items():
            rc, text = run(repo, args, {"COMFYUI_PATH": os.devnull, "HOME": os.devnull})
            out[name] = f"rc={rc}\n" + json.dumps(json.loads(normalise(text, volume)), indent=1, sort_keys=True)
    return out


def make_volume(repo: Path, dest: str) -> None:
    rc, _ = run(repo, ["demo-volume", dest, "--json"])
    if rc != 0:
        raise SystemExit(f"demo-volume {dest} failed (rc {rc})")


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] != "write":
        print(__doc__)
        return 2
    repo = REPO
    dest = Path(argv[2])
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        volume = os.path.join(tmp, "volume")
        make_volume(repo, volume)
        for name, text in collect(repo, volume).items():
            (dest / f"{name}.txt").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
