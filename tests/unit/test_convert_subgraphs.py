"""UI -> API conversion with subgraphs, without ComfyUI or a browser.

Every Wan 2.2 template of the comfyui-workflow-templates package ComfyUI installs converts to
exactly what the real frontend's `app.graphToPrompt()` made of it (tests/fixtures/templates_api/,
taken by `tools/gen_template_fixtures.py --graph-to-prompt`; the browser tier compares live), and
the frontend's rules hold on small graphs built here: nested subgraphs, promoted widget values,
muted and bypassed instances, id de-duplication across definitions, PrimitiveNode, Reroute.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from wan22.errors import WorkflowError
from wan22.graph.convert import check_widget_counts, flatten, ui_to_api, valid_connection
from wan22.graph.templates import WAN22_TEMPLATES, load_template, template_node_types, templates_available

REPO = Path(__file__).resolve().parents[2]
INFO = json.loads((REPO / "tests" / "fixtures" / "object_info_templates.json").read_text())
GOLDEN = REPO / "tests" / "fixtures" / "templates_api"
# The frontend sends LoadVideo's preview widget ("video-preview": "") only once the preview has
# loaded the video from the server's input folder: it depends on the server's files, not on the
# graph. The server ignores it.
SERVER_STATE_INPUTS = {"video-preview"}
needs_templates = pytest.mark.skipif(templates_available() is not None, reason=str(templates_available()))


def comparable(prompt: dict[str, Any]) -> dict[str, Any]:
    return {k: {**v, "inputs": {i: x for i, x in v["inputs"].items() if i not in SERVER_STATE_INPUTS}}
            for k, v in prompt.items()}


@needs_templates
@pytest.mark.parametrize("name", WAN22_TEMPLATES)
def test_template_converts_to_what_the_frontend_queues(name: str) -> None:
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    assert comparable(ui_to_api(load_template(name), INFO)) == comparable(golden)


@needs_templates
def test_the_fixture_covers_every_node_type_of_the_templates() -> None:
    used = {t for n in WAN22_TEMPLATES for t in template_node_types(load_template(n))}
    frontend_only = {"MarkdownNote", "Note", "Reroute", "PrimitiveNode"}
    assert used - frontend_only <= set(INFO), sorted(used - frontend_only - set(INFO))
    # ...and the templates do use subgraphs, switches and primitives (the rules below are exercised)
    i2v = load_template("video_wan2_2_14B_i2v")
    assert i2v["definitions"]["subgraphs"]
    assert {"ComfySwitchNode", "PrimitiveInt", "PrimitiveBoolean"} <= set(template_node_types(i2v))


@needs_templates
def test_subgraph_inner_ids_are_instance_prefixed_and_promoted_values_win() -> None:
    wf = load_template("video_wan2_2_14B_i2v")
    inst = next(n for n in wf["nodes"] if n["type"] == wf["definitions"]["subgraphs"][0]["id"])
    p = ui_to_api(wf, INFO)
    unets = {k: v["inputs"]["unet_name"] for k, v in p.items() if v["class_type"] == "UNETLoader"}
    assert all(k.startswith(f"{inst['id']}:") for k in unets)
    # the instance's widget (promoted from the inner loader) decides, not the inner widget's own value
    wf2 = copy.deepcopy(wf)
    inst2 = next(n for n in wf2["nodes"] if n["id"] == inst["id"])
    idx = inst2["widgets_values"].index("wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors")
    inst2["widgets_values"][idx] = "my_high.safetensors"
    p2 = ui_to_api(wf2, INFO)
    changed = {k for k, v in p2.items() if v["class_type"] == "UNETLoader" and v["inputs"]["unet_name"] == "my_high.safetensors"}
    assert len(changed) == 1 and changed <= set(unets)
    # an outer link into the instance reaches the inner node: the start image
    assert any(v["inputs"].get("start_image") == [str(n["id"]), 0] for v in p.values() for n in wf["nodes"]
               if n["type"] == "LoadImage")


@needs_templates
def test_duplicate_inner_ids_get_the_frontends_new_ids() -> None:
    """S2V: six 'Video S2V Extend' definitions all number their nodes 76-78; the frontend keeps the
    first and renumbers the others after the workflow's last id."""
    wf = load_template("video_wan2_2_14B_s2v")
    p = ui_to_api(wf, INFO)
    inner = sorted(k for k in p if ":" in k)
    assert inner == sorted(json.loads((GOLDEN / "video_wan2_2_14B_s2v.json").read_text()).keys() & set(inner))
    assert {k.split(":")[1] for k in inner} >= {"76", "182"}
    assert all(int(k.split(":")[1]) > wf["last_node_id"] for k in inner if k.split(":")[1] not in ("76", "77", "78"))


