"""Bounded safetensors header reader: names, dtypes, shapes, byte ranges, metadata.

Reads the 8-byte little-endian header length and the JSON header, never tensor data. A length
above MAX_HEADER_BYTES or beyond the end of the file is rejected before anything is allocated.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field

MAX_HEADER_BYTES = 100 * 1024 * 1024

DTYPE_SIZES: dict[str, float] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
    "F4": 0.5, "F6_E2M3": 0.75, "F6_E3M2": 0.75,
}


class HeaderError(ValueError):
    """The file is not a readable safetensors file; the message says why."""


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
    path: str
    file_size: int
    header_size: int
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def data_start(self) -> int:
        return 8 + self.header_size

    @property
    def data_end(self) -> int:
        """Absolute offset just past the last tensor's bytes: the smallest complete file size."""
        last = max((t.end for t in self.tensors.values()), default=0)
        return self.data_start + last

    @property
    def truncated(self) -> bool:
        return self.file_size < self.data_end

    def has(self, key: str) -> bool:
        return key in self.tensors

    def shape(self, key: str) -> tuple[int, ...] | None:
        t = self.tensors.get(key)
        return t.shape if t is not None else None


def read_header(path: str | os.PathLike[str], max_header_bytes: int = MAX_HEADER_BYTES) -> Header:
    """Parse the header of a safetensors file. Raises HeaderError with a readable reason."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            if len(head) < 8:
                raise HeaderError(f"file is {size} bytes, too short to be safetensors (needs an 8-byte header length)")
            (n,) = struct.unpack("<Q", head)
            if n == 0:
                raise HeaderError("header length is 0")
            if n > max_header_bytes:
                raise HeaderError(
                    f"header length {n} bytes is over the {max_header_bytes} byte limit: not a safetensors file, or damaged"
                )
            if n > size - 8:
                raise HeaderError(f"header length {n} bytes is longer than the file ({size} bytes): the download is incomplete or the file is not safetensors")
            raw = f.read(n)
    except OSError as e:
        raise HeaderError(f"cannot read: {e.strerror or e}") from e
    if len(raw) < n:
        raise HeaderError("file ended inside the header")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HeaderError(f"header is not valid JSON ({e.__class__.__name__}: {str(e)[:80]})") from e
    if not isinstance(doc, dict):
        raise HeaderError("header JSON is not an object")
    meta_raw = doc.pop("__metadata__", None) or {}
    metadata = {str(k): str(v) for k, v in meta_raw.items()} if isinstance(meta_raw, dict) else {}
    tensors: dict[str, TensorInfo] = {}
    for name, info in doc.items():
        tensors[name] = _tensor_info(name, info)
    return Header(path=p, file_size=size, header_size=n, tensors=tensors, metadata=metadata)


def _tensor_info(name: str, info: object) -> TensorInfo:
    if not isinstance(info, dict):
        raise HeaderError(f"tensor {name!r}: entry is not an object")
    dtype = info.get("dtype")
    shape = info.get("shape")
    offs = info.get("data_offsets")
    if not isinstance(dtype, str) or not isinstance(shape, list) or not isinstance(offs, list) or len(offs) != 2:
        raise HeaderError(f"tensor {name!r}: missing dtype, shape or data_offsets")
    if not all(isinstance(d, int) and d >= 0 for d in shape) or not all(isinstance(o, int) and o >= 0 for o in offs):
        raise HeaderError(f"tensor {name!r}: shape and offsets must be non-negative integers")
    start, end = offs
    if end < start:
        raise HeaderError(f"tensor {name!r}: data_offsets end before they start")
    width = DTYPE_SIZES.get(dtype)
    if width is not None:
        expected = math.ceil(math.prod(shape) * width)
        if end - start != expected:
            raise HeaderError(
                f"tensor {name!r}: {dtype}{shape} needs {expected} bytes but its byte range holds {end - start}"
            )
    return TensorInfo(dtype=dtype, shape=tuple(shape), start=start, end=end)


def build_header(tensors: list[tuple[str, str, tuple[int, ...]]], metadata: dict[str, str] | None = None) -> tuple[bytes, int]:
    """Serialize a header for (name, dtype, shape) tensors laid out in order.

    Returns (the 8-byte length + JSON header, the data-section size). Used to write sparse
    stand-ins of real-size files whose headers look exactly like the real ones.
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
    return struct.pack("<Q", len(raw)) + raw, off
