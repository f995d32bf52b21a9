"""The one reader of prompts (wan22.graph): every shape a workflow arrives in, names saved on
Windows, inputs that cannot be judged (unknown node types naming files, unexpanded subgraph ids,
loaders that lost their file input, linked file names, frontend-only nodes in an API prompt),
KJNodes' SetNode/GetNode, rgthree's dict-valued LoRA entries, core nodes newer than our ComfyUI,
and the same file list for a bundle/router prompt in all five users: the inventory's check (CLI and
ComfyUI route), preflight, prefetch and fetch planning.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from wan22.catalog import BY_ROLE
from wan22.errors import WorkflowError
from wan22.graph.reader import known_info, workflow_refs
from wan22.graph.shapes import read_shape

REPO = Path(__file__).resolve().parents[2]
API_I2V = json.loads((REPO / "example_workflows" / "api" / "wan22_i2v_fast.json").read_text())
SAMPLE = {"1": {"class_type": "UNETLoader", "inputs": {"unet_name": "x.safetensors", "weight_dtype": "default"}},
          "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}


def names(prompt: Any, **kw: Any) -> set[tuple[str, str]]:
    return set(workflow_refs(prompt, **kw).files())


# --------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("shape,wrap", [
    ("api", lambda p: p),
    ("prompt", lambda p: {"prompt": p, "client_id": "abc"}),
    ("runpod-body", lambda p: {"input": {"workflow": p}}),
    ("runpod-body", lambda p: {"input": {"prompt": p, "images": []}}),
    ("runpod-body", lambda p: {"input": {"workflow": json.dumps(p)}}),
    ("queue-item", lambda p: [3, "0b6c-prompt-id", p, {"client_id": "abc"}, ["2"]]),
    ("queue", lambda p: {"queue_running": [[3, "id", p, {}, ["2"]]], "queue_pending": []}),
    ("history", lambda p: {"0b6c": {"prompt": [3, "0b6c", p, {}, ["2"]], "outputs": {}, "status": {}}}),
])
def test_every_shape_reads_as_the_same_graph(shape: str, wrap: Any) -> None:
    data = wrap(copy.deepcopy(SAMPLE))
    s = read_shape(data)
    assert (s.format, s.shape) == ("api", shape)
    r = workflow_refs(data)
    assert r.shape == shape and r.files() == [("diffusion_models", "x.safetensors")]


def test_a_history_or_queue_with_several_prompts_is_refused_with_the_fix() -> None:
    two = {"a": {"prompt": [1, "a", SAMPLE, {}, []]}, "b": {"prompt": [2, "b", SAMPLE, {}, []]}}
    with pytest.raises(WorkflowError, match="holds 2 prompts"):
        read_shape(two)
    with pytest.raises(WorkflowError, match="queue/history item"):
        read_shape([1, 2, 3])


# --------------------------------------------------------------------------- what cannot be judged

def test_an_unknown_type_naming_a_model_file_blocks_but_one_without_files_only_warns(tmp_path: Path) -> None:
    from wan22.volume.roots import resolve
    from wan22.volume.workflow_check import check_workflows

    p = {"1": {"class_type": "MysteryLoader", "inputs": {"ckpt": "mystery.safetensors", "n": 3}},
         "2": {"class_type": "FancyNode", "inputs": {"model": ["1", 0], "text": "hello"}},
         "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}}}
    r = workflow_refs(p)
    assert [(u.node, u.input) for u in r.unjudged] == [("1", "ckpt")]
    assert "mystery.safetensors" in r.unjudged[0].why and "install the pack" in r.unjudged[0].fix
    assert [u.type for u in r.unknown] == ["FancyNode", "MysteryLoader"]  # named offline, not blocking by themselves
    st = check_workflows(resolve(roots=[str(tmp_path)]), {"w": r}).workflows["w"]
    assert [(b["role"], b["nodes"]) for b in st.blocking] == [("unjudged", ["1"])]
    # with a live server that lacks them, each unknown type blocks too
    server = {**known_info(), "PreviewAny": {"input": {"required": {"source": ["*", {}]}}, "output": [],
                                             "output_node": True}}
    live = check_workflows(resolve(roots=[str(tmp_path)]), {"w": workflow_refs(p, object_info=server)})
    assert sorted((b["role"], b["name"]) for b in live.workflows["w"].blocking) == [
        ("node_type", "FancyNode"), ("node_type", "MysteryLoader"), ("unjudged", "MysteryLoader ckpt")]


def test_an_unexpanded_subgraph_id_blocks_in_api_and_ui_graphs() -> None:
    uuid = "9f2b7a4e-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
    p = {"1": {"class_type": uuid, "inputs": {}}, "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    r = workflow_refs({"input": {"workflow": p}})
    assert [(u.node, u.input) for u in r.unjudged] == [("1", "class_type")]
    assert "subgraph id" in r.unjudged[0].why and "Export (API)" in r.unjudged[0].fix
    ui = {"nodes": [{"id": 5, "type": uuid, "mode": 0, "inputs": [], "outputs": [{"name": "MODEL", "type": "MODEL",
                     "links": [1]}], "widgets_values": []},
                    {"id": 6, "type": "PreviewAny", "mode": 0, "inputs": [{"name": "source", "type": "*", "link": 1}],
                     "outputs": [], "widgets_values": []}],
          "links": [[1, 5, 0, 6, 0, "MODEL"]], "definitions": {"subgraphs": []}}
    assert [(u.node, u.input) for u in workflow_refs(ui).unjudged] == [("5", "class_type")]


def test_lossy_converter_output_a_loader_without_its_file_input_blocks() -> None:
    p = {"1": {"class_type": "UNETLoader", "inputs": {"filename": "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors"}},
         "2": {"class_type": "Reroute", "inputs": {"input": ["1", 0]}},
         "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}}}
    r = workflow_refs(p)
    assert not r.refs
    by = {(u.node, u.input): u for u in r.unjudged}
    assert set(by) == {("1", "unet_name"), ("2", "class_type")}
    assert "filename='wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors'" in by[("1", "unet_name")].why
    assert "frontend-only" in by[("2", "class_type")].why


def test_a_linked_file_name_or_a_placeholder_cannot_be_judged() -> None:
    p = {"1": {"class_type": "StringFromSomewhere", "inputs": {}},
         "2": {"class_type": "UNETLoader", "inputs": {"unet_name": ["1", 0], "weight_dtype": "default"}},
         "3": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["2", 0], "lora_name": "__LORA__",
                                                                "strength_model": 1.0}},
         "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}}}
    r = workflow_refs(p)
    assert {(u.node, u.input) for u in r.unjudged} == {("2", "unet_name"), ("3", "lora_name")}
    # a 'none' value of the table means no file (WanVideoWrapper's LoRA selectors)
    p2 = {"1": {"class_type": "WanVideoLoraSelectMulti", "inputs": {f"lora_{i}": "none" for i in range(5)}},
          "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    assert not workflow_refs(p2).unjudged and not workflow_refs(p2).refs


def test_core_nodes_newer_than_our_comfyui_are_named_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import wan22.graph.reader as reader

    monkeypatch.setattr(reader, "core_since", lambda t: {"StartLoop": "0.3.99", "GeminiNodeV3": ""}.get(t))
    p = {"1": {"class_type": "StartLoop", "inputs": {}}, "2": {"class_type": "GeminiNodeV3", "inputs": {}},
         "3": {"class_type": "PreviewAny", "inputs": {"a": ["1", 0], "b": ["2", 0]}}}
    hints = {u.type: u.hint() for u in workflow_refs(p).unknown}
    assert "built into ComfyUI >= 0.3.99: update ComfyUI" in hints["StartLoop"]
    assert "built into ComfyUI releases newer than" in hints["GeminiNodeV3"]


def test_the_tables_newer_core_nodes_name_the_release_to_update_to() -> None:
    """The table's core_since (StartLoop needs 0.36.0) and core_newer_unversioned (GeminiNodeV3)."""
    p = {"1": {"class_type": "StartLoop", "inputs": {}}, "2": {"class_type": "EndLoop", "inputs": {"a": ["1", 0]}},
         "3": {"class_type": "GeminiNodeV3", "inputs": {}},
         "4": {"class_type": "PreviewAny", "inputs": {"a": ["2", 0], "b": ["3", 0]}}}
    hints = {u.type: u.hint() for u in workflow_refs(p).unknown}
    assert "built into ComfyUI >= 0.36.0: update ComfyUI" in hints["StartLoop"]
    assert "built into ComfyUI >= 0.36.0: update ComfyUI" in hints["EndLoop"]
    assert "built into ComfyUI releases newer than 0.33.0: update ComfyUI" in hints["GeminiNodeV3"]


