"""Model references of any workflow (wan22.graph.reader), without ComfyUI: ComfyUI's Wan 2.2 templates
(subgraphs, switches, primitives, the bypassed 4-step groups), nested subgraphs, bypassed and muted
loaders, primitives, loaders no output needs, custom loaders from other packs, this pack's nodes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from support.template_loads import EXPECTED, I2V, I2V_LORAS, UMT5, VAE21

from wan22.graph.packs import manager_map_candidates, pack_for
from wan22.graph.reader import workflow_refs
from wan22.graph.templates import WAN22_TEMPLATES, load_template, templates_available

REPO = Path(__file__).resolve().parents[2]
INFO = json.loads((REPO / "tests" / "fixtures" / "object_info_templates.json").read_text())
needs_templates = pytest.mark.skipif(templates_available() is not None, reason=str(templates_available()))



def files(refs: Any) -> set[tuple[str, str]]:
    return {(r.folder, r.name) for r in refs.refs}


@needs_templates
@pytest.mark.parametrize("name", WAN22_TEMPLATES)
def test_each_template_references_exactly_the_files_it_loads(name: str) -> None:
    for info in (None, INFO):  # our snapshot of ComfyUI's loaders, or a server's /object_info
        r = workflow_refs(load_template(name), object_info=info)
        assert files(r) == set(EXPECTED[name]), name
        assert not r.unknown and not r.notes
        for ref in r.refs:
            assert ref.url and ref.url.startswith("https://huggingface.co/") and ref.url.endswith(ref.name)
            assert ref.expects == {"diffusion_models": "diffusion_model", "loras": "lora", "vae": "vae",
                                   "clip_vision": "clip_vision", "audio_encoders": "audio_encoder",
                                   "text_encoders": "umt5_xxl"}[ref.folder]


@needs_templates
def test_template_refs_carry_execution_ids_inside_subgraphs() -> None:
    r = workflow_refs(load_template("video_wan2_2_14B_i2v"))
    unets = sorted((x.node, x.node_type, x.input, x.title) for x in r.refs if x.folder == "diffusion_models")
    assert unets == [("129:95", "UNETLoader", "unet_name", "Load Diffusion Model"),
                     ("129:96", "UNETLoader", "unet_name", "Load Diffusion Model")]


@needs_templates
def test_enabling_the_4step_group_swaps_in_its_loras() -> None:
    wf = copy.deepcopy(load_template("video_wan2_2_14B_flf2v"))
    for n in wf["nodes"]:  # swap which copy of the graph is enabled
        if n.get("mode") in (0, 4) and n["type"] not in ("Note", "MarkdownNote"):
            n["mode"] = 4 if n["mode"] == 0 else 0
    assert files(workflow_refs(wf)) == {*I2V, *I2V_LORAS, UMT5, VAE21}


# --------------------------------------------------------------------------- small graphs

def unet(nid: int, name: str, mode: int = 0, link_out: int | None = 1, models: list[dict[str, str]] | None = None,
         ntype: str = "UNETLoader", inputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": nid, "type": ntype, "mode": mode, "inputs": inputs or [],
            "outputs": [{"name": "MODEL", "type": "MODEL", "links": [link_out] if link_out else []}],
            "widgets_values": [name, "default"], "properties": {"models": models or []}}


def sampler(nid: int, link_in: int | None) -> dict[str, Any]:
    """A stand-in consumer: PreviewAny takes anything and is an output node."""
    return {"id": nid, "type": "PreviewAny", "mode": 0, "inputs": [{"name": "source", "type": "*", "link": link_in}],
            "outputs": [], "widgets_values": [], "properties": {}}


def graph(*nodes: dict[str, Any], links: list[list[Any]], subgraphs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"last_node_id": 99, "version": 0.4, "nodes": list(nodes), "links": links,
            "definitions": {"subgraphs": subgraphs or []}}


def test_bypassed_muted_and_unused_loaders_load_nothing() -> None:
    wf = graph(unet(1, "used.safetensors"), sampler(2, 1),
               unet(3, "bypassed.safetensors", mode=4, link_out=2), sampler(4, 2),
               unet(5, "muted.safetensors", mode=2, link_out=3), sampler(6, 3),
               unet(7, "dangling.safetensors", link_out=None),
               links=[[1, 1, 0, 2, 0, "MODEL"], [2, 3, 0, 4, 0, "MODEL"], [3, 5, 0, 6, 0, "MODEL"]])
    assert files(workflow_refs(wf)) == {("diffusion_models", "used.safetensors")}


def test_nested_subgraph_loader_takes_the_outer_instance_value() -> None:
    """A UNETLoader two subgraphs deep whose unet_name is promoted to the outermost instance."""
    inner = {"id": "in", "name": "In", "inputs": [{"id": "a", "name": "unet_name", "type": "COMBO", "linkIds": [1]}],
             "outputs": [{"id": "b", "name": "MODEL", "type": "MODEL", "linkIds": [2]}],
             "nodes": [unet(1, "inner_default.safetensors", inputs=[{"name": "unet_name", "type": "COMBO", "link": 1,
                                                                     "widget": {"name": "unet_name"}}], link_out=2)],
             "links": [{"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0, "type": "COMBO"},
                       {"id": 2, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "MODEL"}]}
    outer = {"id": "out", "name": "Out", "inputs": [{"id": "c", "name": "unet_name", "type": "COMBO", "linkIds": [3]}],
             "outputs": [{"id": "d", "name": "MODEL", "type": "MODEL", "linkIds": [4]}],
             "nodes": [{"id": 5, "type": "in", "mode": 0, "inputs": [{"name": "unet_name", "type": "COMBO", "link": 3,
                                                                      "widget": {"name": "unet_name"}}],
                        "outputs": [{"name": "MODEL", "type": "MODEL", "links": [4]}], "widgets_values": ["middle.safetensors"]}],
             "links": [{"id": 3, "origin_id": -10, "origin_slot": 0, "target_id": 5, "target_slot": 0, "type": "COMBO"},
                       {"id": 4, "origin_id": 5, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "MODEL"}]}
    top = {"id": 10, "type": "out", "mode": 0, "inputs": [{"name": "unet_name", "type": "COMBO", "link": None,
                                                            "widget": {"name": "unet_name"}}],
           "outputs": [{"name": "MODEL", "type": "MODEL", "links": [9]}], "widgets_values": ["outer_choice.safetensors"]}
    wf = graph(top, sampler(11, 9), links=[[9, 10, 0, 11, 0, "MODEL"]], subgraphs=[inner, outer])
    r = workflow_refs(wf)
    assert [(x.node, x.name) for x in r.refs] == [("10:5:1", "outer_choice.safetensors")]
    top["mode"] = 4  # a bypassed instance: nothing inside it runs
    assert workflow_refs(wf).refs == []


def test_a_primitive_node_decides_the_file() -> None:
    prim = {"id": 3, "type": "PrimitiveNode", "mode": 0, "inputs": [],
            "outputs": [{"name": "COMBO", "type": "COMBO", "links": [5], "widget": {"name": "unet_name"}}],
            "widgets_values": ["from_primitive.safetensors"], "properties": {}}
    loader = unet(1, "stale_widget_value.safetensors", inputs=[{"name": "unet_name", "type": "COMBO", "link": 5,
                                                                "widget": {"name": "unet_name"}}])
    wf = graph(prim, loader, sampler(2, 1), links=[[1, 1, 0, 2, 0, "MODEL"], [5, 3, 0, 1, 0, "COMBO"]])
    assert files(workflow_refs(wf)) == {("diffusion_models", "from_primitive.safetensors")}


def test_custom_loaders_from_other_packs() -> None:
    gguf = unet(1, "wan2.2_i2v_high_noise_14B_Q4_K_M.gguf", ntype="UnetLoaderGGUF")
    wrapper = unet(3, "Wan2_2-I2V-A14B-LOW_fp8_e4m3fn_scaled_KJ.safetensors", ntype="WanVideoModelLoader", link_out=2)
    wrapper["widgets_values"] = ["Wan2_2-I2V-A14B-LOW_fp8_e4m3fn_scaled_KJ.safetensors", "bf16", "disabled", "offload_device"]
    other = unet(5, "mystery.safetensors", ntype="MysteryLoader", link_out=3,
                 models=[{"name": "mystery.safetensors", "directory": "diffusion_models", "url": "https://example.org/mystery.safetensors"},
                         {"name": "not_selected.safetensors", "directory": "diffusion_models"}])
    wf = graph(gguf, sampler(2, 1), wrapper, sampler(4, 2), other, sampler(6, 3),
               links=[[1, 1, 0, 2, 0, "MODEL"], [2, 3, 0, 4, 0, "MODEL"], [3, 5, 0, 6, 0, "MODEL"]])
    r = workflow_refs(wf)
    got = {(x.node_type, x.folder, x.name, x.input, x.expects, x.url) for x in r.refs}
    assert got == {("UnetLoaderGGUF", "diffusion_models", "wan2.2_i2v_high_noise_14B_Q4_K_M.gguf", "unet_name", "diffusion_model", None),
                   ("WanVideoModelLoader", "diffusion_models", "Wan2_2-I2V-A14B-LOW_fp8_e4m3fn_scaled_KJ.safetensors", "model",
                    "diffusion_model", None),
                   ("MysteryLoader", "diffusion_models", "mystery.safetensors", "properties.models", "diffusion_model",
                    "https://example.org/mystery.safetensors")}
    packs = {u.type: (u.pack.name if u.pack else None) for u in r.unknown}
    assert packs == {"UnetLoaderGGUF": "ComfyUI-GGUF", "WanVideoModelLoader": "ComfyUI-WanVideoWrapper", "MysteryLoader": None}
    hint = next(u for u in r.unknown if u.type == "UnetLoaderGGUF").hint()
    assert "comfy node install ComfyUI-GGUF" in hint and "https://github.com/city96/ComfyUI-GGUF" in hint and "node 1" in hint


def test_a_loader_the_server_lists_a_model_folder_in_is_recognised() -> None:
    """With a live server: any combo whose options are a model folder's listing is a model input."""
    info = {**INFO, "FancyLoader": {"input": {"required": {"ckpt": [["a.safetensors", "b.safetensors"], {}], "mode": [["x", "y"], {}]}},
                                    "input_order": {"required": ["ckpt", "mode"]}, "output": ["MODEL"], "output_name": ["MODEL"]}}
    wf = graph(unet(1, "b.safetensors", ntype="FancyLoader"), sampler(2, 1), links=[[1, 1, 0, 2, 0, "MODEL"]])
    wf["nodes"][0]["widgets_values"] = ["b.safetensors", "y"]
    r = workflow_refs(wf, object_info=info, listings={"loras": ["a.safetensors", "b.safetensors", "c.safetensors"], "vae": []})
    assert [(x.folder, x.name, x.input) for x in r.refs] == [("loras", "b.safetensors", "ckpt")] and not r.unknown
    # a live server without a node type: it cannot run there
    info.pop("FancyLoader")
    assert [u.type for u in workflow_refs(wf, object_info=info).unknown] == ["FancyLoader"]


