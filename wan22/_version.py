"""The version has one source: [project].version in the pack's pyproject.toml."""

from __future__ import annotations

import re
from pathlib import Path

_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _read() -> str:
    try:
        text = _PYPROJECT.read_text(encoding="utf-8")
    except OSError:
        return "0+unknown"
    in_project = False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("["):
            in_project = s == "[project]"
            continue
        m = re.match(r'version\s*=\s*"([^"]+)"', s)
        if in_project and m:
            return m.group(1)
    return "0+unknown"


__version__ = _read()
