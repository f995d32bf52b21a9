"""RunPod cached models (wan22/serverless/hf_cache.py) on cache layouts written by huggingface_hub
itself (snapshot_download from a loopback Hub stand-in, HF_ENDPOINT set): the Comfy-Org
repackaged layout (split_files/<folder>/), a flat repo mapped by catalog name and by header, the
YAML read the way ComfyUI reads it, the inventory ready on it, the readiness table naming the
snapshot, and the cache left untouched."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("huggingface_hub")

from wan22.catalog import BY_ROLE
from wan22.demo.demo_volume import make_demo_volume
from wan22.demo.hub_standin import cache_repo
from wan22.errors import Wan22Error
from wan22.serverless import hf_cache
from wan22.serverless.readiness import local
from wan22.volume.inventory import run_inventory
from wan22.volume.report import preset_roles
from wan22.volume.roots import resolve

OFFICIAL = "Comfy-Org/Wan_2.2_ComfyUI_Repackaged"
I2V_FAST = preset_roles("i2v_fast")


@pytest.fixture(scope="module")
def official(i2v_fast_files: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("hf") / "hub"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    cache_repo(i2v_fast_files, cache, OFFICIAL, prefix="split_files/")
    return cache


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


def test_the_official_layout_maps_by_folder_and_serves_i2v_fast(official: Path, tmp_path: Path) -> None:
    before = _tree(official)
    models = hf_cache.prepare("auto", str(official), str(tmp_path / "state"))
    assert models is not None and models.config
    (snap,) = models.snapshots
    assert snap.repo_id == OFFICIAL and len(snap.commit) == 40
    assert snap.path == str(official / "models--Comfy-Org--Wan_2.2_ComfyUI_Repackaged" / "snapshots" / snap.commit)
    mapped = models.mapped[snap.path]
    assert {m.how for m in mapped} == {"folder"}
    assert {(m.key, m.folder) for m in mapped if m.key != "datasets"} == {
        (BY_ROLE[r].folder, f"split_files/{BY_ROLE[r].folder}") for r in I2V_FAST}
    # ComfyUI reads the snapshot's folders, cached copies first (is_default)
    cfg = resolve(extra_yaml=[models.config], models_dir=str(tmp_path / "no-models"))
    assert cfg.problems == []
    assert cfg.dirs("vae")[0] == os.path.join(snap.path, "split_files", "vae")
    # datasets: ComfyUI writes into the first folder (SaveTrainingDataset), so never the snapshot's
    import yaml

    sections = yaml.safe_load(Path(models.config).read_text())
    assert [(n, "is_default" in sec) for n, sec in sections.items() if "datasets" in sec] == [("wan22_hf_cache_0_read", False)]
    assert cfg.dirs("datasets") == [os.path.join(snap.path, "split_files", "datasets")]
    report = run_inventory(cfg, roles=I2V_FAST)
    assert report.workflows["i2v_fast"].ready, report.workflows["i2v_fast"].blocking
    for f in report.files:
        assert f.path is not None and Path(f.path).is_symlink() and models.origin(f.path) == snap.label
    assert _tree(official) == before, "the cache must not be written"


def test_the_readiness_table_names_the_snapshot(official: Path, tmp_path: Path) -> None:
    """A volume with every demo file next to the cache: the cache's copies come first (is_default),
    the rest from the volume; the table names both."""
    models = hf_cache.prepare("hf-cache", str(official), str(tmp_path / "state"))
    assert models is not None and models.config
    base = tmp_path / "comfyui"
    (base / "models").mkdir(parents=True)
    volume = tmp_path / "volume"
    make_demo_volume(str(volume))
    (base / "extra_model_paths.yaml").write_text(f"vol:\n  base_path: {volume}\n" + "".join(
        f"  {k}: {k}/\n" for k in ("diffusion_models", "text_encoders", "vae", "clip_vision", "audio_encoders", "loras")))
    r = local(base, ["--extra-model-paths-config", models.config], models.origin)
    assert r.ready("i2v_fast") and r.ready("s2v_fast")
    label = models.snapshots[0].label
    assert label.startswith(f"snapshot {OFFICIAL}@") and len(label.rsplit("@", 1)[1]) == 12
    assert list(r.origins) == [label, str(volume)]
    assert sorted(r.origins[label]) == sorted(BY_ROLE[role].name for role in I2V_FAST)
    assert BY_ROLE["s2v"].name in r.origins[str(volume)] and BY_ROLE["vae"].name not in r.origins[str(volume)]
    lines = [ln.strip() for ln in r.table().splitlines() if ln.strip().startswith("files from ")]
    assert lines == [f"files from {label}: {', '.join(r.origins[label])}",
                     f"files from {volume}: {', '.join(r.origins[str(volume)])}"]


def test_a_flat_repo_maps_by_catalog_name_and_by_header(i2v_fast_files: Path, tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    renamed = {}
    for role in I2V_FAST:
        e = BY_ROLE[role]
        name = e.name if role != "lora_i2v_high" else "my_lightning_high.safetensors"  # not a catalog name
        renamed[role] = name
        shutil.copy(i2v_fast_files / e.folder / e.name, flat / name)
    (flat / "README.md").write_text("one workflow's files\n")
    cache = tmp_path / "hub"
    cache_repo(flat, cache, "someone/wan22-i2v-fast")
    models = hf_cache.prepare("auto", str(cache), str(tmp_path / "state"))
    assert models is not None and models.config
    how = {m.rel: (m.key, m.how) for m in models.mapped[models.snapshots[0].path]}
    assert how["my_lightning_high.safetensors"] == ("loras", "header")
    assert how[BY_ROLE["vae"].name] == ("vae", "catalog name")
    assert "README.md" not in how
    cfg = resolve(extra_yaml=[models.config], models_dir=str(tmp_path / "no-models"))
    found = {f.role: f for f in run_inventory(cfg, roles=I2V_FAST).files}
    assert found["vae"].status in ("ok", "stand_in") and models.origin(str(found["vae"].path)) == models.snapshots[0].label
    # the renamed LoRA is in ComfyUI's loras folder under its own name (a workflow that names it
    # loads it); the catalog's workflows name the catalog file, which the inventory reports missing
    loras = [os.path.join(d, "my_lightning_high.safetensors") for d in cfg.dirs("loras")]
    assert [p for p in loras if os.path.isfile(p)] == [os.path.join(str(tmp_path / "state"), "links", "loras",
                                                                    "my_lightning_high.safetensors")]
    assert found["lora_i2v_high"].status == "missing"


def test_a_newer_revision_replaces_the_old_one(i2v_fast_files: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(i2v_fast_files, src)
    cache = tmp_path / "hub"
    cache_repo(src, cache, "me/wan22", prefix="split_files/")
    (src / "vae" / "extra.txt").write_text("x")
    second = cache_repo(src, cache, "me/wan22", prefix="split_files/")
    snaps, _notes = hf_cache.scan(str(cache))
    assert [s.path for s in snaps] == [second], "only the revision refs/main points at"
    assert len(list((cache / "models--me--wan22" / "snapshots").iterdir())) == 2


def test_model_source_setting(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert hf_cache.model_source("") == "auto" and hf_cache.model_source("HF-Cache") == "hf-cache"
    with pytest.raises(Wan22Error, match=r"WAN22_MODEL_SOURCE='cache': use one of auto, volume, hf-cache"):
        hf_cache.model_source("cache")
    assert hf_cache.prepare("volume", str(tmp_path)) is None
    assert hf_cache.prepare("auto", str(tmp_path / "absent")) is None
    with caplog.at_level(logging.ERROR, logger="wan22.worker"):
        models = hf_cache.prepare("hf-cache", str(tmp_path / "absent"))
    assert models is not None and models.snapshots == [] and models.config is None
    assert "WAN22_MODEL_SOURCE=hf-cache but there is no Hugging Face cache snapshot under" in caplog.text


def test_the_worker_refuses_a_bad_model_source_at_start() -> None:
    import subprocess
    import sys

    env = dict(os.environ, WAN22_MODEL_SOURCE="s3")
    r = subprocess.run([sys.executable, "-m", "wan22", "worker", "--comfy-url", "http://127.0.0.1:9"], env=env,
                       capture_output=True, text=True, timeout=120, cwd=str(Path(__file__).resolve().parents[2]))
    assert r.returncode == 2 and "error: WAN22_MODEL_SOURCE='s3': use one of auto, volume, hf-cache" in r.stderr, r.stderr


def test_a_gguf_repo_in_quantstacks_shape_maps_by_header(tmp_path: Path) -> None:
    """GGUF experts in HighNoise/ and LowNoise/ folders (the shape of QuantStack's Wan 2.2 GGUF
    repos), not stand-in marked: identified by their GGUF header, linked into diffusion_models
    (the folder ComfyUI-GGUF's UnetLoaderGGUF lists)."""
    from wan22.demo.community_standins import Q5_K_M, gguf_tensors, write_gguf_sparse

    repo = tmp_path / "repo"
    names = {"HighNoise/Wan2.2-I2V-A14B-HighNoise-Q5_K_M.gguf", "LowNoise/Wan2.2-I2V-A14B-LowNoise-Q5_K_M.gguf"}
    for rel in names:
        write_gguf_sparse(str(repo / rel), gguf_tensors("tiny_i2v", "Q8_0"),
                          {"general.architecture": "wan", "general.file_type": Q5_K_M})
    (repo / "HighNoise" / "notes.gguf").write_bytes(b"GGUF but cut")  # unreadable: left out, not guessed
    cache = tmp_path / "hub"
    cache_repo(repo, cache, "QuantStack/Wan2.2-I2V-A14B-GGUF")
    models = hf_cache.prepare("hf-cache", str(cache), str(tmp_path / "state"))
    assert models is not None and models.config
    how = {m.rel: (m.key, m.how) for m in models.mapped[models.snapshots[0].path]}
    assert how == {rel: ("diffusion_models", "header") for rel in names}
    cfg = resolve(extra_yaml=[models.config], models_dir=str(tmp_path / "no-models"))
    listed = [p for d in cfg.dirs("diffusion_models") if os.path.isdir(d) for p in Path(d).iterdir()]
    assert sorted(p.name for p in listed) == sorted(rel.rsplit("/", 1)[1] for rel in names)
    assert {models.origin(str(p)) for p in listed} == {models.snapshots[0].label}
