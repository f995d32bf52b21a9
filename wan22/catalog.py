"""Every Wan 2.2 file the pack's modes use: role, ComfyUI folder key, default file name, expected
size, the header identity that proves what the file is, and where to download it; and the facts
about ComfyUI's model folders and the inventory's status vocabulary that every wing shares.

The default names are the ones on the user's volume (and in the official ComfyUI templates).
Where the user's setup document is wrong, the entry's `note` says what is true and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

GIB = 1024**3
MIB = 1024**2

HF_22 = "https://huggingface.co/Comfy-Org/Wan_2.2_ComfyUI_Repackaged/resolve/main/split_files"
HF_21 = "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files"
HF_KJ = "https://huggingface.co/Kijai/WanVideo_comfy/resolve/main"
HF_KJ_FP8 = "https://huggingface.co/Kijai/WanVideo_comfy_fp8_scaled/resolve/main"
HF_A2 = "https://huggingface.co/Comfy-Org/Wan-Animate-2/resolve/main"


@dataclass(frozen=True)
class CatalogFile:
    role: str
    name: str
    folder: str  # ComfyUI folder key (folder_paths), not a directory name
    kind: str  # expected identity, see wan22.identify
    description: str
    size: int | None  # bytes; None when no public figure was found
    size_exact: bool  # True: the byte count of the published file; False: approximate
    url: str
    dim: int | None = None  # expected model width of a real (non stand-in) file
    loader: str = ""  # the ComfyUI node that loads it
    note: str = ""  # where the user's setup document is wrong about this file
    sha256: str | None = None  # published hash, when known (for --verify)
    blake3: str | None = None  # published blake3, when known (--verify prefers it when blake3 is installed)


EXPERT_NOTE = (
    "The high-noise and low-noise experts are not 'high motion' and 'subtle motion' variants: "
    "Wan 2.2 A14B runs the high-noise expert for the early, noisy steps and hands the latent to "
    "the low-noise expert for the rest. Every I2V/T2V run needs both."
)

FILES: tuple[CatalogFile, ...] = (
    CatalogFile(
        "i2v_high", "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors", "diffusion_models",
        "wan_dit:i2v22", "Wan 2.2 I2V A14B high-noise expert (early steps)",
        14_294_742_832, True, f"{HF_22}/diffusion_models/wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
        dim=5120, loader="UNETLoader", note=EXPERT_NOTE,
    ),
    CatalogFile(
        "i2v_low", "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors", "diffusion_models",
        "wan_dit:i2v22", "Wan 2.2 I2V A14B low-noise expert (late steps)",
        14_294_742_832, True, f"{HF_22}/diffusion_models/wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
        dim=5120, loader="UNETLoader", note=EXPERT_NOTE,
    ),
    CatalogFile(
        "t2v_high", "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors", "diffusion_models",
        "wan_dit:t2v", "Wan 2.2 T2V A14B high-noise expert (early steps)",
        14_294_742_832, False, f"{HF_22}/diffusion_models/wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors",
        dim=5120, loader="UNETLoader",
        note="T2V A14B is two expert files, not the single 'wan2.2_t2v_14B_fp8_scaled' the setup document names.",
    ),
    CatalogFile(
        "t2v_low", "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors", "diffusion_models",
        "wan_dit:t2v", "Wan 2.2 T2V A14B low-noise expert (late steps)",
        14_294_742_832, False, f"{HF_22}/diffusion_models/wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors",
        dim=5120, loader="UNETLoader",
        note="T2V A14B is two expert files, not the single 'wan2.2_t2v_14B_fp8_scaled' the setup document names.",
    ),
    CatalogFile(
        "s2v", "wan2.2_s2v_14B_fp8_scaled.safetensors", "diffusion_models",
        "wan_dit:s2v", "Wan 2.2 S2V 14B (single model, audio-driven)",
        int(15.27 * GIB), False, f"{HF_22}/diffusion_models/wan2.2_s2v_14B_fp8_scaled.safetensors",
        dim=5120, loader="UNETLoader", note="About 16.4 GB, not ~14 GB.",
    ),
    CatalogFile(
        "animate", "Wan2_2-Animate-14B_fp8_e4m3fn_scaled_KJ.safetensors", "diffusion_models",
        "wan_dit:animate", "Wan 2.2 Animate 14B (Kijai fp8 scaled)",
        None, False, f"{HF_KJ_FP8}/Wan22Animate/Wan2_2-Animate-14B_fp8_e4m3fn_scaled_KJ.safetensors",
        dim=5120, loader="UNETLoader",
        note="Animate is character animation / replacement from a driving video; 'lighting control' comes only from the relight LoRA.",
    ),
    CatalogFile(
        "text_encoder", "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "text_encoders",
        "umt5_xxl", "umT5-XXL text encoder (load with CLIPLoader type 'wan')",
        6_735_906_897, True, f"{HF_21}/text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
        loader="CLIPLoader",
        note="Loaded by CLIPLoader with type 'wan' (not DualCLIPLoader); about 6.7 GB, not 4.5 GB.",
    ),
    CatalogFile(
        "vae", "wan_2.1_vae.safetensors", "vae",
        "wan_vae:2.1", "Wan 2.1 VAE (used by every Wan 2.2 14B model)",
        253_815_318, True, f"{HF_22}/vae/wan_2.1_vae.safetensors",
        dim=96, loader="VAELoader",
        note="About 254 MB, not 160 MB. The Wan 2.2 VAE (wan2.2_vae) is for the 5B model only.",
    ),
    CatalogFile(
        "clip_vision", "clip_vision_h.safetensors", "clip_vision",
        "clip_vision_h", "CLIP ViT-H vision encoder (Animate only)",
        int(1.18 * GIB), False, f"{HF_21}/clip_vision/clip_vision_h.safetensors",
        loader="CLIPVisionLoader",
        note="Only Animate uses it. Wan 2.2 I2V has no image-embedding layers and takes the start image as latent channels. About 1.26 GB, not 3.7 GB.",
    ),
    CatalogFile(
        "audio_encoder", "wav2vec2_large_english_fp16.safetensors", "audio_encoders",
        "wav2vec2_large", "wav2vec2 large audio encoder (S2V only)",
        int(601.8 * MIB), False, f"{HF_22}/audio_encoders/wav2vec2_large_english_fp16.safetensors",
        loader="AudioEncoderLoader",
        note="Loaded by AudioEncoderLoader (input 'audio_encoder_name').",
    ),
    CatalogFile(
        "lora_i2v_high", "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors", "loras",
        "lora:wan", "LightX2V 4-step I2V LoRA for the high-noise expert",
        int(1.14 * GIB), False, f"{HF_22}/loras/wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors",
        loader="LoraLoaderModelOnly",
        note="Goes on the high-noise expert only, at strength 1.0, 4 steps, cfg 1. About 1.2 GB, not 100 MB.",
    ),
    CatalogFile(
        "lora_i2v_low", "wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors", "loras",
        "lora:wan", "LightX2V 4-step I2V LoRA for the low-noise expert",
        int(1.14 * GIB), False, f"{HF_22}/loras/wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors",
        loader="LoraLoaderModelOnly",
        note="Goes on the low-noise expert only, at strength 1.0, 4 steps, cfg 1. About 1.2 GB, not 100 MB.",
    ),
    CatalogFile(
        "lora_t2v_high", "wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors", "loras",
        "lora:wan", "LightX2V 4-step T2V LoRA v1.1, high-noise expert (also S2V's 4-step LoRA)",
        int(1.14 * GIB), False, f"{HF_22}/loras/wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors",
        loader="LoraLoaderModelOnly",
        note="T2V fast needs this AND the low-noise v1.1 LoRA. The official S2V template uses this one on the S2V model.",
    ),
    CatalogFile(
        "lora_t2v_low", "wan2.2_t2v_lightx2v_4steps_lora_v1.1_low_noise.safetensors", "loras",
        "lora:wan", "LightX2V 4-step T2V LoRA v1.1, low-noise expert",
        int(1.14 * GIB), False, f"{HF_22}/loras/wan2.2_t2v_lightx2v_4steps_lora_v1.1_low_noise.safetensors",
        loader="LoraLoaderModelOnly",
        note="Not on the user's volume: T2V fast cannot run without it.",
    ),
    CatalogFile(
        "lora_i2v_480p", "lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors", "loras",
        "lora:wan", "LightX2V Wan 2.1 I2V 480p step/cfg distill LoRA (Animate's distill LoRA)",
        int(703.8 * MIB), False, f"{HF_KJ}/Lightx2v/lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors",
        loader="LoraLoaderModelOnly",
        note="A Wan 2.1 LoRA: on Wan 2.2 I2V experts ComfyUI reports its img_emb keys as not loaded, which is harmless. About 738 MB.",
    ),
    CatalogFile(
        "lora_animate_relight", "WanAnimate_relight_lora_fp16.safetensors", "loras",
        "lora:wan", "Wan Animate relight LoRA (matches the character's lighting to the scene)",
        None, False, f"{HF_KJ}/LoRAs/Wan22_relight/WanAnimate_relight_lora_fp16.safetensors",
        loader="LoraLoaderModelOnly",
        note="Used with Animate in replace (mix) mode; optional in move mode.",
    ),
    # ---- ti2v
    # Wan 2.2 TI2V 5B: names, folders and URLs from the ComfyUI template video_wan2_2_5B_ti2v
    # (UNETLoader / VAELoader properties.models); sizes from its notes ("9.31 GB" / "1.31 GB", which
    # are GiB: wan22-facts section 8). ComfyUI detects the model by out_dim 48 (head.head.weight rows
    # // 4, comfy/model_detection.py) -> WAN22_T2V (48-channel latent, /16 spatial), and the VAE by
    # decoder.upsamples.0.upsamples.0.residual.2.weight (comfy/sd.py: "Wan 2.2 VAE").
    # No step-distill LoRA for the 5B model is in the templates package or the facts doc, so ti2v has
    # only the 'quality' preset (no 'fast').
    CatalogFile(
        "ti2v5b", "wan2.2_ti2v_5B_fp16.safetensors", "diffusion_models",
        "wan_dit:ti2v5b", "Wan 2.2 TI2V 5B (single model, text or image to video, Wan 2.2 VAE)",
        int(9.31 * GIB), False, f"{HF_22}/diffusion_models/wan2.2_ti2v_5B_fp16.safetensors",
        dim=3072, loader="UNETLoader",
        note="The 5B model decodes with the Wan 2.2 VAE (wan2.2_vae), not the Wan 2.1 VAE of the 14B models; "
             "about 9.3 GiB in fp16, for cards under 24 GB.",
    ),
    CatalogFile(
        "vae22", "wan2.2_vae.safetensors", "vae",
        "wan_vae:2.2", "Wan 2.2 VAE (48 latent channels; the TI2V 5B model only)",
        int(1.31 * GIB), False, f"{HF_22}/vae/wan2.2_vae.safetensors",
        dim=256, loader="VAELoader",
        note="Only the 5B model uses it; every 14B model (I2V, T2V, S2V, Animate) needs wan_2.1_vae instead. "
             "About 1.3 GiB.",
    ),
    # ---- animate2
    # Wan Animate 2: names, folders and URLs from the ComfyUI templates video_wan_animate2 and
    # video_wan_animate2_distilled (UNETLoader / VAELoader properties.models, comfyui-workflow-templates
    # 0.11.44); the quality file's size from the facts sheet (15.51 GiB, the template's figure). The
    # distilled file's size is not published; the templates' index totals (25,662,429,594 vs
    # 24,910,810,317 bytes, the difference being about the 480p LoRA) put it at the same ~15.5 GiB.
    # ComfyUI tells Animate 2 apart from the Wan 2.1 I2V 14B layout it shares (img_emb, in_dim 36)
    # only by the safetensors metadata "config" {"transformer": {"model_type": "animate2"}}
    # (comfy/model_detection.py reads it last and it overrides the key rules) ->
    # supported_models.WAN_Animate2 (default shift 5) -> WanAnimate2Model. Animate 1 is told by
    # face_adapter.* keys instead. The files are int8 "convrot": per Linear layer an I8 weight, an F32
    # per-row weight_scale and a U8 comfy_quant JSON {"format": "int8_tensorwise", "convrot": true}
    # (comfy/ops.py mixed-precision ops; comfy_kitchen TensorWiseINT8Layout, which has an eager CPU path).
    # Every block Linear int8 and the rest bf16 gives 16,653,181,912 bytes = 15.51 GiB for the 14B layout
    # (wan22/demo/int8_convrot.py header_tensors), matching the template's size.
    CatalogFile(
        "animate2", "wan_animate_2_int8_convrot.safetensors", "diffusion_models",
        "wan_dit:animate2", "Wan Animate 2 14B (int8 convrot; with the 480p distill LoRA)",
        int(15.51 * GIB), False, f"{HF_A2}/diffusion_models/wan_animate_2_int8_convrot.safetensors",
        dim=5120, loader="UNETLoader",
        note="A separate model from Wan 2.2 Animate (v1): it takes the raw driving video (no pose or face "
             "videos) through WanAnimate2ToVideo. Load with UNETLoader weight_dtype 'default' (int8 convrot).",
    ),
    CatalogFile(
        "animate2_distill", "wan_animate_2_distill_int8_convrot.safetensors", "diffusion_models",
        "wan_dit:animate2", "Wan Animate 2 14B distilled (int8 convrot; 10 steps, cfg 1, no LoRA)",
        int(15.5 * GIB), False, f"{HF_A2}/diffusion_models/wan_animate_2_distill_int8_convrot.safetensors",
        dim=5120, loader="UNETLoader",
        note="The step/cfg-distilled Animate 2: the template runs it at 10 steps, cfg 1, without a LoRA.",
    ),
    CatalogFile(
        "vae_bf16", "Wan2_1_VAE_bf16.safetensors", "vae",
        "wan_vae:2.1", "Wan 2.1 VAE in bf16 (the Animate 2 templates' VAE)",
        None, False, f"{HF_A2}/vae/Wan2_1_VAE_bf16.safetensors",
        dim=96, loader="VAELoader",
        note="The same Wan 2.1 VAE as wan_2.1_vae, in bf16 under the name the Animate 2 templates load; "
             "select wan_2.1_vae in the bundle's 'vae' input instead of downloading it again.",
    ),
)

BY_ROLE: dict[str, CatalogFile] = {f.role: f for f in FILES}
BY_NAME: dict[str, CatalogFile] = {f.name: f for f in FILES}


# ---- lightning generations (wan22/data/lightning.json; wan22/plan/lightning.py reads the rest)
# The files of the newer 4-step generations that FILES does not hold (LoRA pairs, distilled
# experts), as catalog entries outside FILES: the inventory's file list stays the user's volume's,
# while fetch, the bundle's hints and the inventory's fast-workflow paths find them by role.
LIGHTNING_DATA = Path(__file__).resolve().parent / "data" / "lightning.json"


def lightning_role(generation: str, side: str) -> str:
    """The catalog role of one side ('high'/'low') of a lightning generation's own file."""
    return f"lx_{generation}_{side}".replace(".", "_")


