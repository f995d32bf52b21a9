"""`python -m wan22 fetch` against a real HTTP server on 127.0.0.1 (no other network): a stdlib
ThreadingHTTPServer with Range support serving a demo volume as a `--mirror`
(`<URL>/<folder key>/<file name>`), which can also drop a connection halfway, send HTML, a
truncated body or file, another model under the right name, 404/403/500, and imitate the
Hugging Face Hub (HEAD metadata, token, CDN redirect) for the huggingface_hub path.

The CLI runs in-process (`wan22.cli.main`), so each case takes well under a second."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.mirror import Behaviour, Mirror, fetch, fetch_json

import wan22.fetch.http as fetch_http
from wan22.catalog import BY_ROLE
from wan22.cli import main
from wan22.plan.presets import PRESET_TABLE
from wan22.volume.inventory import run_inventory
from wan22.volume.roots import resolve

I2V_FAST = next(p for p in PRESET_TABLE if p.workflow_id == "i2v_fast").required_roles


def rel(role: str) -> str:
    e = BY_ROLE[role]
    return f"{e.folder}/{e.name}"


@pytest.fixture
def source(i2v_fast_files: Path) -> str:
    """What the mirror serves: the i2v_fast files (tests/unit/conftest.py)."""
    return str(i2v_fast_files)


@pytest.fixture
def mirror(source: str) -> Iterator[Mirror]:
    srv = Mirror(source)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("WAN22_MIRROR", "HF_TOKEN", "HF_ENDPOINT", "WAN22_MODELS_DIR"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("COMFYUI_PATH", os.devnull)
    monkeypatch.setattr(fetch_http, "BACKOFF", 0.01)


def tree(root: Path) -> dict[str, str]:
    """Every file under root (relative path -> sha256), folders included as ''."""
    out = {}
    for p in sorted(root.rglob("*")):
        out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
    return out


def sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------ the tests

def test_i2v_fast_into_an_empty_root_fetches_exactly_six_files_then_nothing(
        tmp_path: Path, mirror: Mirror, source: str, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "models"
    root.mkdir()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(root), "--mirror", mirror.url)
    assert rc == 0, out
    assert out["ready"] is True and out["workflows"]["i2v_fast"] == {"ready_before": False, "ready": True, "blocking": []}
    assert sorted(mirror.served.gets) == sorted(rel(r) for r in I2V_FAST)
    assert all(n == 1 for n in mirror.served.gets.values())
    assert {p["role"] for p in out["plan"] if p["state"] == "done"} == set(I2V_FAST)
    for r in I2V_FAST:  # byte for byte what the mirror holds, at the folder key under the root
        assert sha(root / rel(r)) == sha(Path(source) / rel(r))
    assert not list(root.rglob("*.part"))
    report = run_inventory(resolve(roots=[str(root)]), cache=False)
    assert report.workflows["i2v_fast"].ready

    mirror.served.reset()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(root), "--mirror", mirror.url)
    assert rc == 0 and out["plan"] == [] and mirror.served.gets == {} and mirror.served.heads == {}


def test_interrupted_transfer_resumes_from_the_part(tmp_path: Path, mirror: Mirror, source: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    te = rel("text_encoder")  # the largest stand-in (84 MB)
    size = os.path.getsize(Path(source) / te)
    mirror.rules[te] = Behaviour(drop_at=0.5, down_after_drop=True)  # drops halfway, then the server is down
    root = tmp_path / "models"
    root.mkdir()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(root), "--mirror", mirror.url)
    assert rc == 1
    item = next(p for p in out["plan"] if p["role"] == "text_encoder")
    assert item["state"] == "failed" and "503" in item["reason"] and te.split("/")[1] in item["reason"]
    part = root / (te + ".part")
    assert part.stat().st_size == size // 2 and not (root / te).exists()
    assert {p["role"] for p in out["plan"] if p["state"] == "done"} == set(I2V_FAST) - {"text_encoder"}

    mirror.rules.clear()
    mirror.served.reset()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(root), "--mirror", mirror.url)
    assert rc == 0, out
    item = next(p for p in out["plan"] if p["role"] == "text_encoder")
    assert item["action"] == "resume" and item["have"] == size // 2 and item["state"] == "done"
    assert mirror.served.ranges[te] == [f"bytes={size // 2}-"]
    assert 0.45 * size <= mirror.served.bytes[te] <= 0.55 * size
    assert sha(root / te) == sha(Path(source) / te) and not part.exists()
    assert any("stand-in" in c for c in item["checks"]) and any("as announced" in c for c in item["checks"])


def test_a_connection_dropped_once_is_resumed_in_the_same_run(tmp_path: Path, mirror: Mirror, source: str) -> None:
    vae = rel("vae")
    mirror.rules[vae] = Behaviour(drop_at=0.3, drops=1)
    root = tmp_path / "models"
    root.mkdir()
    assert fetch("--workflow", "i2v_fast", "--root", str(root), "--mirror", mirror.url) == 0
    size = os.path.getsize(Path(source) / vae)
    assert mirror.served.gets[vae] == 2 and mirror.served.ranges[vae] == [f"bytes={int(size * 0.3)}-"]
    assert mirror.served.bytes[vae] == size
    assert sha(root / vae) == sha(Path(source) / vae)


@pytest.mark.parametrize("case", ["html", "file_truncated", "other_model", "body_cut_every_time"])
def test_wrong_content_is_refused_and_never_gets_the_final_name(
        case: str, tmp_path: Path, mirror: Mirror, source: str, capsys: pytest.CaptureFixture[str]) -> None:
    vae = rel("vae")
    mirror.rules[vae] = {
        "html": Behaviour(html=True),
        "file_truncated": Behaviour(file_cut=0.6),
        "other_model": Behaviour(serve_instead=rel("lora_i2v_high")),
        "body_cut_every_time": Behaviour(drop_at=0.5),  # Content-Length says all, the body stops at half, always
    }[case]
    root = tmp_path / "models"
    root.mkdir()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(root), "--mirror", mirror.url)
    assert rc == 1
    item = next(p for p in out["plan"] if p["role"] == "vae")
    assert item["state"] == "failed" and "wan_2.1_vae.safetensors" in item["reason"]
    assert not (root / vae).exists()
    part = root / (vae + ".part")
    want = {"html": "HTML", "file_truncated": "truncated", "other_model": "LoRA", "body_cut_every_time": "resume"}[case]
    assert want in item["reason"], item["reason"]
    if case == "body_cut_every_time":  # documented: a correct prefix is kept for the next run
        size = os.path.getsize(Path(source) / vae)
        assert part.stat().st_size == size // 2
    else:  # documented: refused from the header, before the .part exists
        assert not part.exists()
    done = {p["role"] for p in out["plan"] if p["state"] == "done"}
    assert done == set(I2V_FAST) - {"vae"}  # the other files continue


def test_http_errors_name_the_file_and_url_and_the_others_continue(
        tmp_path: Path, mirror: Mirror, capsys: pytest.CaptureFixture[str]) -> None:
    codes = {"vae": 404, "lora_i2v_high": 403, "lora_i2v_low": 500}
    for role, code in codes.items():
        mirror.rules[rel(role)] = Behaviour(status=code)
    root = tmp_path / "models"
    root.mkdir()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(root), "--mirror", mirror.url)
    assert rc == 1
    by_role = {p["role"]: p for p in out["plan"]}
    for role, code in codes.items():
        p = by_role[role]
        assert p["state"] == "failed" and f"HTTP {code}" in p["reason"]
        assert BY_ROLE[role].name in p["reason"] and f"{mirror.url}/{rel(role)}" in p["reason"]
        assert not (root / rel(role)).exists() and not (root / (rel(role) + ".part")).exists()
    assert {r for r, p in by_role.items() if p["state"] == "done"} == set(I2V_FAST) - set(codes)
    assert out["workflows"]["i2v_fast"]["ready"] is False


def test_not_enough_free_space_is_refused_before_any_byte(
        small_tmpfs: Path, mirror: Mirror, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(small_tmpfs), "--mirror", mirror.url)
    assert rc == 1
    assert "refused before writing anything" in out["refused"]
    (space,) = out["space"]
    assert space["ok"] is False and space["need"] > space["free"] and space["need"] > 90_000_000
    assert list(small_tmpfs.iterdir()) == []  # not even a folder
    assert mirror.served.gets == {}
    assert {p["state"] for p in out["plan"]} == {"not_run"}


def test_existing_files_are_never_touched_and_dry_run_writes_nothing(
        tmp_path: Path, mirror: Mirror, source: str, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "models"
    (root / "vae").mkdir(parents=True)
    bad = root / rel("vae")
    bad.write_bytes(b"\x00" * 4096)  # a damaged file where ComfyUI looks
    lora = root / rel("lora_i2v_high")
    lora.parent.mkdir()
    shutil.copyfile(Path(source) / rel("lora_i2v_high"), lora)  # a good one
    foreign = root / (rel("lora_i2v_low") + ".part")
    foreign.write_bytes(b"not a download of ours")
    before = tree(root)

    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(root), "--mirror", mirror.url, "--dry-run")
    assert rc == 1 and out["dry_run"] is True
    assert tree(root) == before and mirror.served.gets == {}
    actions = {p["role"]: p["action"] for p in out["plan"]}
    assert actions == {"i2v_high": "download", "i2v_low": "download", "text_encoder": "download", "vae": "blocked",
                       "lora_i2v_low": "blocked"}

    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(root), "--mirror", mirror.url)
    assert rc == 1
    after = tree(root)
    for k, v in before.items():
        assert after[k] == v, f"{k} was changed"
    by_role = {p["role"]: p for p in out["plan"]}
    assert "never replaces" in by_role["vae"]["reason"] and "mv -n" in by_role["vae"]["reason"]
    assert "not a partial download" in by_role["lora_i2v_low"]["reason"]
    assert {r for r, p in by_role.items() if p["state"] == "done"} == {"i2v_high", "i2v_low", "text_encoder"}
    assert rel("vae") not in mirror.served.gets and rel("lora_i2v_high") not in mirror.served.gets


def test_text_output_shows_plan_sizes_space_and_verdict(tmp_path: Path, mirror: Mirror, source: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "models"
    root.mkdir()
    capsys.readouterr()
    assert fetch("--workflow", "i2v_fast", "--root", str(root), "--mirror", mirror.url, "--dry-run") == 1
    text = capsys.readouterr().out
    total = sum(os.path.getsize(Path(source) / rel(r)) for r in I2V_FAST) / 1e6
    assert f"Plan: 6 file(s) to fetch, {total:.2f} MB" in text
    vae = os.path.getsize(Path(source) / rel("vae")) / 1e6
    assert re.search(rf"download +vae/wan_2.1_vae.safetensors  {vae:.2f} MB\n", text)
    assert f"from {mirror.url}/vae/wan_2.1_vae.safetensors" in text
    assert f"to   {root / 'vae' / 'wan_2.1_vae.safetensors'}" in text
    assert re.search(rf"Free space on .*: .*, needed {total:.2f} MB: ok", text)
    assert "NOT READY: i2v_fast" in text and "(dry run: nothing was written)" in text


def test_mirror_from_the_environment_and_a_workflow_file(tmp_path: Path, mirror: Mirror,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WAN22_MIRROR", mirror.url + "/")
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps({"1": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae.safetensors"}},
                              "2": {"class_type": "LoraLoaderModelOnly",
                                    "inputs": {"lora_name": "Wan2.2/" + BY_ROLE["lora_i2v_low"].name}},
                              "3": {"class_type": "UNETLoader", "inputs": {"unet_name": "someone_elses.safetensors"}}}))
    root = tmp_path / "models"
    root.mkdir()
    rc, out = fetch_json(capsys, "--workflow", str(wf), "--root", str(root))
    assert rc == 0, out
    assert sorted(mirror.served.gets) == sorted([rel("vae"), rel("lora_i2v_low")])
    assert out["workflows"][str(wf)]["ready"] is True
    assert main(["fetch", "--workflow", str(tmp_path / "none.json"), "--root", str(root)]) == 2
    assert main(["fetch", "--workflow", "i2v_slow", "--root", str(root)]) == 2
    assert main(["fetch", "--workflow", "vae", "--root", str(root), "--mirror", "ftp://x"]) == 2


def test_to_puts_files_under_the_folder_key(tmp_path: Path, mirror: Mirror, capsys: pytest.CaptureFixture[str]) -> None:
    to = tmp_path / "volume"
    to.mkdir()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--to", str(to), "--mirror", mirror.url, "--jobs", "3")
    assert rc == 0
    assert sorted(str(p.relative_to(to)) for p in to.rglob("*.safetensors")) == sorted(rel(r) for r in I2V_FAST)
    assert out["warnings"] == []

    elsewhere, judged = tmp_path / "elsewhere", tmp_path / "judged"
    elsewhere.mkdir()
    judged.mkdir()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(judged), "--to", str(elsewhere), "--mirror",
                         mirror.url, "--dry-run")
    assert rc == 1 and len(out["warnings"]) == 6
    assert f"does not search {elsewhere / 'vae'} for 'vae' files" in out["warnings"][3]


# ------------------------------------------------------------------ the huggingface_hub path

def _hub_url(monkeypatch: pytest.MonkeyPatch, mirror: Mirror) -> None:
    """Catalog URLs point at huggingface.co; HF_ENDPOINT sends them to the imitation on loopback,
    whose paths are /hub/<org>/<repo>/resolve/main/<folder>/<name>."""
    import wan22.catalog as catalog
    import wan22.fetch.plan as fp

    monkeypatch.setenv("HF_ENDPOINT", f"{mirror.url}/hub")
    for role in I2V_FAST:
        e = BY_ROLE[role]
        new = type(e)(**{**e.__dict__, "url": f"https://huggingface.co/Org/Repo/resolve/main/{e.folder}/{e.name}"})
        monkeypatch.setitem(catalog.BY_ROLE, role, new)
        monkeypatch.setitem(fp.BY_ROLE, role, new)


def test_hugging_face_urls_go_through_huggingface_hub_with_the_token(
        tmp_path: Path, mirror: Mirror, source: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    _hub_url(monkeypatch, mirror)
    mirror.hub.update(token="hf_test_token", redirect=True)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    root = tmp_path / "models"
    root.mkdir()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(root))
    assert rc == 0, out
    for p in out["plan"]:
        assert p["via"] == "huggingface_hub" and any("sha256 matches the Hub" in c for c in p["checks"])
        assert sha(root / rel(p["role"])) == sha(Path(source) / rel(p["role"]))
    heads = [k for k in mirror.served.heads if k.startswith("hub/Org/")]
    assert len(heads) == 6 and all(a == ["Bearer hf_test_token"] for k, a in mirror.served.auth.items() if k in heads)
    cdn = [k for k in mirror.served.gets if k.startswith("hub/cdn/")]
    assert len(cdn) == 6 and all(set(mirror.served.auth[k]) == {""} for k in cdn)  # the token stays on the Hub

    monkeypatch.setenv("HF_TOKEN", "wrong")
    other = tmp_path / "other"
    other.mkdir()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(other))
    assert rc == 1 and all("HTTP 401" in p["reason"] and "HF_TOKEN" in p["reason"] for p in out["plan"]), out["plan"]


def test_a_sha256_mismatch_removes_the_finished_part(tmp_path: Path, mirror: Mirror, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    _hub_url(monkeypatch, mirror)
    mirror.hub["sha256"] = {rel("vae"): "ab" * 32}
    root = tmp_path / "models"
    root.mkdir()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(root))
    assert rc == 1
    item = next(p for p in out["plan"] if p["role"] == "vae")
    assert item["state"] == "failed" and "is not the published abababab" in item["reason"]
    assert not (root / rel("vae")).exists() and not (root / (rel("vae") + ".part")).exists()


def test_without_huggingface_hub_hub_urls_are_plain_http_with_the_token(
        tmp_path: Path, mirror: Mirror, source: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import wan22.fetch.hf as fetch_hf

    monkeypatch.setattr(fetch_hf, "_hub", lambda: None)  # as on a machine without huggingface_hub
    _hub_url(monkeypatch, mirror)
    mirror.hub.update(token="hf_test_token", redirect=True)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    root = tmp_path / "models"
    root.mkdir()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(root))
    assert rc == 0, out
    assert {p["via"] for p in out["plan"]} == {"http"}
    for p in out["plan"]:
        assert sha(root / rel(p["role"])) == sha(Path(source) / rel(p["role"]))
    hub = [k for k in mirror.served.auth if k.startswith("hub/Org/")]
    assert len(hub) == 6 and all(set(mirror.served.auth[k]) == {"Bearer hf_test_token"} for k in hub)
    cdn = [k for k in mirror.served.auth if k.startswith("hub/cdn/")]
    assert len(cdn) == 6 and all(set(mirror.served.auth[k]) == {""} for k in cdn)  # not along the redirect


# ------------------------------------------------------------------ the sidebar's command

REPO = Path(__file__).resolve().parents[2]


def _sidebar_commands(report: dict[str, Any]) -> list[dict[str, Any]]:
    """js/lib/fetch_command.js's fetchCommands(report), run by node."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the sidebar's command builder cannot run")
    mod = (REPO / "js" / "lib" / "fetch_command.js").as_uri()
    code = (f"import {{ fetchCommands }} from {json.dumps(mod)};\n"
            "let s = ''; process.stdin.on('data', (d) => { s += d; });\n"
            "process.stdin.on('end', () => { process.stdout.write(JSON.stringify(fetchCommands(JSON.parse(s)))); });\n")
    r = subprocess.run([node, "--input-type=module", "-e", code], input=json.dumps(report), capture_output=True,
                       text=True, timeout=60, check=True)
    return list(json.loads(r.stdout))


