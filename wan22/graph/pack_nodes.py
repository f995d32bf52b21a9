"""What this pack's two loading nodes load in a prompt: Wan22BundleLoader's files for its mode
and Wan22ModeRouter's per stage (the expert, then its LoRAs) for its mode and preset, as the nodes
resolve them (plan.bundle_spec, plan.overrides, plan.routing). Every reader of prompts asks here:
the inventory's check, preflight, prefetch and fetch planning.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ..catalog import BY_ROLE
from ..errors import PlanError
from ..plan.bundle_spec import ALSO_ROLES, AUTO, BUNDLE_INPUTS, EXPERT_INPUTS, NONE
from ..plan.overrides import overrides_from_inputs
from ..plan.routing import resolve
from .widgets import is_link

BUNDLE, ROUTER = "Wan22BundleLoader", "Wan22ModeRouter"
# This pack's node ids (exact: core ComfyUI ships Wan22FunControlToVideo and
# Wan22ImageToVideoLatent, which a prefix match would wrongly send to this pack).
PACK_NODE_IDS = frozenset({BUNDLE, ROUTER, "Wan22MoESampler", "Wan22VolumeInventory", "Wan22S2VAudioPrep"})
PACK_OUTPUT_NODES = frozenset({"Wan22VolumeInventory"})
# The bundle loads these when it runs; its experts load with the router, stage by stage.
BUNDLE_LOAD_ORDER = ("text_encoders", "vae", "clip_vision", "audio_encoders")


@dataclass(frozen=True)
class PackFile:
    """One file one of this pack's nodes loads."""

    role: str  # the catalog role
    input: str  # the node input that names (or picks) it
    folder: str
    name: str
    linked: bool = False  # the input is linked: the file is only known when the prompt runs


def bundle_files(node: Mapping[str, Any], listings: Mapping[str, Collection[str]] | None = None) -> list[PackFile]:
    """The files a Wan22BundleLoader loads for its mode, in input order. 'auto' is the catalog's
    name for the role; an input serving several roles (ALSO_ROLES) with 'auto' is every one of
    them that `listings` holds (or the first, without listings or when none is there)."""
    inputs = node.get("inputs") or {}
    mode = str(inputs.get("mode"))
    out: list[PackFile] = []
    for inp in BUNDLE_INPUTS:
        role = inp.roles.get(mode)
        raw = inputs.get(inp.name, AUTO)
        if role is None or (raw == NONE and inp.optional):
            continue
        if is_link(raw):
            out.append(PackFile(role, inp.name, inp.folder, "", linked=True))
            continue
        value = str(raw or AUTO)
        roles = (role, *ALSO_ROLES.get((inp.name, mode), ()))
        if value != AUTO:
            out.append(PackFile(role, inp.name, inp.folder, value))
            continue
        listed = set(listings.get(inp.folder, ())) if listings is not None else set()
        have = [r for r in roles if BY_ROLE[r].name in listed] or [role]
        out += [PackFile(r, inp.name, inp.folder, BY_ROLE[r].name) for r in have]
    return out


def linked_bundle(node: Mapping[str, Any], prompt: Mapping[str, Any]) -> tuple[str, Mapping[str, Any] | None]:
    """(id, node) of the Wan22BundleLoader feeding a router's `bundle` input (node None if not one)."""
    raw: Any = (node.get("inputs") or {}).get("bundle")
    link = str(raw[0]) if is_link(raw) else ""
    src = prompt.get(link)
    return link, src if isinstance(src, Mapping) and src.get("class_type") == BUNDLE else None


def router_stages(node: Mapping[str, Any], prompt: Mapping[str, Any],
                  listings: Mapping[str, Collection[str]] | None = None) -> list[list[PackFile]]:
    """Per stage, in load order: the expert (from the linked bundle, else the preset's default
    file), then its LoRAs. PlanError when the router's settings do not resolve."""
    inputs = node.get("inputs") or {}
    mode, preset = str(inputs.get("mode")), str(inputs.get("preset"))
    _bid, bundle = linked_bundle(node, prompt)
    experts = {f.role: f for f in bundle_files(bundle, listings) if f.input in EXPERT_INPUTS and not f.linked} \
        if bundle is not None else {}
    ov = overrides_from_inputs(mode, {k: v for k, v in inputs.items() if not is_link(v)})
    ov.experts = {r: f.name for r, f in experts.items()}
    settings = resolve(mode, preset, ov)
    stages: list[list[PackFile]] = []
    for i, ((role, default), loras) in enumerate(zip(settings.experts, settings.loras, strict=False)):
        slot = "lora_high" if i == 0 else "lora_low"
        expert = experts.get(role) or PackFile(role, "bundle", "diffusion_models", default)
        stages.append([expert, *(PackFile(lo.role or "", slot, "loras", lo.file) for lo in loras)])
    return stages


def router_loras(node: Mapping[str, Any], prompt: Mapping[str, Any],
                 listings: Mapping[str, Collection[str]] | None = None) -> list[PackFile]:
    """The LoRAs a router loads, stage by stage (PlanError as router_stages)."""
    return [f for stage in router_stages(node, prompt, listings) for f in stage[1:]]


def safe_router_stages(node: Mapping[str, Any], prompt: Mapping[str, Any],
                       listings: Mapping[str, Collection[str]] | None = None) -> tuple[list[list[PackFile]], str]:
    """router_stages, or ([], why) when its settings do not resolve."""
    try:
        return router_stages(node, prompt, listings), ""
    except (PlanError, ValueError) as e:
        return [], str(e)
