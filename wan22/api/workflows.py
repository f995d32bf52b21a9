"""ComfyUI workflow formats, without ComfyUI: UI (frontend save format 0.4) <-> API prompt,
validation against a server's /object_info, the pre-flight that `submit` runs, and the
documented test/demo transformations of the example workflows.

Two formats:

* **UI format** is what the frontend saves and what users drag onto the canvas: `nodes` (with
  `widgets_values` in widget order, sockets in `inputs`/`outputs`), `links`
  `[id, from_node, from_slot, to_node, to_slot, type]`, `groups`, `config`, `extra`, `version`.
* **API format** is what `POST /prompt` takes: `{"<node id>": {"class_type", "inputs", "_meta"}}`
  where an input is a value or a link `["<node id>", output_slot]`.

:func:`ui_to_api` converts with the rules of the frontend's `graphToPrompt` (ComfyUI frontend
1.49): frontend-only nodes (Note, MarkdownNote, Reroute, PrimitiveNode) and muted nodes are
dropped, bypassed nodes pass their input through, each widget is matched to its value by
position, widgets that the frontend never sends (a seed's `control_after_generate`, upload
buttons) are skipped, a linked input replaces its widget value, and a dynamic combo
(`COMFY_DYNAMICCOMBO_V3`, e.g. SaveVideo's `format`) contributes its selected option's inputs as
`<name>.<child>` widgets right after itself. The widget order of a node type is derived from its
/object_info entry exactly as the frontend derives it (:func:`widget_layout`).
"""

from __future__ import annotations

import copy
import difflib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import PlanError, WorkflowError

JSON = dict[str, Any]
ObjectInfo = Mapping[str, Mapping[str, Any]]

UI_VERSION = 0.4
VIRTUAL_NODE_TYPES = frozenset({"Note", "MarkdownNote", "Reroute", "PrimitiveNode"})
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", DYNAMIC_COMBO})
CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize")
SEED_INPUTS = ("seed", "noise_seed")
MODE_MUTED = 2
MODE_BYPASS = 4
UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload")

# Inputs that frontend extensions add to a node's API inputs (ComfyUI frontend 1.49: the video
# preview widget of LoadVideo is sent as an empty string; the server ignores it).
FRONTEND_EXTRA_INPUTS: dict[str, dict[str, Any]] = {"LoadVideo": {"video-preview": ""}}
# Nodes whose widgets all come from frontend extensions (saved with widgets_values []).
FRONTEND_WIDGET_NODES = frozenset({"PreviewAny"})

# Inputs that name a file the user supplies (uploaded by `submit --image/--audio`).
FILE_INPUTS = {"LoadImage": "image", "LoadAudio": "audio", "LoadVideo": "file"}


# --------------------------------------------------------------------------- node definitions

@dataclass(frozen=True)
class InputSpec:
    name: str
    type: str  # "COMBO" for a list of options
    options: Mapping[str, Any]
    choices: tuple[Any, ...] | None  # COMBO options
    optional: bool

    @property
    def is_widget(self) -> bool:
        return self.type in WIDGET_TYPES and not self.options.get("forceInput")


@dataclass(frozen=True)
class Widget:
    """One frontend widget of a node. `serialize` False: the frontend keeps its value in
    widgets_values but never sends it to the server (control_after_generate, upload buttons)."""

    name: str
    type: str  # INT FLOAT STRING BOOLEAN COMBO COMFY_DYNAMICCOMBO_V3, or "control" / "upload"
    spec: InputSpec | None
    serialize: bool
    default: Any


def _spec(name: str, raw: Any, optional: bool) -> InputSpec:
    if not isinstance(raw, (list, tuple)) or not raw:
        raise WorkflowError(f"input {name!r}: unexpected /object_info entry {raw!r}")
    kind = raw[0]
    opts = raw[1] if len(raw) > 1 and isinstance(raw[1], dict) else {}
    if isinstance(kind, list):
        return InputSpec(name, "COMBO", opts, tuple(kind), optional)
    if kind == "COMBO":
        return InputSpec(name, "COMBO", opts, tuple(opts.get("options", ())), optional)
    if kind == DYNAMIC_COMBO:
        keys = tuple(o["key"] for o in opts.get("options", ()))
        return InputSpec(name, DYNAMIC_COMBO, opts, keys, optional)
    return InputSpec(name, str(kind), opts, None, optional)


def input_specs(defn: Mapping[str, Any]) -> list[InputSpec]:
    """Required then optional inputs of a node type, in the server's `input_order`."""
    inp = defn.get("input", {})
    order = defn.get("input_order") or {k: list(inp.get(k, {})) for k in ("required", "optional")}
    out: list[InputSpec] = []
    for section in ("required", "optional"):
        entries = inp.get(section, {}) or {}
        for name in order.get(section, list(entries)):
            if name in entries:
                out.append(_spec(name, entries[name], section == "optional"))
    return out


