"""Install the pack the way users do, into a fresh copy of ComfyUI, then start that ComfyUI and
find our nodes.

1. ComfyUI-Manager's CLI (PyPI comfyui-manager): `python -m cm_cli install file://localhost/<bare
   clone>` with COMFYUI_PATH set, pip offline (PIP_NO_INDEX + an empty wheel dir: our requirements
   must already be met, nothing is downloaded). The CLI exits 0 even when an install fails, so
   success is judged from its output and from the started server.
2. The Comfy Registry archive: `comfy node pack` (comfy-cli), unpacked into custom_nodes/<node id>
   as a Registry install does, then `python -m cm_cli post-install <dir>` (the Manager's own step
   after unpacking: requirements, then install.py).

The clone is a one-commit snapshot of this checkout (tracked files plus untracked ones git does
not ignore; in CI exactly HEAD). Not exercised: fetching from GitHub or the Registry (no network).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.harness import Server, free_port, worker_comfyui_upload

from wan22.catalog import FILES

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CORE_NODES = {"Wan22BundleLoader", "Wan22ModeRouter", "Wan22MoESampler", "Wan22VolumeInventory"}
# node id -> (its model input, the folder key the files come from): what the stock loaders list
LOADER_INPUTS = {"UNETLoader": ("unet_name", "diffusion_models"), "CLIPLoader": ("clip_name", "text_encoders"),
                 "VAELoader": ("vae_name", "vae"), "CLIPVisionLoader": ("clip_name", "clip_vision"),
                 "AudioEncoderLoader": ("audio_encoder_name", "audio_encoders"),
                 "LoraLoaderModelOnly": ("lora_name", "loras")}


def _missing(module: str, package: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return f"{package} is not installed in {sys.executable} (pip install -r requirements-dev.txt)"
    return None


def _snapshot(dest: Path) -> Path:
    """The one-commit snapshot at `dest`, made once per module whichever test asks first."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip(f"needs git and a git checkout at {REPO}")
    if (dest / ".git").is_dir():
        return dest
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True).stdout.decode()
    for rel in sorted(set(filter(None, out.split("\0")))):
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    git = ["git", "-C", str(dest), "-c", "user.name=wan22-tests", "-c", "user.email=tests@localhost",
           "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], check=True)
    return dest


def _fresh_comfyui(src: Path, dest: Path) -> Path:
    """A copy of the ComfyUI checkout with empty custom_nodes/, user/, input/, output/, models/."""
    skip = {"custom_nodes", "user", "input", "output", "temp", "models", ".git"}
    shutil.copytree(src, dest, symlinks=True,
                    ignore=lambda d, names: [n for n in names if (Path(d) == src and n in skip) or n == "__pycache__"])
    for d in sorted(skip - {".git"}):
        (dest / d).mkdir()
    (dest / "user" / "default").mkdir(parents=True)
    (dest / "user" / "default" / "comfy.settings.json").write_text('{"Comfy.TutorialCompleted": true}')
    return dest


def _env(comfyui: Path, wheels: Path, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "WAN22_"))}
    env.update(COMFYUI_PATH=str(comfyui), PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels), PIP_DISABLE_PIP_VERSION_CHECK="1",
               DO_NOT_TRACK="1", COMFY_CLI_NO_REMOTE_REFRESH="1", GIT_TERMINAL_PROMPT="0", NO_COLOR="1", COLUMNS="200",
               HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], log: Path, timeout: float = 300) -> str:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    out = f"$ {' '.join(cmd)}\n[exit {r.returncode}]\n{r.stdout}\n{r.stderr}"
    log.write_text(out)
    return out


def manager_failure(out: str) -> str | None:
    """Why a ComfyUI-Manager CLI run failed, judged from its output (its exit status is 0 either way)."""
    if "[exit 0]" not in out:
        return "the CLI itself crashed"
    if "ERROR" in out:
        return next(ln for ln in out.splitlines() if "ERROR" in ln)
    if "[INSTALLED]" not in out:
        return "no [INSTALLED] line"
    return None


def _node_ids(pack: Path) -> set[str]:
    ids = set(re.findall(r"""node_id\s*=\s*["'](Wan22\w+)["']""", "\n".join(p.read_text() for p in (pack / "nodes").glob("*.py"))))
    return ids | CORE_NODES


