"""Issue 16 on the user's own volume: the real-size sparse copy of the inventory in the setup
document (real headers, holes for the data), read by the CLI the user runs. First-last-frame and
fast_motion run on files the user already has; TI2V 5B and Animate 2 need downloads, and the
report names each missing file, its folder and where to get it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from wan22.catalog import BY_ROLE
from wan22.plan.presets import preset_for_workflow

REPO = Path(__file__).resolve().parents[2]
READY = ("flf2v", "flf2v_fast", "i2v_fast_motion")
NOT_READY = ("ti2v", "animate2", "animate2_distilled", "t2v_fast_motion")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wan22", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_new_modes_on_the_users_real_size_volume(tmp_path: Path) -> None:
    vol = tmp_path / "models"
    made = _cli("sparse-volume", str(vol))
    assert made.returncode == 0, made.stderr
    args = ["inventory", "--root", str(vol), "--json"]
    for w in READY + NOT_READY:
        args += ["--workflow", w]
    out = _cli(*args)
    assert out.returncode == 1, out.stderr  # some requested workflows are not ready
    report = json.loads(out.stdout)
    flows = report["workflows"]
    for w in READY:
        assert flows[w]["ready"], (w, flows[w]["blocking"])
    files = {f["role"]: f for f in report["files"]}
    for w in NOT_READY:
        assert not flows[w]["ready"], w
        blocking = {b["role"] for b in flows[w]["blocking"]}
        needed = set(preset_for_workflow(w).required_roles)
        assert blocking and blocking <= needed, (w, blocking)
        for role in blocking:
            entry = files[role]
            assert entry["status"] == "missing" and entry["name"] == BY_ROLE[role].name, entry
            assert entry["folder"] == BY_ROLE[role].folder
            assert BY_ROLE[role].url.startswith("https://")
    assert {"ti2v5b", "vae22"} <= {b["role"] for b in flows["ti2v"]["blocking"]}
    # the text report (no --json) tells the user how to fill the gap
    text = _cli("inventory", "--root", str(vol), "--workflow", "ti2v")
    assert text.returncode == 1 and BY_ROLE["ti2v5b"].name in text.stdout + text.stderr
