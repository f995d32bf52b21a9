"""ComfyUI hook: when a prompt is queued, prefetch the model files it will load, in the order
ComfyUI's executor will load them, while ComfyUI validates and starts executing it.

Registered from Wan22Extension.on_load with PromptServer's on_prompt handlers (server.py calls
them on every POST /prompt before validation). The handler only copies the prompt and hands it
to one background thread; the work (which files, in which order, reading them) is
wan22.prefetch.engine. ComfyUI's loaders still do all the loading; they just find the data in RAM.
Prompts are prefetched one after another, in queue order. WAN22_PREFETCH=0 turns it off.

What was read for the last prompt (files, bytes, seconds, MB/s, skipped or cancelled), the job
running now and why a prompt was not prefetched are kept in memory (`status()`): GET
/wan22/prefetch answers it and the inventory sidebar shows it; the log has the summary line.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import folder_paths

from ..wan22.plan.bundle_spec import BUNDLE_INPUTS
from ..wan22.prefetch import engine as core
from ..wan22.prefetch.cache import CacheSink, LocalCache

log = logging.getLogger("wan22")
_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wan22-prefetch-plan")
_lock = threading.Lock()
_current: core.PrefetchJob | None = None
_last: core.PrefetchReport | None = None
LISTED_FOLDERS = tuple(dict.fromkeys([*(i.folder for i in BUNDLE_INPUTS), "loras"]))
_cache: LocalCache | None = None
_history: dict[str, Any] = {"prompts": 0, "last_prompt": None, "finished_at": None}


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


def _plan(prompt: dict[str, Any]) -> tuple[list[core.Needed], list[str], str]:
    """The files `prompt` loads that the switch lets us prefetch, in ComfyUI's load order; the
    names of all the files it loads; why none are prefetched ('' when some are)."""
    listings = _listings()
    found = core.files_for_prompt(prompt, _resolve, listings=listings)
    names = [n.name for n in found]
    if not found:
        return [], names, "the prompt loads no model file found in ComfyUI's model folders"
    if not [n for n in found if core.wanted(n.path)]:  # nothing on a network volume: skip the ordering work
        return [], names, (f"{len(found)} file(s), none on a network or FUSE filesystem ({core.ENV_SWITCH} is auto: "
                           f"only those are prefetched; {core.ENV_SWITCH}=1 prefetches every volume)")
    needed = core.files_for_prompt(prompt, _resolve, order=execution_order(prompt), listings=listings)
    return [n for n in needed if core.wanted(n.path)], [n.name for n in needed], ""


def plan(prompt: dict[str, Any]) -> list[core.Needed]:
    """The files `prompt` loads that the switch lets us prefetch, in ComfyUI's load order."""
    return _plan(prompt)[0]


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
        _history["finished_at"] = time.time()
    log.info("[wan22] %s", report.summary_line())
    if on_done is not None:
        on_done(report)


def _note_prompt(files: list[str], needed: list[core.Needed], todo: list[core.Needed], reason: str) -> None:
    """Keep what the last queued prompt loads, what is prefetched for it, and why not."""
    with _lock:
        _history["prompts"] += 1
        _history["last_prompt"] = {
            "at": time.time(), "files": files, "prefetching": [n.name for n in todo],
            "local_copies": [n.name for n in needed if n not in todo], "reason": reason}


def on_prompt(json_data: Any) -> Any:
    """PromptServer on_prompt handler: never changes the request, never raises."""
    try:
        prompt = json_data.get("prompt") if isinstance(json_data, dict) else None
        if isinstance(prompt, dict) and prompt:
            if core.switch() == "off":
                _note_prompt([], [], [], f"switched off ({core.ENV_SWITCH}=0)")
                return json_data
            needed, files, reason = _plan(json.loads(json.dumps(prompt)))  # before validation resolves names
            todo, sink = _use_cache(needed)
            if needed and not todo:
                reason = "every file has a valid local copy (WAN22_LOCAL_CACHE)"
            _note_prompt(files, needed, todo, reason)
            if todo:
                _pool.submit(_run, todo, sink)
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


def report_dict(report: core.PrefetchReport) -> dict[str, Any]:
    """A report as JSON for the sidebar: file names (no paths), bytes, seconds, MB/s, counts."""
    files = [{"name": os.path.basename(f.path), "size": f.size, "read_bytes": f.read_bytes, "cached_bytes": f.cached_bytes,
              "seconds": f.seconds, "status": f.status, "detail": f.detail} for f in list(report.files)]
    counts: dict[str, int] = {}
    for f in files:
        counts[str(f["status"])] = counts.get(str(f["status"]), 0) + 1
    read = sum(int(f["read_bytes"]) for f in files)
    return {"files": files, "counts": counts, "read_bytes": read, "cached_bytes": sum(int(f["cached_bytes"]) for f in files),
            "seconds": report.seconds, "mb_per_s": round(read / 1e6 / report.seconds, 1) if report.seconds > 0 else 0.0,
            "streams": report.streams, "stopped": report.stopped, "budget_bytes": report.budget_bytes,
            "summary": report.summary_line()}


def status() -> dict[str, Any]:
    """What GET /wan22/prefetch answers: the switch, the local cache, the job running now (its
    progress so far), the last finished job's report and what the last queued prompt asked for."""
    with _lock:
        job, last, hist = _current, _last, dict(_history)
    out: dict[str, Any] = {"switch": core.switch(), "local_cache": str(_cache.root) if _cache is not None else None,
                           "running": job is not None, "prompts": hist["prompts"], "last_prompt": hist["last_prompt"],
                           "current": report_dict(job.report) if job is not None else None,
                           "last": report_dict(last) if last is not None else None}
    if out["last"] is not None:
        out["last"]["finished_at"] = hist["finished_at"]
    return out


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
