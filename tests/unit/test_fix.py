"""`python -m wan22 inventory --fix [--yes]` on volumes the tests build (demo-volume stand-ins moved
into the usual wrong places), and the no-clobber move underneath it (`wan22.fetch.place`):
never over an existing file, across filesystems by verified copy, nothing lost."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from wan22.catalog import BY_ROLE
from wan22.cli import main
from wan22.fetch.fix import plan_moves
from wan22.fetch.place import PlaceError, place
from wan22.plan.presets import PRESET_TABLE
from wan22.volume.report import Finding, Report

I2V_FAST = next(p for p in PRESET_TABLE if p.workflow_id == "i2v_fast").required_roles


def name(role: str) -> str:
    return BY_ROLE[role].name


def contents(root: Path) -> Counter[str]:
    """The multiset of file contents under root: a move keeps it equal, a loss or overwrite does not."""
    return Counter(hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file())


@pytest.fixture
def messy(tmp_path: Path, i2v_fast_files: Path) -> tuple[Path, Path]:
    """A volume read through an extra_model_paths.yaml that has no `unet` key, with the high-noise
    expert in unet/, the low-noise one in a Wan2.2/ sub-folder and the VAE in the wrong letter case."""
    base = tmp_path / "vol"
    for p in i2v_fast_files.rglob("*"):
        if p.is_file():
            dst = base / p.relative_to(i2v_fast_files)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(p.read_bytes())
    dm = base / "diffusion_models"
    (base / "unet").mkdir()
    (dm / name("i2v_high")).rename(base / "unet" / name("i2v_high"))
    (dm / "Wan2.2").mkdir()
    (dm / name("i2v_low")).rename(dm / "Wan2.2" / name("i2v_low"))
    (base / "vae" / name("vae")).rename(base / "vae" / "Wan_2.1_VAE.safetensors")
    y = tmp_path / "extra_model_paths.yaml"
    y.write_text(f"vol:\n  base_path: {base}\n  diffusion_models: diffusion_models/\n  text_encoders: text_encoders/\n"
                 "  vae: vae/\n  loras: loras/\n")
    return base, y


@pytest.fixture(autouse=True)
def _no_comfyui(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMFYUI_PATH", os.devnull)
    monkeypatch.delenv("WAN22_MODELS_DIR", raising=False)


def inventory(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    rc = main(["inventory", *args, "--json"])
    return rc, json.loads(capsys.readouterr().out)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_fix_yes_makes_the_volume_ready_and_loses_nothing(messy: tuple[Path, Path],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    base, y = messy
    rc, before = inventory(capsys, "--extra-model-paths", str(y), "--workflow", "i2v_fast")
    assert rc == 1
    statuses = {f["role"]: f["status"] for f in before["files"]}
    assert (statuses["i2v_high"], statuses["i2v_low"], statuses["vae"]) == ("misplaced", "misplaced", "misnamed")
    have = contents(base)

    rc, after = inventory(capsys, "--extra-model-paths", str(y), "--workflow", "i2v_fast", "--fix", "--yes")
    assert rc == 0 and after["workflows"]["i2v_fast"]["ready"] is True
    assert [(m["role"], m["state"]) for m in after["fixes"]] == [("i2v_high", "done"), ("i2v_low", "done"), ("vae", "done")]
    assert contents(base) == have  # every byte still there, once
    assert (base / "diffusion_models" / name("i2v_high")).is_file() and not (base / "unet" / name("i2v_high")).exists()
    assert (base / "diffusion_models" / name("i2v_low")).is_file() and not any((base / "diffusion_models" / "Wan2.2").iterdir())
    assert sorted(p.name for p in (base / "vae").iterdir()) == [name("vae")]
    assert (base / "diffusion_models" / "Wan2.2").is_dir()  # folders are left alone

    rc, again = inventory(capsys, "--extra-model-paths", str(y), "--workflow", "i2v_fast", "--fix", "--yes")
    assert rc == 0 and again["fixes"] == [] and contents(base) == have


def test_fix_asks_and_does_nothing_unless_told(messy: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    base, y = messy
    files = sorted(str(p) for p in base.rglob("*"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: never asks, never moves
    rc, out = inventory(capsys, "--extra-model-paths", str(y), "--fix")
    assert rc == 1 and {m["state"] for m in out["fixes"]} == {"planned"}
    monkeypatch.setattr("sys.stdin", _Tty("n\n"))
    rc, out = inventory(capsys, "--extra-model-paths", str(y), "--fix")
    assert rc == 1 and sorted(str(p) for p in base.rglob("*")) == files
    monkeypatch.setattr("sys.stdin", _Tty("y\n"))
    capsys.readouterr()
    assert main(["inventory", "--extra-model-paths", str(y), "--workflow", "i2v_fast", "--fix"]) == 0
    text = capsys.readouterr().out
    assert "Apply these moves? [y/N]" in text and "Ready:     i2v_fast" in text


def test_fix_leaves_damaged_files_and_their_good_copies_alone(tmp_path: Path, i2v_fast_files: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "models"
    (root / "vae" / "Wan2.2").mkdir(parents=True)
    (root / "vae" / name("vae")).write_bytes(b"\x00" * 1000)  # damaged, where ComfyUI looks
    good = root / "vae" / "Wan2.2" / name("vae")
    good.write_bytes((i2v_fast_files / "vae" / name("vae")).read_bytes())
    have = contents(root)
    rc, out = inventory(capsys, "--root", str(root), "--workflow", "i2v_fast", "--fix", "--yes")
    assert rc == 1 and out["fixes"] == [] and contents(root) == have and good.is_file()


def test_two_findings_for_one_file_or_one_name_are_both_refused() -> None:
    def finding(role: str, src: str, dst: str) -> Finding:
        return Finding(name(role), BY_ROLE[role].folder, role, "misplaced", src, dst, 1, fix=f"mv -n {src} {dst}")

    report = Report(roots=[], files=[finding("lora_i2v_high", "/v/x.safetensors", "/v/loras/a.safetensors"),
                                     finding("lora_i2v_low", "/v/x.safetensors", "/v/loras/b.safetensors"),
                                     finding("vae", "/v/y.safetensors", "/v/vae/wan_2.1_vae.safetensors")],
                    workflows={}, problems=[], warnings=[], seconds=0.0)
    moves = plan_moves(report)
    assert [m.state for m in moves] == ["refused", "refused", "planned"]
    assert "the same file" in moves[0].error


# ------------------------------------------------------------------ place()

def test_place_never_replaces_a_file(tmp_path: Path) -> None:
    src, dst = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    src.write_bytes(b"new")
    dst.write_bytes(b"old")
    with pytest.raises(PlaceError, match="never replaced"):
        place(str(src), str(dst))
    assert src.read_bytes() == b"new" and dst.read_bytes() == b"old"


def test_place_moves_a_symlink_as_a_link(tmp_path: Path) -> None:
    target = tmp_path / "real.safetensors"
    target.write_bytes(b"x")
    link = tmp_path / "sub" / "link.safetensors"
    link.parent.mkdir()
    link.symlink_to(target)
    assert place(str(link), str(tmp_path / "moved.safetensors")) == "rename"
    assert os.path.islink(tmp_path / "moved.safetensors") and target.read_bytes() == b"x"


def test_place_across_filesystems_copies_verifies_then_removes_the_source(tmp_path: Path, small_tmpfs: Path) -> None:
    src = tmp_path / "m.safetensors"
    data = os.urandom(1_500_000)
    src.write_bytes(data)
    dst = small_tmpfs / "loras" / "m.safetensors"
    assert place(str(src), str(dst)) == "copy"
    assert dst.read_bytes() == data and not src.exists() and not (small_tmpfs / "loras" / "m.safetensors.part").exists()

    big = tmp_path / "big.safetensors"  # does not fit in 8 MB: the copy fails, the source stays, nothing is left behind
    big.write_bytes(os.urandom(9_000_000))
    with pytest.raises(PlaceError, match="the source was kept"):
        place(str(big), str(small_tmpfs / "big.safetensors"))
    assert big.stat().st_size == 9_000_000 and sorted(p.name for p in small_tmpfs.iterdir()) == ["loras"]
