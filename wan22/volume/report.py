"""The inventory's findings and report: one `Finding` per catalog file, a `WorkflowStatus` per
workflow, and the `Report` that holds them with its text and JSON renderings.

The JSON (`Report.as_dict`) is a contract: keys may be added, never changed. It carries its own
status vocabulary (`statuses`, `usable`) so the frontend reads it instead of copying it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..catalog import STATUS_VOCABULARY, STATUSES, USABLE
from ..plan.presets import preset_for_workflow
from .roots import Root

STAND_IN_NOTE = ("tiny random-weight stand-ins written by `python -m wan22 demo-volume`: workflows load and run "
                 "on them, but the video is noise. Replace them with the real files for real output.")


@dataclass
class Finding:
    """What the inventory found for one catalog file: its status, where it is and should be, and the fix."""

    name: str
    folder: str
    role: str
    status: str
    path: str | None
    expected_path: str | None
    size: int | None
    hint: str = ""
    identity: str | None = None
    fix: str | None = None  # one shell command that fixes it, when there is one
    shadowed: list[str] = field(default_factory=list)  # other copies ComfyUI does not load

    def as_dict(self) -> dict[str, Any]:
        """The finding as the inventory JSON holds it."""
        return {"name": self.name, "folder": self.folder, "role": self.role, "status": self.status,
                "path": self.path, "expected_path": self.expected_path, "size": self.size,
                "hint": self.hint, "identity": self.identity, "fix": self.fix, "shadowed": self.shadowed}


@dataclass
class WorkflowStatus:
    """Whether one workflow can run on the volume, and which files block it."""

    ready: bool
    blocking: list[dict[str, Any]]  # role, name, status, hint (a workflow file's also folder, nodes)
    warnings: list[str] = field(default_factory=list)
    stand_ins: list[str] = field(default_factory=list)
    files: list[tuple[str, str]] | None = None  # (folder, name) a workflow file references; None: a workflow id
    lightning: dict[str, Any] | None = None  # fast workflows: the Lightning path that is ready (lora_generation.py)

    def as_dict(self) -> dict[str, Any]:
        """The workflow's entry in the inventory JSON."""
        out = {"ready": self.ready, "blocking": self.blocking, "warnings": self.warnings,
               "stand_ins": self.stand_ins}
        if self.lightning is not None:
            out["lightning"] = self.lightning
        return out


def preset_roles(workflow_id: str) -> tuple[str, ...]:
    """The catalog roles a workflow uses: the ones it needs, then the optional ones."""
    p = preset_for_workflow(workflow_id)
    return tuple(p.required_roles) + tuple(p.optional)


def fmt_size(n: int | None) -> str:
    """A byte count for people: '253.82 MB'; '-' when unknown."""
    if n is None:
        return "-"
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n} B"


def vocabulary() -> dict[str, Any]:
    """The status vocabulary the JSON carries: every status with its label, group and meaning, and
    the statuses that do not block a workflow."""
    return {"statuses": {s: STATUS_VOCABULARY[s]._asdict() for s in STATUSES}, "usable": list(USABLE)}


