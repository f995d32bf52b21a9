"""Every shape a workflow arrives in, down to one of two formats: a UI workflow (`nodes` and
`links`) or an API prompt (`{"<id>": {"class_type", "inputs"}}`).

Shapes read (what users bring and what ComfyUI and RunPod hand out):

* a UI workflow, as the frontend saves it;
* an API prompt (the frontend's "Export (API)"), or one wrapped as `{"prompt": ...}` (the body of
  `POST /prompt`) or `{"workflow": ...}`;
* a RunPod request body: `{"input": {"workflow": ...}}` or `{"input": {"prompt": ...}}`, the
  inner workflow also as a JSON string;
* a queue item `[number, prompt_id, prompt, extra_data, outputs]` (`/queue` lists them, `/history`
  holds one per prompt), `/queue` itself with one item, and a `/history` object
  `{prompt_id: {"prompt": [...], "outputs": ...}}` with one entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import WorkflowError
from .widgets import JSON

MAX_UNWRAP = 8
NOT_A_WORKFLOW = ("not a ComfyUI workflow: expected an API-format prompt ({\"<id>\": {\"class_type\", \"inputs\"}}), "
                  "a UI workflow (with \"nodes\" and \"links\"), {\"prompt\": ...}, a RunPod body {\"input\": "
                  "{\"workflow\": ...}} or a queue/history item [number, prompt_id, prompt, extra_data, outputs]")


@dataclass(frozen=True)
class Shaped:
    format: str  # "ui" or "api"
    workflow: JSON
    shape: str  # how it arrived: ui, api, prompt, runpod-body, queue-item, queue, history


def is_ui_workflow(data: Any) -> bool:
    """True for a UI (frontend save) workflow: a dict with a `nodes` list and `links`."""
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def is_api_prompt(data: Any) -> bool:
    """True for an API prompt: a non-empty dict of {"class_type", "inputs": {...}} entries."""
    return (isinstance(data, dict) and bool(data)
            and all(isinstance(v, dict) and "class_type" in v and isinstance(v.get("inputs", {}), dict)
                    for v in data.values()))


def is_queue_item(data: Any) -> bool:
    """[number, prompt_id, prompt, ...]: a queue or history item."""
    return (isinstance(data, list) and len(data) >= 3 and isinstance(data[0], (int, float))
            and not isinstance(data[0], bool) and isinstance(data[1], str) and isinstance(data[2], dict))


def _decoded(v: Any) -> Any:
    """A workflow sent as a JSON string (RunPod bodies often carry one)."""
    if isinstance(v, str) and v.lstrip().startswith(("{", "[")):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _one(items: list[Any], what: str) -> Any:
    if len(items) != 1:
        raise WorkflowError(f"{what} holds {len(items)} prompts: save one of them (one queue item, or "
                            "/history/<prompt_id>) and check that")
    return items[0]


def _history_entry(data: Mapping[str, Any]) -> bool:
    return bool(data) and all(isinstance(v, dict) and is_queue_item(v.get("prompt")) for v in data.values())


def _unwrap(data: Any) -> tuple[Any, str]:
    """One step inward: (the inner value, the shape name), or (data, '') when there is none."""
    if is_queue_item(data):
        return data[2], "queue-item"
    if not isinstance(data, dict):
        return data, ""
    inner = data.get("input")
    if isinstance(inner, dict) and ("workflow" in inner or "prompt" in inner):
        return _decoded(inner.get("workflow", inner.get("prompt"))), "runpod-body"
    if "queue_running" in data or "queue_pending" in data:
        items = list(data.get("queue_running") or []) + list(data.get("queue_pending") or [])
        return _one(items, "this /queue answer"), "queue"
    if _history_entry(data):
        return _one([v["prompt"] for v in data.values()], "this /history answer"), "history"
    for key in ("prompt", "workflow"):
        v = _decoded(data.get(key))
        if (isinstance(v, dict) and (is_api_prompt(v) or is_ui_workflow(v))) or is_queue_item(v):
            return v, "prompt" if key == "prompt" else "api"
    return data, ""


def read_shape(data: Any) -> Shaped:
    """The workflow inside any shape above; WorkflowError when it is none of them."""
    shape = ""
    for _ in range(MAX_UNWRAP):
        if is_api_prompt(data):
            return Shaped("api", dict(data), shape or "api")
        if is_ui_workflow(data):
            return Shaped("ui", dict(data), shape or "ui")
        inner, step = _unwrap(data)
        if not step:
            break
        data, shape = inner, shape or step
    raise WorkflowError(NOT_A_WORKFLOW)


def load_prompt_file(data: Any) -> tuple[str, JSON]:
    """('api'|'ui', workflow) from a parsed JSON file of any shape `read_shape` reads."""
    s = read_shape(data)
    return s.format, s.workflow
