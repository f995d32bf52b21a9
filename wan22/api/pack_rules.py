"""This pack's own preflight rules, plugged into the generic preflight (`preflight.Rules`):
Wan22BundleLoader's file inputs are judged per mode (with the folder and download link of each
missing file), and each Wan22ModeRouter is resolved with the router's own rules
(`plan.overrides.overrides_from_inputs`, then `plan.routing.resolve`: no sigmas needed) to check
the pairings (router vs bundle mode, expert and LoRA files, LoRA vs preset), as the node does when
ComfyUI validates the prompt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import MissingFilesError, PlanError
from ..plan.bundle_spec import BUNDLE_INPUTS, resolve_bundle, resolve_lora
from ..plan.overrides import AUTO, NONE, overrides_from_inputs
from ..plan.presets import MODES, get_preset
from ..plan.routing import resolve
from ..graph.widgets import InputSpec, ObjectInfo, input_specs, is_link, sorted_nodes

BUNDLE = "Wan22BundleLoader"
ROUTER = "Wan22ModeRouter"
BUNDLE_INPUT_NAMES = frozenset(i.name for i in BUNDLE_INPUTS)


def _bundle_files(node: Mapping[str, Any], specs: Mapping[str, InputSpec]) -> dict[str, str]:
    """{role: file} a Wan22BundleLoader node loads; MissingFilesError lists every missing file."""
    inputs = node.get("inputs", {}) or {}
    listings = {i.folder: [o for o in (specs[i.name].choices or ()) if o != AUTO]
                for i in BUNDLE_INPUTS if i.name in specs}
    resolved = resolve_bundle(str(inputs.get("mode")), {k: str(inputs.get(k, AUTO)) for k in BUNDLE_INPUT_NAMES},
                              listings)
    return {r.role: r.name for r in resolved.values()}


class Wan22Rules:
    """The Wan 2.2 rules behind preflight's hook (stateless: one instance serves every call)."""

    def defers(self, class_type: str, name: str, value: Any) -> bool:
        """Inputs the generic combo check leaves to `check_node` / `check_prompt`."""
        if class_type == BUNDLE and name in BUNDLE_INPUT_NAMES:
            return True  # judged per mode, with the folder and download for each file
        return class_type == ROUTER and name in ("lora_high", "lora_low") and value not in (AUTO, NONE)

    def check_node(self, nid: str, node: Mapping[str, Any], specs: Mapping[str, InputSpec]) -> list[str]:
        """A Wan22BundleLoader's files for its mode: every missing one, in one message."""
        if node.get("class_type") != BUNDLE:
            return []
        try:
            _bundle_files(node, specs)
        except MissingFilesError as e:
            return [f"node {nid} ({BUNDLE}): {e}"]
        return []

    def check_prompt(self, prompt: Mapping[str, Any], object_info: ObjectInfo) -> list[str]:
        """Each Wan22ModeRouter's pairing rules, once every node passed the generic checks."""
        if ROUTER not in object_info:
            return []
        out: list[str] = []
        for nid, node in sorted_nodes(prompt):
            if node.get("class_type") == ROUTER:
                out += _router_problems(nid, node, prompt, object_info)
        return out


def _linked_bundle(node: Mapping[str, Any], prompt: Mapping[str, Any]) -> tuple[str, Mapping[str, Any] | None]:
    """(id, node) of the Wan22BundleLoader feeding a router's `bundle` input (node None if not one)."""
    raw: Any = (node.get("inputs") or {}).get("bundle")
    link = str(raw[0]) if is_link(raw) else ""
    src = prompt.get(link)
    return link, src if isinstance(src, Mapping) and src.get("class_type") == BUNDLE else None


def _experts(bundle: Mapping[str, Any] | None, object_info: ObjectInfo) -> dict[str, str]:
    if bundle is None or BUNDLE not in object_info:
        return {}
    try:
        return _bundle_files(bundle, {s.name: s for s in input_specs(object_info[BUNDLE])})
    except MissingFilesError:
        return {}  # reported on the bundle node


def _router_problems(nid: str, node: Mapping[str, Any], prompt: Mapping[str, Any], object_info: ObjectInfo) -> list[str]:
    where = f"node {nid} ({ROUTER}): "
    inputs = node.get("inputs", {}) or {}
    mode, preset = str(inputs.get("mode")), str(inputs.get("preset"))
    if mode not in MODES:
        return []  # already reported as an illegal combo value
    out: list[str] = []
    bid, bundle = _linked_bundle(node, prompt)
    if bundle is not None and (bundle.get("inputs") or {}).get("mode") != mode:
        out.append(f"{where}mode is '{mode}' but its Wan22BundleLoader (node {bid}) is set to "
                   f"'{(bundle.get('inputs') or {}).get('mode')}': set both to the same mode")
    widgets = {k: v for k, v in inputs.items() if not is_link(v)}  # a linked value is not known yet
    try:
        p = get_preset(mode, preset)
        ov = overrides_from_inputs(mode, widgets)
        ov.experts = {r: f for r, f in _experts(bundle, object_info).items() if r in p.experts}
        settings = resolve(mode, preset, ov)
    except PlanError as e:
        return [*out, f"{where}{e}"]
    spec = {s.name: s for s in input_specs(object_info[ROUTER])}.get("lora_high")
    listing = [str(o) for o in (spec.choices or ()) if o not in (AUTO, NONE)] if spec else []
    for stage_loras in settings.loras:
        for lo in stage_loras:
            line = resolve_lora(lo.file, listing)
            if line:
                out.append(f"{where}{line}")
    return list(dict.fromkeys(out))