@dataclass
class Report:
    """The whole inventory: folders searched, one finding per file, readiness per workflow."""

    roots: list[Root]
    files: list[Finding]
    workflows: dict[str, WorkflowStatus]
    problems: list[str]
    warnings: list[str]
    seconds: float
    search_dirs: dict[str, list[str]] = field(default_factory=dict)

    def by_role(self, role: str) -> Finding:
        """The finding for a catalog role."""
        return next(f for f in self.files if f.role == role)

    def ready(self, workflow_ids: Iterable[str] | None = None) -> bool:
        """True when every listed workflow (all by default) is ready."""
        ids = list(workflow_ids) if workflow_ids else list(self.workflows)
        return all(self.workflows[w].ready for w in ids)

    def apply_strict(self) -> None:
        """Stand-ins make a workflow not ready (for deployments that must have real weights)."""
        for st in self.workflows.values():
            if st.stand_ins:
                st.ready = False
                st.blocking += [{"role": "", "name": n, "status": "stand_in",
                                 "hint": "a demo-volume stand-in; strict mode requires the real file"}
                                for n in st.stand_ins if all(b["name"] != n for b in st.blocking)]

    def as_dict(self, workflow_ids: Iterable[str] | None = None) -> dict[str, Any]:
        """The inventory JSON (the `--json` output, the route's and the node's payload)."""
        ids = list(workflow_ids) if workflow_ids else list(self.workflows)
        return {
            "roots": [r.as_dict() for r in self.roots],
            "files": [f.as_dict() for f in self.files],
            "workflows": {k: self.workflows[k].as_dict() for k in ids},
            "problems": self.problems,
            "warnings": self.warnings,
            "search_dirs": self.search_dirs,
            "summary": self.summary_line(),
            "seconds": round(self.seconds, 4),
            **vocabulary(),
        }

    def counts(self) -> dict[str, int]:
        """How many files have each status."""
        out: dict[str, int] = {}
        for f in self.files:
            out[f.status] = out.get(f.status, 0) + 1
        return out

    def summary_line(self) -> str:
        """One line for logs (ComfyUI start-up): readiness and what is wrong, by count."""
        ready = [w for w, s in self.workflows.items() if s.ready]
        not_ready = [w for w, s in self.workflows.items() if not s.ready]
        counts = self.counts()
        parts = [f"{len(ready)}/{len(self.workflows)} workflows ready"]
        if ready:
            parts[0] += f" ({', '.join(ready)})"
        if not_ready:
            parts.append(f"not ready: {', '.join(not_ready)}")
        bad = [f"{counts[s]} {s}" for s in STATUSES if s not in USABLE and counts.get(s)]
        if bad:
            parts.append("files: " + ", ".join(bad))
        if counts.get("stand_in"):
            parts.append(f"{counts['stand_in']} stand-ins (demo weights)")
        if self.problems:
            parts.append(f"{len(self.problems)} config error(s)")
        line = "Wan22 inventory: " + "; ".join(parts) + f" [{self.seconds * 1000:.0f} ms]"
        return " ".join(line.split())

    def text(self, workflow_ids: Iterable[str] | None = None) -> str:
        """The report for people (the CLI's output): readiness, then problems, ok files, stand-ins."""
        ids = list(workflow_ids) if workflow_ids else list(self.workflows)
        named = {ref for w in ids for ref in self.workflows[w].files or ()}  # a workflow file's own references
        relevant = {r for w in ids if self.workflows[w].files is None for r in preset_roles(w)}
        files = [f for f in self.files if f.role in relevant or (f.folder, f.name) in named]
        out = self._head_lines(ids)
        out += _problem_lines([f for f in files if f.status not in USABLE])
        out += _ok_lines([f for f in files if f.status == "ok"])
        out += _stand_in_lines([f for f in files if f.status == "stand_in"])
        return "\n".join(out)

    def _head_lines(self, ids: list[str]) -> list[str]:
        usable = sum(1 for f in self.files if f.status in USABLE)
        out = [f"Wan 2.2 volume inventory: {usable} of {len(self.files)} files usable, {self.seconds * 1000:.0f} ms"]
        out.append("Searched: " + ("; ".join(f"{r.path} ({r.source})" for r in self.roots) or "(no folders)"))
        out += [f"CONFIG ERROR: {p}" for p in self.problems]
        out += [f"warning: {w}" for w in self.warnings]
        out.append("")
        ready = [w for w in ids if self.workflows[w].ready]
        out.append(f"Ready:     {', '.join(ready) if ready else 'none'}")
        for wid in ids:
            st = self.workflows[wid]
            if not st.ready:
                why = ", ".join(f"{b['name']} ({b['status']})" for b in st.blocking)
                out.append(f"NOT READY: {wid}: {why}")
        out += [f"blocks ({wid}): {b['hint']}" for wid in ids for b in self.workflows[wid].blocking
                if b.get("role") in ("unjudged", "pairing", "node_type") and b.get("hint")]
        out += [f"note ({wid}): {w}" for wid in ids for w in self.workflows[wid].warnings]
        return out


def _problem_lines(problems: list[Finding]) -> list[str]:
    if not problems:
        return []
    out = ["", "Problems:"]
    for f in problems:
        out.append(f"  {f.status:<11} {f.folder}/{f.name}")
        if f.path and f.path != f.expected_path:
            out.append(f"              found: {f.path}")
        out += [f"              {line}" for line in f.hint.splitlines()]
    return out


def _ok_lines(oks: list[Finding]) -> list[str]:
    if not oks:
        return []
    out = ["", f"OK ({len(oks)}):"]
    for f in oks:
        out.append(f"  {f.folder}/{f.name}  {fmt_size(f.size)}")
        out += [f"      {line}" for line in f.hint.splitlines()]
    return out


def _stand_in_lines(stand: list[Finding]) -> list[str]:
    if not stand:
        return []
    out = ["", f"Stand-ins ({len(stand)}): {STAND_IN_NOTE}"]
    by_folder: dict[str, list[str]] = {}
    for f in stand:
        by_folder.setdefault(f.folder, []).append(f.name)
    out += [f"  {folder}: {', '.join(names)}" for folder, names in by_folder.items()]
    if len({f.hint for f in stand}) == 1 and len(stand) > 1 and stand[0].hint:
        out.append(f"  all: {stand[0].hint}")
    else:
        out += [f"  {f.name}: {line}" for f in stand for line in f.hint.splitlines()]
    return out
