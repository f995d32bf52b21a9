"""Fixtures that several unit-tier files share (those every tier uses are in tests/conftest.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from wan22.demo.demo_volume import make_demo_volume
from wan22.volume.report import preset_roles


@pytest.fixture(scope="session")
def i2v_fast_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The i2v_fast workflow's six files as demo-volume stand-ins (<root>/<folder key>/<name>),
    made once. Read only: a test that changes files copies them first."""
    root = tmp_path_factory.mktemp("i2v_fast_files") / "models"
    make_demo_volume(str(root), roles=preset_roles("i2v_fast"))
    return root


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs mounted under tmp_path: another filesystem, and one too small for a workflow's
    files. Skipped where mounting is not allowed (it needs root)."""
    d = tmp_path / "small_tmpfs"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(d)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {r.stderr.strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)
