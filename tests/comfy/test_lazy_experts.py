"""Cold start (issue 14): the router loads only the first stage's expert; the low-noise expert is
read when Wan22MoESampler reaches the hand-off, so on a cold volume its file streams in (through
the prefetcher) while the high expert samples. When the router's model_low output feeds another
node, it loads up front as before, and a lazy run's cached outputs never serve such a prompt.

The order is taken from the real executor: the test-only counting pack records every model file
read and every comfy.sample.sample call, in order (GET /bench/loads `events`)."""

from __future__ import annotations

import time
from typing import Any

from wan22.catalog import BY_ROLE
from wan22.demo.graphs import i2v_ours, with_low_consumer

HIGH = BY_ROLE["i2v_high"].name
LOW = BY_ROLE["i2v_low"].name


def _cold_events(server: Any, prompt: dict[str, Any]) -> list[str]:
    """Run `prompt` with every cached output and loaded model dropped first; the read/sample order."""
    server.request("POST", "/free", {"unload_models": True, "free_memory": True})
    time.sleep(2.0)  # the queue worker applies the flags while idle, before the next prompt
    server.request("POST", "/bench/reset", {})
    server.run(prompt)
    events: list[str] = server.get("/bench/loads")["events"]
    return events


def test_low_expert_loads_at_the_hand_off_not_before_the_first_step(comfy_server: Any) -> None:
    events = _cold_events(comfy_server, i2v_ours("fast", length=5, seed=5, save_latent=True, prefix="lazy_a"))
    assert HIGH in events and LOW in events, events
    first_sample = events.index("sample")
    assert events.index(HIGH) < first_sample < events.index(LOW), events
    assert events.count("sample") == 2 and events.index(LOW) < len(events) - 1 - events[::-1].index("sample"), events


def test_a_linked_model_low_loads_up_front_and_lazy_cache_is_not_reused(comfy_server: Any) -> None:
    lazy = i2v_ours("fast", length=5, seed=6, save_latent=True, prefix="lazy_b")
    _cold_events(comfy_server, lazy)
    # Same router inputs, model_low now read by another node: the cached lazy outputs (model_low
    # None) must not be reused; the run succeeds and writes both latents.
    entry = comfy_server.run(with_low_consumer(lazy, "lazy_probe"))
    assert "probe_save" in entry["outputs"], entry["outputs"]
    events = _cold_events(comfy_server, with_low_consumer(lazy, "lazy_probe"))
    first_sample = events.index("sample")
    assert events.index(LOW) < first_sample, events
