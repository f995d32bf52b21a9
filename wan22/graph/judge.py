"""One node of a prompt that runs: which of its inputs name model files, read from which folder,
as what kind of model; or why one cannot be judged before the workflow runs.

In this order: this pack's two loading nodes (graph.pack_nodes); a loader of the table
(graph.loaders: by input name in a prompt, by widget position in a UI node the table knows and
the server does not, dict-valued `lora_N` entries); with a live server, any combo whose options
are a model folder's listing; a subgraph id left unexpanded; any other type: the links the UI
file saved (`properties.models`), else every string that looks like a model file blocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..catalog import MODEL_EXTENSIONS
from .convert import Flattener
from .loaders import FOLDER_KIND, FileInput, Loader, canonical_folder
from .pack_nodes import bundle_files, safe_router_stages
from .records import ModelRef, Unjudged, WorkflowRefs
from .widgets import input_specs, is_link

FILE_EXTS = (*MODEL_EXTENSIONS, ".gguf", ".onnx")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_PRIMITIVE_HOPS = 16
EXPORT = "save the workflow from ComfyUI's own menu (Workflow > Export (API)) instead of a converter"
FIX_EXPORT = EXPORT + ", or set the file in the UI and export again"


def looks_like_file(v: Any) -> bool:
    return isinstance(v, str) and v.strip() != "" and v.lower().endswith(FILE_EXTS)


def expects(folder_kind: str, ntype: str, inputs: Mapping[str, Any]) -> str:
    """The kind a node expects: CLIPLoader type 'wan' loads umT5-XXL."""
    if folder_kind == "text_encoder" and ntype == "CLIPLoader" and inputs.get("type") == "wan":
        return "umt5_xxl"
    return folder_kind


class NodeJudge:
    """One reading: the prompt, node definitions, the UI graph (when it was one) and the output."""

    def __init__(self, out: WorkflowRefs, info: Mapping[str, Mapping[str, Any]], fl: Flattener | None,
                 listings: Mapping[str, Iterable[str]] | None, subgraph_ids: frozenset[str]) -> None:
        self.out = out
        self.prompt = out.prompt
        self.info = info
        self.fl = fl
        self.listings = {k: frozenset(v) for k, v in (listings or {}).items()}
        self.subgraph_ids = subgraph_ids

    # ---- helpers

    def ui_node(self, nid: str) -> Mapping[str, Any]:
        fn = self.fl.nodes.get(nid) if self.fl is not None else None
        return fn.node if fn is not None else {}

    def title(self, node: Mapping[str, Any]) -> str:
        return str((node.get("_meta") or {}).get("title") or node.get("class_type"))

    def url_for(self, nid: str, name: str, folder: str) -> str | None:
        for m in (self.ui_node(nid).get("properties") or {}).get("models") or []:
            if isinstance(m, Mapping) and m.get("name") == name and m.get("directory", folder) == folder and m.get("url"):
                return str(m["url"])
        return None

    def literal(self, value: Any) -> Any:
        """A value, following links to primitive nodes (PrimitiveString... `value`)."""
        for _ in range(MAX_PRIMITIVE_HOPS):
            if not is_link(value):
                return value
            src = self.prompt.get(value[0]) or {}
            if not str(src.get("class_type", "")).startswith("Primitive"):
                return value
            value = (src.get("inputs") or {}).get("value")
        return value

    def block(self, nid: str, node: Mapping[str, Any], inp: str, why: str, fix: str) -> None:
        self.out.unjudged.append(Unjudged(nid, str(node.get("class_type")), self.title(node), inp, why, fix))

    def add(self, nid: str, node: Mapping[str, Any], folder: str, inp: str, name: str, kind: str,
            role: str | None = None, fmt: str = "any") -> None:
        ntype = str(node.get("class_type"))
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
            self.block(nid, node, inp, f"{name!r} is not a name inside a model folder (ComfyUI refuses it)",
                       f"pick the file from the '{folder}' list instead")
            return
        self.out.refs.append(ModelRef(folder, name, nid, ntype, inp, self.title(node),
                                      expects(kind, ntype, node.get("inputs") or {}), role, self.url_for(nid, name, folder),
                                      fmt))

    # ---- this pack's nodes

    def bundle(self, nid: str, node: Mapping[str, Any]) -> None:
        for f in bundle_files(node, self.listings or None):
            if f.linked:
                self.block(nid, node, f.input, "the file name comes through a link, so it is only known when the "
                           "workflow runs", f"set '{f.input}' on the node itself")
            else:
                self.add(nid, node, f.folder, f.input, f.name, _kind(f.folder), f.role)

    def router(self, nid: str, node: Mapping[str, Any]) -> None:
        stages, why = safe_router_stages(node, self.prompt, self.listings or None)
        if why:
            self.block(nid, node, "mode/preset", f"its settings do not resolve ({why})", "fix the router's settings")
        for stage in stages:
            for f in stage[1:]:
                self.add(nid, node, f.folder, f.input, f.name, "lora", f.role or None)

    # ---- the table's loaders

    def ui_value(self, nid: str, fi: FileInput) -> Any:
        wv = self.ui_node(nid).get("widgets_values")
        if fi.widget is None or not isinstance(wv, list) or fi.widget >= len(wv):
            return None
        return wv[fi.widget]

    def loader(self, nid: str, node: Mapping[str, Any], ld: Loader) -> None:
        inputs = node.get("inputs") or {}
        for fi in ld.inputs:
            if fi.pattern is not None:
                self.dynamic(nid, node, fi)
                continue
            present = fi.name in inputs
            value = inputs.get(fi.name) if present else self.ui_value(nid, fi)
            self.one_input(nid, node, ld, fi, self.literal(value), present or value is not None)

    def one_input(self, nid: str, node: Mapping[str, Any], ld: Loader, fi: FileInput, value: Any, present: bool) -> None:
        if not present or value is None or value == "":
            if fi.required:
                names = {i.name for i in ld.inputs}
                stray = [f"{k}={v!r}" for k, v in (node.get("inputs") or {}).items() if k not in names and looks_like_file(v)]
                self.block(nid, node, fi.name, "the loader has no file name for this input (a converter that dropped "
                           "it, or an empty widget)" + (f"; it has {', '.join(stray)} instead, an input this loader "
                                                        "does not have" if stray else ""), FIX_EXPORT)
            return
        if is_link(value):
            src = self.prompt.get(value[0]) or {}
            self.block(nid, node, fi.name, f"the file name comes from node {value[0]} ({src.get('class_type')}) "
                       "through a link, so it is only known when the workflow runs",
                       f"set '{fi.name}' on the loader itself, or check the file node {value[0]} picks by hand")
            return
        if looks_like_file(value):
            self.add(nid, node, fi.folder, fi.name, str(value), fi.kind, fmt=fi.format)
            return
        if isinstance(value, str) and (value in fi.none or self._builtin_choice(ld, fi, value)):
            return
        self.block(nid, node, fi.name, f"it holds {value!r}, which is not a model file name",
                   f"pick a file from the '{fi.folder}' folder (a template placeholder must be filled in first)")

    def _builtin_choice(self, ld: Loader, fi: FileInput, value: str) -> bool:
        """A live server's non-file option of this combo (VAELoader's 'taesd'...)."""
        defn = self.info.get(ld.type)
        spec = next((s for s in input_specs(defn) if s.name == fi.name), None) if defn else None
        return spec is not None and value in (spec.choices or ())

    def dynamic(self, nid: str, node: Mapping[str, Any], fi: FileInput) -> None:
        """Dict-valued inputs (rgthree Power Lora Loader's lora_1..N): switched-on entries' files."""
        assert fi.pattern is not None
        entries = [(k, v) for k, v in (node.get("inputs") or {}).items() if fi.matches(k)]
        if not entries:
            wv = self.ui_node(nid).get("widgets_values")
            entries = [(f"lora_{i}", v) for i, v in enumerate(wv if isinstance(wv, list) else []) if isinstance(v, Mapping)
                       and fi.field in v]
        for k, v in entries:
            if isinstance(v, Mapping) and v.get(fi.on_field, True) and v.get(fi.field) not in (None, "", *fi.none):
                name = v.get(fi.field)
                if looks_like_file(name):
                    self.add(nid, node, fi.folder, k, str(name), fi.kind, fmt=fi.format)
                else:
                    self.block(nid, node, k, f"it holds {name!r}, which is not a model file name",
                               f"pick a file from the '{fi.folder}' folder")

    # ---- other known types

    def by_listing(self, nid: str, node: Mapping[str, Any]) -> None:
        """A type the server knows: every combo whose options are a model folder's listing."""
        ntype = str(node.get("class_type"))
        if not self.listings or ntype not in self.info:
            return
        inputs = node.get("inputs") or {}
        for spec in input_specs(self.info[ntype]):
            files = {c for c in spec.choices or () if looks_like_file(c)}
            best = max(self.listings.items(), key=lambda kv: len(files & kv[1]), default=None)
            if files and best is not None and files <= best[1]:
                value = self.literal(inputs.get(spec.name))
                if is_link(value):
                    self.block(nid, node, spec.name, "the file name comes through a link, so it is only known when "
                               "the workflow runs", f"set '{spec.name}' on the node itself")
                elif looks_like_file(value):
                    self.add(nid, node, canonical_folder(best[0]), spec.name, str(value), _kind(best[0]))

    # ---- types nobody here knows

    def is_subgraph_id(self, ntype: str) -> bool:
        return bool(UUID.match(ntype)) or ntype in self.subgraph_ids

    def frontend_node(self, nid: str, node: Mapping[str, Any]) -> None:
        self.block(nid, node, "class_type", f"{node.get('class_type')} is a frontend-only node (the frontend resolves "
                   "it when it queues a prompt); in an API prompt ComfyUI refuses it", EXPORT)

    def subgraph(self, nid: str, node: Mapping[str, Any]) -> None:
        self.block(nid, node, "class_type", f"its type {node.get('class_type')!r} is a subgraph id: the tool that "
                   "wrote this prompt did not expand the subgraph, so its loaders are not in it (ComfyUI refuses it)",
                   EXPORT)

    def unknown(self, nid: str, node: Mapping[str, Any]) -> None:
        """properties.models entries the frontend saved for names the widgets still hold; every other
        string that looks like a model file blocks."""
        ui = self.ui_node(nid)
        wv = ui.get("widgets_values")
        values = list(wv) if isinstance(wv, list) else list(wv.values()) if isinstance(wv, dict) else []
        strings = [(f"widget {i}", v) for i, v in enumerate(values)]
        strings += [(k, self.literal(v)) for k, v in (node.get("inputs") or {}).items()]
        linked: dict[str, str] = {}
        for m in (ui.get("properties") or {}).get("models") or []:
            if isinstance(m, Mapping) and m.get("directory") and m.get("name") in {v for _, v in strings}:
                linked[str(m["name"])] = str(m["directory"])
        seen: set[str] = set()
        for inp, v in strings:
            if not looks_like_file(v) or v in seen:
                continue
            seen.add(v)
            if v in linked:
                self.add(nid, node, linked[v], "properties.models", v, _kind(linked[v]))
            else:
                self.block(nid, node, inp, f"node type {node.get('class_type')} is not known here, and this input "
                           f"names {v!r}: which folder it is read from and what it must be cannot be known",
                           "install the pack that provides the node and check again on the running ComfyUI "
                           "(the sidebar's Check this workflow asks the server)")


def _kind(folder: str) -> str:
    return FOLDER_KIND.get(folder, "other")
