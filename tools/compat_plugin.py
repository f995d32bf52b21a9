"""pytest plugin that tools/compat.py loads (`-p compat_plugin`) only for a ComfyUI older than
the `datasets` model folder (added in 0.30.0): there core `LoadTrainingDataset`, which the comfy
tier uses for precomputed text conditioning, reads `<output directory>/<folder_name>` instead.
After the session's `comfy_server` starts, each demo-volume dataset is symlinked into that
server's own output folder (a temporary base directory), so the same prompts run unchanged.
The pack does not use LoadTrainingDataset; this adapts the test harness, not the pack.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> Generator[None, Any, None]:
    outcome = yield
    if fixturedef.argname != "comfy_server" or outcome.excinfo is not None:
        return
    server = outcome.get_result()
    datasets = Path(request.getfixturevalue("demo_volume")) / "datasets"
    output = Path(server.base) / "output"
    output.mkdir(parents=True, exist_ok=True)
    for d in sorted(datasets.iterdir()) if datasets.is_dir() else []:
        link = output / d.name
        if not link.exists():
            link.symlink_to(d, target_is_directory=d.is_dir())
