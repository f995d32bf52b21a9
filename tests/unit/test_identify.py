"""Header -> identity. The expected architecture numbers come from the layouts' `config`, which
tools/gen_layouts.py captured from ComfyUI's own modules, so these tests check identify() against
ComfyUI's detection rules rather than against numbers typed here."""

from __future__ import annotations

import pytest

from wan22.catalog import BY_ROLE, FILES
from wan22.demo.demo_volume import (
    ANIMATE2_CONFIG,
    NAME_DTYPE,
    real_header_tensors,
    real_lora_tensors,
    sparse_tensors_for,
)
from wan22.demo.layouts import load, names
from wan22.volume.identify import identify, is_stand_in
from wan22.volume.safetensors_header import Header, build_header, parse_header

Tensors = list[tuple[str, str, tuple[int, ...]]]


def header_of(tensors: Tensors, metadata: dict[str, str] | None = None) -> Header:
    head, _ = build_header(tensors, metadata)
    return parse_header(head[8:])


def layout_tensors(name: str, prefix: str = "") -> Tensors:
    return [(prefix + k, NAME_DTYPE.get(d, "F16"), s) for k, s, d in load(name).tensors]


DIT_LAYOUTS = [n for n in names() if "image_model" in load(n).config]
EXPECTED_KIND = {  # ComfyUI model_type (+ out_dim/img_emb facts) -> our kind
    ("t2v", 36): "wan_dit:i2v22", ("t2v", 16): "wan_dit:t2v", ("t2v", 48): "wan_dit:ti2v5b",
    ("i2v", 36): "wan_dit:i2v21", ("s2v", None): "wan_dit:s2v", ("animate", None): "wan_dit:animate",
}


def _expected_kind(cfg: dict[str, object]) -> str:
    mt = str(cfg["model_type"])
    if mt == "animate2":  # I2V-shaped weights; the metadata config names it (comfy/model_detection.py)
        return "wan_dit:animate2"
    if mt in ("s2v", "animate"):
        return EXPECTED_KIND[(mt, None)]
    if cfg["out_dim"] == 48:
        return "wan_dit:ti2v5b"
    in_dim = cfg["in_dim"]
    assert isinstance(in_dim, int)
    return EXPECTED_KIND[(mt, in_dim)]


@pytest.mark.parametrize("layout", DIT_LAYOUTS)
def test_every_dit_layout_matches_comfyuis_detection(layout: str) -> None:
    cfg = load(layout).config
    meta = ANIMATE2_CONFIG if cfg["model_type"] == "animate2" else None  # ComfyUI reads animate2 from metadata only
    ident = identify(header_of(layout_tensors(layout), meta))
    assert ident.kind == _expected_kind(cfg)
    assert ident.facts["dim"] == cfg["dim"]
    assert ident.facts["in_dim"] == cfg["in_dim"]
    assert ident.facts["out_dim"] == cfg["out_dim"]
    assert ident.facts["layers"] == cfg["num_layers"]
    assert ident.dim == cfg["dim"]


@pytest.mark.parametrize("prefix", ["model.diffusion_model.", "diffusion_model."])
def test_prefixed_checkpoints_are_recognised(prefix: str) -> None:
    ident = identify(header_of(layout_tensors("tiny_i2v", prefix)))
    assert ident.kind == "wan_dit:i2v22" and ident.facts["prefix"] == prefix


@pytest.mark.parametrize("role", sorted({f.role for f in FILES if f.role in
                                         ("i2v_high", "t2v_high", "s2v", "animate", "vae", "text_encoder", "clip_vision",
                                          "audio_encoder", "lora_i2v_high", "lora_i2v_480p")}))
def test_real_size_headers_identify_as_their_catalog_kind(role: str) -> None:
    """The sparse real-size headers (the ones the inventory benchmark uses) carry the identity,
    and, where the catalog gives a width, the full-size width."""
    ident = identify(header_of(sparse_tensors_for(role)))
    entry = BY_ROLE[role]
    assert ident.kind == entry.kind, ident.label
    if entry.dim:
        assert ident.dim == entry.dim


def test_vae_versions_are_told_apart() -> None:
    assert identify(header_of(layout_tensors("real_vae21"))).kind == "wan_vae:2.1"
    assert identify(header_of(layout_tensors("real_vae22"))).kind == "wan_vae:2.2"
    assert identify(header_of(layout_tensors("tiny_vae22"))).kind == "wan_vae:2.2"
    assert identify(header_of(layout_tensors("real_vae21"))).dim == BY_ROLE["vae"].dim


