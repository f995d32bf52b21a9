"""Warm prompts cost what native costs (issue 25): a second prompt with the same router inputs
reuses the same patched stage models, so ComfyUI neither builds new LoRA clones nor patches the
weights again; a change that matters (the LoRA strength) does both once.

Counted at ComfyUI's own patching by the test-only counting pack (GET /bench/loads `patching`):
`load_lora_for_models` calls (LoRA clones made) and `ModelPatcher.patch_weight_to_device` calls
on patched weights (the weights patched when a model is loaded)."""

from __future__ import annotations

from typing import Any

import pytest

from wan22.demo.graphs import i2v_native, i2v_ours, native_chain, with_low_consumer
from wan22.plan.overrides import Overrides
from wan22.plan.routing import make_plan


def _patching(server: Any, prompt: dict[str, Any]) -> dict[str, int]:
    server.request("POST", "/bench/reset", {})
    server.run(prompt)
    counts: dict[str, int] = server.get("/bench/loads")["patching"]
    return {k: counts.get(k, 0) for k in ("load_lora_for_models", "patch_weight_to_device")}


ZERO = {"load_lora_for_models": 0, "patch_weight_to_device": 0}


def _native(case: str, seed: int, strength: float) -> dict[str, Any]:
    if case.startswith("fast_motion"):
        return native_chain(make_plan("i2v", "fast_motion", Overrides(lora_strength=strength)), seed, "warm_motion_n")
    p = i2v_native("fast", length=5, seed=seed, save_latent=True, prefix="warm_native")
    for node in p.values():
        if node["class_type"] == "LoraLoaderModelOnly":
            node["inputs"]["strength_model"] = strength
    return p


CASES = {
    "fast (2 stages, lazy low expert)": lambda seed, strength: i2v_ours(
        "fast", length=5, seed=seed, save_latent=True, prefix="warm_fast", lora_strength=strength),
    "fast_motion (3 stages)": lambda seed, strength: i2v_ours(
        "fast_motion", length=5, seed=seed, save_latent=True, prefix="warm_motion", lora_strength=strength),
    "fast with model_low linked": lambda seed, strength: with_low_consumer(i2v_ours(
        "fast", length=5, seed=seed, save_latent=True, prefix="warm_linked", lora_strength=strength), "warm_probe"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_warm_prompt_patches_as_native_does_and_a_new_strength_patches_again(comfy_server: Any, case: str) -> None:
    """Two warm prompts (seed changed) make no LoRA clone and patch exactly as many weights as the
    native graph's warm prompt (none for 2 stages; the 3-stage chain swaps the high expert between
    its plain and its LoRA clone, natively too); a new LoRA strength makes new clones once."""
    make = CASES[case]
    _patching(comfy_server, _native(case, 90, 0.9375))
    native_warm = _patching(comfy_server, _native(case, 91, 0.9375))
    assert native_warm["load_lora_for_models"] == 0, native_warm
    _patching(comfy_server, make(101, 0.9375))  # warms this graph (what ran before may differ)
    for seed in (102, 103):  # only the seed changed
        warm = _patching(comfy_server, make(seed, 0.9375))
        assert warm == native_warm, (case, seed, warm, native_warm)
    changed = _patching(comfy_server, make(104, 0.8125))  # the LoRA strength matters: new clones, patched
    assert changed["load_lora_for_models"] >= 2 and changed["patch_weight_to_device"] > native_warm["patch_weight_to_device"], (
        case, changed, native_warm)
    assert _patching(comfy_server, make(105, 0.8125)) == native_warm, case
    if not case.startswith("fast_motion"):
        assert native_warm == ZERO, native_warm
