"""wan22.prefetch.engine on real files (no FUSE needed): it reads everything it is asked for in
order, never writes, stops when cancelled, stays within its memory bound, and reports a file that
vanishes or shrinks instead of failing; and it finds the files a prompt needs in load order."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from wan22.catalog import BY_ROLE
from wan22.prefetch import engine as pf

MB = 1 << 20


def _file(path: Path, size: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = hashlib.sha256(str(seed).encode()).digest() * (MB // 32)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(block[: min(left, len(block))])
            left -= len(block)
    return path


def _state(root: Path) -> dict[str, tuple[str, int, int]]:
    """sha256, size and mtime of every file, and the listing itself."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_size, st.st_mtime_ns)
    return out


def test_reads_every_byte_in_order_and_never_writes(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    paths = [_file(vol / "diffusion_models" / f"m{i}.safetensors", (3 + i) * MB + 123, i) for i in range(3)]
    before = _state(vol)
    seen: list[str] = []
    report = pf.prefetch_files([str(p) for p in paths], streams=3, chunk_bytes=MB, skip_cached=False,
                               progress=lambda _j, f, _n: seen.append(os.path.basename(f.path)))
    assert _state(vol) == before  # contents, sizes, mtimes and the listing are unchanged
    assert [f.status for f in report.files] == ["read"] * 3
    assert [f.read_bytes for f in report.files] == [p.stat().st_size for p in paths]
    assert report.read_bytes == sum(p.stat().st_size for p in paths) and not report.stopped
    first = [seen.index(f"m{i}.safetensors") for i in range(3)]
    assert first == sorted(first)  # need order: a file starts only after the one before it has started
    assert "prefetched 3/3 file(s)" in report.summary_line()


def test_files_already_in_the_page_cache_are_not_read_again(tmp_path: Path) -> None:
    p = _file(tmp_path / "a.safetensors", 8 * MB)
    p.read_bytes()  # now in the page cache
    report = pf.prefetch_files([str(p)], chunk_bytes=MB)
    assert report.files[0].status == "cached"
    assert report.cached_bytes == 8 * MB and report.read_bytes == 0


def test_stops_when_cancelled(tmp_path: Path) -> None:
    big = _file(tmp_path / "big.safetensors", 64 * MB)
    later = _file(tmp_path / "later.safetensors", 4 * MB)

    def cancel_after_first(job: pf.PrefetchJob, _f: pf.FileReport, _n: int) -> None:
        job.cancel()

    job = pf.start_prefetch([str(big), str(later)], streams=1, chunk_bytes=MB, skip_cached=False,
                            progress=cancel_after_first)
    report = job.wait(30)
    assert job.done and job.cancelled and report.stopped == "cancelled"
    assert report.files[0].read_bytes == MB  # one chunk, then it stopped
    assert report.files[0].status == "cancelled" and report.files[1].status == "cancelled"
    assert report.files[1].read_bytes == 0


def test_stays_within_the_memory_budget(tmp_path: Path) -> None:
    paths = [str(_file(tmp_path / f"f{i}.safetensors", 20 * MB, i)) for i in range(3)]
    # MemAvailable 60 MB, fraction 0.5: at most 30 MB may be read
    report = pf.prefetch_files(paths, streams=2, chunk_bytes=MB, skip_cached=False, memory_fraction=0.5,
                               reserve_bytes=0, meminfo=lambda: 60 * MB)
    assert report.budget_bytes == 30 * MB
    assert report.read_bytes <= 30 * MB and report.stopped == "budget"
    assert report.files[0].status == "read"
    assert report.files[1].status == "partial" and "budget" in report.files[1].detail
    assert report.files[2].status == "skipped" and report.files[2].read_bytes == 0


def test_stops_when_free_memory_falls_under_the_reserve(tmp_path: Path) -> None:
    p = str(_file(tmp_path / "f.safetensors", 32 * MB))
    calls = {"n": 0}

    def shrinking() -> int:  # plenty at first, then other processes take the memory
        calls["n"] += 1
        return 64 << 30 if calls["n"] < 6 else 100 * MB

    report = pf.prefetch_files([p], streams=1, chunk_bytes=MB, skip_cached=False, reserve_bytes=1 << 30, meminfo=shrinking)
    assert report.stopped == "memory"
    assert 0 < report.read_bytes < 32 * MB and report.files[0].status == "partial"


def test_zero_memory_reading_means_nothing_is_read(tmp_path: Path) -> None:
    p = str(_file(tmp_path / "f.safetensors", 2 * MB))
    report = pf.prefetch_files([p], skip_cached=False, meminfo=lambda: 0)
    assert report.read_bytes == 0 and report.stopped in ("budget", "memory")


def test_a_file_that_vanishes_before_its_turn_is_reported(tmp_path: Path) -> None:
    first = _file(tmp_path / "first.safetensors", 4 * MB)
    gone = _file(tmp_path / "gone.safetensors", 4 * MB)
    last = _file(tmp_path / "last.safetensors", 2 * MB)

    def delete_second(_j: pf.PrefetchJob, f: pf.FileReport, _n: int) -> None:
        if f.path == str(first) and gone.exists():
            gone.unlink()

    report = pf.prefetch_files([str(first), str(gone), str(last)], streams=1, chunk_bytes=MB, skip_cached=False,
                               progress=delete_second)
    assert [f.status for f in report.files] == ["read", "missing", "read"]
    assert "gone.safetensors: missing" in report.summary_line()


def test_a_file_deleted_while_it_is_read_is_read_to_the_end_or_reported(tmp_path: Path) -> None:
    p = _file(tmp_path / "deleted.safetensors", 6 * MB)

    def delete(_j: pf.PrefetchJob, f: pf.FileReport, _n: int) -> None:
        if os.path.exists(f.path):
            os.unlink(f.path)

    report = pf.prefetch_files([str(p)], streams=1, chunk_bytes=MB, skip_cached=False, progress=delete)
    assert report.files[0].status in ("read", "error")  # the open file stays readable on Linux; never an exception


def test_a_file_that_shrinks_mid_read_is_reported(tmp_path: Path) -> None:
    p = _file(tmp_path / "shrinks.safetensors", 16 * MB)
    after = _file(tmp_path / "after.safetensors", 2 * MB)

    def truncate(_j: pf.PrefetchJob, f: pf.FileReport, _n: int) -> None:
        if f.path == str(p) and p.stat().st_size > 3 * MB:
            os.truncate(p, 3 * MB + 5)

    report = pf.prefetch_files([str(p), str(after)], streams=1, chunk_bytes=MB, skip_cached=False, progress=truncate)
    r = report.files[0]
    assert r.status == "shrank" and r.read_bytes == 3 * MB + 5
    assert "16,777,216 bytes when opened" in r.detail and "3,145,733 bytes now" in r.detail
    assert report.files[1].status == "read"


def test_unreadable_file_is_an_error_not_an_exception(tmp_path: Path) -> None:
    d = tmp_path / "a_dir.safetensors"
    d.mkdir()
    report = pf.prefetch_files([str(d)], skip_cached=False)
    assert report.files[0].status in ("error", "read")  # a directory: EISDIR on read (or size 0)
    assert report.stopped == ""


def test_duplicates_are_read_once(tmp_path: Path) -> None:
    p = str(_file(tmp_path / "x.safetensors", 2 * MB))
    report = pf.prefetch_files([p, p], skip_cached=False)
    assert len(report.files) == 1 and report.read_bytes == 2 * MB


def test_many_streams_share_the_work(tmp_path: Path) -> None:
    p = str(_file(tmp_path / "x.safetensors", 16 * MB))
    names: set[str] = set()

    def slow(*_: Any) -> None:  # a slow volume: each chunk takes a while, so the streams overlap
        names.add(threading.current_thread().name)
        time.sleep(0.02)

    report = pf.prefetch_files([p], streams=4, chunk_bytes=MB, skip_cached=False, progress=slow)
    assert report.read_bytes == 16 * MB and report.streams == 4
    assert len(names) >= 2


# ---------------------------------------------------------------- switches

@pytest.mark.parametrize(("value", "want"), [("0", "off"), ("off", "off"), ("1", "on"), ("true", "on"), ("", "auto"),
                                             ("auto", "auto")])
def test_switch(value: str, want: str) -> None:
    assert pf.switch({pf.ENV_SWITCH: value}) == want
    assert pf.switch({}) == "auto"


def test_fs_type_from_mountinfo(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text("22 1 253:0 / / rw,relatime - ext4 /dev/vda rw\n"
                    "90 22 0:50 / /runpod-volume rw,relatime - fuse.mfs mfs#mfsmaster:9421 rw\n"
                    "91 22 0:51 / /mnt/with\\040space rw - nfs4 server:/x rw\n")
    assert pf.fs_type("/runpod-volume/models/x", str(info)) == "fuse.mfs"
    assert pf.fs_type("/runpod-volumeX", str(info)) == "ext4"
    assert pf.fs_type("/mnt/with space/a", str(info)) == "nfs4"
    assert pf.fs_type("/x", str(tmp_path / "absent")) == ""


def test_auto_skips_local_disks(tmp_path: Path) -> None:
    p = str(tmp_path)
    local = not pf.is_network_fs(p)
    assert pf.wanted(p, {pf.ENV_SWITCH: "auto"}) is (not local)
    assert pf.wanted(p, {pf.ENV_SWITCH: "1"}) is True
    assert pf.wanted(p, {pf.ENV_SWITCH: "0"}) is False


def test_mem_available_reads_proc(tmp_path: Path) -> None:
    m = tmp_path / "meminfo"
    m.write_text("MemTotal:  24000 kB\nMemFree: 100 kB\nMemAvailable:   2048 kB\n")
    assert pf.mem_available(str(m)) == 2048 * 1024
    assert pf.mem_available(str(tmp_path / "none")) == 0
    assert pf.mem_available() > 0


# ---------------------------------------------------------------- what a prompt needs

def _native() -> dict[str, Any]:
    return {
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae.safetensors"}},
        "unet_high": {"class_type": "UNETLoader", "inputs": {"unet_name": "high.safetensors", "weight_dtype": "default"}},
        "lora_high": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["unet_high", 0], "lora_name": "lh.safetensors",
                                                                       "strength_model": 1.0}},
        "unet_low": {"class_type": "UNETLoader", "inputs": {"unet_name": "low.safetensors", "weight_dtype": "default"}},
        "lora_low": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["unet_low", 0], "lora_name": ["x", 0],
                                                                      "strength_model": 1.0}},
        "ks": {"class_type": "KSamplerAdvanced", "inputs": {"model": ["lora_high", 0]}},
    }


