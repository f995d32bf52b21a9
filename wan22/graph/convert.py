"""UI workflow -> API prompt, without ComfyUI, subgraphs included, and reading a workflow file of
either format.

Why hand-written: ComfyUI's server has no converter (POST /prompt takes only the API format);
the conversion (`graphToPrompt`) lives only in the TypeScript frontend, shipped to Python as a
prebuilt browser bundle (comfyui-frontend-package 1.49), which needs a browser and a live app.
`submit`, the RunPod request writer, the inventory's workflow check and the unit tests must
convert UI workflows on a machine with neither, so the frontend's rules are re-stated here.
Checks: every example's conversion equals its API twin (tests/unit/test_example_workflows.py), every
Wan 2.2 template of ComfyUI's template package equals what the real frontend's
`app.graphToPrompt()` makes of it (tests/unit/test_convert_subgraphs.py against snapshots taken
by tools/gen_template_fixtures.py, and live in tests/browser/test_check_workflow.py).

Two formats:

* **UI format** is what the frontend saves and what users drag onto the canvas: `nodes` (with
  `widgets_values` in widget order, sockets in `inputs`/`outputs`), `links`
  `[id, from_node, from_slot, to_node, to_slot, type]`, `groups`, `definitions.subgraphs`,
  `config`, `extra`, `version`.
* **API format** is what `POST /prompt` takes: `{"<node id>": {"class_type", "inputs", "_meta"}}`
  where an input is a value or a link `["<node id>", output_slot]`.

The frontend's rules (1.49, `graphToPrompt` and `ExecutableNodeDTO`), as :func:`ui_to_api` applies
them:

* every node is flattened to an execution id: `<id>` at the top, `<instance>:<id>` inside a
  subgraph instance (nested: `a:b:c`); the inner nodes of a muted or bypassed top-level
  instance are left out, as the frontend leaves them out;
* frontend-only nodes (Note, MarkdownNote, Reroute, PrimitiveNode, subgraph instances) and
  muted or bypassed nodes are not in the prompt; a bypassed node passes an input of the wanted
  type through (the frontend's `_getBypassSlotIndex`), a Reroute its one input, a muted node
  nothing; a PrimitiveNode writes its value into the widgets it feeds (`applyToGraph`);
  KJNodes' frontend-only GetNode passes what feeds the SetNode of the same name (same graph);
* a node's widgets are restored by position from `widgets_values` (a short list leaves the
  remaining widgets at their defaults, extra values are ignored), and every widget the frontend
  sends is sent; a seed's `control_after_generate` and upload buttons are not;
* a linked input replaces its widget value; an input linked to a subgraph input takes what feeds
  the instance's input outside, or, when that is a promoted widget, the instance's widget value
  (`widgets_values` of the instance, in the order of its widget inputs; without one, the inner
  widget's own value);
* links to nodes that are not in the prompt are dropped.

The widget order of a node type is derived from its /object_info entry exactly as the frontend
derives it (:func:`wan22.graph.widgets.widget_layout`). With `strict=False` (:func:`flatten`),
node types missing from `object_info` are kept (links only) so that a workflow's graph can be
walked without a server (the model references of wan22.graph.reader).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import WorkflowError
from .shapes import is_api_prompt as is_api_prompt
from .shapes import is_ui_workflow as is_ui_workflow
from .shapes import load_prompt_file as load_prompt_file
from .templates import subgraph_defs
from .widgets import (
    FRONTEND_EXTRA_INPUTS,
    JSON,
    MODE_BYPASS,
    MODE_MUTED,
    VIRTUAL_NODE_TYPES,
    ObjectInfo,
    display_name,
    is_link,
    links_by_id,
    named_widget_values,
    node_where,
    widget_layout,
)

MAX_LINK_DEPTH = 256
# KJNodes' frontend-only pair: a GetNode's output is what feeds the SetNode of the same name.
SET_NODE, GET_NODE = "SetNode", "GetNode"
SUBGRAPH_INPUT_NODE = -10
SUBGRAPH_OUTPUT_NODE = -20


# --------------------------------------------------------------------------- the litegraph rules

def valid_connection(a: Any, b: Any) -> bool:
    """LiteGraph.isValidConnection: '*', '' and missing match anything; 'A,B' unions; case-blind."""
    a = 0 if a in ("", "*") else a
    b = 0 if b in ("", "*") else b
    if not a or not b or a == b:
        return True
    sa, sb = str(a).lower(), str(b).lower()
    if "," not in sa and "," not in sb:
        return sa == sb
    return any(valid_connection(x, y) for x in sa.split(",") for y in sb.split(","))


@dataclass
class _Graph:
    """One graph level: the top-level workflow or a subgraph definition."""

    nodes: dict[int, Mapping[str, Any]]
    links: dict[int, list[Any]]
    inputs: list[Mapping[str, Any]] = field(default_factory=list)  # a definition's subgraph inputs
    outputs: list[Mapping[str, Any]] = field(default_factory=list)


def _graph(data: Mapping[str, Any], remap: Mapping[int, int] | None = None) -> _Graph:
    remap = remap or {}
    links = links_by_id(data)
    for link in links.values():
        link[1] = remap.get(int(link[1]), link[1])
        link[3] = remap.get(int(link[3]), link[3])
    return _Graph({remap.get(int(n["id"]), int(n["id"])): n for n in data.get("nodes") or []}, links,
                  list(data.get("inputs") or []), list(data.get("outputs") or []))


def _unique_ids(workflow: Mapping[str, Any], defs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[int, int]]:
    """{definition id: {old node id: new id}}: the frontend gives a node of a subgraph definition
    whose id is already taken (at the top level or by an earlier definition) the next free id
    after the workflow's last one (LGraph.configure, deduplicateSubgraphNodeIds)."""
    used = {int(n["id"]) for n in workflow.get("nodes") or []}
    last = max([int(workflow.get("last_node_id") or 0), int((workflow.get("state") or {}).get("lastNodeId") or 0),
                *used])
    out: dict[str, dict[int, int]] = {}
    for key, d in defs.items():
        remap: dict[int, int] = {}
        for n in d.get("nodes") or []:
            nid = int(n["id"])
            if nid in used:
                while last + 1 in used:
                    last += 1
                last += 1
                remap[nid] = last
                used.add(last)
            else:
                used.add(nid)
                last = max(last, nid)
        out[key] = remap
    return out


