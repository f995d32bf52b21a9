"""ComfyUI's Wan 2.2 templates in the real frontend (headless chromium, the comfy tier's server):

- every template's `app.graphToPrompt()` equals our UI -> API conversion with the server's own
  /object_info, and the snapshots the unit tier compares with (tests/fixtures/templates_api/);
- the sidebar's "Check this workflow" on an official template with files missing on the volume
  shows the route's report and marks exactly the nodes at fault, inside subgraphs too.

One driver run (drive_templates.mjs); screenshots in tests/browser/artifacts/check_workflow_*.png.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from browser_support import DRIVER_TIMEOUT, HERE, REPO, BrowserRun, Frontend, chromium_path

from wan22.graph.convert import ui_to_api
from wan22.graph.templates import WAN22_TEMPLATES, load_template, templates_available

SERVER_STATE_INPUTS = {"video-preview"}  # sent once the preview loaded the server's input video
MISSING_TEMPLATE = "video_wan2_2_14B_fun_camera"  # its Fun Camera experts are not on the demo volume
SUBGRAPH_CASE = "i2v_missing_high_expert"  # the I2V template with its subgraph's high expert renamed


def subgraph_case() -> dict[str, Any]:
    """The official I2V template, its high-noise model (a promoted widget of the subgraph) set to a
    file the volume does not have."""
    wf = copy.deepcopy(load_template("video_wan2_2_14B_i2v"))
    inst = next(n for n in wf["nodes"] if n["type"] == wf["definitions"]["subgraphs"][0]["id"])
    i = inst["widgets_values"].index("wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors")
    inst["widgets_values"][i] = "wan2.2_i2v_high_noise_14B_fp16.safetensors"
    return wf


@pytest.fixture(scope="session")
def template_run(request: pytest.FixtureRequest, browser_frontend: Frontend, tmp_path_factory: pytest.TempPathFactory) -> BrowserRun:
    # The templates package the running ComfyUI pins (the venv's): whichever frontend is served, the
    # server's /object_info is 0.33's, and a newer templates package uses nodes it lacks.
    why = templates_available()
    if why:
        pytest.skip(why)
    server: Any = request.getfixturevalue("browser_server")
    art = browser_frontend.artifacts
    work = tmp_path_factory.mktemp("browser_templates")
    spec = {"url": server.url + "/", "chromium": chromium_path(), "artifacts": str(art), "results": str(work / "results.json"),
            "templates": [{"name": n, "workflow": load_template(n)} for n in WAN22_TEMPLATES],
            "checks": [{"name": MISSING_TEMPLATE, "workflow": load_template(MISSING_TEMPLATE)},
                       {"name": SUBGRAPH_CASE, "workflow": subgraph_case()}]}
    (work / "input.json").write_text(json.dumps(spec))
    t0 = time.time()
    proc = subprocess.run(["node", str(HERE / "drive_templates.mjs"), str(work / "input.json")], cwd=str(HERE),
                          capture_output=True, text=True, timeout=DRIVER_TIMEOUT, env=dict(os.environ, NODE_NO_WARNINGS="1"))
    log = proc.stdout + proc.stderr
    (art / "drive_templates.log").write_text(log)
    try:
        results = json.loads((work / "results.json").read_text())
    except (OSError, ValueError):
        raise RuntimeError(f"the template driver wrote no results (exit {proc.returncode}):\n{log[-4000:]}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"the template driver failed (exit {proc.returncode}):\n{log[-4000:]}")
    return BrowserRun(results=results, input=spec, server=server, log=log, seconds=time.time() - t0, frontend=browser_frontend)


def comparable(prompt: dict[str, Any]) -> dict[str, Any]:
    """The prompt without the inputs only the frontend sends and with `_meta` cut to its title: newer
    frontends add more to `_meta` (1.58: the node pack's `cnr_id` and `ver`), which the server ignores."""
    out = {}
    for k, v in prompt.items():
        node = {**v, "inputs": {i: x for i, x in v["inputs"].items() if i not in SERVER_STATE_INPUTS}}
        if "_meta" in v:
            node["_meta"] = {m: x for m, x in v["_meta"].items() if m == "title"}
        out[k] = node
    return out


@pytest.mark.parametrize("name", WAN22_TEMPLATES)
def test_graph_to_prompt_equals_our_conversion(template_run: BrowserRun, name: str) -> None:
    got = template_run.phase("templates")["templates"][name]
    assert got["ok"], got.get("error")
    frontend = comparable(got["output"])
    live = template_run.server.get("/object_info")
    assert comparable(ui_to_api(load_template(name), live)) == frontend
    snapshot = json.loads((REPO / "tests" / "fixtures" / "templates_api" / f"{name}.json").read_text())
    assert comparable(snapshot) == frontend, "the frontend changed: python tools/gen_template_fixtures.py --graph-to-prompt"


def route_report(server: Any, wf: dict[str, Any]) -> dict[str, Any]:
    status, body = server.request("POST", "/wan22/inventory/workflow", wf, timeout=120)
    assert status == 200, body
    return dict(body)


def test_check_this_workflow_on_a_template_with_files_missing(template_run: BrowserRun) -> None:
    res = template_run.phase("check")["checks"][MISSING_TEMPLATE]
    shown = res["shown"]
    report = route_report(template_run.server, load_template(MISSING_TEMPLATE))
    assert res["requests"] == 1
    assert shown["state"] == "done" and shown["ready"] == "false"
    missing = {"wan2.2_fun_camera_high_noise_14B_fp8_scaled.safetensors", "wan2.2_fun_camera_low_noise_14B_fp8_scaled.safetensors"}
    assert {b["name"] for b in shown["blocking"]} == missing and {b["status"] for b in shown["blocking"]} == {"missing"}
    assert {f["name"]: f["status"] for f in shown["files"]} == {f["name"]: f["status"] for f in report["files"]}
    for f in report["files"]:
        row = next(r for r in shown["files"] if r["name"] == f["name"])
        assert row["hint"].split() == f["hint"].split()
    assert shown["nodes"] == report["nodes_at_fault"] == ["92", "95"]
    assert sorted((m["id"], m["type"]) for m in shown["marked"]) == [("92", "UNETLoader"), ("95", "UNETLoader")]
    assert all(m["bgcolor"] == "#533" for m in shown["marked"])
    assert Path(template_run.results["screenshots"][f"check_workflow_{MISSING_TEMPLATE}"]).stat().st_size > 5000


def test_check_marks_the_node_inside_the_subgraph_and_the_subgraph_node(template_run: BrowserRun) -> None:
    res = template_run.phase("check")["checks"][SUBGRAPH_CASE]
    shown = res["shown"]
    assert shown["ready"] == "false"
    assert shown["blocking"] == [{"name": "wan2.2_i2v_high_noise_14B_fp16.safetensors", "status": "missing"}]
    assert shown["nodes"] == ["129:95"]
    # the previous check's marks are gone; the subgraph node on the canvas and the loader inside it are marked
    assert sorted((m["id"], m["type"]) for m in shown["marked"]) == [
        ("129", load_template("video_wan2_2_14B_i2v")["definitions"]["subgraphs"][0]["id"]), ("129:95", "UNETLoader")]


def test_no_console_error_from_our_files(template_run: BrowserRun) -> None:
    ours = [c for c in template_run.results["console"] if c["type"] == "error" and "wan22" in (c["text"] + c["url"]).lower()]
    assert not ours and not template_run.results["pageErrors"], json.dumps(ours + template_run.results["pageErrors"])[:3000]
