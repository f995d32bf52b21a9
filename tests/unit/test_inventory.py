"""The volume inventory on volumes the tests build: every status, the hints and their fix
commands (run to prove they fix it), shadowing, readiness per workflow, --verify, the CLI
contract (JSON schema, exit codes 0/1/2) and that nothing is ever written.

Real-size files are sparse (a real header, a hole for the data): 14 GB apparent, a few hundred kB
on disk. Never copy them with shutil (it would write the hole out); build them again instead."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import struct
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import wan22.volume.inventory as inv
import wan22.volume.safetensors_header as sh
from wan22.catalog import BY_ROLE, FILES, STATUSES, USABLE, CatalogFile
from wan22.demo.demo_volume import (
    NAME_DTYPE,
    USER_VOLUME,
    make_demo_volume,
    make_sparse_volume,
    real_header_tensors,
    real_lora_tensors,
    sparse_metadata_for,
    sparse_tensors_for,
    write_sparse,
)
from wan22.demo.layouts import load
from wan22.plan.presets import PRESET_TABLE, WORKFLOW_IDS
from wan22.volume.identify import identify
from wan22.volume.inventory import run_inventory
from wan22.volume.report import Report
from wan22.volume.roots import resolve
from wan22.volume.safetensors_header import build_header
from wan22.volume.verify import blake3_available, stderr_progress

REPO = Path(__file__).resolve().parents[2]
Tensors = list[tuple[str, str, tuple[int, ...]]]
ALL_ROLES = [f.role for f in FILES]
USER_ROLES = [s.role for s in USER_VOLUME]


# ------------------------------------------------------------------ builders

def layout_tensors(name: str) -> Tensors:
    return [(k, NAME_DTYPE.get(d, "F16"), s) for k, s, d in load(name).tensors]


TINY_DIT = {"i2v_high": "tiny_i2v", "i2v_low": "tiny_i2v", "t2v_high": "tiny_t2v", "t2v_low": "tiny_t2v",
            "s2v": "tiny_s2v", "animate": "tiny_animate", "vae": "tiny_vae21",
            "ti2v5b": "tiny_ti2v_5b", "vae22": "tiny_vae22",
            "animate2": "tiny_animate2", "animate2_distill": "tiny_animate2", "vae_bf16": "tiny_vae21"}


def tiny_tensors(role: str) -> Tensors:
    if role in TINY_DIT:
        return layout_tensors(TINY_DIT[role])
    if BY_ROLE[role].kind == "lora:wan":
        return real_lora_tensors("tiny_t2v" if "t2v" in role else "tiny_animate" if "animate" in role else "tiny_i2v", rank=4)
    return {
        "text_encoder": [("encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight", "F16", (32, 64)),
                         ("encoder.block.23.layer.1.DenseReluDense.wi_1.weight", "F8_E4M3", (10240, 4096)),
                         ("encoder.final_layer_norm.weight", "F16", (4096,))],
        "clip_vision": [("vision_model.encoder.layers.30.layer_norm1.weight", "F16", (1280,))],
        "audio_encoder": [("encoder.layer_norm.bias", "F16", (1024,)), ("encoder.layer_norm.weight", "F16", (1024,))],
    }[role]


def stand_in_meta(role: str) -> dict[str, str]:
    return {"wan22.stand_in": "true", "wan22.role": role, **(sparse_metadata_for(role) or {})}  # animate2: its config


def put(root: Path, role: str, *, real: bool = True, folder: str | None = None, name: str | None = None,
        tensors: Tensors | None = None, metadata: dict[str, str] | None = None, size: int | None = None) -> Path:
    """One file under root/<folder>/<name>: a real-size sparse file (real=True) or a tiny stand-in."""
    e = BY_ROLE[role]
    p = root / (folder or e.folder) / (name or e.name)
    t = tensors if tensors is not None else (sparse_tensors_for(role) if real else tiny_tensors(role))
    meta = metadata if metadata is not None else (sparse_metadata_for(role) if real else stand_in_meta(role))
    write_sparse(str(p), t, meta, size)
    return p


def volume(root: Path, roles: list[str] | None = None, real: bool = True) -> Path:
    for r in roles if roles is not None else ALL_ROLES:
        put(root, r, real=real)
    return root


def run(*roots: Path, yaml: list[Path] | None = None, comfyui: Path | None = None, **kw: Any) -> Report:
    cfg = resolve(comfyui=str(comfyui) if comfyui else None, extra_yaml=[str(y) for y in yaml or []],
                  roots=[str(r) for r in roots])
    return run_inventory(cfg, cache=False, **kw)


def sh_run(cmd: str) -> None:
    """Run a fix command the report suggested (the test runs it; the inventory never does)."""
    subprocess.run(cmd, shell=True, check=True)


def required(workflow: str) -> set[str]:
    return set(next(p for p in PRESET_TABLE if p.workflow_id == workflow).required_roles)


def workflows_needing(role: str) -> set[str]:
    return {p.workflow_id for p in PRESET_TABLE if role in p.required_roles}


# ------------------------------------------------------------------ ok, on the user's real-size volume

def test_sparse_real_size_volume_of_the_users_inventory(tmp_path: Path) -> None:
    info = make_sparse_volume(str(tmp_path))
    apparent = int(str(info["apparent_bytes"]))
    on_disk = sum(p.stat().st_blocks * 512 for p in tmp_path.rglob("*") if p.is_file())
    assert apparent > 65e9 and on_disk < 20e6, (apparent, on_disk)  # ~70 GB apparent, a few MB written
    counted: list[int] = []
    real_open = open

    def counting_open(p: Any, mode: str = "r", *a: Any, **k: Any) -> Any:
        f = real_open(p, mode, *a, **k)
        if "b" in mode:
            orig = f.read
            f.read = lambda n=-1: (counted.append(n), orig(n))[1]  # type: ignore[method-assign]
        return f

    sh.open = counting_open  # type: ignore[attr-defined]
    try:
        r = run(tmp_path)
    finally:
        del sh.open  # type: ignore[attr-defined]
    headers = {f.role: sh.read_header(f.path) for f in r.files if f.path}
    assert sum(counted) == sum(8 + h.header_size for h in headers.values())  # headers only, no tensor data
    for f in r.files:
        if f.role in USER_ROLES:
            assert f.status == "ok", (f.role, f.status, f.hint)
            assert f.path and Path(f.path).stat().st_size == headers[f.role].data_end
            ident = identify(headers[f.role])
            assert ident.kind == BY_ROLE[f.role].kind
        else:
            assert f.status == "missing"  # the user has no T2V experts nor the T2V low-noise LoRA
    present = set(USER_ROLES)
    for wid, st in r.workflows.items():
        assert st.ready == (required(wid) <= present), wid
        assert {b["role"] for b in st.blocking} == required(wid) - present


def test_published_exact_sizes_carry_no_size_note(tmp_path: Path) -> None:
    checked = []
    for e in FILES:
        if not (e.size_exact and e.size):
            continue
        try:
            head, _ = build_header(sparse_tensors_for(e.role), total_size=e.size)
        except ValueError:
            continue  # the stored layout is bigger than the published file (see the report)
        p = tmp_path / e.folder / e.name
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "wb") as f:
            f.write(head)
            f.truncate(e.size)
        checked.append(e.role)
    assert {"vae", "text_encoder", "i2v_high", "i2v_low"} <= set(checked)
    r = run(tmp_path)
    for role in checked:
        f = r.by_role(role)
        assert (f.status, f.size, f.hint) == ("ok", BY_ROLE[role].size, ""), (role, f.hint)
    # a different build of the same file: ok, with a note naming both sizes
    vae = BY_ROLE["vae"]
    assert vae.size is not None
    head, _ = build_header(sparse_tensors_for("vae"), total_size=vae.size - 8)
    p = tmp_path / vae.folder / vae.name
    with open(p, "wb") as f:
        f.write(head)
        f.truncate(vae.size - 8)
    f2 = run(tmp_path).by_role("vae")
    assert f2.status == "ok" and f"{vae.size:,}" in f2.hint and f"{vae.size - 8:,}" in f2.hint


# ------------------------------------------------------------------ missing

def test_missing_with_closest_name_and_download_command(tmp_path: Path) -> None:
    volume(tmp_path, ["i2v_high", "i2v_low", "vae"])
    f = run(tmp_path).by_role("t2v_high")
    assert f.status == "missing" and f.path is None
    assert f.expected_path == str(tmp_path / "diffusion_models" / f.name)
    assert "closest names there" in f.hint and BY_ROLE["i2v_high"].name in f.hint
    assert f"wget -c -O {shlex.quote(f.expected_path)} {shlex.quote(BY_ROLE['t2v_high'].url)}" in f.hint


def test_missing_folder_key_names_the_yaml_key(tmp_path: Path) -> None:
    volume(tmp_path / "vol", ["vae"])
    y = tmp_path / "extra.yaml"
    y.write_text(f"s:\n  base_path: {tmp_path / 'vol'}\n  vae: vae/\n")
    r = run(yaml=[y])
    f = r.by_role("audio_encoder")
    assert f.status == "missing" and "no 'audio_encoders' folder configured" in f.hint
    assert "`audio_encoders: audio_encoders/`" in f.hint and f.expected_path is None


# ------------------------------------------------------------------ truncated

def test_real_size_file_cut_short_is_truncated(tmp_path: Path) -> None:
    full = build_header(sparse_tensors_for("i2v_low"))
    total = len(full[0]) + full[1]
    put(tmp_path, "i2v_low", size=total // 3)
    f = run(tmp_path).by_role("i2v_low")
    assert f.status == "truncated" and f.size == total // 3
    assert f"{total:,}" in f.hint and "33.3% present" in f.hint and BY_ROLE["i2v_low"].url in f.hint
    assert not run(tmp_path).workflows["i2v"].ready


def test_damaged_stand_in_reports_the_damage_not_stand_in(tmp_path: Path) -> None:
    head, data = build_header(tiny_tensors("vae"), stand_in_meta("vae"))
    put(tmp_path, "vae", real=False, size=len(head) + data - 100)
    assert run(tmp_path).by_role("vae").status == "truncated"


@pytest.mark.parametrize("partial", ["{name}.part", "{name}.crdownload", "{name}.aria2tmp",
                                     ".cache/huggingface/download/{name}.lock+.cache/huggingface/download/Xy12.abc.incomplete"])
def test_unfinished_download_is_truncated(tmp_path: Path, partial: str) -> None:
    e = BY_ROLE["clip_vision"]
    for i, rel in enumerate(partial.split("+")):
        p = tmp_path / e.folder / rel.format(name=e.name)
        if i == len(partial.split("+")) - 1:
            head, data = build_header(sparse_tensors_for("clip_vision"))
            write_sparse(str(p), sparse_tensors_for("clip_vision"), size=(len(head) + data) // 4)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("lock")
    f = run(tmp_path).by_role("clip_vision")
    assert f.status == "truncated" and f.path and f.path.endswith(os.path.basename(p)), f.hint
    assert "unfinished download" in f.hint and "25.0%" in f.hint and e.url in f.hint


def test_aria2_control_file_means_unfinished_even_at_full_size(tmp_path: Path) -> None:
    p = put(tmp_path, "clip_vision")
    Path(str(p) + ".aria2").write_bytes(b"\0" * 32)
    f = run(tmp_path).by_role("clip_vision")
    assert f.status == "truncated" and "aria2" in f.hint


# ------------------------------------------------------------------ corrupt

def _bytes_case(case: str, entry: CatalogFile) -> bytes:
    good, data = build_header(tiny_tensors(entry.role))
    return {
        "bad_json": struct.pack("<Q", 20) + b'{"a": {"dtype": "F3' + b"\0" * 64,
        "absurd_length_2_60": struct.pack("<Q", 2**60) + b"{}" + b"\0" * 64,
        "header_longer_than_file": good[:8] + good[8:40],
        "zero_length": b"",
        "png_bytes": b"\x89PNG\r\n\x1a\n" + os.urandom(512),
        "html_error_page": b"<!DOCTYPE html><html><body>Access denied</body></html>" * 3,
        "trailing_bytes": good + b"\0" * data + b"GARBAGE" * 10,
    }[case]


@pytest.mark.parametrize("case", ["bad_json", "absurd_length_2_60", "header_longer_than_file", "zero_length",
                                  "png_bytes", "html_error_page", "trailing_bytes"])
def test_corrupt_files(tmp_path: Path, case: str) -> None:
    e = BY_ROLE["vae"]
    p = tmp_path / e.folder / e.name
    p.parent.mkdir(parents=True)
    p.write_bytes(_bytes_case(case, e))
    f = run(tmp_path).by_role("vae")
    assert f.status == "corrupt", (case, f.status, f.hint)
    assert e.url in f.hint and f.path == str(p)


def test_fifo_under_a_model_name_does_not_hang(tmp_path: Path) -> None:
    e = BY_ROLE["vae"]
    (tmp_path / e.folder).mkdir()
    os.mkfifo(tmp_path / e.folder / e.name)
    out: list[Report] = []
    t = threading.Thread(target=lambda: out.append(run(tmp_path)), daemon=True)
    t.start()
    t.join(20)
    assert out, "the inventory blocked on a FIFO"
    assert out[0].by_role("vae").status in ("missing", "corrupt")  # never usable


def test_unreadable_file_is_corrupt_with_a_permissions_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = put(tmp_path, "vae")
    real_open = open

    def guarded(path: Any, *a: Any, **k: Any) -> Any:
        if str(path) == str(p):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(sh, "open", guarded, raising=False)
    f = run(tmp_path).by_role("vae")
    assert f.status == "corrupt" and "Permission denied" in f.hint and "chmod a+r" in f.hint


# ------------------------------------------------------------------ wrong_model

def _flux_lora() -> Tensors:
    t: Tensors = []
    for i in range(4):
        b = f"transformer.single_transformer_blocks.{i}.attn.to_q"
        t += [(f"{b}.lora_A.weight", "BF16", (16, 3072)), (f"{b}.lora_B.weight", "BF16", (3072, 16))]
    return t


def _dit_13b_t2v() -> Tensors:
    t: Tensors = [("patch_embedding.weight", "F16", (1536, 16, 1, 2, 2)), ("head.modulation", "F32", (1, 2, 1536)),
                  ("head.head.weight", "F16", (64, 1536))]
    for i in range(30):
        t += [(f"blocks.{i}.modulation", "F32", (1, 6, 1536)), (f"blocks.{i}.self_attn.q.weight", "F16", (1536, 1536))]
    return t


def _t5_xxl() -> Tensors:
    return [(k, d, (32128, s[1]) if k == "shared.weight" else s) for k, d, s in sparse_tensors_for("text_encoder")
            if not ("relative_attention_bias" in k and not k.startswith("encoder.block.0."))]


def _wav2vec2_base() -> Tensors:
    return [(k, d, (768,) if k.startswith("encoder.layer_norm.") else s) for k, d, s in sparse_tensors_for("audio_encoder")]


WRONG: dict[str, tuple[str, Any, str]] = {
    # case: (role whose name it sits under, tensors, words the hint must contain)
    "lora_under_expert_name": ("i2v_high", lambda: real_lora_tensors("real_i2v"), "Wan LoRA"),
    "t2v_under_i2v_name": ("i2v_high", lambda: sparse_tensors_for("t2v_high"), "in_dim 16"),
    "ti2v_5b_under_14b_name": ("i2v_low", lambda: real_header_tensors("real_ti2v_5b"), "5B"),
    "wan21_i2v_under_22_name": ("i2v_high", lambda: real_header_tensors("real_wan21_i2v"), "Wan 2.1 I2V"),
    "vae22_under_vae21_name": ("vae", lambda: layout_tensors("real_vae22"), "Wan 2.2 VAE"),
    "vae_under_umt5_name": ("text_encoder", lambda: sparse_tensors_for("vae"), "VAE"),
    "t5xxl_under_umt5_name": ("text_encoder", _t5_xxl, "T5-XXL"),
    "wav2vec2_base_under_large_name": ("audio_encoder", _wav2vec2_base, "768"),
    "wan_1_3b_under_14b_name": ("t2v_high", _dit_13b_t2v, "1.3B"),
    "lora_of_another_family": ("lora_i2v_high", _flux_lora, "another model family"),
    "lora_for_5b_under_14b_lora_name": ("lora_i2v_low", lambda: real_lora_tensors("real_ti2v_5b"), "width 5120"),
    "expert_under_lora_name": ("lora_t2v_high", lambda: sparse_tensors_for("t2v_high"), "LoRA"),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_wrong_model(tmp_path: Path, case: str) -> None:
    role, make, words = WRONG[case]
    put(tmp_path, role, tensors=make())
    r = run(tmp_path)
    f = r.by_role(role)
    assert f.status == "wrong_model", (case, f.status, f.hint)
    assert words in f.hint and BY_ROLE[role].url in f.hint, f.hint
    assert all(not r.workflows[w].ready for w in workflows_needing(role))


def test_wrong_header_under_i2v_name_says_where_it_belongs(tmp_path: Path) -> None:
    put(tmp_path, "i2v_high", tensors=sparse_tensors_for("t2v_high"))
    hint = run(tmp_path).by_role("i2v_high").hint
    assert BY_ROLE["t2v_high"].name in hint and BY_ROLE["t2v_low"].name in hint


@pytest.mark.parametrize("role, layout", [("i2v_high", "tiny_ti2v_5b"), ("vae", "tiny_vae22"), ("i2v_low", "tiny_wan21_i2v")])
def test_wrong_stand_in_reports_the_wrong_model(tmp_path: Path, role: str, layout: str) -> None:
    put(tmp_path, role, real=False, tensors=layout_tensors(layout))
    assert run(tmp_path).by_role(role).status == "wrong_model"


def test_stand_in_copied_under_another_role_is_wrong_model(tmp_path: Path) -> None:
    put(tmp_path, "i2v_high", real=False, metadata=stand_in_meta("i2v_low"))
    f = run(tmp_path).by_role("i2v_high")
    assert f.status == "wrong_model" and BY_ROLE["i2v_low"].name in f.hint


# ------------------------------------------------------------------ stand_in

def test_stand_in_volume(tmp_path: Path) -> None:
    volume(tmp_path, real=False)
    r = run(tmp_path)
    assert {f.status for f in r.files} == {"stand_in"}
    assert all(st.ready and st.stand_ins for st in r.workflows.values())
    text = r.text()
    assert text.count("demo-volume") == 1  # the stand-in note is said once, not per file
    r.apply_strict()
    assert not any(st.ready for st in r.workflows.values())


# ------------------------------------------------------------------ misplaced

def test_unet_vs_diffusion_models_with_a_yaml_lacking_the_key(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    put(vol, "i2v_high")
    (vol / "unet").mkdir()
    y = tmp_path / "extra.yaml"
    y.write_text(f"wan:\n  base_path: {vol}\n  unet: unet/\n  vae: vae/\n")
    f = run(yaml=[y]).by_role("i2v_high")
    assert f.status == "misplaced" and f.path == str(vol / "diffusion_models" / f.name)
    assert f"add `diffusion_models: diffusion_models/` to section 'wan' of {y}" in f.hint
    assert f.fix == f"mv -n {vol / 'diffusion_models' / f.name} {vol / 'unet' / f.name}" and f.fix in f.hint
    # the suggested YAML line is right: with it, ComfyUI (and the inventory) find the file where it is
    y.write_text(y.read_text() + "  diffusion_models: diffusion_models/\n")
    assert run(yaml=[y]).by_role("i2v_high").status == "ok"


def test_runpod_serverless_yaml_without_the_wan_keys(tmp_path: Path) -> None:
    """The stock worker config maps clip/unet/vae/loras only; the volume has the newer folders."""
    base = tmp_path / "runpod-volume"
    for role in ("i2v_high", "text_encoder", "audio_encoder", "vae"):
        put(base / "models", role)
    y = tmp_path / "extra_model_paths.yaml"
    y.write_text(f"runpod_worker_comfy:\n  base_path: {base}\n  checkpoints: models/checkpoints/\n  clip: models/clip/\n"
                 "  clip_vision: models/clip_vision/\n  loras: models/loras/\n  vae: models/vae/\n  unet: models/unet/\n")
    r = run(yaml=[y])
    for role, key in (("i2v_high", "diffusion_models"), ("text_encoder", "text_encoders"), ("audio_encoder", "audio_encoders")):
        f = r.by_role(role)
        assert f.status == "misplaced", role
        assert f"`{key}: models/{key}/`" in f.hint and "runpod_worker_comfy" in f.hint and str(y) in f.hint
    assert r.by_role("vae").status == "ok"
    y.write_text(y.read_text() + "".join(f"  {k}: models/{k}/\n" for k in ("diffusion_models", "text_encoders", "audio_encoders")))
    r2 = run(yaml=[y])
    assert [r2.by_role(x).status for x in ("i2v_high", "text_encoder", "audio_encoder")] == ["ok"] * 3


def test_wan22_sub_folder(tmp_path: Path) -> None:
    put(tmp_path, "i2v_low", folder="diffusion_models/Wan2.2")
    f = run(tmp_path).by_role("i2v_low")
    assert f.status == "misplaced" and f"'Wan2.2/{f.name}'" in f.hint
    assert f.expected_path == str(tmp_path / "diffusion_models" / f.name)
    assert f.fix is not None
    sh_run(f.fix)
    assert run(tmp_path).by_role("i2v_low").status == "ok"


def test_clip_folder_when_the_yaml_maps_only_text_encoders(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    put(vol, "text_encoder", folder="clip")
    (vol / "text_encoders").mkdir()
    y = tmp_path / "extra.yaml"
    y.write_text(f"s:\n  base_path: {vol}\n  text_encoders: text_encoders/\n")
    f = run(yaml=[y]).by_role("text_encoder")
    assert f.status == "misplaced" and "add `clip: clip/` to section 's'" in f.hint
    assert f.fix == f"mv -n {vol / 'clip' / f.name} {vol / 'text_encoders' / f.name}"
    y.write_text(y.read_text() + "  clip: clip/\n")
    assert run(yaml=[y]).by_role("text_encoder").status == "ok"


def test_file_in_another_models_folder(tmp_path: Path) -> None:
    put(tmp_path, "vae", folder="loras")
    (tmp_path / "vae").mkdir()
    f = run(tmp_path).by_role("vae")
    assert f.status == "misplaced" and "does not look in" in f.hint
    assert f.fix is not None
    sh_run(f.fix)
    assert run(tmp_path).by_role("vae").status == "ok"


def test_misplaced_and_damaged_reports_the_damage(tmp_path: Path) -> None:
    head, data = build_header(sparse_tensors_for("vae"))
    put(tmp_path, "vae", folder="checkpoints", size=len(head) + data // 2)
    f = run(tmp_path).by_role("vae")
    assert f.status == "truncated" and f.path == str(tmp_path / "checkpoints" / f.name)


# ------------------------------------------------------------------ misnamed

@pytest.mark.parametrize("variant, difference", [
    (lambda n: n.upper().replace(".SAFETENSORS", ".safetensors"), "letter case"),
    (lambda n: n.replace("_", "-"), "separators"),
    (lambda n: n.replace(".safetensors", " (1).safetensors"), "extra text"),
    (lambda n: n + ".safetensors", "doubled extension"),
], ids=["case", "dash_for_underscore", "copy_suffix", "double_extension"])
def test_misnamed(tmp_path: Path, variant: Any, difference: str) -> None:
    e = BY_ROLE["lora_i2v_high"]
    put(tmp_path, "lora_i2v_high", name=variant(e.name))
    f = run(tmp_path).by_role("lora_i2v_high")
    assert f.status == "misnamed" and difference in f.hint, f.hint
    assert f.fix and f.fix in f.hint and f.expected_path == str(tmp_path / e.folder / e.name)
    sh_run(f.fix)
    assert run(tmp_path).by_role("lora_i2v_high").status == "ok"


def test_high_and_low_noise_names_are_never_confused(tmp_path: Path) -> None:
    put(tmp_path, "i2v_low", name=BY_ROLE["i2v_low"].name.replace(".safetensors", " (1).safetensors"))
    r = run(tmp_path)
    assert r.by_role("i2v_high").status == "missing"
    assert r.by_role("i2v_low").status == "misnamed"


def test_gguf_is_named_in_the_missing_hint(tmp_path: Path) -> None:
    (tmp_path / "diffusion_models").mkdir()
    (tmp_path / "diffusion_models" / "wan2.2_i2v_high_noise_14B_Q8_0.gguf").write_bytes(b"GGUF" + b"\0" * 60)
    f = run(tmp_path).by_role("i2v_high")
    assert f.status == "missing" and "GGUF" in f.hint


# ------------------------------------------------------------------ shadowing

def _comfy(tmp_path: Path, default: bool) -> tuple[Path, Path, Path]:
    comfy, vol = tmp_path / "ComfyUI", tmp_path / "vol"
    (comfy / "models").mkdir(parents=True)
    y = comfy / "extra_model_paths.yaml"
    y.write_text(f"vol:\n  base_path: {vol}\n" + ("  is_default: true\n" if default else "") + "  vae: vae/\n")
    return comfy, vol, y


def test_comfyuis_own_models_folder_shadows_the_extra_path(tmp_path: Path) -> None:
    comfy, vol, _ = _comfy(tmp_path, default=False)
    a, b = put(comfy / "models", "vae"), put(vol, "vae")
    f = run(comfyui=comfy).by_role("vae")
    assert (f.status, f.path, f.shadowed) == ("ok", str(a), [str(b)])
    assert "ComfyUI's own models folder comes before" in f.hint


def test_is_default_reverses_the_shadowing(tmp_path: Path) -> None:
    comfy, vol, y = _comfy(tmp_path, default=True)
    a, b = put(comfy / "models", "vae"), put(vol, "vae")
    f = run(comfyui=comfy).by_role("vae")
    assert (f.path, f.shadowed) == (str(b), [str(a)])
    assert f"'is_default: true' in section 'vol' of {y}" in f.hint


def test_a_damaged_copy_shadowing_a_good_one(tmp_path: Path) -> None:
    comfy, vol, _ = _comfy(tmp_path, default=False)
    head, data = build_header(sparse_tensors_for("vae"))
    bad = put(comfy / "models", "vae", size=len(head) + data // 2)
    put(vol, "vae")
    f = run(comfyui=comfy).by_role("vae")
    assert f.status == "truncated" and f.path == str(bad) and "a good copy" in f.hint
    assert f.fix == f"mv -n {bad} {bad}.bad"
    sh_run(f.fix)
    assert run(comfyui=comfy).by_role("vae").status == "ok"


# ------------------------------------------------------------------ symlinks and odd trees

def test_symlinks_loops_and_broken_links(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    store = tmp_path / "store"
    good = put(store, "vae")
    (vol / "vae").mkdir(parents=True)
    (vol / "vae" / good.name).symlink_to(good)  # a symlinked model is fine
    (vol / "loras").mkdir()
    (vol / "loras" / BY_ROLE["lora_i2v_high"].name).symlink_to(tmp_path / "gone.safetensors")  # broken
    (vol / "loras" / "loop").symlink_to(vol / "loras")  # dir loop
    (vol / "loras" / "a").symlink_to(vol / "loras" / "b")
    (vol / "loras" / "b").symlink_to(vol / "loras" / "a")  # link loop
    (vol / "diffusion_models" / "deep").mkdir(parents=True)
    (vol / "diffusion_models" / "deep" / "up").symlink_to(vol)  # a loop through the root
    out: list[Report] = []
    t = threading.Thread(target=lambda: out.append(run(vol)), daemon=True)
    t.start()
    t.join(30)
    assert out, "the inventory did not finish on a tree with symlink loops"
    r = out[0]
    assert r.by_role("vae").status == "ok"
    f = r.by_role("lora_i2v_high")
    assert f.status == "missing" and "broken symlink" in f.hint and "gone.safetensors" in f.hint


# ------------------------------------------------------------------ readiness

def test_each_missing_role_blocks_exactly_the_workflows_that_need_it(tmp_path: Path) -> None:
    vol = volume(tmp_path / "vol", real=False)
    away = tmp_path / "away"
    away.mkdir()
    assert all(st.ready for st in run(vol).workflows.values())
    optional = {r for p in PRESET_TABLE for r in p.optional}
    for e in FILES:
        src = vol / e.folder / e.name
        os.rename(src, away / e.name)
        try:
            r = run(vol)
        finally:
            os.rename(away / e.name, src)
        not_ready = {w for w, st in r.workflows.items() if not st.ready}
        assert not_ready == workflows_needing(e.role), e.role
        for w in not_ready:
            assert [b["name"] for b in r.workflows[w].blocking] == [e.name]
        if e.role in optional:
            assert any(e.name in note for st in r.workflows.values() for note in st.warnings)
    assert set(r.workflows) == set(WORKFLOW_IDS)


def test_a_config_error_blocks_every_workflow(tmp_path: Path) -> None:
    vol = volume(tmp_path / "vol", real=False)
    y = tmp_path / "bad.yaml"
    y.write_text(f"s:\n  base_path: {vol}\n  loras:\n    - loras/\n")
    r = run(vol, yaml=[y])
    assert not any(st.ready for st in r.workflows.values())
    assert all(st.blocking[0] == {"role": "config", "name": str(y), "status": "corrupt", "hint": r.problems[0]}
               for st in r.workflows.values())
    assert "CONFIG ERROR" in r.text() and "YAML list" in r.text()


# ------------------------------------------------------------------ --verify

def test_verify_checks_stand_in_data_hashes(tmp_path: Path) -> None:
    make_demo_volume(str(tmp_path), roles=["vae", "lora_i2v_high"])
    seen: list[tuple[str, int, int]] = []
    r = run(tmp_path, verify=True, progress=lambda n, d, t: seen.append((n, d, t)))
    assert r.by_role("vae").status == "stand_in" and "verified" in r.by_role("vae").hint
    ticks = [(d, t) for n, d, t in seen if n == BY_ROLE["vae"].name]
    total = ticks[0][1]
    assert ticks[0][0] == 0 and ticks[-1][0] == total > 0 and [d for d, _ in ticks] == sorted(d for d, _ in ticks)
    p = tmp_path / "vae" / BY_ROLE["vae"].name
    h = sh.read_header(p)
    with open(p, "r+b") as f:  # flip one byte in the tensor data
        f.seek(h.data_start + 100)
        b = f.read(1)
        f.seek(h.data_start + 100)
        f.write(bytes([b[0] ^ 0xFF]))
    assert run(tmp_path).by_role("vae").status == "stand_in"  # headers cannot see it
    f2 = run(tmp_path, verify=True).by_role("vae")
    assert f2.status == "corrupt" and "does not match" in f2.hint


def test_verify_prefers_blake3_when_recorded(tmp_path: Path) -> None:
    blake3 = pytest.importorskip("blake3")
    head, data = build_header(tiny_tensors("clip_vision"))
    payload = os.urandom(data)
    meta = stand_in_meta("clip_vision") | {"wan22.data_blake3": blake3.blake3(payload).hexdigest(),
                                           "wan22.data_sha256": "0" * 64}
    head, _ = build_header(tiny_tensors("clip_vision"), meta)
    p = tmp_path / "clip_vision" / BY_ROLE["clip_vision"].name
    p.parent.mkdir()
    p.write_bytes(head + payload)
    f = run(tmp_path, verify=True).by_role("clip_vision")
    assert f.status == "stand_in" and "blake3 matches" in f.hint  # the (wrong) sha256 was not used


def test_verify_against_catalog_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    e = BY_ROLE["clip_vision"]
    p = tmp_path / e.folder / e.name
    p.parent.mkdir()
    head, data = build_header(tiny_tensors("clip_vision"))
    body = head + os.urandom(data)
    p.write_bytes(body)
    sha = hashlib.sha256(body).hexdigest()
    monkeypatch.setitem(BY_ROLE, "clip_vision", replace(e, sha256=sha))
    f = run(tmp_path, verify=True, roles=["clip_vision"]).by_role("clip_vision")
    assert "verified: sha256 matches" in f.hint
    monkeypatch.setitem(BY_ROLE, "clip_vision", replace(e, sha256="1" * 64))
    f = run(tmp_path, verify=True, roles=["clip_vision"]).by_role("clip_vision")
    assert f.status == "wrong_model" and "not the published" in f.hint
    if blake3_available():
        import blake3

        monkeypatch.setitem(BY_ROLE, "clip_vision", replace(e, sha256="1" * 64, blake3=blake3.blake3(body).hexdigest()))
        f = run(tmp_path, verify=True, roles=["clip_vision"]).by_role("clip_vision")
        assert "verified: blake3 matches" in f.hint  # blake3 is used first when both are known


def test_verify_catches_two_identical_experts(tmp_path: Path) -> None:
    a, b = put(tmp_path, "i2v_high"), put(tmp_path, "i2v_low")  # sparse: the data is all zeros in both
    r = run(tmp_path, verify=True, roles=["i2v_high", "i2v_low"])
    assert [r.by_role(x).status for x in ("i2v_high", "i2v_low")] == ["wrong_model"] * 2
    assert "identical" in r.by_role("i2v_high").hint
    h = sh.read_header(b)
    with open(b, "r+b") as f:
        f.seek(h.data_start)
        f.write(b"\x01" * 64)
    r = run(tmp_path, verify=True, roles=["i2v_high", "i2v_low"])
    assert [r.by_role(x).status for x in ("i2v_high", "i2v_low")] == ["ok", "ok"]
    assert a.exists()


def test_verify_progress_is_a_tqdm_bar_on_terminals_only() -> None:
    quiet = io.StringIO()  # not a terminal: no bar unless asked
    show = stderr_progress(quiet)
    show("x.safetensors", 0, 100)
    show("x.safetensors", 100, 100)
    assert quiet.getvalue() == ""
    buf = io.StringIO()
    show = stderr_progress(buf, enabled=True)
    for name in ("x.safetensors", "y.safetensors"):
        for done in (0, 40, 100):
            show(name, done, 100)
    text = buf.getvalue()
    assert "verify x " in text and "verify y " in text  # the extension is left out of the label
    assert text.count("100%") == 2 and "|" in text  # one finished bar per file, drawn by tqdm


# ------------------------------------------------------------------ never writes

def _snapshot(root: Path) -> dict[str, Any]:
    snap: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        snap[str(d)] = ("dir", sorted(dirnames), sorted(filenames), d.stat().st_mtime_ns)
        for fn in filenames:
            p = d / fn
            if p.is_symlink() or not p.is_file():
                snap[str(p)] = ("other", os.lstat(p).st_mtime_ns)
                continue
            st = p.stat()
            snap[str(p)] = ("file", st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return snap


def test_the_inventory_never_writes(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    make_demo_volume(str(vol), roles=["vae", "i2v_low", "lora_i2v_low", "lora_i2v_high"])
    put(vol, "i2v_high", real=False, name="WAN2.2_I2V_HIGH_NOISE_14B_FP8_SCALED.safetensors")  # misnamed
    put(vol, "clip_vision", real=False, folder="diffusion_models/Wan2.2")  # misplaced
    (vol / "text_encoders").mkdir()
    (vol / "text_encoders" / BY_ROLE["text_encoder"].name).write_bytes(b"{not json")  # corrupt
    y = tmp_path / "extra.yaml"
    y.write_text(f"s:\n  base_path: {vol}\n  vae: vae/\n  loras: loras/\n")
    before = _snapshot(tmp_path)
    run(vol, yaml=[y], verify=True)
    rc, _, _ = cli("--root", str(vol), "--extra-model-paths", str(y), "--verify", "--json")
    assert rc == 1
    assert _snapshot(tmp_path) == before


# ------------------------------------------------------------------ the CLI contract

def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    e = dict(os.environ, PYTHONPATH=str(REPO))
    e.update(env or {})
    out = subprocess.run([sys.executable, "-m", "wan22", "inventory", *args], cwd=REPO, env=e,
                         capture_output=True, text=True, timeout=120)
    return out.returncode, out.stdout, out.stderr


FILE_KEYS = {"name", "folder", "role", "status", "path", "expected_path", "size", "hint"}


def test_cli_json_schema_and_exit_codes(tmp_path: Path) -> None:
    vol = volume(tmp_path / "vol", [r for r in ALL_ROLES if r not in ("t2v_low",)], real=True)
    rc, out, err = cli("--root", str(vol), "--json")
    assert rc == 1, err  # t2v and t2v_fast need the T2V low-noise expert
    doc = json.loads(out)
    assert {"roots", "files", "workflows"} <= set(doc)
    assert doc["roots"] == [{"path": str(vol), "source": "--root"}]
    assert {f["role"] for f in doc["files"]} == set(ALL_ROLES)
    for f in doc["files"]:
        assert FILE_KEYS <= set(f) and f["status"] in STATUSES
        assert isinstance(f["hint"], str) and (f["size"] is None or isinstance(f["size"], int))
    assert set(doc["workflows"]) == set(WORKFLOW_IDS)
    for wid, st in doc["workflows"].items():
        assert set(st) >= {"ready", "blocking"} and isinstance(st["ready"], bool)
        assert st["ready"] == ("t2v_low" not in required(wid))
        assert all(b["status"] in STATUSES for b in st["blocking"])
    rc, out, _ = cli("--root", str(vol), "--json", "--workflow", "i2v_fast", "--workflow", "s2v")
    assert rc == 0 and set(json.loads(out)["workflows"]) == {"i2v_fast", "s2v"}
    rc, out, _ = cli("--root", str(vol), "--workflow", "t2v")
    assert rc == 1 and "NOT READY: t2v" in out and BY_ROLE["t2v_low"].name in out


def test_the_json_carries_its_status_vocabulary_and_js_does_not_copy_it(tmp_path: Path) -> None:
    import re

    from wan22.catalog import STATUS_VOCABULARY

    make_demo_volume(str(tmp_path), roles=["vae"])
    doc = run(tmp_path).as_dict()
    assert list(doc["statuses"]) == list(STATUSES) and doc["usable"] == list(USABLE)
    assert set(USABLE) < set(STATUSES)
    for status, info in doc["statuses"].items():
        assert set(info) == {"label", "group", "meaning"} and all(isinstance(v, str) and v for v in info.values()), status
    assert json.loads(json.dumps(doc))["statuses"]["wrong_model"]["label"] == STATUS_VOCABULARY["wrong_model"].label
    view = (REPO / "js" / "lib" / "inventory_view.js").read_text()
    css = (REPO / "js" / "lib" / "dom.js").read_text()
    for status in STATUSES:  # no status list in the frontend: labels, groups and usable come with the report
        if status not in USABLE:
            assert f'"{status}"' not in view and f"-{status}" not in css, status
    styled = set(re.findall(r'data-group="([a-z_]+)"', css))
    assert {i.group for i in STATUS_VOCABULARY.values()} == styled  # every group has a colour, no colour is stale


def test_folder_facts_live_in_the_catalog() -> None:
    import wan22.volume.listing as listing
    import wan22.volume.roots as roots
    from wan22 import catalog

    assert roots.WAN_FOLDER_KEYS is catalog.WAN_FOLDER_KEYS  # re-exported for old importers, one definition
    assert set(catalog.WAN_FOLDER_KEYS) == {f.folder for f in FILES}
    assert not hasattr(inv, "MODEL_EXTS") and not hasattr(listing, "MODEL_EXTS")
    assert catalog.folder_names("diffusion_models") == ("diffusion_models", "unet")
    assert catalog.folder_names("loras") == ("loras", "lora")


def cli_inproc(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The same entry point in this process (cheaper than a subprocess for the many usage cases)."""
    from wan22.cli import main

    try:
        rc = main(["inventory", *args])
    except SystemExit as e:  # argparse's own usage errors
        rc = int(e.code or 0)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_bad_usage_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "f").write_text("x")
    rc, out, err = cli("--root", str(tmp_path), "--workflow", "i2v_turbo")  # once through `python -m wan22`
    assert rc == 2 and "i2v_turbo" in err and not out
    for args in (["--root", str(tmp_path / "nope")], ["--root", str(tmp_path / "f")],
                 ["--extra-model-paths", str(tmp_path / "nope.yaml")], ["--comfyui", str(tmp_path / "nope")],
                 ["--bogus-flag"], ["--workflow"]):
        rc, out, err = cli_inproc(capsys, *args)
        assert rc == 2 and "error" in err and not out, args
    if not any(os.path.isdir(d) for d in ("/workspace/models", "/runpod-volume/models")):
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("COMFYUI_PATH", str(tmp_path / "none"))
        monkeypatch.delenv("WAN22_MODELS_DIR", raising=False)
        rc, _, err = cli_inproc(capsys)
        assert rc == 2 and "no model folders found" in err


