"""The CLI snapshots' rule (tests/fixtures/cli): JSON objects may gain keys; no key may change or
vanish; wall-clock figures and the summary line's timing are not compared."""

from __future__ import annotations

import re
from typing import Any

VOLATILE = {"seconds"}  # wall-clock figures
TIMING = re.compile(r"\[\d+(?:\.\d+)? ms\]")  # the summary line's own timing


def _contains(old: Any, new: Any, where: str) -> list[str]:
    """Where `new` differs from `old`, other than by keys added to an object."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k, v in old.items():
            if k in VOLATILE:
                continue
            if k not in new:
                out.append(f"{where}.{k}: missing")
            else:
                out.extend(_contains(v, new[k], f"{where}.{k}"))
        return out
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{where}: {len(old)} items before, {len(new)} now"]
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in _contains(a, b, f"{where}[{i}]")]
    if isinstance(old, str) and isinstance(new, str):
        old, new = TIMING.sub("[N ms]", old), TIMING.sub("[N ms]", new)
    return [] if old == new else [f"{where}: {old!r} before, {new!r} now"]
