"""ComfyUI's official Wan 2.2 workflow templates, as the `comfyui-workflow-templates` packages that
ComfyUI installs ship them (found through importlib, never by a path), and the node types a UI
workflow uses (its subgraphs included).
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import WorkflowError
from .widgets import JSON

TEMPLATE_PACKAGE = "comfyui_workflow_templates_json"
# Every Wan 2.2 template of the package ComfyUI 0.33.0 pins (json 0.1.50): 14B i2v, t2v, flf2v,
# s2v, fun control/inpaint/camera, 5B ti2v and fun, Animate 2.
WAN22_TEMPLATES: tuple[str, ...] = (
    "video_wan2_2_14B_i2v", "video_wan2_2_14B_t2v", "video_wan2_2_14B_flf2v", "video_wan2_2_14B_s2v",
    "video_wan2_2_14B_fun_control", "video_wan2_2_14B_fun_inpaint", "video_wan2_2_14B_fun_camera",
    "video_wan2_2_5B_ti2v", "video_wan2_2_5B_fun_control", "video_wan2_2_5B_fun_inpaint",
    "video_wan_animate2", "video_wan_animate2_distilled",
)


def templates_available() -> str | None:
    """None when the templates package is installed, else why not (with the fix)."""
    try:
        importlib.resources.files(TEMPLATE_PACKAGE)
    except ModuleNotFoundError:
        return (f"the {TEMPLATE_PACKAGE} package is not installed (ComfyUI's requirements install it: "
                "pip install comfyui-workflow-templates)")
    return None


def load_template(name: str) -> JSON:
    """The template `name` (a file stem, e.g. 'video_wan2_2_14B_i2v') as parsed JSON."""
    why = templates_available()
    if why:
        raise WorkflowError(why)
    path = importlib.resources.files(TEMPLATE_PACKAGE) / "templates" / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkflowError(f"no template {name!r} in {TEMPLATE_PACKAGE}") from None
    if not isinstance(data, dict):
        raise WorkflowError(f"template {name!r} is not a workflow object")
    return data


def subgraph_defs(workflow: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A UI workflow's subgraph definitions by id (`definitions.subgraphs`)."""
    defs = (workflow.get("definitions") or {}).get("subgraphs") or []
    return {str(d["id"]): d for d in defs if isinstance(d, Mapping) and "id" in d}


def _all_nodes(workflow: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from workflow.get("nodes") or []
    for d in subgraph_defs(workflow).values():
        yield from d.get("nodes") or []


def template_node_types(workflow: Mapping[str, Any]) -> list[str]:
    """Every node type a UI workflow uses, inside its subgraphs too (subgraph instances excluded)."""
    defs = subgraph_defs(workflow)
    return sorted({str(n.get("type")) for n in _all_nodes(workflow) if str(n.get("type")) not in defs})
