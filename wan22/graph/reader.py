"""The one reader of prompts: any workflow shape (graph.shapes) into one API-format graph (UI
workflows flattened as the frontend flattens them: subgraphs, bypassed and muted nodes, reroutes,
primitives, KJNodes' SetNode/GetNode), and for every node that reaches an output the model files
it loads (`ModelRef`: folder key, name, the kind of model expected, the catalog role for this
pack's nodes) or why an input cannot be judged before the workflow runs (`Unjudged`: it blocks).

What counts, as the executor counts it: only nodes that feed an output node (ComfyUI validates
and runs nothing else; an output node of an unknown type counts as an output), muted and bypassed
nodes left out as the frontend leaves them out. Every input of a node that runs is validated, the
lazy branch of a switch included, so a LoRA behind a switched-off "4-step" toggle still has to exist.

Which inputs are model files: the one loader table (graph.loaders: ComfyUI's core loaders, the
loaders of the custom packs Wan workflows use, with their folder keys and kinds); with a live
server, also any combo whose options are a model folder's listing (`listings`); this pack's own
nodes (graph.pack_nodes: Wan22BundleLoader's files per mode, Wan22ModeRouter's LoRAs per preset);
for other node types, the `properties.models` entries the frontend saved, else each string that
looks like a model file is named as one that cannot be judged. No I/O except this package's data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import WorkflowError
from .convert import GET_NODE, SET_NODE, Flattener, flatten
from .judge import NodeJudge
from .loaders import comfyui_version, core_node_types, core_object_info, core_since, loader, output_node_types, pack_object_info
from .pack_nodes import BUNDLE, PACK_NODE_IDS, PACK_OUTPUT_NODES, ROUTER
from .packs import frontend_only, pack_for
from .pairing import pairing_problems
from .records import UnknownNode, WorkflowRefs
from .shapes import read_shape
from .templates import subgraph_defs
from .widgets import VIRTUAL_NODE_TYPES, ObjectInfo, is_link, sorted_nodes

# Node types only the frontend has: a prompt that still holds one was not written by the frontend.
FRONTEND_ONLY = VIRTUAL_NODE_TYPES | {SET_NODE, GET_NODE}

__all__ = ["known_info", "read_workflow_file", "workflow_refs"]


def known_info(object_info: ObjectInfo | None = None) -> dict[str, Mapping[str, Any]]:
    """Node definitions to read a workflow with: the core loaders and this pack's nodes from our
    table, overlaid by the server's own `object_info` when there is one."""
    return {**pack_object_info(), **core_object_info(), **dict(object_info or {})}


def _is_output(ntype: str, info: Mapping[str, Mapping[str, Any]]) -> bool | None:
    """True/False for a known type, None for an unknown one."""
    if ntype in PACK_OUTPUT_NODES or ntype in output_node_types():
        return True
    if ntype in info:
        return bool(info[ntype].get("output_node"))
    if ntype in core_node_types() or ntype in PACK_NODE_IDS or loader(ntype) is not None:
        return False
    return None


def _reachable(prompt: Mapping[str, Any], info: Mapping[str, Mapping[str, Any]], notes: list[str]) -> list[str]:
    """Ids of the nodes that feed an output node (an unknown type counts as one), in id order."""
    starts = [k for k, v in sorted_nodes(prompt) if _is_output(str(v.get("class_type")), info) is not False]
    if not starts:
        notes.append("the workflow has no output node (SaveVideo, PreviewImage...): ComfyUI would run nothing; "
                     "every node's files are listed")
        return [k for k, _ in sorted_nodes(prompt)]
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        nid = stack.pop()
        if nid in seen or nid not in prompt:
            continue
        seen.add(nid)
        stack += [str(v[0]) for v in (prompt[nid].get("inputs") or {}).values() if is_link(v)]
    return [k for k, _ in sorted_nodes(prompt) if k in seen]


def _judge_node(col: NodeJudge, nid: str, node: Mapping[str, Any], live: bool) -> str | None:
    """Read one node; the type when nobody here knows it (None otherwise)."""
    ntype = str(node.get("class_type"))
    ld = loader(ntype)
    core = not live and ntype in core_node_types() and core_since(ntype) is None
    if ntype == BUNDLE:
        col.bundle(nid, node)
    elif ntype == ROUTER:
        col.router(nid, node)
    elif ld is not None and (not live or ntype in col.info):
        col.loader(nid, node, ld)
    elif ntype in col.info or core:
        col.by_listing(nid, node)
    elif col.is_subgraph_id(ntype):
        col.subgraph(nid, node)
    elif ntype in FRONTEND_ONLY:
        col.frontend_node(nid, node)
    elif ld is not None:
        col.loader(nid, node, ld)  # a loader the live server lacks: its files are still named (the type blocks)
    else:
        col.unknown(nid, node)
    if ntype in col.info or ntype in PACK_NODE_IDS or frontend_only(ntype) or col.is_subgraph_id(ntype) \
            or ntype in FRONTEND_ONLY:
        return None
    if core:
        return None
    return ntype


def workflow_refs(data: Any, object_info: ObjectInfo | None = None, listings: Mapping[str, Iterable[str]] | None = None,
                  manager_maps: Iterable[Path] = ()) -> WorkflowRefs:
    """The model references of a workflow of any shape (graph.shapes).
    `object_info`: a live server's node types (then an unknown type cannot run there);
    `listings`: {folder key: file names} of that server (or the volume), to recognise other packs'
    loaders and resolve Wan22BundleLoader's 'auto' inputs."""
    shaped = read_shape(data)
    info = known_info(object_info)
    fl: Flattener | None = None
    subgraph_ids: frozenset[str] = frozenset()
    if shaped.format == "ui":
        prompt, fl = flatten(shaped.workflow, info, strict=False)
        subgraph_ids = frozenset(subgraph_defs(shaped.workflow))
    else:
        prompt = shaped.workflow
    live = object_info is not None
    out = WorkflowRefs(shaped.format, prompt, live=live, shape=shaped.shape)
    col = NodeJudge(out, info, fl, listings, subgraph_ids)
    unknown: dict[str, list[str]] = {}
    out.runs = _reachable(prompt, info, out.notes)
    for nid in out.runs:
        ntype = _judge_node(col, nid, prompt[nid], live)
        if ntype is not None:
            unknown.setdefault(ntype, []).append(nid)
    out.conflicts = pairing_problems(out.refs)
    maps = list(manager_maps)
    out.unknown = [UnknownNode(t, tuple(ids), pack_for(t, maps), core_since(t), comfyui_version())
                   for t, ids in sorted(unknown.items())]
    return out


def read_workflow_file(path: str) -> Any:
    """A workflow file's parsed JSON; WorkflowError names the file when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise WorkflowError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise WorkflowError(f"{path}: cannot be read ({e})") from None
    except ValueError as e:
        raise WorkflowError(f"{path}: not valid JSON ({e})") from None