def _specs_of(inputs: Mapping[str, Any], prefix: str) -> list[InputSpec]:
    out: list[InputSpec] = []
    for section in ("required", "optional"):
        for name, raw in (inputs.get(section) or {}).items():
            out.append(_spec(f"{prefix}.{name}", raw, section == "optional"))
    return out


def _default(spec: InputSpec) -> Any:
    if "default" in spec.options:
        return spec.options["default"]
    if spec.choices:
        return spec.choices[0]
    return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(spec.type)


def _companions(spec: InputSpec) -> list[Widget]:
    """Frontend-only widgets that follow a widget (never sent to the server)."""
    out: list[Widget] = []
    cag = spec.options.get("control_after_generate")
    if spec.type == "INT" and (cag if cag is not None else spec.name in SEED_INPUTS):
        out.append(Widget("control_after_generate", "control", None, False, cag if isinstance(cag, str) else "randomize"))
    elif spec.type in ("FLOAT", "COMBO") and cag:
        out.append(Widget("control_after_generate", "control", None, False,
                          cag if isinstance(cag, str) else ("fixed" if spec.type == "FLOAT" else "randomize")))
    if spec.options.get("image_upload") or spec.options.get("video_upload"):
        out.append(Widget("upload", "upload", None, False, "image"))
    elif spec.options.get("audio_upload"):
        out += [Widget("audioUI", "upload", None, False, None), Widget("upload", "upload", None, False, None)]
    return out


def widget_layout(defn: Mapping[str, Any], value_for: Callable[[Widget], Any]) -> list[tuple[Widget, Any]]:
    """The node's widgets in the frontend's order, each with the value `value_for` gives it.

    The order depends on values only through dynamic combos: the selected option's inputs are
    inserted right after the combo (recursively), so `value_for` is called in widget order."""
    out: list[tuple[Widget, Any]] = []

    def visit(spec: InputSpec) -> None:
        w = Widget(spec.name, spec.type, spec, True, _default(spec))
        value = value_for(w)
        out.append((w, value))
        if spec.type == DYNAMIC_COMBO:
            for opt in spec.options.get("options", ()):
                if opt.get("key") == value:
                    for child in _specs_of(opt.get("inputs") or {}, spec.name):
                        if child.is_widget:
                            visit(child)
        for c in _companions(spec):
            out.append((c, value_for(c)))

    for spec in input_specs(defn):
        if spec.is_widget:
            visit(spec)
    return out


def widgets_values_from_names(defn: Mapping[str, Any], named: Mapping[str, Any]) -> list[Any]:
    """widgets_values in frontend order from {widget name: value}; missing names take the
    default. Companion values are given as '<name>:control_after_generate' (default 'randomize')."""
    last: list[str] = [""]

    def pick(w: Widget) -> Any:
        if w.serialize:
            last[0] = w.name
            return named.get(w.name, w.default)
        return named.get(f"{last[0]}:{w.name}", w.default)

    return [v for _, v in widget_layout(defn, pick)]


def _sequential(values: list[Any]) -> Callable[[Widget], Any]:
    it = iter(values)
    return lambda _w: next(it, None)


def named_widget_values(defn: Mapping[str, Any], values: list[Any], where: str = "") -> dict[str, Any]:
    """{name: value} of the widgets the frontend sends, from a node's widgets_values."""
    it = iter(values)
    missing = object()
    short: list[str] = []

    def pick(w: Widget) -> Any:
        v = next(it, missing)
        if v is missing:
            short.append(w.name)
            return w.default
        return v

    layout = widget_layout(defn, pick)
    if short:
        raise WorkflowError(f"{where}widgets_values has {len(values)} values but the node has {len(layout)} widgets "
                            f"(first without a value: {short[0]!r}); re-save the workflow with this ComfyUI")
    rest = list(it)
    if rest:
        raise WorkflowError(f"{where}widgets_values has {len(values)} values but the node has {len(layout)} widgets; "
                            "re-save the workflow with this ComfyUI (the node's inputs changed)")
    return {w.name: v for w, v in layout if w.serialize}


def socket_inputs(defn: Mapping[str, Any]) -> list[InputSpec]:
    """Inputs the frontend draws as sockets (not widgets), in slot order."""
    return [s for s in input_specs(defn) if not s.is_widget]


def outputs_of(defn: Mapping[str, Any]) -> list[tuple[str, str]]:
    types = defn.get("output", [])
    names = defn.get("output_name") or types
    return [(str(n), str(t)) for n, t in zip(names, types, strict=False)]