def test_cli_strict_and_verify_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_demo_volume(str(tmp_path), roles=["i2v_high", "i2v_low", "vae", "lora_i2v_high", "lora_i2v_low"])
    put(tmp_path, "text_encoder", real=False)
    rc, out, _ = cli_inproc(capsys, "--root", str(tmp_path), "--workflow", "i2v_fast")
    assert rc == 0 and "Stand-ins (6)" in out
    rc, out, _ = cli_inproc(capsys, "--root", str(tmp_path), "--workflow", "i2v_fast", "--strict", "--json")
    assert rc == 1 and json.loads(out)["workflows"]["i2v_fast"]["blocking"][0]["status"] == "stand_in"
    rc, out, err = cli("--root", str(tmp_path), "--workflow", "i2v_fast", "--verify")
    assert rc == 0 and "verified: tensor data sha256 matches" in out
    assert "no data hash recorded" in out  # the sparse umT5 stand-in carries none
    assert "verify " not in err  # stderr is a pipe here: no progress bar in logs
    rc, tty_out, err = cli_with_tty_stderr("--root", str(tmp_path), "--workflow", "i2v_fast", "--verify")
    assert rc == 0 and tty_out.splitlines()[1:] == out.splitlines()[1:]  # the bar goes to stderr only (line 1 has ms)
    assert "verify " + BY_ROLE["vae"].name.removesuffix(".safetensors") in err and "100%" in err


