"""Browser tier: the pack's js/ in headless Debian chromium (npm playwright-core, pinned in
tests/browser/package-lock.json) against the real `main.py --cpu` server of the comfy tier.

One driver run (drive.mjs, one browser session, about a minute) observes everything; the tests in
this folder assert on its results. Screenshots, the driver's log and its results land in
tests/browser/artifacts/. Without chromium, node or node_modules every test of the tier is skipped
with one reason; tools/setup_browser.sh installs them (make test runs it).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    ARTIFACTS,
    DRIVER,
    DRIVER_TIMEOUT,
    HERE,
    PLAN_CASES,
    QUEUE_SIZE,
    BrowserRun,
    browser_missing,
    chromium_path,
    describe,
    example_inputs,
    nothing_ready,
    queue_example,
)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [describe()]


@pytest.fixture(scope="session")
def browser_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> BrowserRun:
    why = browser_missing()
    if why:
        pytest.skip(why)  # before the server starts: a skipped tier costs nothing
    comfy_server: Any = request.getfixturevalue("comfy_server")
    from wan22.demo.demo_volume import DATASET_NEGATIVE, DATASET_POSITIVE
    from wan22.demo.server import PACK_DIR_NAME

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    example_inputs(comfy_server.base / "input")
    work = tmp_path_factory.mktemp("browser")
    qname = queue_example()
    real_te = os.environ.get("WAN22_BROWSER_REAL_TEXT_ENCODER") == "1"
    spec = {
        "url": comfy_server.url + "/",
        "chromium": chromium_path(),
        "artifacts": str(ARTIFACTS),
        "results": str(work / "results.json"),
        "pack": PACK_DIR_NAME,
        "node_ids": sorted(k for k, v in comfy_server.get("/object_info").items()
                           if v.get("python_module") == f"custom_nodes.{PACK_DIR_NAME}"),
        "plan_cases": [{"id": cid, "widgets": w, "screenshot": shot} for cid, w, _, shot in PLAN_CASES],
        "nothing_ready_report": nothing_ready(comfy_server.get("/wan22/inventory")),
        "queue": None if qname is None else {
            "name": qname, "swap_conditioning": not real_te, "size": QUEUE_SIZE,
            "datasets": {"positive": DATASET_POSITIVE, "negative": DATASET_NEGATIVE},
            "timeout_ms": (600 if real_te else 240) * 1000,
        },
    }
    spec_path = work / "input.json"
    spec_path.write_text(json.dumps(spec))
    t0 = time.time()
    proc = subprocess.run(["node", str(DRIVER), str(spec_path)], cwd=str(HERE), capture_output=True, text=True,
                          timeout=DRIVER_TIMEOUT, env=dict(os.environ, NODE_NO_WARNINGS="1"))
    seconds = time.time() - t0
    log = proc.stdout + proc.stderr
    (ARTIFACTS / "drive.log").write_text(log)
    try:
        results = json.loads(Path(spec["results"]).read_text())
    except (OSError, ValueError):
        raise RuntimeError(f"the browser driver wrote no results (exit {proc.returncode}):\n{log[-4000:]}") from None
    (ARTIFACTS / "results.json").write_text(json.dumps(results, indent=1))
    if proc.returncode != 0:
        raise RuntimeError(f"the browser driver failed (exit {proc.returncode}):\n{log[-4000:]}")
    return BrowserRun(results=results, input=spec, server=comfy_server, log=log, seconds=seconds)