def _resolver(root: Path) -> Any:
    def resolve(folder: str, name: str) -> str | None:
        p = root / folder / name
        return str(p) if p.is_file() else None

    return resolve


def test_files_for_a_native_graph_in_execution_order(tmp_path: Path) -> None:
    for folder, name in (("vae", "wan_2.1_vae.safetensors"), ("diffusion_models", "high.safetensors"),
                         ("diffusion_models", "low.safetensors"), ("loras", "lh.safetensors")):
        _file(tmp_path / folder / name, 10)
    got = pf.files_for_prompt(_native(), _resolver(tmp_path), order=["unet_high", "lora_high", "unet_low", "vae"])
    assert [n.name for n in got] == ["high.safetensors", "lh.safetensors", "low.safetensors", "wan_2.1_vae.safetensors"]
    assert got[0].folder == "diffusion_models" and got[0].node_id == "unet_high" and got[0].class_type == "UNETLoader"
    # without an order: the prompt's own; a linked (not literal) name and unknown nodes are skipped
    assert [n.name for n in pf.files_for_prompt(_native(), _resolver(tmp_path))][0] == "wan_2.1_vae.safetensors"


def test_missing_names_are_left_to_validation(tmp_path: Path) -> None:
    assert pf.files_for_prompt(_native(), _resolver(tmp_path)) == []


