"""What a safetensors file is, from its header alone, using the same key rules ComfyUI uses
(comfy/model_detection.py, comfy/sd.py, comfy/clip_vision.py, comfy/audio_encoders).

Only names and a handful of shapes are looked at; the cost is one pass over the tensor names.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field

from .safetensors_header import Header

STAND_IN_KEY = "wan22.stand_in"
STAND_IN_ROLE_KEY = "wan22.role"

DIT_PREFIXES = ("model.diffusion_model.", "diffusion_model.", "")
LORA_SUFFIXES = (
    ".lora_down.weight", ".lora_up.weight", ".lora_A.weight", ".lora_B.weight", ".lora_mid.weight",
    ".alpha", ".diff", ".diff_b", ".lora.up.weight", ".lora.down.weight", "_lora.up.weight",
    "_lora.down.weight", ".lora_A", ".lora_B", ".dora_scale", ".hada_w1_a", ".hada_w1_b", ".hada_w2_a",
    ".hada_w2_b", ".lokr_w1", ".lokr_w2",
)
_UP = (".lora_up.weight", ".lora_B.weight", ".lora.up.weight", "_lora.up.weight")
_DOWN = (".lora_down.weight", ".lora_A.weight", ".lora.down.weight", "_lora.down.weight")
WAN_DIMS = {5120: "14B", 3072: "5B", 1536: "1.3B"}
_LORA_BLOCK_RE = re.compile(r"blocks[._](\d+)[._]")


@dataclass
class Identity:
    kind: str  # e.g. "wan_dit:i2v22", "wan_vae:2.1", "umt5_xxl", "lora:wan", "unknown"
    label: str  # human description
    dim: int | None = None
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return self.kind.split(":", 1)[0]


def is_stand_in(h: Header) -> bool:
    return h.metadata.get(STAND_IN_KEY, "").lower() in ("1", "true", "yes")


def identify(h: Header) -> Identity:
    names = h.names
    if not names:
        return Identity("unknown", "an empty safetensors file (no tensors)")
    for prefix in DIT_PREFIXES:
        if h.has(f"{prefix}head.modulation"):
            return _with_config(h, prefix, _identify_dit(h, prefix, names))
    if h.has("decoder.middle.0.residual.0.gamma"):
        shp = h.shape("decoder.head.0.gamma")
        dim = shp[0] if shp else None
        if h.has("decoder.upsamples.0.upsamples.0.residual.2.weight"):
            return Identity("wan_vae:2.2", "the Wan 2.2 VAE (48 latent channels, for the TI2V 5B model only)", dim)
        return Identity("wan_vae:2.1", "the Wan 2.1 VAE (16 latent channels)", dim)
    n_lora = sum(map(str.endswith, names, itertools.repeat(LORA_SUFFIXES)))
    if n_lora and n_lora * 2 >= len(names):
        return _identify_lora(h, names)
    te = _identify_text_encoder(h, names)
    if te is not None:
        return te
    cv = _identify_clip_vision(h)
    if cv is not None:
        return cv
    au = _identify_audio(h)
    if au is not None:
        return au
    if any(k.startswith(("first_stage_model.", "model.diffusion_model.input_blocks")) for k in names):
        return Identity("checkpoint:sd", "a Stable Diffusion-style checkpoint (not Wan)")
    if h.has("decoder.conv_in.weight") and h.has("encoder.conv_in.weight"):
        return Identity("vae:other", "an image VAE of another model family (not Wan)")
    sample = ", ".join(sorted(names)[:3])
    return Identity("unknown", f"an unrecognised model (first keys: {sample})")


def _identify_dit(h: Header, prefix: str, names: list[str]) -> Identity:  # noqa: ARG001
    def shape(k: str) -> tuple[int, ...] | None:
        return h.shape(prefix + k)

    def has(k: str) -> bool:
        return h.has(prefix + k)

    dim = (shape("head.modulation") or (0,))[-1]
    head = shape("head.head.weight")
    out_dim = head[0] // 4 if head else None
    pe = shape("patch_embedding.weight")
    in_dim = pe[1] if pe and len(pe) > 1 else None
    bp = prefix + "blocks."
    layers = 0
    while h.has(f"{bp}{layers}.modulation") or h.has(f"{bp}{layers}.self_attn.q.weight"):
        layers += 1
    facts: dict[str, object] = {"dim": dim, "in_dim": in_dim, "out_dim": out_dim, "layers": layers,
                                "prefix": prefix, "scaled_fp8": has("scaled_fp8")}
    size = _dit_size(dim, layers)
    if has("vace_patch_embedding.weight"):
        return Identity("wan_dit:vace", f"a Wan VACE model{size}", dim, facts)
    if has("control_adapter.conv.weight"):
        v = "Wan 2.1 Fun Camera" if has("img_emb.proj.0.bias") else "Wan 2.2 Fun Camera"
        return Identity("wan_dit:camera", f"a {v} model{size}", dim, facts)
    if has("casual_audio_encoder.encoder.final_linear.weight"):
        return Identity("wan_dit:s2v", f"the Wan 2.2 S2V model{size}", dim, facts)
    if has("audio_proj.audio_proj_glob_1.layer.bias"):
        return Identity("wan_dit:humo", f"a Wan HuMo model{size}", dim, facts)
    if has("face_adapter.fuser_blocks.0.k_norm.weight"):
        return Identity("wan_dit:animate", f"the Wan 2.2 Animate model{size}", dim, facts)
    if any(has(k) for k in ("patch_embedding_mask.weight", "patch_embedding_pose.weight", "patch_embedding_global.weight")):
        return Identity("wan_dit:other", f"a Wan-derived model (SCAIL/WanDancer){size}", dim, facts)
    if out_dim == 48:  # ---- ti2v
        return _identify_5b(in_dim, size, dim, facts)
    if has("img_emb.proj.0.bias"):
        if has("img_emb.emb_pos"):
            return Identity("wan_dit:flf2v21", f"a Wan 2.1 FLF2V model{size} (has CLIP image embeddings)", dim, facts)
        return Identity("wan_dit:i2v21", f"a Wan 2.1 I2V model{size} (has CLIP image embeddings img_emb; "
                                         "Wan 2.2 I2V experts have none)", dim, facts)
    if in_dim == 36:
        return Identity("wan_dit:i2v22", f"a Wan 2.2 I2V A14B-style expert{size} (in_dim 36, no image embeddings)", dim, facts)
    if in_dim == 16:
        return Identity("wan_dit:t2v", f"a Wan T2V model{size} (in_dim 16)", dim, facts)
    return Identity("wan_dit:other", f"a Wan model with in_dim {in_dim}{size} (Fun Control/Inpaint or another variant)", dim, facts)


# ---- animate2
def _config_model_type(h: Header) -> str | None:
    """The model_type of the metadata "config" JSON's "transformer" dict, which ComfyUI applies over
    the key rules (comfy/model_detection.py); Wan Animate 2 (I2V-shaped weights) is told only by it."""
    raw = h.metadata.get("config")
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    tr = doc.get("transformer") if isinstance(doc, dict) else None
    mt = tr.get("model_type") if isinstance(tr, dict) else None
    return mt if isinstance(mt, str) else None


def _with_config(h: Header, prefix: str, ident: Identity) -> Identity:
    """`ident` with the quantization facts, and re-kinded when the metadata config names Animate 2
    (ComfyUI applies that config after the key rules, so it wins over them as here)."""
    ident.facts.update(quantization(h, prefix))
    if _config_model_type(h) != "animate2":
        return ident
    quant = {"int8_convrot": " (int8 convrot)", "int8_tensorwise": " (int8)"}.get(str(ident.facts.get("quant")), "")
    size = _dit_size(ident.dim or 0, int(str(ident.facts.get("layers", 0))))
    return Identity("wan_dit:animate2", f"the Wan Animate 2 model{size}{quant}", ident.dim, ident.facts)


def quantization(h: Header, prefix: str = "") -> dict[str, object]:
    """How a DiT's Linear weights are stored, as ComfyUI finds out: the `_quantization_metadata`
    metadata or per-layer `.comfy_quant` tensors (comfy/utils.py detect_layer_quantization) mean
    mixed-precision ops; an I8 weight with a `weight_scale` is int8_tensorwise, with `"convrot": true`
    in its layer config (comfy/ops.py) ConvRot. Per-layer `comfy_quant` configs are tensor data, which
    the inventory does not read: 'convrot' is then None (unknown); the metadata form says it."""
    layers = [k[: -len(".comfy_quant")] for k in h.names if k.startswith(prefix) and k.endswith(".comfy_quant")]
    confs: list[dict[str, object]] = []
    raw = h.metadata.get("_quantization_metadata")
    if raw:
        try:
            doc = json.loads(raw)
            confs = [c for c in (doc.get("layers") or {}).values() if isinstance(c, dict)]
        except (ValueError, AttributeError):
            confs = []
    if not layers and not confs:
        return {}
    int8 = any(h.entries.get(f"{b}.weight", {}).get("dtype") == "I8" and h.has(f"{b}.weight_scale") for b in layers)
    formats = sorted({str(c.get("format")) for c in confs if c.get("format")})
    if int8 and not formats:
        formats = ["int8_tensorwise"]
    convrot: bool | None = any(bool(c.get("convrot")) for c in confs) if confs else None
    name = "int8_convrot" if formats == ["int8_tensorwise"] and convrot else "+".join(formats) or "mixed"
    return {"quant": name, "quant_layers": len(layers) or len(confs), "convrot": convrot}


# ---- ti2v
def _identify_5b(in_dim: int | None, size: str, dim: int, facts: dict[str, object]) -> Identity:
    """out_dim 48 (the 48-channel Wan 2.2 latent): the TI2V 5B model takes in_dim 48 (noise + the
    start image's latent); Fun Control/Inpaint 5B share out_dim 48 and dim 3072 but take more."""
    if in_dim == 48:
        return Identity("wan_dit:ti2v5b", f"the Wan 2.2 TI2V 5B model (out_dim 48: 48-channel latent){size}", dim, facts)
    return Identity("wan_dit:other", f"a Wan 2.2 5B-style model with in_dim {in_dim} (out_dim 48; Fun Control/Inpaint "
                                     f"or another variant, not the TI2V 5B model){size}", dim, facts)


def _dit_size(dim: int, layers: int) -> str:
    if dim in WAN_DIMS:
        return f" ({WAN_DIMS[dim]})"
    return f" (dim {dim}, {layers} blocks)"


def _identify_lora(h: Header, names: list[str]) -> Identity:
    attn = [k for k in names if "self_attn" in k]
    blocks = {m.group(1) for m in map(_LORA_BLOCK_RE.search, attn) if m}
    wan_like = sum(1 for k in names if "blocks" in k and ("self_attn" in k or "cross_attn" in k or "ffn" in k))
    rank = None
    dim = None
    for k in names:
        if k.endswith(_DOWN):
            shp = h.shape(k)
            if shp is not None and len(shp) >= 2:
                rank = shp[0]
                break
    for k in attn:
        base = k.replace("self_attn_", "self_attn.")
        if ("self_attn.q." in base or "self_attn.q_" in base) and k.endswith(_UP):
            shp = h.shape(k)
            dim = shp[0] if shp else None
            break
        if ("self_attn.norm_q." in base or "self_attn.norm_q_" in base) and k.endswith(".diff"):
            shp = h.shape(k)
            dim = shp[0] if shp else None
            break
    facts: dict[str, object] = {"blocks": len(blocks), "rank": rank, "keys": len(names), "dim": dim,
                                "img_emb": any("img_emb" in k or "k_img" in k for k in names)}
    pe = next((h.shape(k) for k in names if k.endswith(".diff") and "patch_embedding" in k), None)
    if pe is not None and len(pe) > 1:
        facts["in_dim"] = pe[1]
    if wan_like * 2 >= len(names):
        size = f", for Wan {WAN_DIMS[dim]} models" if dim in WAN_DIMS else (f", width {dim}" if dim else "")
        return Identity("lora:wan", f"a Wan LoRA (rank {rank}, {len(blocks)} blocks{size})", dim, facts)
    sample = sorted({k.split(".", 1)[0] for k in names[:50]})[:2]
    return Identity("lora:other", f"a LoRA for another model family, not Wan (keys like {', '.join(sample)})", dim, facts)


def _identify_text_encoder(h: Header, names: list[str]) -> Identity | None:
    kj = _identify_wrapper_t5(h)
    if kj is not None:
        return kj
    for prefix in ("", "text_encoders.umt5xxl.transformer.", "umt5xxl.transformer."):
        wi = h.shape(f"{prefix}encoder.block.23.layer.1.DenseReluDense.wi_1.weight")
        if wi is None:
            continue
        if wi[0] != 10240:
            return Identity("t5:other", f"a T5 encoder with ffn width {wi[0]} (not umT5-XXL)")
        shared = h.shape(f"{prefix}shared.weight")
        per_layer_bias = h.has(f"{prefix}encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight")
        facts: dict[str, object] = {"vocab": shared[0] if shared else None, "scaled_fp8": h.has(f"{prefix}scaled_fp8")}
        if (shared is not None and shared[0] >= 250000) or (shared is None and per_layer_bias):
            return Identity("umt5_xxl", "the umT5-XXL text encoder", facts=facts)
        vocab = f"vocab {shared[0]}, " if shared else ""
        return Identity("t5_xxl", f"the T5-XXL text encoder of Flux/SD3/LTX ({vocab}not umT5: Wan needs umt5_xxl)",
                        facts=facts)
    if h.has("text_model.encoder.layers.0.mlp.fc1.weight"):
        return Identity("clip_text", "a CLIP text encoder (not umT5)")
    if any(k.startswith("model.layers.0.") for k in names):
        return Identity("llm", "an LLM-style text encoder (not umT5)")
    return None


def _identify_wrapper_t5(h: Header) -> Identity | None:
    """umT5-XXL in ComfyUI-WanVideoWrapper's own encoder-only layout (Kijai's umt5-xxl-enc-*:
    token_embedding, blocks.N.attn.*, blocks.N.ffn.fc1/fc2/gate.0, blocks.N.pos_embedding), which
    LoadWanVideoT5TextEncoder reads (nodes_model_loading.py converts the HF layout to it)."""
    fc1 = h.shape("blocks.23.ffn.fc1.weight")
    emb = h.shape("token_embedding.weight")
    if fc1 is None or emb is None:
        return None
    facts: dict[str, object] = {"vocab": emb[0], "layout": "wanvideowrapper", "scaled_fp8": h.has("scaled_fp8")}
    if fc1[0] == 10240 and emb[0] >= 250000:
        return Identity("umt5_xxl", "the umT5-XXL text encoder (WanVideoWrapper's encoder-only layout: its "
                                    "LoadWanVideoT5TextEncoder reads it)", facts=facts)
    return Identity("t5:other", f"a T5 encoder in WanVideoWrapper's layout (ffn width {fc1[0]}, vocab {emb[0]}; "
                                "not umT5-XXL)", facts=facts)


def _identify_clip_vision(h: Header) -> Identity | None:
    for prefix in ("", "clip_vision.", "visual."):
        if h.has(f"{prefix}vision_model.encoder.layers.47.layer_norm1.weight"):
            return Identity("clip_vision:g", "CLIP ViT-bigG vision (not clip_vision_h)")
        if h.has(f"{prefix}vision_model.encoder.layers.30.layer_norm1.weight"):
            return Identity("clip_vision_h", "CLIP ViT-H vision")
        if h.has(f"{prefix}vision_model.encoder.layers.22.layer_norm1.weight"):
            return Identity("clip_vision:l", "CLIP ViT-L or SigLIP vision (not clip_vision_h)")
    if h.has("transformer.resblocks.31.ln_1.weight") or h.has("visual.transformer.resblocks.31.ln_1.weight"):
        return Identity("clip_vision_h", "CLIP ViT-H vision (open_clip layout)")
    return None


def _identify_audio(h: Header) -> Identity | None:
    for prefix in ("", "wav2vec2."):
        ln = h.shape(f"{prefix}encoder.layer_norm.bias")
        if ln is not None:
            if ln[0] == 1024:
                return Identity("wav2vec2_large", "wav2vec2 large (1024-d)", 1024)
            return Identity("wav2vec2:base", f"wav2vec2 base ({ln[0]}-d); Wan 2.2 S2V needs the 1024-d large model",
                            ln[0])
    if h.has("model.encoder.embed_positions.weight"):
        return Identity("whisper", "Whisper large-v3 (S2V needs wav2vec2 large)")
    return None
