from __future__ import annotations

import pytest

from wan22.catalog import BY_ROLE
from wan22.errors import MissingFilesError
from wan22.plan.bundle_spec import resolve_bundle, resolve_lora

FULL = {
    "diffusion_models": [BY_ROLE[r].name for r in ("i2v_high", "i2v_low", "s2v", "animate")],
    "text_encoders": [BY_ROLE["text_encoder"].name],
    "vae": [BY_ROLE["vae"].name],
    "clip_vision": [BY_ROLE["clip_vision"].name],
    "audio_encoders": [BY_ROLE["audio_encoder"].name],
}


@pytest.mark.parametrize("mode,roles", [
    ("i2v", {"i2v_high", "i2v_low", "text_encoder", "vae"}),
    ("s2v", {"s2v", "text_encoder", "vae", "audio_encoder"}),
    ("animate", {"animate", "text_encoder", "vae", "clip_vision"}),
])
def test_each_mode_loads_what_it_needs_and_nothing_more(mode: str, roles: set[str]) -> None:
    got = resolve_bundle(mode, {}, FULL)
    assert set(got) == roles
    assert "clip_vision" not in resolve_bundle("i2v", {}, FULL)  # Wan 2.2 I2V has no CLIP vision


def test_every_missing_file_in_one_message_with_folder_and_closest() -> None:
    listings = dict(FULL, diffusion_models=["Wan2.2/wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"], vae=["wan_2.1_VAE.safetensors"])
    with pytest.raises(MissingFilesError) as e:
        resolve_bundle("i2v", {}, listings, {"diffusion_models": ["/v/models/unet", "/v/models/diffusion_models"]})
    msg = str(e.value)
    assert "cannot find 3 file(s)" in msg
    assert "high_noise_model" in msg and "low_noise_model" in msg and "vae:" in msg
    assert "/v/models/diffusion_models" in msg
    assert "'Wan2.2/wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors'" in msg  # sub-folder copy found as closest
    assert "'wan_2.1_VAE.safetensors'" in msg
    assert "huggingface.co" in msg


def test_explicit_choice_is_used() -> None:
    listings = dict(FULL, diffusion_models=FULL["diffusion_models"] + ["my_high.safetensors"])
    got = resolve_bundle("i2v", {"high_noise_model": "my_high.safetensors"}, listings)
    assert got["i2v_high"].name == "my_high.safetensors"


def test_missing_lora_line() -> None:
    assert resolve_lora("a.safetensors", ["a.safetensors"]) is None
    line = resolve_lora(BY_ROLE["lora_t2v_low"].name, [BY_ROLE["lora_t2v_high"].name])
    assert line is not None and "closest existing" in line and "download" in line


def test_text_encoder_can_be_skipped_but_not_the_vae() -> None:
    got = resolve_bundle("i2v", {"text_encoder": "none"}, FULL)
    assert "text_encoder" not in got and "vae" in got
    with pytest.raises(MissingFilesError, match="'none' is not allowed"):
        resolve_bundle("i2v", {"vae": "none"}, FULL)


def test_unused_input_with_a_value_not_in_the_list_is_refused() -> None:
    """As ComfyUI refuses a combo value that is not in the list, on every input the mode ignores too."""
    with pytest.raises(MissingFilesError) as e:
        resolve_bundle("i2v", {"model": "no_such_file", "clip_vision": "also_missing.safetensors"}, FULL)
    msg = str(e.value)
    assert "cannot find" not in msg and "2 input(s) set to a file that is not in the list" in msg
    assert "model: 'no_such_file' is not in diffusion_models; mode i2v does not use this input" in msg
    assert "clip_vision: 'also_missing.safetensors'" in msg and "set it to 'auto'" in msg
    # listed values, 'auto' and (where allowed) 'none' are fine on unused inputs
    got = resolve_bundle("i2v", {"model": BY_ROLE["s2v"].name, "clip_vision": BY_ROLE["clip_vision"].name,
                                 "audio_encoder": "auto"}, FULL)
    assert set(got) == {"i2v_high", "i2v_low", "text_encoder", "vae"}


def test_missing_and_unlisted_in_one_message() -> None:
    with pytest.raises(MissingFilesError) as e:
        resolve_bundle("s2v", {"vae": "nope.safetensors", "high_noise_model": "nope_high.safetensors"}, FULL)
    msg = str(e.value)
    assert "cannot find 1 file(s)" in msg and "vae: 'nope.safetensors'" in msg
    assert "1 input(s) set to a file that is not in the list" in msg and "high_noise_model: 'nope_high.safetensors'" in msg
