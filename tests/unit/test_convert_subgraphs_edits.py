"""`submit --width --height --frames --steps --cfg --set NODE.INPUT=VALUE` on converted templates
(subgraph ids, primitives, switches), without ComfyUI: where each edit lands, how it is reported,
and that an edit matching nothing is an error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wan22.api.edits import apply_graph_edits, apply_set, expected_frames, parse_set
from wan22.errors import WorkflowError
from wan22.graph.convert import ui_to_api
from wan22.graph.templates import load_template, templates_available

REPO = Path(__file__).resolve().parents[2]
INFO = json.loads((REPO / "tests" / "fixtures" / "object_info_templates.json").read_text())
pytestmark = pytest.mark.skipif(templates_available() is not None, reason=str(templates_available()))


def api(name: str) -> dict[str, Any]:
    return ui_to_api(load_template(name), INFO)


def test_size_and_length_land_on_the_wan_nodes_inside_the_subgraph() -> None:
    p = api("video_wan2_2_14B_i2v")
    lines, problems = apply_graph_edits(p, {"width": 64, "height": 48, "frames": 9, "steps": None, "cfg": None})
    assert not problems
    i2v = p["129:98"]["inputs"]
    assert (i2v["width"], i2v["height"], i2v["length"]) == (64, 48, 9)
    assert lines == ["set node 129:98 (WanImageToVideo) width 640 -> 64", "set node 129:98 (WanImageToVideo) height 640 -> 48",
                     "set node 129:98 (WanImageToVideo) length -> 9 (was linked to node 129:163 (ComfyMathExpression))"]


def test_steps_and_cfg_replace_the_switched_values_on_both_experts() -> None:
    p = api("video_wan2_2_14B_i2v")
    lines, problems = apply_graph_edits(p, {"steps": 6, "cfg": 2.5})
    assert not problems
    samplers = [k for k, v in p.items() if v["class_type"] == "KSamplerAdvanced"]
    assert len(samplers) == 2 and all((p[k]["inputs"]["steps"], p[k]["inputs"]["cfg"]) == (6, 2.5) for k in samplers)
    assert sum("was linked to node 129:119 (ComfySwitchNode)" in line for line in lines) == 2


def test_a_length_from_a_primitive_sets_the_primitive_once_for_every_chunk() -> None:
    p = api("video_wan2_2_14B_s2v")
    lines, problems = apply_graph_edits(p, {"frames": 9})
    assert not problems and p["104"]["inputs"]["value"] == 9
    assert lines == ["set node 104 (PrimitiveInt) value 77 -> 9 (it feeds node 93 (WanSoundImageToVideo) length)"]
    assert all(v["inputs"]["length"] == ["104", 0] for v in p.values() if "length" in v["inputs"] and "Wan" in v["class_type"])
    # three chunks of 3 latent frames, the reference latent in front, ImageFromBatch skips 3 frames
    assert expected_frames(p) == 4 * (1 + 3 * 3 - 1) + 1 - 3


def test_an_edit_that_matches_nothing_is_a_problem_and_a_start_past_the_end_is_a_warning() -> None:
    p = {"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}}}
    _, problems = apply_graph_edits(p, {"cfg": 1.0})
    assert problems == ["--cfg: the workflow has no a sampler (KSampler, KSamplerAdvanced, SamplerCustom, CFGGuider, "
                        "Wan22ModeRouter) with a 'cfg' input; use --set NODE.INPUT=VALUE"]
    flf = api("video_wan2_2_14B_flf2v")
    lines, _ = apply_graph_edits(flf, {"steps": 4})
    assert any(line.startswith("warning: node 87 (KSamplerAdvanced) starts at step 10, past the 4 steps") for line in lines)


def test_set_by_id_and_by_title() -> None:
    p = api("video_wan2_2_14B_i2v")
    assert apply_set(p, "129:86.end_at_step=2") == "set node 129:86 (KSamplerAdvanced) end_at_step -> 2 (was linked to node 129:125 (ComfySwitchNode))"
    assert p["129:86"]["inputs"]["end_at_step"] == 2
    assert apply_set(p, "Enable 4steps LoRA?.value=true") == "set node 129:131 (PrimitiveBoolean) value False -> True"
    assert apply_set(p, "load image.image=other.png").startswith("set node 97 (LoadImage) image")  # titles: case-blind fallback
    assert parse_set("Float (CFG).value=3.5") == ("Float (CFG)", "value", 3.5)
    assert parse_set('129:93.text="a cat, dancing"') == ("129:93", "text", "a cat, dancing")
    assert parse_set("129:93.text=plain words") == ("129:93", "text", "plain words")
    with pytest.raises(WorkflowError, match=r"2 nodes are titled 'Load Diffusion Model' \(ids 129:95, 129:96\): use an id"):
        apply_set(p, "Load Diffusion Model.unet_name=x.safetensors")
    with pytest.raises(WorkflowError, match=r"node 129:95 \(UNETLoader\) has no input 'name' \(its inputs: unet_name, weight_dtype\)"):
        apply_set(p, "129:95.name=x")
    with pytest.raises(WorkflowError, match="no node has the id or title 'Load Imag'; closest titles: Load Image"):
        apply_set(p, "Load Imag.image=x.png")
    with pytest.raises(WorkflowError, match="expected NODE.INPUT=VALUE"):
        parse_set("steps=4")


def test_submit_reports_each_edit_and_writes_it(tmp_path: Path) -> None:
    wf = tmp_path / "flf2v_api.json"
    wf.write_text(json.dumps(api("video_wan2_2_14B_flf2v")))
    req = tmp_path / "req.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = [sys.executable, "-m", "wan22", "submit", str(wf), "--no-preflight", "--server", "http://127.0.0.1:9",
           "--width", "64", "--frames", "9", "--steps", "4", "--set", "84.end_at_step=2", "--set", "87.start_at_step=2",
           "--runpod-request", str(req)]
    r = subprocess.run(run, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "[wan22] set node 81 (WanFirstLastFrameToVideo) width 640 -> 64" in r.stderr
    assert "[wan22] set node 87 (KSamplerAdvanced) start_at_step 10 -> 2" in r.stderr
    p = json.loads(req.read_text())["input"]["workflow"]
    assert (p["81"]["inputs"]["width"], p["81"]["inputs"]["height"], p["81"]["inputs"]["length"]) == (64, 640, 9)
    assert (p["84"]["inputs"]["steps"], p["84"]["inputs"]["end_at_step"], p["87"]["inputs"]["start_at_step"]) == (4, 2, 2)
    r = subprocess.run([*run[:-2], "--set", "Nope.steps=1", "--runpod-request", str(req)], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 1 and "no node has the id or title 'Nope'" in r.stderr
