"""The pack's frontend in a real browser, against the real server (one driver run, see conftest.py).

What a user sees: our extensions register without console errors; the sidebar tab shows the
volume's readiness; the router's preview shows the plan the CLI prints for the same settings; the
inventory node shows its report after a run; the help pages are served; every example workflow
loads from the template route and converts to its API twin; the fast I2V example runs from the
browser. Screenshots: tests/browser/artifacts/*.png.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    PLAN_CASES,
    REPO,
    BrowserRun,
    Frontend,
    _check_shown,
    _cli_args,
    _ours,
    cli_plan,
    example_names,
    queue_example,
)

from wan22.graph.widgets import FRONTEND_EXTRA_INPUTS

OUR_EXTENSIONS = {"wan22.inventoryPanel", "wan22.routerPreview", "wan22.inventoryNode"}

# Console errors the stock frontend prints on a fresh user directory (nothing of ours).
FRONTEND_NOISE = [
    re.compile(r"^Failed to load resource: the server responded with a status of 404"),  # url checked below
    re.compile(r"^ComfyApp graph accessed before initialization"),
]
FRONTEND_404_URLS = re.compile(r"/(api/)?userdata(/user\.css|/comfy\.templates\.json|\?dir=)|/user\.css$")


def _allowed_ours(entry: dict[str, Any]) -> bool:
    """Our routes answering as designed: the refused case's 400, the frontend's locale-first help lookup."""
    url = entry.get("url", "")
    if entry["phase"] == "router" and "status of 400" in entry["text"] and "/api/wan22/plan?" in url and "cfg=3.5" in url:
        return True
    return entry["phase"] == "help_panel" and "status of 404" in entry["text"] and re.search(r"/docs/Wan22\w+/\w+\.md$", url) is not None


def _errors(run: BrowserRun) -> list[dict[str, Any]]:
    return [c for c in run.results["console"] if c["type"] == "error"]


# ---------------------------------------------------------------- registration and console


def test_our_extensions_register_and_are_served(browser_run: BrowserRun) -> None:
    boot = browser_run.phase("boot")
    assert OUR_EXTENSIONS <= set(boot["extensions"]), boot["extensions"]
    pack = browser_run.input["pack"]
    want = {f"/extensions/{pack}/{p.relative_to(REPO / 'js').as_posix()}" for p in (REPO / "js").rglob("*.js")}
    assert want <= set(boot["served"]), sorted(want - set(boot["served"]))
    assert set(browser_run.input["node_ids"]) <= set(boot["node_types"])


def test_no_console_error_from_our_files(browser_run: BrowserRun) -> None:
    ours = [e for e in _errors(browser_run) if _ours(e) and not _allowed_ours(e)]
    ours += [e for e in browser_run.results["pageErrors"] if _ours(e) or "/extensions/" in e["text"]]
    assert not ours, json.dumps(ours, indent=1)


def test_no_unexpected_console_error_at_all(browser_run: BrowserRun) -> None:
    """Everything else in the console is the stock frontend's known start-up noise."""
    def known(e: dict[str, Any]) -> bool:
        if _ours(e):
            return _allowed_ours(e)
        if FRONTEND_NOISE[1].search(e["text"]):
            return True
        return bool(FRONTEND_NOISE[0].search(e["text"]) and FRONTEND_404_URLS.search(e.get("url", "")))

    unexpected = [e for e in _errors(browser_run) if not known(e)] + browser_run.results["pageErrors"]
    assert not unexpected, json.dumps(unexpected, indent=1)
    # Hermetic: whatever tried to leave the machine was aborted (listed for the record).
    for a in browser_run.results["aborted"]:
        assert not re.match(r"https?://(127\.0\.0\.1|localhost)[:/]", a["url"])


# ---------------------------------------------------------------- sidebar tab and toast


def _size_ok(text: str, size: int | None) -> bool:
    if size is None:
        return text.strip() == "—"
    m = re.fullmatch(r"([\d.]+) (B|KB|MB|GB|TB)", text.strip())
    if not m:
        return False
    value = float(m.group(1)) * 1000 ** ["B", "KB", "MB", "GB", "TB"].index(m.group(2))
    return bool(abs(value - size) <= 0.05 * size + 1)


