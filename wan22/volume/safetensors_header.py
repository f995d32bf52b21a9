"""Bounded safetensors header reader: names, dtypes, shapes, byte ranges, metadata.

Why not `safetensors.safe_open` (0.8.0, checked): it refuses a file cut short and a file with
bytes after the last tensor with the same error ("incomplete metadata, file not fully covered"),
so it cannot say that a download stopped at 33% of the bytes its header needs, nor tell that from
trailing bytes; its errors carry no reason code; and on a named pipe it blocks (killed after 5 s
when checked by hand) where this reader answers `not_regular` at once. Speed is not the reason:
the 13 headers of the user's sparse 74.5 GB volume take the same order of time with either (60 to
100 ms for all 13, warm, on a loaded 2-CPU machine). tests/unit/test_safetensors_header.py checks
this reader against `safe_open` on what both accept, and that `safe_open` still cannot tell the
two damages apart (if it learns to, this reason is gone).

Reads the 8-byte little-endian header length and the JSON header, never tensor data. A length
over MAX_HEADER_BYTES (the safetensors library's and ComfyUI's 100 MB limit) or past the end of
the file is rejected before anything is allocated. Every tensor entry is checked the way the
safetensors library checks it (dtype x shape = byte count, byte ranges back to back from 0), so a
header that parses here also loads in ComfyUI, except for a data section cut short (`truncated`)
or followed by extra bytes (`trailing_bytes`), which the caller reports.
"""

from __future__ import annotations

import itertools
import json
import math
import operator
import os
import stat
import struct
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

MAX_HEADER_BYTES = 100_000_000

DTYPE_SIZES: dict[str, float] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
    "F4": 0.5, "F6_E2M3": 0.75, "F6_E3M2": 0.75,
}
_INT_SIZES = {k: int(v) for k, v in DTYPE_SIZES.items() if v == int(v)}


class HeaderError(ValueError):
    """The file is not a readable safetensors file; the message says why.

    `reason` is a short code: too_short, header_too_large, header_past_eof, bad_json, bad_entry,
    bad_offsets, not_regular, unreadable (the OS refused to open or read it: permissions, I/O).
    """

    def __init__(self, message: str, reason: str = "bad_entry") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    start: int  # byte offset in the data section
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class Header:
    """A parsed, validated header. `entries` is the raw JSON object per tensor (validated);
    `tensors` builds TensorInfo objects on first use, so identifying a file stays cheap."""

    path: str
    file_size: int
    header_size: int
    entries: dict[str, dict[str, Any]]
    data_size: int  # bytes the tensors need after the header
    metadata: dict[str, str] = field(default_factory=dict)

    @cached_property
    def tensors(self) -> dict[str, TensorInfo]:
        return {k: TensorInfo(e["dtype"], tuple(e["shape"]), e["data_offsets"][0], e["data_offsets"][1])
                for k, e in self.entries.items()}

    @property
    def names(self) -> list[str]:
        return list(self.entries)

    @property
    def data_start(self) -> int:
        return 8 + self.header_size

    @property
    def data_end(self) -> int:
        """Absolute offset just past the last tensor's bytes: the size of a complete file."""
        return self.data_start + self.data_size

    @property
    def truncated(self) -> bool:
        return self.file_size < self.data_end

    @property
    def trailing_bytes(self) -> int:
        """Bytes after the last tensor. The safetensors library refuses such a file
        ("file not fully covered"); ComfyUI's dynamic-VRAM loader tolerates it."""
        return max(0, self.file_size - self.data_end)

    def has(self, key: str) -> bool:
        return key in self.entries

    def shape(self, key: str) -> tuple[int, ...] | None:
        e = self.entries.get(key)
        return tuple(e["shape"]) if e is not None else None


