"""No file is read twice in a prompt, and a repeated or seed-only prompt reads nothing."""

from __future__ import annotations

from typing import Any

from wan22.catalog import BY_ROLE
from wan22.demo.graphs import bundle, i2v_ours, router


def _loads(server: Any, prompt: dict[str, Any]) -> dict[str, int]:
    server.request("POST", "/bench/reset", {})
    server.run(prompt)
    return dict(server.get("/bench/loads")["by_file"])


def test_each_file_read_once_per_prompt_even_when_two_loaders_share_it(comfy_server: Any) -> None:
    p = i2v_ours("fast_480p", seed=11, save_latent=True, prefix="loads_a")  # same LoRA file on both experts
    p["bundle2"] = bundle("i2v")
    p["router2"] = router("bundle2", "i2v", "fast_480p")
    p["sampler2"] = {"class_type": "Wan22MoESampler", "inputs": {"plan": ["router2", 8], "positive": ["i2v", 0],
                                                                 "negative": ["i2v", 1], "latent_image": ["i2v", 2], "seed": 12}}
    p["save2"] = {"class_type": "SaveLatent", "inputs": {"samples": ["sampler2", 0], "filename_prefix": "loads_b"}}
    loads = _loads(comfy_server, p)
    assert loads, "the first run must read the files"
    assert all(n == 1 for n in loads.values()), loads
    assert loads.get(BY_ROLE["lora_i2v_480p"].name) == 1
    assert BY_ROLE["clip_vision"].name not in loads  # i2v loads no CLIP vision


def test_repeat_and_seed_only_prompts_read_no_files(comfy_server: Any) -> None:
    p = i2v_ours("fast", seed=21, save_latent=True, prefix="loads_r")
    first = _loads(comfy_server, p)
    assert sum(first.values()) >= 0
    assert _loads(comfy_server, p) == {}
    p["sampler"]["inputs"]["seed"] = 22
    assert _loads(comfy_server, p) == {}
    # a preset change re-runs the router: LoRAs may be read, experts must not be
    p["router"]["inputs"]["preset"] = "quality"
    again = _loads(comfy_server, p)
    assert not any(name.startswith("wan2.2_i2v_") and "noise_14B" in name for name in again), again