def _lightning_files() -> tuple[CatalogFile, ...]:
    out = []
    for g in json.loads(LIGHTNING_DATA.read_text(encoding="utf-8"))["generations"]:
        for side in ("high", "low"):
            f = g.get(side)
            if not f or "name" not in f:
                continue  # a side the catalog already holds ('role'), or none published
            what = "distilled 4-step expert" if g["kind"] == "experts" else "4-step LoRA"
            out.append(CatalogFile(
                lightning_role(g["id"], side), f["name"], f["folder"], f["identity"],
                f"{g['label']}: {what}, {side}-noise", f["size"], f["size_exact"], f["url"],
                dim=5120 if g["kind"] == "experts" else None,
                loader="UNETLoader" if g["kind"] == "experts" else "LoraLoaderModelOnly",
                sha256=f.get("sha256")))
    return tuple(out)


LIGHTNING_FILES: tuple[CatalogFile, ...] = _lightning_files()
BY_ROLE.update({f.role: f for f in LIGHTNING_FILES})
BY_NAME.update({f.name: f for f in LIGHTNING_FILES})

# The ComfyUI folder keys the catalog's files live in (folder_paths names), in catalog order.
WAN_FOLDER_KEYS = ("diffusion_models", "text_encoders", "vae", "clip_vision", "audio_encoders", "loras")