# --------------------------------------------------------------------------- graph features

def test_set_and_get_nodes_carry_the_loader_to_the_output() -> None:
    ui = {"nodes": [
        {"id": 1, "type": "UNETLoader", "mode": 0, "inputs": [], "outputs": [{"name": "MODEL", "type": "MODEL", "links": [1]}],
         "widgets_values": ["via_set_get.safetensors", "default"]},
        {"id": 2, "type": "SetNode", "mode": 0, "inputs": [{"name": "MODEL", "type": "MODEL", "link": 1}],
         "outputs": [{"name": "*", "type": "*", "links": []}], "widgets_values": ["model_hi"]},
        {"id": 3, "type": "GetNode", "mode": 0, "inputs": [], "outputs": [{"name": "MODEL", "type": "MODEL", "links": [2]}],
         "widgets_values": ["model_hi"]},
        {"id": 4, "type": "PreviewAny", "mode": 0, "inputs": [{"name": "source", "type": "*", "link": 2}], "outputs": [],
         "widgets_values": []}],
        "links": [[1, 1, 0, 2, 0, "MODEL"], [2, 3, 0, 4, 0, "MODEL"]], "definitions": {"subgraphs": []}}
    r = workflow_refs(ui)
    assert r.files() == [("diffusion_models", "via_set_get.safetensors")] and not r.unjudged
    assert r.prompt["4"]["inputs"]["source"] == ["1", 0]  # the frontend-only pair is resolved away