@dataclass
class FlatNode:
    """One UI node at its execution id, with the graph it lives in and the instance around it."""

    id: str
    nid: int  # its id in its graph (after the frontend's de-duplication)
    node: Mapping[str, Any]
    graph: _Graph
    path: tuple[int, ...]  # ids of the subgraph instances around it, outermost first
    parent: FlatNode | None  # the subgraph instance it is inside

    @property
    def type(self) -> str:
        return str(self.node.get("type"))

    @property
    def mode(self) -> int:
        return int(self.node.get("mode") or 0)

    def where(self) -> str:
        return f"node {self.id} ({self.type}): "


Source = tuple[str, int] | tuple[None, Any] | None  # (exec id, slot) | (None, value) | None


class Flattener:
    """The frontend's ExecutableNodeDTO network for one workflow: execution ids, input and output
    resolution through subgraphs, bypassed nodes and reroutes, promoted widget values."""

    def __init__(self, workflow: Mapping[str, Any], object_info: ObjectInfo) -> None:
        self.object_info = object_info
        raw_defs = subgraph_defs(workflow)
        remaps = _unique_ids(workflow, raw_defs)
        self.defs = {k: _graph(v, remaps[k]) for k, v in raw_defs.items()}
        self.root = _graph(workflow)
        self.nodes: dict[str, FlatNode] = {}
        self._widget_cache: dict[str, dict[str, Any]] = {}
        self._primitive_values: dict[tuple[int, int, str], Any] = {}  # (graph id, node id, widget) -> value
        for g in [self.root, *self.defs.values()]:
            self._apply_primitives(g)
        for nid in sorted(self.root.nodes):
            fn = FlatNode(str(nid), nid, self.root.nodes[nid], self.root, (), None)
            self.nodes[fn.id] = fn
            if fn.mode not in (MODE_MUTED, MODE_BYPASS):
                self._add_inner(fn, 0)

    # ---- structure

    def is_instance(self, fn: FlatNode) -> bool:
        return fn.type in self.defs

    def _add_inner(self, fn: FlatNode, depth: int) -> None:
        if not self.is_instance(fn):
            return
        if depth > len(self.defs):
            raise WorkflowError(f"{fn.where()}subgraphs nest in a loop")
        g = self.defs[fn.type]
        path = (*fn.path, fn.nid)
        for nid in sorted(g.nodes):
            inner = FlatNode(":".join(str(p) for p in (*path, nid)), nid, g.nodes[nid], g, path, fn)
            self.nodes[inner.id] = inner
            self._add_inner(inner, depth + 1)  # nested instances are expanded whatever their mode (as the frontend does)

    def inputs_of(self, fn: FlatNode) -> list[Mapping[str, Any]]:
        """The node's input slots; an instance's are its definition's inputs, linked by name."""
        own = list(fn.node.get("inputs") or [])
        if not self.is_instance(fn):
            return own
        by_name = {str(i.get("name")): i for i in own}
        return [{"name": d.get("name"), "type": d.get("type"), "link": (by_name.get(str(d.get("name"))) or {}).get("link")}
                for d in self.defs[fn.type].inputs]

    def outputs_of(self, fn: FlatNode) -> list[Mapping[str, Any]]:
        if self.is_instance(fn):
            return list(self.defs[fn.type].outputs)
        return list(fn.node.get("outputs") or [])

    def _sibling(self, fn: FlatNode, node_id: int) -> FlatNode | None:
        return self.nodes.get(":".join(str(p) for p in (*fn.path, node_id)))

    # ---- resolution (ExecutableNodeDTO.resolveInput / resolveOutput)

    def resolve_input(self, fn: FlatNode, slot: int, want: str | None = None, depth: int = 0) -> Source:
        """What feeds input `slot` of `fn`: (exec id, output slot), (None, value) for a promoted
        widget's value, or None (unconnected, or fed by nothing that runs)."""
        if depth > MAX_LINK_DEPTH:
            raise WorkflowError(f"{fn.where()}links form a loop")
        ins = self.inputs_of(fn)
        if slot < 0 or slot >= len(ins) or ins[slot].get("link") is None:
            return None
        link = fn.graph.links.get(int(ins[slot]["link"]))
        if link is None:
            return None
        _, origin, oslot, _, _, _ = link
        if int(origin) == SUBGRAPH_INPUT_NODE and fn.parent is not None:
            return self._from_instance_input(fn.parent, int(oslot), depth)
        src = self._sibling(fn, int(origin))
        if src is None:
            return None
        return self.resolve_output(src, int(oslot), want or ins[slot].get("type"), depth + 1)

    def _from_instance_input(self, inst: FlatNode, slot: int, depth: int) -> Source:
        ins = self.inputs_of(inst)
        if slot >= len(ins):
            return None
        if ins[slot].get("link") is None:
            promoted = self.promoted_values(inst)
            name = str(ins[slot].get("name"))
            return (None, promoted[name]) if name in promoted else None
        return self.resolve_input(inst, slot, None, depth + 1)

    def resolve_output(self, fn: FlatNode, slot: int, want: Any, depth: int = 0) -> Source:
        if depth > MAX_LINK_DEPTH:
            raise WorkflowError(f"{fn.where()}links form a loop")
        if fn.mode == MODE_MUTED:
            return None
        if fn.mode == MODE_BYPASS:
            idx = self._bypass_slot(fn, slot, want)
            return None if idx < 0 else self.resolve_input(fn, idx, want, depth + 1)
        if self.is_instance(fn):
            return self._instance_output(fn, slot, want, depth)
        if fn.type == "Reroute":
            return self.resolve_input(fn, 0, want, depth + 1)
        if fn.type == GET_NODE:
            setter = self._setter(fn)
            return None if setter is None else self.resolve_input(setter, 0, want, depth + 1)
        if fn.type in VIRTUAL_NODE_TYPES or fn.type == SET_NODE:
            return None
        return fn.id, slot

    def _setter(self, getter: FlatNode) -> FlatNode | None:
        """The SetNode (KJNodes, frontend only) whose name a GetNode reads, in the same graph."""
        name = (getter.node.get("widgets_values") or [None])[0]
        for nid, node in getter.graph.nodes.items():
            if node.get("type") == SET_NODE and (node.get("widgets_values") or [None])[0] == name:
                return self._sibling(getter, nid)
        return None

    def _instance_output(self, fn: FlatNode, slot: int, want: Any, depth: int) -> Source:
        g = self.defs[fn.type]
        if slot >= len(g.outputs):
            return None
        for link_id in g.outputs[slot].get("linkIds") or []:
            link = g.links.get(int(link_id))
            if link is None:
                continue
            origin = int(link[1])
            if origin == SUBGRAPH_INPUT_NODE:
                return self._from_instance_input(fn, int(link[2]), depth)
            inner = self.nodes.get(":".join(str(p) for p in (*fn.path, fn.nid, origin)))
            return None if inner is None else self.resolve_output(inner, int(link[2]), want, depth + 1)
        return None

    def _bypass_slot(self, fn: FlatNode, slot: int, want: Any) -> int:
        ins = self.inputs_of(fn)
        outs = self.outputs_of(fn)
        out_type = outs[slot].get("type") if slot < len(outs) else None
        if want in ("*", ""):
            return slot if len(ins) > slot else 0
        if slot < len(ins) and valid_connection(ins[slot].get("type"), out_type) and valid_connection(ins[slot].get("type"), want):
            return slot
        exact = next((i for i, s in enumerate(ins) if s.get("type") == want), -1)
        if exact >= 0:
            return exact
        return next((i for i, s in enumerate(ins) if valid_connection(s.get("type"), out_type)
                     and valid_connection(s.get("type"), want)), -1)

    # ---- widgets

    def widget_values(self, fn: FlatNode) -> dict[str, Any]:
        """{widget name: value} the frontend sends for a node (its type must be in object_info)."""
        hit = self._widget_cache.get(fn.id)
        if hit is not None:
            return hit
        defn = self.object_info[fn.type]
        wv = fn.node.get("widgets_values")
        if isinstance(wv, dict):  # a custom widget format: by name
            named = {k: v for k, v in wv.items() if isinstance(k, str)}
            values = {w.name: named.get(w.name, w.default) for w, _ in widget_layout(defn, lambda w: w.default)
                      if w.serialize}
        else:
            values = frontend_widget_values(defn, list(wv or []))
        gid = id(fn.graph)
        for name in list(values):
            key = (gid, fn.nid, name)
            if key in self._primitive_values:
                values[name] = self._primitive_values[key]
        self._widget_cache[fn.id] = values
        return values

    def promoted_values(self, inst: FlatNode) -> dict[str, Any]:
        """{subgraph input name: value} of an instance's promoted widgets (SubgraphNode
        `_applyPromotedWidgetValues`): the instance's widgets_values by position over its widget
        inputs, else the inner widget's own value."""
        out: dict[str, Any] = {}
        wv = inst.node.get("widgets_values")
        values = list(wv) if isinstance(wv, list) else []
        n = 0
        for d in self.defs[inst.type].inputs:
            source = self._promoted_source(inst, d)
            if source is None:
                continue
            out[str(d.get("name"))] = values[n] if n < len(values) else source()
            n += 1
        return out

    def _promoted_source(self, inst: FlatNode, d: Mapping[str, Any]) -> Any:
        """A callable giving the inner widget value a subgraph input is promoted from, or None."""
        g = self.defs[inst.type]
        path = (*inst.path, inst.nid)
        for link_id in d.get("linkIds") or []:
            link = g.links.get(int(link_id))
            if link is None:
                continue
            inner = self.nodes.get(":".join(str(p) for p in (*path, int(link[3]))))
            if inner is None:
                continue
            slot = next((s for s in inner.node.get("inputs") or [] if s.get("link") == link[0]), None)
            if slot is None:
                continue
            wname = (slot.get("widget") or {}).get("name")
            if self.is_instance(inner):
                promoted = self.promoted_values(inner)
                key = str(slot.get("name"))
                if key in promoted:
                    return lambda v=promoted[key]: v
                continue
            if wname and inner.type in self.object_info:
                return lambda fn=inner, w=str(wname): self.widget_values(fn).get(w)
            if wname:
                return lambda: None
        return None

    def _apply_primitives(self, g: _Graph) -> None:
        """PrimitiveNode.applyToGraph: its value goes into the widget of every input it feeds."""
        for nid, node in g.nodes.items():
            if node.get("type") != "PrimitiveNode" or not node.get("widgets_values"):
                continue
            value = node["widgets_values"][0]
            for out in node.get("outputs") or []:
                for link_id in out.get("links") or []:
                    link = g.links.get(int(link_id))
                    target = g.nodes.get(int(link[3])) if link else None
                    if link is None or target is None or int(link[1]) != nid:
                        continue
                    ins = target.get("inputs") or []
                    slot = ins[int(link[4])] if int(link[4]) < len(ins) else None
                    wname = ((slot or {}).get("widget") or {}).get("name")
                    if wname:
                        self._primitive_values[(id(g), int(link[3]), str(wname))] = value


