"""Issue 16, Wan Animate 2: the `animate2` mode's presets against the official templates, the catalog
entries, the header identity (Animate 2 vs Animate 1 vs the I2V experts, int8 ConvRot as ComfyUI
detects it), the wrong-model findings, the bundle's one `model` input for two preset files, the
int8 ConvRot writer against comfy_kitchen's own quantizer, the demo-volume stand-ins and the plan CLI.

The template checks read the installed comfyui-workflow-templates package; they skip without it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from wan22.catalog import BY_ROLE, GIB
from wan22.demo.demo_volume import (
    ANIMATE2_CONFIG,
    ANIMATE2_EXTRA,
    make_demo_volume,
    make_sparse_volume,
    sparse_metadata_for,
    sparse_tensors_for,
    write_sparse,
)
from wan22.demo.int8_convrot import hadamard, int8_convrot
from wan22.errors import MissingFilesError
from wan22.plan.bundle_spec import resolve_bundle
from wan22.plan.modes import MODES, mode_spec
from wan22.plan.overrides import Overrides
from wan22.plan.presets import PRESETS_OF_MODE, WORKFLOW_IDS, get_preset
from wan22.plan.routing import resolve
from wan22.volume.checks import check_model_file
from wan22.volume.identify import identify
from wan22.volume.inventory import run_inventory
from wan22.volume.roots import resolve as resolve_roots
from wan22.volume.safetensors_header import build_header, parse_header

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = {"quality": "video_wan_animate2.json", "distilled": "video_wan_animate2_distilled.json"}


def _template(preset: str) -> dict[str, Any]:
    spec = importlib.util.find_spec("comfyui_workflow_templates_json")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("comfyui-workflow-templates is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "templates" / TEMPLATES[preset]
    if not path.exists():
        pytest.skip(f"{path.name} is not in this templates version")
    return dict(json.loads(path.read_text()))


def _motion_transfer(doc: dict[str, Any]) -> dict[str, list[Any]]:
    """class_type -> widgets_values of the template's (first) Motion Transfer subgraph."""
    sub = next(s for s in doc["definitions"]["subgraphs"] if s["name"].startswith("Motion Transfer"))
    out: dict[str, list[Any]] = {}
    for n in sub["nodes"]:
        out.setdefault(n["type"], n.get("widgets_values") or [])
    return out


def _header(tensors: list[tuple[str, str, tuple[int, ...]]], metadata: dict[str, str] | None = None) -> Any:
    raw, _ = build_header(tensors, metadata)
    return parse_header(raw[8:], "mem.safetensors", len(raw) + 10**12)


# ------------------------------------------------------------------ presets against the templates

@pytest.mark.parametrize("preset", ["quality", "distilled"])
def test_presets_are_the_template_runs(preset: str) -> None:
    nodes = _motion_transfer(_template(preset))
    p = get_preset("animate2", preset)
    steps = nodes["BasicScheduler"]  # [scheduler, steps, denoise]
    assert (p.scheduler, p.steps) == (steps[0], steps[1]) and steps[2] == 1
    assert p.sampler == nodes["KSamplerSelect"][0] == "lcm"
    assert p.shift == nodes["ModelSamplingSD3"][0] == 5
    assert p.cfg == nodes["SamplerCustom"][3] == 1  # [add_noise, seed, control, cfg]
    assert BY_ROLE[p.experts[0]].name == nodes["UNETLoader"][0]
    loras = [BY_ROLE[u.role].name for u in p.loras[0]]
    assert loras == ([nodes["LoraLoaderModelOnly"][0]] if "LoraLoaderModelOnly" in nodes else [])
    assert BY_ROLE[mode_spec("animate2").vae].name == nodes["VAELoader"][0]
    assert BY_ROLE["clip_vision"].name == nodes["CLIPVisionLoader"][0] and mode_spec("animate2").extra_roles == ("clip_vision",)
    assert BY_ROLE["text_encoder"].name == nodes["CLIPLoader"][0]
    assert "WanAnimate2ToVideo" in nodes and "WanAnimate2Cache" in nodes