def display_name(object_info: ObjectInfo, class_type: str) -> str:
    d = object_info.get(class_type, {})
    return str(d.get("display_name") or class_type)


# --------------------------------------------------------------------------- format detection

def is_ui_workflow(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def is_api_prompt(data: Any) -> bool:
    return (isinstance(data, dict) and bool(data)
            and all(isinstance(v, dict) and "class_type" in v and isinstance(v.get("inputs", {}), dict)
                    for v in data.values()))


def load_prompt_file(data: Any) -> tuple[str, JSON]:
    """('api'|'ui', workflow) from a parsed JSON file; also accepts {"prompt": {...}} and a
    RunPod request body {"input": {"workflow": {...}}}."""
    if isinstance(data, dict) and isinstance(data.get("input"), dict) and "workflow" in data["input"]:
        data = data["input"]["workflow"]
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict) and is_api_prompt(data["prompt"]):
        data = data["prompt"]
    if is_api_prompt(data):
        return "api", dict(data)
    if is_ui_workflow(data):
        return "ui", dict(data)
    raise WorkflowError("not a ComfyUI workflow: expected an API-format prompt ({\"<id>\": {\"class_type\", \"inputs\"}}) "
                        "or a UI workflow (with \"nodes\" and \"links\")")


# --------------------------------------------------------------------------- UI -> API

def _links_by_id(wf: Mapping[str, Any]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for link in wf.get("links", []) or []:
        if isinstance(link, dict):  # 0.4 writes arrays; tolerate the object form
            link = [link["id"], link["origin_id"], link["origin_slot"], link["target_id"], link["target_slot"], link.get("type")]
        out[int(link[0])] = list(link)
    return out


def _node_where(node: Mapping[str, Any]) -> str:
    return f"node {node.get('id')} ({node.get('type')}): "


def ui_to_api(workflow: Mapping[str, Any], object_info: ObjectInfo) -> JSON:
    """The API prompt the frontend would queue for `workflow` (see the module docstring)."""
    if workflow.get("definitions", {}).get("subgraphs"):
        raise WorkflowError("workflows with subgraphs are not supported here: open it in ComfyUI and use "
                            "Workflow > Export (API)")
    nodes = {int(n["id"]): n for n in workflow.get("nodes", [])}
    links = _links_by_id(workflow)

    def source(link_id: int | None, want_type: str | None, depth: int = 0) -> tuple[int, int] | None:
        if link_id is None or link_id not in links or depth > 64:
            return None
        _, origin, oslot, _, _, ltype = links[link_id]
        node = nodes.get(int(origin))
        if node is None:
            return None
        mode = node.get("mode", 0)
        if node.get("type") == "Reroute":
            ins = node.get("inputs") or []
            return source(ins[0].get("link") if ins else None, want_type, depth + 1)
        if mode == MODE_MUTED or node.get("type") in VIRTUAL_NODE_TYPES:
            return None
        if mode == MODE_BYPASS:
            want = ltype if ltype not in (None, "*") else want_type
            ins = node.get("inputs") or []
            cands = ([ins[oslot]] if oslot < len(ins) and ins[oslot].get("type") == want else []) + \
                    [i for i in ins if i.get("type") == want]
            for i in cands:
                if i.get("link") is not None:
                    return source(i["link"], want, depth + 1)
            return None
        return int(origin), int(oslot)

    prompt: JSON = {}
    for nid in sorted(nodes):
        node = nodes[nid]
        ntype = str(node.get("type"))
        if ntype in VIRTUAL_NODE_TYPES or node.get("mode", 0) in (MODE_MUTED, MODE_BYPASS):
            continue
        defn = object_info.get(ntype)
        if defn is None:
            raise WorkflowError(f"{_node_where(node)}node type not in /object_info: install the pack that provides it")
        wv = node.get("widgets_values") or []
        if isinstance(wv, dict):
            raise WorkflowError(f"{_node_where(node)}widgets_values is a dict (a custom widget format); not supported")
        inputs: JSON = dict(FRONTEND_EXTRA_INPUTS.get(ntype, {}))
        for name, value in named_widget_values(defn, list(wv), _node_where(node)).items():
            inputs[name] = {"__value__": value} if isinstance(value, list) else value
        for slot in node.get("inputs") or []:
            src = source(slot.get("link"), slot.get("type"))
            if src is not None:
                inputs[str(slot["name"])] = [str(src[0]), src[1]]
        prompt[str(nid)] = {"inputs": inputs, "class_type": ntype,
                            "_meta": {"title": node.get("title") or display_name(object_info, ntype)}}
    for entry in prompt.values():  # links to nodes that are not in the prompt are dropped
        for k, v in list(entry["inputs"].items()):
            if _is_link(v) and v[0] not in prompt:
                del entry["inputs"][k]
    return prompt


def _is_link(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], int)


