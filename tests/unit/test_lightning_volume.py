"""Lightning generations on a volume: the inventory says through which path a fast workflow is
ready (LoRA pair or distilled experts), and `fetch --lightning ID` downloads exactly that pair
from a real HTTP server on 127.0.0.1 (tests/support/mirror.py)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.mirror import Mirror, fetch_json

from wan22.catalog import BY_ROLE, lightning_role
from wan22.demo.demo_volume import make_demo_volume
from wan22.volume.inventory import run_inventory
from wan22.volume.roots import resolve

BASE = ["text_encoder", "vae"]
EXPERTS = ["i2v_high", "i2v_low"]
V1 = ["lora_i2v_high", "lora_i2v_low"]


def lx(gid: str) -> list[str]:
    return [lightning_role(gid, s) for s in ("high", "low")]


ALL = BASE + EXPERTS + V1 + lx("i2v_1022") + lx("i2v_260412") + lx("i2v_260412_lora") + lx("i2v_1030")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("lx") / "models"
    make_demo_volume(str(d), roles=ALL, with_lightning=True)
    return d


def volume(source: Path, dest: Path, roles: list[str]) -> Path:
    """A copy of some of the source's files (stand-ins, so the inventory reports them stand_in)."""
    for r in roles:
        e = BY_ROLE[r]
        (dest / e.folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / e.folder / e.name, dest / e.folder / e.name)
    return dest


def workflows(root: Path) -> dict[str, dict[str, object]]:
    report = run_inventory(resolve(roots=[str(root)]), cache=False)
    return {k: v.as_dict() for k, v in report.workflows.items()}


def test_i2v_fast_is_ready_through_distilled_experts_alone(source: Path, tmp_path: Path) -> None:
    wf = workflows(volume(source, tmp_path, BASE + lx("i2v_260412")))
    fast = wf["i2v_fast"]
    assert fast["ready"] is True and fast["blocking"] == []
    assert fast["lightning"] == {"path": "experts", "generation": "i2v_260412", "label": fast["lightning"]["label"],
                                 "files": [BY_ROLE[r].name for r in lx("i2v_260412")]}
    assert set(fast["stand_ins"]) == {BY_ROLE[r].name for r in BASE + lx("i2v_260412")}
    assert wf["i2v"]["ready"] is False  # the quality workflow needs the base experts
    assert wf["i2v_fast_motion"]["ready"] is False  # its base stage needs the base high expert
    assert wf["i2v_fast_motion"]["lightning"]["path"] is None


def test_i2v_fast_says_it_runs_the_newest_lora_pair(source: Path, tmp_path: Path) -> None:
    wf = workflows(volume(source, tmp_path, BASE + EXPERTS + V1 + lx("i2v_1022")))
    assert wf["i2v_fast"]["ready"] and wf["i2v_fast"]["lightning"]["generation"] == "i2v_1022"
    assert wf["i2v_fast"]["lightning"]["path"] == "lora"
    assert wf["i2v_fast_motion"]["lightning"]["generation"] == "i2v_1022"
    assert "lightning" not in wf["i2v"]  # only fast workflows carry the key


def test_a_lora_of_another_rank_under_a_published_name_is_the_wrong_model(source: Path, tmp_path: Path) -> None:
    from wan22.demo.demo_volume import real_lora_tensors, write_sparse

    root = volume(source, tmp_path, BASE + EXPERTS)
    hi, lo = (BY_ROLE[r] for r in lx("i2v_1022"))
    (root / "loras").mkdir()
    write_sparse(str(root / "loras" / hi.name), real_lora_tensors("real_i2v", rank=64))  # real layout, no data
    write_sparse(str(root / "loras" / lo.name), real_lora_tensors("real_i2v", rank=32))
    report = run_inventory(resolve(roots=[str(root)]), cache=False)
    fast = report.workflows["i2v_fast"]
    assert fast.ready is False and fast.lightning is not None and fast.lightning["path"] is None
    from wan22.volume.checks import HeaderCache
    from wan22.volume.listing import scan
    from wan22.volume.lora_generation import lightning_findings

    cfg = resolve(roots=[str(root)])
    found = lightning_findings(cfg, scan(cfg), HeaderCache(shared=False))
    assert found[hi.role].status == "ok"
    assert found[lo.role].status == "wrong_model" and "rank 32, but" in found[lo.role].hint


SEKO = "Wan2.2-I2V-A14B-4steps-lora-rank64-Seko-V1"


