"""The mode table (wan22/data/modes.json -> wan22.plan.modes.ModeSpec): it loads, it matches the
presets, the catalog, ComfyUI's node definitions and docs/deploy.md, a bad row is refused naming
the mode and the field, and each table it replaced still reads the same values from it."""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from wan22.catalog import BY_ROLE
from wan22.errors import PlanError
from wan22.plan.modes import (
    FAMILY_MODES,
    MEDIA,
    MODE_BY_NAME,
    MODE_TABLE,
    MODES,
    MODES_FILE,
    MODES_TOOLTIP,
    check_bundle_inputs,
    family,
    load_modes,
    mode_spec,
)
from wan22.plan.presets import PRESET_TABLE, PRESETS_OF_MODE, SINGLE_MODEL_MODES

REPO = Path(__file__).resolve().parents[2]
OBJECT_INFO = json.loads((REPO / "tests" / "fixtures" / "object_info.json").read_text(encoding="utf-8"))


def _doc() -> dict[str, Any]:
    return json.loads(MODES_FILE.read_text(encoding="utf-8"))


def _row(doc: dict[str, Any], mode: str) -> dict[str, Any]:
    return next(r for r in doc["modes"] if r["mode"] == mode)


# ---------------------------------------------------------------- the table loads and fits

def test_the_file_is_the_table() -> None:
    media, table = load_modes(_doc())
    assert table == MODE_TABLE and media == MEDIA
    assert MODES == ("i2v", "t2v", "s2v", "animate", "flf2v", "ti2v", "animate2"), "the nodes' combo order"
    assert mode_spec("ti2v") is MODE_BY_NAME["ti2v"]
    with pytest.raises(PlanError, match=r"unknown mode 'i3v': use one of i2v, t2v, s2v, animate, flf2v, ti2v, animate2"):
        mode_spec("i3v")


def test_every_mode_of_the_presets_has_a_row_and_every_row_presets() -> None:
    assert {p.mode for p in PRESET_TABLE} == set(MODES)
    assert all(PRESETS_OF_MODE[m] and "quality" in PRESETS_OF_MODE[m] for m in MODES)


def test_every_preset_runs_its_mode_s_experts() -> None:
    for p in PRESET_TABLE:
        spec = mode_spec(p.mode)
        assert len(p.experts) == len(spec.experts), p
        assert all(r in roles for r, (_inp, roles) in zip(p.experts, spec.experts, strict=True)), p


def test_every_row_s_roles_are_catalog_files_of_the_input_s_folder() -> None:
    from wan22.plan.bundle_spec import INPUT_BY_NAME

    for spec in MODE_TABLE:
        for inp, role in [*((i, r) for i, rs in spec.experts for r in rs), ("text_encoder", spec.text_encoder),
                          ("vae", spec.vae), *spec.extras]:
            assert role in BY_ROLE and BY_ROLE[role].folder == INPUT_BY_NAME[inp].folder, (spec.mode, inp, role)
        for rule in spec.lora_rules:
            assert all(BY_ROLE[r].folder == "loras" for r in rule.roles), (spec.mode, rule)
        assert all(BY_ROLE[r].folder == "loras" for r, _why in spec.own_loras)


def test_every_row_s_nodes_and_inputs_are_comfyui_s() -> None:
    """Against a real server's /object_info snapshot: the size node takes width/height/length, the
    extend node a length, the end-image and optional image inputs are the size node's."""
    def inputs(node: str, kind: str | None = None) -> set[str]:
        spec = OBJECT_INFO[node]["input"]
        return {n for k, v in spec.items() if kind in (None, k) for n in v}

    for spec in MODE_TABLE:
        assert {"width", "height", "length"} <= inputs(spec.size_node), spec.mode
        if spec.extend_node:
            assert "length" in inputs(spec.extend_node), spec.mode
        if spec.end_image_input:
            assert spec.end_image_input in inputs(spec.size_node), spec.mode
        if spec.optional_image_input:
            assert spec.optional_image_input in inputs(spec.size_node, "optional"), spec.mode
    for key in MEDIA.values():
        assert key.loader in OBJECT_INFO, key


def test_the_deploy_doc_s_media_table_is_the_rows() -> None:
    doc = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    rows = [line for line in doc.splitlines() if re.match(r"^\| `[a-z0-9]+` \(`", line)]
    seen = {}
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        mode, *ids = re.findall(r"`([^`]+)`", cells[0])
        keys = [[k for k in re.findall(r"`([^`]+)`", c) if k in MEDIA] for c in cells[1:3]]
        seen[mode] = (tuple(ids), tuple(keys[0]), tuple(keys[1]))
    want = {m.mode: (tuple(p.workflow_id for p in PRESET_TABLE if p.mode == m.mode), m.needs, m.may)
            for m in MODE_TABLE}
    assert seen == want, "docs/deploy.md's media table differs from wan22/data/modes.json"