def strip_seeds(prompt: Mapping[str, Any]) -> JSON:
    """A copy without seed values (the equivalence check ignores seeds)."""
    out = copy.deepcopy(dict(prompt))
    for entry in out.values():
        for k in SEED_INPUTS:
            if k in entry.get("inputs", {}) and not _is_link(entry["inputs"][k]):
                entry["inputs"][k] = None
    return out


# --------------------------------------------------------------------------- validation

def _types_compatible(out_type: str, in_type: str) -> bool:
    if out_type == "*" or in_type == "*":
        return True
    a = set(out_type.split(","))
    b = set(in_type.split(","))
    return bool(a & b)


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
        if check_choices and spec.choices is not None and value not in spec.choices:
            near = difflib.get_close_matches(str(value), [str(c) for c in spec.choices], n=2, cutoff=0.5)
            hint = f"; closest: {', '.join(repr(n) for n in near)}" if near else ""
            shown = ", ".join(repr(c) for c in spec.choices[:8]) + (", ..." if len(spec.choices) > 8 else "")
            return f"{value!r} is not one of the server's options ({shown or 'none'}){hint}"
        return None
    if t in ("INT", "FLOAT"):
        lo, hi = spec.options.get("min"), spec.options.get("max")
        if lo is not None and value < lo:
            return f"{value!r} is below the minimum {lo}"
        if hi is not None and value > hi:
            return f"{value!r} is above the maximum {hi}"
    return None


def validate_ui(workflow: Mapping[str, Any], object_info: ObjectInfo) -> list[str]:
    """Problems of a UI workflow against a server: node types exist, every widget value is legal
    (combos in the server's lists, numbers within min/max), links are consistent and type-check."""
    problems: list[str] = []
    if workflow.get("version") != UI_VERSION:
        problems.append(f"workflow version {workflow.get('version')!r}: expected {UI_VERSION}")
    nodes = {int(n["id"]): n for n in workflow.get("nodes", [])}
    links = _links_by_id(workflow)
    for nid, node in sorted(nodes.items()):
        ntype = str(node.get("type"))
        where = _node_where(node)
        if ntype in VIRTUAL_NODE_TYPES:
            continue
        defn = object_info.get(ntype)
        if defn is None:
            problems.append(f"{where}node type is not on this server")
            continue
        values = list(node.get("widgets_values") or [])
        layout = widget_layout(defn, _sequential(values))
        try:
            named_widget_values(defn, values, where)
        except WorkflowError as e:
            problems.append(str(e))
            continue
        for w, value in layout:
            if w.spec is not None:
                why = check_value(w.spec, value)
                if why:
                    problems.append(f"{where}widget {w.name}: {why}")
            elif w.type == "control" and value not in CONTROL_VALUES:
                problems.append(f"{where}{w.name} {value!r} is not one of {', '.join(CONTROL_VALUES)}")
        specs = {s.name: s for s in input_specs(defn)}
        for slot_index, slot in enumerate(node.get("inputs") or []):
            name = slot.get("name")
            spec = specs.get(name)
            if spec is None and "." not in str(name):
                problems.append(f"{where}input slot {name!r} is not an input of {ntype}")
                continue
            if slot.get("link") is None:
                continue
            link = links.get(int(slot["link"]))
            if link is None:
                problems.append(f"{where}input {name!r} points at link {slot['link']}, which does not exist")
                continue
            _, origin, oslot, target, tslot, ltype = link
            if int(target) != nid or int(tslot) != slot_index:
                problems.append(f"{where}link {link[0]} says it ends at node {target} slot {tslot}, "
                                f"but it is on slot {slot_index}")
            src = nodes.get(int(origin))
            if src is None:
                problems.append(f"{where}input {name!r} comes from node {origin}, which does not exist")
                continue
            in_type = spec.type if spec is not None else str(slot.get("type"))
            src_defn = object_info.get(str(src.get("type")))
            if src_defn is not None:
                outs = outputs_of(src_defn)
                if int(oslot) >= len(outs):
                    problems.append(f"{where}input {name!r} comes from output {oslot} of node {origin}, "
                                    f"which has {len(outs)} outputs")
                    continue
                out_type = outs[int(oslot)][1]
                if not _types_compatible(out_type, in_type):
                    problems.append(f"{where}input {name!r} ({in_type}) is linked to output "
                                    f"{outs[int(oslot)][0]!r} ({out_type}) of node {origin} ({src.get('type')})")
                if ltype not in (None, "*") and not _types_compatible(str(ltype), out_type):
                    problems.append(f"{where}link {link[0]} is typed {ltype} but output {oslot} of node {origin} is {out_type}")
                src_out = (src.get("outputs") or [])[int(oslot)] if int(oslot) < len(src.get("outputs") or []) else None
                if src_out is None or link[0] not in (src_out.get("links") or []):
                    problems.append(f"node {origin} ({src.get('type')}): output {oslot} does not list link {link[0]}")
        for spec in specs.values():
            if not spec.optional and not spec.is_widget and not any(
                    s.get("name") == spec.name and s.get("link") is not None for s in node.get("inputs") or []):
                problems.append(f"{where}required input {spec.name!r} ({spec.type}) is not connected")
    return sorted(set(problems), key=problems.index)


