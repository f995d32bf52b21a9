"""The model files any workflow loads: every reference, with its folder key, file name, node and
what kind of model the node expects, from a UI workflow (subgraphs, bypassed and muted nodes,
primitives, reroutes, `properties.models` links) or an API prompt.

Why this wing (api/) and not volume/: the references are a fact of the graph, and reading a UI
graph is the UI -> API conversion (convert.flatten: subgraph flattening, bypass, promoted widget
values), which lives here. volume/ may not import api/ (one floor, two wings), so this module
hands out plain records (`ModelRef`), and the volume wing judges them (volume/workflow_check.py)
without knowing where they came from; the callers one floor up (cli/inventory, the ComfyUI
route) join the two. No I/O except reading this package's data files.

What counts, as the executor counts it: only nodes that feed an output node (ComfyUI validates
and runs nothing else), muted and bypassed nodes left out as the frontend leaves them out. Every
input of a node that runs is validated, the lazy branch of a switch included, so a LoRA behind
a switched-off "4-step" toggle still has to exist.

Which inputs are model files: the loader nodes ComfyUI ships, with their folder keys, from
wan22/data/loader_nodes.json (taken from a real ComfyUI by tools/gen_template_fixtures.py: a
combo listing a probe file of folder <key> lists <key>); with a live server, also any combo whose
options are a model folder's listing (`listings`); the loaders of the custom packs Wan workflows
use (wan22/data/node_packs.json); for other unknown node types, the `properties.models` entries
the frontend saved, when the node's widgets still name that file; and this pack's own nodes
(Wan22BundleLoader's files per mode, Wan22ModeRouter's LoRAs per preset).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..catalog import BY_ROLE, MODEL_EXTENSIONS
from ..errors import PlanError, WorkflowError
from ..plan.bundle_spec import AUTO, BUNDLE_INPUTS, NONE
from ..plan.overrides import overrides_from_inputs
from ..plan.routing import resolve
from .convert import Flattener, flatten, load_prompt_file
from .packs import Pack, frontend_only, loader_inputs, pack_for
from .preflight import PACK_NODE_IDS
from .widgets import JSON, ObjectInfo, input_specs, is_link, sorted_nodes

LOADERS_FILE = Path(__file__).resolve().parent.parent / "data" / "loader_nodes.json"
BUNDLE, ROUTER = "Wan22BundleLoader", "Wan22ModeRouter"
PACK_OUTPUT_NODES = frozenset({"Wan22VolumeInventory"})
FILE_EXTS = (*MODEL_EXTENSIONS, ".gguf", ".onnx")
# What a loader of each folder key expects (the volume wing maps these to header identities).
FOLDER_EXPECTS = {"diffusion_models": "diffusion_model", "text_encoders": "text_encoder", "vae": "vae",
                  "loras": "lora", "clip_vision": "clip_vision", "audio_encoders": "audio_encoder",
                  "checkpoints": "checkpoint"}


@dataclass(frozen=True)
class ModelRef:
    """One model file a workflow loads."""

    folder: str  # ComfyUI folder key
    name: str  # as the workflow names it (relative to the folder)
    node: str  # execution id: "12", or "129:95" inside a subgraph
    node_type: str
    input: str
    title: str
    expects: str  # diffusion_model, text_encoder, umt5_xxl, vae, lora, clip_vision, audio_encoder, checkpoint, or ""
    role: str | None = None  # the catalog role the node asks for (this pack's nodes)
    url: str | None = None  # download link the workflow carries (properties.models)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class UnknownNode:
    """A node type neither the server (or our snapshot of ComfyUI's core loaders) nor this pack has."""

    type: str
    nodes: tuple[str, ...]
    pack: Pack | None

    def hint(self) -> str:
        where = ", ".join(self.nodes[:6]) + (", ..." if len(self.nodes) > 6 else "")
        what = self.pack.hint() if self.pack else ("no known pack provides it: search its name in ComfyUI-Manager "
                                                   "(Install Missing Custom Nodes)")
        return f"node type {self.type} (node {where}): {what}"

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "nodes": list(self.nodes), "pack": self.pack.as_dict() if self.pack else None,
                "hint": self.hint()}


@dataclass
class WorkflowRefs:
    """Everything the check needs from one workflow."""

    format: str  # "ui" or "api"
    prompt: JSON  # the API prompt the graph amounts to (converted from a UI workflow)
    refs: list[ModelRef] = field(default_factory=list)
    unknown: list[UnknownNode] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    live: bool = False  # judged against a live server's node types (unknown types cannot run)