def test_umt5_and_t5_xxl_are_told_apart_by_vocabulary() -> None:
    umt5 = sparse_tensors_for("text_encoder")
    u = identify(header_of(umt5))
    assert u.kind == "umt5_xxl" and u.facts["vocab"] == 256384
    # T5-XXL (Flux/SD3): same blocks, 32128-token vocabulary, relative bias only in block 0
    t5 = [(k, d, (32128, s[1]) if k == "shared.weight" else s) for k, d, s in umt5
          if not ("relative_attention_bias" in k and not k.startswith("encoder.block.0."))]
    t = identify(header_of(t5))
    assert t.kind == "t5_xxl" and "32128" in t.label


def test_wav2vec2_base_is_not_large() -> None:
    large = [(k, NAME_DTYPE.get(d, "F16"), s) for k, s, d in load("real_wav2vec2_large").tensors]
    assert identify(header_of(large)).kind == "wav2vec2_large"
    base = [(k, d, (768,) if k.startswith("encoder.layer_norm.") else s) for k, d, s in large]
    b = identify(header_of(base))
    assert b.kind == "wav2vec2:base" and b.dim == 768


def _dit(dim: int, in_dim: int, layers: int, out_dim: int = 16) -> Tensors:
    t: Tensors = [("patch_embedding.weight", "F16", (dim, in_dim, 1, 2, 2)), ("head.modulation", "F32", (1, 2, dim)),
                  ("head.head.weight", "F16", (out_dim * 4, dim))]
    for i in range(layers):
        t += [(f"blocks.{i}.modulation", "F32", (1, 6, dim)), (f"blocks.{i}.self_attn.q.weight", "F16", (dim, dim))]
    return t


def test_wan_1_3b_t2v_is_recognised_by_width() -> None:
    ident = identify(header_of(_dit(1536, 16, 30)))
    assert ident.kind == "wan_dit:t2v" and ident.dim == 1536 and "1.3B" in ident.label
    assert ident.facts["layers"] == 30


def test_wan_loras_report_rank_blocks_and_target_width() -> None:
    lora = real_lora_tensors("real_i2v", rank=32)
    ident = identify(header_of(lora))
    assert ident.kind == "lora:wan"
    assert ident.facts["rank"] == 32 and ident.facts["blocks"] == load("real_i2v").config["num_layers"]
    assert ident.dim == load("real_i2v").config["dim"]
    small = identify(header_of(real_lora_tensors("real_ti2v_5b", rank=16)))
    assert small.kind == "lora:wan" and small.dim == load("real_ti2v_5b").config["dim"]


def test_kohya_style_wan_lora_keys() -> None:
    t: Tensors = []
    for i in range(3):
        for m in ("self_attn_q", "self_attn_k", "cross_attn_v", "ffn_0"):
            t += [(f"lora_unet_blocks_{i}_{m}.lora_down.weight", "F16", (8, 5120)),
                  (f"lora_unet_blocks_{i}_{m}.lora_up.weight", "F16", (5120, 8)),
                  (f"lora_unet_blocks_{i}_{m}.alpha", "F32", ())]
    ident = identify(header_of(t))
    assert ident.kind == "lora:wan" and ident.facts["rank"] == 8 and ident.dim == 5120 and ident.facts["blocks"] == 3


def test_lora_for_another_family() -> None:
    t: Tensors = []
    for i in range(4):
        base = f"transformer.single_transformer_blocks.{i}.attn.to_q"
        t += [(f"{base}.lora_A.weight", "BF16", (16, 3072)), (f"{base}.lora_B.weight", "BF16", (3072, 16))]
    ident = identify(header_of(t))
    assert ident.kind == "lora:other" and "not Wan" in ident.label


def test_other_files() -> None:
    assert identify(header_of([])).kind == "unknown"
    assert identify(header_of([("first_stage_model.decoder.conv_in.weight", "F16", (4, 4)),
                               ("model.diffusion_model.input_blocks.0.0.weight", "F16", (4, 4))])).kind == "checkpoint:sd"
    assert identify(header_of([("foo.bar", "F16", (2,))])).kind == "unknown"
    cv = [(k, NAME_DTYPE.get(d, "F16"), s) for k, s, d in load("real_clip_vision_h").tensors]
    assert identify(header_of(cv)).kind == "clip_vision_h"


def test_stand_in_marker() -> None:
    assert is_stand_in(header_of([("a", "F16", (1,))], {"wan22.stand_in": "true"}))
    assert not is_stand_in(header_of([("a", "F16", (1,))], {"wan22.stand_in": "false"}))
    assert not is_stand_in(header_of([("a", "F16", (1,))]))


def test_identify_reads_no_more_than_names_and_a_few_shapes() -> None:
    """identify() must stay cheap on a 1,000+ tensor header: it never builds every TensorInfo."""
    h = header_of(real_header_tensors("real_i2v"))
    identify(h)
    assert "tensors" not in h.__dict__  # the lazy per-tensor objects were not built
