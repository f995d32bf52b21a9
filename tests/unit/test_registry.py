"""Comfy Registry metadata: the pyproject.toml specification (docs.comfy.org/registry/specifications),
enforced here because `comfy node validate` checks little; `comfy node validate` itself; and the
archive `comfy node pack` builds, which must hold exactly what a ComfyUI user needs.

The comfy-cli checks need comfy-cli in this Python (requirements-dev.txt) and a git checkout;
without them they skip with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# What a user's custom_nodes/<pack>/ needs, as top-level entries of the Registry archive.
PACK_TOP_LEVEL = {"__init__.py", "install.py", "pyproject.toml", "requirements.txt", "LICENSE", "README.md",
                  "nodes", "wan22", "js", "example_workflows"}
NEVER_PACKED = ("tests/", "tools/", "bench/", ".ci/", "deploy/", "docs/", "Makefile", "requirements-dev.txt")

# comfy-cli's own check of requires-comfyui (registry/config_parser.py validate_version)
CLI_VERSION_PART = re.compile(r"^(?:(==|>=|<=|!=|~=|>|<|<>|=)\s*)?(\d+\.\d+\.\d+(?:-[a-zA-Z0-9]+)?)?$")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
ICON_TYPES = (".svg", ".png", ".jpg", ".jpeg", ".gif")


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _project() -> dict[str, Any]:
    return dict(_pyproject()["project"])


def _comfy() -> dict[str, Any]:
    return dict(_pyproject().get("tool", {}).get("comfy", {}))


# ---------------------------------------------------------------- [project]

def test_name_follows_registry_rules() -> None:
    name = _project().get("name", "")
    assert name, "[project].name is required: it is the Registry node id (`comfy node install <name>`)"
    assert len(name) < 100, f"name {name!r} must be under 100 characters"
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name), f"name {name!r}: only letters, digits, '-', '_' and '.'"
    assert name[0].isalpha(), f"name {name!r} must not start with a digit or a special character"
    assert not re.search(r"[._-]{2}", name), f"name {name!r} must not have consecutive special characters"
    assert name[-1].isalnum(), f"name {name!r} must end with a letter or digit (PEP 508)"
    assert "comfy" not in name.lower(), f"name {name!r}: the Registry advises against 'ComfyUI' in the node id"


@pytest.mark.parametrize("name, ok", [
    ("wan22", True), ("image-processor", True), ("ComfyUI-enhancer", False), ("123-tool", False),
    ("a--b", False), ("-x", False), ("x" * 100, False), ("wan.22_tools", True),
])
def test_name_rules_themselves(name: str, ok: bool) -> None:
    good = (len(name) < 100 and bool(re.fullmatch(r"[A-Za-z0-9._-]+", name)) and name[0].isalpha()
            and not re.search(r"[._-]{2}", name) and name[-1].isalnum() and "comfy" not in name.lower())
    assert good is ok


def test_version_is_three_part_semver() -> None:
    version = _project().get("version", "")
    assert "version" not in _project().get("dynamic", []), "the Registry reads [project].version; do not make it dynamic"
    assert SEMVER.fullmatch(version), f"version {version!r} is not semantic versioning X.Y.Z"


def test_license_has_the_registry_form() -> None:
    lic = _project().get("license")
    assert isinstance(lic, dict), 'license must be a table: license = { file = "LICENSE" } or { text = "MIT" }'
    assert set(lic) in ({"file"}, {"text"}), f"license must have exactly one of file/text, got {sorted(lic)}"
    if "file" in lic:
        path = REPO / lic["file"]
        assert path.is_file() and path.read_text(encoding="utf-8").strip(), f"license file {lic['file']} is missing or empty"
    else:
        assert lic["text"].strip()


def test_description_readme_and_python() -> None:
    p = _project()
    assert p.get("description", "").strip(), "description is recommended: it is the Registry's summary line"
    readme = p.get("readme")
    assert isinstance(readme, str) and readme, "readme names the file the Registry and PyPI show"
    assert (REPO / readme).is_file(), f"[project].readme = {readme!r} but that file does not exist"
    assert re.fullmatch(r">=\s*3\.(1[0-9])", p.get("requires-python", "").strip()), "requires-python should be '>=3.10' or newer (ComfyUI's own floor)"


def test_repository_url() -> None:
    urls = _project().get("urls", {})
    repo = urls.get("Repository", "")
    assert re.fullmatch(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo) and not repo.endswith(".git"), (
        f"[project.urls].Repository must be the https://github.com/<owner>/<repo> page, got {repo!r}")
    for key, url in urls.items():
        assert urlparse(url).scheme == "https" and urlparse(url).netloc, f"[project.urls].{key} is not an https URL: {url!r}"


# ---------------------------------------------------------------- [tool.comfy]

def test_publisher_and_display_name() -> None:
    c = _comfy()
    pub = c.get("PublisherId", "")
    assert pub, "[tool.comfy].PublisherId is required to publish (create the publisher at registry.comfy.org)"
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", pub) and len(pub) < 100, f"PublisherId {pub!r}: lower-case letters, digits, '-', '_'"
    name = c.get("DisplayName", "")
    assert name.strip() and len(name) <= 100 and name == name.strip(), f"DisplayName {name!r} should be a short, trimmed title"


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def test_icon_url_and_file() -> None:
    icon = _comfy().get("Icon", "")
    u = urlparse(icon)
    assert u.scheme == "https" and u.netloc, f"Icon must be an https URL, got {icon!r}"
    assert u.path.lower().endswith(ICON_TYPES), f"Icon must be SVG, PNG, JPG or GIF: {icon!r}"
    repo = urlparse(_project()["urls"]["Repository"]).path.strip("/")
    m = re.fullmatch(r"/([^/]+/[^/]+)/[^/]+/(.+)", u.path) if u.netloc == "raw.githubusercontent.com" else None
    if m is None:
        return  # hosted elsewhere: nothing more to check offline
    assert m.group(1).lower() == repo.lower(), f"Icon points into {m.group(1)}, but the Repository is {repo}"
    path = REPO / m.group(2)
    assert path.is_file(), f"Icon points at {m.group(2)} in this repository, which does not exist: add it or change Icon"
    if path.suffix.lower() == ".png":
        size = _png_size(path.read_bytes())
        assert size is not None, f"{path} is not a PNG"
        assert size[0] <= 800 and size[1] <= 400, f"Icon is {size[0]}x{size[1]}; the Registry's limit is 800x400"


def test_requires_comfyui_has_the_form_comfy_cli_accepts() -> None:
    from wan22.install.support import version_satisfies

    spec = _comfy().get("requires-comfyui", "")
    assert spec, "[tool.comfy].requires-comfyui should say which ComfyUI the V3 nodes need (install.py checks it)"
    for part in spec.split(","):
        assert CLI_VERSION_PART.match(part.strip()), (
            f"requires-comfyui {spec!r}: part {part!r} is not [operator]X.Y.Z; comfy-cli would drop the whole value")
    assert isinstance(version_satisfies("0.0.1", spec), bool)


def test_install_reads_the_same_values_as_toml() -> None:
    """The one pyproject reader, and its flat-line fallback for Python 3.10 without tomli, agree
    with tomllib."""
    from wan22._version import _regex_value
    from wan22.install.support import read_pyproject_value

    py = str(REPO / "pyproject.toml")
    text = (REPO / "pyproject.toml").read_text()
    for table, key in (("project", "version"), ("tool.comfy", "requires-comfyui"), ("tool.comfy", "PublisherId"),
                       ("project", "name"), ("tool.comfy", "DisplayName")):
        assert _regex_value(text, table, key) == read_pyproject_value(py, table, key), (table, key)
    assert read_pyproject_value(py, "project", "version") == _project()["version"]
    assert read_pyproject_value(py, "tool.comfy", "requires-comfyui") == _comfy().get("requires-comfyui")
    assert read_pyproject_value(py, "tool.comfy", "PublisherId") == _comfy().get("PublisherId")


def test_no_hard_coded_pack_version_outside_pyproject() -> None:
    version = _project()["version"]
    for rel in ("install.py", "wan22/install/support.py", "deploy/Dockerfile", "deploy/start.sh"):
        path = REPO / rel
        if path.is_file():
            assert version not in path.read_text(encoding="utf-8"), f"{rel} repeats the version {version}; read pyproject.toml"


# ---------------------------------------------------------------- comfy-cli, for real

def _comfy_cli_missing() -> str | None:
    try:
        import comfy_cli  # noqa: F401
    except ImportError:
        return f"comfy-cli is not installed in {sys.executable} (pip install -r requirements-dev.txt)"
    if shutil.which("git") is None:
        return "git is not on PATH"
    if not (REPO / ".git").exists():
        return f"{REPO} is not a git checkout: comfy node pack packs git-tracked files"
    return None


def _cli_env(home: Path) -> dict[str, str]:
    return dict(os.environ, DO_NOT_TRACK="1", COMFY_CLI_NO_REMOTE_REFRESH="1", HOME=str(home), NO_COLOR="1",
                COLUMNS="200", XDG_CONFIG_HOME=str(home / ".config"))


def snapshot_repo(dest: Path) -> Path:
    """A one-commit git repository holding this checkout's files as they are now: tracked ones
    plus untracked ones git does not ignore (in CI, exactly HEAD). What a user's clone would get."""
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True).stdout.decode()
    dest.mkdir(parents=True, exist_ok=True)
    for rel in sorted(set(filter(None, out.split("\0")))):
        src = REPO / rel
        if not src.is_file():  # deleted in the working tree
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    git = ["git", "-C", str(dest), "-c", "user.name=wan22-tests", "-c", "user.email=tests@localhost",
           "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot of the working tree"], check=True)
    return dest


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], str]:
    why = _comfy_cli_missing()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.mktemp("pack")
    snap = snapshot_repo(root / "src")
    r = subprocess.run([sys.executable, "-m", "comfy_cli", "node", "pack"], cwd=snap, env=_cli_env(root),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"comfy node pack failed:\n{r.stdout}\n{r.stderr}"
    with zipfile.ZipFile(snap / "node.zip") as z:
        names = sorted(n for n in z.namelist() if not n.endswith("/"))
    return snap, names, r.stdout + r.stderr


def test_comfy_node_validate_passes(tmp_path: Path) -> None:
    why = _comfy_cli_missing()
    if why:
        pytest.skip(why)
    r = subprocess.run([sys.executable, "-m", "comfy_cli", "node", "validate"], cwd=REPO, env=_cli_env(tmp_path),
                       capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "Warning" not in out and "Error" not in out, f"comfy node validate did not accept pyproject.toml as is:\n{out}"
    assert "All validation checks passed" in out, (
        "comfy node validate's security check (ruff S102/S307/E702 over the whole repository, tests included) "
        "found exec/eval or ';'-joined statements, which the Registry says it will reject; remove them or mark a "
        f"deliberate one with '# noqa: S102' and a reason (`ruff check .` reports the same lines):\n{out}")


def test_comfy_cli_reads_our_metadata_as_we_mean_it() -> None:
    if _comfy_cli_missing():
        pytest.skip(_comfy_cli_missing() or "")
    from comfy_cli.registry.config_parser import extract_node_configuration

    cfg = extract_node_configuration(str(REPO / "pyproject.toml"))
    assert cfg is not None
    p, c = _project(), _comfy()
    assert cfg.project.name == p["name"] and cfg.project.version == p["version"]
    assert cfg.project.license.file == p["license"].get("file", "")
    assert cfg.project.urls.repository == p["urls"]["Repository"]
    assert cfg.tool_comfy.publisher_id == c["PublisherId"] and cfg.tool_comfy.display_name == c["DisplayName"]
    assert cfg.tool_comfy.icon == c["Icon"]
    assert cfg.project.supported_comfyui_version == c["requires-comfyui"], "comfy-cli dropped requires-comfyui as invalid"
    assert sorted(cfg.project.dependencies) == sorted(p["dependencies"])


def test_pack_archive_holds_exactly_what_a_user_needs(packed: tuple[Path, list[str], str]) -> None:
    snap, names, _ = packed
    top = {n.split("/")[0] for n in names}
    present = {t for t in PACK_TOP_LEVEL if (snap / t).exists()}
    assert top == present, f"archive top level {sorted(top)} != the user-facing set {sorted(present)}; adjust .comfyignore"
    for bad in NEVER_PACKED:
        assert not [n for n in names if n == bad or n.startswith(bad)], f"{bad} must not be in the Registry archive"
    tracked = subprocess.run(["git", "-C", str(snap), "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    wanted = sorted(t for t in tracked if t.split("/")[0] in PACK_TOP_LEVEL)
    assert names == wanted, f"missing from the archive: {sorted(set(wanted) - set(names))}; extra: {sorted(set(names) - set(wanted))}"
    for must in ("__init__.py", "install.py", "pyproject.toml", "requirements.txt", "LICENSE", "wan22/__init__.py",
                 "wan22/install/support.py", "nodes/__init__.py"):
        assert must in names, f"{must} is missing from the archive"
    assert any(n.startswith("wan22/data/") for n in names), "wan22/data (layouts, tiny spiece model) must be packed"
