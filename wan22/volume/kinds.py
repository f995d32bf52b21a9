"""A model file judged by its header as the kind of model a loader input expects, whatever its
name: the official names, Kijai-style names, bare-named LoRAs (`high_noise_model.safetensors`)
and GGUF files alike.

    judge_file(path, kind, fmt="any", headers=None) -> Judgement
        kind: what the loader input expects, as wan22/data/loaders.json names it (diffusion_model,
        text_encoder, vae, lora, clip_vision, audio_encoder, checkpoint, upscale_model, other);
        fmt: the input's `format` there (safetensors, gguf, any). The file's name narrows the
        expectation where it says what it is (I2V, T2V, S2V, Animate, 5B, umT5, the 2.1 or 2.2
        VAE): a T2V model or a LoRA under an I2V expert's name reads `wrong_model`. High vs low
        noise cannot be told from the weights (both experts have one layout): the name decides.
        Judgement.status is ok, wrong_model, truncated, corrupt or stand_in.
    identify_file(path, headers=None) -> FileIdentity | None   (None: no header to read)
    same_model_candidates(identity, paths, headers=None) -> list[str]
        The files among `paths` whose header is the same model (family, variant, size): where a
        graph asks for a Kijai name and the volume holds the official file of that model.

Only headers are read (safetensors_header, gguf_header). A GGUF's tensor names are ComfyUI's key
names (ComfyUI-GGUF's converter keeps them; 5-D tensors carry `comfy.gguf.orig_shape.<name>`),
except text encoders, which use llama.cpp names (`enc.blk.N.ffn_up`) mapped back here as
ComfyUI-GGUF's loader maps them; so the safetensors rules of identify.py apply to both.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from .checks import HeaderCache, kind_fits
from .gguf_header import GGUFError, GGUFHeader, read_gguf_header
from .identify import STAND_IN_KEY, STAND_IN_ROLE_KEY, WAN_DIMS, Identity, identify
from .safetensors_header import Header, HeaderError

STATUSES = ("ok", "wrong_model", "truncated", "corrupt", "stand_in")
_NOT_MODEL = "lora,wan_vae,vae,umt5_xxl,t5_xxl,t5,clip_text,llm,clip_vision_h,clip_vision,wav2vec2_large,wav2vec2,whisper"
# kind (loaders.json) -> (words for people, kind spec for checks.kind_fits)
EXPECTS: dict[str, tuple[str, str]] = {
    "diffusion_model": ("a diffusion model", f"not:{_NOT_MODEL}"),
    "checkpoint": ("a checkpoint", f"not:{_NOT_MODEL}"),
    "text_encoder": ("a text encoder", "not:wan_dit,lora,wan_vae,vae,clip_vision_h,clip_vision,wav2vec2_large,"
                                       "wav2vec2,whisper,checkpoint"),
    "vae": ("a VAE", "any:wan_vae,vae"),
    "lora": ("a LoRA", "any:lora"),
    "clip_vision": ("a CLIP vision encoder", "any:clip_vision_h,clip_vision"),
    "audio_encoder": ("an audio encoder", "any:wav2vec2_large,wav2vec2,whisper"),
    "upscale_model": ("an upscale model", "not:wan_dit,lora,wan_vae,umt5_xxl"),
    "other": ("a model file", "not:"),
}
_T5_NAMES = (("enc.", "encoder."), (".blk.", ".block."), ("token_embd", "shared"), ("output_norm", "final_layer_norm"),
             ("attn_rel_b", "layer.0.SelfAttention.relative_attention_bias"), ("attn_norm", "layer.0.layer_norm"),
             ("attn_q", "layer.0.SelfAttention.q"), ("attn_k", "layer.0.SelfAttention.k"),
             ("attn_v", "layer.0.SelfAttention.v"), ("attn_o", "layer.0.SelfAttention.o"),
             ("ffn_up", "layer.1.DenseReluDense.wi_1"), ("ffn_down", "layer.1.DenseReluDense.wo"),
             ("ffn_gate", "layer.1.DenseReluDense.wi_0"), ("ffn_norm", "layer.1.layer_norm"))
_TEXT_ARCHS = ("t5", "t5encoder")


@dataclass(frozen=True)
class FileIdentity:
    """What a file's header says it is."""

    kind: str  # identify.Identity.kind: wan_dit:i2v22, wan_dit:t2v, umt5_xxl, wan_vae:2.1, lora:wan, ...
    format: str  # safetensors or gguf
    size: str | None  # 14B, 5B, 1.3B (Wan models), None otherwise
    quant: str | None  # Q5_K_M, fp8 scaled, bf16, int8_convrot...
    description: str  # "Wan 2.2 I2V 14B expert, GGUF Q5_K_M"
    label: str  # identify.Identity.label (the longer sentence)
    stand_in: bool = False
    role: str | None = None  # a stand-in's catalog role (wan22.role)
    facts: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def family(self) -> str:
        return self.kind.split(":", 1)[0]

    @property
    def model(self) -> tuple[str, str | None]:
        """What "the same model" compares: kind and size (not the format or quantization)."""
        return self.kind, self.size


