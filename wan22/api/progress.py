"""A prompt's progress from ComfyUI's websocket events, and its bar (tqdm).

`NodeProgress` turns events (execution_cached, executing, progress, executed) into a fraction of
the prompt's nodes done plus the running node and its sampler steps; no I/O. A node whose step
counter restarts runs its next stage (Wan22MoESampler: one KSampler per expert): the label reads
"high 2/2, low 1/2" (the stages of the router's plan, else "stage 1 2/2, stage 2 1/2") and the
fraction never runs backwards. `ProgressBar` draws it with tqdm on the stream the caller passes:
redrawn in place on a terminal, one line per node and sampler step in a log (tqdm's own
formatter, so both read alike).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from tqdm import tqdm

from ..plan.routing import make_plan, stage_names

BAR_FORMAT = "[wan22] [{bar:24}] {percentage:3.0f}% {desc}{elapsed}"  # desc: "node 5 KSampler 2/4 "
BAR_CHARS = "-#"  # tqdm's `ascii` charset: empty, full
SCALE = 1000  # the bar counts thousandths of the prompt


@dataclass
class NodeProgress:
    """Which of the prompt's nodes are done or cached, which runs now, and its sampler step."""

    prompt: Mapping[str, Any]
    done: set[str] = field(default_factory=set)
    cached: set[str] = field(default_factory=set)
    current: str | None = None
    step: tuple[int, int] | None = None
    stages: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # node id -> its plan's stage names
    stages_done: list[tuple[int, int]] = field(default_factory=list)  # the running node's finished stages
    floor: float = 0.0  # the largest fraction shown so far

    @property
    def total(self) -> int:
        """Nodes that really run (cached ones do not count)."""
        return max(1, len(self.prompt) - len(self.cached))

    def fraction(self) -> float:
        """0..1: nodes done, plus the running node's share of its sampler steps (its stages: each
        an equal share when the plan names them); never below a fraction returned before."""
        n = len(self.done - self.cached)
        part = self.step[0] / self.step[1] if self.step and self.step[1] else 0.0
        known = len(self.stages.get(self.current or "", ()))
        if self.stages_done or known > 1:
            part = (len(self.stages_done) + part) / max(known, len(self.stages_done) + 1)
        self.floor = max(self.floor, min(1.0, (n + (part if self.current and self.current not in self.done else 0.0))
                                         / self.total))
        return self.floor

    def label(self) -> str:
        """'node <id> <class_type> [<step>/<steps>]' of the running node ('' between nodes); a node
        with stages: 'node 9 Wan22MoESampler high 2/2, low 1/2'."""
        if not self.current:
            return ""
        ctype = (self.prompt.get(self.current) or {}).get("class_type", "?")
        text = f"node {self.current} {ctype}"
        if not self.step:
            return text
        names = self.stages.get(self.current, ())
        if not self.stages_done and len(names) < 2:
            return f"{text} {self.step[0]}/{self.step[1]}"
        return f"{text} {stage_text(names, [*self.stages_done, self.step])}"

    def event(self, msg: Mapping[str, Any]) -> None:
        """Take one websocket event ({"type", "data"}); unknown types change nothing."""
        kind, data = msg.get("type"), msg.get("data") or {}
        if kind == "execution_cached":
            self.cached |= {str(n) for n in data.get("nodes", [])}
            self.done |= self.cached
        elif kind == "executing":
            node = data.get("node")
            if self.current and self.current != node:
                self.done.add(self.current)
            self.current = str(node) if node is not None else None
            self.step = None
            self.stages_done = []
        elif kind == "progress":
            node = str(data["node"]) if data.get("node") is not None else self.current
            step = (int(data.get("value", 0)), int(data.get("max", 0)))
            if node != self.current:
                self.stages_done = []
            elif self.step is not None and (step[0] < self.step[0] or step[0] == self.step[0] == self.step[1]):
                self.stages_done.append(self.step)  # the counter restarted: the node's next stage
            self.current, self.step = node, step
        elif kind == "executed" and data.get("node") is not None:
            self.done.add(str(data["node"]))

    def finish(self) -> None:
        """Every node done."""
        self.done = set(self.prompt)
        self.current = None


def stage_text(names: Sequence[str], steps: Sequence[tuple[int, int]]) -> str:
    """'high 2/2, low 1/2': each stage's step counter under the plan's stage name ('stage N' past
    the names); the bar's label and the worker's job progress both read this way."""
    return ", ".join(f"{names[i] if i < len(names) else f'stage {i + 1}'} {v}/{m}" for i, (v, m) in enumerate(steps))


def prompt_stages(prompt: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The stage names of each Wan22MoESampler whose plan comes from a Wan22ModeRouter with literal
    mode and preset ({} for others: their stages read 'stage 1', 'stage 2')."""
    out: dict[str, tuple[str, ...]] = {}
    for nid, node in prompt.items():
        if not isinstance(node, Mapping) or node.get("class_type") != "Wan22MoESampler":
            continue
        link = (node.get("inputs") or {}).get("plan")
        if not isinstance(link, list) or not link:
            continue
        router = prompt.get(str(link[0])) or {}
        inputs = router.get("inputs") or {}
        mode, preset = inputs.get("mode"), inputs.get("preset")
        if router.get("class_type") != "Wan22ModeRouter" or not isinstance(mode, str) or not isinstance(preset, str):
            continue
        try:
            out[str(nid)] = stage_names(make_plan(mode, preset).stages)
        except Exception:  # an override or a preset this plan cannot take: generic stage names
            continue
    return out


class ProgressBar:
    """A NodeProgress drawn with tqdm on `stream` (a terminal: in place; a log: one line per change)."""

    def __init__(self, prompt: Mapping[str, Any], stream: TextIO) -> None:
        self.state = NodeProgress(prompt, stages=prompt_stages(prompt))
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._last_key = ""
        self._bar = tqdm(total=SCALE, file=stream, bar_format=BAR_FORMAT, ascii=BAR_CHARS, disable=not self.tty,
                         leave=True, mininterval=0.2)

    def event(self, msg: Mapping[str, Any]) -> None:
        """Take one websocket event and redraw."""
        self.state.event(msg)
        self._draw()

    def finish(self) -> None:
        """Draw 100% and end the bar's line."""
        self.state.finish()
        self._last_key = ""  # the 100% line is always drawn
        self._draw()
        self._bar.close()

    def _draw(self) -> None:
        n = round(self.state.fraction() * SCALE)
        label = self.state.label()
        if self.tty:
            self._bar.n = n
            self._bar.set_description_str(label + " " if label else "", refresh=False)
            self._bar.refresh()
            return
        key = f"{self.state.current}|{self.state.step}"
        if key == self._last_key:
            return
        self._last_key = key
        line = tqdm.format_meter(n, SCALE, time.monotonic() - self.started, bar_format=BAR_FORMAT, ascii=BAR_CHARS,
                                 prefix=label + " " if label else "")
        self.stream.write(line + "\n")
        self.stream.flush()
