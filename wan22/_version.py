"""The version has one source: [project].version in the pack's pyproject.toml, read with the
one pyproject reader below."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _regex_value(text: str, table: str, key: str) -> str | None:
    """Python 3.10 without tomli only (no TOML library there): the flat `key = "value"` lines our
    pyproject uses; a test checks it agrees with tomllib on this pack's pyproject."""
    current = ""
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("["):
            current = s.strip("[]").strip()
            continue
        m = re.match(r'(["\']?)' + re.escape(key) + r'\1\s*=\s*(["\'])(.*?)\2\s*(#.*)?$', s) if current == table else None
        if m:
            return m.group(3)
    return None


def read_pyproject_value(pyproject: str | Path, table: str, key: str) -> str | None:
    """A string value from one table (dotted: "tool.comfy") of a pyproject.toml; None when the file,
    table or key is absent. tomllib (3.11+) or tomli when present, else the flat-line fallback."""
    try:
        text = Path(pyproject).read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        import tomllib as toml  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python 3.10
        try:
            import tomli as toml  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            return _regex_value(text, table, key)
    try:
        node: Any = toml.loads(text)
    except ValueError:
        return None
    for part in [*table.split("."), key]:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, str) else None


__version__ = read_pyproject_value(_PYPROJECT, "project", "version") or "0+unknown"