def read_header(path: str | os.PathLike[str], max_header_bytes: int = MAX_HEADER_BYTES) -> Header:
    """Parse and validate the header of a safetensors file. Raises HeaderError with a reason."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except OSError as e:
        raise HeaderError(f"cannot read it: {e.strerror or e}", "unreadable") from e
    if not stat.S_ISREG(st.st_mode):
        # a FIFO or device would block or never end
        raise HeaderError("not a regular file (a pipe, device or socket)", "not_regular")
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            if len(head) < 8:
                raise HeaderError(
                    f"the file is {size} bytes, too short to be safetensors (it needs at least an 8-byte header length)",
                    "too_short")
            (n,) = struct.unpack("<Q", head)
            if n == 0:
                raise HeaderError("the header length is 0: not a safetensors file", "bad_json")
            if n > max_header_bytes:
                raise HeaderError(
                    f"the header length field says {n:,} bytes, over the {max_header_bytes:,} byte limit of "
                    "safetensors: this is not a safetensors file (or its first bytes are damaged)", "header_too_large")
            if n > size - 8:
                raise HeaderError(
                    f"the header length field says {n:,} bytes but the file has only {size - 8:,} after it: "
                    "the download stopped inside the header, or the file is not safetensors", "header_past_eof")
            raw = f.read(n)
    except OSError as e:
        raise HeaderError(f"cannot read it: {e.strerror or e}", "unreadable") from e
    if len(raw) < n:
        raise HeaderError("the file ended inside the header (it shrank while being read)", "header_past_eof")
    return parse_header(raw, p, size)


def parse_header(raw: bytes, path: str = "<bytes>", file_size: int | None = None) -> Header:
    """Validate a header's JSON (the bytes after the 8-byte length) with the safetensors
    library's rules: known dtype x shape = byte count, byte ranges back to back from 0."""
    if raw.lstrip()[:1] != b"{":
        raise HeaderError("the header does not start with '{': not a safetensors file", "bad_json")
    try:
        doc = json.loads(raw.rstrip(b" "))  # trailing pad spaces: cheap in C, slow in json's regex
    except (UnicodeDecodeError, ValueError) as e:
        raise HeaderError(f"the header is not valid JSON ({e.__class__.__name__}: {str(e)[:80]})", "bad_json") from e
    if not isinstance(doc, dict):
        raise HeaderError("the header JSON is not an object", "bad_json")
    meta_raw = doc.pop("__metadata__", None)
    if meta_raw is not None and not isinstance(meta_raw, dict):
        raise HeaderError("__metadata__ is not an object of strings", "bad_entry")
    metadata = {str(k): str(v) for k, v in (meta_raw or {}).items()}
    fast = _fast_data_size(doc)
    if fast is not None:
        return Header(path=path, file_size=file_size if file_size is not None else 8 + len(raw) + fast,
                      header_size=len(raw), entries=doc, data_size=fast, metadata=metadata)
    # something is unusual (or wrong): check tensor by tensor, to say which and why
    spans: list[tuple[int, int]] = []
    int_sizes = _INT_SIZES
    prod = math.prod
    for name, info in doc.items():
        try:
            dtype = info["dtype"]
            shape = info["shape"]
            start, end = info["data_offsets"]
            count = prod(shape) if type(shape) is list else None
        except (TypeError, KeyError, ValueError):
            raise HeaderError(f"tensor {name!r}: the entry lacks dtype, shape or a [start, end] data_offsets pair, "
                              "or its shape is not a list of integers", "bad_entry") from None
        if type(start) is not int or type(end) is not int or start < 0 or end < start:
            raise HeaderError(f"tensor {name!r}: data_offsets {info['data_offsets']!r} are not a valid byte range",
                              "bad_offsets")
        if type(count) is not int or type(dtype) is not str or (shape and min(shape) < 0):
            raise HeaderError(f"tensor {name!r}: dtype must be a string and shape a list of non-negative integers",
                              "bad_entry")
        width = int_sizes.get(dtype)
        if width is not None:
            need = count * width
        else:
            w = DTYPE_SIZES.get(dtype)
            need = math.ceil(count * w) if w is not None else end - start
        if need != end - start:
            raise HeaderError(f"tensor {name!r}: {dtype}{shape} needs {need:,} bytes but its byte range holds "
                              f"{end - start:,}", "bad_offsets")
        spans.append((start, end))
    spans.sort()
    pos = 0
    for start, end in spans:
        if start != pos:
            name = next(k for k, v in doc.items() if v["data_offsets"][0] == start)
            what = "overlaps the previous tensor" if start < pos else f"leaves a gap of {start - pos:,} bytes"
            raise HeaderError(f"tensor {name!r}: its byte range starts at {start:,} and {what}; safetensors "
                              "refuses such a file", "bad_offsets")
        pos = end
    return Header(path=path, file_size=file_size if file_size is not None else 8 + len(raw) + pos,
                  header_size=len(raw), entries=doc, data_size=pos, metadata=metadata)


def _fast_data_size(entries: dict[str, Any]) -> int | None:
    """The same checks as parse_header's loop, in bulk at C speed (a 14B header has 1,000-6,000
    tensors): the data size when everything is in order, None when anything is unusual."""
    try:
        vals = list(entries.values())
        offs = [v["data_offsets"] for v in vals]
        shapes = [v["shape"] for v in vals]
        dtypes = [v["dtype"] for v in vals]
        if set(map(type, offs)) - {list} or set(map(type, shapes)) - {list} or set(map(type, dtypes)) - {str}:
            return None
        if set(map(len, offs)) - {2}:
            return None
        flat = list(itertools.chain.from_iterable(offs))
        dims = list(itertools.chain.from_iterable(shapes))
        if set(map(type, flat)) - {int} or set(map(type, dims)) - {int}:
            return None
        if (flat and min(flat) < 0) or (dims and min(dims) < 0):
            return None
        widths = list(map(_INT_SIZES.get, dtypes))
        if None in widths:
            return None  # sub-byte or unknown dtypes: the loop handles them
        starts, ends = flat[0::2], flat[1::2]
        if list(map(operator.mul, map(math.prod, shapes), widths)) != list(map(operator.sub, ends, starts)):
            return None
        if not vals:
            return 0
        ss, es = zip(*sorted(zip(starts, ends)))
        if ss[0] != 0 or ss[1:] != es[:-1]:
            return None
        return int(es[-1])
    except (TypeError, KeyError, ValueError):
        return None


def build_header(tensors: list[tuple[str, str, tuple[int, ...]]], metadata: dict[str, str] | None = None,
                 total_size: int | None = None) -> tuple[bytes, int]:
    """Serialize a header for (name, dtype, shape) tensors laid out in order.

    Returns (the 8-byte length + JSON header, the data-section size). With `total_size`, the
    JSON is padded with spaces (as safetensors itself pads) so that header + data is exactly that
    many bytes; ValueError when the tensors alone are bigger. Used to write sparse stand-ins of
    real-size files whose headers look like the real ones.
    """
    doc: dict[str, object] = {}
    if metadata:
        doc["__metadata__"] = dict(metadata)
    off = 0
    for name, dtype, shape in tensors:
        n = math.ceil(math.prod(shape) * DTYPE_SIZES[dtype])
        doc[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    raw = json.dumps(doc, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    if total_size is not None:
        pad = total_size - 8 - len(raw) - off
        if pad < 0:
            raise ValueError(f"the tensors need {8 + len(raw) + off:,} bytes, more than total_size {total_size:,}")
        raw += b" " * pad
    return struct.pack("<Q", len(raw)) + raw, off