# --------------------------------------------------------------------------- API pre-flight

def _closest(value: str, options: Iterable[Any]) -> list[str]:
    opts = [str(o) for o in options]
    base = {o.replace("\\", "/").rsplit("/", 1)[-1]: o for o in opts}
    hits = difflib.get_close_matches(value, list(base), n=2, cutoff=0.55)
    return [base[h] for h in hits]


MISSING_NODE_HINTS = {
    "Wan22": "install this pack (ComfyUI-Wan22) into ComfyUI's custom_nodes and restart ComfyUI",
}


def missing_node_hint(class_type: str) -> str:
    for prefix, hint in MISSING_NODE_HINTS.items():
        if class_type.startswith(prefix):
            return hint
    return ("update ComfyUI if it is a core node, or install the custom node pack that provides it "
            "(ComfyUI-Manager: Install Missing Custom Nodes)")


def preflight(prompt: Mapping[str, Any], object_info: ObjectInfo, *, skip_files: Iterable[tuple[str, str]] = ()) -> list[str]:
    """Every problem that would make the server reject or fail `prompt`, found before anything
    is uploaded or queued: unknown node types, missing or illegal inputs, file names the server
    does not have (with the closest name), dangling or mistyped links, and the Wan 2.2 router's
    pairing rules (bundle/router mode, expert and LoRA files, LoRA vs preset). `skip_files` are
    (node id, input) pairs whose file is uploaded just before queueing."""
    from ..errors import MissingFilesError
    from ..plan.bundle_spec import AUTO, BUNDLE_INPUTS, resolve_bundle, resolve_lora

    skip = {(str(a), str(b)) for a, b in skip_files}
    problems: list[str] = []
    bundle_inputs = {i.name for i in BUNDLE_INPUTS}
    bundle_files: dict[str, dict[str, str]] = {}
    for nid, node in _sorted_nodes(prompt):
        ctype = str(node.get("class_type"))
        where = f"node {nid} ({ctype}): "
        defn = object_info.get(ctype)
        if defn is None:
            problems.append(f"{where}node type is not installed on the server: {missing_node_hint(ctype)}")
            continue
        inputs = node.get("inputs", {}) or {}
        specs = {s.name: s for s in input_specs(defn)}
        # dynamic combo children present in the prompt (e.g. "format.codec")
        for s in list(specs.values()):
            if s.type == DYNAMIC_COMBO:
                for opt in s.options.get("options", ()):
                    if opt.get("key") == inputs.get(s.name):
                        for child in _specs_of(opt.get("inputs") or {}, s.name):
                            specs.setdefault(child.name, child)
        for name, spec in specs.items():
            if name not in inputs:
                if not spec.optional and "." not in name and not (spec.is_widget and "default" in spec.options):
                    problems.append(f"{where}required input {name!r} is missing")
                continue
            value = inputs[name]
            if _is_link(value):
                src = prompt.get(value[0])
                if src is None:
                    problems.append(f"{where}input {name!r} is linked to node {value[0]}, which is not in the workflow")
                    continue
                sdef = object_info.get(str(src.get("class_type")))
                if sdef is None:
                    continue
                outs = outputs_of(sdef)
                if value[1] >= len(outs):
                    problems.append(f"{where}input {name!r} is linked to output {value[1]} of node {value[0]} "
                                    f"({src.get('class_type')}), which has {len(outs)} outputs")
                elif not _types_compatible(outs[value[1]][1], spec.type):
                    problems.append(f"{where}input {name!r} needs {spec.type} but node {value[0]} "
                                    f"({src.get('class_type')}) output {value[1]} gives {outs[value[1]][1]}")
                continue
            if not spec.is_widget:
                problems.append(f"{where}input {name!r} ({spec.type}) must be linked to another node's output")
                continue
            if isinstance(value, dict) and "__value__" in value:
                value = value["__value__"]
            if ctype == "Wan22BundleLoader" and name in bundle_inputs:
                continue  # judged per mode below, with the folder and download for each file
            if ctype == "Wan22ModeRouter" and name in ("lora_high", "lora_low") and value not in (AUTO, "none"):
                continue  # judged with the plan below
            if (str(nid), name) in skip:
                continue
            why = check_value(spec, value)
            if why:
                if spec.type == "COMBO" and spec.options.get(_upload_flag(spec)):
                    why += " (upload it with submit --image/--audio, or put it in ComfyUI's input folder)"
                problems.append(f"{where}input {name!r}: {why}")
        if ctype == "Wan22BundleLoader":
            mode = inputs.get("mode")
            listings = {i.folder: [o for o in (specs[i.name].choices or ()) if o != AUTO]
                        for i in BUNDLE_INPUTS if i.name in specs}
            try:
                resolved = resolve_bundle(str(mode), {k: str(inputs.get(k, AUTO)) for k in bundle_inputs}, listings)
                bundle_files[str(nid)] = {r.role: r.name for r in resolved.values()}
            except MissingFilesError as e:
                problems.append(f"{where}{e}")
    for nid, node in _sorted_nodes(prompt):
        if node.get("class_type") == "Wan22ModeRouter" and "Wan22ModeRouter" in object_info:
            problems += _router_problems(str(nid), node, prompt, object_info, bundle_files, resolve_lora)
    return problems


