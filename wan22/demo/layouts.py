"""Tensor layouts (names, shapes, dtypes) of ComfyUI's Wan modules, captured from ComfyUI by
tools/gen_layouts.py and stored as data, so stand-ins can be written without ComfyUI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Layout:
    name: str
    config: dict[str, Any]
    tensors: tuple[tuple[str, tuple[int, ...], str], ...]  # (key, shape, torch dtype name)


@cache
def load(name: str) -> Layout:
    path = DATA / "layouts" / f"{name}.json"
    doc = json.loads(path.read_text())
    tensors = tuple((k, tuple(s), d) for k, s, d in doc["tensors"])
    return Layout(doc["name"], doc["config"], tensors)


def names() -> list[str]:
    return sorted(p.stem for p in (DATA / "layouts").glob("*.json"))


def tiny_spiece_model() -> bytes:
    return (DATA / "tiny_spiece.model").read_bytes()
