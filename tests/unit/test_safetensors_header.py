"""The bounded safetensors header reader: what it returns, what it refuses, and that it never
reads tensor data or allocates what a damaged length field asks for."""

from __future__ import annotations

import io
import json
import os
import struct
import threading
from pathlib import Path
from typing import Any

import pytest
import safetensors
import torch

import wan22.volume.safetensors_header as sh
from wan22.catalog import BY_ROLE
from wan22.demo.demo_volume import sparse_tensors_for, write_safetensors, write_sparse
from wan22.volume.safetensors_header import MAX_HEADER_BYTES, HeaderError, build_header, parse_header, read_header


def _raw(path: Path, header: dict[str, Any] | bytes, data: bytes = b"", length: int | None = None) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def _library_opens(path: Path) -> bool:
    try:
        with safetensors.safe_open(str(path), framework="pt"):
            return True
    except Exception:
        return False


class CountingFile(io.FileIO):
    """Records every read size, to prove what the reader asks the OS for."""

    reads: list[int] = []

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        CountingFile.reads.append(size)
        return super().read(size)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    CountingFile.reads = []
    monkeypatch.setattr(sh, "open", lambda p, mode="rb": CountingFile(p, "r"), raising=False)
    return CountingFile.reads


# ------------------------------------------------------------------ what it returns

def test_names_dtypes_shapes_ranges_and_metadata_match_the_safetensors_library(tmp_path: Path) -> None:
    tensors = [("b.weight", torch.zeros((3, 5), dtype=torch.float16)), ("a", torch.zeros(7, dtype=torch.float32)),
               ("scaled_fp8", torch.empty(0, dtype=torch.float8_e4m3fn)), ("c", torch.zeros((2, 2), dtype=torch.bfloat16))]
    p = tmp_path / "m.safetensors"
    write_safetensors(str(p), tensors, {"note": "x"})
    h = read_header(p)
    with safetensors.safe_open(str(p), framework="pt") as f:
        assert set(h.tensors) == set(f.keys())
        assert h.metadata == f.metadata()
        for k in f.keys():
            sl = f.get_slice(k)
            assert list(h.tensors[k].shape) == sl.get_shape()
            assert h.tensors[k].dtype == sl.get_dtype()
    assert h.metadata["wan22.data_sha256"]  # write_safetensors records the data hash
    assert h.data_end == h.file_size == p.stat().st_size
    assert not h.truncated and h.trailing_bytes == 0
    spans = sorted((t.start, t.end) for t in h.tensors.values())
    assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert h.tensors["b.weight"].numel == 15


def test_reads_only_the_length_and_the_header_of_a_real_size_file(tmp_path: Path, counted: list[int]) -> None:
    p = tmp_path / "expert.safetensors"
    size = write_sparse(str(p), sparse_tensors_for("i2v_high"))
    assert size > 14_000_000_000  # real-size, apparent only
    assert p.stat().st_blocks * 512 < 2_000_000  # sparse: a few hundred kB on disk
    h = read_header(p)
    assert counted == [8, h.header_size]  # nothing after the header is asked for
    assert h.file_size == size == h.data_end
    assert len(h.tensors) > 1000