def test_sidebar_tab_shows_the_volumes_readiness(browser_run: BrowserRun) -> None:
    side = browser_run.phase("sidebar")
    report = browser_run.server.get("/wan22/inventory")
    for view in (side["first"], side["after_refresh"]):
        assert view["visible"] and not view["error"]
        assert {w["id"]: w["ready"] for w in view["workflows"]} == {k: v["ready"] for k, v in report["workflows"].items()}
        n_ready = sum(v["ready"] for v in report["workflows"].values())
        assert f"{n_ready} of {len(report['workflows'])} workflows ready" in view["summary"]
        shown = {f["name"]: f for f in view["files"]}
        assert set(shown) == {f["name"] for f in report["files"]}
        for f in report["files"]:
            row = shown[f["name"]]
            assert row["status"] == f["status"], f["name"]
            assert _size_ok(row["size"], f["size"]), (f["name"], row["size"], f["size"])
            if f["hint"]:
                assert row["hint"].split() == f["hint"].split(), f["name"]
        stand_ins = {k: len(v["stand_ins"]) for k, v in report["workflows"].items()}
        for w in view["workflows"]:
            if stand_ins[w["id"]]:
                assert f"{stand_ins[w['id']]} stand-in" in w["text"]
        assert [r.split(" (")[0] for r in view["roots"]] == [r["path"] for r in report["roots"]]
    assert side["refresh_requests"] == 1


def test_one_toast_at_startup_only_when_nothing_can_run(browser_run: BrowserRun) -> None:
    boot = browser_run.phase("boot")
    assert not [t for t in boot["toasts"] if "Wan 2.2" in t], "toast although the volume serves workflows"
    toast = browser_run.phase("toast")
    ours = [t for t in toast["toasts"] if "Wan 2.2" in t]
    assert len(ours) == 1, toast["toasts"]
    n = len(browser_run.input["nothing_ready_report"]["workflows"])
    assert "cannot run any workflow" in ours[0] and f"0 of {n} workflows ready" in ours[0]
    assert "sidebar" in ours[0]
    assert toast["inventory_requests"] == 1, "the tab must reuse the start-up report"
    # ... and the sidebar of that page shows every workflow blocked, naming the missing files.
    rep = browser_run.input["nothing_ready_report"]
    assert {w["id"]: w["ready"] for w in toast["blocked"]} == dict.fromkeys(rep["workflows"], False)
    for w in toast["blocked"]:
        for b in rep["workflows"][w["id"]]["blocking"]:
            assert b["name"] in w["text"] and b["hint"] in w["text"]


# ---------------------------------------------------------------- router preview


def _case(run: BrowserRun, case_id: str) -> dict[str, Any]:
    router = run.phase("router")
    found = [c for c in router["cases"] if c["id"] == case_id]
    assert found, f"case {case_id} not driven"
    return dict(found[0]["preview"])


@pytest.mark.parametrize("case_id,widgets,cli_extra", [(c[0], c[1], c[2]) for c in PLAN_CASES if not c[0].startswith("refused")],
                         ids=[c[0] for c in PLAN_CASES if not c[0].startswith("refused")])
def test_router_preview_is_the_plan_the_cli_prints(browser_run: BrowserRun, case_id: str, widgets: dict[str, Any],
                                                   cli_extra: list[str]) -> None:
    pv = _case(browser_run, case_id)
    rc, plan = cli_plan(_cli_args(widgets, cli_extra))
    assert rc == 0, plan
    assert pv["state"] == "ready", pv["error"]
    assert pv["plan"] == plan
    _check_shown(pv, plan)
    saved = json.loads((REPO / "example_workflows" / "wan22_i2v_fast.json").read_text())
    n = len(next(x for x in saved["nodes"] if x["type"] == "Wan22ModeRouter")["widgets_values"])  # 13 with lightning
    assert len(pv["serializedWidgets"]) == pv["valueWidgets"] == n, "the preview must not add a saved widget value"


def test_fast_motion_preview_draws_three_bands(browser_run: BrowserRun) -> None:
    """fast_motion's chart has one band per stage, each labelled with its expert, LoRA and cfg
    (base high cfg 3.5 / high + LoRA / low + LoRA); a two-stage plan keeps two bands without cfg."""
    pv = _case(browser_run, "i2v-fast_motion")
    rc, plan = cli_plan(_cli_args({"mode": "i2v", "preset": "fast_motion"}, []))
    assert rc == 0 and pv["plan"] == plan
    bands = json.loads(pv["chart"]["bands"])
    assert [(b["start"], b["end"]) for b in bands] == [(st["start_step"], st["end_step"]) for st in plan["stages"]]
    assert len(bands) == 3 and len({b["color"] for b in bands}) == 3
    labels = [b["label"] for b in bands]
    assert labels[0].startswith("base high-noise") and "no LoRA" in labels[0] and "cfg 3.5" in labels[0], labels
    assert labels[1].startswith("high-noise + LoRA") and labels[1].endswith("cfg 1"), labels
    assert labels[2].startswith("low-noise + LoRA") and labels[2].endswith("cfg 1"), labels
    assert "cfg 3.5" in pv["stages"][0]["text"] and "cfg 1" in pv["stages"][1]["text"]
    two = json.loads(_case(browser_run, "i2v-fast")["chart"]["bands"])
    assert [b["label"] for b in two] == ["high-noise · LoRA ×1", "low-noise · LoRA ×1"]
    # a generation other than the preset's own pair is named on each band
    lx = json.loads(_case(browser_run, "i2v-fast-lightning-1022")["chart"]["bands"])
    assert [b["label"] for b in lx] == ["high-noise · LoRA ×1 · i2v_1022", "low-noise · LoRA ×1 · i2v_1022"]


