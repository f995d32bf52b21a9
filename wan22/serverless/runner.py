"""Run one API prompt on the worker's ComfyUI and see it through: queue it with the job's own
websocket client id, report sampler progress, and end it one of four ways: finished (its
/history entry), failed in a node (named), over its time limit (interrupted and dequeued, the
queue left clean), or lost with the server (ComfyUI died or stopped answering).

Follows the prompt with `wan22.api.client.Client.follow`, the project's one loop, passing this
job's time limit and liveness checks as its hooks; the websocket only speeds things up and carries
progress: /history stays the source of truth, polled every 2 s.
"""

from __future__ import annotations

import logging
import time
import urllib.error
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import websocket

from ..api.client import DONE_EVENTS, Client, Step, SubmitError, execution_error
from ..api.progress import stage_text
from ..errors import Wan22Error
from .comfy import Comfy

log = logging.getLogger("wan22.worker")
POLL_S = 2.0


class JobFailed(Wan22Error):
    """The job ran but did not finish; `refresh_worker` asks RunPod for a fresh worker."""

    def __init__(self, message: str, refresh_worker: bool = False) -> None:
        super().__init__(message)
        self.refresh_worker = refresh_worker


@dataclass
class Progress:
    """Sampler steps -> 'high 2/2, low 1/2': a node's step counter restarting means the next
    stage of the plan (the MoE sampler runs one KSampler per expert); each further sampler node
    is the next S2V chunk."""

    stages: tuple[str, ...]
    send: Callable[[str], None]
    nodes: list[str] = field(default_factory=list)
    done: list[tuple[int, int]] = field(default_factory=list)
    last: tuple[int, int] | None = None
    sent: str = ""

    def step(self, node: str | None, value: int, total: int) -> None:
        key = node or "?"
        if not self.nodes or self.nodes[-1] != key:
            self.nodes.append(key)
            self.done, self.last = [], None
        elif self.last is not None and value <= self.last[0]:
            self.done.append(self.last)
        self.last = (value, total)
        text = stage_text(self.stages, [*self.done, self.last]) if self.stages else f"step {value}/{total}"
        if len(self.nodes) > 1:
            text = f"chunk {len(self.nodes)}: {text}"
        if text != self.sent:
            self.sent = text
            self.send(text)


@dataclass
class Result:
    prompt_id: str
    entry: dict[str, Any]
    queued_s: float
    run_s: float