def test_power_lora_loader_entries_that_are_on() -> None:
    p = {"1": {"class_type": "Power Lora Loader (rgthree)", "inputs": {
        "lora_1": {"on": True, "lora": "on.safetensors", "strength": 1.0},
        "lora_2": {"on": False, "lora": "off.safetensors", "strength": 1.0}, "model": ["9", 0]}},
        "9": {"class_type": "UNETLoader", "inputs": {"unet_name": "m.safetensors", "weight_dtype": "default"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    assert names(p) == {("loras", "on.safetensors"), ("diffusion_models", "m.safetensors")}


def test_gguf_loaders_read_from_the_diffusion_models_folders() -> None:
    p = {"1": {"class_type": "UnetLoaderGGUF", "inputs": {"unet_name": "w.gguf"}},
         "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    r = workflow_refs(p)
    assert [(x.folder, x.name, x.format) for x in r.refs] == [("diffusion_models", "w.gguf", "gguf")]


# --------------------------------------------------------------------------- names saved on Windows

def test_a_windows_subfolder_name_is_missing_with_the_fix(tmp_path: Path) -> None:
    from wan22.demo.demo_volume import make_demo_volume
    from wan22.volume.roots import resolve
    from wan22.volume.workflow_check import check_workflows

    make_demo_volume(str(tmp_path), roles=("vae", "lora_i2v_high"))
    sub = tmp_path / "vae" / "wan_video"
    sub.mkdir()
    os.rename(tmp_path / "vae" / BY_ROLE["vae"].name, sub / BY_ROLE["vae"].name)
    p = {"1": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_video\\" + BY_ROLE["vae"].name}},
         "2": {"class_type": "LoraLoaderModelOnly", "inputs": {"lora_name": "speed\\" + BY_ROLE["lora_i2v_high"].name,
                                                                "model": ["1", 0], "strength_model": 1.0}},
         "3": {"class_type": "PreviewAny", "inputs": {"a": ["1", 0], "b": ["2", 0]}}}
    rep = check_workflows(resolve(roots=[str(tmp_path)]), {"w": workflow_refs(p)})
    by = {f.name: f for f in rep.files}
    vae = by["wan_video\\" + BY_ROLE["vae"].name]
    assert vae.status == "missing" and not rep.workflows["w"].ready
    assert f"pick the existing file 'wan_video/{BY_ROLE['vae'].name}'" in vae.hint
    lora = by["speed\\" + BY_ROLE["lora_i2v_high"].name]
    assert lora.status == "missing" and f"pick '{BY_ROLE['lora_i2v_high'].name}' (the file at the folder root)" in lora.hint
    assert "or put the file at" in lora.hint and "speed/" in lora.hint


# --------------------------------------------------------------------------- one list for five users

def test_a_bundle_router_prompt_gives_one_file_list_to_every_user(tmp_path: Path) -> None:
    from wan22.api.preflight import preflight
    from wan22.fetch.plan import workflow_file_roles
    from wan22.graph.loaders import pack_object_info
    from wan22.prefetch.engine import files_for_prompt
    from wan22.volume.roots import resolve
    from wan22.volume.workflow_check import check_workflows

    want = {("diffusion_models", BY_ROLE["i2v_high"].name), ("diffusion_models", BY_ROLE["i2v_low"].name),
            ("text_encoders", BY_ROLE["text_encoder"].name), ("vae", BY_ROLE["vae"].name),
            ("loras", BY_ROLE["lora_i2v_high"].name), ("loras", BY_ROLE["lora_i2v_low"].name)}
    listings = {f: [n for g, n in want if g == f] for f, _ in want}
    # 1. the inventory's check (CLI): the reader, judged on an empty volume
    rep = check_workflows(resolve(roots=[str(tmp_path)]), {"w": workflow_refs(API_I2V)})
    assert {(f.folder, f.name) for f in rep.files} == want
    # 2. the ComfyUI route: the same reader with the server's node types and listings
    assert names(API_I2V, object_info=known_info(), listings=listings) == want
    # 3. preflight against a server that lists none of them names every one
    text = "\n".join(preflight(API_I2V, pack_object_info()))
    assert all(n in text for _, n in want), text
    # 4. prefetch, in load order: text encoder and VAE when the bundle runs, then expert, LoRA per stage
    got = files_for_prompt(API_I2V, lambda f, n: f"/v/{f}/{n}", listings=listings)
    assert {(n.folder, n.name) for n in got} == want
    assert [n.name for n in got] == [BY_ROLE[r].name for r in ("text_encoder", "vae", "i2v_high", "lora_i2v_high",
                                                               "i2v_low", "lora_i2v_low")]
    # 5. fetch planning
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(API_I2V))
    roles, others = workflow_file_roles(str(path))
    assert {(BY_ROLE[r].folder, BY_ROLE[r].name) for r in roles} == want and others == []
