"""Putting a file at its final name without ever replacing another file (`mv -n` semantics).

`place(src, dst)` moves a file whose bytes are final (a verified download, or a model the user
asked `inventory --fix` to move) to `dst`:

- same filesystem: `os.link(src, dst)` then `os.unlink(src)`. The link fails if `dst` exists, so
  no file is replaced even when two processes race. Where hard links are not supported (some
  network and FUSE filesystems), `os.rename` after checking that `dst` does not exist.
- a rename that only changes letter case, on a case-insensitive filesystem (`dst` exists and is
  the same file as `src`): `os.rename`, which is what the user asked for.
- another filesystem (`EXDEV`): copied to `<dst>.part` while hashing, the copy read back and
  compared (size and sha256), then placed as above and only then the source removed.

Nothing here deletes a file that is not `src` after its bytes are safely at `dst`, or a `.part`
this module itself wrote.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Callable

CHUNK = 16 * 1024 * 1024


class PlaceError(OSError):
    """The move was refused or failed; the message names both paths and what to do."""


def place(src: str, dst: str, progress: Callable[[int], None] | None = None) -> str:
    """Move `src` to `dst` without replacing anything; returns how ('link', 'rename', 'copy')."""
    if os.path.lexists(dst):
        if _same_file(src, dst) and os.path.basename(src) != os.path.basename(dst):
            os.rename(src, dst)  # a letter-case rename on a case-insensitive filesystem
            return "rename"
        raise PlaceError(f"{dst} exists: it is never replaced. Move it away first if it is the wrong file")
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    if os.path.islink(src):  # move the link itself, as mv does
        return _rename_if_free(src, dst)
    try:
        os.link(src, dst)
    except FileExistsError:
        raise PlaceError(f"{dst} appeared while moving {src}: it is never replaced") from None
    except OSError as e:
        if e.errno != errno.EXDEV:  # no hard links on this filesystem (EPERM, ENOTSUP, EMLINK...)
            return _rename_if_free(src, dst)
        _copy_verified(src, dst, progress)
        os.unlink(src)
        return "copy"
    os.unlink(src)
    return "link"


def _rename_if_free(src: str, dst: str) -> str:
    if os.path.lexists(dst):
        raise PlaceError(f"{dst} exists: it is never replaced")
    try:
        os.rename(src, dst)
    except OSError as e:
        raise PlaceError(f"cannot move {src} to {dst}: {e.strerror or e}") from e
    return "rename"


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def sha256_file(path: str, progress: Callable[[int], None] | None = None) -> str:
    """Hex sha256 of a whole file, calling `progress(bytes)` after each chunk."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            if progress is not None:
                progress(len(chunk))
    return h.hexdigest()


def _copy_verified(src: str, dst: str, progress: Callable[[int], None] | None) -> None:
    """Copy to `<dst>.part` hashing the source, read the copy back, compare, then place it."""
    part = dst + ".part"
    h = hashlib.sha256()
    try:
        fo = open(part, "xb")  # closed below; "x": an existing .part is never reused
    except FileExistsError:
        raise PlaceError(f"{part} exists (an unfinished copy or download): move it away, then try again") from None
    try:
        with fo, open(src, "rb") as fi:
            while chunk := fi.read(CHUNK):
                h.update(chunk)
                fo.write(chunk)
                if progress is not None:
                    progress(len(chunk))
            fo.flush()
            os.fsync(fo.fileno())
    except OSError as e:
        os.unlink(part)
        raise PlaceError(f"copying {src} to {part} failed ({e.strerror or e}): the source was kept") from e
    try:
        same = os.path.getsize(part) == os.path.getsize(src) and sha256_file(part) == h.hexdigest()
    except OSError as e:
        os.unlink(part)
        raise PlaceError(f"cannot read back the copy of {src} at {part} ({e.strerror or e}): the source was kept") from e
    if not same:
        os.unlink(part)
        raise PlaceError(f"the copy of {src} at {part} does not read back equal to it (a failing disk or a full "
                         "volume?): the source was kept")
    _link_or_rename(part, dst)


def _link_or_rename(part: str, dst: str) -> None:
    """`part` (ours) to `dst`, never over an existing file; on refusal `part` is removed."""
    try:
        os.link(part, dst)
    except FileExistsError:
        os.unlink(part)
        raise PlaceError(f"{dst} appeared meanwhile: it is never replaced; the source was kept") from None
    except OSError:
        if os.path.lexists(dst):
            os.unlink(part)
            raise PlaceError(f"{dst} exists: it is never replaced; the source was kept") from None
        os.rename(part, dst)
        return
    os.unlink(part)
