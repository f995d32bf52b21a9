"""Issue 16, TI2V-5B: the `ti2v` mode's preset, catalog entries, header identity (5B vs 14B, Wan 2.2
VAE vs 2.1), the wrong-model findings and refusals, the demo-volume stand-ins and the plan CLI.

The settings are checked against the installed ComfyUI template (video_wan2_2_5B_ti2v) when the
templates package is importable, so a catalog or preset row that drifts from it fails here.
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

from wan22.catalog import BY_ROLE, FILES
from wan22.demo.demo_volume import FIVE_B_EXTRA, make_demo_volume, make_sparse_volume, sparse_tensors_for, write_sparse
from wan22.plan.bundle_spec import resolve_bundle
from wan22.plan.modes import MODES, mode_spec
from wan22.plan.presets import PRESETS_OF_MODE, SINGLE_MODEL_MODES, get_preset
from wan22.plan.routing import make_plan
from wan22.volume.checks import check_model_file
from wan22.volume.identify import identify
from wan22.volume.inventory import run_inventory
from wan22.volume.roots import resolve
from wan22.volume.safetensors_header import Header, build_header, parse_header, read_header

REPO = Path(__file__).resolve().parents[2]
FOURTEEN_B_MODES = [m for m in MODES if m != "ti2v" and mode_spec(m).vae == "vae"]


def _template() -> dict[str, Any] | None:
    spec = importlib.util.find_spec("comfyui_workflow_templates_json")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "templates" / "video_wan2_2_5B_ti2v.json"
    return json.loads(path.read_text()) if path.exists() else None


def _inventory(root: Path) -> Any:
    return run_inventory(resolve(roots=[str(root)]), cache=False)


def _put(root: Path, role: str, tensors_of: str, metadata: dict[str, str] | None = None) -> Path:
    """The real-size sparse header of `tensors_of` under the catalog name and folder of `role`."""
    e = BY_ROLE[role]
    p = root / e.folder / e.name
    write_sparse(str(p), sparse_tensors_for(tensors_of), metadata)
    return p


# ------------------------------------------------------------------ preset and plan

def test_ti2v_preset_is_the_template_run() -> None:
    p = get_preset("ti2v", "quality")
    assert p.experts == ("ti2v5b",) and p.loras == ((),)
    assert (p.steps, p.cfg, p.sampler, p.scheduler, p.shift) == (20, 5.0, "uni_pc", "simple", 8.0)
    assert p.workflow_id == "ti2v" and not p.distill
    assert p.required_roles == ("ti2v5b", "text_encoder", "vae22")
    assert "ti2v" in SINGLE_MODEL_MODES
    # no step-distill LoRA for the 5B model is published in the templates: only 'quality', and the row says why
    assert PRESETS_OF_MODE["ti2v"] == ("quality",)
    assert "No 'fast' preset" in p.summary


def test_ti2v_plan_is_one_stage_on_the_5b_model() -> None:
    plan = make_plan("ti2v", "quality")
    assert len(plan.stages) == 1 and plan.boundary is None
    (st,) = plan.stages
    assert (st.expert, st.expert_file, st.start_step, st.end_step, st.loras) == (
        "ti2v5b", "wan2.2_ti2v_5B_fp16.safetensors", 0, 20, [])
    assert st.cfg == 5.0 and st.add_noise


def test_plan_cli_prints_the_ti2v_plan() -> None:
    out = subprocess.run([sys.executable, "-m", "wan22", "plan", "--mode", "ti2v", "--preset", "quality"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "Wan 2.2 ti2v / quality: 20 steps, cfg 5, uni_pc/simple, shift 8"
    assert "steps  0-20 wan2.2_ti2v_5B_fp16.safetensors" in out


def test_preset_and_catalog_match_the_installed_template() -> None:
    doc = _template()
    if doc is None:
        pytest.skip("comfyui-workflow-templates is not installed")
    nodes = {n["type"]: n for n in doc["nodes"]}
    ks = nodes["KSampler"]["widgets_values"]
    p = get_preset("ti2v", "quality")
    assert (ks[2], ks[3], ks[4], ks[5]) == (p.steps, p.cfg, p.sampler, p.scheduler)
    assert nodes["ModelSamplingSD3"]["widgets_values"][0] == p.shift
    assert nodes["Wan22ImageToVideoLatent"]["widgets_values"][:3] == [1280, 704, 121]
    assert nodes["CreateVideo"]["widgets_values"][0] == 24
    assert nodes["LoadImage"]["mode"] == 4  # bypassed: the template's default run is text to video
    for loader, role in (("UNETLoader", "ti2v5b"), ("VAELoader", "vae22"), ("CLIPLoader", "text_encoder")):
        (m,) = nodes[loader]["properties"]["models"]
        e = BY_ROLE[role]
        assert (m["name"], m["url"], m["directory"]) == (e.name, e.url, e.folder), loader
    assert nodes["CLIPLoader"]["widgets_values"][1] == "wan"


# ------------------------------------------------------------------ identity: 5B vs 14B, VAE 2.2 vs 2.1

def test_5b_and_14b_headers_are_told_apart() -> None:
    five = identify(read_header_of(sparse_tensors_for("ti2v5b")))
    assert five.kind == "wan_dit:ti2v5b" == BY_ROLE["ti2v5b"].kind
    assert (five.dim, five.facts["out_dim"], five.facts["in_dim"], five.facts["layers"]) == (3072, 48, 48, 30)
    for role in ("t2v_high", "i2v_high"):
        other = identify(read_header_of(sparse_tensors_for(role)))
        assert other.kind != five.kind and other.facts["out_dim"] == 16 and other.dim == 5120


def test_vae_headers_are_told_apart() -> None:
    v22 = identify(read_header_of(sparse_tensors_for("vae22")))
    v21 = identify(read_header_of(sparse_tensors_for("vae")))
    assert (v22.kind, v22.dim) == ("wan_vae:2.2", BY_ROLE["vae22"].dim)
    assert (v21.kind, v21.dim) == ("wan_vae:2.1", BY_ROLE["vae"].dim)


def read_header_of(tensors: list[tuple[str, str, tuple[int, ...]]]) -> Header:
    head, _ = build_header(tensors)
    return parse_header(head[8:])


# ------------------------------------------------------------------ wrong model on the volume

@pytest.mark.parametrize(("role", "tensors_of", "belongs"), [
    ("ti2v5b", "t2v_high", "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors"),  # a 14B file under the 5B name
    ("t2v_high", "ti2v5b", "wan2.2_ti2v_5B_fp16.safetensors"),  # the 5B file under a 14B name
    ("vae22", "vae", "wan_2.1_vae.safetensors"),  # the 2.1 VAE under the 2.2 name
    ("vae", "vae22", "wan2.2_vae.safetensors"),  # the 2.2 VAE under the 2.1 name
])
def test_swapped_files_are_wrong_model_with_a_hint(tmp_path: Path, role: str, tensors_of: str, belongs: str) -> None:
    _put(tmp_path, role, tensors_of)
    f = _inventory(tmp_path).by_role(role)
    assert f.status == "wrong_model", (f.status, f.hint)
    assert f"belongs under {belongs}" in f.hint, f.hint
    assert BY_ROLE[role].url in f.hint  # and where the right file is


@pytest.mark.parametrize("mode", FOURTEEN_B_MODES)
def test_check_refuses_the_22_vae_for_every_14b_mode(tmp_path: Path, mode: str) -> None:
    path = _put(tmp_path, "vae", "vae22")  # the 2.2 VAE, picked for a 14B mode
    files = resolve_bundle(mode, {"vae": BY_ROLE["vae"].name}, _listings(tmp_path))
    (vae,) = [r for r in files.values() if r.input == "vae"]
    why = check_model_file(vae.role, str(path))
    assert why is not None and why.startswith("wrong_model") and "Wan 2.2 VAE" in why and "wan_2.1_vae" in why


def test_check_refuses_the_21_vae_for_ti2v_and_takes_the_22_one(tmp_path: Path) -> None:
    v21 = _put(tmp_path, "vae", "vae")
    v22 = _put(tmp_path, "vae22", "vae22")
    listings = _listings(tmp_path)
    picked = resolve_bundle("ti2v", {"vae": BY_ROLE["vae"].name, "model": "auto"}, listings)
    vae = next(r for r in picked.values() if r.input == "vae")
    assert (vae.role, vae.name) == ("vae22", "wan_2.1_vae.safetensors")  # the user's pick, judged as the 2.2 VAE
    why = check_model_file(vae.role, str(v21))
    assert why is not None and why.startswith("wrong_model")
    assert "Wan 2.1 VAE" in why and "wan2.2_vae.safetensors" in why and "belongs under wan_2.1_vae.safetensors" in why
    assert check_model_file("vae22", str(v22)) is None
    assert check_model_file("vae", str(v21)) is None


def _listings(root: Path) -> dict[str, list[str]]:
    """Every catalog name listed in its folder (as on a full volume), plus what is under `root`."""
    out: dict[str, set[str]] = {}
    for e in FILES:
        out.setdefault(e.folder, set()).add(e.name)
    for folder, names in out.items():
        if (root / folder).is_dir():
            names.update(os.listdir(root / folder))
    return {k: sorted(v) for k, v in out.items()}


def test_bundle_resolves_the_5b_files_for_ti2v() -> None:
    listings = {"diffusion_models": [BY_ROLE["ti2v5b"].name], "text_encoders": [BY_ROLE["text_encoder"].name],
                "vae": [BY_ROLE["vae22"].name, BY_ROLE["vae"].name]}
    files = resolve_bundle("ti2v", {}, listings)
    assert {r: (f.input, f.name) for r, f in files.items()} == {
        "ti2v5b": ("model", "wan2.2_ti2v_5B_fp16.safetensors"),
        "text_encoder": ("text_encoder", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"),
        "vae22": ("vae", "wan2.2_vae.safetensors"),
    }


# ------------------------------------------------------------------ demo volume and readiness

def test_demo_volume_with_5b_writes_stand_ins_that_make_ti2v_ready(tmp_path: Path) -> None:
    info = make_demo_volume(str(tmp_path), with_5b=True)
    written = {f["role"]: f for f in info["files"]}  # type: ignore[union-attr]
    assert {s.role for s in FIVE_B_EXTRA} <= set(written)
    dit = tmp_path / "diffusion_models" / BY_ROLE["ti2v5b"].name
    vae = tmp_path / "vae" / BY_ROLE["vae22"].name
    assert dit.stat().st_size < 8 * 2**20  # tiny
    st = vae.stat()
    assert abs(st.st_size - BY_ROLE["vae22"].size) < 0.03 * BY_ROLE["vae22"].size  # the real layout (1.31 GiB)
    assert st.st_blocks * 512 < 4 * 2**20  # sparse: the data is a hole
    assert identify(read_header(str(dit))).kind == "wan_dit:ti2v5b"
    assert identify(read_header(str(vae))).kind == "wan_vae:2.2"
    r = _inventory(tmp_path)
    assert r.by_role("ti2v5b").status == "stand_in" and r.by_role("vae22").status == "stand_in"
    ti2v = r.workflows["ti2v"]
    assert ti2v.ready and set(ti2v.stand_ins) == {BY_ROLE[x].name for x in ("ti2v5b", "vae22", "text_encoder")}


def test_demo_volume_without_5b_lists_what_ti2v_needs(tmp_path: Path) -> None:
    make_demo_volume(str(tmp_path))
    ti2v = _inventory(tmp_path).workflows["ti2v"]
    assert not ti2v.ready
    assert {(b["role"], b["status"]) for b in ti2v.blocking} == {("ti2v5b", "missing"), ("vae22", "missing")}
    for b in ti2v.blocking:
        assert BY_ROLE[b["role"]].url in b["hint"]


def test_sparse_volume_ti2v_not_ready(tmp_path: Path) -> None:
    make_sparse_volume(str(tmp_path))
    ti2v = _inventory(tmp_path).workflows["ti2v"]
    assert not ti2v.ready and {b["name"] for b in ti2v.blocking} == {BY_ROLE["ti2v5b"].name, BY_ROLE["vae22"].name}


def test_real_size_5b_sparse_headers_are_ok_at_the_published_size(tmp_path: Path) -> None:
    make_sparse_volume(str(tmp_path), roles=["ti2v5b", "vae22"])
    r = _inventory(tmp_path)
    for role in ("ti2v5b", "vae22"):
        f = r.by_role(role)
        assert (f.status, f.hint) == ("ok", ""), (role, f.hint)  # within 3% of the template's figure


def test_a_5b_variant_with_another_in_dim_is_not_the_ti2v_model(tmp_path: Path) -> None:
    """Fun Control/Inpaint 5B share out_dim 48 and dim 3072 but take more input channels."""
    tensors = [(k, d, (s[0], 100, *s[2:]) if k == "patch_embedding.weight" else s) for k, d, s in sparse_tensors_for("ti2v5b")]
    ident = identify(read_header_of(tensors))
    assert ident.kind == "wan_dit:other" and ident.facts["in_dim"] == 100 and ident.facts["out_dim"] == 48
    e = BY_ROLE["ti2v5b"]
    write_sparse(str(tmp_path / e.folder / e.name), tensors)
    f = _inventory(tmp_path).by_role("ti2v5b")
    assert f.status == "wrong_model" and "in_dim 100" in f.hint and e.url in f.hint