@dataclass(frozen=True)
class Judgement:
    path: str
    status: str  # one of STATUSES
    identity: FileIdentity | None
    description: str  # what the file is, or why it cannot be used
    hint: str = ""  # what to do


# ---------------------------------------------------------------- GGUF as a header

def gguf_as_header(g: GGUFHeader) -> Header:
    """A GGUF header in safetensors terms (ComfyUI key names, torch-order shapes, GGML type names
    as dtypes), so identify() reads it as it reads a safetensors file."""
    text = g.architecture in _TEXT_ARCHS
    entries: dict[str, dict[str, object]] = {}
    for name, t in g.tensors.items():
        shape = g.metadata.get(f"comfy.gguf.orig_shape.{name}")
        shape_l = list(shape) if isinstance(shape, list) else list(t.shape)
        key = _t5_name(name) if text else name
        entries[key] = {"dtype": t.type_name, "shape": shape_l, "data_offsets": [t.offset, t.offset + t.nbytes]}
    meta = {k: str(v) for k, v in g.metadata.items() if isinstance(v, (str, int, float, bool))}
    return Header(path=g.path, file_size=g.file_size, header_size=g.data_start - 8, entries=entries,
                  data_size=g.data_size, metadata=meta)


def _t5_name(name: str) -> str:
    for a, b in _T5_NAMES:
        name = name.replace(a, b)
    return name


def gguf_quant(g: GGUFHeader) -> str | None:
    """The quantization a GGUF names (general.file_type), else its commonest weight type."""
    if g.file_type:
        return g.file_type
    types = Counter(t.type_name for t in g.tensors.values() if len(t.shape) >= 2)
    return types.most_common(1)[0][0] if types else None


def safetensors_quant(h: Header, ident: Identity) -> str | None:
    """How the weights are stored: ComfyUI's mixed quantization (identify.quantization), fp8
    with the `scaled_fp8` marker (Comfy-Org's and ComfyUI's legacy scaled form), fp8 with
    per-layer `.scale_weight` but no marker (read by WanVideoWrapper, which scales either way;
    ComfyUI converts the scales only with the marker), plain fp8, or the commonest 2-D dtype."""
    if ident.facts.get("quant"):
        return str(ident.facts["quant"])
    dtypes = Counter(str(e.get("dtype")) for e in h.entries.values() if len(e.get("shape") or ()) >= 2)
    if not dtypes:
        return None
    top = dtypes.most_common(1)[0][0]
    if top.startswith("F8"):
        if h.has("scaled_fp8") or any(h.has(p + "scaled_fp8") for p in ("model.diffusion_model.", "diffusion_model.")):
            return "fp8 scaled"
        if any(k.endswith(".scale_weight") for k in h.entries):
            return "fp8 scaled (no scaled_fp8 marker)"
        return "fp8" if top == "F8_E4M3" else "fp8 e5m2"
    return {"BF16": "bf16", "F16": "fp16", "F32": "fp32"}.get(top, top)


# ---------------------------------------------------------------- identity

def describe(ident: Identity, fmt: str, quant: str | None) -> str:
    """A short name for people: 'Wan 2.2 I2V 14B expert, GGUF Q5_K_M'."""
    size = WAN_DIMS.get(ident.dim or 0, "")
    sized = f" {size}" if size else ""
    names = {
        "wan_dit:i2v22": f"Wan 2.2 I2V{sized} expert", "wan_dit:t2v": f"Wan T2V{sized} (a Wan 2.2 expert or Wan 2.1)",
        "wan_dit:i2v21": f"Wan 2.1 I2V{sized}", "wan_dit:flf2v21": f"Wan 2.1 FLF2V{sized}",
        "wan_dit:s2v": f"Wan 2.2 S2V{sized}", "wan_dit:animate": f"Wan 2.2 Animate{sized}",
        "wan_dit:animate2": f"Wan Animate 2{sized}", "wan_dit:ti2v5b": "Wan 2.2 TI2V 5B",
        "wan_dit:vace": f"Wan VACE{sized}", "wan_dit:camera": f"Wan Fun Camera{sized}", "wan_dit:humo": f"Wan HuMo{sized}",
        "umt5_xxl": "umT5-XXL text encoder", "wan_vae:2.1": "Wan 2.1 VAE", "wan_vae:2.2": "Wan 2.2 VAE",
        "clip_vision_h": "CLIP ViT-H vision", "wav2vec2_large": "wav2vec2 large",
    }
    if ident.kind == "lora:wan":
        rank = ident.facts.get("rank")
        target = f" for {size} models" if size else ""
        task = {36: " (I2V)", 16: " (T2V)"}.get(ident.facts.get("in_dim") or 0, "")  # type: ignore[call-overload]
        name = f"Wan LoRA{task}" + (f", rank {rank}" if rank else "") + target
    else:
        name = names.get(ident.kind, ident.label[:1].upper() + ident.label[1:])
    if ident.facts.get("layout") == "wanvideowrapper":
        name += " (WanVideoWrapper layout)"
    if fmt == "gguf":
        return f"{name}, GGUF {quant}" if quant else f"{name}, GGUF"
    return f"{name}, {quant}" if quant else name


