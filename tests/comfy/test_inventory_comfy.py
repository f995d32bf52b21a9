"""The inventory inside real ComfyUI: the Wan22VolumeInventory node in the executor and
GET /wan22/inventory, on the demo volume (shared server) and on a damaged copy of it (a second
server with its own base directory). The route takes no path and sees only ComfyUI's folders."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.harness import Server, tree_hashes

from wan22.catalog import BY_ROLE
from wan22.demo.demo_volume import ANIMATE2_EXTRA, FIVE_B_EXTRA, T2V_EXTRA, USER_VOLUME
from wan22.plan.presets import PRESET_TABLE, WORKFLOW_IDS


def inventory_prompt(workflow: str, strict: bool = False) -> dict[str, Any]:
    return {
        "inv": {"class_type": "Wan22VolumeInventory", "inputs": {"workflow": workflow, "strict": strict}},
        "show_report": {"class_type": "PreviewAny", "inputs": {"source": ["inv", 0]}},
        "show_ready": {"class_type": "PreviewAny", "inputs": {"source": ["inv", 1]}},
    }


def run_node(server: Server, workflow: str, strict: bool = False) -> tuple[str, str, dict[str, Any]]:
    """(report output, ready output as text, the node's ui report) from one real execution."""
    out = server.run(inventory_prompt(workflow, strict))["outputs"]
    report = out["show_report"]["text"][0]
    ready = out["show_ready"]["text"][0]
    ui = json.loads(out["inv"]["wan22_inventory"][0])
    assert out["inv"]["text"][0] == report  # the node's own ui text is its report output
    return report, ready, ui


# ------------------------------------------------------------------ the demo volume (shared server)

def test_node_and_route_on_the_demo_volume(comfy_server: Server, demo_volume: Path) -> None:
    report, ready, ui = run_node(comfy_server, "i2v_fast")
    assert ready == "True" and report.startswith("i2v_fast: READY")
    demo_roles = {s.role for s in USER_VOLUME + T2V_EXTRA + FIVE_B_EXTRA + ANIMATE2_EXTRA}
    statuses = {f["role"]: f["status"] for f in ui["files"]}
    assert {r for r, s in statuses.items() if s == "stand_in"} == demo_roles
    for f in ui["files"]:
        if f["role"] in demo_roles:
            assert f["path"] == str(demo_volume / f["folder"] / f["name"])  # found where ComfyUI looks
    _, ready_strict, _ = run_node(comfy_server, "i2v_fast", strict=True)
    assert ready_strict == "False"

    body = comfy_server.get("/wan22/inventory?workflow=s2v&workflow=animate")
    assert body["ready"] is True and set(body["workflows"]) == set(WORKFLOW_IDS)
    assert {f["role"]: f["status"] for f in body["files"]} == statuses
    assert body["roots"] and all({"path", "source"} == set(r) for r in body["roots"])
    assert comfy_server.get("/wan22/inventory?workflow=i2v_fast&strict=true")["ready"] is False


# ------------------------------------------------------------------ a damaged copy (second server)

def _sparse_copy(src: str, dst: str) -> None:
    """Copy keeping holes (the 5B stand-in VAE is 1.4 GB apparent, nothing on disk)."""
    subprocess.run(["cp", "--sparse=always", "--preserve=timestamps", src, dst], check=True)


@pytest.fixture(scope="module")
def damaged_server(own_server: Callable[..., Server], demo_volume: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    top = tmp_path_factory.mktemp("inv_damaged")
    vol = top / "volume"
    shutil.copytree(demo_volume, vol, symlinks=True, copy_function=_sparse_copy)
    e = {r: vol / BY_ROLE[r].folder / BY_ROLE[r].name for r in ("i2v_high", "lora_i2v_low", "vae", "clip_vision",
                                                                "audio_encoder", "t2v_low")}
    with open(e["i2v_high"], "r+b") as f:  # an expert cut short: a download that stopped
        f.truncate(os.path.getsize(e["i2v_high"]) // 2)
    with open(e["lora_i2v_low"], "r+b") as f:  # a LoRA whose header length field is garbage
        f.write(struct.pack("<Q", 2**60))
    e["vae"].rename(e["vae"].with_name("WAN_2.1_VAE.safetensors"))  # wrong letter case
    (vol / "clip_vision" / "Wan2.2").mkdir()
    e["clip_vision"].rename(vol / "clip_vision" / "Wan2.2" / BY_ROLE["clip_vision"].name)  # a sub-folder
    (vol / "stray").mkdir()
    e["audio_encoder"].rename(vol / "stray" / BY_ROLE["audio_encoder"].name)  # next to, not in, the configured folders
    (top / "outside").mkdir()
    e["t2v_low"].rename(top / "outside" / BY_ROLE["t2v_low"].name)  # nowhere near the configured folders
    before = tree_hashes(vol, top / "outside")
    server = own_server(vol, "inv_damaged")
    yield server, vol, top
    server.stop()  # before the check: the server's own shutdown must not write either
    assert tree_hashes(vol, top / "outside") == before, "the pack wrote to the model volume"


EXPECTED = {"i2v_high": "truncated", "lora_i2v_low": "corrupt", "vae": "misnamed", "clip_vision": "misplaced",
            "audio_encoder": "misplaced", "t2v_low": "missing"}


def test_route_reports_the_damage(damaged_server: Any) -> None:
    server, vol, top = damaged_server
    body = server.get("/wan22/inventory")
    files = {f["role"]: f for f in body["files"]}
    for role, status in EXPECTED.items():
        assert files[role]["status"] == status, (role, files[role])
    others = {s.role for s in USER_VOLUME + T2V_EXTRA + FIVE_B_EXTRA + ANIMATE2_EXTRA} - set(EXPECTED)
    assert {files[r]["status"] for r in others} == {"stand_in"}
    assert "WAN_2.1_VAE.safetensors" in files["vae"]["hint"] and "mv -n" in files["vae"]["hint"]
    assert f"'Wan2.2/{BY_ROLE['clip_vision'].name}'" in files["clip_vision"]["hint"]
    assert files["i2v_high"]["hint"].count("bytes missing") == 1
    assert files["audio_encoder"]["path"] == str(vol / "stray" / BY_ROLE["audio_encoder"].name)  # reported, never ok
    assert str(top / "outside") not in json.dumps(body)  # outside every configured folder: never looked at
    bad = set(EXPECTED)
    for p in PRESET_TABLE:
        st = body["workflows"][p.workflow_id]
        assert st["ready"] == (not (set(p.required_roles) & bad)), p.workflow_id
        assert {b["role"] for b in st["blocking"]} == set(p.required_roles) & bad
    assert body["ready"] is False


def test_node_reports_the_damage(damaged_server: Any) -> None:
    server, _, _ = damaged_server
    report, ready, ui = run_node(server, "i2v_fast")
    assert ready == "False" and report.startswith("i2v_fast: NOT READY")
    for role, status in EXPECTED.items():
        assert next(f for f in ui["files"] if f["role"] == role)["status"] == status
    for name in (BY_ROLE["i2v_high"].name, BY_ROLE["vae"].name):
        assert name in report
    _, ready_s2v, _ = run_node(server, "s2v")  # needs the VAE and the wav2vec2 file: both unusable
    assert ready_s2v == "False"
    _, ready_t2v, _ = run_node(server, "t2v")  # the T2V low-noise expert is gone
    assert ready_t2v == "False"


@pytest.mark.parametrize("query", [
    "root=/etc", "path=/", "dir=..%2F..%2F..", "models_dir=/tmp", "yaml=/etc/passwd",
    "workflow=..%2F..%2Fetc%2Fpasswd", "workflow=%2Fetc%2Fpasswd", "workflow=" + "i2v" * 40,
    "strict=/etc", "&".join(f"workflow=i2v&x{i}=1" for i in range(20)),
])
def test_route_takes_no_path(damaged_server: Any, query: str) -> None:
    server, _, _ = damaged_server
    status, body = server.request("GET", "/wan22/inventory?" + query)
    assert status == 400 and isinstance(body, dict) and body["error"], (query, status, body)
    assert "files" not in body and "root:x:" not in json.dumps(body)


def test_one_startup_line(damaged_server: Any) -> None:
    server, _, _ = damaged_server
    deadline = time.time() + 30
    lines: list[str] = []
    while time.time() < deadline:
        lines = [ln for ln in server.log_text().splitlines() if "Wan22 inventory:" in ln]
        if lines:
            break
        time.sleep(0.5)
    assert len(lines) == 1, lines
    line = lines[0]
    assert "1 truncated" in line and "1 corrupt" in line and "1 misnamed" in line and "2 misplaced" in line
    assert len(line) < 400
    log = server.log_text()
    assert log.count(BY_ROLE["i2v_high"].name) == 0  # no per-file wall at start-up