def test_router_preview_shows_the_refusal_the_cli_gives(browser_run: BrowserRun) -> None:
    cid, widgets, extra, _ = next(c for c in PLAN_CASES if c[0].startswith("refused"))
    pv = _case(browser_run, cid)
    rc, msg = cli_plan(_cli_args(widgets, extra))
    assert rc != 0
    assert pv["state"] == "error" and pv["plan"] is None
    assert pv["error"].split() == msg.removeprefix("error: ").split()
    assert not pv["chart"]["visible"]


def test_router_preview_debounces_to_one_request_per_change(browser_run: BrowserRun) -> None:
    """Each case sets up to eleven widgets at once: the preview asks the route once (or not at all
    when the settings did not change)."""
    cases = browser_run.phase("router")["cases"]
    prev = browser_run.phase("router")["initial"]["key"]
    for c in cases:
        changed = c["preview"]["key"] != prev
        assert c["requests"] == (1 if changed else 0), (c["id"], c["requests"])
        prev = c["preview"]["key"]


def test_router_preview_on_a_new_node_and_after_a_canvas_click(browser_run: BrowserRun) -> None:
    router = browser_run.phase("router")
    rc, plan = cli_plan(_cli_args({"mode": "i2v", "preset": "fast"}, []))
    assert router["initial"]["state"] == "ready" and router["initial"]["plan"] == plan
    _check_shown(router["initial"], plan)
    # The mode combo's right arrow, clicked on the canvas: i2v -> t2v, preset quality kept.
    clicked = router["clicked"]
    assert clicked["mode"] == "t2v"
    rc, plan = cli_plan(_cli_args({"mode": "t2v", "preset": "quality"}, []))
    assert clicked["preview"]["plan"] == plan
    _check_shown(clicked["preview"], plan)


# ---------------------------------------------------------------- inventory node, help pages


def test_inventory_node_shows_its_report_after_a_run(browser_run: BrowserRun) -> None:
    inv = browser_run.phase("inventory_node")
    assert inv["run"]["status"] == "success", inv["run"]
    assert inv["run"]["via"] == "Run button"
    shown = inv["shown"]
    assert shown["visible"]
    report = browser_run.server.get("/wan22/inventory")
    assert {w["id"]: w["ready"] for w in shown["workflows"]} == {k: v["ready"] for k, v in report["workflows"].items()}
    bad = {f["name"]: f["status"] for f in report["files"] if f["status"] not in ("ok", "stand_in")}
    assert {f["name"]: f["status"] for f in shown["files"]} == bad
    assert "workflows ready" in shown["summary"]
    assert shown["serialized"] == ["i2v_fast", False], "the report widget must not be saved with the node"


def _node_inputs(node_id: str, info: dict[str, Any]) -> list[str]:
    d = info[node_id]["input"]
    return [*d.get("required", {}), *d.get("optional", {})]


def test_every_node_has_a_help_page_the_frontend_serves(browser_run: BrowserRun) -> None:
    docs = browser_run.phase("help")["docs"]
    info = browser_run.server.get("/object_info")
    assert set(docs) == set(browser_run.input["node_ids"]) and docs
    for node_id, d in docs.items():
        assert d["status"] == 200, f"{d['url']}: HTTP {d['status']}"
        assert (REPO / "js" / "docs" / f"{node_id}.md").is_file()
        assert d["text"].lstrip().startswith("# "), node_id
        assert "<h1" in d["html"], f"{node_id}: the frontend's markdown renderer gave {d['html'][:200]!r}"
        missing = [i for i in _node_inputs(node_id, info) if f"`{i}`" not in d["text"]]
        assert not missing, f"{node_id}.md does not describe inputs {missing}"