def test_files_for_our_nodes_resolve_auto_and_the_preset_loras(tmp_path: Path) -> None:
    roles = ("i2v_high", "i2v_low", "vae", "text_encoder", "lora_i2v_high", "lora_i2v_low")
    for r in roles:
        _file(tmp_path / BY_ROLE[r].folder / BY_ROLE[r].name, 10)
    listings: dict[str, list[str]] = {}
    for r in roles:
        listings.setdefault(BY_ROLE[r].folder, []).append(BY_ROLE[r].name)
    bundle_inputs = {"mode": "i2v", "high_noise_model": "auto", "low_noise_model": "auto", "model": "auto",
                     "text_encoder": "none", "vae": "auto", "clip_vision": "auto", "audio_encoder": "auto"}
    prompt = {"b": {"class_type": "Wan22BundleLoader", "inputs": bundle_inputs},
              "r": {"class_type": "Wan22ModeRouter", "inputs": {"bundle": ["b", 0], "mode": "i2v", "preset": "fast"}}}
    got = pf.files_for_prompt(prompt, _resolver(tmp_path), order=["b", "r"], listings=listings)
    want = [BY_ROLE[r].name for r in ("vae", "i2v_high", "lora_i2v_high", "i2v_low", "lora_i2v_low")]
    assert [n.name for n in got] == want  # the bundle's VAE, then each stage: expert, its LoRA
    assert {n.node_id for n in got[1:]} == {"r"}
    # the text encoder is read when the bundle loads it
    prompt["b"]["inputs"]["text_encoder"] = "auto"
    got = pf.files_for_prompt(prompt, _resolver(tmp_path), order=["b", "r"], listings=listings)
    assert got[0].name == BY_ROLE["text_encoder"].name
    # quality preset: no LoRAs
    prompt["r"]["inputs"]["preset"] = "quality"
    got = pf.files_for_prompt(prompt, _resolver(tmp_path), order=["b", "r"], listings=listings)
    assert not [n for n in got if n.folder == "loras"]


def test_the_bundle_s_vae_is_prefetched_whatever_its_role() -> None:
    """ti2v decodes with the Wan 2.2 VAE (role vae22), animate2 with Wan2_1_VAE_bf16: both found."""
    from wan22.catalog import BY_ROLE as roles
    from wan22.graph.load_order import node_files
    from wan22.graph.reader import workflow_refs
    from wan22.plan.modes import mode_spec

    for mode in ("ti2v", "animate2", "i2v"):
        vae = roles[mode_spec(mode).vae].name
        listings = {e.folder: [e.name] for e in roles.values()}
        listings = {k: [e.name for e in roles.values() if e.folder == k] for k in listings}
        bundle = {"class_type": "Wan22BundleLoader", "inputs": {"mode": mode, "high_noise_model": "auto",
                  "low_noise_model": "auto", "model": "auto", "text_encoder": "auto", "vae": "auto",
                  "clip_vision": "auto", "audio_encoder": "auto", "weight_dtype": "default"}}
        got = node_files(workflow_refs({"1": bundle}, listings=listings), listings)["1"]
        assert ("vae", vae) in got, (mode, got)
        assert got[0][0] == "text_encoders", got
