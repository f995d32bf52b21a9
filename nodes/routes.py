"""HTTP routes under /wan22/. They take no filesystem path from the client: the inventory looks
only at ComfyUI's configured model folders, and the plan is pure computation."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from aiohttp import web

from ..wan22.errors import Wan22Error
from ..wan22.plan.routing import MODES, PRESETS, WORKFLOW_IDS, make_plan

log = logging.getLogger("wan22")
MAX_PARAM_LEN = 64
MAX_PARAMS = 16
INVENTORY_PARAMS = {"workflow", "strict"}
BOOL_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "": False}
PLAN_PARAMS = {"mode", "preset", "steps", "cfg", "shift", "split_step", "sampler", "scheduler", "relight", "lora_strength",
               "lora_high", "lora_low"}
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


def _num(request: web.Request, name: str, kind: type) -> Any:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return kind(raw)
    except ValueError:
        raise Wan22Error(f"{name}={raw!r} is not a valid {kind.__name__}") from None


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
    """The plan Wan22ModeRouter would apply for these widget values (same code as the node; the
    sigmas come from ComfyUI's own schedulers, so every scheduler works)."""
    import comfy.samplers

    from .router import draft_plan, overrides_from_inputs

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
    sampler = q.get("sampler") or "auto"
    scheduler = q.get("scheduler") or "auto"
    if sampler != "auto" and sampler not in comfy.samplers.KSampler.SAMPLERS:
        return _bad(f"sampler '{sampler}' is not a ComfyUI sampler")
    if scheduler != "auto" and scheduler not in comfy.samplers.KSampler.SCHEDULERS:
        return _bad(f"scheduler '{scheduler}' is not a ComfyUI scheduler")
    relight_raw = q.get("relight", "true").lower()
    if relight_raw not in BOOL_VALUES:
        return _bad("relight must be true or false")
    try:
        split = _num(request, "split_step", int)
        ov = overrides_from_inputs(
            mode, _num(request, "steps", int) or 0, _num(request, "cfg", float) or 0.0, _num(request, "shift", float) or 0.0,
            -1 if split is None else split, sampler, scheduler, q.get("lora_high") or "auto", q.get("lora_low") or "auto",
            _num(request, "lora_strength", float) or 0.0, BOOL_VALUES[relight_raw])
        if ov.split_step is not None and ov.split_step < 0:
            return _bad(f"split_step {split}: use -1 (from the boundary) or a step number")
        for name in ("cfg", "shift", "lora_strength"):
            v = _num(request, name, float)
            if v is not None and not math.isfinite(v):
                return _bad(f"{name} must be a finite number")
        draft = draft_plan(mode, preset, ov)
        plan = make_plan(mode, preset, ov, sigmas=comfy_sigmas(draft.scheduler, draft.steps, draft.shift))
    except ValueError as e:
        return _bad(str(e))
    return web.json_response(plan.as_dict())


def register(routes: web.RouteTableDef) -> None:
    routes.get("/wan22/inventory")(get_inventory)
    routes.get("/wan22/plan")(get_plan)
