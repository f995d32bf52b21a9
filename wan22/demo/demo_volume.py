"""`demo-volume DIR`: tiny random-weight stand-ins under the user's real file names and folders.

Each stand-in has ComfyUI's real tensor names (from wan22/data/layouts), so ComfyUI's own
detection, loaders, LoRA patching, sampling and decoding run on them on a CPU in seconds. Every
file's safetensors metadata marks it a stand-in; the inventory reports them as `stand_in`.

Also here: `write_sparse`, which writes real-size files whose headers look exactly like the real
14B files but whose data is a hole (sparse), for inventory tests and benchmarks.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from .. import __version__
from ..catalog import BY_ROLE, CatalogFile
from ..volume.identify import STAND_IN_KEY
from ..volume.safetensors_header import build_header
from .int8_convrot import header_tensors as int8_header_tensors
from .int8_convrot import int8_convrot_tensors
from .layouts import Layout, load, tiny_spiece_model

ST_DTYPE = {
    torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
    torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2", torch.uint8: "U8",
    torch.int8: "I8", torch.int32: "I32", torch.int64: "I64", torch.bool: "BOOL",
}
NAME_DTYPE = {"float16": "F16", "bfloat16": "BF16", "float32": "F32"}

DEMO_SEED = 22
UMT5_SPIECE_BYTES = 4_548_313  # size of umT5's spiece.model, stored in the real checkpoint
DATASET_POSITIVE = "wan22_demo_positive"
DATASET_NEGATIVE = "wan22_demo_negative"
TEXT_TOKENS = 16
TEXT_DIM = 4096  # Wan's text_dim is fixed; tiny models still take [B, L, 4096] conditioning


# ---------------------------------------------------------------- writing

def write_safetensors(path: str, tensors: list[tuple[str, torch.Tensor]], metadata: dict[str, str]) -> int:
    """Write tensors in order with `metadata`; adds the data section's sha256 to the metadata.
    Returns the file size. Uses a temp file and rename so a crash never leaves half a file.

    Why not `safetensors.torch.save_file`: its writer emits the metadata in hash-map order, so the
    same tensors and metadata give different bytes on every call (measured with safetensors 0.8:
    5 of 5 calls in one process, 4 of 4 across processes differed), and stand-ins must be
    byte-reproducible from their seed (test_seeded_and_reproducible). The header comes from the
    same `build_header` the sparse writer uses; tests read every file back with safetensors."""
    blobs = []
    for name, t in tensors:
        t = t.detach().contiguous().cpu()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        blobs.append((name, ST_DTYPE[t.dtype], tuple(t.shape), raw))
    digest = hashlib.sha256()
    for _, _, _, b in blobs:
        digest.update(b)
    meta = dict(metadata)
    meta["wan22.data_sha256"] = digest.hexdigest()
    head, total = build_header([(n, d, s) for n, d, s, _ in blobs], meta)
    assert total == sum(len(b) for *_, b in blobs)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp-wan22"
    with open(tmp, "wb") as f:
        f.write(head)
        for *_, b in blobs:
            f.write(b)
    os.replace(tmp, path)
    return len(head) + total


def write_sparse(path: str, tensors: list[tuple[str, str, tuple[int, ...]]], metadata: dict[str, str] | None = None,
                 size: int | None = None, total_size: int | None = None) -> int:
    """A file with a real header and a hole where the tensor data would be (apparent size only).
    `size` below the header's data end makes a truncated file; `total_size` pads the header so
    the complete file has exactly that size (as a published file does)."""
    head, total = build_header(tensors, metadata, total_size=total_size)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(len(head) + total if size is None else size)
    return len(head) + total if size is None else size


# ---------------------------------------------------------------- tensors

def _gen(seed_key: str, seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed * 1_000_003 + zlib.crc32(seed_key.encode()))
    return g


def _init(name: str, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """Values that keep activations finite and O(1) through a tiny network."""
    if len(shape) >= 2:
        fan_in = math.prod(shape[1:]) or 1
        return torch.randn(shape, generator=g) / math.sqrt(fan_in)
    if len(shape) == 0:
        return torch.randn((), generator=g) * 0.02
    leaf = name.rsplit(".", 1)[-1]
    if leaf in ("weight", "gamma", "scale") and ("norm" in name or "gamma" in name or leaf == "gamma"):
        return 1.0 + torch.randn(shape, generator=g) * 0.01
    return torch.randn(shape, generator=g) * 0.02


def model_tensors(layout: Layout, seed_key: str, seed: int, dtype: torch.dtype = torch.float16,
                  scaled_fp8: bool = False) -> list[tuple[str, torch.Tensor]]:
    """Random tensors for every key of `layout`; with scaled_fp8, ComfyUI's legacy scaled-fp8
    form: every Linear weight in float8_e4m3fn with a float32 `scale_weight`, plus the
    `scaled_fp8` marker tensor (comfy/utils.py convert_old_quants)."""
    g = _gen(seed_key, seed)
    out: list[tuple[str, torch.Tensor]] = []
    for key, shape, _dt in layout.tensors:
        t = _init(key, shape, g)
        if scaled_fp8 and len(shape) == 2 and key.endswith(".weight"):
            scale = t.abs().max().clamp(min=1e-8) / 448.0
            out.append((key, (t / scale).to(torch.float8_e4m3fn)))
            out.append((key[: -len(".weight")] + ".scale_weight", scale.reshape(()).to(torch.float32)))
        else:
            out.append((key, t.to(dtype)))
    if scaled_fp8:
        out.append(("scaled_fp8", torch.empty(0, dtype=torch.float8_e4m3fn)))
    return out


def lora_tensors(layout: Layout, seed_key: str, seed: int, rank: int = 4, with_img_emb: bool = False,
                 dtype: torch.dtype = torch.float16) -> list[tuple[str, torch.Tensor]]:
    """A LightX2V-format LoRA for `layout`: `diffusion_model.<module>.lora_down/up.weight` and
    `.alpha` for Linear layers, `.diff_b` for their biases, `.diff` for the q/k RMS norms."""
    g = _gen(seed_key, seed)
    out: list[tuple[str, torch.Tensor]] = []
    shapes = {k: s for k, s, _ in layout.tensors}
    for key, shape, _dt in layout.tensors:
        in_blocks = key.startswith("blocks.")
        in_img = with_img_emb and key.startswith("img_emb.")
        if not (in_blocks or in_img):
            continue
        if in_blocks and not any(m in key for m in (".self_attn.", ".cross_attn.", ".ffn.")):
            continue
        if not with_img_emb and ("_img." in key or key.endswith("_img.weight")):
            continue
        mod, leaf = key.rsplit(".", 1)
        base = f"diffusion_model.{mod}"
        if leaf == "weight" and len(shape) == 2:
            out_f, in_f = shape
            out.append((f"{base}.lora_down.weight", (torch.randn((rank, in_f), generator=g) / math.sqrt(in_f)).to(dtype)))
            out.append((f"{base}.lora_up.weight", (torch.randn((out_f, rank), generator=g) * 0.01).to(dtype)))
            out.append((f"{base}.alpha", torch.tensor(float(rank), dtype=torch.float32)))
        elif leaf == "bias" and len(shapes.get(f"{mod}.weight", ())) == 2:
            out.append((f"{base}.diff_b", (torch.randn(shape, generator=g) * 0.001).to(dtype)))
        elif leaf == "weight" and len(shape) == 1 and ("norm_q" in mod or "norm_k" in mod):
            out.append((f"{base}.diff", (torch.randn(shape, generator=g) * 0.001).to(dtype)))
    return out


def umt5_stub_tensors(seed: int) -> list[tuple[str, torch.Tensor]]:
    """The smallest file CLIPLoader(type 'wan') accepts as umT5-XXL: the detection key at full
    shape, the final norm, one per-layer relative bias (the umT5 tell) and a tiny SentencePiece
    model. ComfyUI builds the full 5.7B encoder around it: encoding is slow (tens of seconds on a
    CPU) and gives NaN, so most tests use the precomputed-conditioning datasets instead.
    Plain fp16: a lone scaled-fp8 layer makes this ComfyUI's mixed-precision text-encoder path
    fail on the missing layers."""
    g = _gen("text_encoder", seed)
    wi = torch.randn((10240, 4096), generator=g) * 0.02
    sp = torch.frombuffer(bytearray(tiny_spiece_model()), dtype=torch.uint8)
    return [
        ("encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight", torch.zeros((32, 64), dtype=torch.float16)),
        ("encoder.block.23.layer.1.DenseReluDense.wi_1.weight", wi.to(torch.float16)),
        ("encoder.final_layer_norm.weight", torch.ones(4096, dtype=torch.float16)),
        ("spiece_model", sp.clone()),
    ]


def clip_vision_stub_tensors() -> list[tuple[str, torch.Tensor]]:
    """The detection key of CLIP ViT-H (comfy/clip_vision.py). The rest of the fixed-size ViT-H
    is left uninitialised by ComfyUI: encoding runs (about 6 s) but gives NaN."""
    return [
        ("vision_model.encoder.layers.30.layer_norm1.bias", torch.zeros(1280, dtype=torch.float16)),
        ("vision_model.encoder.layers.30.layer_norm1.weight", torch.ones(1280, dtype=torch.float16)),
    ]


def wav2vec2_stub_tensors() -> list[tuple[str, torch.Tensor]]:
    """The detection key of wav2vec2 large (comfy/audio_encoders): 1024-wide final layer norm."""
    return [
        ("encoder.layer_norm.bias", torch.zeros(1024, dtype=torch.float16)),
        ("encoder.layer_norm.weight", torch.ones(1024, dtype=torch.float16)),
    ]


# ---------------------------------------------------------------- the volume

@dataclass(frozen=True)
class StandIn:
    role: str
    recipe: str  # how to build it


USER_VOLUME = (
    StandIn("i2v_high", "dit:tiny_i2v:fp8"),
    StandIn("i2v_low", "dit:tiny_i2v"),
    StandIn("s2v", "dit:tiny_s2v"),
    StandIn("animate", "dit:tiny_animate"),
    StandIn("vae", "dit:tiny_vae21"),
    StandIn("text_encoder", "umt5"),
    StandIn("clip_vision", "clip_vision"),
    StandIn("audio_encoder", "wav2vec2"),
    StandIn("lora_i2v_high", "lora:tiny_i2v"),
    StandIn("lora_i2v_low", "lora:tiny_i2v"),
    StandIn("lora_t2v_high", "lora:tiny_t2v"),
    StandIn("lora_i2v_480p", "lora:tiny_animate:img"),
    StandIn("lora_animate_relight", "lora:tiny_animate"),
)
T2V_EXTRA = (
    StandIn("t2v_high", "dit:tiny_t2v:fp8"),
    StandIn("t2v_low", "dit:tiny_t2v"),
    StandIn("lora_t2v_low", "lora:tiny_t2v"),
)
# ---- ti2v: `demo-volume --with-5b`. The 5B stand-in is a tiny DiT (3.3 MiB) with the 5B layout
# (out_dim 48, in_dim 48: ComfyUI detects WAN22_T2V). The Wan 2.2 VAE cannot be tiny: comfy/sd.py
# builds it at a fixed size (dim 160, dec_dim 256) whatever the file holds, so its stand-in has the
# real tensor layout (1.31 GiB, as the published file) written sparse: a real header and a hole
# for the data, i.e. all-zero weights, which take no disk space (the video decodes to flat grey).
FIVE_B_EXTRA = (
    StandIn("ti2v5b", "dit:tiny_ti2v_5b"),
    StandIn("vae22", "sparse:real_vae22"),
)
# ---- animate2: `demo-volume --with-animate2`. Both Animate 2 files as tiny DiTs from ComfyUI's
# WanAnimate2Model layout, int8 ConvRot-quantized as ComfyUI stores them (int8_convrot_tensors), with
# the metadata config that makes ComfyUI pick WAN_Animate2; and the bf16 Wan 2.1 VAE the templates load.
ANIMATE2_EXTRA = (
    StandIn("animate2", "dit:tiny_animate2:int8convrot"),
    StandIn("animate2_distill", "dit:tiny_animate2:int8convrot"),
    StandIn("vae_bf16", "dit:tiny_vae21:bf16"),
)
# comfy/model_detection.py applies metadata["config"]["transformer"] over the detected config: the
# only way ComfyUI tells Animate 2 from the Wan 2.1 I2V layout it shares.
ANIMATE2_CONFIG = {"config": json.dumps({"transformer": {"model_type": "animate2"}})}
CONVROT_GROUP_TINY = 64  # a power of 4 that divides every tiny in_features (128, 256, 1280, 4096)


def stand_in_metadata(role: str, seed: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    meta = {
        STAND_IN_KEY: "true",
        "wan22.role": role,
        "wan22.seed": str(seed),
        "wan22.generator": f"wan22 demo-volume {__version__}",
        "wan22.note": "tiny random weights for smoke tests; not a real model",
    }
    meta.update(extra or {})
    return meta


def build_stand_in(entry: CatalogFile, recipe: str, seed: int) -> list[tuple[str, torch.Tensor]]:
    parts = recipe.split(":")
    if parts[0] == "dit":
        layout = load(parts[1])
        if "int8convrot" in parts[2:]:
            return int8_convrot_tensors(model_tensors(layout, entry.role, seed, dtype=torch.float32), CONVROT_GROUP_TINY)
        dtype = torch.bfloat16 if "bf16" in parts[2:] else torch.float16
        return model_tensors(layout, entry.role, seed, dtype=dtype, scaled_fp8="fp8" in parts[2:])
    if parts[0] == "lora":
        return lora_tensors(load(parts[1]), entry.role, seed, with_img_emb="img" in parts[2:])
    if parts[0] == "umt5":
        return umt5_stub_tensors(seed)
    if parts[0] == "clip_vision":
        return clip_vision_stub_tensors()
    if parts[0] == "wav2vec2":
        return wav2vec2_stub_tensors()
    raise ValueError(f"unknown stand-in recipe {recipe!r}")


def conditioning_datasets(root: str, seed: int) -> list[str]:
    """Precomputed text conditioning for tests, in the format core LoadTrainingDataset reads
    (datasets/<name>/shard_0000.pkl + metadata.json): one [1, 16, 4096] umT5-shaped embedding.
    The umT5 stand-in cannot encode text usefully, and these let the graph run end to end."""
    written = []
    for i, name in enumerate((DATASET_POSITIVE, DATASET_NEGATIVE)):
        g = _gen(name, seed + i)
        cond = torch.randn((1, TEXT_TOKENS, TEXT_DIM), generator=g) * 0.5
        shard = {"latents": [{"samples": torch.zeros((1, 16, 1, 8, 8))}],
                 "conditioning": [[[cond, {}]]]}
        d = os.path.join(root, "datasets", name)
        os.makedirs(d, exist_ok=True)
        torch.save(shard, os.path.join(d, "shard_0000.pkl"))
        with open(os.path.join(d, "metadata.json"), "w") as f:
            json.dump({"num_samples": 1, "num_shards": 1, "shard_size": 1,
                       "note": "wan22 demo conditioning (random, umT5-shaped)"}, f, indent=2)
        written.append(d)
    return written


def make_demo_volume(root: str, seed: int = DEMO_SEED, with_t2v: bool = False,
                     roles: Iterable[str] | None = None, with_5b: bool = False,
                     with_animate2: bool = False, community_names: bool = False,
                     gguf: bool = False) -> dict[str, object]:
    """Write the stand-in volume under `root` (<root>/<folder>/<file>). Existing non-stand-in
    files are never overwritten: the call fails instead. `with_5b` adds the TI2V 5B model and
    the Wan 2.2 VAE (FIVE_B_EXTRA); `community_names` and `gguf` the files of
    community_standins."""
    t0 = time.perf_counter()
    plan = list(USER_VOLUME) + (list(T2V_EXTRA) if with_t2v else []) + (list(FIVE_B_EXTRA) if with_5b else [])
    plan += list(ANIMATE2_EXTRA) if with_animate2 else []
    if roles is not None:
        wanted = set(roles)
        plan = [s for s in plan if s.role in wanted]
    root = os.path.abspath(root)
    files = []
    total = 0
    for s in plan:
        entry = BY_ROLE[s.role]
        path = os.path.join(root, entry.folder, entry.name)
        _refuse_real_file(path)
        if s.recipe.startswith("sparse:"):
            size = write_sparse(path, sparse_tensors_for(s.role), stand_in_metadata(s.role, seed, SPARSE_NOTE))
        else:
            extra = ANIMATE2_CONFIG if "tiny_animate2" in s.recipe else None
            size = write_safetensors(path, build_stand_in(entry, s.recipe, seed), stand_in_metadata(s.role, seed, extra))
        total += size
        files.append({"role": s.role, "path": path, "size": size})
    if community_names or gguf:
        from .community_standins import write_extras

        more = write_extras(root, seed, community_names, gguf)
        files += more
        total += sum(int(str(f["size"])) for f in more)
    for d in conditioning_datasets(root, seed):
        for fn in os.listdir(d):
            total += os.path.getsize(os.path.join(d, fn))
    return {"root": root, "files": files, "bytes": total, "seconds": round(time.perf_counter() - t0, 3)}


def _refuse_real_file(path: str) -> None:
    if not os.path.exists(path):
        return
    from ..volume.safetensors_header import HeaderError, read_header

    try:
        h = read_header(path)
    except HeaderError:
        h = None
    if h is None or h.metadata.get(STAND_IN_KEY) != "true":
        raise FileExistsError(
            f"{path} exists and is not a wan22 stand-in: demo-volume never overwrites real files. "
            "Point it at an empty folder."
        )


# ---------------------------------------------------------------- real-size sparse headers

def real_header_tensors(layout_name: str, fp8_scaled: bool = True) -> list[tuple[str, str, tuple[int, ...]]]:
    """(name, safetensors dtype, shape) of a real-size file in Comfy-Org's fp8_scaled form:
    every Linear weight F8_E4M3 with an F32 scale_weight, everything else F16 (with these dtypes
    the I2V expert's header + data come to the published 14,294,742,832 bytes)."""
    layout = load(layout_name)
    out: list[tuple[str, str, tuple[int, ...]]] = []
    for key, shape, dt in layout.tensors:
        if fp8_scaled and len(shape) == 2 and key.endswith(".weight"):
            out.append((key, "F8_E4M3", shape))
            out.append((key[: -len(".weight")] + ".scale_weight", "F32", ()))
        elif fp8_scaled:
            out.append((key, "F16", shape))
        else:
            out.append((key, NAME_DTYPE.get(dt, "F16"), shape))
    if fp8_scaled:
        out.append(("scaled_fp8", "F8_E4M3", (0,)))
    return out


def real_lora_tensors(layout_name: str, rank: int = 64) -> list[tuple[str, str, tuple[int, ...]]]:
    layout = load(layout_name)
    out: list[tuple[str, str, tuple[int, ...]]] = []
    for key, shape, _ in layout.tensors:
        if key.startswith("blocks.") and len(shape) == 2 and key.endswith(".weight"):
            base = "diffusion_model." + key[: -len(".weight")]
            out += [(base + ".lora_down.weight", "BF16", (rank, shape[1])),
                    (base + ".lora_up.weight", "BF16", (shape[0], rank)),
                    (base + ".alpha", "F32", ())]
    return out


SPARSE_NOTE = {"wan22.note": "all-zero weights (a sparse file: the data is a hole) for smoke tests; not a real model"}
SPARSE_RECIPES: dict[str, tuple[str, str]] = {
    "i2v_high": ("dit", "real_i2v"), "i2v_low": ("dit", "real_i2v"),
    "t2v_high": ("dit", "real_t2v"), "t2v_low": ("dit", "real_t2v"),
    "s2v": ("dit", "real_s2v"), "animate": ("dit", "real_animate"),
    "vae": ("plain", "real_vae21"), "text_encoder": ("te", "real_umt5_xxl"),
    "clip_vision": ("plain", "real_clip_vision_h"), "audio_encoder": ("plain", "real_wav2vec2_large"),
    "lora_i2v_high": ("lora", "real_i2v"), "lora_i2v_low": ("lora", "real_i2v"),
    "lora_t2v_high": ("lora", "real_t2v"), "lora_t2v_low": ("lora", "real_t2v"),
    "lora_i2v_480p": ("lora", "real_animate"), "lora_animate_relight": ("lora", "real_animate"),
    "ti2v5b": ("fp16", "real_ti2v_5b"), "vae22": ("plain", "real_vae22"),  # ---- ti2v (the 5B file is fp16)
    "animate2": ("int8convrot", "real_animate2"), "animate2_distill": ("int8convrot", "real_animate2"),  # ---- animate2
    "vae_bf16": ("plain", "real_vae21"),
}
# Metadata a real file carries that its identity depends on (Animate 2: the config ComfyUI reads).
SPARSE_METADATA: dict[str, dict[str, str]] = {"animate2": ANIMATE2_CONFIG, "animate2_distill": ANIMATE2_CONFIG}


def sparse_metadata_for(role: str) -> dict[str, str] | None:
    """The safetensors metadata of `role`'s real file that its identity needs, or None."""
    return SPARSE_METADATA.get(role)


def sparse_tensors_for(role: str) -> list[tuple[str, str, tuple[int, ...]]]:
    kind, layout = SPARSE_RECIPES[role]
    if kind == "dit":
        return real_header_tensors(layout, fp8_scaled=True)
    if kind == "te":
        # the real file also carries umT5's SentencePiece model (about 4.5 MB) as a U8 tensor
        t = real_header_tensors(layout, fp8_scaled=True)
        return ([x for x in t if x[0] != "shared.weight"] + [("shared.weight", "F16", (256384, 4096)),
                                                             ("spiece_model", "U8", (UMT5_SPIECE_BYTES,))])
    if kind == "lora":
        return real_lora_tensors(layout)
    if kind == "int8convrot":
        return int8_header_tensors(list(load(layout).tensors))
    if kind == "fp16":
        return real_header_tensors(layout, fp8_scaled=False)
    return [(k, NAME_DTYPE.get(d, "F16"), s) for k, s, d in load(layout).tensors]


def make_sparse_volume(root: str, roles: Iterable[str] | None = None) -> dict[str, object]:
    """The user's inventory at real sizes as sparse files (no data, real headers)."""
    plan = [s.role for s in USER_VOLUME] if roles is None else list(roles)
    files = []
    apparent = 0
    for role in plan:
        entry = BY_ROLE[role]
        path = os.path.join(root, entry.folder, entry.name)
        tensors = sparse_tensors_for(role)
        exact = entry.size if entry.size_exact else None
        try:
            size = write_sparse(path, tensors, sparse_metadata_for(role), total_size=exact)
        except ValueError:  # our layout is bigger than the published file: write it unpadded
            size = write_sparse(path, tensors, sparse_metadata_for(role))
        apparent += size
        files.append({"role": role, "path": path, "size": size})
    return {"root": os.path.abspath(root), "files": files, "apparent_bytes": apparent}