def _identity(h: Header, fmt: str, quant: str | None, known: Identity | None = None) -> FileIdentity:
    ident = known if known is not None else identify(h)
    q = quant if fmt == "gguf" else safetensors_quant(h, ident)
    stand_in = h.metadata.get(STAND_IN_KEY, "").lower() in ("1", "true", "yes")
    size = WAN_DIMS.get(ident.dim or 0) if ident.family in ("wan_dit", "lora") else None
    return FileIdentity(ident.kind, fmt, size, q, describe(ident, fmt, q), ident.label, stand_in,
                        h.metadata.get(STAND_IN_ROLE_KEY), dict(ident.facts))


@dataclass
class _Read:
    """One file's header read: the identity, or the damage (status, why)."""

    identity: FileIdentity | None
    damage: tuple[str, str] | None
    size: int


_GGUF_CACHE: dict[str, tuple[tuple[int, int, int, int], _Read]] = {}


def _read(path: str, headers: HeaderCache) -> _Read:
    try:
        st = os.stat(path)
    except OSError as e:
        return _Read(None, ("corrupt", f"cannot read it ({e.strerror}): check the volume is mounted and readable"), 0)
    if not stat.S_ISREG(st.st_mode):
        return _Read(None, ("corrupt", "not a regular file (a pipe, device or socket): replace it with the model file"), 0)
    low = path.lower()
    if low.endswith(".gguf"):
        key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        hit = _GGUF_CACHE.get(path)
        if hit is None or hit[0] != key:
            if len(_GGUF_CACHE) >= 512:
                _GGUF_CACHE.clear()
            hit = (key, _read_gguf(path, st.st_size))
            _GGUF_CACHE[path] = hit
        return hit[1]
    if not low.endswith((".safetensors", ".sft")):
        return _Read(None, None, st.st_size)
    h, known = headers.get(path, st)
    if isinstance(h, HeaderError):
        return _Read(None, ("corrupt", f"not a readable safetensors file: {h}"), st.st_size)
    ident = _identity(h, "safetensors", None, known)
    if h.truncated:
        return _Read(ident, ("truncated", _cut_short(h.file_size, h.data_end)), st.st_size)
    if h.trailing_bytes:
        return _Read(ident, ("corrupt", f"{h.trailing_bytes:,} extra bytes after the last tensor: the safetensors "
                                        "library refuses such a file"), st.st_size)
    return _Read(ident, None, st.st_size)


def _read_gguf(path: str, size: int) -> _Read:
    try:
        g = read_gguf_header(path)
    except GGUFError as e:
        if e.reason == "header_past_eof":
            return _Read(None, ("truncated", f"a GGUF file cut short inside its header ({e})"), size)
        return _Read(None, ("corrupt", f"not a readable GGUF file: {e}"), size)
    ident = _identity(gguf_as_header(g), "gguf", gguf_quant(g))
    if g.truncated:
        return _Read(ident, ("truncated", _cut_short(g.file_size, g.data_end)), size)
    return _Read(ident, None, size)


def _cut_short(have: int, need: int) -> str:
    return (f"the file is {have:,} bytes but its header needs {need:,} ({need - have:,} bytes missing, "
            f"{100.0 * have / max(need, 1):.1f}% present): the download stopped early")


def identify_file(path: str, headers: HeaderCache | None = None) -> FileIdentity | None:
    """The identity a file's header gives (also for a truncated file), or None when there is no
    header to read (not .safetensors/.gguf, unreadable, not the format its name says)."""
    return _read(path, headers or HeaderCache()).identity


# ---------------------------------------------------------------- what a name says