# Folder keys ComfyUI maps to other keys (folder_paths.map_legacy).
LEGACY_FOLDERS = {"unet": "diffusion_models", "clip": "text_encoders"}

# Default directories under <models> for each folder key, in ComfyUI's search order.
DEFAULT_DIRS: dict[str, tuple[str, ...]] = {
    "diffusion_models": ("unet", "diffusion_models"),
    "text_encoders": ("text_encoders", "clip"),
    "vae": ("vae",),
    "clip_vision": ("clip_vision",),
    "audio_encoders": ("audio_encoders",),
    "loras": ("loras",),
    "datasets": ("datasets",),
}

# ComfyUI's folder_paths.supported_pt_extensions (matched case-insensitively).
MODEL_EXTENSIONS = (".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft")

# Folder names users give a key's folder that ComfyUI does not know (a hint then names the yaml line).
USER_FOLDER_NAMES: dict[str, tuple[str, ...]] = {"loras": ("lora",)}


def folder_names(key: str) -> tuple[str, ...]:
    """Directory names that hold `key`'s files: the key, ComfyUI's default dirs for it, and the
    names users give it ('lora'), lower case: 'diffusion_models' -> ('diffusion_models', 'unet')."""
    names = (key, *DEFAULT_DIRS.get(key, ()), *USER_FOLDER_NAMES.get(key, ()))
    return tuple(dict.fromkeys(names))


