"""HTTP routes under /wan22/. They take no filesystem path from the client: the inventory looks
only at ComfyUI's configured model folders, and the plan is pure computation."""

from __future__ import annotations

import asyncio
import json
import logging
import os

from aiohttp import web

from ..wan22.errors import Wan22Error
from ..wan22.plan.modes import MODES
from ..wan22.plan.overrides import overrides_from_inputs
from ..wan22.plan.presets import PRESETS, WORKFLOW_IDS
from ..wan22.plan.routing import resolve, stages
from . import loading

log = logging.getLogger("wan22")
MAX_PARAM_LEN = 64
MAX_PARAMS = 16
INVENTORY_PARAMS = {"workflow", "strict"}
BOOL_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "": False}
# /wan22/plan's parameters -> the router's widget names (the route calls `sampler_name` `sampler`).
PLAN_WIDGETS = {"steps": "steps", "cfg": "cfg", "shift": "shift", "split_step": "split_step", "sampler": "sampler_name",
                "scheduler": "scheduler", "lora_high": "lora_high", "lora_low": "lora_low",
                "lora_strength": "lora_strength", "relight": "relight", "lightning": "lightning"}
PLAN_PARAMS = {"mode", "preset", *PLAN_WIDGETS}
LONG_PARAMS = {"lora_high", "lora_low"}  # file names can be long
MAX_NAME_LEN = 255


def _bad(msg: str, status: int = 400) -> web.Response:
    return web.json_response({"error": msg}, status=status)


def _check_params(request: web.Request, allowed: set[str]) -> str | None:
    if len(request.query) > MAX_PARAMS:
        return f"too many parameters (limit {MAX_PARAMS})"
    for k, v in request.query.items():
        if k not in allowed:
            pathish = any(w in k.lower() for w in ("path", "root", "dir", "file", "folder", "yaml"))
            return f"unknown parameter '{k[:MAX_PARAM_LEN]}': this route takes {', '.join(sorted(allowed))}" + (
                " (it never takes a path: it inspects ComfyUI's configured model folders only)" if pathish else "")
        limit = MAX_NAME_LEN if k in LONG_PARAMS else MAX_PARAM_LEN
        if len(k) > MAX_PARAM_LEN or len(v) > limit:
            return f"parameter '{k[:MAX_PARAM_LEN]}' is too long (limit {limit} characters)"
    return None


async def get_inventory(request: web.Request) -> web.Response:
    """The inventory of ComfyUI's configured model folders. Takes no path: `workflow` (repeatable,
    a workflow id) picks what `ready` answers for, `strict` (true/false) counts stand-ins as not ready."""
    err = _check_params(request, INVENTORY_PARAMS)
    if err:
        return _bad(err)
    workflows = request.query.getall("workflow", [])
    unknown = [w for w in workflows if w not in WORKFLOW_IDS]
    if unknown:
        return _bad(f"unknown workflow '{unknown[0][:MAX_PARAM_LEN]}': use one of {', '.join(WORKFLOW_IDS)}")
    strict_raw = request.query.get("strict", "").lower()
    if strict_raw not in BOOL_VALUES:
        return _bad("strict must be true or false")
    from .inventory_node import inventory_report

    try:
        report = await asyncio.get_running_loop().run_in_executor(None, inventory_report)
    except Exception as e:  # a report must never take the server down; say what failed
        log.exception("[wan22] inventory failed")
        return _bad(f"the inventory failed: {e.__class__.__name__}: {e}", 500)
    if BOOL_VALUES[strict_raw]:
        report.apply_strict()
    body = report.as_dict()
    body["ready"] = report.ready(workflows or None)
    return web.json_response(body)


def comfy_sigmas(scheduler: str, steps: int, shift: float) -> list[float]:
    """ComfyUI's own sigmas for `scheduler` at `shift` (what ModelSamplingSD3 + KSampler use)."""
    import comfy.model_sampling
    import comfy.samplers

    class Flow(comfy.model_sampling.ModelSamplingDiscreteFlow, comfy.model_sampling.CONST):
        pass

    ms = Flow()
    ms.set_parameters(shift=shift, multiplier=1000)
    return [float(x) for x in comfy.samplers.calculate_sigmas(ms, scheduler, steps)]


async def get_plan(request: web.Request) -> web.Response:
    """The plan Wan22ModeRouter would apply for these widget values: the node's own rules
    (wan22.plan.overrides_from_inputs, resolve, stages) on ComfyUI's own sigmas, so every
    scheduler works. A missing or empty parameter keeps the widget's default (the preset's)."""
    import comfy.samplers

    err = _check_params(request, PLAN_PARAMS)
    if err:
        return _bad(err)
    q = request.query
    mode = q.get("mode", "")
    preset = q.get("preset", "")
    if mode not in MODES:
        return _bad(f"mode must be one of {', '.join(MODES)}")
    if preset not in PRESETS:
        return _bad(f"preset must be one of {', '.join(PRESETS)}")
    widgets: dict[str, object] = {w: q[k] for k, w in PLAN_WIDGETS.items() if q.get(k)}
    if "relight" in widgets:
        relight = str(widgets["relight"]).lower()
        if relight not in BOOL_VALUES:
            return _bad("relight must be true or false")
        widgets["relight"] = BOOL_VALUES[relight]
    try:
        ov = overrides_from_inputs(mode, widgets, samplers=comfy.samplers.KSampler.SAMPLERS,
                                   schedulers=comfy.samplers.KSampler.SCHEDULERS)
        ov.available = tuple(loading.list_files("loras"))  # as the node: lightning 'auto' picks from it
        settings = resolve(mode, preset, ov)
        plan = stages(settings, comfy_sigmas(settings.scheduler, settings.steps, settings.shift))
    except Wan22Error as e:
        return _bad(str(e))
    return web.json_response(plan.as_dict())