class Run:
    """One prompt on `comfy`, ended by `deadline` (time.monotonic) at the latest."""

    def __init__(self, comfy: Comfy, prompt: Mapping[str, Any], timeout: float, progress: Progress | None,
                 hang_timeout: float = 120.0) -> None:
        self.comfy = comfy
        self.client = Client(comfy.url, timeout=min(30.0, max(2.0, hang_timeout / 2)))
        self.prompt = prompt
        self.timeout = timeout
        self.progress = progress
        self.hang_timeout = hang_timeout
        self.ws: websocket.WebSocket | None = None
        self.prompt_id = ""
        self.t_queued = 0.0
        self.t_started: float | None = None

    # ------------------------------------------------------------------ lifecycle
    def execute(self) -> Result:
        try:
            self.ws = self.client.connect_events(timeout=10.0)
        except (websocket.WebSocketException, OSError):
            self.ws = None  # /history polling still works; a down server shows in queue()
        try:
            self._queue()
            entry = self._follow()
        finally:
            if self.ws is not None:
                self.ws.close()
        err = execution_error(entry)
        if err:
            raise JobFailed(f"ComfyUI failed the workflow: {err}")
        total = time.monotonic() - self.t_queued
        run_s = _run_seconds(entry, self.t_started, total)
        return Result(self.prompt_id, entry, max(0.0, total - run_s), run_s)

    def _queue(self) -> None:
        try:
            self.prompt_id = self.client.queue(self.prompt)
        except SubmitError as e:
            raise JobFailed(str(e).replace("ComfyUI refused the prompt:", "ComfyUI refused the workflow (nothing was queued):")) from None
        except (urllib.error.URLError, OSError) as e:
            self._lost(f"POST /prompt failed ({getattr(e, 'reason', e)})")
        self.t_queued = time.monotonic()

    def _follow(self) -> dict[str, Any]:
        """`Client.follow`, with this job's time limit and liveness checks as its hooks."""
        left = max(0.0, self.t_queued + self.timeout - time.monotonic())
        return self.client.follow(self.prompt_id, left, self.ws, on_event=self._event, on_progress=self._step,
                                  on_poll_error=self._check_alive, on_deadline=self._time_limit, poll_s=POLL_S)

    # ------------------------------------------------------------------ events
    def _event(self, msg: Mapping[str, Any]) -> None:
        data = msg.get("data") or {}
        if msg.get("type") == "execution_start" and data.get("prompt_id") == self.prompt_id and self.t_started is None:
            self.t_started = time.monotonic()

    def _step(self, step: Step) -> None:
        if self.progress is not None:
            self.progress.step(step.node, step.value, step.max)

    # ------------------------------------------------------------------ endings
    def _check_alive(self, err: Exception, silent: float) -> None:
        """After a failed /history poll (`silent`: seconds since the last good one): a dead child
        fails the job at once; a ComfyUI that refuses connections (one the worker did not start)
        after 10 s; one that stays silent after `hang_timeout` (the worker kills and restarts its
        own)."""
        p = self.comfy.process
        if p is not None and not p.alive():
            self._lost(f"ComfyUI stopped ({p.exit_text()})")
        refused = isinstance(getattr(err, "reason", err), ConnectionRefusedError)
        if p is None and refused and silent > 10.0:
            self._lost(f"ComfyUI at {self.comfy.url} refuses connections")
        if silent > self.hang_timeout:
            self._lost(f"ComfyUI at {self.comfy.url} has not answered for {silent:.0f} s "
                       f"({getattr(err, 'reason', err)})", hung=True)

    def _lost(self, reason: str, hung: bool = False) -> None:
        what, refresh = self.comfy.recover(hung=hung)
        where = f" (prompt {self.prompt_id})" if self.prompt_id else ""
        raise JobFailed(f"{reason} during the job{where}, so the job failed; {what}", refresh_worker=refresh)

    def _time_limit(self) -> None:
        """Dequeue or interrupt the prompt, wait until it has left ComfyUI's queue, then fail."""
        where = "while waiting in ComfyUI's queue" if self.t_started is None else "while running"
        try:
            self.client.post_json("/queue", {"delete": [self.prompt_id]})
            self.client.interrupt(self.prompt_id)
            clean = self._wait_gone(30.0)
        except (SubmitError, urllib.error.URLError, OSError):
            clean = False
        state = "ComfyUI was interrupted and its queue is clean" if clean else "ComfyUI did not confirm the interrupt"
        raise JobFailed(f"the job exceeded its time limit of {self.timeout:g} s {where} (prompt {self.prompt_id}); "
                        f"{state}. Raise input.timeout (up to the worker's WAN22_JOB_TIMEOUT) or ask for fewer frames")

    def _wait_gone(self, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            q = self.client.queue_state()
            ids = [item[1] for key in ("queue_running", "queue_pending") for item in q.get(key) or []
                   if isinstance(item, list) and len(item) > 1]
            if self.prompt_id not in ids:
                return True
            time.sleep(0.2)
        return False


def _run_seconds(entry: Mapping[str, Any], t_started: float | None, total: float) -> float:
    """Execution time from ComfyUI's own message timestamps (ms), else from our clock."""
    stamps: dict[str, float] = {}
    for kind, data in (entry.get("status") or {}).get("messages") or []:
        if isinstance(data, dict) and "timestamp" in data:
            stamps[str(kind)] = float(data["timestamp"])
    end = next((stamps[k] for k in DONE_EVENTS if k in stamps), None)
    if "execution_start" in stamps and end is not None:
        return max(0.0, min(total, (end - stamps["execution_start"]) / 1000.0))
    return total if t_started is None else max(0.0, time.monotonic() - t_started)


def forget(comfy: Comfy, prompt_id: str) -> None:
    """Drop the prompt's /history entry (a warm worker's history would grow without end)."""
    try:
        Client(comfy.url, timeout=10.0).post_json("/history", {"delete": [prompt_id]})
    except (urllib.error.URLError, OSError):
        pass
