"""Checks of a workflow against a server's /object_info, before anything is uploaded or queued:
`validate_ui` for a UI workflow (node types, widget values, links) and `preflight` for an API
prompt (node types, inputs, file names, links), with this pack's own rules (router pairing,
bundle files per mode) behind a small hook (`Rules`, default `pack_rules.Wan22Rules`).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from ..errors import WorkflowError
from ..graph.pack_nodes import PACK_NODE_IDS
from ..graph.widgets import (
    AUTOGROW,
    CONTROL_VALUES,
    DYNAMIC_COMBO,
    UI_VERSION,
    UPLOAD_FLAGS,
    VIRTUAL_NODE_TYPES,
    InputSpec,
    ObjectInfo,
    input_specs,
    is_link,
    links_by_id,
    named_widget_values,
    node_where,
    outputs_of,
    sequential,
    sorted_nodes,
    specs_of,
    types_compatible,
    widget_layout,
)
from .pack_rules import Wan22Rules

PACK_HINT = "install this pack (ComfyUI-Wan22) into ComfyUI's custom_nodes and restart ComfyUI"
OTHER_HINT = ("update ComfyUI if it is a core node, or install the custom node pack that provides it "
              "(ComfyUI-Manager: Install Missing Custom Nodes)")


class Rules(Protocol):
    """A node pack's own preflight rules (see pack_rules.Wan22Rules)."""

    def defers(self, class_type: str, name: str, value: Any) -> bool:
        """True: skip the generic value check of this input (the pack judges it)."""

    def check_node(self, nid: str, node: Mapping[str, Any], specs: Mapping[str, InputSpec]) -> list[str]:
        """Problems of one node, after its generic checks."""

    def check_prompt(self, prompt: Mapping[str, Any], object_info: ObjectInfo) -> list[str]:
        """Problems across nodes, after every node's checks."""


DEFAULT_RULES: Rules = Wan22Rules()


def check_value(spec: InputSpec, value: Any, *, check_choices: bool = True) -> str | None:
    """Why `value` is not legal for `spec` (None when it is): type, min/max, combo options."""
    t = spec.type
    if t == "INT":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{value!r} is not a whole number"
    elif t == "FLOAT":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            return f"{value!r} is not a number"
    elif t == "BOOLEAN":
        if not isinstance(value, bool):
            return f"{value!r} is not true/false"
    elif t == "STRING":
        if not isinstance(value, str):
            return f"{value!r} is not text"
    elif t in ("COMBO", DYNAMIC_COMBO):
        return _combo_problem(spec, value) if check_choices else None
    if t in ("INT", "FLOAT"):
        lo, hi = spec.options.get("min"), spec.options.get("max")
        if lo is not None and value < lo:
            return f"{value!r} is below the minimum {lo}"
        if hi is not None and value > hi:
            return f"{value!r} is above the maximum {hi}"
    return None


def _combo_problem(spec: InputSpec, value: Any) -> str | None:
    if spec.choices is None or value in spec.choices:
        return None
    near = difflib.get_close_matches(str(value), [str(c) for c in spec.choices], n=2, cutoff=0.5)
    hint = f"; closest: {', '.join(repr(n) for n in near)}" if near else ""
    shown = ", ".join(repr(c) for c in spec.choices[:8]) + (", ..." if len(spec.choices) > 8 else "")
    return f"{value!r} is not one of the server's options ({shown or 'none'}){hint}"


def missing_node_hint(class_type: str) -> str:
    """What to do about a node type the server does not have: this pack's ids name the pack."""
    return PACK_HINT if class_type in PACK_NODE_IDS else OTHER_HINT


# --------------------------------------------------------------------------- UI workflows

def validate_ui(workflow: Mapping[str, Any], object_info: ObjectInfo) -> list[str]:
    """Problems of a UI workflow against a server: node types exist, every widget value is legal
    (combos in the server's lists, numbers within min/max), links are consistent and type-check."""
    problems: list[str] = []
    if workflow.get("version") != UI_VERSION:
        problems.append(f"workflow version {workflow.get('version')!r}: expected {UI_VERSION}")
    graph = _UIGraph(workflow, object_info)
    for nid, node in sorted(graph.nodes.items()):
        if str(node.get("type")) in VIRTUAL_NODE_TYPES:
            continue
        problems += graph.node_problems(nid, node)
    return sorted(set(problems), key=problems.index)


