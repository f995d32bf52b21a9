"""tools/compat.py (make test-compat) on real git repositories and a real pytest run: a version
is found by the commit that set comfyui_version.py, a partial mirror's missing blobs are left out
and listed, results are read from pytest's junit XML, and a failure only counts against an older
version when the reference version passes the same test."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _compat() -> Any:
    spec = importlib.util.spec_from_file_location("wan22_tools_compat", REPO / "tools" / "compat.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


compat = _compat()


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e",
           "HOME": str(repo), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env).stdout


def _fake_comfyui_history(tmp: Path) -> Path:
    """A work repo with ComfyUI's folder shape: release 0.1.0, release 0.2.0, then a later commit
    that touches comfyui_version.py without changing the version; and a bare mirror of it that
    lacks one blob of release 0.2.0."""
    work = tmp / "work"
    (work / "comfy").mkdir(parents=True)
    _git(work, "init", "-q")
    for i, v in enumerate(("0.1.0", "0.2.0", "0.2.0")):
        (work / "comfyui_version.py").write_text(f'__version__ = "{v}"\n' + "#\n" * i)
        (work / "main.py").write_text(f"# release {v} #{i}\n")
        (work / "folder_paths.py").write_text("")
        (work / "comfy" / "big.json").write_text(f'{{"release": {i}}}\n')
        _git(work, "add", "-A")
        _git(work, "commit", "-q", "-m", f"ComfyUI {v} #{i}")
    mirror = tmp / "mirror.git"
    _git(tmp, "clone", "-q", "--bare", str(work), str(mirror))
    blob = _git(work, "rev-parse", "HEAD~1:comfy/big.json").strip()
    loose = mirror / "objects" / blob[:2] / blob[2:]
    assert loose.is_file(), "the bare clone should hold loose objects"
    loose.unlink()
    return mirror


@needs_git
def test_version_found_by_the_commit_that_set_it_and_missing_blobs_left_out(tmp_path: Path) -> None:
    mirror = _fake_comfyui_history(tmp_path)
    commits = compat.version_commits(mirror)
    assert set(commits) == {"0.1.0", "0.2.0"}
    release = _git(tmp_path / "work", "rev-parse", "HEAD~1").strip()
    assert commits["0.2.0"] == release  # the commit that set it, not a later one that kept it
    assert compat.missing_blobs(mirror, release) == ["comfy/big.json"]
    assert compat.missing_blobs(mirror, "HEAD") == []
    assert compat.missing_blobs(mirror, commits["0.1.0"]) == []
    dest = tmp_path / "cache" / "0.2.0"
    dest.parent.mkdir()
    assert compat.extract(mirror, "0.2.0", dest) == ["comfy/big.json"]
    assert (dest / "main.py").read_text() == "# release 0.2.0 #1\n"
    assert not (dest / "comfy" / "big.json").exists()
    old = tmp_path / "cache" / "0.1.0"
    assert compat.extract(mirror, "0.1.0", old) == []
    assert (old / "comfy" / "big.json").read_text() == '{"release": 0}\n'
    with pytest.raises(SystemExit, match=r"0\.9\.0 is not in the mirror"):
        compat.extract(mirror, "0.9.0", tmp_path / "cache" / "0.9.0")


@needs_git
def test_get_version_reuses_the_cache_and_refuses_a_foreign_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = _fake_comfyui_history(tmp_path)
    monkeypatch.setenv("COMFYUI_PATH", str(tmp_path / "nowhere"))
    monkeypatch.setattr(compat, "comfyui_candidates", lambda: [tmp_path / "nowhere"])
    cache = tmp_path / "cache"
    path, source = compat.get_version("0.1.0", cache, mirror)
    assert (path, source) == (cache / "0.1.0", f"mirror {mirror}")
    assert compat.get_version("0.1.0", cache, None) == (cache / "0.1.0", "cache")
    (cache / "0.2.0").mkdir()
    with pytest.raises(SystemExit, match="holds no ComfyUI 0.2.0"):
        compat.get_version("0.2.0", cache, mirror)


def test_junit_results_of_a_real_pytest_run(tmp_path: Path) -> None:
    tests = tmp_path / "tests" / "comfy"
    tests.mkdir(parents=True)
    (tmp_path / "tests" / "pytest.ini").write_text("[pytest]\n")
    (tests / "test_x.py").write_text(
        "import pytest\n"
        "def test_ok(): pass\n"
        "def test_bad(): assert 1 == 2, 'one is not two'\n"
        "@pytest.mark.parametrize('v', ['a'])\n"
        "def test_p(v): pytest.skip('no reason')\n")
    junit = tmp_path / "j.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", "comfy"],
                   cwd=tmp_path / "tests", capture_output=True, check=False)
    res = compat._junit_results(junit)
    assert res["tests/comfy/test_x.py::test_ok"] == ("passed", "")
    assert res["tests/comfy/test_x.py::test_bad"][0] == "failed"
    assert "one is not two" in res["tests/comfy/test_x.py::test_bad"][1]
    assert res["tests/comfy/test_x.py::test_p[a]"][0] == "skipped"


def _outcome(version: str, **results: str) -> Any:
    o = compat.Outcome(version, Path("/x"), "cache", ("t",))
    o.results = {f"tests/comfy/test_a.py::{k}": (v, f"E  {k} {v}") for k, v in results.items()}
    return o


def test_a_failure_counts_only_when_the_reference_passes_the_same_test() -> None:
    ref = _outcome("0.33.0", t1="passed", t2="failed")
    lines, ok = compat.verdict([_outcome("0.11.0", t1="passed", t2="failed"), ref], "0.33.0")
    assert not ok  # the reference itself fails t2
    assert any("also failed on 0.33.0" in line for line in lines)
    lines, ok = compat.verdict([_outcome("0.11.0", t1="failed"), _outcome("0.33.0", t1="passed")], "0.33.0")
    assert not ok and any("COMPAT FAILURE" in line for line in lines)
    lines, ok = compat.verdict([_outcome("0.11.0", t1="skipped"), _outcome("0.33.0", t1="passed")], "0.33.0")
    assert not ok, "a skipped smoke test is no proof"
    lines, ok = compat.verdict([_outcome("0.11.0", t1="passed"), _outcome("0.33.0", t1="passed")], "0.33.0")
    assert ok and "every test passed on every version" in lines


def test_versions_are_x_y_z() -> None:
    assert compat.parse_versions("v0.11.0, 0.33.0") == ["0.11.0", "0.33.0"]
    with pytest.raises(SystemExit, match="X.Y.Z"):
        compat.parse_versions("0.11")


def test_default_versions_start_at_the_claimed_minimum(tmp_path: Path) -> None:
    spec = compat.read_pyproject_value(REPO / "pyproject.toml", "tool.comfy", "requires-comfyui")
    oldest = compat.claimed_minimum()
    assert f">={oldest}" in (spec or "").replace(" ", "")
    versions = compat.default_versions()
    assert versions[0] == oldest and versions[-1] == compat.PINNED and len(versions) == len(set(versions))
    other = tmp_path / "pyproject.toml"
    other.write_text('[tool.comfy]\nrequires-comfyui = "<1.0.0"\n')
    with pytest.raises(SystemExit, match="no >=X.Y.Z"):
        compat.claimed_minimum(other)