def _start(comfyui: Path, extra_yaml: Path, log: Path) -> Server:
    server = Server(comfyui=comfyui, base=comfyui, yaml=extra_yaml, port=free_port(), log_path=log)
    try:
        server.start(timeout=240, extra_args=["--disable-api-nodes"])  # faster, and no outside calls
    except Exception:
        server.stop()
        raise
    return server


def _assert_pack_loaded(server: Server, pack: Path) -> dict[str, Any]:
    log = server.log_text()
    assert "IMPORT FAILED" not in log, f"ComfyUI failed to import a custom node:\n{server.log_tail(60)}"
    info = server.get("/object_info", timeout=120)
    missing = sorted(_node_ids(pack) - set(info))
    assert not missing, f"nodes not registered after the install: {missing}\n{server.log_tail(60)}"
    return dict(info)


def _options(spec: list[Any]) -> list[str]:
    """A combo input's choices, old style [[...], {}] or V3 style ["COMBO", {"options": [...]}]."""
    return list(spec[0]) if isinstance(spec[0], list) else list(spec[1].get("options", []))


def _assert_lists_every_catalog_file(info: dict[str, Any], names_on_volume: set[str], where: str) -> None:
    for node, (inp, folder) in LOADER_INPUTS.items():
        options = _options(info[node]["input"]["required"][inp])
        want = {f.name for f in FILES if f.folder == folder and f.name in names_on_volume}
        assert want <= set(options), f"{node}.{inp} does not list {sorted(want - set(options))} ({where})"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("install")
    (root / "wheels").mkdir()
    (root / "home").mkdir()
    return root