def frontend_widget_values(defn: Mapping[str, Any], values: list[Any]) -> dict[str, Any]:
    """{name: value} of the widgets the frontend sends, restored from widgets_values by position
    as LGraphNode.configure does: widgets past the end of the list keep their defaults, values
    past the last widget are ignored."""
    it = iter(values)
    missing = object()

    def pick(w: Any) -> Any:
        v = next(it, missing)
        return w.default if v is missing else v

    return {w.name: v for w, v in widget_layout(defn, pick) if w.serialize}


# --------------------------------------------------------------------------- UI -> API

def _api_node(fl: Flattener, fn: FlatNode, strict: bool) -> JSON | None:
    """One node as an API prompt entry (widgets by name, then resolved inputs); None for a node
    the prompt leaves out."""
    if fn.type in VIRTUAL_NODE_TYPES or fn.type in (SET_NODE, GET_NODE) or fl.is_instance(fn) \
            or fn.mode in (MODE_MUTED, MODE_BYPASS):
        return None
    known = fn.type in fl.object_info
    if not known and strict:
        raise WorkflowError(f"{fn.where()}node type not in /object_info: install the pack that provides it")
    inputs: JSON = dict(FRONTEND_EXTRA_INPUTS.get(fn.type, {}))
    if known:
        for name, value in fl.widget_values(fn).items():
            inputs[name] = {"__value__": value} if isinstance(value, list) else value
    for i, slot in enumerate(fl.inputs_of(fn)):
        src = fl.resolve_input(fn, i)
        if src is None:
            continue
        if src[0] is None:
            inputs[str(slot["name"])] = {"__value__": src[1]} if isinstance(src[1], list) else src[1]
        else:
            inputs[str(slot["name"])] = [str(src[0]), int(src[1])]
    title = fn.node.get("title") or (display_name(fl.object_info, fn.type) if known else fn.type)
    return {"inputs": inputs, "class_type": fn.type, "_meta": {"title": title}}