MAX_WORKFLOW_BYTES = 16 * 1024 * 1024  # a UI workflow with its subgraphs is a few hundred kB


def _node_info(types: set[str]) -> dict[str, dict[str, object]]:
    """/object_info entries of the installed node types among `types` (only those: the full
    /object_info lists every model folder and costs far more than this check)."""
    from comfy_api.internal import _ComfyNodeInternal

    import nodes

    out: dict[str, dict[str, object]] = {}
    for t in types:
        cls = nodes.NODE_CLASS_MAPPINGS.get(t)
        if cls is None:
            continue
        if issubclass(cls, _ComfyNodeInternal):
            out[t] = dict(cls.GET_NODE_INFO_V1())
            continue
        spec = cls.INPUT_TYPES()
        out[t] = {"input": spec, "input_order": {k: list(v) for k, v in spec.items()}, "output": list(cls.RETURN_TYPES),
                  "output_name": list(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)),
                  "output_node": bool(getattr(cls, "OUTPUT_NODE", False)),
                  "display_name": nodes.NODE_DISPLAY_NAME_MAPPINGS.get(t, t)}
    return out


def workflow_report(data: object, strict: bool = False) -> dict[str, object]:
    """The inventory JSON of one workflow on this ComfyUI: its model references (wan22.graph.reader)
    judged on ComfyUI's configured folders (wan22.volume.workflow_check), against the node types
    installed here; also `ready` and `nodes_at_fault` at the top level."""
    import folder_paths

    import nodes

    from ..wan22.graph.packs import manager_map_candidates
    from ..wan22.graph.reader import workflow_refs
    from ..wan22.graph.shapes import load_prompt_file
    from ..wan22.graph.templates import template_node_types
    from ..wan22.volume.workflow_check import check_workflows
    from .inventory_node import comfy_folder_config

    kind, wf = load_prompt_file(data)
    types = set(template_node_types(wf)) if kind == "ui" else {str(v.get("class_type")) for v in wf.values()}
    installed = {t for t in types if t in nodes.NODE_CLASS_MAPPINGS}
    listings = {k: folder_paths.get_filename_list(k) for k in folder_paths.folder_names_and_paths
                if k not in ("custom_nodes", "configs")}
    comfy_dir = os.path.dirname(os.path.realpath(folder_paths.__file__))
    refs = workflow_refs(data, object_info=_node_info(installed), listings=listings,
                         manager_maps=manager_map_candidates(comfy_dir))
    report = check_workflows(comfy_folder_config(), {"workflow": refs}, extra_listings=listings)
    if strict:
        report.apply_strict()
    body = report.as_dict(["workflow"])
    st = report.workflows["workflow"]
    body["ready"] = st.ready
    body["nodes_at_fault"] = getattr(st, "nodes_at_fault", [])
    return body


async def post_inventory_workflow(request: web.Request) -> web.Response:
    """POST /wan22/inventory/workflow: the inventory of the workflow in the body (UI or API format,
    or {"workflow": ...}; at most MAX_WORKFLOW_BYTES). Takes no path: the model references are
    looked up only in ComfyUI's configured model folders. `strict` as for GET /wan22/inventory."""
    err = _check_params(request, {"strict"})
    if err:
        return _bad(err)
    strict_raw = request.query.get("strict", "").lower()
    if strict_raw not in BOOL_VALUES:
        return _bad("strict must be true or false")
    limit = f"the workflow is larger than {MAX_WORKFLOW_BYTES // (1024 * 1024)} MiB"
    if request.content_length is not None and request.content_length > MAX_WORKFLOW_BYTES:
        return _bad(limit, 413)
    # content.read(n) returns what has arrived so far (a body sent in pieces came back cut short):
    # read to the end, bounded
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_WORKFLOW_BYTES:
            return _bad(limit, 413)
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        data = json.loads(raw)
    except ValueError as e:
        return _bad(f"the body must be a workflow as JSON (UI or API format): {e}")
    if isinstance(data, dict) and isinstance(data.get("workflow"), dict) and "nodes" not in data:
        data = data["workflow"]
    try:
        body = await asyncio.get_running_loop().run_in_executor(None, workflow_report, data, BOOL_VALUES[strict_raw])
    except Wan22Error as e:
        return _bad(str(e))
    except Exception as e:  # a report must never take the server down; say what failed
        log.exception("[wan22] workflow check failed")
        return _bad(f"the workflow check failed: {e.__class__.__name__}: {e}", 500)
    return web.json_response(body)


async def get_prefetch(request: web.Request) -> web.Response:
    """What the prefetcher read for the last queued prompt and how long it took (nodes/prefetch.py
    keeps it in memory; file names, no paths). Takes no parameters."""
    if request.query:
        return _bad("/wan22/prefetch takes no parameters")
    from . import prefetch

    return web.json_response(prefetch.status())


def register(routes: web.RouteTableDef) -> None:
    routes.get("/wan22/inventory")(get_inventory)
    routes.get("/wan22/plan")(get_plan)
    routes.post("/wan22/inventory/workflow")(post_inventory_workflow)
    routes.get("/wan22/prefetch")(get_prefetch)
