"""The router's plan preview under both node renderers: the classic canvas and Nodes 2.0 (the
frontend's `Comfy.VueNodes.Enabled`, which App Builder mode turns on for good). One driver run
(drive_preview.mjs) per frontend; what it records is what the page shows where the router is.

Under each renderer the preview shows the plan the CLI prints for the router's values, and keeps
showing it when the values change without the widget's callback: after undo (Ctrl+Z) and redo,
after a workflow is loaded over the graph, after another extension assigns a value. The element of
a removed router leaves the page, and the node has no blank space under the preview.
Screenshots: tests/browser/artifacts/preview_<renderer>*.png.
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
    DRIVER_TIMEOUT,
    HERE,
    PLAN_CASES,
    BrowserRun,
    Frontend,
    _check_shown,
    _cli_args,
    _ours,
    chromium_path,
    cli_plan,
)

RENDERERS = ["classic", "nodes2"]
# The space Nodes 2.0 keeps under the last widget for the node's badges and its "advanced inputs"
# footer, and the classic canvas's bottom margin: anything above this is blank space.
BELOW_PREVIEW_MAX = {"classic": 40.0, "nodes2": 80.0}


@pytest.fixture(scope="session")
def preview_run(request: pytest.FixtureRequest, browser_frontend: Frontend, tmp_path_factory: pytest.TempPathFactory) -> BrowserRun:
    server: Any = request.getfixturevalue("browser_server")
    art = browser_frontend.artifacts
    work = tmp_path_factory.mktemp("browser_preview")
    spec = {"url": server.url + "/", "chromium": chromium_path(), "artifacts": str(art), "results": str(work / "results.json"),
            "renderers": RENDERERS,
            "plan_cases": [{"id": cid, "widgets": w, "screenshot": shot} for cid, w, _, shot in PLAN_CASES]}
    (work / "input.json").write_text(json.dumps(spec))
    t0 = time.time()
    proc = subprocess.run(["node", str(HERE / "drive_preview.mjs"), str(work / "input.json")], cwd=str(HERE),
                          capture_output=True, text=True, timeout=DRIVER_TIMEOUT, env=dict(os.environ, NODE_NO_WARNINGS="1"))
    log = proc.stdout + proc.stderr
    (art / "drive_preview.log").write_text(log)
    try:
        results = json.loads((work / "results.json").read_text())
    except (OSError, ValueError):
        raise RuntimeError(f"the preview driver wrote no results (exit {proc.returncode}):\n{log[-4000:]}") from None
    (art / "preview_results.json").write_text(json.dumps(results, indent=1))
    if proc.returncode != 0:
        raise RuntimeError(f"the preview driver failed (exit {proc.returncode}):\n{log[-4000:]}")
    return BrowserRun(results=results, input=spec, server=server, log=log, seconds=time.time() - t0, frontend=browser_frontend)


def _plan_of(values: dict[str, Any]) -> dict[str, Any]:
    extra: list[str] = []
    if values.get("relight") is False:
        extra.append("--no-relight")
    rc, plan = cli_plan(_cli_args(values, extra))
    assert rc == 0, plan
    return dict(plan)


def _assert_shows(shown: dict[str, Any], want: dict[str, Any]) -> None:
    """Exactly one preview on the page, the router's own, showing the plan of `want` (its values)."""
    values = shown["values"]
    assert {k: values[k] for k in want} == want, f"the router's values are {values}, expected {want}"
    previews = shown["previews"]
    stale = [p["head"] for p in previews if not p["own"]]
    assert not stale, f"a removed node's preview is still on the page, showing {stale}"
    assert len(previews) == 1, f"{len(previews)} previews on the page"
    assert shown["settled"], f"the preview did not follow: it shows {previews[0]['head']!r} ({previews[0]['state']})"
    pv = previews[0]
    assert pv["state"] == "ready", pv["error"]
    _check_shown(pv, _plan_of(values))


def _phase(run: BrowserRun, renderer: str, name: str) -> dict[str, Any]:
    return run.phase(f"{renderer}:{name}")


def test_the_frontend_under_test_is_served(preview_run: BrowserRun) -> None:
    fe = preview_run.frontend
    assert fe is not None and preview_run.results["frontend_version"] == fe.version


@pytest.mark.parametrize("renderer", RENDERERS)
def test_preview_shows_the_plan_on_load(preview_run: BrowserRun, renderer: str) -> None:
    ph = _phase(preview_run, renderer, "load")
    assert ph["vue_nodes_mode"] is (renderer == "nodes2")
    if renderer == "nodes2":
        assert ph["shown"]["previews"][0]["in_vue_node"] == ph["shown"]["node_id"], "not rendered by Nodes 2.0"
    _assert_shows(ph["shown"], {"mode": "i2v", "preset": "fast"})