@needs_templates
def test_old_templates_short_widget_lists_take_defaults_and_are_reported() -> None:
    wf = load_template("video_wan2_2_5B_ti2v")
    p = ui_to_api(wf, INFO)
    cv = next(v for v in p.values() if v["class_type"] == "CreateVideo")
    assert cv["inputs"]["bit_depth"] == 8  # the template predates bit_depth: its default
    assert any("CreateVideo" in m and "widgets_values has 1 values" in m for m in check_widget_counts(wf, INFO))


# --------------------------------------------------------------------------- rules on small graphs

INT = {"input": {"required": {"value": ["INT", {"default": 0, "min": 0, "max": 100}]}}, "input_order": {"required": ["value"]},
       "output": ["INT"], "output_name": ["INT"], "display_name": "Int"}
ADD = {"input": {"required": {"a": ["INT", {"default": 0}], "b": ["INT", {"default": 0}]}},
       "input_order": {"required": ["a", "b"]}, "output": ["INT"], "output_name": ["INT"], "display_name": "Add"}
SINK = {"input": {"required": {"x": ["INT", {"forceInput": True}]}}, "input_order": {"required": ["x"]},
        "output": [], "output_name": [], "output_node": True, "display_name": "Sink"}
MINI = {"Int": INT, "Add": ADD, "Sink": SINK}


def node(nid: int, ntype: str, inputs: list[dict[str, Any]] | None = None, outputs: list[dict[str, Any]] | None = None,
         wv: list[Any] | None = None, mode: int = 0) -> dict[str, Any]:
    return {"id": nid, "type": ntype, "mode": mode, "inputs": inputs or [], "outputs": outputs or [],
            "widgets_values": wv if wv is not None else [], "properties": {}}


def slot(name: str, link: int | None, typ: str = "INT", widget: bool = False) -> dict[str, Any]:
    s: dict[str, Any] = {"name": name, "type": typ, "link": link}
    if widget:
        s["widget"] = {"name": name}
    return s


def link(lid: int, a: int, sa: int, b: int, sb: int, typ: str = "INT") -> dict[str, Any]:
    return {"id": lid, "origin_id": a, "origin_slot": sa, "target_id": b, "target_slot": sb, "type": typ}


def nested_workflow() -> dict[str, Any]:
    """Sink(x) <- Outer instance 10 <- [Inner instance 5 -> Add] ; Inner: Add(a=promoted 'a', b=Int 2)."""
    inner = {
        "id": "inner-def", "name": "Inner",
        "inputs": [{"id": "i-a", "name": "a", "type": "INT", "linkIds": [1]}],
        "outputs": [{"id": "o-x", "name": "x", "type": "INT", "linkIds": [3]}],
        "nodes": [node(1, "Add", [slot("a", 1, widget=True), slot("b", 2, widget=True)],
                       [{"name": "INT", "type": "INT", "links": [3]}], [7, 0]),
                  node(2, "Int", [], [{"name": "INT", "type": "INT", "links": [2]}], [2, "fixed"])],
        "links": [link(1, -10, 0, 1, 0), link(2, 2, 0, 1, 1), link(3, 1, 0, -20, 0)],
    }
    outer = {
        "id": "outer-def", "name": "Outer",
        "inputs": [{"id": "i-b", "name": "a", "type": "INT", "linkIds": [11]}],
        "outputs": [{"id": "o-y", "name": "y", "type": "INT", "linkIds": [12]}],
        "nodes": [node(5, "inner-def", [slot("a", 11, widget=True)], [{"name": "x", "type": "INT", "links": [12]}], [30])],
        "links": [link(11, -10, 0, 5, 0), link(12, 5, 0, -20, 0)],
    }
    return {
        "last_node_id": 10, "last_link_id": 20, "version": 0.4, "links": [[20, 10, 0, 11, 0, "INT"]],
        "nodes": [node(10, "outer-def", [slot("a", None, widget=True)], [{"name": "y", "type": "INT", "links": [20]}], [40]),
                  node(11, "Sink", [slot("x", 20)])],
        "definitions": {"subgraphs": [inner, outer]},
    }


def test_nested_subgraphs_flatten_to_path_ids_with_the_outer_promoted_value() -> None:
    p = ui_to_api(nested_workflow(), MINI)
    assert set(p) == {"10:5:1", "10:5:2", "11"}
    assert p["10:5:1"]["inputs"] == {"a": 40, "b": ["10:5:2", 0]}  # a: the outermost instance's widget value
    assert p["11"]["inputs"] == {"x": ["10:5:1", 0]}
    assert p["10:5:2"]["inputs"] == {"value": 2}


