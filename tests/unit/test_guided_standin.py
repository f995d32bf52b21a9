"""The guided I2V stand-ins (wan22/demo/guided_standin.py) without ComfyUI: the file has the
tiny I2V layout's every key and shape, identifies as its role, the timestep network computes
kappa / sigma - 1, and a real file is never overwritten. The model-level check (ComfyUI's Wan
class predicts the concat latent) is tests/comfy/test_flf2v_colour.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from wan22.catalog import BY_ROLE
from wan22.demo.guided_standin import SIGMA_MIN, guided_expert_tensors, time_ramp, write_guided_experts
from wan22.demo.layouts import load
from wan22.volume.identify import identify, is_stand_in
from wan22.volume.safetensors_header import read_header


def test_every_layout_key_in_order_with_its_shape() -> None:
    layout = load("tiny_i2v")
    tensors = guided_expert_tensors(layout)
    assert [(k, tuple(t.shape)) for k, t in tensors] == [(k, s) for k, s, _ in layout.tensors]
    assert all(t.dtype == torch.float32 and bool(torch.isfinite(t).all()) for _, t in tensors)


def test_written_files_identify_as_the_i2v_experts(tmp_path: Path) -> None:
    files = write_guided_experts(str(tmp_path))
    assert [f["role"] for f in files] == ["i2v_high", "i2v_low"]
    for f in files:
        role = str(f["role"])
        h = read_header(Path(str(f["path"])))
        assert Path(str(f["path"])) == tmp_path / BY_ROLE[role].folder / BY_ROLE[role].name
        assert is_stand_in(h) and h.metadata["wan22.recipe"] == "guided" and h.metadata["wan22.role"] == role
        assert identify(h).kind == BY_ROLE[role].kind


def _ramp_output(w: dict[str, torch.Tensor], sigma: torch.Tensor) -> torch.Tensor:
    """comfy/ldm/wan/model.py: time_embedding(sinusoidal_embedding_1d(256, sigma * 1000))."""
    f = torch.pow(10000, -torch.arange(128, dtype=torch.float64) / 128)
    x = torch.outer(sigma * 1000, f)
    emb = torch.cat([torch.cos(x), torch.sin(x)], 1)
    w = {k: v.to(torch.float32).double() for k, v in w.items()}
    h = torch.nn.functional.silu(emb @ w["time_embedding.0.weight"].T + w["time_embedding.0.bias"])
    return h @ w["time_embedding.2.weight"].T + w["time_embedding.2.bias"]


def test_time_embedding_is_kappa_over_sigma_minus_one() -> None:
    kappa = math.sqrt(2.0)
    sigma = torch.logspace(math.log10(SIGMA_MIN), 0.0, 1000, dtype=torch.float64)
    out = _ramp_output(time_ramp(128, kappa), sigma)
    assert float((out - out[:, :1]).abs().max()) < 1e-9 * float(out.abs().max())  # the same in every channel
    rel = ((1 + out[:, 0]) * sigma / kappa - 1).abs()
    assert float(rel.max()) < 1e-3, f"max relative error {float(rel.max()):.2e} at sigma {float(sigma[rel.argmax()]):.3f}"


def test_never_overwrites_a_real_file(tmp_path: Path) -> None:
    e = BY_ROLE["i2v_low"]
    target = tmp_path / e.folder / e.name
    target.parent.mkdir(parents=True)
    target.write_bytes(b"real user data")
    with pytest.raises(FileExistsError, match="never overwrites"):
        write_guided_experts(str(tmp_path))
    assert target.read_bytes() == b"real user data"
    assert not (tmp_path / BY_ROLE["i2v_high"].folder / BY_ROLE["i2v_high"].name).exists()  # nothing half-written