@pytest.mark.parametrize("case_id,widgets", [(c[0], c[1]) for c in PLAN_CASES], ids=[c[0] for c in PLAN_CASES])
def test_nodes2_preview_is_the_plan_the_cli_prints(preview_run: BrowserRun, case_id: str, widgets: dict[str, Any]) -> None:
    """Every plan case of the classic canvas's tests (test_frontend.py), under Nodes 2.0."""
    case = next(c for c in _phase(preview_run, "nodes2", "cases")["cases"] if c["id"] == case_id)
    shown = case["shown"]
    extra = next(c[2] for c in PLAN_CASES if c[0] == case_id)
    rc, plan = cli_plan(_cli_args(widgets, extra))
    assert len(shown["previews"]) == 1 and shown["previews"][0]["own"] and shown["settled"], shown["previews"]
    pv = shown["previews"][0]
    if rc != 0:
        assert pv["state"] == "error" and pv["error"].split() == plan.removeprefix("error: ").split()
        assert not pv["chart"]["visible"]
        return
    assert pv["state"] == "ready", pv["error"]
    _check_shown(pv, plan)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_preview_follows_undo_and_redo(preview_run: BrowserRun, renderer: str) -> None:
    """The mode changed with the mouse, then Ctrl+Z puts the old value back (in a new node object
    with the same id): the page shows the old plan, and after Ctrl+Y the new one again. The router
    was saved smaller than its preview, so the preview grows it after the load and after the undo:
    that growth is layout, not an edit, and must leave the redo queue alone."""
    edit = _phase(preview_run, renderer, "edit")
    assert edit["reached"], "the mouse did not change the mode"
    _assert_shows(edit["shown"], {"mode": "t2v", "preset": "fast"})
    hist = edit["history"]
    assert hist["edited"]["undo"] == [*hist["loaded"]["undo"], "i2v"], f"the edit is not one undo step (the preview's growth is not an edit): {hist}"
    undo = _phase(preview_run, renderer, "undo")
    assert undo["reached"], f"Ctrl+Z did not restore the router's values (the frontend's undo): {undo['history']}"
    _assert_shows(undo["shown"], {"mode": "i2v", "preset": "fast"})
    assert undo["history"]["after"]["redo"] == ["t2v"], f"the preview's refit after Ctrl+Z became an undo step: {undo['history']}"
    redo = _phase(preview_run, renderer, "redo")
    assert redo["reached"], f"Ctrl+Y did not restore the router's values (the frontend's redo): {redo['history']}"
    _assert_shows(redo["shown"], {"mode": "t2v", "preset": "fast"})


@pytest.mark.parametrize("renderer", RENDERERS)
def test_preview_follows_a_value_set_without_callback(preview_run: BrowserRun, renderer: str) -> None:
    _assert_shows(_phase(preview_run, renderer, "silent")["shown"], {"mode": "s2v", "preset": "fast"})


@pytest.mark.parametrize("renderer", RENDERERS)
def test_preview_follows_a_workflow_loaded_over_the_graph(preview_run: BrowserRun, renderer: str) -> None:
    _assert_shows(_phase(preview_run, renderer, "reload")["shown"], {"mode": "animate", "preset": "quality", "relight": False})


@pytest.mark.parametrize("renderer", RENDERERS)
def test_a_removed_routers_preview_leaves_the_page(preview_run: BrowserRun, renderer: str) -> None:
    shown = _phase(preview_run, renderer, "remove")["shown"]
    assert shown["node_id"] is None
    assert shown["previews"] == [], [p["head"] for p in shown["previews"]]


@pytest.mark.parametrize("renderer", RENDERERS)
def test_no_blank_space_under_the_preview(preview_run: BrowserRun, renderer: str) -> None:
    layout = _phase(preview_run, renderer, "layout")["layout"]
    assert layout["renderer"] == renderer
    assert layout["spare_in_preview"] < 12, f"{layout['spare_in_preview']:.0f} px of empty preview: {layout}"
    assert layout["below_preview"] < BELOW_PREVIEW_MAX[renderer], f"{layout['below_preview']:.0f} px under the preview: {layout}"


@pytest.mark.parametrize("renderer", RENDERERS)
def test_preview_screenshots_were_saved(preview_run: BrowserRun, renderer: str) -> None:
    shots = preview_run.results["screenshots"]
    for name in (f"preview_{renderer}", f"preview_{renderer}_undo", f"preview_{renderer}_layout"):
        assert name in shots, sorted(shots)
        p = Path(shots[name])
        assert p.is_file() and p.stat().st_size > 5000, p


def test_no_console_error_from_our_files(preview_run: BrowserRun) -> None:
    ours = [c for c in preview_run.results["console"] if c["type"] == "error" and _ours(c)
            and not ("status of 400" in c["text"] and "cfg=3.5" in c["url"])]  # the refused case's answer
    assert not ours and not preview_run.results["pageErrors"], json.dumps(ours + preview_run.results["pageErrors"])[:3000]
