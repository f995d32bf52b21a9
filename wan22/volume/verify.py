"""`--verify`: hash the data of every usable file against a known hash (the catalog's published
one, or the one a demo-volume stand-in recorded), and tell the two experts of a pair apart when
their headers are identical. Reads the files; writes nothing. Progress goes to a tqdm bar.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from typing import IO, Any

from ..catalog import BY_ROLE, FILES, USABLE, CatalogFile
from .checks import HeaderCache
from .report import Finding
from .safetensors_header import Header, HeaderError

Progress = Callable[[str, int, int], None]  # (file name, bytes done, bytes in all)

EXPERT_PAIRS = (("i2v_high", "i2v_low"), ("t2v_high", "t2v_low"), ("lora_i2v_high", "lora_i2v_low"),
                ("lora_t2v_high", "lora_t2v_low"))
_BUFSIZE = 16 * 1024 * 1024
_BAR = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}B {rate_fmt} eta {remaining}"


def blake3_available() -> bool:
    """True when the blake3 package is installed (--verify then prefers blake3 where it is known)."""
    try:
        import blake3  # noqa: F401
    except ImportError:
        return False
    return True


def hash_range(path: str, start: int = 0, end: int | None = None, algo: str = "sha256",
               progress: Callable[[int], None] | None = None) -> str:
    """Hex digest of bytes [start, end) of a file (the whole file by default)."""
    h: Any
    if algo == "blake3":
        import blake3

        h = blake3.blake3(max_threads=blake3.blake3.AUTO)
    else:
        h = hashlib.new(algo)
    done = 0
    if progress is not None:
        progress(0)
    with open(path, "rb") as fh:
        fh.seek(start)
        remaining = None if end is None else end - start
        while remaining is None or remaining > 0:
            chunk = fh.read(_BUFSIZE if remaining is None else min(_BUFSIZE, remaining))
            if not chunk:
                break
            h.update(chunk)
            done += len(chunk)
            if remaining is not None:
                remaining -= len(chunk)
            if progress is not None:
                progress(done)
    return str(h.hexdigest())


def _sample_digest(path: str, start: int, end: int, samples: int = 16, chunk: int = 1 << 20) -> str:
    """Digest of `samples` evenly spread 1 MiB pieces of [start, end): tells two same-size files apart."""
    h = hashlib.sha256()
    span = end - start
    with open(path, "rb") as fh:
        if span <= samples * chunk:
            fh.seek(start)
            h.update(fh.read(span))
        else:
            for i in range(samples):
                fh.seek(start + (span - chunk) * i // (samples - 1))
                h.update(fh.read(chunk))
    return h.hexdigest()


def verify_findings(findings: list[Finding], headers: HeaderCache, progress: Progress | None) -> None:
    """Hash every usable file's data and update its finding: 'corrupt' or 'wrong_model' when the
    data is not what it should be, a 'verified' note when it is; then compare expert pairs."""
    have_blake3 = blake3_available()
    for f in findings:
        if f.status not in USABLE or not f.path:
            continue
        try:
            st = os.stat(f.path)
        except OSError:
            continue
        h, _ = headers.get(f.path, st)
        if isinstance(h, HeaderError):
            continue
        if f.status == "stand_in":
            _verify_stand_in(f, f.path, h, progress, have_blake3)
        else:
            _verify_published(f, f.path, BY_ROLE[f.role], progress, have_blake3)
    _compare_expert_pairs(findings, headers)


def _verify_stand_in(f: Finding, path: str, h: Header, progress: Progress | None, have_blake3: bool) -> None:
    """A stand-in's data against the hash demo-volume recorded in its metadata."""
    algos = (["blake3"] if have_blake3 else []) + ["sha256"]
    algo = next((a for a in algos if h.metadata.get(f"wan22.data_{a}")), None)
    if algo is None:
        _note(f, "no data hash recorded in this stand-in: header checks only")
        return
    got = hash_range(path, h.data_start, h.data_end, algo, _ticker(progress, f.name, h.data_end - h.data_start))
    if got != h.metadata[f"wan22.data_{algo}"]:
        f.status = "corrupt"
        f.hint = (f"its tensor data does not match the {algo} recorded when the stand-in was written: the "
                  "file was modified or damaged. Re-run `python -m wan22 demo-volume` on the folder")
    else:
        _note(f, f"verified: tensor data {algo} matches the recorded one")