def test_api_prompts_primitive_links_and_names_outside_the_folders() -> None:
    prompt = {"1": {"class_type": "PrimitiveString", "inputs": {"value": "via_primitive.safetensors"}},
              "2": {"class_type": "UNETLoader", "inputs": {"unet_name": ["1", 0], "weight_dtype": "default"}},
              "3": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["2", 0], "lora_name": "../../etc/passwd.safetensors",
                                                                     "strength_model": 1.0}},
              "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}}}
    r = workflow_refs(prompt)
    assert r.format == "api" and files(r) == {("diffusion_models", "via_primitive.safetensors")}
    # ComfyUI refuses it: the input cannot be judged, and it blocks (named with its node and input)
    assert [(u.node, u.input) for u in r.unjudged] == [("3", "lora_name")]
    assert "../../etc/passwd.safetensors" in r.unjudged[0].why and "not a name inside a model folder" in r.unjudged[0].why
    assert workflow_refs({"prompt": prompt}).refs == r.refs


def test_this_packs_nodes_reference_their_catalog_files() -> None:
    r = workflow_refs(json.loads((REPO / "example_workflows" / "wan22_i2v_fast.json").read_text()))
    by_role = {x.role: (x.folder, x.name) for x in r.refs}
    assert by_role == {"i2v_high": I2V[0], "i2v_low": I2V[1], "text_encoder": UMT5, "vae": VAE21,
                       "lora_i2v_high": I2V_LORAS[0], "lora_i2v_low": I2V_LORAS[1]}
    assert not r.unknown


def test_manager_node_map_names_packs_the_table_does_not_know(tmp_path: Path) -> None:
    node_map = tmp_path / "extension-node-map.json"
    node_map.write_text(json.dumps({"https://github.com/someone/ComfyUI-Rare": [["RareLoader"], {"title_aux": "Rare nodes"}]}))
    assert pack_for("RareLoader") is None
    found = pack_for("RareLoader", [node_map])
    assert found is not None and found.name == "Rare nodes" and found.url == "https://github.com/someone/ComfyUI-Rare"
    comfy = tmp_path / "ComfyUI"
    (comfy / "custom_nodes" / "ComfyUI-Manager").mkdir(parents=True)
    (comfy / "custom_nodes" / "ComfyUI-Manager" / "extension-node-map.json").write_text(node_map.read_text())
    assert comfy / "custom_nodes" / "ComfyUI-Manager" / "extension-node-map.json" in manager_map_candidates(comfy)
