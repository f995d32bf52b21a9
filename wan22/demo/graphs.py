"""API-format graphs of our nodes and of the native template graph they replace (two UNETLoaders,
two LoRA loaders, two KSamplerAdvanced), for the comfy test tier and the benchmarks."""

from __future__ import annotations

from typing import Any

from ..catalog import BY_ROLE
from ..plan.routing import Plan, make_plan

POS = "wan22_demo_positive"
NEG = "wan22_demo_negative"


def bundle(mode: str = "i2v", **files: str) -> dict[str, Any]:
    inputs = {"mode": mode, "high_noise_model": "auto", "low_noise_model": "auto", "model": "auto",
              "text_encoder": "auto", "vae": "auto", "clip_vision": "auto", "audio_encoder": "auto",
              "weight_dtype": "default"}
    inputs.update(files)
    return {"class_type": "Wan22BundleLoader", "inputs": inputs}


def router(bundle_id: str, mode: str, preset: str, **over: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {"bundle": [bundle_id, 0], "mode": mode, "preset": preset, "steps": 0, "cfg": 0.0, "shift": 0.0,
                              "split_step": -1, "sampler_name": "auto", "scheduler": "auto", "lora_high": "auto",
                              "lora_low": "auto", "lora_strength": 0.0, "relight": True}
    inputs.update(over)
    return {"class_type": "Wan22ModeRouter", "inputs": inputs}


def conditioning_nodes(p: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    p["cpos"] = {"class_type": "LoadTrainingDataset", "inputs": {"folder_name": POS}}
    p["cneg"] = {"class_type": "LoadTrainingDataset", "inputs": {"folder_name": NEG}}
    return ["cpos", 1], ["cneg", 1]


def i2v_conditioning(p: dict[str, Any], vae: list[Any], width: int, height: int, length: int,
                     image: str = "wan22_start.png") -> None:
    pos, neg = conditioning_nodes(p)
    p["img"] = {"class_type": "LoadImage", "inputs": {"image": image}}
    p["i2v"] = {"class_type": "WanImageToVideo", "inputs": {"positive": pos, "negative": neg, "vae": vae, "width": width,
                                                            "height": height, "length": length, "batch_size": 1,
                                                            "start_image": ["img", 0]}}


def finish(p: dict[str, Any], latent: list[Any], vae: list[Any], prefix: str, save_latent: bool = False,
           fps: float = 16.0) -> None:
    if save_latent:
        p["save_latent"] = {"class_type": "SaveLatent", "inputs": {"samples": latent, "filename_prefix": f"{prefix}_latent"}}
        return
    p["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": latent, "vae": vae}}
    p["video"] = {"class_type": "CreateVideo", "inputs": {"images": ["decode", 0], "fps": fps}}
    p["save"] = {"class_type": "SaveVideo", "inputs": {"video": ["video", 0], "filename_prefix": prefix, "format": "mp4",
                                                       "codec": "h264"}}


def i2v_ours(preset: str = "fast", width: int = 64, height: int = 64, length: int = 9, seed: int = 42,
             save_latent: bool = False, prefix: str = "wan22/ours", **over: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"bundle": bundle("i2v"), "router": router("bundle", "i2v", preset, **over)}
    i2v_conditioning(p, ["bundle", 2], width, height, length)
    p["sampler"] = {"class_type": "Wan22MoESampler", "inputs": {"plan": ["router", 8], "positive": ["i2v", 0],
                                                                "negative": ["i2v", 1], "latent_image": ["i2v", 2],
                                                                "seed": seed}}
    finish(p, ["sampler", 0], ["bundle", 2], prefix, save_latent)
    return p


def i2v_native(preset: str = "fast", width: int = 64, height: int = 64, length: int = 9, seed: int = 42,
               save_latent: bool = False, prefix: str = "wan22/native", split: int | None = None) -> dict[str, Any]:
    """The official template's graph: UNETLoader x2 -> LoraLoaderModelOnly x2 -> ModelSamplingSD3 x2 ->
    KSamplerAdvanced (high, 0..split, leftover noise) -> KSamplerAdvanced (low, split..end)."""
    plan = make_plan("i2v", preset)
    split = plan.split_step if split is None else split
    p: dict[str, Any] = {
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": BY_ROLE["vae"].name}},
    }
    for tag, stage in zip(("high", "low"), plan.stages):
        p[f"unet_{tag}"] = {"class_type": "UNETLoader", "inputs": {"unet_name": stage.expert_file, "weight_dtype": "default"}}
        model: list[Any] = [f"unet_{tag}", 0]
        for i, lo in enumerate(stage.loras):
            p[f"lora_{tag}_{i}"] = {"class_type": "LoraLoaderModelOnly",
                                    "inputs": {"model": model, "lora_name": lo.file, "strength_model": lo.strength}}
            model = [f"lora_{tag}_{i}", 0]
        p[f"shift_{tag}"] = {"class_type": "ModelSamplingSD3", "inputs": {"model": model, "shift": plan.shift}}
    i2v_conditioning(p, ["vae", 0], width, height, length)
    common = {"noise_seed": seed, "steps": plan.steps, "cfg": plan.cfg, "sampler_name": plan.sampler,
              "scheduler": plan.scheduler, "positive": ["i2v", 0], "negative": ["i2v", 1]}
    p["ks_high"] = {"class_type": "KSamplerAdvanced", "inputs": {**common, "model": ["shift_high", 0], "add_noise": "enable",
                                                                 "latent_image": ["i2v", 2], "start_at_step": 0,
                                                                 "end_at_step": split, "return_with_leftover_noise": "enable"}}
    p["ks_low"] = {"class_type": "KSamplerAdvanced", "inputs": {**common, "model": ["shift_low", 0], "add_noise": "disable",
                                                                "latent_image": ["ks_high", 0], "start_at_step": split,
                                                                "end_at_step": 10000, "return_with_leftover_noise": "disable"}}
    finish(p, ["ks_low", 0], ["vae", 0], prefix, save_latent)
    return p


def native_chain(plan: Plan, seed: int, prefix: str, length: int = 5) -> dict[str, Any]:
    """The hand-wired graph: one UNETLoader per expert file (the base and the LoRA stage share
    the high one), per stage its LoRAs and ModelSamplingSD3, then one KSamplerAdvanced per stage
    at the stage's cfg: noise added by the first only, leftover noise returned by all but the last."""
    p: dict[str, Any] = {"vae": {"class_type": "VAELoader", "inputs": {"vae_name": BY_ROLE["vae"].name}}}
    i2v_conditioning(p, ["vae", 0], 64, 64, length)
    latent: list[Any] = ["i2v", 2]
    for k, st in enumerate(plan.stages):
        unet = f"unet_{st.expert}"
        p.setdefault(unet, {"class_type": "UNETLoader", "inputs": {"unet_name": st.expert_file, "weight_dtype": "default"}})
        model: list[Any] = [unet, 0]
        for i, lo in enumerate(st.loras):
            p[f"lora_{k}_{i}"] = {"class_type": "LoraLoaderModelOnly",
                                  "inputs": {"model": model, "lora_name": lo.file, "strength_model": lo.strength}}
            model = [f"lora_{k}_{i}", 0]
        p[f"shift_{k}"] = {"class_type": "ModelSamplingSD3", "inputs": {"model": model, "shift": plan.shift}}
        last = k == len(plan.stages) - 1
        p[f"ks_{k}"] = {"class_type": "KSamplerAdvanced", "inputs": {
            "model": [f"shift_{k}", 0], "noise_seed": seed, "steps": plan.steps, "cfg": st.cfg,
            "sampler_name": plan.sampler, "scheduler": plan.scheduler, "positive": ["i2v", 0], "negative": ["i2v", 1],
            "latent_image": latent, "add_noise": "enable" if k == 0 else "disable", "start_at_step": st.start_step,
            "end_at_step": 10000 if last else st.end_step,
            "return_with_leftover_noise": "disable" if last else "enable"}}
        latent = [f"ks_{k}", 0]
    finish(p, latent, ["vae", 0], prefix, save_latent=True)
    return p


def with_low_consumer(prompt: dict[str, Any], prefix: str) -> dict[str, Any]:
    """`prompt` plus a second KSamplerAdvanced branch reading the router's model_low output (slot 1),
    saved as a latent under `prefix`: the router must then build every stage up front."""
    p = dict(prompt)
    p["probe_ks"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "model": ["router", 1], "add_noise": "enable", "noise_seed": 1, "steps": 4, "cfg": 1.0, "sampler_name": "euler",
        "scheduler": "simple", "positive": ["i2v", 0], "negative": ["i2v", 1], "latent_image": ["i2v", 2],
        "start_at_step": 2, "end_at_step": 10000, "return_with_leftover_noise": "disable"}}
    p["probe_save"] = {"class_type": "SaveLatent", "inputs": {"samples": ["probe_ks", 0], "filename_prefix": prefix}}
    return p