def test_truncated_when_the_file_ends_before_the_last_tensor(tmp_path: Path) -> None:
    full = write_sparse(str(tmp_path / "full.safetensors"), sparse_tensors_for("vae"))
    cut = write_sparse(str(tmp_path / "cut.safetensors"), sparse_tensors_for("vae"), size=full // 2)
    h = read_header(tmp_path / "cut.safetensors")
    assert h.truncated and h.file_size == cut and h.data_end == full
    assert not _library_opens(tmp_path / "cut.safetensors")  # the library agrees it cannot load


def test_trailing_bytes_are_reported(tmp_path: Path) -> None:
    p = tmp_path / "t.safetensors"
    write_safetensors(str(p), [("a", torch.ones(4))], {})
    with open(p, "ab") as f:
        f.write(b"\0" * 100)
    h = read_header(p)
    assert h.trailing_bytes == 100 and not h.truncated
    assert not _library_opens(p)  # safetensors refuses: "file not fully covered"


def _library_error(path: Path) -> str:
    try:
        with safetensors.safe_open(str(path), framework="np"):
            return ""
    except Exception as e:
        return str(e)


def test_why_the_reader_is_hand_written_the_library_cannot_tell_cut_short_from_extra_bytes(tmp_path: Path) -> None:
    """The reason in safetensors_header's docstring, kept measured: safe_open gives a download that
    stopped at a third and a file with extra bytes the same error; this reader says which, and how much."""
    full = write_sparse(str(tmp_path / "full.safetensors"), sparse_tensors_for("vae"))
    write_sparse(str(tmp_path / "cut.safetensors"), sparse_tensors_for("vae"), size=full // 3)
    write_sparse(str(tmp_path / "long.safetensors"), sparse_tensors_for("vae"), size=full + 4096)
    cut_err, long_err = _library_error(tmp_path / "cut.safetensors"), _library_error(tmp_path / "long.safetensors")
    assert cut_err and cut_err == long_err, (cut_err, long_err)  # one message for two different damages
    cut, long = read_header(tmp_path / "cut.safetensors"), read_header(tmp_path / "long.safetensors")
    assert cut.truncated and round(100 * cut.file_size / cut.data_end) == 33 and not cut.trailing_bytes
    assert long.trailing_bytes == 4096 and not long.truncated


# ------------------------------------------------------------------ what it refuses

CORRUPT_CASES: dict[str, tuple[Any, bytes, int | None, str]] = {
    # name: (header, data, length override, expected reason)
    "bad_json": (b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]', b"\0" * 4, None, "bad_json"),
    "not_an_object": (b"[1, 2, 3]", b"", None, "bad_json"),
    "not_utf8": (b'{"\xff\xfe": 1}', b"", None, "bad_json"),
    "missing_offsets": ({"a": {"dtype": "F32", "shape": [1]}}, b"\0" * 4, None, "bad_entry"),
    "shape_not_ints": ({"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}, b"\0" * 4, None, "bad_entry"),
    "negative_shape": ({"a": {"dtype": "F32", "shape": [-1, -4], "data_offsets": [0, 16]}}, b"\0" * 16, None, "bad_entry"),
    "size_mismatch": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4, None, "bad_offsets"),
    "offsets_reversed": ({"a": {"dtype": "U8", "shape": [0], "data_offsets": [4, 0]}}, b"\0" * 4, None, "bad_offsets"),
    "overlap": ({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                 "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}, b"\0" * 6, None, "bad_offsets"),
    "gap": ({"a": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}}, b"\0" * 8, None, "bad_offsets"),
    "metadata_not_object": ({"__metadata__": [1], "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}},
                            b"\0", None, "bad_entry"),
    "zero_length_header": (b"", b"", 0, "bad_json"),
    "header_longer_than_file": ({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"", 4096, "header_past_eof"),
    "absurd_length_2_60": (b"", b"", 2**60, "header_too_large"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_CASES))
def test_malformed_headers_are_refused_with_a_reason(tmp_path: Path, case: str) -> None:
    header, data, length, reason = CORRUPT_CASES[case]
    p = _raw(tmp_path / f"{case}.safetensors", header, data, length)
    with pytest.raises(HeaderError) as ei:
        read_header(p)
    assert ei.value.reason == reason, str(ei.value)
    assert str(ei.value)  # a readable reason, not an empty message
    assert not _library_opens(p), "the safetensors library would load it: the reader must not refuse it"


def test_absurd_length_is_refused_without_allocating_it(tmp_path: Path, counted: list[int]) -> None:
    p = _raw(tmp_path / "huge.safetensors", b"{}", length=2**60)
    with pytest.raises(HeaderError, match="limit"):
        read_header(p)
    assert counted == [8]  # the length field was read; the 2**60 bytes were never asked for


def test_length_just_over_the_limit_is_refused_before_reading(tmp_path: Path, counted: list[int]) -> None:
    p = tmp_path / "big.safetensors"
    with open(p, "wb") as f:
        f.write(struct.pack("<Q", MAX_HEADER_BYTES + 1))
        f.truncate(MAX_HEADER_BYTES + 64)  # sparse: the file is long enough, the limit still applies
    with pytest.raises(HeaderError) as ei:
        read_header(p)
    assert ei.value.reason == "header_too_large" and counted == [8]


@pytest.mark.parametrize("content", [b"", b"\x01\x02\x03", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, b"PK\x03\x04" + os.urandom(200),
                                     b"hello, this is a text file and not a model at all\n" * 4],
                         ids=["zero_length", "three_bytes", "png", "zip", "text"])
def test_non_safetensors_bytes_are_refused(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "x.safetensors"
    p.write_bytes(content)
    with pytest.raises(HeaderError) as ei:
        read_header(p)
    assert ei.value.reason in ("too_short", "header_too_large", "header_past_eof", "bad_json")


def test_a_fifo_is_refused_instead_of_blocking(tmp_path: Path) -> None:
    p = tmp_path / "pipe.safetensors"
    os.mkfifo(p)
    result: list[BaseException] = []
    t = threading.Thread(target=lambda: result.append(pytest.raises(HeaderError, read_header, p).value), daemon=True)
    t.start()
    t.join(5)
    assert not t.is_alive(), "read_header blocked on a FIFO"
    assert isinstance(result[0], HeaderError) and result[0].reason == "not_regular"


def test_unreadable_file_reports_the_os_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "locked.safetensors"
    write_safetensors(str(p), [("a", torch.ones(2))], {})

    def deny(*_a: Any, **_k: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(sh, "open", deny, raising=False)
    with pytest.raises(HeaderError) as ei:
        read_header(p)
    assert ei.value.reason == "unreadable" and "Permission denied" in str(ei.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_by_mode(tmp_path: Path) -> None:
    p = tmp_path / "locked.safetensors"
    write_safetensors(str(p), [("a", torch.ones(2))], {})
    p.chmod(0)
    with pytest.raises(HeaderError) as ei:
        read_header(p)
    assert ei.value.reason == "unreadable"


def test_every_accepted_header_is_loadable_by_the_library(tmp_path: Path) -> None:
    """Parity the other way: headers the reader accepts (and that are complete) load in safetensors."""
    cases = {
        "empty_tensor": {"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, "b": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}},
        "unordered_names": {"z": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}, "a": {"dtype": "I16", "shape": [3], "data_offsets": [2, 8]}},
        "metadata": {"__metadata__": {"k": "v"}, "a": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}},
        "scalar": {"a": {"dtype": "F64", "shape": [], "data_offsets": [0, 8]}},
    }
    for name, header in cases.items():
        h = header
        size = max(v["data_offsets"][1] for k, v in h.items() if k != "__metadata__")
        p = _raw(tmp_path / f"{name}.safetensors", json.dumps(h).encode(), b"\0" * size)
        parsed = read_header(p)
        assert not parsed.truncated and parsed.trailing_bytes == 0, name
        assert _library_opens(p), name


# ------------------------------------------------------------------ building headers

def test_build_header_pads_to_an_exact_total_size(tmp_path: Path) -> None:
    entry = BY_ROLE["vae"]
    assert entry.size_exact and entry.size is not None
    head, data = build_header(sparse_tensors_for("vae"), {"k": "v"}, total_size=entry.size)
    assert len(head) + data == entry.size
    p = tmp_path / entry.name
    with open(p, "wb") as f:
        f.write(head)
        f.truncate(entry.size)
    h = read_header(p)
    assert h.file_size == h.data_end == entry.size and h.metadata == {"k": "v"}
    with pytest.raises(ValueError, match="more than total_size"):
        build_header(sparse_tensors_for("vae"), total_size=1000)


def test_parse_header_on_bytes() -> None:
    head, data = build_header([("a", "F32", (2, 3)), ("b", "BF16", (4,))])
    h = parse_header(head[8:])
    assert h.data_size == data == 32 and h.shape("a") == (2, 3) and h.has("b") and not h.has("c")


@pytest.mark.parametrize("role", ["i2v_high", "animate", "text_encoder", "vae", "lora_i2v_480p"])
def test_bulk_checks_agree_with_the_per_tensor_loop(role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    head, data = build_header(sparse_tensors_for(role))
    fast = parse_header(head[8:])
    monkeypatch.setattr(sh, "_fast_data_size", lambda _entries: None)  # force the tensor-by-tensor loop
    slow = parse_header(head[8:])
    assert fast.data_size == slow.data_size == data
    assert fast.entries == slow.entries


@pytest.mark.parametrize("case", sorted(c for c, (h, _d, _n, reason) in CORRUPT_CASES.items()
                                        if isinstance(h, dict) and reason in ("bad_entry", "bad_offsets")
                                        and "__metadata__" not in h))
def test_bulk_checks_never_pass_a_malformed_entry(case: str) -> None:
    assert sh._fast_data_size(dict(CORRUPT_CASES[case][0])) is None


def test_sub_byte_dtypes_take_the_exact_path() -> None:
    head, data = build_header([("a", "F4", (3, 3)), ("b", "U8", (2,))])
    assert sh._fast_data_size(parse_header(head[8:]).entries) is None  # F4: not a whole byte per element
    assert parse_header(head[8:]).data_size == data == 5 + 2
