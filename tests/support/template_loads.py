"""What each of ComfyUI's Wan 2.2 templates loads with its default settings, read off the template
files (folder key, file name): the expected answer of the workflow reader and the workflow check."""

from __future__ import annotations

UMT5 = ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors")
VAE21 = ("vae", "wan_2.1_vae.safetensors")
VAE22 = ("vae", "wan2.2_vae.safetensors")
I2V = [("diffusion_models", "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"),
       ("diffusion_models", "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors")]
I2V_LORAS = [("loras", "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors"),
             ("loras", "wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors")]


def dit(*names: str) -> list[tuple[str, str]]:
    return [("diffusion_models", n) for n in names]


# What each template loads with its default settings, read off the template files: the nodes that
# are enabled and feed a SaveVideo. (14B templates: the 20-step group is enabled, the 4-step LoRA
# group bypassed, except where a subgraph switches the LoRAs in lazily, which still needs them.)
EXPECTED: dict[str, list[tuple[str, str]]] = {
    "video_wan2_2_14B_i2v": [*I2V, *I2V_LORAS, UMT5, VAE21],
    "video_wan2_2_14B_t2v": [*dit("wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors", "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors"),
                             ("loras", "wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors"),
                             ("loras", "wan2.2_t2v_lightx2v_4steps_lora_v1.1_low_noise.safetensors"), UMT5, VAE21],
    "video_wan2_2_14B_flf2v": [*I2V, UMT5, VAE21],
    "video_wan2_2_14B_s2v": [*dit("wan2.2_s2v_14B_fp8_scaled.safetensors"), UMT5, VAE21,
                             ("audio_encoders", "wav2vec2_large_english_fp16.safetensors"),
                             ("loras", "wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors")],
    "video_wan2_2_14B_fun_control": [*dit("wan2.2_fun_control_high_noise_14B_fp8_scaled.safetensors",
                                          "wan2.2_fun_control_low_noise_14B_fp8_scaled.safetensors"), UMT5, VAE21],
    "video_wan2_2_14B_fun_inpaint": [*dit("wan2.2_fun_inpaint_high_noise_14B_fp8_scaled.safetensors",
                                          "wan2.2_fun_inpaint_low_noise_14B_fp8_scaled.safetensors"), *I2V_LORAS, UMT5, VAE21],
    "video_wan2_2_14B_fun_camera": [*dit("wan2.2_fun_camera_high_noise_14B_fp8_scaled.safetensors",
                                         "wan2.2_fun_camera_low_noise_14B_fp8_scaled.safetensors"), UMT5, VAE21],
    "video_wan2_2_5B_ti2v": [*dit("wan2.2_ti2v_5B_fp16.safetensors"), UMT5, VAE22],
    "video_wan2_2_5B_fun_control": [*dit("wan2.2_fun_control_5B_bf16.safetensors"), UMT5, VAE22],
    "video_wan2_2_5B_fun_inpaint": [*dit("wan2.2_fun_inpaint_5B_bf16.safetensors"), UMT5, VAE22],
    "video_wan_animate2": [*dit("wan_animate_2_int8_convrot.safetensors"), UMT5, ("vae", "Wan2_1_VAE_bf16.safetensors"),
                           ("clip_vision", "clip_vision_h.safetensors"),
                           ("loras", "lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors")],
    "video_wan_animate2_distilled": [*dit("wan_animate_2_distill_int8_convrot.safetensors"), UMT5,
                                     ("vae", "Wan2_1_VAE_bf16.safetensors"), ("clip_vision", "clip_vision_h.safetensors")],
}
