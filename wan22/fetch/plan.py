"""What `python -m wan22 fetch` downloads, to where, and whether it fits: planned from the inventory.

Only files whose status blocks a requested workflow are planned, and each one gets an action:

- `download` / `resume`: missing (or only partly downloaded as our `<name>.part`), so it is fetched
  into its target folder: `--to DIR/<folder key>/`, else the first `--root`'s `<folder key>/`, else
  the folder the inventory names for it (one ComfyUI searches for that key that already holds
  files, else the first in ComfyUI's order).
- `skip`: a usable copy exists under another path or name; `inventory --fix` moves it.
- `blocked`: fetching cannot help without replacing or deleting a file (a damaged file where
  ComfyUI looks, a foreign `.part`, no folder configured for the key); the reason says what to do.

Sizes come from the server (HEAD, or the Hub's metadata), else from the catalog. The free-space
check runs before any byte is written, per filesystem. Planning writes nothing.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..catalog import BY_NAME, BY_ROLE, USABLE, CatalogFile
from ..graph.reader import read_workflow_file, workflow_refs
from ..plan.presets import PRESET_TABLE
from ..volume.identify import STAND_IN_ROLE_KEY, identify, is_stand_in
from ..volume.report import Finding, Report
from ..volume.safetensors_header import Header, HeaderError, read_header
from .hf import hf_remote, is_hf
from .http import FetchError, Remote, probe

DAMAGED_IN_PLACE = ("corrupt", "wrong_model", "truncated")


@dataclass
class Item:
    """One file of the plan, and afterwards what happened to it."""

    role: str
    name: str
    folder: str
    status: str  # the inventory's status before the fetch
    url: str  # the catalog's URL, or the mirror's
    target: str | None  # the final path
    action: str  # download | resume | skip | blocked | failed (the source could not be reached)
    reason: str = ""
    size: int | None = None  # expected bytes: the server's figure, else the catalog's
    have: int = 0  # bytes already in the .part
    via: str = ""  # http | huggingface_hub | hf_xet
    state: str = "planned"  # planned | done | failed | not_run
    received: int = 0
    seconds: float = 0.0
    checks: list[str] = field(default_factory=list)
    remote: Remote | None = None

    @property
    def part(self) -> str:
        assert self.target is not None
        return self.target + ".part"

    @property
    def to_fetch(self) -> bool:
        return self.action in ("download", "resume")

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "name": self.name, "folder": self.folder, "status": self.status, "url": self.url,
                "target": self.target, "action": self.action, "reason": self.reason, "size": self.size,
                "have": self.have, "via": self.via, "state": self.state, "received": self.received,
                "seconds": round(self.seconds, 3), "checks": self.checks}


@dataclass
class Space:
    """Free space on one filesystem against what the plan writes to it."""

    path: str  # an existing folder on that filesystem (the target's nearest existing parent)
    free: int
    need: int
    unknown: list[str] = field(default_factory=list)  # files whose size nobody announced

    @property
    def ok(self) -> bool:
        return self.need <= self.free

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "free": self.free, "need": self.need, "unknown": self.unknown, "ok": self.ok}


def required_roles(workflow_id: str) -> tuple[str, ...]:
    return next(p for p in PRESET_TABLE if p.workflow_id == workflow_id).required_roles


def workflow_file_roles(path: str) -> tuple[list[str], list[str]]:
    """The catalog files a workflow file (any shape wan22.graph reads) loads, as roles, read as
    every reader of prompts reads them (only nodes that run; this pack's nodes by mode and
    preset); and the other model file names it loads (fetch has no URL for those)."""
    wf = workflow_refs(read_workflow_file(path))
    roles: list[str] = []
    others: list[str] = []
    for ref in wf.refs:
        base = ref.name.replace("\\", "/").rsplit("/", 1)[-1]
        entry = BY_ROLE.get(ref.role) if ref.role else BY_NAME.get(base)
        if entry is not None and entry.folder == ref.folder:
            if entry.role not in roles:
                roles.append(entry.role)
        elif ref.name not in others:
            others.append(ref.name)
    return roles, sorted(others)


def mirror_url(mirror: str, entry: CatalogFile) -> str:
    """The contract: `<URL>/<folder key>/<file name>`."""
    return f"{mirror.rstrip('/')}/{entry.folder}/{urllib.parse.quote(entry.name)}"


def header_problem(entry: CatalogFile, h: Header) -> str:
    """Why a header (of a download in progress) is not `entry`; '' when it fits."""
    ident = identify(h)
    if ident.kind != entry.kind:
        return f"the header says it is {ident.label}, but {entry.name} must be {entry.description}."
    role = h.metadata.get(STAND_IN_ROLE_KEY)
    if is_stand_in(h) and role and role != entry.role:
        return f"it is a demo-volume stand-in made for {BY_ROLE[role].name if role in BY_ROLE else role}."
    return ""


def _target(entry: CatalogFile, f: Finding, to: str | None, roots: list[str]) -> str | None:
    if to:
        return os.path.join(os.path.abspath(os.path.expanduser(to)), entry.folder, entry.name)
    if roots:
        return os.path.join(os.path.abspath(os.path.expanduser(roots[0])), entry.folder, entry.name)
    return f.expected_path


def _plan_one(f: Finding, to: str | None, roots: list[str], mirror: str | None) -> Item:
    entry = BY_ROLE[f.role]
    url = mirror_url(mirror, entry) if mirror else entry.url
    item = Item(f.role, f.name, f.folder, f.status, url, _target(entry, f, to, roots), "download",
                size=entry.size)
    if f.status in ("misplaced", "misnamed"):
        item.action = "skip"
        item.reason = (f"a usable copy is at {f.path}: `python -m wan22 inventory --fix` moves it"
                       + (f" ({f.fix})" if f.fix else ""))
    elif item.target is None:
        item.action = "blocked"
        item.reason = (f"ComfyUI has no '{f.folder}' folder configured: add one to extra_model_paths.yaml, or pass "
                       "--to DIR (files go to DIR/<folder key>/)")
    elif f.path and f.status in DAMAGED_IN_PLACE and f.path == f.expected_path:
        item.action = "blocked"
        item.reason = (f"{f.path} is {f.status} and ComfyUI loads it first; fetch never replaces or deletes a file. "
                       f"Move it away (mv -n {f.path} {f.path}.bad), then run fetch again")
    elif os.path.lexists(item.target):
        item.action = "blocked"
        item.reason = f"{item.target} exists ({f.status}); fetch never replaces a file: move it away first"
    elif os.path.lexists(item.part):
        _plan_resume(item, entry)
    return item


def _plan_resume(item: Item, entry: CatalogFile) -> None:
    """An existing `<name>.part` is resumed only if its header is this file's."""
    try:
        h = read_header(item.part)
        problem = header_problem(entry, h)
    except HeaderError as e:
        problem = str(e)
        h = None
    if problem or h is None:
        item.action = "blocked"
        item.reason = (f"{item.part} exists but is not a partial download of this file ({problem}): fetch never "
                       "deletes it. Move it away, then run fetch again")
        return
    item.action = "resume"
    item.have = os.path.getsize(item.part)
    item.size = h.data_end


