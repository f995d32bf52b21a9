"""The one table of loader inputs: which inputs of which node types name a model file, the folder
key each is read from, the kind of model expected, and which custom-node pack provides a node
type. Read from `wan22/data/loaders.json` (its `about` says how each part was taken, its
`sources` the repository and commit of every pack's part). Every reader of prompts uses it
through this module (graph.reader, graph.judge, graph.packs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data"
TABLE_FILE = DATA / "loaders.json"
# The kind a loader of each folder key expects (where the table does not say).
FOLDER_KIND = {"diffusion_models": "diffusion_model", "unet": "diffusion_model", "unet_gguf": "diffusion_model",
               "text_encoders": "text_encoder", "clip": "text_encoder", "clip_gguf": "text_encoder", "vae": "vae",
               "loras": "lora", "clip_vision": "clip_vision", "audio_encoders": "audio_encoder",
               "checkpoints": "checkpoint", "upscale_models": "upscale_model"}


@dataclass(frozen=True)
class FileInput:
    """One model-file input of a loader: by name (API) and widget position (UI), or a pattern of
    dynamic dict-valued inputs (`field` holds the file name, `on_field` the switch)."""

    folder: str
    kind: str
    name: str = ""
    widget: int | None = None
    required: bool = False
    none: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    field: str = ""
    on_field: str = ""
    format: str = "any"  # safetensors, gguf or any

    def matches(self, input_name: str) -> bool:
        return input_name == self.name if self.pattern is None else bool(self.pattern.match(input_name))


@dataclass(frozen=True)
class Loader:
    type: str
    pack: str  # "core" or a pack id
    inputs: tuple[FileInput, ...]


def _file_input(d: Mapping[str, Any]) -> FileInput:
    folder = canonical_folder(str(d["folder"]))
    return FileInput(folder=folder, format=str(d.get("format") or "any"), kind=str(d.get("kind") or FOLDER_KIND.get(folder, "other")),
                     name=str(d.get("name") or ""), widget=d.get("widget"), required=bool(d.get("required")),
                     none=tuple(str(v) for v in d.get("none") or ()),
                     pattern=re.compile(d["pattern"]) if d.get("pattern") else None,
                     field=str(d.get("field") or ""), on_field=str(d.get("on_field") or ""))


@lru_cache(maxsize=1)
def table() -> Mapping[str, Any]:
    """The whole table (wan22/data/loaders.json)."""
    data: dict[str, Any] = json.loads(TABLE_FILE.read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def loaders() -> Mapping[str, Loader]:
    return {t: Loader(t, str(e.get("pack") or "core"), tuple(_file_input(i) for i in e.get("inputs") or ()))
            for t, e in table()["loaders"].items()}


def loader(node_type: str) -> Loader | None:
    return loaders().get(node_type)


def core_object_info() -> dict[str, Mapping[str, Any]]:
    """ComfyUI's core loader nodes as /object_info entries (model lists empty)."""
    return dict(table()["object_info"])


def pack_object_info() -> dict[str, Mapping[str, Any]]:
    """This pack's own nodes as /object_info entries."""
    return dict(table()["pack_object_info"])


@lru_cache(maxsize=1)
def core_node_types() -> frozenset[str]:
    """Every node type the ComfyUI release of the table ships (`comfyui`)."""
    return frozenset(table()["core_nodes"])


@lru_cache(maxsize=1)
def output_node_types() -> frozenset[str]:
    return frozenset(table()["output_nodes"])


def comfyui_version() -> str:
    return str(table()["comfyui"])


def core_since(node_type: str) -> str | None:
    """The first ComfyUI release with this core node type, for core types newer than the table's
    ComfyUI (None: not a known newer core type; '' when known but the release is not verified)."""
    since = table().get("core_since") or {}
    if node_type in since:
        return str(since[node_type] or "")
    return "" if node_type in (table().get("core_newer_unversioned") or ()) else None


def folder_aliases(key: str) -> tuple[str, ...]:
    """The folder keys a pack's own key reads from (`unet_gguf` -> diffusion_models, unet)."""
    return tuple((table().get("folder_aliases") or {}).get(key) or ())


def canonical_folder(key: str) -> str:
    """The ComfyUI folder key whose folders a pack's own key (or a legacy name) lists:
    `unet_gguf` -> diffusion_models (the table's folder_aliases)."""
    if key in table()["folder_keys"]:
        return key
    return next((a for a in folder_aliases(key) if a in table()["folder_keys"]), key)


def packs() -> list[Mapping[str, Any]]:
    return list(table()["packs"])
