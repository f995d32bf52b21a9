"""`python -m wan22 fetch`: download exactly the files the requested workflows lack, resumable and
verified, and never over or instead of an existing file.

Steps: inventory -> plan (plan.py: only blocking files, with targets) -> each source's size ->
free space per filesystem (refused before any byte if short) -> transfers (`--jobs` at a time;
http.py into `<name>.part`, or hf_xet) -> verification -> atomic no-clobber placement (place)
-> the inventory again, whose verdict is the result.

Verification of a finished `.part`, in order: its size against the server's announced size; the
inventory's own checks of the file (`inspect_file`: a complete safetensors header of the right
model, no truncation, no trailing bytes); the sha256 when the catalog or the Hub publishes one;
the catalog's size where it is exact (a stand-in from `demo-volume` is exempt: it is by design not
the published file). What happens to the `.part` (documented contract):

- the transfer stops (dropped connection, Ctrl-C, server error midway): kept, resumed next run;
- the header is wrong (HTML page, another model, truncated or padded file on the server): refused
  before the `.part` is created, so nothing is written;
- the finished file fails a check: removed (it is our own download and could never become the
  right file; resuming it would repeat the failure). The final name never appears.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..catalog import BY_ROLE, USABLE, CatalogFile
from ..volume.checks import HeaderCache, inspect_file
from ..volume.identify import identify, is_stand_in
from ..volume.inventory import run_inventory
from ..volume.report import Report
from ..volume.roots import FolderConfig
from ..volume.safetensors_header import HeaderError, read_header
from .hf import xet_download
from .http import FetchError, Remote, download
from .place import PlaceError, place, sha256_file
from .plan import Item, Space, check_space, header_problem, make_plan, resolve_sources

Say = Callable[[str], None]


class Rejected(Exception):
    """A finished download that failed verification; `remove`: the .part can never be right."""

    def __init__(self, message: str, remove: bool = True) -> None:
        super().__init__(message)
        self.remove = remove


class Cancelled(Exception):
    """Ctrl-C: transfers stop at the next chunk, their .part kept."""


@dataclass
class FetchOptions:
    wanted: dict[str, tuple[str, ...]]  # workflow id or workflow file -> the roles it needs
    roles: set[str]  # roles the inventory looks at (wanted plus optional ones)
    to: str | None = None
    roots: list[str] = field(default_factory=list)
    mirror: str | None = None
    dry_run: bool = False
    jobs: int = 2
    bars: bool = True


@dataclass
class FetchOutcome:
    before: Report
    after: Report
    items: list[Item]
    space: list[Space]
    wanted: dict[str, tuple[str, ...]]
    refused: str = ""
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def verdict(self, report: Report) -> dict[str, dict[str, Any]]:
        out = {}
        for label, roles in self.wanted.items():
            bad = [{"role": f.role, "name": f.name, "status": f.status} for f in report.files
                   if f.role in roles and f.status not in USABLE]
            bad += [{"role": "config", "name": p.split(": ", 1)[0], "status": "corrupt"} for p in report.problems]
            out[label] = {"ready": not bad, "blocking": bad}
        return out

    def ready(self) -> bool:
        return all(v["ready"] for v in self.verdict(self.after).values())

    def as_dict(self) -> dict[str, Any]:
        before, after = self.verdict(self.before), self.verdict(self.after)
        return {"workflows": {k: {"ready_before": before[k]["ready"], **after[k]} for k in self.wanted},
                "ready": self.ready(), "dry_run": self.dry_run, "refused": self.refused,
                "plan": [i.as_dict() for i in self.items], "space": [s.as_dict() for s in self.space],
                "warnings": self.warnings, "summary": self.after.summary_line(), "seconds": round(self.seconds, 3)}


def fmt_size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n} B"


def plan_text(items: list[Item], space: list[Space]) -> list[str]:
    todo = [i for i in items if i.to_fetch]
    total = sum(max(0, (i.size or 0) - i.have) for i in todo)
    out = [f"Plan: {len(todo)} file(s) to fetch, {fmt_size(total)}" if todo else "Plan: nothing to download"]
    for i in items:
        line = f"  {i.action:<9}{i.folder}/{i.name}  {fmt_size(i.size)}"
        if i.action == "resume":
            line += f" ({fmt_size(i.have)} already in {os.path.basename(i.part)})"
        out.append(line)
        if i.to_fetch:
            out.append(f"           from {i.url}" + (f" (via {i.via})" if i.via and i.via != "http" else ""))
            out.append(f"           to   {i.target}")
        if i.reason:
            out.append(f"           {i.reason}")
    for s in space:
        unknown = f" (+ {len(s.unknown)} of unknown size)" if s.unknown else ""
        out.append(f"Free space on {s.path}: {fmt_size(s.free)}, needed {fmt_size(s.need)}{unknown}: "
                   + ("ok" if s.ok else "NOT ENOUGH"))
    return out


def _inspect(entry: CatalogFile, path: str) -> tuple[str, str, str]:
    """(status, hint, identity) of a finished download, by the inventory's own checks. They judge
    a file by its name, so a symlink named like the final file, in a private temp dir, stands in."""
    d = tempfile.mkdtemp(prefix="wan22-verify-")
    link = os.path.join(d, entry.name)
    try:
        try:
            os.symlink(os.path.abspath(path), link)
        except OSError:  # no symlinks (Windows without the privilege): the header checks alone
            return _inspect_header(entry, path)
        c = inspect_file(entry, link, HeaderCache(shared=False))
        return c.status, c.hint, c.identity.label if c.identity else ""
    finally:
        if os.path.islink(link):
            os.unlink(link)  # the link only; the download is untouched
        os.rmdir(d)


def _inspect_header(entry: CatalogFile, path: str) -> tuple[str, str, str]:
    try:
        h = read_header(path)
    except HeaderError as e:
        return "corrupt", str(e), ""
    if h.truncated:
        return "truncated", f"{h.file_size:,} of the {h.data_end:,} bytes its header needs", ""
    if h.trailing_bytes:
        return "corrupt", f"{h.trailing_bytes:,} bytes after the last tensor", ""
    problem = header_problem(entry, h)
    label = identify(h).label
    if problem:
        return "wrong_model", problem, label
    return ("stand_in" if is_stand_in(h) else "ok"), "", label


def verify(item: Item, entry: CatalogFile, path: str, remote: Remote) -> list[str]:
    """The checks a finished download passed, in words; raises Rejected."""
    size = os.path.getsize(path)
    if remote.size is not None and size != remote.size:
        raise Rejected(f"{item.name}: {size:,} bytes arrived, the server announced {remote.size:,}",
                       remove=size > remote.size)
    checks = [f"size {size:,} bytes" + (" as announced" if remote.size is not None else "")]
    status, hint, label = _inspect(entry, path)
    if status not in USABLE:
        raise Rejected(f"{item.name}: the finished download is {status}: {hint}", remove=status != "truncated")
    checks.append(f"header: {label}" + (" (a demo-volume stand-in)" if status == "stand_in" else ""))
    want = entry.sha256 or remote.sha256
    if want:
        got = sha256_file(path)
        if got != want:
            raise Rejected(f"{item.name}: sha256 {got[:16]}... is not the published {want[:16]}...: damaged in "
                           f"transit or another build. Removed; run fetch again")
        checks.append("sha256 matches the " + ("catalog" if entry.sha256 else "Hub's LFS hash"))
    if status == "ok" and entry.size_exact and entry.size and size != entry.size:
        if not want:
            raise Rejected(f"{item.name}: {size:,} bytes, not the {entry.size:,} of the published file (the catalog's "
                           f"size is exact): another build or the wrong file at {item.url}. Removed")
        checks.append(f"note: {size:,} bytes, the catalog says {entry.size:,}; the published hash matched")
    return checks


def _transfer(item: Item, entry: CatalogFile, remote: Remote, tick: Callable[[int], None]) -> str:
    """Bytes into a temporary file next to the target; returns its path."""
    assert item.target is not None
    if remote.via == "hf_xet" and item.have == 0:
        tmp = item.target + ".xet.part"
        try:
            item.received = xet_download(item.name, remote, tmp, tick)
            return tmp
        except Cancelled:
            raise
        except Exception as e:  # hf_xet's errors have no common base; HTTP can still do it
            item.checks.append(f"hf_xet failed ({e.__class__.__name__}: {e}); plain HTTP instead")
            item.via = remote.via = "huggingface_hub"
    item.received = download(item.name, remote, item.part, lambda h: header_problem(entry, h), tick)
    return item.part


def fetch_one(item: Item, tick: Callable[[int], None]) -> None:
    """Transfer, verify and place one planned file; the outcome goes into `item`."""
    assert item.target is not None and item.remote is not None
    entry = BY_ROLE[item.role]
    t0 = time.monotonic()
    tmp = item.part
    try:
        os.makedirs(os.path.dirname(item.target), exist_ok=True)
        tmp = _transfer(item, entry, item.remote, tick)
        item.checks += verify(item, entry, tmp, item.remote)
        place(tmp, item.target)
        item.state = "done"
    except Rejected as e:
        if e.remove and os.path.exists(tmp):
            os.unlink(tmp)  # our own finished download, proven wrong
        item.state, item.reason = "failed", str(e) + ("" if e.remove else f" ({tmp} kept)")
    except (FetchError, PlaceError) as e:
        item.state, item.reason = "failed", str(e)
    except Cancelled:
        item.state, item.reason = "not_run", f"interrupted; {tmp} is kept and the next run resumes it"
    except OSError as e:
        full = " (the volume is full)" if e.errno == errno.ENOSPC else ""
        item.state, item.reason = "failed", f"{item.name}: writing {tmp} failed: {e.strerror or e}{full}"
    finally:
        item.seconds = time.monotonic() - t0


class _Bars:
    """A progress bar per file and one for the total, on stderr when it is a terminal."""

    def __init__(self, items: list[Item], enabled: bool) -> None:
        self.enabled = enabled and bool(getattr(sys.stderr, "isatty", lambda: False)())
        self.stop = threading.Event()
        self.total: Any = None
        if self.enabled:
            from tqdm import tqdm

            need = sum(max(0, (i.size or 0) - i.have) for i in items)
            self.total = tqdm(total=need or None, unit="B", unit_scale=True, desc="total", position=0, leave=True)

    def tick_for(self, item: Item) -> tuple[Callable[[int], None], Any]:
        bar: Any = None
        if self.enabled:
            from tqdm import tqdm

            bar = tqdm(total=item.size, initial=item.have, unit="B", unit_scale=True, desc=item.name[:40], leave=False)

        def tick(n: int) -> None:
            if self.stop.is_set():
                raise Cancelled()
            if bar is not None:
                bar.update(n)
                self.total.update(n)

        return tick, bar

    def say(self, say: Say, line: str) -> None:
        """A text line without garbling the bars (they are cleared and redrawn around it)."""
        if not self.enabled:
            say(line)
            return
        from tqdm import tqdm

        with tqdm.external_write_mode():
            say(line)

    def close(self) -> None:
        if self.total is not None:
            self.total.close()


def run_items(items: list[Item], jobs: int, bars: bool, say: Say) -> None:
    todo = [i for i in items if i.to_fetch and i.remote is not None]
    progress = _Bars(todo, bars)

    def one(item: Item) -> None:
        tick, bar = progress.tick_for(item)
        try:
            fetch_one(item, tick)
        finally:
            if bar is not None:
                bar.close()
        rate = f", {item.received / item.seconds / 1e6:.0f} MB/s" if item.seconds > 0.05 else ""
        if item.state == "done":
            progress.say(say, f"fetched  {item.folder}/{item.name}: {fmt_size(item.received)} in {item.seconds:.1f} s"
                              f"{rate}; verified: {'; '.join(item.checks)}")
        else:
            progress.say(say, f"{item.state:<8} {item.folder}/{item.name}: {item.reason}")

    with ThreadPoolExecutor(max(1, jobs)) as ex:
        futures = [ex.submit(one, i) for i in todo]
        try:
            for f in futures:
                f.result()
        except KeyboardInterrupt:
            progress.stop.set()
            for f in futures:
                f.cancel()
            say("interrupted: the .part files are kept; the same command resumes them")
            raise
        finally:
            progress.close()


def _unsearched(cfg: FolderConfig, items: list[Item]) -> list[str]:
    """Targets (from --to) in folders ComfyUI, as configured, does not search for that key."""
    out = []
    for i in items:
        d = os.path.dirname(i.target) if i.target else None
        if i.to_fetch and d and d not in cfg.dirs(i.folder):
            out.append(f"ComfyUI, as configured here, does not search {d} for '{i.folder}' files: add "
                       f"`{i.folder}: {d}` to your extra_model_paths.yaml, or {i.name} will not be found")
    return out


def fetch(make_cfg: Callable[[], FolderConfig], opts: FetchOptions, say: Say) -> FetchOutcome:
    """The whole command; `say` gets the text lines as they happen."""
    t0 = time.perf_counter()
    cfg = make_cfg()
    before = run_inventory(cfg, roles=opts.roles, cache=False)
    items = make_plan(before, opts.wanted, opts.to, opts.roots, opts.mirror)
    outcome = FetchOutcome(before, before, items, [], opts.wanted, dry_run=opts.dry_run)
    outcome.warnings = [f"config error (fetch cannot fix it): {p}" for p in before.problems] + _unsearched(cfg, items)
    resolve_sources(items, opts.jobs)
    outcome.space = check_space(items)
    for line in plan_text(items, outcome.space) + [f"warning: {w}" for w in outcome.warnings]:
        say(line)
    short = [s for s in outcome.space if not s.ok]
    if short:
        outcome.refused = "; ".join(f"{s.path} has {fmt_size(s.free)} free but the plan needs {fmt_size(s.need)}"
                                    for s in short) + ": refused before writing anything. Free space or pass --to DIR"
        say(f"REFUSED: {outcome.refused}")
    elif not opts.dry_run and any(i.to_fetch for i in items):
        run_items(items, opts.jobs, opts.bars, say)
        outcome.after = run_inventory(make_cfg(), roles=opts.roles, cache=False)
    for i in items:
        if i.to_fetch and i.state == "planned":
            i.state = "not_run"
    outcome.seconds = time.perf_counter() - t0
    return outcome