@lru_cache(maxsize=1)
def _loader_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(LOADERS_FILE.read_text(encoding="utf-8"))
    return data


def core_loaders() -> dict[str, Mapping[str, Any]]:
    """ComfyUI's core loader nodes as /object_info entries (model lists empty), each with `folders`."""
    return dict(_loader_data()["nodes"])


def core_node_types() -> frozenset[str]:
    """Every node type the ComfyUI release of our snapshot ships (loader_nodes.json `comfyui`)."""
    return frozenset(_loader_data()["core_nodes"])


def known_info(object_info: ObjectInfo | None = None) -> dict[str, Mapping[str, Any]]:
    """Node definitions to read a workflow with: the core loaders and this pack's nodes from our
    snapshot, overlaid by the server's own `object_info` when there is one."""
    base: dict[str, Mapping[str, Any]] = {**_loader_data()["pack_nodes"], **core_loaders()}
    return {**base, **dict(object_info or {})}


def _is_output(ntype: str, info: Mapping[str, Mapping[str, Any]]) -> bool | None:
    """True/False for a known type, None for an unknown one."""
    if ntype in PACK_OUTPUT_NODES or ntype in _loader_data()["output_nodes"]:
        return True
    if ntype in info:
        return bool(info[ntype].get("output_node"))
    if ntype in core_node_types() or ntype in PACK_NODE_IDS:
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


def _literal(prompt: Mapping[str, Any], value: Any, depth: int = 0) -> Any:
    """A value, following links to primitive nodes (PrimitiveString... `value`)."""
    while is_link(value) and depth < 16:
        src = prompt.get(value[0]) or {}
        if not str(src.get("class_type", "")).startswith("Primitive"):
            return value
        value = (src.get("inputs") or {}).get("value")
        depth += 1
    return value


def _looks_like_file(v: Any) -> bool:
    return isinstance(v, str) and v.strip() != "" and v.lower().endswith(FILE_EXTS)


def _expects(folder: str, ntype: str, inputs: Mapping[str, Any]) -> str:
    if folder == "text_encoders" and ntype == "CLIPLoader" and inputs.get("type") == "wan":
        return "umt5_xxl"  # CLIPLoader type 'wan' loads umT5-XXL
    return FOLDER_EXPECTS.get(folder, "")