@pytest.mark.parametrize("preset", ["quality", "distilled"])
def test_catalog_urls_and_folders_are_the_templates(preset: str) -> None:
    doc = _template(preset)
    sub = next(s for s in doc["definitions"]["subgraphs"] if s["name"].startswith("Motion Transfer"))
    models = [m for n in sub["nodes"] for m in (n.get("properties") or {}).get("models") or []]
    roles = set(get_preset("animate2", preset).required_roles)
    assert {m["name"] for m in models} == {BY_ROLE[r].name for r in roles}
    for m in models:
        e = next(BY_ROLE[r] for r in roles if BY_ROLE[r].name == m["name"])
        assert e.folder == m["directory"]
        if e.role in ("animate2", "animate2_distill", "vae_bf16"):
            assert e.url == m["url"]


def test_modes_presets_and_workflow_ids() -> None:
    assert "animate2" in MODES and PRESETS_OF_MODE["animate2"] == ("quality", "distilled")
    assert {"animate2", "animate2_distilled"} <= set(WORKFLOW_IDS)
    assert BY_ROLE["animate2"].size == int(15.51 * GIB) and BY_ROLE["animate2"].folder == "diffusion_models"
    q, d = get_preset("animate2", "quality"), get_preset("animate2", "distilled")
    assert q.required_roles == ("animate2", "lora_i2v_480p", "text_encoder", "vae_bf16", "clip_vision")
    assert d.required_roles == ("animate2_distill", "text_encoder", "vae_bf16", "clip_vision")


def test_distill_checks_accept_the_template_settings_and_refuse_cfg() -> None:
    for preset in ("quality", "distilled"):
        s = resolve("animate2", preset)
        assert s.cfg == 1.0 and s.sampler == "lcm"
    with pytest.raises(Exception, match="set cfg to 1"):
        resolve("animate2", "quality", Overrides(cfg=3.5))