def test_node_info_panel_shows_our_help_page(browser_run: BrowserRun) -> None:
    """Select the router, click "Node Info": the frontend renders js/docs/Wan22ModeRouter.md."""
    panel = browser_run.phase("help_panel")
    md = (REPO / "js" / "docs" / "Wan22ModeRouter.md").read_text()
    want = [line.lstrip("#").strip() for line in md.splitlines() if re.match(r"#{1,2} ", line)]
    assert panel["headings"] == want, panel["headings"]
    assert "split step" in panel["text"]


# ---------------------------------------------------------------- example workflows


def test_there_are_example_workflows_with_api_twins() -> None:
    names = example_names()
    assert names, "no example_workflows/*.json: the template checks below would pass vacuously"
    missing = [n for n in names if not (REPO / "example_workflows" / "api" / f"{n}.json").is_file()]
    assert not missing, f"example workflows without an example_workflows/api/ twin: {missing}"


SEED_KEYS = {"seed", "noise_seed"}
# LoadVideo's preview widget: the frontend sends it only once the preview has loaded the server's
# input video (a race with the conversion), and the server ignores it (wan22/graph/widgets.py).
SERVER_STATE_INPUTS = {name for extra in FRONTEND_EXTRA_INPUTS.values() for name in extra}


def _strip_seeds(prompt: dict[str, Any]) -> dict[str, Any]:
    return {k: {"class_type": v["class_type"], "inputs": {a: b for a, b in v["inputs"].items()
                                                         if a not in SEED_KEYS | SERVER_STATE_INPUTS}}
            for k, v in prompt.items()}


def _normalise(prompt: dict[str, Any]) -> dict[str, Any]:
    """Seeds dropped and node ids replaced by a canonical numbering (links follow), so a frontend
    that renumbers nodes still compares equal: nodes are ordered by class, inputs and, refined
    a few times, the canonical names of the nodes they link to."""
    nodes = _strip_seeds(prompt)

    def relink(inputs: dict[str, Any], name: Any) -> dict[str, Any]:
        return {n: ([name(str(v[0])), v[1]] if isinstance(v, list) and len(v) == 2 and str(v[0]) in nodes else v)
                for n, v in inputs.items()}

    names: dict[str, Any] = {k: nodes[k]["class_type"] for k in nodes}
    for _ in range(4):
        sig = {k: nodes[k]["class_type"] + json.dumps(relink(nodes[k]["inputs"], names.__getitem__), sort_keys=True, default=str)
               for k in nodes}
        names = {k: i for i, k in enumerate(sorted(nodes, key=lambda k: (sig[k], k)))}
    return {str(names[k]): {"class_type": v["class_type"], "inputs": relink(v["inputs"], names.__getitem__)}
            for k, v in nodes.items()}


@pytest.mark.parametrize("name", example_names())
def test_example_loads_from_templates_and_converts_to_its_api_twin(browser_run: BrowserRun, name: str) -> None:
    tpl = browser_run.phase("templates")
    assert name in tpl["names"], f"/workflow_templates does not list {name}: {tpl['listing']}"
    got = tpl["templates"][name]
    assert got["status"] == 200
    twin = json.loads((REPO / "example_workflows" / "api" / f"{name}.json").read_text())
    prompt = got["output"]
    if set(prompt) == set(twin):
        assert _strip_seeds(prompt) == _strip_seeds(twin)
    else:
        assert _normalise(prompt) == _normalise(twin)
    # Every router in the example shows the plan the CLI prints for its settings.
    for pv in got["previews"]:
        assert pv["state"] == "ready", pv
        w = pv["widgets"]
        extra: list[str] = []
        for key, flag in (("steps", "--steps"), ("cfg", "--cfg"), ("shift", "--shift")):
            if w.get(key):
                extra += [flag, str(w[key])]
        if w.get("split_step", -1) >= 0:
            extra += ["--split-step", str(w["split_step"])]
        for key, flag in (("sampler_name", "--sampler"), ("scheduler", "--scheduler")):
            if w.get(key, "auto") != "auto":
                extra += [flag, w[key]]
        if w.get("relight") is False:
            extra.append("--no-relight")
        rc, plan = cli_plan(_cli_args(w, extra))
        assert rc == 0 and pv["plan"] == plan, (pv, plan)