def test_without_instance_values_the_inner_widget_value_is_used() -> None:
    wf = nested_workflow()
    wf["nodes"][0]["widgets_values"] = []
    wf["definitions"]["subgraphs"][1]["nodes"][0]["widgets_values"] = []
    assert ui_to_api(wf, MINI)["10:5:1"]["inputs"]["a"] == 7


def test_an_outer_link_into_the_instance_feeds_the_inner_node() -> None:
    wf = nested_workflow()
    wf["nodes"].append(node(12, "Int", [], [{"name": "INT", "type": "INT", "links": [21]}], [9, "fixed"]))
    wf["links"].append([21, 12, 0, 10, 0, "INT"])
    wf["nodes"][0]["inputs"][0]["link"] = 21
    assert ui_to_api(wf, MINI)["10:5:1"]["inputs"]["a"] == ["12", 0]


def test_muted_and_bypassed_instances() -> None:
    muted = nested_workflow()
    muted["nodes"][0]["mode"] = 2
    p = ui_to_api(muted, MINI)
    assert set(p) == {"11"} and p["11"]["inputs"] == {}  # inner nodes left out, the link dropped
    bypassed = nested_workflow()
    bypassed["nodes"][0]["mode"] = 4
    bypassed["nodes"].append(node(12, "Int", [], [{"name": "INT", "type": "INT", "links": [21]}], [9, "fixed"]))
    bypassed["links"].append([21, 12, 0, 10, 0, "INT"])
    bypassed["nodes"][0]["inputs"][0]["link"] = 21
    p = ui_to_api(bypassed, MINI)
    assert set(p) == {"11", "12"} and p["11"]["inputs"] == {"x": ["12", 0]}  # passes its input through


def test_bypassed_inner_node_passes_its_matching_input_and_reroutes_are_followed() -> None:
    wf = nested_workflow()
    wf["definitions"]["subgraphs"][0]["nodes"][0]["mode"] = 4  # bypass Add: its output is its first INT input
    # ... which is a promoted widget: the frontend sends its value in place of the link
    assert ui_to_api(wf, MINI)["11"]["inputs"] == {"x": 40}
    wf = nested_workflow()
    wf["nodes"].append(node(13, "Reroute", [slot("", 20, "*")], [{"name": "", "type": "INT", "links": [22]}]))
    wf["links"] = [[20, 10, 0, 13, 0, "INT"], [22, 13, 0, 11, 0, "INT"]]
    wf["nodes"][1]["inputs"][0]["link"] = 22
    assert ui_to_api(wf, MINI)["11"]["inputs"] == {"x": ["10:5:1", 0]}


def test_primitive_node_writes_its_value_into_the_widget_it_feeds() -> None:
    wf = {"last_node_id": 3, "version": 0.4, "nodes": [
        node(1, "PrimitiveNode", [], [{"name": "INT", "type": "INT", "links": [1], "widget": {"name": "a"}}], [55, "fixed"]),
        node(2, "Add", [slot("a", 1, widget=True)], [{"name": "INT", "type": "INT", "links": [2]}], [3, 4]),
        node(3, "Sink", [slot("x", 2)])], "links": [[1, 1, 0, 2, 0, "INT"], [2, 2, 0, 3, 0, "INT"]]}
    p = ui_to_api(wf, MINI)
    assert set(p) == {"2", "3"} and p["2"]["inputs"] == {"a": 55, "b": 4}


def test_unknown_types_are_an_error_unless_walking_leniently() -> None:
    wf = nested_workflow()
    wf["nodes"][1]["type"] = "SinkFromSomePack"
    with pytest.raises(WorkflowError, match=r"node 11 \(SinkFromSomePack\): node type not in /object_info"):
        ui_to_api(wf, MINI)
    prompt, fl = flatten(wf, MINI, strict=False)
    assert prompt["11"] == {"class_type": "SinkFromSomePack", "inputs": {"x": ["10:5:1", 0]},
                            "_meta": {"title": "SinkFromSomePack"}}
    assert fl.nodes["10:5:1"].type == "Add"


def test_subgraph_loops_are_refused() -> None:
    wf = nested_workflow()
    wf["definitions"]["subgraphs"][0]["nodes"].append(node(9, "outer-def", [], [], []))
    with pytest.raises(WorkflowError, match="loop"):
        ui_to_api(wf, MINI)


def test_litegraph_type_matching() -> None:
    assert valid_connection("INT", "int") and valid_connection("*", "MODEL") and valid_connection("", "X")
    assert valid_connection("FLOAT,INT", "INT") and not valid_connection("IMAGE", "MASK")
