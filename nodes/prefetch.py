"""ComfyUI hook: when a prompt is queued, prefetch the model files it will load, in the order
ComfyUI's executor will load them, while ComfyUI validates and starts executing it.

Registered from Wan22Extension.on_load with PromptServer's on_prompt handlers (server.py calls
them on every POST /prompt before validation). The handler only copies the prompt and hands it
to one background thread; the work (which files, in which order, reading them) is
wan22.volume.prefetch. ComfyUI's loaders still do all the loading; they just find the data in RAM.
Prompts are prefetched one after another, in queue order. WAN22_PREFETCH=0 turns it off.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import folder_paths

from ..wan22.plan.bundle_spec import BUNDLE_INPUTS
from ..wan22.volume import prefetch as core
from ..wan22.volume.prefetch_cache import CacheSink, LocalCache

log = logging.getLogger("wan22")
_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wan22-prefetch-plan")
_lock = threading.Lock()
_current: core.PrefetchJob | None = None
_last: core.PrefetchReport | None = None
LISTED_FOLDERS = tuple(dict.fromkeys([*(i.folder for i in BUNDLE_INPUTS), "loras"]))
_cache: LocalCache | None = None


class _NoCache:
    """What ExecutionList asks of the output cache: nothing is cached in a planning pass."""

    def get_local(self, _node_id: str) -> None:
        return None

    def get(self, _node_id: str) -> None:
        return None


def execution_order(prompt: dict[str, Any]) -> list[str]:
    """Node ids in the order ComfyUI's executor would run them on a cold cache, computed with its
    own ExecutionList and pick rule; [] when that is not possible (the prompt's order is used)."""
    try:
        from comfy_execution.graph import DynamicPrompt, ExecutionList

        import nodes as comfy_nodes

        outputs = []
        for nid, node in prompt.items():
            cls = comfy_nodes.NODE_CLASS_MAPPINGS.get(node.get("class_type"))
            if cls is not None and getattr(cls, "OUTPUT_NODE", False) is True:
                outputs.append(nid)
        el = ExecutionList(DynamicPrompt(prompt), _NoCache())
        for nid in outputs:
            el.add_node(nid)
        order: list[str] = []
        while not el.is_empty():
            ready = el.get_ready_nodes()
            if not ready:
                break
            nid = el.ux_friendly_pick_node(ready)
            order.append(nid)
            el.pop_node(nid)
        return order
    except Exception as e:  # an invalid prompt: validation will say why
        log.debug("[wan22] prefetch: no execution order (%s)", e)
        return []


def _listings() -> dict[str, list[str]]:
    out = {}
    for folder in LISTED_FOLDERS:
        try:
            out[folder] = list(folder_paths.get_filename_list(folder))
        except KeyError:
            out[folder] = []
    return out


def _resolve(folder: str, name: str) -> str | None:
    """The file on the volume (never the local copy cache's copy of it)."""
    try:
        dirs = folder_paths.get_folder_paths(folder)
    except KeyError:
        return None
    skip = str(_cache.root) if _cache is not None else None
    for d in dirs:
        if skip and os.path.realpath(d).startswith(os.path.realpath(skip)):
            continue
        path = os.path.join(d, name)
        if os.path.isfile(path):
            return path
    return None


def _use_cache(needed: list[core.Needed]) -> tuple[list[core.Needed], CacheSink | None]:
    """With WAN22_LOCAL_CACHE: drop stale copies, skip files with a valid copy (ComfyUI finds it
    first), and copy the rest while prefetching them."""
    if _cache is None:
        return needed, None
    todo = [n for n in needed if not _cache.validate(n.folder, n.name, n.path)]
    return todo, CacheSink(_cache, {n.path: (n.folder, n.name) for n in todo})


def plan(prompt: dict[str, Any]) -> list[core.Needed]:
    """The files `prompt` loads that the switch lets us prefetch, in ComfyUI's load order."""
    listings = _listings()
    if not [n for n in core.files_for_prompt(prompt, _resolve, listings=listings) if core.wanted(n.path)]:
        return []  # nothing on a network volume (or switched off): skip the ordering work
    needed = core.files_for_prompt(prompt, _resolve, order=execution_order(prompt), listings=listings)
    return [n for n in needed if core.wanted(n.path)]


def _run(needed: list[core.Needed], sink: CacheSink | None,
         on_done: Callable[[core.PrefetchReport], None] | None = None) -> None:
    global _current, _last
    log.info("[wan22] prefetch: %d file(s) in load order: %s", len(needed), ", ".join(n.name for n in needed))
    job = core.PrefetchJob([n.path for n in needed], cache=sink)
    with _lock:
        _current = job
    report = job.start().wait()
    with _lock:
        _current, _last = None, report
    log.info("[wan22] %s", report.summary_line())
    if on_done is not None:
        on_done(report)


def on_prompt(json_data: Any) -> Any:
    """PromptServer on_prompt handler: never changes the request, never raises."""
    try:
        prompt = json_data.get("prompt") if isinstance(json_data, dict) else None
        if isinstance(prompt, dict) and prompt and core.switch() != "off":
            needed, sink = _use_cache(plan(json.loads(json.dumps(prompt))))  # before validation resolves names
            if needed:
                _pool.submit(_run, needed, sink)
    except Exception as e:  # a prefetch problem must never block a prompt
        log.warning("[wan22] prefetch not started: %s", e)
    return json_data


def cancel() -> None:
    """Stop the prefetch in progress (its report says 'cancelled')."""
    with _lock:
        if _current is not None:
            _current.cancel()


def last_report() -> core.PrefetchReport | None:
    with _lock:
        return _last


def _register_cache() -> None:
    """WAN22_LOCAL_CACHE=DIR: DIR/<folder key> goes ahead of the volume in ComfyUI's search."""
    global _cache
    _cache = LocalCache.from_env()
    if _cache is None:
        return
    for folder in LISTED_FOLDERS:
        d = _cache.root / folder
        d.mkdir(parents=True, exist_ok=True)
        folder_paths.add_model_folder_path(folder, str(d), is_default=True)
    log.info("[wan22] local copy cache %s (cap %.0f GB)", _cache.root, _cache.max_bytes / 1e9)


def register(server: Any) -> None:
    """Add the handler to a PromptServer (once)."""
    if on_prompt not in getattr(server, "on_prompt_handlers", []):
        try:
            _register_cache()
        except (OSError, ValueError) as e:
            log.warning("[wan22] local copy cache not used: %s", e)
        server.add_on_prompt_handler(on_prompt)
        log.info("[wan22] prefetch on queued prompts: %s (WAN22_PREFETCH=0 turns it off)", core.switch())