def blocking_roles(report: Report, wanted: dict[str, tuple[str, ...]]) -> list[str]:
    """Roles of the requested workflows whose files are not usable, in catalog order."""
    roles = {r for rs in wanted.values() for r in rs}
    return [f.role for f in report.files if f.role in roles and f.status not in USABLE]


def make_plan(report: Report, wanted: dict[str, tuple[str, ...]], to: str | None, roots: list[str],
              mirror: str | None) -> list[Item]:
    return [_plan_one(report.by_role(r), to, roots, mirror) for r in blocking_roles(report, wanted)]


def resolve_sources(items: Iterable[Item], jobs: int) -> None:
    """Ask each source for its size (HEAD, or the Hub's metadata); an unreachable one fails its item."""
    todo = [i for i in items if i.to_fetch]

    def one(item: Item) -> None:
        try:
            remote = hf_remote(item.name, item.url) if is_hf(item.url) else Remote(item.url, item.url)
            if remote.size is None:
                remote.size = probe(item.name, remote)
            size = remote.size
        except FetchError as e:
            item.action, item.state, item.reason = "failed", "failed", str(e)
            return
        if item.action == "resume" and size is not None and item.size is not None and size != item.size:
            item.action = "blocked"
            item.reason = (f"{item.part} belongs to a {item.size:,}-byte file but {item.url} now has {size:,} bytes: "
                           "move the .part away, then run fetch again")
            return
        item.remote, item.via = remote, remote.via
        if size is not None:
            item.size = size

    with ThreadPoolExecutor(max(1, jobs)) as ex:
        list(ex.map(one, todo))


def _existing_parent(path: str) -> str:
    d = os.path.dirname(path)
    while d and not os.path.isdir(d):
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return d or "."


def check_space(items: Iterable[Item], stat: Callable[[str], Any] = shutil.disk_usage) -> list[Space]:
    """Free space per filesystem (by device) against the bytes still to come for the planned files."""
    rows: dict[int, Space] = {}
    for i in items:
        if not i.to_fetch or i.target is None:
            continue
        parent = _existing_parent(i.target)
        dev = os.stat(parent).st_dev
        row = rows.get(dev)
        if row is None:
            row = rows[dev] = Space(parent, int(stat(parent).free), 0)
        if i.size is None:
            row.unknown.append(i.name)
        else:
            row.need += max(0, i.size - i.have)
    return list(rows.values())