def test_queue_the_fast_i2v_example_from_the_browser(browser_run: BrowserRun) -> None:
    name = queue_example()
    assert name, "no fast I2V example workflow to queue"
    q = browser_run.phase("queue")
    run = q["run"]
    assert run["status"] == "success", run
    assert run["via"] == "Run button"
    if browser_run.input["queue"]["swap_conditioning"]:
        assert len(q["swapped"]) == 2, q["swapped"]
    assert q["resized"], "no node with width/height/length to shrink"
    pid = run["detail"]["prompt_id"]
    hist = browser_run.server.get(f"/history/{pid}")[pid]
    assert hist["status"]["status_str"] == "success"
    files = browser_run.server.output_files(hist)
    assert files and all(Path(f).is_file() and Path(f).stat().st_size > 0 for f in files), files
    assert any(str(f).endswith(".mp4") for f in files), files


# ---------------------------------------------------------------- prefetch report in the sidebar


def test_sidebar_shows_what_the_prefetcher_read_for_the_last_prompt(comfyui_path: Path, demo_volume: Path,
                                                                   browser_frontend: Frontend, tmp_path: Path) -> None:
    """A server with WAN22_PREFETCH=1 (the demo volume is on a local disk, where 'auto' is off):
    the sidebar's prefetch section before any prompt, then, after a prompt queued from the page,
    the same files, statuses and totals GET /wan22/prefetch gives (drive_prefetch.mjs)."""
    import os
    import time

    from browser_support import DRIVER_TIMEOUT, HERE, chromium_path

    from wan22.demo.graphs import i2v_native
    from wan22.demo.server import ComfyServer, free_port, make_base, start_image, write_model_paths_yaml

    base = make_base(tmp_path / "base")
    start_image(base / "input" / "wan22_start.png")
    yaml = write_model_paths_yaml(base / "extra_model_paths.yaml", demo_volume, section="wan22_test",
                                  keys=("diffusion_models", "text_encoders", "vae", "clip_vision", "loras", "datasets"))
    server = ComfyServer(comfyui=comfyui_path, base=base, yaml=yaml, port=free_port(), log_path=base / "server.log",
                         extra_args=browser_frontend.args)
    server.start(env={"WAN22_PREFETCH": "1"})
    try:
        spec = {"url": server.url + "/", "chromium": chromium_path(), "artifacts": str(browser_frontend.artifacts),
                "results": str(tmp_path / "results.json"), "timeout_ms": 240000,
                "prompt": i2v_native("fast", seed=11, prefix="browser/prefetch", length=5)}
        (tmp_path / "input.json").write_text(json.dumps(spec))
        t0 = time.time()
        proc = subprocess.run(["node", str(HERE / "drive_prefetch.mjs"), str(tmp_path / "input.json")], cwd=str(HERE),
                              capture_output=True, text=True, timeout=DRIVER_TIMEOUT, env=dict(os.environ, NODE_NO_WARNINGS="1"))
        (browser_frontend.artifacts / "drive_prefetch.log").write_text(proc.stdout + proc.stderr)
        res = json.loads((tmp_path / "results.json").read_text())
        route = server.get("/wan22/prefetch")
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    before, after = res["phases"]["before"], res["phases"]["after"]
    assert before["ok"] and after["ok"], (before.get("error"), after.get("error"))
    assert before["shown"]["present"] and before["shown"]["visible"] and before["shown"]["none"]
    assert before["shown"]["switch"] == "on"
    assert after["queued"]["status"] == 200, after["queued"]
    assert route["last_prompt"]["at"] >= t0 and route["last"] is not None and not route["running"]
    shown = after["shown"]
    assert [(f["name"], f["status"]) for f in shown["files"]] == [(f["name"], f["status"]) for f in route["last"]["files"]]
    assert len(shown["files"]) == len(route["last_prompt"]["prefetching"]) == 5
    assert f"{len(route['last_prompt']['prefetching'])} file(s) to prefetch" in shown["prompt"]
    assert re.search(r"last job \(finished .+\): [\d.]+ (B|KB|MB|GB) read in [\d.]+ s", shown["totals"]), shown["totals"]
    assert after["prefetch_requests"] >= 1, "the section did not fetch /wan22/prefetch after the prompt"
    ours = [e for e in res["console"] if e["type"] == "error" and _ours(e)] + res["pageErrors"]
    assert not ours, json.dumps(ours, indent=1)


# ---------------------------------------------------------------- artifacts


def test_screenshots_were_saved(browser_run: BrowserRun) -> None:
    shots = browser_run.results["screenshots"]
    for name in ("sidebar", "router_preview", "router_preview_i2v_quality", "router_preview_refused", "inventory_node",
                 "startup_toast", "router_preview_fast_motion"):
        assert name in shots, sorted(shots)
        p = Path(shots[name])
        assert p.is_file() and p.stat().st_size > 5000, p
