"""Node definitions as the ComfyUI frontend sees them: the input specs of an /object_info
entry, the frontend's widget order (widgets_values <-> names), sockets, outputs, and the small
link/sort helpers of API prompts that the other api modules share. No I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import WorkflowError

JSON = dict[str, Any]
ObjectInfo = Mapping[str, Mapping[str, Any]]

UI_VERSION = 0.4
VIRTUAL_NODE_TYPES = frozenset({"Note", "MarkdownNote", "Reroute", "PrimitiveNode"})
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
MATCH_TYPE = "COMFY_MATCHTYPE_V3"  # a V3 input/output whose type follows what is connected (Switch nodes)
AUTOGROW = "COMFY_AUTOGROW_V3"  # a V3 input group sent as '<name>.<child>' inputs (values.a, images.image0)
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
    """One input of a node type as /object_info declares it."""

    name: str
    type: str  # "COMBO" for a list of options
    options: Mapping[str, Any]
    choices: tuple[Any, ...] | None  # COMBO options
    optional: bool

    @property
    def is_widget(self) -> bool:
        """Drawn as a widget (a value in widgets_values), not a socket."""
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


def specs_of(inputs: Mapping[str, Any], prefix: str) -> list[InputSpec]:
    """A dynamic combo option's inputs as specs named '<prefix>.<name>'."""
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
                    for child in specs_of(opt.get("inputs") or {}, spec.name):
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


def sequential(values: list[Any]) -> Callable[[Widget], Any]:
    """A `value_for` for widget_layout that hands out `values` in order (None when they run out)."""
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
    """(name, type) of a node type's outputs, in slot order."""
    types = defn.get("output", [])
    names = defn.get("output_name") or types
    return [(str(n), str(t)) for n, t in zip(names, types, strict=False)]


def display_name(object_info: ObjectInfo, class_type: str) -> str:
    """The node type's display name (its class_type when it has none)."""
    d = object_info.get(class_type, {})
    return str(d.get("display_name") or class_type)


# --------------------------------------------------------------------------- links and order

def links_by_id(wf: Mapping[str, Any]) -> dict[int, list[Any]]:
    """A UI workflow's links by id, each as [id, from_node, from_slot, to_node, to_slot, type]."""
    out: dict[int, list[Any]] = {}
    for link in wf.get("links", []) or []:
        if isinstance(link, dict):  # 0.4 writes arrays; tolerate the object form
            link = [link["id"], link["origin_id"], link["origin_slot"], link["target_id"], link["target_slot"], link.get("type")]
        out[int(link[0])] = list(link)
    return out


def node_where(node: Mapping[str, Any]) -> str:
    """'node <id> (<type>): ', the prefix of every message about a UI node."""
    return f"node {node.get('id')} ({node.get('type')}): "


def is_link(v: Any) -> bool:
    """True for an API-prompt link ["<node id>", output_slot]."""
    return isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], int)


def types_compatible(out_type: str, in_type: str) -> bool:
    """Whether an output of `out_type` may feed an input of `in_type` ('*' and 'A,B' unions; a V3
    MatchType matches anything, as ComfyUI's own validate_node_input has it)."""
    if out_type in ("*", MATCH_TYPE) or in_type in ("*", MATCH_TYPE):
        return True
    a = set(out_type.split(","))
    b = set(in_type.split(","))
    return bool(a & b)


def sorted_nodes(prompt: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(id, node) of an API prompt in numeric id order (non-numeric ids last)."""
    def key(k: str) -> tuple[int, Any]:
        return (0, int(k)) if str(k).isdigit() else (1, str(k))
    for k in sorted(prompt, key=key):
        yield str(k), prompt[k]


def nodes_of(prompt: Mapping[str, Any], class_type: str) -> list[str]:
    """Ids of the prompt's nodes of `class_type`, in id order."""
    return [k for k, v in sorted_nodes(prompt) if v.get("class_type") == class_type]


def consumers(prompt: Mapping[str, Any], node_id: str) -> list[tuple[str, str, int]]:
    """(node id, input name, output slot) of every input linked to `node_id`."""
    out = []
    for k, v in sorted_nodes(prompt):
        for name, value in (v.get("inputs") or {}).items():
            if is_link(value) and value[0] == node_id:
                out.append((k, name, value[1]))
    return out


def dumps(data: Any) -> str:
    """The JSON text the generator writes (stable key order as built, 2-space indent)."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
