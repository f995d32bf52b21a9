"""pyproject.toml is the single source: dependencies equal requirements.txt, one version."""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _req_lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.strip().startswith("#")]


def test_requirements_equal_project_dependencies() -> None:
    assert sorted(_pyproject()["project"]["dependencies"]) == sorted(_req_lines(REPO / "requirements.txt"))


def test_no_torch_in_requirements() -> None:
    # ComfyUI provides torch; a pack that asks pip for torch can replace the user's CUDA build
    for line in _req_lines(REPO / "requirements.txt"):
        assert not re.match(r"torch(vision|audio)?\b", line), line


def test_version_has_one_source() -> None:
    import wan22

    assert wan22.__version__ == _pyproject()["project"]["version"]
    hits = [p for p in REPO.rglob("*.py") if re.search(r"__version__\s*=\s*['\"]\d", p.read_text(errors="ignore"))
            and "node_modules" not in p.parts]
    assert hits == [], f"hard-coded versions: {hits}"
