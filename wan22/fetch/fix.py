"""`python -m wan22 inventory --fix`: apply the inventory's own misplaced/misnamed moves.

Each move is the finding's `mv -n` (from its path to its expected path), done by `place`: never
over an existing file; a rename on the same filesystem, else copy, read back, compare, rename,
and only then remove the source. Nothing else is changed: no damaged file is moved aside, no
file is deleted, no folder removed. Two findings that would move the same file, or onto the same
name, are both refused (the inventory cannot tell which is meant).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..volume.report import Report
from .place import PlaceError, place

FIXABLE = ("misplaced", "misnamed")


@dataclass
class Move:
    role: str
    name: str
    status: str
    src: str
    dst: str
    state: str = "planned"  # planned | done | failed | refused
    how: str = ""  # link | rename | copy
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "name": self.name, "status": self.status, "from": self.src, "to": self.dst,
                "state": self.state, "how": self.how, "error": self.error}


def plan_moves(report: Report) -> list[Move]:
    """The moves the inventory suggests (findings with a `fix` that are misplaced or misnamed)."""
    moves = [Move(f.role, f.name, f.status, f.path, f.expected_path) for f in report.files
             if f.status in FIXABLE and f.fix and f.path and f.expected_path]
    for m in moves:
        clash = [o for o in moves if o is not m and (o.src == m.src or o.dst == m.dst)]
        if clash:
            m.state = "refused"
            m.error = (f"{clash[0].name} would move {'the same file' if clash[0].src == m.src else 'onto the same name'}"
                       ": move it yourself")
    return moves


def apply_moves(moves: list[Move]) -> None:
    for m in moves:
        if m.state != "planned":
            continue
        if not os.path.lexists(m.src):
            m.state, m.error = "failed", f"{m.src} is gone (moved meanwhile?)"
            continue
        try:
            m.how = place(m.src, m.dst)
            m.state = "done"
        except (PlaceError, OSError) as e:
            m.state, m.error = "failed", str(e)


def moves_text(moves: list[Move], applied: bool) -> list[str]:
    if not moves:
        return ["Nothing to fix: no file is misplaced or misnamed."]
    out = [f"{'Moves' if applied else 'Planned moves'} ({len(moves)}), never over an existing file:"]
    for m in moves:
        mark = {"planned": "  ", "done": "ok", "failed": "!!", "refused": "--"}[m.state]
        out.append(f"  {mark} {m.status:<9} {m.src}")
        out.append(f"               -> {m.dst}" + (f" ({m.how})" if m.how else ""))
        if m.error:
            out.append(f"               {m.error}")
    return out
