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
from ..graph.pack_nodes import BUNDLE, ROUTER, linked_bundle, router_loras
from ..graph.widgets import InputSpec, ObjectInfo, input_specs, sorted_nodes
from ..plan.bundle_spec import BUNDLE_INPUTS, resolve_bundle, resolve_lora
from ..plan.modes import MODES
from ..plan.overrides import AUTO, NONE

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


def _listings(object_info: ObjectInfo) -> dict[str, list[str]]:
    """{folder key: file names} the server lists, from the bundle's and router's combos."""
    out: dict[str, list[str]] = {}
    specs = {s.name: s for s in input_specs(object_info[BUNDLE])} if BUNDLE in object_info else {}
    for i in BUNDLE_INPUTS:
        if i.name in specs:
            out.setdefault(i.folder, [str(o) for o in (specs[i.name].choices or ()) if o not in (AUTO, NONE)])
    spec = {s.name: s for s in input_specs(object_info[ROUTER])}.get("lora_high")
    out["loras"] = [str(o) for o in (spec.choices or ()) if o not in (AUTO, NONE)] if spec else []
    return out


def _router_problems(nid: str, node: Mapping[str, Any], prompt: Mapping[str, Any], object_info: ObjectInfo) -> list[str]:
    where = f"node {nid} ({ROUTER}): "
    inputs = node.get("inputs", {}) or {}
    mode = str(inputs.get("mode"))
    if mode not in MODES:
        return []  # already reported as an illegal combo value
    out: list[str] = []
    bid, bundle = linked_bundle(node, prompt)
    if bundle is not None and (bundle.get("inputs") or {}).get("mode") != mode:
        out.append(f"{where}mode is '{mode}' but its Wan22BundleLoader (node {bid}) is set to "
                   f"'{(bundle.get('inputs') or {}).get('mode')}': set both to the same mode")
    listings = _listings(object_info)
    try:
        loras = router_loras(node, prompt, listings)  # the files every reader of prompts names
    except PlanError as e:
        return [*out, f"{where}{e}"]
    for lo in loras:
        line = resolve_lora(lo.name, listings["loras"])
        if line:
            out.append(f"{where}{line}")
    return list(dict.fromkeys(out))
