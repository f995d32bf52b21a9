"""The CLI surface is a contract: `--help` of the program and of every subcommand, and every
`--json` output, equal the snapshots in tests/fixtures/cli/, which were taken from the code
before wan22/ was split into wings (tools/cli_snapshots.py wrote them). JSON objects may gain
keys (the inventory report carries its status vocabulary now); no key may change or vanish."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from support.snapshots import _contains

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "cli"
_spec = importlib.util.spec_from_file_location("cli_snapshots", REPO / "tools" / "cli_snapshots.py")
assert _spec and _spec.loader
snap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(snap)


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = str(tmp_path_factory.mktemp("cli") / "volume")
    snap.make_volume(REPO, d)
    return d


@pytest.mark.parametrize("name", sorted(snap.help_cases()))
def test_help_text_unchanged(name: str) -> None:
    rc, text = snap.run(REPO, snap.help_cases()[name])
    assert f"rc={rc}\n{text}" == (FIXTURES / f"{name}.txt").read_text(), f"`python -m wan22 {' '.join(snap.help_cases()[name])}` changed"


@pytest.mark.parametrize("name", sorted(snap.json_cases("VOLUME")))
def test_json_output_unchanged(name: str, volume: str) -> None:
    args = snap.json_cases(volume)[name]
    rc, text = snap.run(REPO, args, {"COMFYUI_PATH": os.devnull, "HOME": os.devnull})
    want_rc, want = (FIXTURES / f"{name}.txt").read_text().split("\n", 1)
    assert f"rc={rc}" == want_rc
    diffs = _contains(json.loads(want), json.loads(snap.normalise(text, volume)), "$")
    assert not diffs, f"`python -m wan22 {' '.join(args)}` changed:\n" + "\n".join(diffs[:20])