def cli_with_tty_stderr(*args: str) -> tuple[int, str, str]:
    """`python -m wan22 inventory` with stderr on a pseudo-terminal, as in an interactive shell."""
    import pty

    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run([sys.executable, "-m", "wan22", "inventory", *args], cwd=REPO,
                              env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE, stderr=slave,
                              timeout=120)
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    return proc.returncode, proc.stdout.decode(), b"".join(chunks).decode(errors="replace")


# ------------------------------------------------------------------ text and summary

def test_text_and_summary_are_concise(tmp_path: Path) -> None:
    volume(tmp_path, [r for r in USER_ROLES if r != "vae"], real=False)
    put(tmp_path, "vae", name="WAN_2.1_VAE.safetensors", real=False)
    r = run(tmp_path)
    line = r.summary_line()
    assert "\n" not in line and "1 misnamed" in line and "workflows ready" in line
    text = r.text(["i2v_fast"])
    assert "misnamed" in text and "mv -n" in text
    assert BY_ROLE["s2v"].name not in text  # files that i2v_fast does not use are left out
    # one line per workflow, at most 4 per problem file, a few for the header and the stand-in note
    # (a fixed 60 before the catalog grew: ti2v, animate2)
    problems = sum(1 for f in r.files if f.status not in USABLE)
    assert r.text().count("\n") < 12 + len(r.workflows) + 4 * problems
    assert all(f.status in USABLE or f.hint for f in r.files)  # every problem says what to do


