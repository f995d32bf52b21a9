"""The prefetch hook in a real ComfyUI server: queued prompts are prefetched in the order ComfyUI's
executor loads them (checked against the executor's own 'executing' events), the volume is never
written, and the default ('auto') leaves a volume on a local disk alone."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.harness import Server, start_image, tree_hashes

from wan22.catalog import BY_ROLE
from wan22.demo.graphs import i2v_native, i2v_ours

I2V_FILES = [BY_ROLE[r].name for r in ("i2v_high", "lora_i2v_high", "i2v_low", "lora_i2v_low")]


@pytest.fixture(scope="module")
def prefetch_server(own_server: Callable[..., Server], demo_volume: Path) -> Server:
    """A server with WAN22_PREFETCH=1 (the demo volume is on a local disk, where 'auto' is off)."""
    return own_server(demo_volume, "prefetch", env={"WAN22_PREFETCH": "1"},
                      inputs=lambda d: start_image(d / "wan22_start.png"))


def _lines(server: Server, marker: str, after: int) -> list[str]:
    return [ln for ln in server.log_text().splitlines()[after:] if marker in ln]


def _wait_for(server: Server, marker: str, after: int, timeout: float = 60.0) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = _lines(server, marker, after)
        if found:
            return found[-1]
        time.sleep(0.2)
    raise AssertionError(f"no '{marker}' in the server log:\n{server.log_tail(40)}")


def _run_recording_order(server: Server, prompt: dict[str, Any]) -> list[str]:
    """Run a prompt; the node ids in the order ComfyUI's executor ran them (websocket events)."""
    out = server.execute(prompt)
    assert out.executed is not None, "the websocket did not open"
    return list(out.executed)


def test_native_graph_is_prefetched_in_the_executors_load_order(prefetch_server: Server, demo_volume: Path) -> None:
    before = tree_hashes(demo_volume)
    mark = len(prefetch_server.log_text().splitlines())
    prompt = i2v_native("fast", seed=5, prefix="prefetch/native")
    ran = _run_recording_order(prefetch_server, prompt)
    planned = _wait_for(prefetch_server, "[wan22] prefetch: ", mark)
    done = _wait_for(prefetch_server, "[wan22] prefetched ", mark)
    loader_order = [prompt[n]["inputs"].get("unet_name") or prompt[n]["inputs"].get("lora_name") or
                    prompt[n]["inputs"].get("vae_name") for n in ran
                    if prompt[n]["class_type"] in ("UNETLoader", "LoraLoaderModelOnly", "VAELoader")]
    names = planned.split("in load order: ", 1)[1].split(", ")
    assert names == loader_order, f"prefetch order {names} != executor order {loader_order}"
    assert "prefetched 5/5 file(s)" in done
    assert tree_hashes(demo_volume) == before


def test_our_graph_prefetches_bundle_then_each_stage(prefetch_server: Server, demo_volume: Path) -> None:
    before = tree_hashes(demo_volume)
    mark = len(prefetch_server.log_text().splitlines())
    prompt = i2v_ours("fast", seed=6, prefix="prefetch/ours")
    _run_recording_order(prefetch_server, prompt)
    planned = _wait_for(prefetch_server, "[wan22] prefetch: ", mark)
    names = planned.split("in load order: ", 1)[1].split(", ")
    assert names == [BY_ROLE["text_encoder"].name, BY_ROLE["vae"].name, *I2V_FILES]
    assert "prefetched 6/6 file(s)" in _wait_for(prefetch_server, "[wan22] prefetched ", mark)
    assert tree_hashes(demo_volume) == before


def test_auto_leaves_a_local_volume_alone(comfy_server: Server) -> None:
    """The shared server runs with WAN22_PREFETCH unset: the demo volume is on a local disk."""
    assert os.environ.get("WAN22_PREFETCH") in (None, "", "auto")
    mark = len(comfy_server.log_text().splitlines())
    comfy_server.run(i2v_ours("fast", seed=7, prefix="prefetch/auto"))
    time.sleep(1.0)
    assert not _lines(comfy_server, "[wan22] prefetch", mark)
    assert "[wan22] prefetch on queued prompts: auto" in comfy_server.log_text()


def _prefetch_after(server: Server, since: float, timeout: float = 60.0) -> dict[str, Any]:
    """GET /wan22/prefetch once the job for a prompt queued after `since` has finished."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = server.get("/wan22/prefetch")
        last = st.get("last") or {}
        if not st["running"] and (last.get("finished_at") or 0) >= since:
            return dict(st)
        time.sleep(0.2)
    raise AssertionError(f"no finished prefetch after {since}: {server.get('/wan22/prefetch')}")


def test_prefetch_route_reports_the_last_prompts_files_bytes_and_seconds(prefetch_server: Server, demo_volume: Path) -> None:
    t0 = time.time()
    prompt = i2v_ours("fast", seed=8, prefix="prefetch/route")
    _run_recording_order(prefetch_server, prompt)
    st = _prefetch_after(prefetch_server, t0)
    assert st["switch"] == "on" and st["local_cache"] is None and st["prompts"] >= 1
    want = [BY_ROLE["text_encoder"].name, BY_ROLE["vae"].name, *I2V_FILES]
    lp = st["last_prompt"]
    assert lp["at"] >= t0 and lp["prefetching"] == want and lp["files"] == want and lp["reason"] == ""
    last = st["last"]
    assert [f["name"] for f in last["files"]] == want  # names only: no path of the server's disk
    sizes = {e.name: (demo_volume / e.folder / e.name).stat().st_size for e in BY_ROLE.values() if e.name in want}
    for f in last["files"]:
        assert f["status"] in ("read", "cached"), f
        assert f["size"] == sizes[f["name"]] and f["read_bytes"] + f["cached_bytes"] == f["size"], f
    assert last["read_bytes"] + last["cached_bytes"] == sum(sizes.values())
    assert sum(last["counts"].values()) == len(want) and last["stopped"] == ""
    assert last["seconds"] > 0 and last["streams"] >= 1
    assert abs(last["mb_per_s"] - last["read_bytes"] / 1e6 / last["seconds"]) <= 0.1
    assert last["summary"].startswith(f"prefetched {len(want)}/{len(want)} file(s)")
    status, body = prefetch_server.request("GET", "/wan22/prefetch?path=/etc")
    assert status == 400 and "takes no parameters" in body["error"]


def test_prefetch_route_says_why_a_local_volume_was_not_prefetched(comfy_server: Server) -> None:
    t0 = time.time()
    comfy_server.run(i2v_native("fast", seed=9, prefix="prefetch/auto_route"))
    st = comfy_server.get("/wan22/prefetch")
    assert st["switch"] == "auto" and not st["running"]
    lp = st["last_prompt"]
    assert lp["at"] >= t0 and lp["prefetching"] == []
    want = {BY_ROLE[r].name for r in ("i2v_high", "lora_i2v_high", "i2v_low", "lora_i2v_low", "vae")}
    assert set(lp["files"]) == want and "none on a network or FUSE filesystem" in lp["reason"], lp
