"""Browser tier: the pack's js/ in headless Debian chromium (npm playwright-core, pinned in
tests/browser/package-lock.json) against the real `main.py --cpu` server of the comfy tier.

One driver run (drive.mjs, one browser session, about a minute) observes everything; the tests in
this folder assert on its results. Screenshots, the driver's log and its results land in
tests/browser/artifacts/ (artifacts/frontend-<version>/ for the newest frontend). Without chromium,
node or node_modules every test of the tier is skipped with one reason; tools/setup_browser.sh
installs them (make test runs it).

Every test runs once per frontend (the `frontend` fixture: the pinned one, served by the comfy
tier's server, and the newest published one, on a second server started with --front-end-root);
WAN22_FRONTENDS=pinned|latest picks one (make test-browser-latest).
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
    DRIVER,
    DRIVER_TIMEOUT,
    FRONTEND_LATEST,
    HERE,
    PLAN_CASES,
    QUEUE_SIZE,
    BrowserRun,
    Frontend,
    browser_missing,
    chromium_path,
    describe,
    example_inputs,
    frontend,
    frontends_wanted,
    nothing_ready,
    pinned_frontend_version,
    queue_example,
)


def _frontend_id(name: str) -> str:
    return f"fe{pinned_frontend_version() if name == 'pinned' else FRONTEND_LATEST}"


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [describe()]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "frontend_name" in metafunc.fixturenames:
        names = frontends_wanted()
        metafunc.parametrize("frontend_name", names, ids=[_frontend_id(n) for n in names], scope="session")


@pytest.fixture(scope="session")
def browser_frontend(frontend_name: str) -> Frontend:
    why = browser_missing()
    if why:
        pytest.skip(why)  # before any server starts: a skipped tier costs nothing
    fe = frontend(frontend_name)
    fe.artifacts.mkdir(parents=True, exist_ok=True)
    for old in fe.artifacts.glob("*.png"):  # once per frontend, before any of the tier's drivers
        old.unlink()
    return fe


@pytest.fixture(scope="session")
def browser_server(request: pytest.FixtureRequest, browser_frontend: Frontend,
                   tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The comfy tier's server for the pinned frontend; for another, a server of its own on the same
    volumes with --front-end-root (stopped when the tier moves on)."""
    if browser_frontend.root is None:
        yield request.getfixturevalue("comfy_server")
        return
    from support.harness import Server, free_port, make_base, start_image, write_yaml

    demo_volume = request.getfixturevalue("demo_volume")
    damaged_volume = request.getfixturevalue("damaged_volume")
    request.getfixturevalue("volume_guard")  # the volumes are hashed before and after, as for the comfy tier
    base = make_base(tmp_path_factory.mktemp(f"comfy_base_fe{browser_frontend.version}"))
    yaml_path = write_yaml(base / "extra_model_paths.yaml", demo_volume, extra={"wan22_damaged": damaged_volume})
    start_image(base / "input" / "wan22_start.png")
    server = Server(comfyui=request.getfixturevalue("comfyui_path"), base=base, yaml=yaml_path, port=free_port(),
                    log_path=base / "server.log", extra_args=browser_frontend.args)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser_run(browser_frontend: Frontend, browser_server: Any, tmp_path_factory: pytest.TempPathFactory) -> BrowserRun:
    comfy_server = browser_server
    from wan22.demo.demo_volume import DATASET_NEGATIVE, DATASET_POSITIVE
    from wan22.demo.server import PACK_DIR_NAME

    art = browser_frontend.artifacts
    example_inputs(comfy_server.base / "input")
    work = tmp_path_factory.mktemp("browser")
    qname = queue_example()
    real_te = os.environ.get("WAN22_BROWSER_REAL_TEXT_ENCODER") == "1"
    spec = {
        "url": comfy_server.url + "/",
        "chromium": chromium_path(),
        "artifacts": str(art),
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
    (art / "drive.log").write_text(log)
    try:
        results = json.loads(Path(spec["results"]).read_text())
    except (OSError, ValueError):
        raise RuntimeError(f"the browser driver wrote no results (exit {proc.returncode}):\n{log[-4000:]}") from None
    (art / "results.json").write_text(json.dumps(results, indent=1))
    if proc.returncode != 0:
        raise RuntimeError(f"the browser driver failed (exit {proc.returncode}):\n{log[-4000:]}")
    return BrowserRun(results=results, input=spec, server=comfy_server, log=log, seconds=seconds, frontend=browser_frontend)