def test_plan_cli_prints_the_distilled_plan() -> None:
    r = subprocess.run([sys.executable, "-m", "wan22", "plan", "--mode", "animate2", "--preset", "distilled"],
                       capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert r.returncode == 0, r.stderr
    assert "animate2 / distilled: 10 steps, cfg 1, lcm/simple, shift 5" in r.stdout
    assert BY_ROLE["animate2_distill"].name in r.stdout and "[no LoRA]" in r.stdout


# ------------------------------------------------------------------ int8 ConvRot

def test_hadamard_is_orthonormal_and_refuses_other_sizes() -> None:
    for g in (4, 16, 64, 256):
        h = hadamard(g)
        assert torch.allclose(h @ h.T, torch.eye(g), atol=1e-5)
    with pytest.raises(ValueError, match="power of 4"):
        hadamard(128)


@pytest.mark.parametrize("group", [64, 256])
def test_int8_convrot_is_comfy_kitchens_quantizer_bit_for_bit(group: int) -> None:
    ck = pytest.importorskip("comfy_kitchen.backends.eager.quantization")
    w = torch.randn((96, 512), generator=torch.Generator().manual_seed(group)) * 0.05
    q, scale = int8_convrot(w, group)
    q_ck, scale_ck = ck.quantize_int8_convrot_weight(w.clone(), group)
    assert q.dtype == torch.int8 and scale.shape == (96, 1)
    assert torch.equal(q, q_ck) and torch.equal(scale, scale_ck)
    back = ck.dequantize_int8_convrot_weight(q, scale, group)  # ComfyUI's un-rotation restores w
    assert ((back - w).norm() / w.norm()).item() < 0.02


# ------------------------------------------------------------------ identity and inventory

def test_identity_animate2_vs_animate1_vs_i2v() -> None:
    a2 = identify(_header(sparse_tensors_for("animate2"), sparse_metadata_for("animate2")))
    assert a2.kind == "wan_dit:animate2" and a2.dim == 5120
    # int8 from the header (I8 weights + weight_scale + comfy_quant); ConvRot is in the per-layer
    # config, which is tensor data the inventory does not read: unknown
    assert a2.facts["quant"] == "int8_tensorwise" and a2.facts["convrot"] is None
    assert a2.facts["quant_layers"] == 40 * 12  # per block: self q k v o, cross q k v o k_img v_img, ffn.0 ffn.2
    no_config = identify(_header(sparse_tensors_for("animate2")))
    assert no_config.kind == "wan_dit:i2v21"  # without the config ComfyUI loads it as Wan 2.1 I2V
    a1 = identify(_header(sparse_tensors_for("animate"), ANIMATE2_CONFIG))
    assert a1.kind == "wan_dit:animate2"  # as ComfyUI: the metadata config wins over the face_adapter keys
    assert identify(_header(sparse_tensors_for("animate"))).kind == "wan_dit:animate"
    assert identify(_header(sparse_tensors_for("i2v_high"))).kind == "wan_dit:i2v22"


def test_quantization_metadata_form_is_read() -> None:
    t = sparse_tensors_for("animate2")
    layers = {k[: -len(".comfy_quant")]: {"format": "int8_tensorwise", "convrot": True}
              for k, _d, _s in t if k.endswith(".comfy_quant")}
    meta = {**ANIMATE2_CONFIG, "_quantization_metadata": json.dumps({"format_version": "1.0", "layers": layers})}
    ident = identify(_header(t, meta))
    assert ident.facts["quant"] == "int8_convrot" and ident.facts["convrot"] is True
    assert "int8 convrot" in ident.label


def test_wrong_model_both_ways(tmp_path: Path) -> None:
    for role, other in (("animate2", "animate"), ("animate", "animate2"), ("animate2_distill", "animate")):
        e = BY_ROLE[role]
        p = tmp_path / role / e.folder / e.name
        write_sparse(str(p), sparse_tensors_for(other), sparse_metadata_for(other))
        why = check_model_file(role, str(p))
        assert why is not None and why.startswith("wrong_model"), (role, why)
        assert BY_ROLE[other].name in why  # "a file with this header belongs under ..."
    i2v = BY_ROLE["i2v_high"]
    p = tmp_path / "x" / i2v.folder / i2v.name
    write_sparse(str(p), sparse_tensors_for("animate2"), sparse_metadata_for("animate2"))
    assert (check_model_file("i2v_high", str(p)) or "").startswith("wrong_model")


def test_sparse_volume_reads_animate2_not_ready_with_the_downloads(tmp_path: Path) -> None:
    make_sparse_volume(str(tmp_path))
    r = run_inventory(resolve_roots(roots=[str(tmp_path)]), cache=False)
    for wid, role in (("animate2", "animate2"), ("animate2_distilled", "animate2_distill")):
        st = r.workflows[wid]
        assert not st.ready
        blocking = {b["role"] for b in st.blocking}
        assert {role, "vae_bf16"} <= blocking
    f = r.by_role("animate2")
    assert f.status == "missing" and BY_ROLE["animate2"].url in f.hint
    assert r.workflows["flf2v"].ready


def test_sparse_animate2_files_are_ok(tmp_path: Path) -> None:
    make_sparse_volume(str(tmp_path), roles=["animate2", "animate2_distill", "vae_bf16"])
    r = run_inventory(resolve_roots(roots=[str(tmp_path)]), cache=False)
    for role in ("animate2", "animate2_distill", "vae_bf16"):
        assert r.by_role(role).status == "ok", (role, r.by_role(role).hint)


# ------------------------------------------------------------------ the bundle's model input

LISTING_BOTH = {"diffusion_models": [BY_ROLE["animate2"].name, BY_ROLE["animate2_distill"].name],
                "text_encoders": [BY_ROLE["text_encoder"].name], "vae": [BY_ROLE["vae_bf16"].name],
                "clip_vision": [BY_ROLE["clip_vision"].name]}


def test_bundle_auto_resolves_every_animate2_file_present() -> None:
    files = resolve_bundle("animate2", {}, LISTING_BOTH)
    assert files["animate2"].name == BY_ROLE["animate2"].name
    assert files["animate2_distill"].name == BY_ROLE["animate2_distill"].name
    assert files["vae_bf16"].input == "vae" and files["clip_vision"].input == "clip_vision"
    only = {**LISTING_BOTH, "diffusion_models": [BY_ROLE["animate2_distill"].name]}
    files = resolve_bundle("animate2", {}, only)
    assert "animate2_distill" in files and "animate2" not in files


def test_bundle_chosen_file_serves_its_role_or_every_role() -> None:
    files = resolve_bundle("animate2", {"model": BY_ROLE["animate2"].name}, LISTING_BOTH)
    assert "animate2" in files and "animate2_distill" not in files
    own = {**LISTING_BOTH, "diffusion_models": ["my_animate2_build.safetensors"]}
    files = resolve_bundle("animate2", {"model": "my_animate2_build.safetensors"}, own)
    assert files["animate2"].name == files["animate2_distill"].name == "my_animate2_build.safetensors"


def test_bundle_without_either_file_names_both_downloads() -> None:
    with pytest.raises(MissingFilesError) as e:
        resolve_bundle("animate2", {}, {**LISTING_BOTH, "diffusion_models": ["other.safetensors"]})
    text = str(e.value)
    assert "cannot find 1 file(s)" in text
    for role in ("animate2", "animate2_distill"):
        assert BY_ROLE[role].name in text and BY_ROLE[role].url in text


# ------------------------------------------------------------------ demo-volume stand-ins

def test_demo_volume_with_animate2_writes_int8_convrot_stand_ins(tmp_path: Path) -> None:
    info = make_demo_volume(str(tmp_path), with_animate2=True, roles=[s.role for s in ANIMATE2_EXTRA])
    files = {f["role"]: f for f in info["files"]}  # type: ignore[union-attr]
    assert set(files) == {"animate2", "animate2_distill", "vae_bf16"}
    from wan22.volume.safetensors_header import read_header

    for role in ("animate2", "animate2_distill"):
        h = read_header(files[role]["path"])
        ident = identify(h)
        # from the header: int8 per-row (I8 + weight_scale + comfy_quant); ConvRot is in the layer configs
        assert ident.kind == "wan_dit:animate2" and ident.facts["quant"] == "int8_tensorwise"
        from safetensors import safe_open

        with safe_open(files[role]["path"], "pt") as f:
            conf = json.loads(bytes(f.get_tensor("blocks.0.self_attn.q.comfy_quant").tolist()))
        assert conf == {"format": "int8_tensorwise", "convrot": True, "convrot_groupsize": 64}
        assert h.entries["blocks.0.self_attn.q.weight"]["dtype"] == "I8"
        assert h.entries["blocks.0.self_attn.q.weight_scale"]["shape"] == [128, 1]
        assert json.loads(h.metadata["config"]) == {"transformer": {"model_type": "animate2"}}
        assert check_model_file(role, files[role]["path"]) is None  # a usable stand-in
    assert identify(read_header(files["vae_bf16"]["path"])).kind == "wan_vae:2.1"
    assert files["animate2"]["size"] < 8 * 1024**2
    again = make_demo_volume(str(tmp_path / "again"), with_animate2=True, roles=["animate2"])
    a = Path(files["animate2"]["path"]).read_bytes()
    b = Path(again["files"][0]["path"]).read_bytes()  # type: ignore[index]
    assert a == b  # reproducible from the seed


def test_demo_volume_cli_flag(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "wan22", "demo-volume", str(tmp_path), "--with-animate2", "--json"],
                       capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert r.returncode == 0, r.stderr
    roles = {f["role"] for f in json.loads(r.stdout)["files"]}
    assert {"animate2", "animate2_distill", "vae_bf16"} <= roles
    inv = run_inventory(resolve_roots(roots=[str(tmp_path)]), cache=False)
    assert inv.workflows["animate2"].ready and inv.workflows["animate2_distilled"].ready
