from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wan22.catalog import BY_ROLE
from wan22.demo.demo_volume import USER_VOLUME, make_demo_volume
from wan22.volume.identify import identify, is_stand_in
from wan22.volume.safetensors_header import read_header

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("dv")
    t0 = time.perf_counter()
    info = make_demo_volume(str(root))
    info["wall"] = time.perf_counter() - t0
    return root, info


def test_volume_has_the_users_files_under_real_names(volume: tuple[Path, dict]) -> None:
    root, info = volume
    for s in USER_VOLUME:
        e = BY_ROLE[s.role]
        assert (root / e.folder / e.name).is_file(), e.name
    assert not (root / "diffusion_models" / BY_ROLE["t2v_high"].name).exists()  # the user has no T2V experts
    assert (root / "datasets" / "wan22_demo_positive" / "shard_0000.pkl").is_file()


def test_budget_size_and_time(volume: tuple[Path, dict]) -> None:
    _, info = volume
    assert info["bytes"] < 250 * 1024 * 1024
    assert info["wall"] < 20


def test_every_file_is_marked_and_identified_as_its_role(volume: tuple[Path, dict]) -> None:
    root, _ = volume
    expected = {s.role: BY_ROLE[s.role].kind for s in USER_VOLUME}
    for role, kind in expected.items():
        e = BY_ROLE[role]
        h = read_header(root / e.folder / e.name)
        assert is_stand_in(h)
        assert h.metadata["wan22.role"] == role
        assert identify(h).kind == kind, (role, identify(h))
        assert not h.truncated


def test_one_expert_is_scaled_fp8(volume: tuple[Path, dict]) -> None:
    root, _ = volume
    h = read_header(root / "diffusion_models" / BY_ROLE["i2v_high"].name)
    assert "scaled_fp8" in h.tensors
    assert h.tensors["blocks.0.self_attn.q.weight"].dtype == "F8_E4M3"
    assert "blocks.0.self_attn.q.scale_weight" in h.tensors
    h2 = read_header(root / "diffusion_models" / BY_ROLE["i2v_low"].name)
    assert "scaled_fp8" not in h2.tensors


def test_seeded_and_reproducible(tmp_path: Path) -> None:
    roles = ["i2v_low", "lora_i2v_low"]
    make_demo_volume(str(tmp_path / "a"), roles=roles)
    make_demo_volume(str(tmp_path / "b"), roles=roles)
    make_demo_volume(str(tmp_path / "c"), roles=roles, seed=7)
    for r in roles:
        e = BY_ROLE[r]
        a = (tmp_path / "a" / e.folder / e.name).read_bytes()
        assert a == (tmp_path / "b" / e.folder / e.name).read_bytes()
        assert a != (tmp_path / "c" / e.folder / e.name).read_bytes()


def test_never_overwrites_a_real_file(tmp_path: Path) -> None:
    e = BY_ROLE["vae"]
    target = tmp_path / e.folder / e.name
    target.parent.mkdir(parents=True)
    target.write_bytes(b"real user data")
    with pytest.raises(FileExistsError, match="never overwrites"):
        make_demo_volume(str(tmp_path), roles=["vae"])
    assert target.read_bytes() == b"real user data"


def test_cli_runs_without_comfyui(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("COMFYUI_PATH", None)
    out = subprocess.run([sys.executable, "-m", "wan22", "demo-volume", str(tmp_path / "v"), "--json"],
                         cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert '"files"' in out.stdout


def test_dense_writer_is_read_back_exactly_by_safetensors(tmp_path: Path) -> None:
    """The hand-kept dense writer (kept because safetensors' own writer is not byte-reproducible)
    writes what safetensors itself reads back, tensors and metadata alike."""
    import torch
    from safetensors import safe_open

    from wan22.demo.demo_volume import write_safetensors

    tensors = [("b.weight", torch.arange(6, dtype=torch.float16).reshape(2, 3)),
               ("a.scale", torch.tensor(0.5, dtype=torch.float32)),
               ("c.fp8", torch.ones(4, dtype=torch.float32).to(torch.float8_e4m3fn))]
    path = tmp_path / "x.safetensors"
    write_safetensors(str(path), tensors, {"k": "v"})
    first = path.read_bytes()
    write_safetensors(str(path), tensors, {"k": "v"})
    assert path.read_bytes() == first
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["k"] == "v" and "wan22.data_sha256" in f.metadata()
        for name, t in tensors:
            got = f.get_tensor(name)
            assert got.dtype == t.dtype and got.shape == t.shape, name
            assert torch.equal(got.reshape(-1).view(torch.uint8), t.reshape(-1).view(torch.uint8)), name