class StatusInfo(NamedTuple):
    """How the inventory's verdict on a file reads: badge label, colour group, one-line meaning."""

    label: str
    group: str  # ok, stand_in, missing, damaged (download again), moved (mv fixes it)
    meaning: str


# The inventory's verdict on a catalog file, in report order. The inventory JSON carries this
# vocabulary ("statuses", "usable"), so js/ reads it instead of copying it.
STATUS_VOCABULARY: dict[str, StatusInfo] = {
    "ok": StatusInfo("ok", "ok", "where ComfyUI loads it, and its header fits the catalog entry"),
    "missing": StatusInfo("missing", "missing", "not found in any folder searched: download it"),
    "truncated": StatusInfo("truncated", "damaged", "an unfinished download: shorter than its header says, a "
                            "partial file, or aria2 still fetching it"),
    "corrupt": StatusInfo("corrupt", "damaged", "unreadable, not safetensors, or extra bytes after the data (also "
                          "a model-paths config ComfyUI cannot load)"),
    "misplaced": StatusInfo("misplaced", "moved", "a good copy where ComfyUI does not look for it (a sub-folder, "
                            "another folder): move it"),
    "misnamed": StatusInfo("misnamed", "moved", "a good copy in the right folder under another name (case, "
                           "separators, a suffix): rename it"),
    "wrong_model": StatusInfo("wrong model", "damaged", "the name fits, but the header (or with --verify the data) "
                              "is another model"),
    "stand_in": StatusInfo("stand-in", "stand_in", "a demo-volume stand-in with random weights: workflows run, the "
                           "video is noise"),
}
STATUSES: tuple[str, ...] = tuple(STATUS_VOCABULARY)
USABLE: tuple[str, ...] = ("ok", "stand_in")  # the statuses that do not block a workflow

