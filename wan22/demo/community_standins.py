"""Stand-ins under the names community workflows use: `demo-volume --community-names` and `--gguf`.

--community-names: Kijai-named I2V experts (tiny, fp8 scaled), Wan2_1_VAE_bf16 (tiny),
umt5-xxl-enc-bf16 in WanVideoWrapper's encoder-only layout (sparse: identity keys at full size,
no data on disk), and the Seko 4-step LoRAs under their bare names in a sub-folder.
--gguf: city96-named GGUF experts (I2V and T2V, high and low) and a umT5 encoder GGUF, each with
the real 14B layout and Q5_K_M tensor types, written sparse: a real GGUF header and a hole for
the data (all-zero weights, no disk space). Every file carries the stand-in marker
(`wan22.stand_in` in safetensors metadata or as a GGUF key), so the inventory says `stand_in`.

`write_damage_cases` writes what tests need beside them: a LoRA and a T2V GGUF under I2V expert
names, and a GGUF cut short.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from ..volume.gguf_header import FILE_TYPES, GGML_TYPES
from ..volume.identify import STAND_IN_KEY, STAND_IN_ROLE_KEY
from .demo_volume import (
    build_stand_in,
    lora_tensors,
    stand_in_metadata,
    write_safetensors,
    write_sparse,
)
from .layouts import load

KJ_I2V = {"i2v_high": "Wan2_2-I2V-A14B-HIGH_fp8_e4m3fn_scaled_KJ.safetensors",
          "i2v_low": "Wan2_2-I2V-A14B-LOW_fp8_e4m3fn_scaled_KJ.safetensors"}
KJ_VAE = "Wan2_1_VAE_bf16.safetensors"
KJ_UMT5 = "umt5-xxl-enc-bf16.safetensors"
SEKO_DIR = "Wan2.2-I2V-A14B-4steps-lora-rank64-Seko-V1"
SEKO = {"lora_i2v_high": f"{SEKO_DIR}/high_noise_model.safetensors",
        "lora_i2v_low": f"{SEKO_DIR}/low_noise_model.safetensors"}
GGUF_EXPERTS = {  # role -> (file name, real layout)
    "i2v_high": ("Wan2.2-I2V-A14B-HighNoise-Q5_K_M.gguf", "real_i2v"),
    "i2v_low": ("Wan2.2-I2V-A14B-LowNoise-Q5_K_M.gguf", "real_i2v"),
    "t2v_high": ("Wan2.2-T2V-A14B-HighNoise-Q5_K_M.gguf", "real_t2v"),
    "t2v_low": ("Wan2.2-T2V-A14B-LowNoise-Q5_K_M.gguf", "real_t2v"),
}
GGUF_UMT5 = "umt5-xxl-encoder-Q5_K_M.gguf"
Q5_K_M = next(k for k, v in FILE_TYPES.items() if v == "Q5_K_M")
_TYPE = {name: code for code, (name, _, _) in GGML_TYPES.items()}
_HF_TO_LLAMA = (("encoder.", "enc."), (".block.", ".blk."), ("shared", "token_embd"),
                ("final_layer_norm", "output_norm"), ("layer.0.SelfAttention.relative_attention_bias", "attn_rel_b"),
                ("layer.0.SelfAttention.q", "attn_q"), ("layer.0.SelfAttention.k", "attn_k"),
                ("layer.0.SelfAttention.v", "attn_v"), ("layer.0.SelfAttention.o", "attn_o"),
                ("layer.0.layer_norm", "attn_norm"), ("layer.1.DenseReluDense.wi_1", "ffn_up"),
                ("layer.1.DenseReluDense.wo", "ffn_down"), ("layer.1.DenseReluDense.wi_0", "ffn_gate"),
                ("layer.1.layer_norm", "ffn_norm"))


# ---------------------------------------------------------------- GGUF writing

def _kv(key: str, value: Any) -> bytes:
    k = key.encode()
    out = struct.pack("<Q", len(k)) + k
    if isinstance(value, str):
        v = value.encode()
        return out + struct.pack("<IQ", 8, len(v)) + v
    if isinstance(value, bool):
        return out + struct.pack("<I?", 7, value)
    if isinstance(value, int):
        return out + struct.pack("<II", 4, value)
    if isinstance(value, list):  # arrays of int32 (comfy.gguf.orig_shape.*)
        return out + struct.pack("<IIQ", 9, 5, len(value)) + struct.pack(f"<{len(value)}i", *value)
    raise TypeError(f"GGUF key {key}: {type(value).__name__} values are not written")


def gguf_header_bytes(tensors: list[tuple[str, str, tuple[int, ...]]], metadata: dict[str, Any],
                      alignment: int = 32) -> tuple[bytes, int]:
    """A GGUF v3 header for (name, GGML type name, torch-order shape) tensors laid out in order,
    padded to `alignment`; returns (header bytes, data-section size)."""
    infos = b""
    off = 0
    for name, tname, shape in tensors:
        _, block, width = GGML_TYPES[_TYPE[tname]]
        n = 1
        for d in shape:
            n *= d
        nb = n // block * width
        nm = name.encode()
        infos += struct.pack("<Q", len(nm)) + nm + struct.pack("<I", len(shape))
        infos += struct.pack(f"<{len(shape)}Q", *reversed(shape)) + struct.pack("<IQ", _TYPE[tname], off)
        off += -(-nb // alignment) * alignment
    kvs = b"".join(_kv(k, v) for k, v in metadata.items())
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)) + kvs + infos
    head += b"\0" * (-len(head) % alignment)
    return head, off


def write_gguf_sparse(path: str, tensors: list[tuple[str, str, tuple[int, ...]]], metadata: dict[str, Any],
                      size: int | None = None) -> int:
    """A GGUF file with a real header and a hole for the data (all-zero tensors); `size` below the
    full size makes a file cut short. Returns the file's size."""
    head, data = gguf_header_bytes(tensors, metadata)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    total = len(head) + data if size is None else size
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(total)
    return total


