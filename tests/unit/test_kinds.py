"""Files judged by their headers whatever their names (wan22.volume.kinds): the community-named
and GGUF stand-ins of `demo-volume --community-names --gguf`, the damage cases (a LoRA and a T2V
GGUF under I2V expert names, a GGUF cut short), and which files on a volume hold the same model."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from wan22.demo.community_standins import (
    GGUF_EXPERTS,
    GGUF_UMT5,
    KJ_I2V,
    KJ_UMT5,
    KJ_VAE,
    SEKO,
    gguf_tensors,
    write_damage_cases,
    write_extras,
    write_gguf_sparse,
)
from wan22.demo.demo_volume import make_demo_volume
from wan22.volume import kinds
from wan22.volume.kinds import identify_file, judge_file, name_expects, same_model_candidates

SEED = 22


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("community") / "models"
    write_extras(str(root), SEED, community_names=True, gguf=True)
    make_demo_volume(str(root), seed=SEED, with_t2v=True, roles=["i2v_high", "i2v_low", "t2v_high", "text_encoder"])
    return root


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_damage_cases(str(tmp_path_factory.mktemp("damaged") / "models"), SEED)


# (folder, name, loader kind, identity kind, format, description)
STAND_INS = [
    ("diffusion_models", KJ_I2V["i2v_high"], "diffusion_model", "wan_dit:i2v22", "safetensors",
     "Wan 2.2 I2V expert, fp8 scaled"),
    ("diffusion_models", KJ_I2V["i2v_low"], "diffusion_model", "wan_dit:i2v22", "safetensors",
     "Wan 2.2 I2V expert, fp8 scaled"),
    ("vae", KJ_VAE, "vae", "wan_vae:2.1", "safetensors", "Wan 2.1 VAE, bf16"),
    ("text_encoders", KJ_UMT5, "text_encoder", "umt5_xxl", "safetensors",
     "umT5-XXL text encoder (WanVideoWrapper layout), bf16"),
    ("loras", SEKO["lora_i2v_high"], "lora", "lora:wan", "safetensors", "Wan LoRA, rank 4, fp16"),
    ("loras", SEKO["lora_i2v_low"], "lora", "lora:wan", "safetensors", "Wan LoRA, rank 4, fp16"),
    ("diffusion_models", GGUF_EXPERTS["i2v_high"][0], "diffusion_model", "wan_dit:i2v22", "gguf",
     "Wan 2.2 I2V 14B expert, GGUF Q5_K_M"),
    ("diffusion_models", GGUF_EXPERTS["i2v_low"][0], "diffusion_model", "wan_dit:i2v22", "gguf",
     "Wan 2.2 I2V 14B expert, GGUF Q5_K_M"),
    ("diffusion_models", GGUF_EXPERTS["t2v_high"][0], "diffusion_model", "wan_dit:t2v", "gguf",
     "Wan T2V 14B (a Wan 2.2 expert or Wan 2.1), GGUF Q5_K_M"),
    ("diffusion_models", GGUF_EXPERTS["t2v_low"][0], "diffusion_model", "wan_dit:t2v", "gguf",
     "Wan T2V 14B (a Wan 2.2 expert or Wan 2.1), GGUF Q5_K_M"),
    ("text_encoders", GGUF_UMT5, "text_encoder", "umt5_xxl", "gguf", "umT5-XXL text encoder, GGUF Q5_K_M"),
]


@pytest.mark.parametrize("folder, name, kind, ident_kind, fmt, description", STAND_INS,
                         ids=[s[1] for s in STAND_INS])
def test_each_community_stand_in_is_identified(volume: Path, folder: str, name: str, kind: str, ident_kind: str,
                                               fmt: str, description: str) -> None:
    j = judge_file(str(volume / folder / name), kind, fmt="any")
    assert j.status == "stand_in", j.description
    assert j.identity is not None
    assert (j.identity.kind, j.identity.format, j.identity.description) == (ident_kind, fmt, description)
    assert j.identity.stand_in


def test_a_gguf_without_the_marker_is_ok(tmp_path: Path) -> None:
    p = tmp_path / GGUF_EXPERTS["i2v_high"][0]
    write_gguf_sparse(str(p), gguf_tensors("real_i2v"), {"general.architecture": "wan", "general.file_type": 17})
    j = judge_file(str(p), "diffusion_model", fmt="gguf")
    assert (j.status, j.description) == ("ok", "Wan 2.2 I2V 14B expert, GGUF Q5_K_M")
    assert j.identity is not None and j.identity.size == "14B" and j.identity.quant == "Q5_K_M"


@pytest.mark.parametrize("name, kind", [(SEKO["lora_i2v_high"], "diffusion_model"), (KJ_VAE, "text_encoder"),
                                        (GGUF_UMT5, "vae"), (KJ_UMT5, "lora")])
def test_the_wrong_kind_for_the_loader_is_wrong_model(volume: Path, name: str, kind: str) -> None:
    path = next(p for p in volume.rglob("*") if str(p).endswith(name))
    j = judge_file(str(path), kind)
    assert j.status == "wrong_model" and "but the loader expects" in j.description


def test_a_lora_under_an_expert_name_is_wrong_model(damaged: dict[str, str]) -> None:
    j = judge_file(damaged["lora_as_expert"], "diffusion_model", fmt="any")
    assert j.status == "wrong_model"
    assert j.description == "the header says this is Wan LoRA, rank 4, fp16, but the loader expects a diffusion model"


def test_a_t2v_gguf_under_an_i2v_name_is_wrong_model(damaged: dict[str, str]) -> None:
    j = judge_file(damaged["t2v_gguf_as_i2v"], "diffusion_model", fmt="gguf")
    assert j.status == "wrong_model"
    assert j.description == ("the name says a Wan 2.2 I2V expert, but the header says this is Wan T2V 14B "
                             "(a Wan 2.2 expert or Wan 2.1), GGUF Q5_K_M")


def test_a_gguf_cut_short_is_truncated(damaged: dict[str, str]) -> None:
    j = judge_file(damaged["gguf_cut_short"], "diffusion_model", fmt="gguf")
    assert j.status == "truncated" and "50.0% present" in j.description
    assert j.identity is not None and j.identity.kind == "wan_dit:i2v22"


def test_not_gguf_under_a_gguf_name_is_corrupt(tmp_path: Path) -> None:
    p = tmp_path / "Wan2.2-I2V-A14B-HighNoise-Q5_K_M.gguf"
    p.write_bytes(b"<!DOCTYPE html><title>Access denied</title>" * 20)
    j = judge_file(str(p), "diffusion_model", fmt="gguf")
    assert j.status == "corrupt" and "not a readable GGUF file" in j.description and j.identity is None


def test_a_gguf_cut_inside_its_header_is_truncated(volume: Path, tmp_path: Path) -> None:
    src = volume / "diffusion_models" / GGUF_EXPERTS["t2v_high"][0]
    p = tmp_path / src.name
    with open(src, "rb") as f:
        p.write_bytes(f.read(4096))
    assert judge_file(str(p), "diffusion_model").status == "truncated"


def test_the_loader_format_is_checked(volume: Path) -> None:
    gguf_path = str(volume / "diffusion_models" / GGUF_EXPERTS["i2v_high"][0])
    st_path = str(volume / "diffusion_models" / KJ_I2V["i2v_high"])
    assert judge_file(gguf_path, "diffusion_model", fmt="safetensors").status == "wrong_model"
    assert judge_file(st_path, "diffusion_model", fmt="gguf").status == "wrong_model"
    assert judge_file(gguf_path, "diffusion_model", fmt="any").status == "stand_in"


def test_official_names_keep_their_identity(volume: Path) -> None:
    j = judge_file(str(volume / "diffusion_models" / "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"),
                   "diffusion_model")
    assert j.status == "stand_in" and j.identity is not None and j.identity.kind == "wan_dit:i2v22"
    te = identify_file(str(volume / "text_encoders" / "umt5_xxl_fp8_e4m3fn_scaled.safetensors"))
    assert te is not None and te.kind == "umt5_xxl" and "layout" not in te.facts


def test_same_model_candidates_name_the_files_with_that_model(volume: Path) -> None:
    dm = sorted(str(p) for p in (volume / "diffusion_models").iterdir())
    kj = identify_file(str(volume / "diffusion_models" / KJ_I2V["i2v_high"]))
    assert kj is not None
    got = {os.path.basename(p) for p in same_model_candidates(kj, dm)}
    assert got == {KJ_I2V["i2v_high"], KJ_I2V["i2v_low"], "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
                   "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors"}
    g = identify_file(str(volume / "diffusion_models" / GGUF_EXPERTS["i2v_high"][0]))
    assert g is not None
    got = {os.path.basename(p) for p in same_model_candidates(g, dm)}
    assert got == {GGUF_EXPERTS["i2v_high"][0], GGUF_EXPERTS["i2v_low"][0]}


@pytest.mark.parametrize("name, kind, spec", [
    ("Wan2_2-I2V-A14B-HIGH_fp8_e4m3fn_scaled_KJ.safetensors", "diffusion_model", "wan_dit:i2v22"),
    ("wan\\Wan2.2-T2V-A14B-LowNoise-Q5_K_M.gguf", "diffusion_model", "wan_dit:t2v"),
    ("Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors", "diffusion_model", "wan_dit:i2v21"),
    ("Wan2_2-TI2V-5B_fp8_e4m3fn_scaled_KJ.safetensors", "diffusion_model", "wan_dit:ti2v5b"),
    ("Wan2_2-Animate-14B_fp8_e4m3fn_scaled_KJ.safetensors", "diffusion_model", "any:wan_dit:animate,wan_dit:animate2"),
    ("Wan2_1_VAE_bf16.safetensors", "vae", "wan_vae:2.1"),
    ("wan2.2_vae.safetensors", "vae", "wan_vae:2.2"),
    ("umt5-xxl-enc-bf16.safetensors", "text_encoder", "umt5_xxl"),
    ("high_noise_model.safetensors", "lora", None),
    ("my_model.safetensors", "diffusion_model", None),
])
def test_what_a_name_says(name: str, kind: str, spec: str | None) -> None:
    got = name_expects(name, kind)
    assert (got[1] if got else None) == spec


def test_judging_a_file_by_header_is_fast(volume: Path) -> None:
    """Measured, not only bounded: the figure goes in the report (uptime load alongside)."""
    paths = [str(volume / "diffusion_models" / GGUF_EXPERTS["i2v_high"][0]),
             str(volume / "diffusion_models" / KJ_I2V["i2v_high"]), str(volume / "text_encoders" / GGUF_UMT5)]
    times = []
    for p in paths:
        kinds._GGUF_CACHE.clear()
        t0 = time.perf_counter()
        judge_file(p, "other", headers=kinds.HeaderCache(shared=False))
        times.append(time.perf_counter() - t0)
    print("judge_file cold ms:", [round(1000 * t, 1) for t in times], "load", os.getloadavg())
    assert max(times) < 0.5


def test_demo_volume_flags_write_the_community_files(tmp_path: Path) -> None:
    info = make_demo_volume(str(tmp_path / "v"), roles=[], community_names=True, gguf=True)
    files = info["files"]
    assert isinstance(files, list)
    written = sorted(os.path.relpath(str(f["path"]), str(tmp_path / "v")) for f in files)
    assert written == sorted([
        f"diffusion_models/{KJ_I2V['i2v_high']}", f"diffusion_models/{KJ_I2V['i2v_low']}", f"vae/{KJ_VAE}",
        f"text_encoders/{KJ_UMT5}", f"loras/{SEKO['lora_i2v_high']}", f"loras/{SEKO['lora_i2v_low']}",
        *(f"diffusion_models/{n}" for n, _ in GGUF_EXPERTS.values()), f"text_encoders/{GGUF_UMT5}"])
    assert all(judge_file(str(f["path"]), "other").status == "stand_in" for f in files)
    # a real (unmarked) file under one of the names is never overwritten
    real = tmp_path / "v" / "diffusion_models" / GGUF_EXPERTS["t2v_low"][0]
    write_gguf_sparse(str(real), gguf_tensors("tiny_t2v", quant="Q8_0"), {"general.architecture": "wan"})
    with pytest.raises(FileExistsError):
        make_demo_volume(str(tmp_path / "v"), roles=[], gguf=True)


@pytest.mark.parametrize("layout, kind, description", [
    ("real_s2v", "wan_dit:s2v", "Wan 2.2 S2V 14B, GGUF Q5_K_M"),
    ("real_animate", "wan_dit:animate", "Wan 2.2 Animate 14B, GGUF Q5_K_M"),
    ("real_ti2v_5b", "wan_dit:ti2v5b", "Wan 2.2 TI2V 5B, GGUF Q5_K_M"),
    ("real_wan21_i2v", "wan_dit:i2v21", "Wan 2.1 I2V 14B, GGUF Q5_K_M"),
])
def test_gguf_models_are_told_apart_as_safetensors_ones_are(tmp_path: Path, layout: str, kind: str,
                                                             description: str) -> None:
    p = tmp_path / f"{layout}.gguf"
    write_gguf_sparse(str(p), gguf_tensors(layout), {"general.architecture": "wan", "general.file_type": 17})
    ident = identify_file(str(p))
    assert ident is not None and (ident.kind, ident.description) == (kind, description)


def test_fp8_scales_without_the_marker_are_named(tmp_path: Path) -> None:
    """ComfyUI converts `.scale_weight` scales only with the `scaled_fp8` marker
    (comfy/utils.py convert_old_quants); WanVideoWrapper reads either form."""
    from wan22.demo.demo_volume import real_header_tensors, write_sparse

    with_marker = real_header_tensors("real_i2v", fp8_scaled=True)
    without = [t for t in with_marker if t[0] != "scaled_fp8"]
    for name, tensors, quant in (("a.safetensors", with_marker, "fp8 scaled"),
                                 ("b.safetensors", without, "fp8 scaled (no scaled_fp8 marker)")):
        write_sparse(str(tmp_path / name), tensors)
        ident = identify_file(str(tmp_path / name))
        assert ident is not None and ident.kind == "wan_dit:i2v22" and ident.quant == quant