class _UIGraph:
    """A UI workflow's nodes and links, checked one node at a time against /object_info."""

    def __init__(self, workflow: Mapping[str, Any], object_info: ObjectInfo) -> None:
        self.nodes = {int(n["id"]): n for n in workflow.get("nodes", [])}
        self.links = links_by_id(workflow)
        self.object_info = object_info

    def node_problems(self, nid: int, node: Mapping[str, Any]) -> list[str]:
        where = node_where(node)
        defn = self.object_info.get(str(node.get("type")))
        if defn is None:
            return [f"{where}node type is not on this server"]
        values = list(node.get("widgets_values") or [])
        try:
            named_widget_values(defn, values, where)
        except WorkflowError as e:
            return [str(e)]
        problems = _widget_problems(defn, values, where)
        specs = {s.name: s for s in input_specs(defn)}
        for slot_index, slot in enumerate(node.get("inputs") or []):
            problems += self.slot_problems(nid, node, slot_index, slot, specs)
        for spec in specs.values():
            if not spec.optional and not spec.is_widget and not any(
                    s.get("name") == spec.name and s.get("link") is not None for s in node.get("inputs") or []):
                problems.append(f"{where}required input {spec.name!r} ({spec.type}) is not connected")
        return problems

    def slot_problems(self, nid: int, node: Mapping[str, Any], slot_index: int, slot: Mapping[str, Any],
                      specs: Mapping[str, InputSpec]) -> list[str]:
        where, name = node_where(node), slot.get("name")
        spec = specs.get(str(name))
        if spec is None and "." not in str(name):
            return [f"{where}input slot {name!r} is not an input of {node.get('type')}"]
        if slot.get("link") is None:
            return []
        link = self.links.get(int(slot["link"]))
        if link is None:
            return [f"{where}input {name!r} points at link {slot['link']}, which does not exist"]
        problems = []
        _, origin, _oslot, target, tslot, _ltype = link
        if int(target) != nid or int(tslot) != slot_index:
            problems.append(f"{where}link {link[0]} says it ends at node {target} slot {tslot}, "
                            f"but it is on slot {slot_index}")
        src = self.nodes.get(int(origin))
        if src is None:
            return [*problems, f"{where}input {name!r} comes from node {origin}, which does not exist"]
        in_type = spec.type if spec is not None else str(slot.get("type"))
        return problems + self.source_problems(where, str(name), in_type, link, src)

    def source_problems(self, where: str, name: str, in_type: str, link: list[Any], src: Mapping[str, Any]) -> list[str]:
        _, origin, oslot, _, _, ltype = link
        src_defn = self.object_info.get(str(src.get("type")))
        if src_defn is None:
            return []
        outs = outputs_of(src_defn)
        if int(oslot) >= len(outs):
            return [f"{where}input {name!r} comes from output {oslot} of node {origin}, which has {len(outs)} outputs"]
        problems = []
        out_type = outs[int(oslot)][1]
        if not types_compatible(out_type, in_type):
            problems.append(f"{where}input {name!r} ({in_type}) is linked to output "
                            f"{outs[int(oslot)][0]!r} ({out_type}) of node {origin} ({src.get('type')})")
        if ltype not in (None, "*") and not types_compatible(str(ltype), out_type):
            problems.append(f"{where}link {link[0]} is typed {ltype} but output {oslot} of node {origin} is {out_type}")
        src_outs = src.get("outputs") or []
        src_out = src_outs[int(oslot)] if int(oslot) < len(src_outs) else None
        if src_out is None or link[0] not in (src_out.get("links") or []):
            problems.append(f"node {origin} ({src.get('type')}): output {oslot} does not list link {link[0]}")
        return problems


def _widget_problems(defn: Mapping[str, Any], values: list[Any], where: str) -> list[str]:
    problems = []
    for w, value in widget_layout(defn, sequential(values)):
        if w.spec is not None:
            why = check_value(w.spec, value)
            if why:
                problems.append(f"{where}widget {w.name}: {why}")
        elif w.type == "control" and value not in CONTROL_VALUES:
            problems.append(f"{where}{w.name} {value!r} is not one of {', '.join(CONTROL_VALUES)}")
    return problems


# --------------------------------------------------------------------------- API prompts

def preflight(prompt: Mapping[str, Any], object_info: ObjectInfo, *, skip_files: Iterable[tuple[str, str]] = (),
              rules: Rules | None = None) -> list[str]:
    """Every problem that would make the server reject or fail `prompt`, found before anything
    is uploaded or queued: unknown node types, missing or illegal inputs, file names the server
    does not have (with the closest name), dangling or mistyped links, and the pack's `rules`
    (default: the Wan 2.2 router's pairing rules: bundle/router mode, expert and LoRA files,
    LoRA vs preset). `skip_files` are (node id, input) pairs whose file is uploaded just before
    queueing."""
    check = _PromptCheck(prompt, object_info, rules if rules is not None else DEFAULT_RULES, skip_files)
    problems: list[str] = []
    for nid, node in sorted_nodes(prompt):
        problems += check.node_problems(nid, node)
    return problems + check.rules.check_prompt(prompt, object_info)