def test_the_sidebars_command_makes_the_workflow_ready(tmp_path: Path, mirror: Mirror, source: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import shlex

    from wan22.catalog import DEFAULT_DIRS
    from wan22.volume.roots import from_folder_paths

    comfy = tmp_path / "Comfy UI"  # a space, to see the quoting work
    models = comfy / "models"
    (models / "vae").mkdir(parents=True)
    shutil.copyfile(Path(source) / rel("vae"), models / rel("vae"))
    (models / "loras").mkdir()
    shutil.copyfile(Path(source) / rel("lora_i2v_high"), models / "loras" / "Wan2.2_I2V_lightx2v_4steps_lora_v1_HIGH_noise.safetensors")

    def comfy_cfg() -> Any:  # what the route's report is built from: ComfyUI's own folder_paths
        return from_folder_paths(lambda key: [str(models / d) for d in DEFAULT_DIRS.get(key, (key,))], str(models))

    report = run_inventory(comfy_cfg(), cache=False).as_dict()
    rows = {r["workflow"]: r for r in _sidebar_commands(report)}
    assert set(rows) == set(report["workflows"])  # nothing is ready yet
    row = rows["i2v_fast"]
    assert row["fetch"] == f"python -m wan22 fetch --workflow i2v_fast --comfyui '{comfy}'"
    assert row["fix"] == f"python -m wan22 inventory --workflow i2v_fast --comfyui '{comfy}' --fix"

    fix = shlex.split(row["fix"])[3:] + ["--yes"]
    assert main(fix) == 1  # the LoRA is renamed; the experts are still missing
    fetch_args = shlex.split(row["fetch"])[3:]
    assert main([*fetch_args, "--mirror", mirror.url]) == 0
    assert run_inventory(comfy_cfg(), cache=False).workflows["i2v_fast"].ready
    assert rel("vae") not in mirror.served.gets and rel("lora_i2v_high") not in mirror.served.gets
    rows = {r["workflow"]: r for r in _sidebar_commands(run_inventory(comfy_cfg(), cache=False).as_dict())}
    assert "i2v_fast" not in rows


def test_verification_where_symlinks_are_not_allowed(tmp_path: Path, mirror: Mirror, source: str,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import wan22.fetch.fetch as fetch_mod

    def no_symlinks(*_a: Any, **_k: Any) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    root = tmp_path / "models"
    root.mkdir()
    rc, out = fetch_json(capsys, "--workflow", "i2v_fast", "--root", str(root), "--mirror", mirror.url)
    assert rc == 0 and all(any("(a demo-volume stand-in)" in c for c in p["checks"]) for p in out["plan"])
    cut = tmp_path / "cut.safetensors"
    data = (Path(source) / rel("vae")).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert fetch_mod._inspect_header(BY_ROLE["vae"], str(cut))[0] == "truncated"
    assert fetch_mod._inspect_header(BY_ROLE["lora_i2v_high"], str(Path(source) / rel("vae")))[0] == "wrong_model"
