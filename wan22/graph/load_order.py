"""The files of a reading in the order ComfyUI's loaders ask for them, node by node: a loader's
inputs in the order it names them; Wan22BundleLoader's text encoder, VAE, CLIP vision and audio
encoder when it runs; Wan22ModeRouter's stages (the expert, then its LoRAs), as the router loads
them one stage at a time. The same files as the reading's references, ordered for the prefetcher.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .pack_nodes import BUNDLE, BUNDLE_LOAD_ORDER, ROUTER, safe_router_stages
from .records import WorkflowRefs


def node_files(wf: WorkflowRefs, listings: Mapping[str, Iterable[str]] | None = None) -> dict[str, list[tuple[str, str]]]:
    """{node id: [(folder key, name), ...] in load order} for every node that loads a file."""
    lists = {k: list(v) for k, v in (listings or {}).items()} or None
    out: dict[str, list[tuple[str, str]]] = {}
    for r in wf.refs:
        ntype = (wf.prompt.get(r.node) or {}).get("class_type")
        if ntype == ROUTER:
            continue  # the router's files come stage by stage, below
        if ntype == BUNDLE and r.folder not in BUNDLE_LOAD_ORDER:
            continue  # the experts load with the router
        out.setdefault(r.node, []).append((r.folder, r.name))
    for nid, files in out.items():
        if (wf.prompt.get(nid) or {}).get("class_type") == BUNDLE:
            files.sort(key=lambda f: BUNDLE_LOAD_ORDER.index(f[0]))
    for nid in wf.runs:
        node = wf.prompt.get(nid) or {}
        if node.get("class_type") == ROUTER:
            stages, _why = safe_router_stages(node, wf.prompt, lists)
            out[nid] = [(f.folder, f.name) for stage in stages for f in stage]
    return out