class _PromptCheck:
    """One preflight run: the prompt, the server's node types, the pack rules, the skipped files."""

    def __init__(self, prompt: Mapping[str, Any], object_info: ObjectInfo, rules: Rules,
                 skip_files: Iterable[tuple[str, str]]) -> None:
        self.prompt = prompt
        self.object_info = object_info
        self.rules = rules
        self.skip = {(str(a), str(b)) for a, b in skip_files}

    def node_problems(self, nid: str, node: Mapping[str, Any]) -> list[str]:
        ctype = str(node.get("class_type"))
        defn = self.object_info.get(ctype)
        if defn is None:
            return [f"node {nid} ({ctype}): node type is not installed on the server: {missing_node_hint(ctype)}"]
        inputs = node.get("inputs", {}) or {}
        specs = _prompt_specs(defn, inputs)
        problems: list[str] = []
        for spec in specs.values():
            problems += self.input_problems(nid, ctype, spec, inputs)
        return problems + self.rules.check_node(nid, node, specs)

    def input_problems(self, nid: str, ctype: str, spec: InputSpec, inputs: Mapping[str, Any]) -> list[str]:
        where, name = f"node {nid} ({ctype}): ", spec.name
        if name not in inputs:
            if spec.type == AUTOGROW:
                least = int((spec.options.get("template") or {}).get("min") or 0)
                if sum(1 for k in inputs if str(k).startswith(f"{name}.")) < least and not spec.optional:
                    return [f"{where}input group {name!r} needs at least {least} input(s) ({name}.<name>)"]
                return []
            if not spec.optional and "." not in name and not (spec.is_widget and "default" in spec.options):
                return [f"{where}required input {name!r} is missing"]
            return []
        value = inputs[name]
        if is_link(value):
            return self.link_problems(where, spec, value)
        if not spec.is_widget:
            return [f"{where}input {name!r} ({spec.type}) must be linked to another node's output"]
        if isinstance(value, dict) and "__value__" in value:
            value = value["__value__"]
        if self.rules.defers(ctype, name, value) or (nid, name) in self.skip:
            return []
        why = check_value(spec, value)
        if not why:
            return []
        if spec.type == "COMBO" and spec.options.get(_upload_flag(spec)):
            why += " (upload it with submit --image/--audio, or put it in ComfyUI's input folder)"
        return [f"{where}input {name!r}: {why}"]

    def link_problems(self, where: str, spec: InputSpec, value: list[Any]) -> list[str]:
        name = spec.name
        src = self.prompt.get(value[0])
        if src is None:
            return [f"{where}input {name!r} is linked to node {value[0]}, which is not in the workflow"]
        sdef = self.object_info.get(str(src.get("class_type")))
        if sdef is None:
            return []
        outs = outputs_of(sdef)
        if value[1] >= len(outs):
            return [f"{where}input {name!r} is linked to output {value[1]} of node {value[0]} "
                    f"({src.get('class_type')}), which has {len(outs)} outputs"]
        if not types_compatible(outs[value[1]][1], spec.type):
            return [f"{where}input {name!r} needs {spec.type} but node {value[0]} "
                    f"({src.get('class_type')}) output {value[1]} gives {outs[value[1]][1]}"]
        return []


def _prompt_specs(defn: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, InputSpec]:
    """A node type's input specs plus the dynamic combo children the prompt selects (e.g. "format.codec")
    and the autogrow inputs it sends (e.g. "values.a", typed as the group's template input)."""
    specs = {s.name: s for s in input_specs(defn)}
    for s in list(specs.values()):
        if s.type == AUTOGROW:
            tpl = ((s.options.get("template") or {}).get("input") or {})
            child = next(iter(specs_of(tpl, s.name)), None)
            for key in inputs:
                if child is not None and str(key).startswith(f"{s.name}."):
                    specs.setdefault(str(key), InputSpec(str(key), child.type, child.options, child.choices, True))
        if s.type == DYNAMIC_COMBO:
            for opt in s.options.get("options", ()):
                if opt.get("key") == inputs.get(s.name):
                    for child in specs_of(opt.get("inputs") or {}, s.name):
                        specs.setdefault(child.name, child)
    return specs


def _upload_flag(spec: InputSpec) -> str:
    return next((f for f in UPLOAD_FLAGS if spec.options.get(f)), "image_upload")
