"""RunPod cached models end to end: a worker with no network volume, whose only model files are a
Hugging Face cache of the official repo's shape (Comfy-Org/Wan_2.2_ComfyUI_Repackaged,
`split_files/<folder>/<file>`) written by huggingface_hub's snapshot_download from a loopback
Hub stand-in. The worker (WAN22_MODEL_SOURCE=hf-cache) starts ComfyUI on the snapshot's folders,
its boot table names the snapshot for every file, and a typed i2v_fast job comes back as an mp4
whose frames PyAV counts: ComfyUI lists and loads the files through the snapshot's symlinks
into blobs/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("runpod", reason="the worker tests drive the runpod SDK's local API: pip install -r requirements-dev.txt")
pytest.importorskip("huggingface_hub")
from support.harness import free_port, make_base, video_info
from support.worker_jobs import WorkerProc, b64, png_bytes, save_video

from wan22.catalog import BY_ROLE
from wan22.demo.demo_volume import make_demo_volume
from wan22.demo.hub_standin import cache_repo
from wan22.volume.report import preset_roles

OFFICIAL = "Comfy-Org/Wan_2.2_ComfyUI_Repackaged"


@pytest.fixture(scope="module")
def cached(comfyui_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("worker_hf_cache")
    files = tmp / "repo_files"
    make_demo_volume(str(files), roles=preset_roles("i2v_fast"))  # + datasets/: the precomputed conditioning
    hub = tmp / "huggingface-cache" / "hub"
    snapshot = cache_repo(files, hub, OFFICIAL, prefix="split_files/")
    base = make_base(tmp / "base")  # its models/ is empty, and no extra_model_paths.yaml: no volume
    url = f"http://127.0.0.1:{free_port()}"
    w = WorkerProc(["--comfy-url", url, "--start-comfyui", str(comfyui_path), "--",
                    "--cpu", "--base-directory", str(base), "--database-url", "sqlite:///:memory:", "--disable-auto-launch"],
                   {"HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1", "WAN22_MODEL_SOURCE": "hf-cache",
                    "WAN22_HF_CACHE": str(hub), "WAN22_PRECOMPUTED_CONDITIONING": "1"}, tmp / "worker.log", tmp)
    w.snapshot = snapshot  # type: ignore[attr-defined]
    try:
        w.wait_ready(timeout=600)
        yield w
    finally:
        w.stop()


def test_boot_table_names_the_snapshot_for_every_file(cached: WorkerProc) -> None:
    log = cached.log_text()
    commit = Path(cached.snapshot).name  # type: ignore[attr-defined]
    label = f"snapshot {OFFICIAL}@{commit[:12]}"
    assert f"model source hf-cache: {label} (" in log
    assert "i2v_fast        yes" in log
    line = next(ln for ln in log.splitlines() if ln.strip().startswith(f"files from {label}:"))
    for role in preset_roles("i2v_fast"):
        assert BY_ROLE[role].name in line, role
    assert [ln for ln in log.splitlines() if "files from " in ln] == [line], "every file comes from the snapshot"


def test_i2v_fast_from_the_cache(cached: WorkerProc, tmp_path: Path) -> None:
    resp = cached.runsync({"workflow": "i2v_fast", "image": b64(png_bytes()), "seed": 5, "width": 64, "height": 64, "frames": 9})
    assert resp.get("status") == "COMPLETED", f"{json.dumps(resp)[:1500]}\n--- worker log ---\n{cached.log_tail()}"
    info = video_info(save_video(resp["output"]["video"], tmp_path / "out.mp4"))
    assert (info["frames"], info["width"], info["height"]) == (9, 64, 64)