# Setup-document claims that are wrong, and what is true (the README's section on the setup
# document says the same in prose; no code reads this table yet).
SEED_CORRECTIONS: tuple[tuple[str, str], ...] = (
    ("High/low-noise experts are 'high motion' / 'subtle motion' variants", EXPERT_NOTE),
    ("I2V needs clip_vision_h", BY_ROLE["clip_vision"].note),
    ("T2V is one file, wan2.2_t2v_14B_fp8_scaled.safetensors", BY_ROLE["t2v_high"].note),
    ("Node 'LoRALoader' with input 'strength'", "The node is LoraLoaderModelOnly with input 'strength_model'."),
    ("Text encoders via DualCLIPLoader", "CLIPLoader with type 'wan' loads umT5-XXL."),
    ("Sizes: VAE 160 MB, umT5 4.5 GB, CLIP-H 3.7 GB, LoRAs 100 MB, total 51 GB",
     "VAE 254 MB, umT5 6.7 GB, CLIP-H 1.26 GB, 4-step LoRAs 1.2 GB each, 480p LoRA 0.74 GB, S2V 16.4 GB; the listed volume is about 80 GB."),
    ("Serverless mount at /workspace/runpod-slim/ComfyUI/models",
     "Serverless workers mount the network volume at /runpod-volume (pods at /workspace); point extra_model_paths.yaml at /runpod-volume/models."),
)


def file_for(role: str) -> CatalogFile:
    """The catalog entry of `role`; an unknown role raises KeyError naming the known ones."""
    try:
        return BY_ROLE[role]
    except KeyError:
        raise KeyError(f"unknown role {role!r}; known roles: {', '.join(BY_ROLE)}") from None


# Where the pack looks for a volume when no folder is given: RunPod pods, then serverless workers.
VOLUME_CANDIDATES = ("/workspace/models", "/runpod-volume/models")
# Where a ComfyUI checkout is looked for after $COMFYUI_PATH: comfy-cli's default workspace.
COMFYUI_CANDIDATES = ("~/comfy/ComfyUI",)
