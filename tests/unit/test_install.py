"""install.py and wan22/install/support.py: version check, volume detection, and the
extra_model_paths.yaml section it offers and (only when asked) appends. No ComfyUI needed: a fake
ComfyUI folder (comfyui_version.py + folder_paths.py) stands in; the comfy tier runs it for real."""

from __future__ import annotations

import ast
import importlib.util
import io
import os
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import yaml

from wan22.catalog import FILES
from wan22.install import support as inst
from wan22.volume.inventory import run_inventory
from wan22.volume.roots import FolderConfig, load_extra_model_paths

REPO = Path(__file__).resolve().parents[2]
INSTALL_PY = REPO / "install.py"


def fake_comfyui(root: Path, version: str = "0.33.0") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "folder_paths.py").write_text("# stand-in\n")
    (root / "main.py").write_text("# stand-in\n")
    (root / "comfy").mkdir(exist_ok=True)
    (root / "main.py").write_text("# stand-in\n")
    (root / "comfyui_version.py").write_text(f'# generated\n__version__ = "{version}"\n')
    (root / "custom_nodes").mkdir(exist_ok=True)
    return root


def run_install(args: list[str], env: dict[str, str], cwd: Path = REPO, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """install.py the way ComfyUI-Manager runs it: `python install.py` in the pack folder, stdin
    closed (it must never wait for input), a clean environment plus what the caller passes."""
    base = {k: v for k, v in os.environ.items() if k not in ("COMFYUI_PATH", inst.MODELS_ENV, inst.WRITE_ENV)}
    return subprocess.run([sys.executable, str(cwd / "install.py"), *args], cwd=cwd, env={**base, **env},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def call(args: list[str], env: dict[str, str], candidates: tuple[str, ...] = ()) -> tuple[int, str]:
    lines: list[str] = []
    code = inst.run(args, env, str(REPO), lines.append, candidates=candidates)
    return code, "\n".join(lines)


def stat_of(path: Path) -> tuple[bytes, int, int]:
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, st.st_ino


# ---------------------------------------------------------------- versions

@pytest.mark.parametrize("version, spec, ok", [
    ("0.33.0", ">=0.3.60", True),  # minor 33 > 3: not a string comparison
    ("0.3.59", ">=0.3.60", False),
    ("0.3.60", ">=0.3.60", True),
    ("v0.3.61", ">=0.3.60,<1.0.0", True),
    ("1.0.0", ">=0.3.60,<1.0.0", False),
    ("0.3.60-rc1", ">=0.3.60", True),
    ("0.3.60", "==0.3.60", True),
    ("0.3.60", "0.3.60", True),
    ("0.3.60", "!=0.3.60", False),
    ("0.3.65", "~=0.3.60", True),
    ("0.4.0", "~=0.3.60", False),
    ("0.3", ">=0.3.0", True),
])
def test_version_satisfies(version: str, spec: str, ok: bool) -> None:
    assert inst.version_satisfies(version, spec) is ok


def test_bad_version_text_is_an_error() -> None:
    with pytest.raises(ValueError):
        inst.version_satisfies("nightly", ">=0.3.60")


def test_comfyui_version_read_without_importing_comfyui(tmp_path: Path) -> None:
    c = fake_comfyui(tmp_path / "ComfyUI", "0.33.0")
    assert inst.read_comfyui_version(str(c)) == "0.33.0"
    (c / "comfyui_version.py").unlink()
    (c / "pyproject.toml").write_text('[project]\nname = "ComfyUI"\nversion = "0.3.70"\n')
    assert inst.read_comfyui_version(str(c)) == "0.3.70"
    (c / "pyproject.toml").unlink()
    assert inst.read_comfyui_version(str(c)) is None


def test_too_old_comfyui_says_what_to_do(tmp_path: Path) -> None:
    c = fake_comfyui(tmp_path / "ComfyUI", "0.3.10")
    check = inst.check_comfyui_version(str(c), ">=0.3.60")
    assert not check.ok and check.known
    assert "too old" in check.message and ">=0.3.60" in check.message and "Update ComfyUI" in check.message


def test_find_comfyui_order(tmp_path: Path) -> None:
    a = fake_comfyui(tmp_path / "A")
    b = fake_comfyui(tmp_path / "B")
    pack = b / "custom_nodes" / "ComfyUI-Wan22"
    pack.mkdir(parents=True)
    assert inst.find_comfyui(str(a), {"COMFYUI_PATH": str(b)}, str(pack))[0] == str(a)
    assert inst.find_comfyui(None, {"COMFYUI_PATH": str(a)}, str(pack))[0] == str(a)
    assert inst.find_comfyui(None, {}, str(pack)) == (str(b), "the folder above custom_nodes/")
    assert inst.find_comfyui(None, {}, str(tmp_path))[0] is None
    assert inst.find_comfyui(str(tmp_path), {}, str(pack))[0] is None  # --comfyui that is not ComfyUI


def test_detect_volume(tmp_path: Path) -> None:
    v1, v2 = tmp_path / "workspace" / "models", tmp_path / "runpod-volume" / "models"
    v2.mkdir(parents=True)
    assert inst.detect_volume({}, (str(v1), str(v2)))[0] == str(v2)
    v1.mkdir(parents=True)
    assert inst.detect_volume({}, (str(v1), str(v2)))[0] == str(v1)
    mine = tmp_path / "mine"
    mine.mkdir()
    assert inst.detect_volume({inst.MODELS_ENV: str(mine)}, (str(v1),))[0] == str(mine)
    path, notes = inst.detect_volume({inst.MODELS_ENV: str(tmp_path / "nope")}, ())
    assert path is None and "is not a folder" in notes[0]


# ---------------------------------------------------------------- the section, read as ComfyUI reads it

@pytest.mark.parametrize("models_dir", ["/workspace/models", "/runpod-volume/models", "/data/my models", "/x/#odd: path"])
def test_section_parses_as_comfyui_reads_it(tmp_path: Path, models_dir: str) -> None:
    y = tmp_path / "extra_model_paths.yaml"
    y.write_text(inst.section_text(models_dir, version="9.9.9"))
    raw = yaml.safe_load(y.read_text())
    assert list(raw) == [inst.SECTION_NAME]
    assert all(isinstance(v, str) for v in raw[inst.SECTION_NAME].values()), "ComfyUI splits every value as text"
    cfg = FolderConfig()
    load_extra_model_paths(cfg, str(y))
    assert cfg.problems == []
    assert all("does not exist" in w for w in cfg.warnings), cfg.warnings  # only: this test's volume is not there
    for key, subs in inst.WAN_SUBDIRS.items():
        assert cfg.dirs(key) == [os.path.normpath(os.path.join(models_dir, s)) for s in subs], key


def test_every_folder_key_wan_uses_is_in_the_section() -> None:
    keys = {f.folder for f in FILES}
    assert keys <= set(inst.WAN_KEYS), f"catalog folders not offered: {keys - set(inst.WAN_KEYS)}"
    assert set(inst.WAN_KEYS) == {"diffusion_models", "text_encoders", "vae", "clip_vision", "audio_encoders", "loras"}


def test_section_resolves_every_catalog_file_of_a_volume_laid_out_as_comfyui_documents(tmp_path: Path, demo_volume: Path) -> None:
    models = tmp_path / "workspace" / "models"
    models.parent.mkdir(parents=True)
    models.symlink_to(demo_volume, target_is_directory=True)  # <volume>/models/<folder key>/<file>
    y = tmp_path / "extra_model_paths.yaml"
    y.write_text(inst.section_text(str(models)))
    cfg = FolderConfig()
    load_extra_model_paths(cfg, str(y))
    report = run_inventory(cfg)
    bad = [(f.name, f.status) for f in report.files if f.status not in ("ok", "stand_in")]
    assert bad == [], bad
    assert report.ready(), {w: s.blocking for w, s in report.workflows.items() if not s.ready}


# ---------------------------------------------------------------- install.py as ComfyUI-Manager runs it

def test_manager_style_run_is_fast_offers_and_writes_nothing(tmp_path: Path) -> None:
    comfy = fake_comfyui(tmp_path / "ComfyUI")
    vol = tmp_path / "vol" / "models"
    vol.mkdir(parents=True)
    t0 = time.perf_counter()
    r = run_install([], {"COMFYUI_PATH": str(comfy), inst.MODELS_ENV: str(vol)})
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    assert elapsed < 10, f"install.py took {elapsed:.1f}s"
    assert "ok: ComfyUI 0.33.0" in r.stdout
    assert "python install.py --write-yaml" in r.stdout and f"base_path: {vol}" in r.stdout
    assert not (comfy / "extra_model_paths.yaml").exists(), "install.py wrote without being asked"
    assert r.stderr == ""


def test_too_old_comfyui_warns_but_never_fails_a_manager_install(tmp_path: Path) -> None:
    comfy = fake_comfyui(tmp_path / "ComfyUI", "0.3.10")
    r = run_install([], {"COMFYUI_PATH": str(comfy)})
    assert r.returncode == 0 and "WARNING" in r.stdout and "too old" in r.stdout
    r = run_install(["--strict", "--comfyui", str(comfy)], {})
    assert r.returncode == 1, "an image build (--strict) must stop on a too old ComfyUI"
    ok = fake_comfyui(tmp_path / "New")
    assert run_install(["--strict", "--comfyui", str(ok)], {}).returncode == 0
    assert run_install(["--strict"], {}).returncode == 1, "--strict without any ComfyUI must fail"


def test_write_creates_then_second_run_changes_nothing(tmp_path: Path) -> None:
    comfy = fake_comfyui(tmp_path / "ComfyUI")
    vol = tmp_path / "vol" / "models"
    vol.mkdir(parents=True)
    env = {"COMFYUI_PATH": str(comfy), inst.MODELS_ENV: str(vol), inst.WRITE_ENV: "1"}
    r = run_install([], env)
    y = comfy / "extra_model_paths.yaml"
    assert r.returncode == 0 and "created" in r.stdout, r.stdout
    before = stat_of(y)
    time.sleep(0.01)
    r2 = run_install([], env)
    assert r2.returncode == 0 and "already searches every Wan 2.2 folder" in r2.stdout, r2.stdout
    assert stat_of(y) == before, "the second run changed the file"


USER_YAML = """\
# my own settings, do not touch
comfyui:
    base_path: /opt/ComfyUI/
    is_default: true
    checkpoints: models/checkpoints/
    text_encoders: |
         models/text_encoders/
         models/clip/

a1111:
    base_path: /sd
    loras: |
        models/Lora
        models/LyCORIS"""  # no final newline, ends inside a block scalar


def test_append_keeps_every_byte_and_every_section(tmp_path: Path) -> None:
    comfy = fake_comfyui(tmp_path / "ComfyUI")
    vol = tmp_path / "vol" / "models"
    vol.mkdir(parents=True)
    y = comfy / "extra_model_paths.yaml"
    y.write_bytes(USER_YAML.encode())
    ino = y.stat().st_ino
    code, out = call(["--write-yaml"], {"COMFYUI_PATH": str(comfy), inst.MODELS_ENV: str(vol)})
    assert code == 0 and "appended a section" in out, out
    data = y.read_bytes()
    assert data.startswith(USER_YAML.encode()), "the user's text was rewritten"
    assert y.stat().st_ino == ino, "the file was replaced instead of appended to"
    old, new = yaml.safe_load(USER_YAML), yaml.safe_load(data)
    assert list(new) == [*old, inst.SECTION_NAME], "sections were reordered"
    for k in old:
        assert {kk: (v.split() if isinstance(v, str) else v) for kk, v in new[k].items()} == \
               {kk: (v.split() if isinstance(v, str) else v) for kk, v in old[k].items()}
    cfg = FolderConfig()
    load_extra_model_paths(cfg, str(y))
    assert cfg.problems == []
    assert os.path.join(str(vol), "audio_encoders") in cfg.dirs("audio_encoders")
    assert "/sd/models/LyCORIS" in cfg.dirs("loras")
    before = stat_of(y)
    code, out = call(["--write-yaml"], {"COMFYUI_PATH": str(comfy), inst.MODELS_ENV: str(vol)})
    assert code == 0 and stat_of(y) == before and "left as it is" in out


def test_existing_section_that_covers_the_volume_is_respected(tmp_path: Path) -> None:
    comfy = fake_comfyui(tmp_path / "ComfyUI")
    vol = tmp_path / "vol" / "models"
    vol.mkdir(parents=True)
    y = comfy / "extra_model_paths.yaml"
    y.write_text("mine:\n  base_path: " + str(vol) + "\n" + "".join(f"  {k}: {k}/\n" for k in inst.WAN_KEYS))
    before = stat_of(y)
    code, out = call(["--write-yaml"], {"COMFYUI_PATH": str(comfy), inst.MODELS_ENV: str(vol)})
    assert code == 0 and "already searches" in out and stat_of(y) == before


def test_comfyui_models_folder_on_the_volume_counts_as_covered(tmp_path: Path) -> None:
    vol = tmp_path / "vol" / "models"
    vol.mkdir(parents=True)
    comfy = fake_comfyui(tmp_path / "ComfyUI")
    (comfy / "models").symlink_to(vol, target_is_directory=True)
    code, out = call(["--write-yaml"], {"COMFYUI_PATH": str(comfy), inst.MODELS_ENV: str(vol)})
    assert code == 0 and "already searches" in out and not (comfy / "extra_model_paths.yaml").exists()


@pytest.mark.parametrize("content, why", [
    ("wan22_volume:\n  base_path: /elsewhere\n  vae: vae/\n", "never edits an existing section"),
    ("a:\n  vae: [x, y]\n", "problems ComfyUI would trip over"),
    ("a: [unclosed\n", "problems ComfyUI would trip over"),
    ("- just\n- a list\n", "problems ComfyUI would trip over"),
    ("a:\n  vae: x/\n...\n", "does not end"),  # a document end marker: appending would start a second document
])
def test_refuses_to_touch_a_file_it_cannot_safely_extend(tmp_path: Path, content: str, why: str) -> None:
    comfy = fake_comfyui(tmp_path / "ComfyUI")
    vol = tmp_path / "vol" / "models"
    vol.mkdir(parents=True)
    y = comfy / "extra_model_paths.yaml"
    y.write_text(content)
    before = stat_of(y)
    code, out = call(["--write-yaml"], {"COMFYUI_PATH": str(comfy), inst.MODELS_ENV: str(vol)})
    assert code == 0 and stat_of(y) == before
    assert "was not changed" in out and why in out and f"{inst.SECTION_NAME}:" in out, out


def test_empty_user_file_gets_the_section(tmp_path: Path) -> None:
    # ComfyUI crashes on an empty extra_model_paths.yaml ('NoneType' is not iterable); appending fixes it
    comfy = fake_comfyui(tmp_path / "ComfyUI")
    vol = tmp_path / "vol" / "models"
    vol.mkdir(parents=True)
    y = comfy / "extra_model_paths.yaml"
    y.write_text("# nothing yet\n")
    code, out = call(["--write-yaml"], {"COMFYUI_PATH": str(comfy), inst.MODELS_ENV: str(vol)})
    assert code == 0 and "appended" in out
    assert y.read_text().startswith("# nothing yet\n") and list(yaml.safe_load(y.read_text())) == [inst.SECTION_NAME]


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    comfy = fake_comfyui(tmp_path / "ComfyUI")
    vol = tmp_path / "vol" / "models"
    vol.mkdir(parents=True)
    code, out = call(["--write-yaml", "--dry-run"], {"COMFYUI_PATH": str(comfy), inst.MODELS_ENV: str(vol)})
    assert code == 0 and "would create" in out and not (comfy / "extra_model_paths.yaml").exists()


def test_explicit_yaml_and_models_dir(tmp_path: Path) -> None:
    y = tmp_path / "other.yaml"
    code, out = call(["--write-yaml", "--yaml", str(y), "--models-dir", str(tmp_path / "later")], {})
    assert code == 0 and "does not exist (yet)" in out and y.is_file()
    assert yaml.safe_load(y.read_text())[inst.SECTION_NAME]["base_path"] == str(tmp_path / "later")


def test_no_volume_and_no_comfyui_is_quiet_and_fine(tmp_path: Path) -> None:
    code, out = call([], {}, candidates=(str(tmp_path / "none"),))
    assert code == 0 and "no network volume found" in out


def test_volume_without_comfyui_prints_the_section(tmp_path: Path) -> None:
    vol = tmp_path / "models"
    vol.mkdir()
    code, out = call([], {inst.MODELS_ENV: str(vol)})
    assert code == 0 and "no ComfyUI folder" in out and f"base_path: {vol}" in out


# ---------------------------------------------------------------- install.py itself

def test_install_py_survives_a_broken_pack(tmp_path: Path) -> None:
    (tmp_path / "install.py").write_bytes(INSTALL_PY.read_bytes())  # no wan22/ next to it
    r = run_install([], {}, cwd=tmp_path)
    assert r.returncode == 0 and "post-install check skipped" in r.stdout


def test_install_py_import_has_no_side_effects() -> None:
    spec = importlib.util.spec_from_file_location("wan22_install_under_test", INSTALL_PY)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    buf = io.StringIO()
    with redirect_stdout(buf):
        spec.loader.exec_module(mod)
    assert buf.getvalue() == "" and callable(mod.main)


@pytest.mark.parametrize("rel", ["install.py", "wan22/install/support.py"])
def test_runs_on_python_3_10(rel: str) -> None:
    # ComfyUI supports Python 3.10; ComfyUI-Manager runs install.py with ComfyUI's interpreter
    ast.parse((REPO / rel).read_text(encoding="utf-8"), rel, feature_version=(3, 10))


def test_install_code_does_no_network_git_or_pip() -> None:
    for rel in ("install.py", "wan22/install/support.py"):
        src = (REPO / rel).read_text(encoding="utf-8")
        tree = ast.parse(src)
        mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
        assert not mods & {"subprocess", "urllib", "http", "socket", "requests", "pip", "git", "shutil"}, (rel, mods)