def _upload_flag(spec: InputSpec) -> str:
    return next((f for f in UPLOAD_FLAGS if spec.options.get(f)), "image_upload")


def _sorted_nodes(prompt: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    def key(k: str) -> tuple[int, Any]:
        return (0, int(k)) if str(k).isdigit() else (1, str(k))
    for k in sorted(prompt, key=key):
        yield str(k), prompt[k]


def router_overrides(mode: str, inputs: Mapping[str, Any]) -> Any:
    """The routing Overrides the Wan22ModeRouter node builds from its inputs (same rules)."""
    from ..plan.bundle_spec import AUTO, NONE
    from ..plan.routing import Overrides

    def num(k: str, default: float) -> float:
        v = inputs.get(k, default)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default

    steps = int(num("steps", 0))
    split = int(num("split_step", -1))
    sampler = str(inputs.get("sampler_name", AUTO))
    scheduler = str(inputs.get("scheduler", AUTO))
    ov = Overrides(steps=steps or None, cfg=num("cfg", 0) or None, shift=num("shift", 0) or None,
                   split_step=None if split < 0 else split,
                   sampler=None if sampler == AUTO else sampler, scheduler=None if scheduler == AUTO else scheduler,
                   lora_strength=num("lora_strength", 0) or None, relight=bool(inputs.get("relight", True)))
    single = mode in ("s2v", "animate")
    lora_high = str(inputs.get("lora_high", AUTO))
    lora_low = str(inputs.get("lora_low", AUTO))
    if single and lora_low not in (AUTO, NONE):
        raise PlanError(f"lora_low has no effect in mode {mode} (one model): put the LoRA in lora_high, or set lora_low to 'auto'")
    for slot, value in ((("single", lora_high),) if single else (("high", lora_high), ("low", lora_low))):
        if value == NONE:
            ov.loras[slot] = None
        elif value != AUTO:
            ov.loras[slot] = value
    return ov


def _router_problems(nid: str, node: Mapping[str, Any], prompt: Mapping[str, Any], object_info: ObjectInfo,
                     bundle_files: Mapping[str, Mapping[str, str]], resolve_lora: Callable[..., str | None]) -> list[str]:
    from ..plan.routing import MODES, get_preset, make_plan

    where = f"node {nid} (Wan22ModeRouter): "
    inputs = node.get("inputs", {}) or {}
    mode = str(inputs.get("mode"))
    preset = str(inputs.get("preset"))
    if mode not in MODES:
        return []  # already reported as an illegal combo value
    out: list[str] = []
    raw_link = inputs.get("bundle")
    link: list[Any] = list(raw_link) if isinstance(raw_link, list) and _is_link(raw_link) else ["", 0]
    if link[0] in prompt:
        src = prompt[link[0]]
        if src.get("class_type") == "Wan22BundleLoader":
            bmode = (src.get("inputs") or {}).get("mode")
            if bmode != mode:
                out.append(f"{where}mode is '{mode}' but its Wan22BundleLoader (node {link[0]}) is set to "
                           f"'{bmode}': set both to the same mode")
    try:
        p = get_preset(mode, preset)
        ov = router_overrides(mode, inputs)
        experts = bundle_files.get(str(link[0]), {})
        ov.experts = {r: f for r, f in experts.items() if r in p.experts}
        scheduler = ov.scheduler or p.scheduler
        steps = ov.steps or p.steps
        sig = None if scheduler == "simple" else [1.0 - i / max(steps, 1) for i in range(steps)] + [0.0]
        plan = make_plan(mode, preset, ov, sigmas=sig)
    except PlanError as e:
        return out + [f"{where}{e}"]
    spec = {s.name: s for s in input_specs(object_info["Wan22ModeRouter"])}.get("lora_high")
    listing = [str(o) for o in (spec.choices or ()) if o not in ("auto", "none")] if spec else []
    for st in plan.stages:
        for lo in st.loras:
            line = resolve_lora(lo.file, listing)
            if line:
                out.append(f"{where}{line}")
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- prompt edits

def nodes_of(prompt: Mapping[str, Any], class_type: str) -> list[str]:
    return [k for k, v in _sorted_nodes(prompt) if v.get("class_type") == class_type]


def consumers(prompt: Mapping[str, Any], node_id: str) -> list[tuple[str, str, int]]:
    """(node id, input name, output slot) of every input linked to `node_id`."""
    out = []
    for k, v in _sorted_nodes(prompt):
        for name, value in (v.get("inputs") or {}).items():
            if _is_link(value) and value[0] == node_id:
                out.append((k, name, value[1]))
    return out


def positive_text_nodes(prompt: Mapping[str, Any]) -> list[str]:
    """CLIPTextEncode nodes whose conditioning reaches a `positive` input, directly or through
    conditioning-only nodes (a path that enters a `negative` input stops there)."""
    found: list[str] = []
    for nid in nodes_of(prompt, "CLIPTextEncode"):
        frontier = [nid]
        seen: set[str] = set()
        while frontier and nid not in found:
            cur = frontier.pop()
            if cur in seen:
                continue
            seen.add(cur)
            for cons, name, _slot in consumers(prompt, cur):
                if name == "positive":
                    found.append(nid)
                    break
                if name != "negative":
                    frontier.append(cons)
    return found


def set_positive_prompt(prompt: JSON, text: str) -> list[str]:
    ids = positive_text_nodes(prompt)
    if not ids:
        raise WorkflowError("--prompt: the workflow has no CLIPTextEncode node that feeds a 'positive' input")
    for nid in ids:
        prompt[nid]["inputs"]["text"] = text
    return ids


def set_seed(prompt: JSON, seed: int) -> list[str]:
    done = []
    for nid, node in _sorted_nodes(prompt):
        for k in SEED_INPUTS:
            if k in node.get("inputs", {}) and not _is_link(node["inputs"][k]):
                node["inputs"][k] = int(seed)
                done.append(nid)
    if not done:
        raise WorkflowError("--seed: the workflow has no seed input")
    return done


def set_file_input(prompt: JSON, class_type: str, name: str) -> list[str]:
    key = FILE_INPUTS[class_type]
    ids = nodes_of(prompt, class_type)
    for nid in ids:
        prompt[nid]["inputs"][key] = name
    return ids


# --------------------------------------------------------------------------- test/demo edits

TINY = {"width": 64, "height": 64, "length": 9}
SIZE_NODES = ("WanImageToVideo", "WanSoundImageToVideo", "WanAnimateToVideo", "EmptyHunyuanLatentVideo")
LENGTH_NODES = SIZE_NODES + ("WanSoundImageToVideoExtend",)


def tiny_overrides(prompt: Mapping[str, Any], width: int = 64, height: int = 64, length: int = 9,
                   audio_chunk: int | None = None, steps: int | None = None) -> JSON:
    """A copy of an example prompt sized for a CPU and stand-in weights (the examples use real
    sizes: 640x640, 81 frames, S2V chunks of 77). Sets width/height on every *ToVideo /
    empty-latent node, `length` on them and on every S2V Extend node (unless linked), and the
    S2V audio prep node's `chunk_length` (to `audio_chunk`, default `length`) so its chunk
    count describes the tiny graph. `steps` (optional) sets Wan22ModeRouter's steps override
    (the fast presets accept only their distilled counts: 4, Animate 4-8). Nothing else
    changes: models, presets, prompts and links stay as in the example."""
    out = copy.deepcopy(dict(prompt))
    for node in out.values():
        ct = node.get("class_type")
        ins = node.setdefault("inputs", {})
        if ct in SIZE_NODES:
            for k, v in (("width", width), ("height", height)):
                if not _is_link(ins.get(k)):
                    ins[k] = v
        if ct in LENGTH_NODES and not _is_link(ins.get("length")):
            ins["length"] = length
        if ct == "Wan22S2VAudioPrep" and "chunk_length" in ins and not _is_link(ins["chunk_length"]):
            ins["chunk_length"] = audio_chunk or length
        if ct == "Wan22ModeRouter" and steps is not None:
            ins["steps"] = int(steps)
    return out


def use_precomputed_conditioning(prompt: Mapping[str, Any], positive: str = "wan22_demo_positive",
                                 negative: str = "wan22_demo_negative") -> JSON:
    """A copy where each CLIPTextEncode is replaced by core `LoadTrainingDataset` (the
    conditioning datasets of `demo-volume`): the positive prompt's node loads `positive`, every
    other one `negative`. The umT5 stand-in takes ~30 s per encode and returns NaN, so the
    comfy tests and the demo use this; one test runs CLIPTextEncode as-is."""
    out = copy.deepcopy(dict(prompt))
    pos = set(positive_text_nodes(out))
    for nid in nodes_of(out, "CLIPTextEncode"):
        out[nid] = {"class_type": "LoadTrainingDataset",
                    "inputs": {"folder_name": positive if nid in pos else negative},
                    "_meta": {"title": f"precomputed conditioning (was CLIPTextEncode {nid})"}}
        for cons, name, _slot in consumers(out, nid):
            out[cons]["inputs"][name] = [nid, 1]  # LoadTrainingDataset output 1 = conditioning
    return out


def latent_frames(length: int) -> int:
    """Latent frames of a Wan *ToVideo node of `length` frames: ((length - 1) // 4) + 1."""
    return (int(length) - 1) // 4 + 1


def decoded_frames(latents: int) -> int:
    """Frames the Wan VAE decodes from `latents` latent frames: 4 * (latents - 1) + 1."""
    return 4 * (int(latents) - 1) + 1


def expected_frames(prompt: Mapping[str, Any], save_node: str | None = None) -> int:
    """Frames of the video a SaveVideo node writes, from the graph's length/latent rules:
    *ToVideo: ((length-1)//4)+1 latent frames (WanAnimateToVideo adds `trim_latent` = 1 for the
    reference image); LatentConcat on t adds; TrimVideoLatent removes; LatentCut keeps
    `amount`; VAEDecode gives 4*(T-1)+1; ImageFromBatch keeps `length` from `batch_index`."""
    saves = [save_node] if save_node else nodes_of(prompt, "SaveVideo")
    if len(saves) != 1:
        raise WorkflowError(f"expected one SaveVideo node, found {len(saves)}")

    def value(v: Any) -> int:
        if _is_link(v):
            src = prompt[v[0]]
            if src["class_type"] == "WanAnimateToVideo" and v[1] == 3:  # trim_latent
                return 1
            if src["class_type"] == "WanAnimateToVideo" and v[1] == 4:  # trim_image (no continue_motion)
                return 0
            raise WorkflowError(f"cannot compute a frame count through node {v[0]} ({src['class_type']}) output {v[1]}")
        return int(v)

    def latent(link: Any) -> int:
        nid, slot = link
        node = prompt[nid]
        ct, ins = node["class_type"], node["inputs"]
        if ct in ("WanImageToVideo", "WanSoundImageToVideo", "WanSoundImageToVideoExtend", "EmptyHunyuanLatentVideo"):
            return latent_frames(value(ins["length"]))
        if ct == "WanAnimateToVideo":
            return latent_frames(value(ins["length"])) + 1
        if ct in ("Wan22MoESampler",):
            return latent(ins["latent_image"])
        if ct in ("KSampler", "KSamplerAdvanced"):
            return latent(ins["latent_image"])
        if ct == "TrimVideoLatent":
            return latent(ins["samples"]) - value(ins["trim_amount"])
        if ct == "LatentConcat" and ins.get("dim") in ("t", "-t"):
            return latent(ins["samples1"]) + latent(ins["samples2"])
        if ct == "LatentCut" and ins.get("dim") == "t":
            total = latent(ins["samples"])
            idx = value(ins["index"])
            start = idx if idx >= 0 else total + idx
            return max(0, min(value(ins["amount"]), total - start))
        raise WorkflowError(f"cannot compute latent frames through node {nid} ({ct})")

    def images(link: Any) -> int:
        nid, _slot = link
        node = prompt[nid]
        ct, ins = node["class_type"], node["inputs"]
        if ct == "VAEDecode":
            return decoded_frames(latent(ins["samples"]))
        if ct == "ImageFromBatch":
            total = images(ins["image"])
            idx = value(ins["batch_index"])
            start = idx if idx >= 0 else max(0, total + idx)
            return max(0, min(value(ins["length"]), total - start))
        raise WorkflowError(f"cannot compute frames through node {nid} ({ct})")

    save = prompt[saves[0]]
    video = save["inputs"]["video"]
    create = prompt[video[0]]
    if create["class_type"] != "CreateVideo":
        raise WorkflowError(f"SaveVideo {saves[0]} is not fed by CreateVideo")
    return images(create["inputs"]["images"])


def dumps(data: Any) -> str:
    """The JSON text the generator writes (stable key order as built, 2-space indent)."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
