"""Bounded GGUF header reader: metadata keys, tensor names, GGML types, shapes and offsets,
never tensor data.

Why not the `gguf` package's GGUFReader (0.19.0, measured): it memory-maps the file and builds
numpy views of every key/value part and every tensor, so a umT5 GGUF with its 256,384-token
tokenizer array took 13.9 s to open (a 1,000-tensor DiT header: 0.2 s; this reader: a few ms);
a file cut short fails with "cannot reshape array of size 24 into shape (4,8)" instead of saying
how much is missing; a tensor count of 2**40 ran 1.1 s before a numpy dtype error; and importing
it (with numpy) costs about 0.2 s of CLI start. tests/unit/test_gguf_header.py reads files the
package writes and checks the type tables here against the package's own.

Layout (GGUF v2/v3, little-endian): magic b"GGUF", u32 version, u64 tensor count, u64 key/value
count; each key/value is a string key, a u32 value type and the value (arrays: u32 element
type, u64 count, elements); each tensor info is a string name, u32 n_dims, n_dims x u64 dims
(innermost first), u32 GGML type, u64 offset from the data section; the data section starts at
the next multiple of `general.alignment` (default 32). Every count and length is checked against
the bytes left in the file before anything is read or allocated.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass, field
from typing import Any, NamedTuple

MAGIC = b"GGUF"
MAX_HEADER_BYTES = 512 * 1024 * 1024  # tokenizer arrays of large-vocabulary models stay far below
MAX_DIMS = 8
PLAUSIBLE_COUNT = 1 << 31  # counts and lengths above this are damage, not a file cut short
KEEP_ARRAY = 64  # arrays longer than this are skipped (tokenizer vocabularies); their length is kept
_CHUNK = 1 << 20

# GGUF value types: struct format of the scalar types (8 string, 9 array)
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9

# GGML tensor types: name, (elements per block, bytes per block). Checked against gguf.GGML_QUANT_SIZES.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
}
# general.file_type values (llama.cpp's LlamaFileType, the "mostly" type of a quantized file)
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
    36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0",
}


class GGUFError(ValueError):
    """The file is not a readable GGUF file; `reason` is a short code like HeaderError's:
    too_short, not_gguf, bad_version, bad_entry, header_past_eof, header_too_large, not_regular,
    unreadable."""

    def __init__(self, message: str, reason: str = "bad_entry") -> None:
        super().__init__(message)
        self.reason = reason


class GGUFTensor(NamedTuple):
    ggml_type: int
    shape: tuple[int, ...]  # outermost first, as torch/safetensors order it (GGUF stores it reversed)
    offset: int  # from the start of the data section
    nbytes: int

    @property
    def type_name(self) -> str:
        return GGML_TYPES.get(self.ggml_type, (f"type{self.ggml_type}", 1, 1))[0]


@dataclass
class GGUFHeader:
    path: str
    file_size: int
    version: int
    metadata: dict[str, Any]  # scalars and short arrays; a long array is kept as ("array", length)
    tensors: dict[str, GGUFTensor]
    data_start: int
    data_size: int
    notes: list[str] = field(default_factory=list)

    @property
    def data_end(self) -> int:
        return self.data_start + self.data_size

    @property
    def truncated(self) -> bool:
        return self.file_size < self.data_end

    @property
    def architecture(self) -> str | None:
        v = self.metadata.get("general.architecture")
        return v if isinstance(v, str) else None

    @property
    def file_type(self) -> str | None:
        v = self.metadata.get("general.file_type")
        return FILE_TYPES.get(v) if isinstance(v, int) else None


class _Reader:
    """Sequential little-endian reads over a file, in chunks, each bounded by the file's size."""

    def __init__(self, f: Any, size: int, limit: int) -> None:
        self.f, self.size, self.limit = f, size, min(size, limit)
        self.buf = b""
        self.base = 0  # file offset of buf[0]
        self.pos = 0  # file offset of the next read

    def ensure(self, n: int, what: str) -> int:
        """Make bytes [pos, pos + n) available in buf and return pos's index in it (pos unchanged)."""
        if n < 0 or self.pos + n > self.size:
            raise GGUFError(f"{what} needs {n:,} bytes at offset {self.pos:,} but the file has {self.size:,}: the "
                            "download stopped inside the header, or the file is not GGUF", "header_past_eof")
        if self.pos + n > self.limit:
            raise GGUFError(f"the header runs past {self.limit:,} bytes: not a GGUF file this reader accepts",
                            "header_too_large")
        end = self.pos + n
        if end > self.base + len(self.buf):
            keep = self.buf[self.pos - self.base:]
            more = self.f.read(max(_CHUNK, end - self.base - len(self.buf)))
            self.buf, self.base = keep + more, self.pos
            if end > self.base + len(self.buf):
                raise GGUFError("the file ended while its header was read (it shrank?)", "header_past_eof")
        return self.pos - self.base

    def need(self, n: int, what: str) -> memoryview:
        i = self.ensure(n, what)
        self.pos += n
        return memoryview(self.buf)[i:i + n]

    def unpack(self, fmt: str, what: str) -> Any:
        return struct.unpack(fmt, self.need(struct.calcsize(fmt), what))[0]

    def count(self, what: str, min_bytes_each: int) -> int:
        n = int(self.unpack("<Q", what))
        if n * max(min_bytes_each, 1) > self.size - self.pos:
            # a plausible count in a file that ends too soon is a cut-short download; an absurd one, damage
            reason = "header_past_eof" if n < PLAUSIBLE_COUNT else "bad_entry"
            raise GGUFError(f"{what} is {n:,}, more than the {self.size - self.pos:,} bytes left in the file can hold",
                            reason)
        return n

    def string(self, what: str) -> str:
        n = self.count(f"the length of {what}", 1)
        return bytes(self.need(n, what)).decode("utf-8", errors="replace")

    def skip_strings(self, n: int, what: str) -> None:
        unpack_from = struct.unpack_from
        for _ in range(n):
            i = self.ensure(8, what)  # before reading self.buf: ensure may replace it
            (ln,) = unpack_from("<Q", self.buf, i)
            if ln > self.size - self.pos - 8:
                raise GGUFError(f"a string in {what} is {ln:,} bytes long, more than the file holds",
                                "header_past_eof" if ln < PLAUSIBLE_COUNT else "bad_entry")
            self.ensure(8 + ln, what)
            self.pos += 8 + ln


