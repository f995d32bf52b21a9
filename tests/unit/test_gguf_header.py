"""The bounded GGUF header reader against the `gguf` package (llama.cpp's own Python library):
its type tables, files its writer writes, files ours writes read by its reader; and damage:
cut short, not GGUF, counts and lengths bigger than the file."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from wan22.demo.community_standins import gguf_header_bytes, gguf_tensors, write_gguf_sparse
from wan22.volume.gguf_header import FILE_TYPES, GGML_TYPES, KEEP_ARRAY, GGUFError, read_gguf_header

gguf = pytest.importorskip("gguf")


def test_type_tables_are_the_gguf_package_s() -> None:
    sizes = {int(t): v for t, v in gguf.GGML_QUANT_SIZES.items()}
    for code, (name, block, width) in GGML_TYPES.items():
        assert gguf.GGMLQuantizationType(code).name == name
        assert sizes[code] == (block, width), name
    for code, name in FILE_TYPES.items():
        assert gguf.LlamaFileType(code).name in (name, f"MOSTLY_{name}", f"ALL_{name}"), (code, name)


def _package_file(path: Path, vocab: int = 0) -> dict[str, np.ndarray]:
    tensors = {
        "patch_embedding.weight": np.arange(2 * 2 * 1 * 36 * 8, dtype=np.float32).reshape(8, 36, 1, 2, 2),
        "blocks.0.self_attn.q.weight": np.ones((8, 32), dtype=np.float16),
        "head.modulation": np.zeros((1, 2, 8), dtype=np.float32),
    }
    w = gguf.GGUFWriter(str(path), "wan")
    w.add_file_type(17)
    w.add_string("wan22.stand_in", "true")
    w.add_array("comfy.gguf.orig_shape.x", [3, 4, 5])
    if vocab:
        w.add_array("tokenizer.ggml.tokens", [f"tok{i}" for i in range(vocab)])
        w.add_array("tokenizer.ggml.scores", [0.5] * vocab)
    for name, arr in tensors.items():
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tensors


def test_reads_what_the_gguf_writer_writes(tmp_path: Path) -> None:
    p = tmp_path / "m.gguf"
    tensors = _package_file(p, vocab=KEEP_ARRAY + 200)
    g = read_gguf_header(p)
    ref = gguf.GGUFReader(str(p))
    assert g.architecture == "wan" and g.file_type == "Q5_K_M" and g.version == 3
    assert g.metadata["wan22.stand_in"] == "true"
    assert g.metadata["comfy.gguf.orig_shape.x"] == [3, 4, 5]
    assert g.metadata["tokenizer.ggml.tokens"] == ("array", KEEP_ARRAY + 200)
    assert list(g.tensors) == [t.name for t in ref.tensors] == list(tensors)
    for t in ref.tensors:
        mine = g.tensors[t.name]
        assert mine.shape == tensors[t.name].shape == tuple(int(d) for d in reversed(t.shape))
        assert mine.ggml_type == int(t.tensor_type)
        assert g.data_start + mine.offset == int(t.data_offset)
        assert mine.nbytes == int(t.n_bytes)
    assert not g.truncated and g.data_end <= g.file_size


def test_the_gguf_reader_reads_what_ours_writes(tmp_path: Path) -> None:
    p = tmp_path / "sparse.gguf"
    tensors = gguf_tensors("tiny_i2v", quant="Q8_0")
    write_gguf_sparse(str(p), tensors, {"general.architecture": "wan", "general.file_type": 7, "wan22.stand_in": "true"})
    ref = gguf.GGUFReader(str(p))
    assert [t.name for t in ref.tensors] == [n for n, _, _ in tensors]
    for t, (_, tname, shape) in zip(ref.tensors, tensors):
        assert t.tensor_type.name == tname and tuple(int(d) for d in reversed(t.shape)) == shape
    mine = read_gguf_header(p)
    assert [(n, t.type_name, t.shape) for n, t in mine.tensors.items()] == tensors
    assert mine.file_type == "Q8_0"


def test_cut_short_in_the_data_reads_truncated(tmp_path: Path) -> None:
    p = tmp_path / "cut.gguf"
    tensors = gguf_tensors("real_i2v")
    head, data = gguf_header_bytes(tensors, {"general.architecture": "wan"})
    write_gguf_sparse(str(p), tensors, {"general.architecture": "wan"}, size=len(head) + data // 3)
    g = read_gguf_header(p)
    assert g.truncated and g.file_size == len(head) + data // 3 and g.data_end > g.file_size
    whole = tmp_path / "whole.gguf"
    write_gguf_sparse(str(whole), tensors, {"general.architecture": "wan"})
    assert not read_gguf_header(whole).truncated


def test_cut_short_in_the_header(tmp_path: Path) -> None:
    p = tmp_path / "m.gguf"
    _package_file(p)
    raw = p.read_bytes()
    (tmp_path / "head.gguf").write_bytes(raw[:200])
    with pytest.raises(GGUFError) as e:
        read_gguf_header(tmp_path / "head.gguf")
    assert e.value.reason == "header_past_eof"


@pytest.mark.parametrize("content, reason", [
    (b"<html>404 Not Found</html>" * 4, "not_gguf"),
    (b"GGUF", "too_short"),
    (b"GGUF" + struct.pack("<IQQ", 1, 0, 0) + b"\0" * 8, "bad_version"),
])
def test_not_gguf(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "x.gguf"
    p.write_bytes(content)
    with pytest.raises(GGUFError) as e:
        read_gguf_header(p)
    assert e.value.reason == reason


def _patched(tmp_path: Path, offset: int, value: int) -> Path:
    p = tmp_path / "m.gguf"
    if not p.exists():
        _package_file(p)
    b = bytearray(p.read_bytes())
    b[offset:offset + 8] = struct.pack("<Q", value)
    out = tmp_path / f"patched_{offset}.gguf"
    out.write_bytes(bytes(b))
    return out


@pytest.mark.parametrize("offset, what", [(8, "tensor count"), (16, "key/value count"), (24, "first key's length")])
def test_huge_counts_are_refused_at_once(tmp_path: Path, offset: int, what: str) -> None:
    p = _patched(tmp_path, offset, 2**40)
    t0 = time.perf_counter()
    with pytest.raises(GGUFError) as e:
        read_gguf_header(p)
    assert time.perf_counter() - t0 < 0.5
    assert e.value.reason == "bad_entry", (what, e.value)
    assert "more than" in str(e.value)


def test_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)
    with pytest.raises(GGUFError) as e:
        read_gguf_header(fifo)
    assert e.value.reason == "not_regular"


def test_a_long_tokenizer_is_skipped_quickly(tmp_path: Path) -> None:
    """umT5's GGUF carries a 256,384-token vocabulary: it is walked, not materialised."""
    p = tmp_path / "tok.gguf"
    vocab = 256_384
    w = gguf.GGUFWriter(str(p), "t5encoder")
    w.add_array("tokenizer.ggml.tokens", [f"t{i}" for i in range(vocab)])
    w.add_tensor("token_embd.weight", np.zeros((4, 32), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    t0 = time.perf_counter()
    g = read_gguf_header(p)
    elapsed = time.perf_counter() - t0
    assert g.metadata["tokenizer.ggml.tokens"] == ("array", vocab)
    assert g.tensors["token_embd.weight"].shape == (4, 32)
    assert elapsed < 2.0  # about 0.1 s unloaded; GGUFReader took 13.9 s on the same file