def name_expects(name: str, kind: str) -> tuple[str, str] | None:
    """What the file name says the model is, narrower than `kind` allows: (words, kind spec), or
    None when the name says nothing the header can check. High/low noise is not checked here:
    both experts have one layout."""
    base = os.path.basename(name.replace("\\", "/")).lower()
    flat = base.replace("-", "_").replace(".", "_").replace(" ", "_")
    if kind in ("diffusion_model", "checkpoint"):
        return _dit_name(flat)
    if kind == "vae":
        if "wan" in flat and any(t in flat for t in ("2_2_vae", "22_vae", "wan2_2")):
            return "the Wan 2.2 VAE", "wan_vae:2.2"
        if "wan" in flat and any(t in flat for t in ("2_1_vae", "21_vae", "wan2_1", "wan_2_1")):
            return "the Wan 2.1 VAE", "wan_vae:2.1"
        return None
    if kind == "text_encoder" and "umt5" in flat:
        return "the umT5-XXL text encoder", "umt5_xxl"
    if kind == "clip_vision" and "clip_vision_h" in flat:
        return "CLIP ViT-H vision", "clip_vision_h"
    return None


def _dit_name(flat: str) -> tuple[str, str] | None:
    tokens = set(flat.split("_"))
    wan21 = any(t in flat for t in ("wan2_1", "wan21", "wan_2_1"))
    wan22 = any(t in flat for t in ("wan2_2", "wan22", "wan_2_2"))
    if "ti2v" in tokens or ("5b" in tokens and wan22):
        return "the Wan 2.2 TI2V 5B model", "wan_dit:ti2v5b"
    if "animate" in tokens or "wananimate" in flat:
        return "a Wan Animate model", "any:wan_dit:animate,wan_dit:animate2"
    if "s2v" in tokens:
        return "the Wan 2.2 S2V model", "wan_dit:s2v"
    if "flf2v" in tokens:
        return "a Wan FLF2V model", "any:wan_dit:flf2v21"
    if "vace" in tokens:
        return "a Wan VACE model", "wan_dit:vace"
    if "i2v" in tokens:
        if wan22:
            return "a Wan 2.2 I2V expert", "wan_dit:i2v22"
        if wan21:
            return "a Wan 2.1 I2V model", "wan_dit:i2v21"
        return "a Wan I2V model", "any:wan_dit:i2v22,wan_dit:i2v21"
    if "t2v" in tokens:
        return "a Wan T2V model", "wan_dit:t2v"
    return None


# ---------------------------------------------------------------- judging

def judge_file(path: str, kind: str, fmt: str = "any", headers: HeaderCache | None = None) -> Judgement:
    """`path` judged as what a loader input of `kind` and `fmt` (loaders.json) loads. See the
    module docstring."""
    headers = headers or HeaderCache()
    r = _read(path, headers)
    ext = os.path.splitext(path)[1].lower()
    if fmt == "gguf" and ext != ".gguf":
        return Judgement(path, "wrong_model", r.identity, f"a {ext or 'extensionless'} file, but this loader reads "
                         "only .gguf files", "pick a .gguf file, or load this one with a safetensors loader")
    if fmt == "safetensors" and ext == ".gguf":
        return Judgement(path, "wrong_model", r.identity, "a GGUF file, but this loader reads no GGUF",
                         "load it with a GGUF loader (ComfyUI-GGUF's UnetLoaderGGUF / CLIPLoaderGGUF) or pick a "
                         ".safetensors file")
    if r.damage is not None:
        status, why = r.damage
        also = _mismatch(path, kind, r.identity) if r.identity is not None else ""
        return Judgement(path, status, r.identity, why + (f"; also: {also}" if also else ""),
                         "re-download it" if status in ("truncated", "corrupt") else "")
    if r.identity is None:
        return Judgement(path, "ok", None, f"a {ext or 'extensionless'} file: only its presence is checked "
                         "(headers are read from .safetensors and .gguf files)")
    problem = _mismatch(path, kind, r.identity)
    if problem:
        return Judgement(path, "wrong_model", r.identity, problem, "put the right file under this name, or pick the "
                         "file that holds this model")
    if r.identity.stand_in:
        return Judgement(path, "stand_in", r.identity, f"a demo-volume stand-in of {r.identity.description}: "
                         "workflows run, the weights are not a real model's")
    return Judgement(path, "ok", r.identity, r.identity.description)


def _mismatch(path: str, kind: str, ident: FileIdentity) -> str:
    words, spec = EXPECTS.get(kind, EXPECTS["other"])
    if not kind_fits(spec, ident.kind):
        return f"the header says this is {ident.description}, but the loader expects {words}"
    named = name_expects(path, kind)
    if named is not None and not kind_fits(named[1], ident.kind):
        return f"the name says {named[0]}, but the header says this is {ident.description}"
    return ""


def same_model_candidates(identity: FileIdentity, paths: Iterable[str], headers: HeaderCache | None = None) -> list[str]:
    """The files among `paths` (a folder listing) whose header is the same model as `identity`
    (kind and size; any format or quantization), readable and complete, in the given order."""
    headers = headers or HeaderCache()
    out = []
    for p in paths:
        r = _read(p, headers)
        if r.damage is None and r.identity is not None and r.identity.model == identity.model:
            out.append(p)
    return out