def test_models_folder_symlinked_to_the_volume_is_not_a_shadow(tmp_path: Path) -> None:
    """The setup document's "Option 2": ComfyUI/models -> /workspace/models plus a YAML for the same volume."""
    vol = tmp_path / "workspace" / "models"
    put(vol, "vae")
    comfy = tmp_path / "ComfyUI"
    comfy.mkdir()
    (comfy / "models").symlink_to(vol, target_is_directory=True)
    (comfy / "extra_model_paths.yaml").write_text(f"w:\n  base_path: {vol}\n  vae: vae/\n")
    f = run(comfyui=comfy).by_role("vae")
    assert f.status == "ok" and f.shadowed == [] and "ignored" not in f.hint


def test_the_users_setup_document_layout(tmp_path: Path) -> None:
    """/workspace/models as the setup document lays it out (placeholder files, empty unet/ and clip/),
    added to ComfyUI by its extra_model_paths.yaml with both unet: and diffusion_models: keys."""
    ws = tmp_path / "workspace" / "models"
    make_sparse_volume(str(ws))
    for d, placeholder in (("diffusion_models", "put_diffusion_model_files_here"), ("loras", "put_loras_here"),
                           ("vae", "put_vae_here"), ("text_encoders", "put_text_encoder_files_here"),
                           ("clip", "put_clip_or_text_encoder_models_here"), ("unet", ""), ("checkpoints", "put_checkpoints_here"),
                           ("audio_encoders", "put_audio_encoder_models_here"), ("clip_vision", "put_clip_vision_models_here")):
        (ws / d).mkdir(exist_ok=True)
        if placeholder:
            (ws / d / placeholder).write_text("")
    comfy = tmp_path / "workspace" / "runpod-slim" / "ComfyUI"
    (comfy / "models").mkdir(parents=True)
    keys = ("diffusion_models", "vae", "text_encoders", "audio_encoders", "clip_vision", "loras", "checkpoints", "clip",
            "controlnet", "embeddings", "upscale_models", "unet", "configs")
    (comfy / "extra_model_paths.yaml").write_text(
        f"wan2_permanent_storage:\n  base_path: {ws}\n  \n" + "".join(f"  {k}: {k}/\n" for k in keys))
    r = run(comfyui=comfy)
    assert [x.path for x in r.roots] == [str(comfy / "models"), str(ws)]
    assert not r.problems and not r.warnings
    for f in r.files:
        if f.role in USER_ROLES:
            assert f.status == "ok" and f.path == str(ws / f.folder / f.name), (f.role, f.status, f.path)
    t2v = r.by_role("t2v_high")
    assert t2v.status == "missing" and t2v.expected_path == str(ws / "diffusion_models" / t2v.name)
    not_ready = {w for w, st in r.workflows.items() if not st.ready}
    # the workflows whose files the user's volume lacks: the T2V experts, the 5B model and its VAE, ...
    assert not_ready == {p.workflow_id for p in PRESET_TABLE if not set(p.required_roles) <= set(USER_ROLES)}
    assert {"t2v", "t2v_fast", "ti2v"} <= not_ready and "flf2v" not in not_ready


def test_unlistable_folder_is_warned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    put(tmp_path, "vae")
    locked = tmp_path / "loras"
    locked.mkdir()
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if str(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    r = run(tmp_path)
    assert any(f"cannot list {locked} (Permission denied)" in w for w in r.warnings)
    assert r.by_role("vae").status == "ok" and r.by_role("lora_i2v_high").status == "missing"