def gguf_tensors(layout_name: str, quant: str = "Q5_K") -> list[tuple[str, str, tuple[int, ...]]]:
    """A real layout as ComfyUI-GGUF's converter and llama.cpp's quantizer leave it: 2-D weights
    whose rows divide into 256-blocks in `quant`, the rest (1-D, 5-D, modulation) F32."""
    out = []
    for key, shape, _ in load(layout_name).tensors:
        q = len(shape) == 2 and shape[-1] % 256 == 0 and "modulation" not in key
        out.append((key, quant if q else "F32", shape))
    return out


def _gguf_meta(role: str, arch: str, note: str) -> dict[str, Any]:
    return {"general.architecture": arch, "general.file_type": Q5_K_M, "general.quantization_version": 2,
            STAND_IN_KEY: "true", STAND_IN_ROLE_KEY: role,
            "wan22.note": f"{note}: a real GGUF header with all-zero weights (a sparse file); not a real model"}


# ---------------------------------------------------------------- the stand-ins

def write_community_names(root: str, seed: int) -> list[dict[str, object]]:
    """Kijai-named experts, VAE and umT5, and bare-named Seko LoRAs (see the module docstring)."""
    from ..catalog import BY_ROLE

    files: list[dict[str, object]] = []
    for role, name in KJ_I2V.items():
        path = os.path.join(root, "diffusion_models", name)
        size = write_safetensors(path, build_stand_in(BY_ROLE[role], "dit:tiny_i2v:fp8", seed),
                                 stand_in_metadata(role, seed))
        files.append({"role": role, "path": path, "size": size})
    path = os.path.join(root, "vae", KJ_VAE)
    size = write_safetensors(path, build_stand_in(BY_ROLE["vae_bf16"], "dit:tiny_vae21:bf16", seed),
                             stand_in_metadata("vae_bf16", seed))
    files.append({"role": "vae_bf16", "path": path, "size": size})
    path = os.path.join(root, "text_encoders", KJ_UMT5)
    size = write_sparse(path, wrapper_umt5_tensors(), stand_in_metadata("text_encoder", seed))
    files.append({"role": "text_encoder", "path": path, "size": size})
    for role, name in SEKO.items():
        path = os.path.join(root, "loras", name)
        size = write_safetensors(path, lora_tensors(load("tiny_i2v"), role, seed), stand_in_metadata(role, seed))
        files.append({"role": role, "path": path, "size": size})
    return files


def wrapper_umt5_tensors() -> list[tuple[str, str, tuple[int, ...]]]:
    """The keys that identify umT5-XXL in WanVideoWrapper's layout, at full size, bf16."""
    return [("token_embedding.weight", "BF16", (256384, 4096)),
            ("blocks.0.pos_embedding.embedding.weight", "BF16", (32, 64)),
            ("blocks.23.ffn.fc1.weight", "BF16", (10240, 4096)),
            ("norm.weight", "BF16", (4096,))]