def flatten(workflow: Mapping[str, Any], object_info: ObjectInfo, strict: bool = True) -> tuple[JSON, Flattener]:
    """(the API prompt, the flattened graph) of a UI workflow. `strict`: a node type missing from
    object_info is an error (the server would refuse it); otherwise it is kept with its links only."""
    fl = Flattener(workflow, object_info)
    prompt: JSON = {}
    for fn in fl.nodes.values():
        entry = _api_node(fl, fn, strict)
        if entry is not None:
            prompt[fn.id] = entry
    for entry in prompt.values():  # links to nodes that are not in the prompt are dropped
        for k, v in list(entry["inputs"].items()):
            if is_link(v) and v[0] not in prompt:
                del entry["inputs"][k]
    return prompt, fl


def ui_to_api(workflow: Mapping[str, Any], object_info: ObjectInfo) -> JSON:
    """The API prompt the frontend would queue for `workflow` (see the module docstring)."""
    return flatten(workflow, object_info, strict=True)[0]


def check_widget_counts(workflow: Mapping[str, Any], object_info: ObjectInfo) -> list[str]:
    """Nodes whose widgets_values do not match their type's widgets (the frontend quietly keeps
    defaults or drops values there; usually the node's inputs changed since the file was saved)."""
    out = []
    for fn in Flattener(workflow, object_info).nodes.values():
        wv = fn.node.get("widgets_values")
        if fn.type in object_info and isinstance(wv, list) and fn.type not in VIRTUAL_NODE_TYPES:
            try:
                named_widget_values(object_info[fn.type], list(wv), node_where(fn.node))
            except WorkflowError as e:
                out.append(str(e))
    return out