def test_manager_cli_installs_from_a_clone_and_comfyui_loads_it(comfyui_path: Path, work: Path, demo_volume: Path) -> None:
    why = _missing("cm_cli", "comfyui-manager")
    if why:
        pytest.skip(why)
    snap = _snapshot(work / "snap")
    bare = work / "ComfyUI-Wan22.git"  # the folder Manager clones into is named after the URL: ComfyUI-Wan22
    subprocess.run(["git", "clone", "-q", "--bare", str(snap), str(bare)], check=True)
    comfy = _fresh_comfyui(comfyui_path, work / "ComfyUI-manager")
    models = work / "workspace" / "models"  # a pod's volume, laid out as ComfyUI documents
    models.parent.mkdir(parents=True)
    models.symlink_to(demo_volume, target_is_directory=True)

    env = _env(comfy, work / "wheels", work / "home", WAN22_MODELS_DIR=str(models), WAN22_WRITE_MODEL_PATHS="1")
    out = _run([sys.executable, "-m", "cm_cli", "install", f"file://localhost{bare}"], comfy, env, work / "manager.log")
    pack = comfy / "custom_nodes" / "ComfyUI-Wan22"
    assert manager_failure(out) is None, f"ComfyUI-Manager reported a failed install ({manager_failure(out)}):\n{out[-4000:]}"
    assert (pack / "__init__.py").is_file() and (pack / ".git").is_dir(), f"no git clone at {pack}:\n{out[-3000:]}"
    # install.py ran from the pack folder with COMFYUI_PATH set, found the volume and, as asked, wrote the section
    assert "[wan22] ok: ComfyUI" in out, f"install.py did not run or did not find ComfyUI:\n{out[-3000:]}"
    written = comfy / "extra_model_paths.yaml"
    assert written.is_file() and yaml.safe_load(written.read_text())["wan22_volume"]["base_path"] == str(models)

    empty = work / "none.yaml"
    empty.write_text(f"wan22_nothing:\n  base_path: {work / 'nothing'}\n  loras: loras/\n")
    server = _start(comfy, empty, work / "manager-server.log")
    try:
        info = _assert_pack_loaded(server, pack)
        # the section install.py wrote is read by the real ComfyUI: every catalog file on the volume is listed
        on_volume = {p.name for p in demo_volume.rglob("*.safetensors")}
        _assert_lists_every_catalog_file(info, on_volume, f"through {written}")
        # S2V audio through the stock RunPod worker: its input.images upload goes to /upload/image, which
        # stores any bytes under the given name; LoadAudio then offers the WAV (docs/deploy.md)
        wav = _tiny_wav()
        status, body = worker_comfyui_upload(server, "wan22_speech.wav", wav, timeout=30)
        assert status == 200, body
        assert "wan22_speech.wav" in _options(server.get("/object_info/LoadAudio")["LoadAudio"]["input"]["required"]["audio"])
        assert (comfy / "input" / "wan22_speech.wav").read_bytes() == wav
    finally:
        server.stop()
    # a second install.py run (what a Manager "update" or a re-run does) changes nothing
    before = written.read_bytes()
    r = subprocess.run([sys.executable, "install.py"], cwd=pack, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and written.read_bytes() == before and "left as it is" in r.stdout, r.stdout


def test_a_failed_manager_install_exits_0_and_is_caught_from_its_output(comfyui_path: Path, work: Path) -> None:
    """Why the tests above read the output: a requirement pip cannot install (offline) makes the
    Manager stop before install.py and leave a half-installed clone, and still exit 0."""
    why = _missing("cm_cli", "comfyui-manager")
    if why:
        pytest.skip(why)
    snap = _snapshot(work / "snap")
    bad = work / "bad-src"
    subprocess.run(["git", "clone", "-q", str(snap), str(bad)], check=True)
    with open(bad / "requirements.txt", "a") as f:
        f.write("wan22-no-such-package>=1\n")
    subprocess.run(["git", "-C", str(bad), "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qam", "bad"], check=True)
    bare = work / "bad" / "ComfyUI-Wan22.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(bad), str(bare)], check=True)
    comfy = _fresh_comfyui(comfyui_path, work / "ComfyUI-failed")
    out = _run([sys.executable, "-m", "cm_cli", "install", f"file://localhost{bare}"], comfy,
               _env(comfy, work / "wheels", work / "home"), work / "manager-failed.log")
    assert "[exit 0]" in out, "ComfyUI-Manager's CLI now reports failure in its exit status: simplify these tests"
    assert manager_failure(out) is not None, out[-3000:]
    assert "[wan22]" not in out, "install.py must not run after a failed requirement"


def test_registry_archive_unpacked_into_custom_nodes_loads(comfyui_path: Path, work: Path, demo_volume: Path) -> None:
    for module, package in (("comfy_cli", "comfy-cli"), ("cm_cli", "comfyui-manager")):
        why = _missing(module, package)
        if why:
            pytest.skip(why)
    snap = _snapshot(work / "snap")
    env = _env(comfyui_path, work / "wheels", work / "home")
    out = _run([sys.executable, "-m", "comfy_cli", "node", "pack"], snap, env, work / "pack.log", timeout=120)
    assert (snap / "node.zip").is_file(), out
    comfy = _fresh_comfyui(comfyui_path, work / "ComfyUI-registry")
    node_id = _pyproject_name(snap)
    pack = comfy / "custom_nodes" / node_id  # a Registry install unpacks into custom_nodes/<node id>
    with zipfile.ZipFile(snap / "node.zip") as z:
        z.extractall(pack)
    assert not (pack / "tests").exists() and (pack / "install.py").is_file()
    env = _env(comfy, work / "wheels", work / "home")
    out = _run([sys.executable, "-m", "cm_cli", "post-install", str(pack)], comfy, env, work / "post-install.log")
    assert "ERROR" not in out and "[wan22] ok: ComfyUI" in out, f"post-install failed:\n{out[-3000:]}"

    # models from the serverless worker's YAML, its mount point moved under the test's temp dir
    mount = work / "runpod-volume"
    (mount).mkdir()
    (mount / "models").symlink_to(demo_volume, target_is_directory=True)
    text = (REPO / "deploy" / "extra_model_paths.serverless.yaml").read_text()
    deploy_yaml = work / "serverless.yaml"
    deploy_yaml.write_text(text.replace("base_path: /runpod-volume/models", f"base_path: {mount / 'models'}"))
    server = _start(comfy, deploy_yaml, work / "registry-server.log")
    try:
        info = _assert_pack_loaded(server, pack)
        on_volume = {p.name for p in demo_volume.rglob("*.safetensors")}
        _assert_lists_every_catalog_file(info, on_volume, "through deploy/extra_model_paths.serverless.yaml")
    finally:
        server.stop()


def _pyproject_name(root: Path) -> str:
    m = re.search(r'^name\s*=\s*"([^"]+)"', (root / "pyproject.toml").read_text(), re.M)
    assert m
    return m.group(1)


def _tiny_wav() -> bytes:
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x01" * 1600)
    return buf.getvalue()