class _Collect:
    """One extraction run: the prompt, node definitions, UI nodes (for properties.models) and output."""

    def __init__(self, out: WorkflowRefs, info: Mapping[str, Mapping[str, Any]], fl: Flattener | None,
                 listings: Mapping[str, Iterable[str]] | None) -> None:
        self.out = out
        self.prompt = out.prompt
        self.info = info
        self.fl = fl
        self.listings = {k: frozenset(v) for k, v in (listings or {}).items()}

    def ui_node(self, nid: str) -> Mapping[str, Any]:
        fn = self.fl.nodes.get(nid) if self.fl is not None else None
        return fn.node if fn is not None else {}

    def url_for(self, nid: str, name: str, folder: str) -> str | None:
        for m in (self.ui_node(nid).get("properties") or {}).get("models") or []:
            if isinstance(m, Mapping) and m.get("name") == name and m.get("directory", folder) == folder and m.get("url"):
                return str(m["url"])
        return None

    def add(self, nid: str, node: Mapping[str, Any], folder: str, inp: str, name: str, role: str | None = None) -> None:
        ntype = str(node.get("class_type"))
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
            self.out.notes.append(f"node {nid} ({ntype}): {inp} {name!r} is not a name inside a model folder "
                                  "(ComfyUI refuses it); it is not checked")
            return
        title = str((node.get("_meta") or {}).get("title") or ntype)
        expects = _expects(folder, ntype, node.get("inputs") or {})
        self.out.refs.append(ModelRef(folder, name, nid, ntype, inp, title, expects, role, self.url_for(nid, name, folder)))

    def folders_of(self, ntype: str) -> dict[str, str]:
        """{input: folder key} of a known node type's model inputs."""
        table = core_loaders().get(ntype)
        if table is not None:
            return {k: v[0] for k, v in table["folders"].items() if v}
        out: dict[str, str] = {}
        if not self.listings or ntype not in self.info:
            return out
        for spec in input_specs(self.info[ntype]):
            files = {c for c in spec.choices or () if _looks_like_file(c)}
            best = max(self.listings.items(), key=lambda kv: len(files & kv[1]), default=None)
            if files and best is not None and files <= best[1]:
                out[spec.name] = best[0]
        return out

    def known_node(self, nid: str, node: Mapping[str, Any]) -> None:
        ntype = str(node.get("class_type"))
        inputs = node.get("inputs") or {}
        for inp, folder in self.folders_of(ntype).items():
            value = _literal(self.prompt, inputs.get(inp))
            if is_link(value):
                self.out.notes.append(f"node {nid} ({ntype}): input {inp!r} is linked, so its file is only known when "
                                      "the workflow runs; it is not checked")
            elif _looks_like_file(value):
                self.add(nid, node, folder, inp, str(value))

    def unknown_node(self, nid: str, node: Mapping[str, Any]) -> None:
        ntype = str(node.get("class_type"))
        ui = self.ui_node(nid)
        wv = ui.get("widgets_values")
        values = list(wv) if isinstance(wv, list) else list(wv.values()) if isinstance(wv, dict) else []
        positions = loader_inputs(ntype)
        for pos, inp, folder in positions:
            if pos < len(values) and _looks_like_file(values[pos]):
                self.add(nid, node, folder, inp, str(values[pos]))
        if positions:
            return
        strings = {v for v in values if isinstance(v, str)}
        for m in (ui.get("properties") or {}).get("models") or []:
            if isinstance(m, Mapping) and m.get("name") in strings and m.get("directory"):
                self.add(nid, node, str(m["directory"]), "properties.models", str(m["name"]))

    def bundle(self, nid: str, node: Mapping[str, Any]) -> None:
        inputs = node.get("inputs") or {}
        mode = str(inputs.get("mode"))
        for inp in BUNDLE_INPUTS:
            role = inp.roles.get(mode)
            value = _literal(self.prompt, inputs.get(inp.name, AUTO)) or AUTO
            if role is None or (value == NONE and inp.optional) or is_link(value):
                continue
            self.add(nid, node, inp.folder, inp.name, BY_ROLE[role].name if value == AUTO else str(value), role)

    def router(self, nid: str, node: Mapping[str, Any]) -> None:
        inputs = node.get("inputs") or {}
        widgets = {k: v for k, v in inputs.items() if not is_link(v)}
        try:
            mode, preset = str(inputs.get("mode")), str(inputs.get("preset"))
            settings = resolve(mode, preset, overrides_from_inputs(mode, widgets))
        except PlanError as e:
            self.out.notes.append(f"node {nid} ({ROUTER}): {e}")
            return
        for stage, slot in zip(settings.loras, ("lora_high", "lora_low"), strict=False):
            for lo in stage:
                self.add(nid, node, "loras", slot, lo.file, lo.role)


def workflow_refs(data: Any, object_info: ObjectInfo | None = None, listings: Mapping[str, Iterable[str]] | None = None,
                  manager_maps: Iterable[Path] = ()) -> WorkflowRefs:
    """The model references of a workflow (UI or API format, or a {"prompt"} / RunPod wrapper).
    `object_info`: a live server's node types (then an unknown type cannot run there);
    `listings`: {folder key: file names} of that server, to recognise other packs' loaders."""
    kind, wf = load_prompt_file(data)
    info = known_info(object_info)
    fl: Flattener | None = None
    if kind == "ui":
        prompt, fl = flatten(wf, info, strict=False)
    else:
        prompt = wf
    out = WorkflowRefs(kind, prompt, live=object_info is not None)
    col = _Collect(out, info, fl, listings)
    unknown: dict[str, list[str]] = {}
    for nid in _reachable(prompt, info, out.notes):
        node = prompt[nid]
        ntype = str(node.get("class_type"))
        if ntype == BUNDLE:
            col.bundle(nid, node)
        elif ntype == ROUTER:
            col.router(nid, node)
        elif ntype in info:
            col.known_node(nid, node)
        else:
            col.unknown_node(nid, node)
            if ntype not in PACK_NODE_IDS and not frontend_only(ntype) and (
                    object_info is not None or ntype not in core_node_types()):
                unknown.setdefault(ntype, []).append(nid)
    maps = list(manager_maps)
    out.unknown = [UnknownNode(t, tuple(ids), pack_for(t, maps)) for t, ids in sorted(unknown.items())]
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