def read_gguf_header(path: str | os.PathLike[str], max_header_bytes: int = MAX_HEADER_BYTES) -> GGUFHeader:
    """Parse the header of a GGUF file (never its tensor data). Raises GGUFError with a reason."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except OSError as e:
        raise GGUFError(f"cannot read it: {e.strerror or e}", "unreadable") from e
    if not stat.S_ISREG(st.st_mode):
        raise GGUFError("not a regular file (a pipe, device or socket)", "not_regular")
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            r = _Reader(f, size, max_header_bytes)
            return _parse(r, p)
    except OSError as e:
        raise GGUFError(f"cannot read it: {e.strerror or e}", "unreadable") from e


def _parse(r: _Reader, path: str) -> GGUFHeader:
    if r.size < 24:
        raise GGUFError(f"the file is {r.size} bytes, too short to be GGUF (24 bytes of header at least)", "too_short")
    magic = bytes(r.need(4, "the magic"))
    if magic != MAGIC:
        raise GGUFError(f"it does not start with 'GGUF' (starts with {magic!r}): not a GGUF file", "not_gguf")
    version = int(r.unpack("<I", "the version"))
    if version not in (2, 3):
        raise GGUFError(f"GGUF version {version}: only versions 2 and 3 are read", "bad_version")
    n_tensors = r.count("the tensor count", 32)
    n_kv = r.count("the key/value count", 13)
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = r.string("a metadata key")
        metadata[key] = _value(r, int(r.unpack("<I", f"the type of {key}")), key)
    tensors: dict[str, GGUFTensor] = {}
    for _ in range(n_tensors):
        name, t = _tensor_info(r)
        tensors[name] = t
    align = metadata.get("general.alignment", 32)
    if not isinstance(align, int) or align <= 0 or align & (align - 1):
        raise GGUFError(f"general.alignment is {align!r}, not a power of two", "bad_entry")
    data_start = -(-r.pos // align) * align
    data_size = max((t.offset + t.nbytes for t in tensors.values()), default=0)
    for name, t in tensors.items():
        if t.offset % align:
            raise GGUFError(f"tensor {name!r}: offset {t.offset:,} is not aligned to {align}", "bad_entry")
    return GGUFHeader(path, r.size, version, metadata, tensors, data_start, data_size)


def _value(r: _Reader, vtype: int, key: str) -> Any:
    if vtype in _SCALAR:
        return r.unpack(_SCALAR[vtype], key)
    if vtype == _STRING:
        return r.string(key)
    if vtype != _ARRAY:
        raise GGUFError(f"key {key!r}: unknown value type {vtype}", "bad_entry")
    etype = int(r.unpack("<I", f"the element type of {key}"))
    if etype in _SCALAR:
        width = struct.calcsize(_SCALAR[etype])
        n = r.count(f"the length of {key}", width)
        if n > KEEP_ARRAY:
            r.need(n * width, key)
            return ("array", n)
        return [r.unpack(_SCALAR[etype], key) for _ in range(n)]
    if etype == _STRING:
        n = r.count(f"the length of {key}", 8)
        if n > KEEP_ARRAY:
            r.skip_strings(n, key)
            return ("array", n)
        return [r.string(key) for _ in range(n)]
    raise GGUFError(f"key {key!r}: arrays of value type {etype} are not read", "bad_entry")


def _tensor_info(r: _Reader) -> tuple[str, GGUFTensor]:
    # reads straight from the buffer while it holds the bytes (the common case), else via ensure()
    buf, i = r.buf, r.pos - r.base
    if len(buf) - i < 8:
        i = r.ensure(8, "a tensor name's length")
        buf = r.buf
    (ln,) = struct.unpack_from("<Q", buf, i)
    if ln > r.size - r.pos - 8:
        raise GGUFError(f"a tensor name's length is {ln:,}, more than the file holds",
                        "header_past_eof" if ln < PLAUSIBLE_COUNT else "bad_entry")
    if len(buf) - i < 12 + ln:
        i = r.ensure(12 + ln, "a tensor name")
        buf = r.buf
    name = buf[i + 8:i + 8 + ln].decode("utf-8", errors="replace")
    (n_dims,) = struct.unpack_from("<I", buf, i + 8 + ln)
    r.pos += 12 + ln
    if not 0 < n_dims <= MAX_DIMS:
        raise GGUFError(f"tensor {name!r}: {n_dims} dimensions", "bad_entry")
    i += 12 + ln
    if len(buf) - i < 8 * n_dims + 12:
        i = r.ensure(8 * n_dims + 12, f"the shape of {name}")
        buf = r.buf
    dims = struct.unpack_from(f"<{n_dims}Q", buf, i)
    gtype, offset = struct.unpack_from("<IQ", buf, i + 8 * n_dims)
    r.pos += 8 * n_dims + 12
    if gtype not in GGML_TYPES:
        raise GGUFError(f"tensor {name!r}: unknown GGML type {gtype}", "bad_entry")
    _, block, width = GGML_TYPES[gtype]
    numel = 1
    for d in dims:
        numel *= d
    if numel % block or dims[0] % block:
        raise GGUFError(f"tensor {name!r}: {dims} does not divide into {GGML_TYPES[gtype][0]} blocks of {block}",
                        "bad_entry")
    nbytes = numel // block * width
    if offset + nbytes > 1 << 62:
        raise GGUFError(f"tensor {name!r}: offset/size past any file", "bad_entry")
    return name, GGUFTensor(gtype, tuple(reversed(dims)), offset, nbytes)
