"""Which custom-node pack provides a node type ComfyUI does not have.

Two sources, in order: the loader table's `packs` (graph.loaders: the packs Wan 2.2 workflows use,
exact node names or the pack's naming pattern, and the loaders each provides), then ComfyUI-Manager's node
map (`extension-node-map.json`) when a local copy exists: the `comfyui_manager` package ComfyUI
installs, a ComfyUI-Manager checkout in custom_nodes, or the Manager's cache in the user folder.
Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .loaders import loaders, packs

MANAGER_MAP = "extension-node-map.json"
MAX_MAP_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Pack:
    """A custom-node pack: its registry id (when known), name, repository and where we learnt it."""

    id: str
    name: str
    url: str
    source: str  # "wan22 loader table" or the node map's path

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "url": self.url, "source": self.source}

    def hint(self) -> str:
        """How to get the pack (registry id when we have one)."""
        via = f"`comfy node install {self.id}` or " if self.id else ""
        return f"install {self.name} ({self.url}): {via}ComfyUI-Manager, then restart ComfyUI"


@dataclass(frozen=True)
class _Row:
    pack: Pack
    nodes: frozenset[str]
    pattern: re.Pattern[str] | None
    frontend_only: frozenset[str]


@lru_cache(maxsize=1)
def _table() -> tuple[_Row, ...]:
    rows = []
    by_pack: dict[str, set[str]] = {}
    for ntype, ld in loaders().items():
        by_pack.setdefault(ld.pack, set()).add(ntype)
    for p in packs():
        pack = Pack(str(p["id"]), str(p["name"]), str(p["url"]), "wan22 loader table")
        pattern = re.compile(p["pattern"]) if p.get("pattern") else None
        nodes = frozenset(p.get("nodes") or ()) | frozenset(by_pack.get(str(p["id"]), ()))
        rows.append(_Row(pack, nodes, pattern, frozenset(p.get("frontend_only") or ())))
    return tuple(rows)


def frontend_only(node_type: str) -> bool:
    """A known pack's node that lives only in the frontend (never in a prompt the server runs)."""
    return any(node_type in row.frontend_only for row in _table())


def manager_map_candidates(comfyui: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where a local ComfyUI-Manager node map may be: the comfyui_manager package, a ComfyUI-Manager
    checkout in `comfyui`'s custom_nodes, the Manager's cache under `comfyui`'s user folder."""
    out: list[Path] = []
    spec = importlib.util.find_spec("comfyui_manager")
    if spec is not None and spec.submodule_search_locations:
        out += [Path(p) / MANAGER_MAP for p in spec.submodule_search_locations]
    if comfyui:
        root = Path(comfyui)
        out.append(root / "custom_nodes" / "ComfyUI-Manager" / MANAGER_MAP)
        cache = root / "user" / "default" / "ComfyUI-Manager" / "cache"
        if cache.is_dir():
            out += sorted(cache.glob(f"*{MANAGER_MAP}"))
    return [p for p in out if p.is_file()]


@lru_cache(maxsize=4)
def _manager_map(path: str, mtime: float) -> tuple[dict[str, Pack], tuple[tuple[re.Pattern[str], Pack], ...]]:  # noqa: ARG001
    """{node type: pack} and (name pattern, pack) pairs from one node map (cached per file version)."""
    if os.path.getsize(path) > MAX_MAP_BYTES:
        return {}, ()
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, ()
    names: dict[str, Pack] = {}
    patterns: list[tuple[re.Pattern[str], Pack]] = []
    for url, entry in (data.items() if isinstance(data, dict) else ()):
        if not (isinstance(entry, list) and entry and isinstance(entry[0], list)):
            continue
        meta = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
        pack = Pack("", str(meta.get("title_aux") or url.rstrip("/").rsplit("/", 1)[-1]), str(url), path)
        for n in entry[0]:
            names.setdefault(str(n), pack)
        if meta.get("nodename_pattern"):
            try:
                patterns.append((re.compile(str(meta["nodename_pattern"])), pack))
            except re.error:
                pass
    return names, tuple(patterns)


def pack_for(node_type: str, manager_maps: Iterable[Path] = ()) -> Pack | None:
    """The pack that provides `node_type`, or None when no source knows it."""
    for row in _table():
        if node_type in row.nodes:
            return row.pack
    for row in _table():
        if row.pattern is not None and row.pattern.search(node_type):
            return row.pack
    for p in manager_maps:
        try:
            names, patterns = _manager_map(str(p), p.stat().st_mtime)
        except OSError:
            continue
        if node_type in names:
            return names[node_type]
        for pat, pack in patterns:
            if pat.search(node_type):
                return pack
    return None