def test_i2v_fast_is_ready_through_the_official_seko_folder_or_a_re_upload_name(source: Path, tmp_path: Path) -> None:
    root = volume(source, tmp_path, BASE + EXPERTS)
    seko = root / "loras" / SEKO
    seko.mkdir(parents=True)
    for r, bare in zip(V1, ("high_noise_model.safetensors", "low_noise_model.safetensors"), strict=True):
        shutil.copyfile(source / "loras" / BY_ROLE[r].name, seko / bare)
    fast = workflows(root)["i2v_fast"]
    assert fast["ready"] is True and fast["blocking"] == []
    assert fast["lightning"]["generation"] == "i2v_v1" and fast["lightning"]["files"] == [
        f"{SEKO}/high_noise_model.safetensors", f"{SEKO}/low_noise_model.safetensors"]
    # a newer pair under Kijai's rank-256 names is that generation: the newest wins
    for r, name in zip(lx("i2v_260412_lora"), ("HIGH", "LOW"), strict=True):
        shutil.copyfile(source / "loras" / BY_ROLE[r].name,
                        root / "loras" / f"Wan_2_2_I2V_A14B_{name}_lightx2v_4step_lora_260412_rank_256_fp16.safetensors")
    assert workflows(root)["i2v_fast"]["lightning"]["generation"] == "i2v_260412_lora"


def test_another_model_in_the_seko_folder_is_not_the_pair(source: Path, tmp_path: Path) -> None:
    root = volume(source, tmp_path, BASE + EXPERTS)
    seko = root / "loras" / SEKO
    seko.mkdir(parents=True)
    shutil.copyfile(source / "loras" / BY_ROLE["lora_i2v_high"].name, seko / "high_noise_model.safetensors")
    shutil.copyfile(source / "text_encoders" / BY_ROLE["text_encoder"].name, seko / "low_noise_model.safetensors")
    fast = workflows(root)["i2v_fast"]
    assert fast["ready"] is False and fast["lightning"]["path"] is None
    assert {b["role"] for b in fast["blocking"]} == set(V1)


def test_without_any_pair_the_blocking_files_are_todays(source: Path, tmp_path: Path) -> None:
    fast = workflows(volume(source, tmp_path, BASE + EXPERTS))["i2v_fast"]
    assert fast["ready"] is False
    assert {b["role"] for b in fast["blocking"]} == set(V1)  # what it always said
    lx_entry = fast["lightning"]
    assert lx_entry["path"] is None and {"i2v_1022", "i2v_260412", "i2v_v1"} <= set(lx_entry["fetch"])


@pytest.fixture
def mirror(source: Path) -> Iterator[Mirror]:
    srv = Mirror(str(source))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def rel(role: str) -> str:
    e = BY_ROLE[role]
    return f"{e.folder}/{e.name}"


def test_fetch_lightning_downloads_the_distilled_pair_and_nothing_else(
        tmp_path: Path, mirror: Mirror, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "models"
    root.mkdir()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--lightning", "i2v_260412", "--root", str(root),
                         "--mirror", mirror.url)
    assert rc == 0, out
    assert sorted(mirror.served.gets) == sorted(rel(r) for r in BASE + lx("i2v_260412"))
    assert workflows(root)["i2v_fast"]["lightning"]["generation"] == "i2v_260412"
    mirror.served.reset()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--lightning", "i2v_260412", "--root", str(root),
                         "--mirror", mirror.url)
    assert rc == 0 and out["plan"] == [] and mirror.served.gets == {}


def test_fetch_lightning_lora_pair_goes_next_to_the_base_experts(
        tmp_path: Path, mirror: Mirror, source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = volume(source, tmp_path / "models", BASE + EXPERTS)
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast_motion", "--lightning", "i2v_260412_lora", "--root", str(root),
                         "--mirror", mirror.url)
    assert rc == 0, out
    assert sorted(mirror.served.gets) == sorted(rel(r) for r in lx("i2v_260412_lora"))
    wf = workflows(root)
    assert wf["i2v_fast_motion"]["ready"] and wf["i2v_fast_motion"]["lightning"]["generation"] == "i2v_260412_lora"


def test_fetch_checks_the_published_sha256_of_the_1022_low_lora(
        tmp_path: Path, mirror: Mirror, source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = volume(source, tmp_path / "models", BASE + EXPERTS)
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--lightning", "i2v_1022", "--root", str(root),
                         "--mirror", mirror.url)
    assert rc == 1  # the stand-in is not the published file: its hash says so, and it never gets the name
    by_role = {p["role"]: p for p in out["plan"]}
    assert by_role[lx("i2v_1022")[0]]["state"] == "done"
    assert by_role[lx("i2v_1022")[1]]["state"] == "failed"
    assert "is not the published 8833bd4f" in by_role[lx("i2v_1022")[1]]["reason"], by_role[lx("i2v_1022")[1]]
    assert not (root / rel(lx("i2v_1022")[1])).exists()


def test_fetch_lightning_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from wan22.cli import main

    assert main(["fetch", "--root", str(tmp_path), "--lightning", "i2v_1022"]) == 2
    assert "needs --workflow" in capsys.readouterr().err
    assert main(["fetch", "--root", str(tmp_path), "--workflow", "i2v_fast", "--lightning", "t2v_1217"]) == 2
    assert "does not fit workflow i2v_fast" in capsys.readouterr().err
    assert main(["fetch", "--root", str(tmp_path), "--workflow", "i2v", "--lightning", "i2v_1022"]) == 2