def write_gguf_standins(root: str) -> list[dict[str, object]]:
    """city96-named GGUF experts (I2V and T2V pairs) and the umT5 encoder GGUF, sparse."""
    files: list[dict[str, object]] = []
    for role, (name, layout) in GGUF_EXPERTS.items():
        path = os.path.join(root, "diffusion_models", name)
        size = write_gguf_sparse(path, gguf_tensors(layout), _gguf_meta(role, "wan", f"stand-in for {name}"))
        files.append({"role": role, "path": path, "size": size})
    path = os.path.join(root, "text_encoders", GGUF_UMT5)
    size = write_gguf_sparse(path, umt5_gguf_tensors(), _gguf_meta("text_encoder", "t5encoder", f"stand-in for {GGUF_UMT5}"))
    files.append({"role": "text_encoder", "path": path, "size": size})
    return files


def umt5_gguf_tensors() -> list[tuple[str, str, tuple[int, ...]]]:
    """umT5-XXL's encoder under llama.cpp's T5 names, as ComfyUI-GGUF's text-encoder GGUFs are."""
    out = []
    for key, shape, _ in load("real_umt5_xxl").tensors:
        if not (key.startswith("encoder.") or key == "shared.weight"):
            continue
        for a, b in _HF_TO_LLAMA:
            key = key.replace(a, b)
        q = len(shape) == 2 and shape[-1] % 256 == 0
        out.append((key, "Q5_K" if q else "F32", shape))
    return out


def write_damage_cases(root: str, seed: int) -> dict[str, str]:
    """Files under expert names that are not what the name says, for tests: a LoRA under a KJ
    I2V expert name, a T2V GGUF under an I2V GGUF name, an I2V GGUF cut to half its size."""
    out: dict[str, str] = {}
    path = os.path.join(root, "diffusion_models", KJ_I2V["i2v_high"])
    write_safetensors(path, lora_tensors(load("tiny_i2v"), "lora_i2v_high", seed), stand_in_metadata("lora_i2v_high", seed))
    out["lora_as_expert"] = path
    path = os.path.join(root, "diffusion_models", GGUF_EXPERTS["i2v_low"][0])
    write_gguf_sparse(path, gguf_tensors("real_t2v"), _gguf_meta("t2v_low", "wan", "a T2V stand-in under an I2V name"))
    out["t2v_gguf_as_i2v"] = path
    name = GGUF_EXPERTS["i2v_high"][0]
    path = os.path.join(root, "diffusion_models", name)
    tensors = gguf_tensors("real_i2v")
    head, data = gguf_header_bytes(tensors, _gguf_meta("i2v_high", "wan", f"stand-in for {name}"))
    write_gguf_sparse(path, tensors, _gguf_meta("i2v_high", "wan", f"stand-in for {name}"), size=len(head) + data // 2)
    out["gguf_cut_short"] = path
    return out


def write_extras(root: str, seed: int, community_names: bool, gguf: bool) -> list[dict[str, object]]:
    """What `demo-volume --community-names / --gguf` add, refusing to overwrite a real file."""
    for path in planned_paths(root, community_names, gguf):
        _refuse_real(path)
    files = write_community_names(root, seed) if community_names else []
    return files + (write_gguf_standins(root) if gguf else [])


def planned_paths(root: str, community_names: bool, gguf: bool) -> list[str]:
    out = []
    if community_names:
        out += [os.path.join(root, "diffusion_models", n) for n in KJ_I2V.values()]
        out += [os.path.join(root, "vae", KJ_VAE), os.path.join(root, "text_encoders", KJ_UMT5)]
        out += [os.path.join(root, "loras", n) for n in SEKO.values()]
    if gguf:
        out += [os.path.join(root, "diffusion_models", n) for n, _ in GGUF_EXPERTS.values()]
        out.append(os.path.join(root, "text_encoders", GGUF_UMT5))
    return out


def _refuse_real(path: str) -> None:
    if not os.path.exists(path):
        return
    from ..volume.gguf_header import GGUFError, read_gguf_header
    from .demo_volume import _refuse_real_file

    if not path.lower().endswith(".gguf"):
        _refuse_real_file(path)
        return
    try:
        marked = read_gguf_header(path).metadata.get(STAND_IN_KEY) == "true"
    except GGUFError:
        marked = False
    if not marked:
        raise FileExistsError(f"{path} exists and is not a wan22 stand-in: demo-volume never overwrites real files. "
                              "Point it at an empty folder.")
