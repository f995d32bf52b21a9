"""Example workflows without ComfyUI: the UI files convert to their API twins with the
frontend's rules (against the checked-in /object_info snapshot), they validate, they are what
the generator produces, and the documented test/demo transformations do what they say."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from wan22.api.edits import expected_frames, positive_text_nodes, strip_seeds, tiny_overrides, use_precomputed_conditioning
from wan22.api.preflight import preflight, validate_ui
from wan22.catalog import BY_NAME
from wan22.errors import WorkflowError
from wan22.graph.convert import load_prompt_file, ui_to_api
from wan22.graph.widgets import named_widget_values, widget_layout, widgets_values_from_names
from wan22.plan.presets import WORKFLOW_IDS, get_preset

REPO = Path(__file__).resolve().parents[2]
EX = REPO / "example_workflows"
SNAPSHOT = json.loads((REPO / "tests" / "fixtures" / "object_info.json").read_text())
STEMS = sorted(p.stem for p in EX.glob("*.json"))
VIDEO_STEMS = [s for s in STEMS if s != "wan22_volume_check"]


def _gen() -> Any:
    if "gen_workflows" not in sys.modules:
        spec = importlib.util.spec_from_file_location("gen_workflows", REPO / "tools" / "gen_workflows.py")
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        sys.modules["gen_workflows"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["gen_workflows"]


def ui(stem: str) -> dict[str, Any]:
    return json.loads((EX / f"{stem}.json").read_text())


def api(stem: str) -> dict[str, Any]:
    return json.loads((EX / "api" / f"{stem}.json").read_text())


def of_type(prompt: dict[str, Any], ctype: str) -> list[dict[str, Any]]:
    return [n for n in prompt.values() if n["class_type"] == ctype]


# ----------------------------------------------------------------------------- coverage

def test_one_workflow_per_mode_and_preset_plus_volume_check() -> None:
    gen = _gen()
    ids = [wid for wid, _ in gen.WORKFLOWS]
    assert sorted(ids) == sorted([*WORKFLOW_IDS, "volume_check"])
    for wid in ids:
        stem = gen.stem_of(wid)
        assert (EX / f"{stem}.json").is_file(), stem
        assert (EX / f"{stem}.jpg").is_file(), stem
        assert (EX / "api" / f"{stem}.json").is_file(), stem
    assert sorted(p.stem for p in (EX / "api").glob("*.json")) == STEMS


def test_checked_in_files_are_what_the_generator_writes(capsys: pytest.CaptureFixture[str]) -> None:
    rc = _gen().main(["--check"])
    assert rc == 0, "run `python tools/gen_workflows.py`:\n" + capsys.readouterr().out


@pytest.mark.parametrize("stem", STEMS)
def test_thumbnail_is_a_jpeg_card(stem: str) -> None:
    from PIL import Image

    with Image.open(EX / f"{stem}.jpg") as im:
        assert im.format == "JPEG"
        assert im.size == (512, 384)


# ----------------------------------------------------------------------------- equivalence UI == API

@pytest.mark.parametrize("stem", STEMS)
def test_ui_converts_to_its_api_twin(stem: str) -> None:
    assert strip_seeds(ui_to_api(ui(stem), SNAPSHOT)) == strip_seeds(api(stem))


@pytest.mark.parametrize("stem", STEMS)
def test_ui_validates_against_snapshot(stem: str) -> None:
    assert validate_ui(ui(stem), SNAPSHOT) == []


@pytest.mark.parametrize("stem", STEMS)
def test_api_twin_passes_preflight_against_snapshot(stem: str) -> None:
    assert preflight(api(stem), SNAPSHOT) == []


def test_snapshot_covers_every_node_type_used() -> None:
    used = {n["type"] for s in STEMS for n in ui(s)["nodes"]} - {"MarkdownNote", "Note"}
    assert used <= set(SNAPSHOT)
    assert {"LoadTrainingDataset", "CLIPTextEncode"} <= set(SNAPSHOT)


# ----------------------------------------------------------------------------- UI format contract

@pytest.mark.parametrize("stem", STEMS)
def test_ui_save_format(stem: str) -> None:
    wf = ui(stem)
    assert wf["version"] == 0.4
    assert wf["last_node_id"] == max(n["id"] for n in wf["nodes"])
    assert wf["last_link_id"] == max(link[0] for link in wf["links"])
    assert {"groups", "config", "extra"} <= set(wf)
    for n in wf["nodes"]:
        assert {"id", "type", "pos", "size", "flags", "order", "mode", "properties"} <= set(n), n["id"]
        assert len(n["pos"]) == 2 and len(n["size"]) == 2
        if n["type"] != "MarkdownNote":
            assert n["properties"]["Node name for S&R"] == n["type"]
            for i, out in enumerate(n["outputs"]):
                assert out["slot_index"] == i
    for link in wf["links"]:
        assert len(link) == 6
    orders = sorted(n["order"] for n in wf["nodes"])
    assert orders == list(range(len(wf["nodes"])))
    notes = [n for n in wf["nodes"] if n["type"] == "MarkdownNote"]
    assert notes and "**Change:**" in notes[0]["widgets_values"][0]


@pytest.mark.parametrize("stem", VIDEO_STEMS)
def test_every_video_workflow_ends_in_savevideo_mp4(stem: str) -> None:
    p = api(stem)
    saves = of_type(p, "SaveVideo")
    assert len(saves) == 1
    assert saves[0]["inputs"]["format"] == "mp4"
    assert saves[0]["inputs"]["filename_prefix"].startswith("wan22/")
    assert of_type(p, "CreateVideo")


@pytest.mark.parametrize("stem", VIDEO_STEMS)
def test_loaders_carry_models_for_the_missing_models_dialog(stem: str) -> None:
    wf = ui(stem)
    for n in wf["nodes"]:
        if n["type"] not in ("Wan22BundleLoader", "Wan22ModeRouter"):
            continue
        models = n["properties"].get("models", [])
        file_values = [v for v in n["widgets_values"] if isinstance(v, str) and v.endswith(".safetensors")]
        assert {m["name"] for m in models} >= set(file_values), n["type"]
        for m in models:
            cat = BY_NAME[m["name"]]
            assert (m["url"], m["directory"]) == (cat.url, cat.folder)
            assert m["url"].startswith("https://huggingface.co/")
    bundle = next(n for n in wf["nodes"] if n["type"] == "Wan22BundleLoader")
    assert bundle["properties"]["models"], "the bundle loader names its files"


@pytest.mark.parametrize("stem", VIDEO_STEMS)
def test_router_settings_match_the_file_name(stem: str) -> None:
    _, mode, preset = stem.split("_", 2)
    r = of_type(api(stem), "Wan22ModeRouter")[0]["inputs"]
    b = of_type(api(stem), "Wan22BundleLoader")[0]["inputs"]
    assert (r["mode"], r["preset"], b["mode"]) == (mode, preset, mode)
    assert (r["steps"], r["cfg"], r["shift"], r["split_step"]) == (0, 0.0, 0.0, -1)  # the preset decides
    assert r["relight"] is True
    p = get_preset(mode, preset)
    first = p.loras[0][0].role if p.loras[0] else None
    assert (r["lora_high"] == "auto") == (first is None)


@pytest.mark.parametrize("stem", VIDEO_STEMS)
def test_prompts_are_real_text_encoders_with_the_official_negative(stem: str) -> None:
    p = api(stem)
    texts = of_type(p, "CLIPTextEncode")
    assert len(texts) == 2
    pos = positive_text_nodes(p)
    assert len(pos) == 1
    neg = [t for k, t in p.items() if t["class_type"] == "CLIPTextEncode" and k not in pos]
    assert neg[0]["inputs"]["text"].startswith("色调艳丽，过曝，静态")


# ----------------------------------------------------------------------------- frame rules

REAL_FRAMES = {"i2v": 81, "t2v": 81, "s2v": 157, "animate": 77, "flf2v": 81,
               "ti2v": 121,  # ti2v: the template's 121 frames (31 latent frames) at 24 fps
               "animate2": 81}  # animate2: the templates' 81-frame segment (reference frame trimmed)


@pytest.mark.parametrize("stem", VIDEO_STEMS)
def test_expected_frames_at_real_and_tiny_sizes(stem: str) -> None:
    mode = stem.split("_")[1]
    p = api(stem)
    assert expected_frames(p) == REAL_FRAMES[mode]
    tiny = tiny_overrides(p, 64, 64, 9)
    assert expected_frames(tiny) == {"i2v": 9, "t2v": 9, "s2v": 21, "animate": 9, "flf2v": 9, "ti2v": 9,
                                     "animate2": 9}[mode]
    assert expected_frames(tiny_overrides(p, length=12)) == expected_frames(tiny_overrides(p, length=9))  # 4n+1 rounding


def test_s2v_real_graph_matches_the_audio_chunk_plan() -> None:
    from wan22.audio.frames import frame_plan

    p = api("wan22_s2v_fast")
    prep = of_type(p, "Wan22S2VAudioPrep")[0]["inputs"]
    plan = frame_plan(prep["max_seconds"], prep["fps"], prep["chunk_length"])
    assert plan.chunks == 1 + len(of_type(p, "WanSoundImageToVideoExtend"))
    assert plan.frames == expected_frames(p)


# ----------------------------------------------------------------------------- transformations

def test_tiny_overrides_sizes_everything_and_leaves_links() -> None:
    p = api("wan22_s2v_fast")
    t = tiny_overrides(p, 64, 48, 9, steps=4)
    assert p != t and api("wan22_s2v_fast") == p  # a copy
    for n in t.values():
        ins = n["inputs"]
        if n["class_type"] in ("WanSoundImageToVideo",):
            assert (ins["width"], ins["height"], ins["length"]) == (64, 48, 9)
        if n["class_type"] == "WanSoundImageToVideoExtend":
            assert ins["length"] == 9
        if n["class_type"] == "Wan22S2VAudioPrep":
            assert ins["chunk_length"] == 9
        if n["class_type"] == "Wan22ModeRouter":
            assert ins["steps"] == 4
    linked = tiny_overrides(api("wan22_animate_fast"))
    trim = of_type(linked, "TrimVideoLatent")[0]["inputs"]["trim_amount"]
    assert isinstance(trim, list)  # still linked to WanAnimateToVideo.trim_latent


@pytest.mark.parametrize("stem", VIDEO_STEMS)
def test_precomputed_conditioning_replaces_only_the_text_encoders(stem: str) -> None:
    p = api(stem)
    pos = positive_text_nodes(p)[0]
    q = use_precomputed_conditioning(p)
    assert not of_type(q, "CLIPTextEncode")
    assert q[pos] == {"class_type": "LoadTrainingDataset", "inputs": {"folder_name": "wan22_demo_positive"},
                      "_meta": q[pos]["_meta"]}
    loads = of_type(q, "LoadTrainingDataset")
    assert sorted(n["inputs"]["folder_name"] for n in loads) == ["wan22_demo_negative", "wan22_demo_positive"]
    for k, n in q.items():
        for name, v in n["inputs"].items():
            if isinstance(v, list) and q[v[0]]["class_type"] == "LoadTrainingDataset":
                assert v[1] == 1 and name in ("positive", "negative"), (k, name)
    assert set(q) == set(p)
    assert preflight(q, SNAPSHOT) == []


# ----------------------------------------------------------------------------- converter rules

def test_converter_drops_notes_and_muted_nodes_and_keeps_frontend_only_widgets_out() -> None:
    wf = ui("wan22_i2v_fast")
    p = ui_to_api(wf, SNAPSHOT)
    assert not [n for n in p.values() if n["class_type"] in ("MarkdownNote", "Note")]
    sampler = of_type(p, "Wan22MoESampler")[0]["inputs"]
    assert "control_after_generate" not in sampler
    assert "upload" not in of_type(p, "LoadImage")[0]["inputs"]
    save = of_type(p, "SaveVideo")[0]["inputs"]
    assert (save["format"], save["format.codec"], save["codec"]) == ("mp4", "auto", "auto")
    muted = copy.deepcopy(wf)
    next(n for n in muted["nodes"] if n["type"] == "SaveVideo")["mode"] = 2
    q = ui_to_api(muted, SNAPSHOT)
    assert not of_type(q, "SaveVideo") and len(q) == len(p) - 1


def test_converter_follows_reroutes_and_bypassed_nodes() -> None:
    wf = copy.deepcopy(ui("wan22_i2v_fast"))
    dec = next(n for n in wf["nodes"] if n["type"] == "VAEDecode")
    link = next(lk for lk in wf["links"] if lk[3] == dec["id"] and lk[4] == 0)  # latent -> VAEDecode.samples
    rid = wf["last_node_id"] + 1
    wf["nodes"].append({"id": rid, "type": "Reroute", "pos": [0, 0], "size": [75, 26], "flags": {}, "order": 99, "mode": 0,
                        "inputs": [{"name": "", "type": "*", "link": link[0]}],
                        "outputs": [{"name": "", "type": "LATENT", "links": [999]}], "properties": {}})
    wf["links"].append([999, rid, 0, dec["id"], 0, "LATENT"])
    link[3], link[4] = rid, 0
    dec["inputs"][0]["link"] = 999
    p = ui_to_api(wf, SNAPSHOT)
    assert p[str(dec["id"])]["inputs"]["samples"] == [str(link[1]), link[2]]
    # bypassing the MoE sampler hands WanImageToVideo's latent straight to the decoder
    sampler = next(n for n in wf["nodes"] if n["type"] == "Wan22MoESampler")
    sampler["mode"] = 4
    q = ui_to_api(wf, SNAPSHOT)
    i2v = next(n for n in wf["nodes"] if n["type"] == "WanImageToVideo")
    assert q[str(dec["id"])]["inputs"]["samples"] == [str(i2v["id"]), 2]


def test_widget_order_round_trips_with_dynamic_combo_children() -> None:
    d = SNAPSHOT["SaveVideo"]
    values = widgets_values_from_names(d, {"filename_prefix": "x", "format": "mp4", "format.codec": "h264"})
    assert values == ["x", "mp4", "h264", "auto", "auto"]  # h264 adds format.codec.encoding
    assert named_widget_values(d, values) == {"filename_prefix": "x", "format": "mp4", "format.codec": "h264",
                                              "format.codec.encoding": "auto", "codec": "auto"}
    s = SNAPSHOT["Wan22MoESampler"]
    assert widgets_values_from_names(s, {"seed": 7, "seed:control_after_generate": "fixed"}) == [7, "fixed"]


def test_wrong_widget_count_converts_as_the_frontend_does_and_is_reported() -> None:
    """The frontend restores widgets by position and keeps the default of a widget past the end
    of a short widgets_values (the official templates rely on it: their CreateVideo nodes predate
    `bit_depth`); the converter does the same, and validate_ui / check_widget_counts name the node."""
    from wan22.graph.convert import check_widget_counts

    wf = copy.deepcopy(ui("wan22_i2v_fast"))
    router = next(n for n in wf["nodes"] if n["type"] == "Wan22ModeRouter")
    last = list(named_widget_values(SNAPSHOT["Wan22ModeRouter"], router["widgets_values"]))[-1]
    router["widgets_values"][-1] = "i2v_1022"  # the last widget (lightning), so that the default differs from the saved value
    n = len(router["widgets_values"])
    full = ui_to_api(wf, SNAPSHOT)[str(router["id"])]["inputs"]
    default = {w.name: w.default for w, _ in widget_layout(SNAPSHOT["Wan22ModeRouter"], lambda w: w.default)}[last]
    router["widgets_values"] = router["widgets_values"][:-1]
    short = ui_to_api(wf, SNAPSHOT)[str(router["id"])]["inputs"]
    assert full[last] != default and short == {**full, last: default}
    assert any("Wan22ModeRouter" in p for p in validate_ui(wf, SNAPSHOT))
    assert [p for p in check_widget_counts(wf, SNAPSHOT) if re.search(rf"node \d+ \(Wan22ModeRouter\).*{n} widgets", p)]


def test_validate_ui_finds_bad_values_types_and_links() -> None:
    wf = copy.deepcopy(ui("wan22_i2v_fast"))
    nodes = {n["type"]: n for n in wf["nodes"]}
    nodes["WanImageToVideo"]["widgets_values"][0] = 99999  # width above max
    nodes["Wan22ModeRouter"]["widgets_values"][1] = "turbo"  # not a preset
    nodes["Wan22MoESampler"]["widgets_values"][1] = "sometimes"
    nodes["VAEDecode"]["type"] = "VAEDecodeMagic"
    img_link = next(lk for lk in wf["links"] if lk[1] == nodes["LoadImage"]["id"])
    img_link[2] = 1  # MASK into start_image (IMAGE)
    problems = "\n".join(validate_ui(wf, SNAPSHOT))
    assert "width: 99999 is above the maximum" in problems
    assert "'turbo' is not one of" in problems
    assert "control_after_generate 'sometimes'" in problems
    assert "VAEDecodeMagic): node type is not on this server" in problems
    assert "start_image' (IMAGE) is linked to output 'MASK' (MASK)" in problems


def test_load_prompt_file_accepts_api_ui_and_wrapped_forms() -> None:
    p = api("wan22_i2v_fast")
    assert load_prompt_file(p) == ("api", p)
    assert load_prompt_file({"prompt": p}) == ("api", p)
    assert load_prompt_file({"input": {"workflow": p}}) == ("api", p)
    assert load_prompt_file(ui("wan22_i2v_fast"))[0] == "ui"
    with pytest.raises(WorkflowError, match="not a ComfyUI workflow"):
        load_prompt_file({"hello": 1})