def test_the_readme_s_media_table_is_the_rows() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8").split("### Serverless worker jobs", 1)[1]
    seen: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    table = text.split("| mode | needs | may take |", 1)[1].split("\n\n", 1)[0]
    for line in table.strip().splitlines()[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        keys = [tuple(k for k in re.findall(r"`([^`]+)`", c) if k in MEDIA) for c in cells[1:3]]
        for mode in (m for m in re.findall(r"`([^`]+)`", cells[0]) if m in MODES):
            assert mode not in seen, f"README: mode {mode} has two rows"
            seen[mode] = (keys[0], keys[1])
    assert seen == {m.mode: (m.needs, m.may) for m in MODE_TABLE}, "README's media table differs from modes.json"


def test_the_bundle_loader_s_mode_tooltip_and_doc_name_every_row() -> None:
    """The tooltip is built from the rows (the hand-written one had lost flf2v); the node's help
    page (js/docs) lists each mode with its row's title."""
    mode_input = OBJECT_INFO["Wan22BundleLoader"]["input"]["required"]["mode"]
    assert mode_input[1]["tooltip"] == MODES_TOOLTIP
    assert [part.split(":", 1)[0] for part in MODES_TOOLTIP.split(" · ")] == list(MODES)
    doc = (REPO / "js" / "docs" / "Wan22BundleLoader.md").read_text(encoding="utf-8")
    row = next(line for line in doc.splitlines() if line.startswith("| `mode` |"))
    for m in MODE_TABLE:
        assert f"`{m.mode}` {m.title.split(' (')[0]}" in row, f"js/docs/Wan22BundleLoader.md: the mode row lacks {m.mode}"


# ---------------------------------------------------------------- a bad row names the mode and field

@pytest.mark.parametrize("edit,needle", [
    (lambda r: r.pop("vae"), "missing fields ['vae']"),
    (lambda r: r.update(vea="vae"), "unknown fields ['vea']"),
    (lambda r: r.pop("title"), "missing fields ['title']"),
    (lambda r: r.update(title=""), "'title' must be a non-empty string"),
    (lambda r: r.update(vae="vae23"), "'vae' names 'vae23', which is not a catalog role"),
    (lambda r: r.update(experts={"high_noise_model": "i2v_high", "low_noise_model": "i2v_medium"}),
     "'experts.low_noise_model' names 'i2v_medium'"),
    (lambda r: r.update(extras={"clip_vision": "clip_vison"}), "'extras.clip_vision' names 'clip_vison'"),
    (lambda r: r.update(needs=["picture"]), "'needs' names 'picture', which is not a media key"),
    (lambda r: r.update(may=["image"]), "a media key is in both 'needs' and 'may'"),
    (lambda r: r.pop("boundary"), "'family' and 'boundary' are for two-expert modes only"),
    (lambda r: r.update(boundary=1.5), "'boundary' must be a number between 0 and 1"),
    (lambda r: r.update(side_multiple=12), "'side_multiple' must be a whole multiple of 8"),
    (lambda r: r.update(chunked_audio="yes"), "'chunked_audio' must be true or false"),
    (lambda r: r.update(size_node=""), "'size_node' must be a non-empty string"),
    (lambda r: r.update(lora_rules=[{"refuse": "a LoRA; use {lora_x}", "noise": "low"}]),
     "'lora_rules.refuse' names 'lora_x'"),
    (lambda r: r.update(lora_rules=[{"refuse": "a LoRA"}]), "a LoRA rule is"),
    (lambda r: r.update(lora_rules=[{"refuse": "x", "noise": "mid"}]), "'lora_rules.noise' must be one of"),
    (lambda r: r.update(lora_rules=[{"refuse": "x", "catalog": "yes"}]), "'lora_rules.catalog' is true or false"),
    (lambda r: r.update(own_loras={"lora_relight": "why"}), "'own_loras' names 'lora_relight'"),
])
def test_a_bad_row_names_the_mode_and_field(edit: Any, needle: str) -> None:
    doc = _doc()
    edit(_row(doc, "i2v"))
    with pytest.raises(PlanError) as e:
        load_modes(doc)
    assert "modes.json: mode 'i2v'" in str(e.value) and needle in str(e.value), e.value


def test_a_second_row_and_a_bad_media_key_are_refused() -> None:
    doc = _doc()
    doc["modes"].append(copy.deepcopy(doc["modes"][0]))
    with pytest.raises(PlanError, match="mode 'i2v': a second row for this mode"):
        load_modes(doc)
    doc = _doc()
    doc["media"]["image"] = {"kind": "picture", "loader": "LoadImage"}
    with pytest.raises(PlanError, match=r"modes.json: media key 'image': must be"):
        load_modes(doc)


def test_a_row_naming_an_input_the_bundle_loader_lacks_is_refused() -> None:
    from wan22.plan.bundle_spec import BUNDLE_INPUTS

    doc = _doc()
    _row(doc, "s2v")["extras"] = {"wav2vec": "audio_encoder"}
    _media, table = load_modes(doc)
    folders = {i.name: i.folder for i in BUNDLE_INPUTS}
    with pytest.raises(PlanError, match=r"mode 's2v': 'extras' names input 'wav2vec', which Wan22BundleLoader does not"):
        check_bundle_inputs(table, folders)
    _row(doc, "s2v")["extras"] = {"clip_vision": "audio_encoder"}
    _media, table = load_modes(doc)
    with pytest.raises(PlanError, match=r"mode 's2v': 'extras' puts 'audio_encoder' \(a audio_encoders file\)"):
        check_bundle_inputs(table, folders)


def test_a_preset_on_another_mode_s_experts_is_refused() -> None:
    from wan22.plan.presets import PRESETS_FILE, load_presets

    doc = json.loads(PRESETS_FILE.read_text(encoding="utf-8"))
    row = next(r for r in doc["presets"] if (r["mode"], r["preset"]) == ("flf2v", "quality"))
    row["experts"] = ["t2v_high", "t2v_low"]
    with pytest.raises(PlanError, match=r"row \d+ \(flf2v/quality\): 'experts' must be mode flf2v's"):
        load_presets(doc)


# ---------------------------------------------------------------- the tables it replaced

def test_expert_family_and_boundary_are_the_former_tables() -> None:
    assert {m.mode: m.family for m in MODE_TABLE if m.family} == {"i2v": "i2v", "t2v": "t2v", "flf2v": "i2v"}
    assert {m.mode: m.boundary for m in MODE_TABLE if m.boundary} == {"i2v": 0.900, "t2v": 0.875, "flf2v": 0.900}
    assert FAMILY_MODES == ("i2v", "t2v", "flf2v") and family("s2v") is None and family("nope") is None
    assert SINGLE_MODEL_MODES == ("s2v", "animate", "ti2v", "animate2")


def test_vae_extras_and_bundle_roles_are_the_former_tables() -> None:
    from wan22.plan.bundle_spec import ALSO_ROLES, BUNDLE_INPUTS

    assert {m.mode: m.vae for m in MODE_TABLE if m.vae != "vae"} == {"ti2v": "vae22", "animate2": "vae_bf16"}
    assert {m.mode: m.extra_roles for m in MODE_TABLE if m.extra_roles} == {
        "s2v": ("audio_encoder",), "animate": ("clip_vision",), "animate2": ("clip_vision",)}
    assert ALSO_ROLES == {("model", "animate2"): ("animate2_distill",)}
    roles = {i.name: dict(i.roles) for i in BUNDLE_INPUTS}
    assert roles["high_noise_model"] == {"i2v": "i2v_high", "t2v": "t2v_high", "flf2v": "i2v_high"}
    assert roles["low_noise_model"] == {"i2v": "i2v_low", "t2v": "t2v_low", "flf2v": "i2v_low"}
    assert roles["model"] == {"s2v": "s2v", "animate": "animate", "ti2v": "ti2v5b", "animate2": "animate2"}
    assert roles["text_encoder"] == dict.fromkeys(MODES, "text_encoder")
    assert roles["clip_vision"] == {"animate": "clip_vision", "animate2": "clip_vision"}
    assert roles["audio_encoder"] == {"s2v": "audio_encoder"}


def test_media_keys_kinds_and_side_multiples_are_the_former_tables() -> None:
    from wan22.serverless.jobs import TYPED_KEYS

    assert {m.mode: (m.needs, m.may) for m in MODE_TABLE} == {
        "i2v": (("image",), ()), "t2v": ((), ()), "s2v": (("image", "audio"), ()), "animate": (("image", "video"), ()),
        "flf2v": (("image", "end_image"), ()), "ti2v": ((), ("image",)), "animate2": (("image", "video"), ())}
    assert {k: (m.kind, m.loader) for k, m in MEDIA.items()} == {
        "image": ("image", "LoadImage"), "end_image": ("image", "LoadImage"), "audio": ("audio", "LoadAudio"),
        "video": ("video", "LoadVideo")}
    assert {m.mode: m.side_multiple for m in MODE_TABLE if m.side_multiple != 16} == {"ti2v": 32}
    assert TYPED_KEYS[:5] == ("workflow", "image", "end_image", "audio", "video")


def test_node_tables_are_the_former_ones() -> None:
    from wan22.api import edits
    from wan22.serverless import build

    assert set(edits.SIZE_NODES) == {"WanImageToVideo", "WanFirstLastFrameToVideo", "WanSoundImageToVideo",
                                     "WanAnimateToVideo", "EmptyHunyuanLatentVideo", "Wan22ImageToVideoLatent",
                                     "WanAnimate2ToVideo"}
    assert set(edits.LENGTH_NODES) == {*edits.SIZE_NODES, "WanSoundImageToVideoExtend"}
    assert set(edits.LATENT_SOURCES) == {"WanImageToVideo", "WanFirstLastFrameToVideo", "WanSoundImageToVideo",
                                         "WanSoundImageToVideoExtend", "EmptyHunyuanLatentVideo",
                                         "Wan22ImageToVideoLatent"}
    assert edits.REFERENCE_NODES == ("WanAnimateToVideo", "WanAnimate2ToVideo")
    assert edits.EXTRA_VIDEO_NODES == ("EmptyHunyuanLatentVideo",)
    assert build.OPTIONAL_IMAGE_INPUTS == {("Wan22ImageToVideoLatent", "start_image")}
    assert {m.mode: m.end_image_input for m in MODE_TABLE if m.end_image_input} == {"flf2v": "end_image"}
    assert [m.mode for m in MODE_TABLE if m.chunked_audio] == ["s2v"] and mode_spec("s2v").extend_node
    assert [m.mode for m in MODE_TABLE if m.pose_cache] == ["animate2"]


@pytest.mark.parametrize("mode,lora,needle", [
    ("s2v", "lora_i2v_480p", "is an I2V LoRA; S2V's 4-step LoRA is"),
    ("s2v", "lora_t2v_low", "is a low-noise LoRA; S2V's 4-step LoRA is the high-noise"),
    ("animate", "lora_i2v_high", "is a Wan 2.2 Lightning expert LoRA; Animate uses "
                                 "lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors"),
    ("ti2v", "lora_i2v_480p", "is a LoRA for the Wan 14B models and does not fit the TI2V 5B model"),
    ("i2v", "lora_animate_relight", "is the Animate relight LoRA and only fits the Animate model"),
    ("t2v", "lora_i2v_high", "is a I2V LoRA but the high-noise expert is T2V"),
])
def test_lora_rules_refuse_as_the_former_branches(mode: str, lora: str, needle: str) -> None:
    from wan22.plan.routing import PlanLora, _pairing_problems

    got = _pairing_problems(mode, "high", (), PlanLora(lora, BY_ROLE[lora].name, 1.0))
    assert any(needle in g for g in got), got


def test_lora_rules_let_the_right_loras_through() -> None:
    from wan22.plan.routing import PlanLora, _pairing_problems

    for mode, lora in (("s2v", "lora_t2v_high"), ("animate", "lora_i2v_480p"), ("animate", "lora_animate_relight")):
        assert _pairing_problems(mode, "single", (), PlanLora(lora, BY_ROLE[lora].name, 1.0)) == []
    assert _pairing_problems("ti2v", "single", (), PlanLora(None, "my_5b_style.safetensors", 1.0)) == []
    assert _pairing_problems("ti2v", "single", (), PlanLora(None, "style_14B.safetensors", 1.0))


# ---------------------------------------------------------------- no branch on a mode's name

def _mode_name_checks(path: Path) -> list[str]:
    """Comparisons of a `...mode` name or attribute with a mode's name (`mode == "s2v"`,
    `job.mode in ("ti2v", ...)`)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        named = any(isinstance(s, ast.Name) and s.id.endswith("mode") or isinstance(s, ast.Attribute)
                    and s.attr.endswith("mode") for s in sides)
        consts = [c.value for s in sides for c in ast.walk(s) if isinstance(c, ast.Constant)]
        if named and any(c in MODES for c in consts):
            out.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return out


def test_no_code_branches_on_a_mode_s_name() -> None:
    """A mode fact is a field of its row: production code keys on the field, not on the name."""
    files = [*(REPO / "wan22").rglob("*.py"), *(REPO / "nodes").glob("*.py")]
    bad = [hit for f in files if "demo" not in f.parts for hit in _mode_name_checks(f)]
    assert not bad, "branches on a mode's name (key them on a wan22.plan.modes.ModeSpec field): " + ", ".join(bad)