def _verify_published(f: Finding, path: str, entry: CatalogFile, progress: Progress | None,
                      have_blake3: bool) -> None:
    """A real file's bytes against the catalog's published hash (blake3 first when both are known)."""
    published = {"blake3": entry.blake3 if have_blake3 else None, "sha256": entry.sha256}
    algo = next((a for a, v in published.items() if v), None)
    if algo is None:
        _note(f, "no published hash for this file in the catalog: header checks only")
        return
    want = str(published[algo])
    got = hash_range(path, 0, None, algo, _ticker(progress, f.name, f.size or 0))
    if got == want:
        _note(f, f"verified: {algo} matches the published file")
        return
    other = next((o.name for o in FILES if o.role != entry.role and got in (o.sha256, o.blake3)), None)
    f.status = "wrong_model"
    f.hint = (f"{algo} {got[:16]}... is not the published {want[:16]}...: "
              + (f"this is {other}, under the wrong name" if other else "a different build or damaged data")
              + f". Re-download: {entry.url}")


def _compare_expert_pairs(findings: list[Finding], headers: HeaderCache) -> None:
    """The high- and low-noise files of a pair always differ: identical data means a copy under the wrong name."""
    by_role = {f.role: f for f in findings}
    for a, b in EXPERT_PAIRS:
        fa, fb = by_role.get(a), by_role.get(b)
        if not (fa and fb and fa.path and fb.path and fa.status in USABLE and fb.status in USABLE):
            continue
        if not _same_data(fa.path, fb.path, headers):
            continue
        for x, y in ((fa, fb), (fb, fa)):
            x.status = "wrong_model"
            x.hint = (f"its tensor data is identical to {y.name}: one of the two is a copy under the wrong name "
                      "(the high-noise and low-noise files always differ). Re-download both: "
                      f"{BY_ROLE[x.role].url}")


def _same_data(pa: str, pb: str, headers: HeaderCache) -> bool:
    """Same file, or same size and the same sampled tensor data."""
    try:
        sa, sb = os.stat(pa), os.stat(pb)
    except OSError:
        return False
    if sa.st_size != sb.st_size:
        return False
    ha, _ = headers.get(pa, sa)
    hb, _ = headers.get(pb, sb)
    if isinstance(ha, HeaderError) or isinstance(hb, HeaderError):
        return False
    return (os.path.samefile(pa, pb)
            or _sample_digest(pa, ha.data_start, ha.data_end) == _sample_digest(pb, hb.data_start, hb.data_end))


def _ticker(progress: Progress | None, name: str, total: int) -> Callable[[int], None] | None:
    if progress is None:
        return None

    def tick(done: int) -> None:
        progress(name, done, total)

    return tick


def _note(f: Finding, line: str) -> None:
    f.hint = f"{f.hint}\n{line}" if f.hint else line


def stderr_progress(stream: IO[str] | None = None, enabled: bool | None = None) -> Progress:
    """A tqdm bar per file for --verify, on stderr (or `stream`). enabled=None: shown only when the
    stream is a terminal (logs and pipes get no bar); True or False to ask for it or not."""
    out = stream if stream is not None else sys.stderr
    show = enabled if enabled is not None else bool(getattr(out, "isatty", lambda: False)())
    return _Bars(out).update if show else _quiet


def _quiet(name: str, done: int, total: int) -> None:  # noqa: ARG001 (a Progress that shows nothing)
    return None


class _Bars:
    """One tqdm bar per file, closed when the file is done or the next one starts."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.name: str | None = None
        self.bar: Any = None

    def update(self, name: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if name != self.name:
            self._close()
            cols, rows = _terminal_size(self.out)
            self.name = name
            short = _short(name)
            self.bar = tqdm(total=total or None, desc=f"verify {short}", file=self.out, unit="B", unit_scale=True,
                            mininterval=0.2, ncols=cols, nrows=rows, bar_format=_BAR)
        if self.bar is None:
            return
        self.bar.update(done - self.bar.n)
        if total > 0 and done >= total:
            self._close()

    def _close(self) -> None:
        """Finish the current bar (tqdm leaves it on screen, the next file starts a new line)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _short(name: str, width: int = 32) -> str:
    """A file name for a bar label: the extension dropped, the middle elided (the ends tell experts apart)."""
    stem = name[: -len(".safetensors")] if name.endswith(".safetensors") else name
    if len(stem) <= width:
        return stem
    tail = (width - 3) * 3 // 5
    return stem[: width - 3 - tail] + "..." + stem[-tail:]


def _terminal_size(out: IO[str]) -> tuple[int, int]:
    """(columns, rows) of the stream's terminal; 80 x 24 where it reports 0 (an unsized
    pseudo-terminal does, and tqdm then draws nothing)."""
    try:
        size = os.get_terminal_size(out.fileno())
    except (AttributeError, OSError, ValueError):
        return 80, 24
    return size.columns or 80, size.lines or 24
