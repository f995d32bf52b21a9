"""Submit a workflow: pre-flight, upload, queue, follow, download (what `python -m wan22 submit`
and the demo run), as a library: a typed `SubmitOptions` and `submit(opts, out)`; every line goes
to the caller's callbacks, nothing is printed here.

1. read the workflow (API format; a UI workflow is converted with the server's /object_info);
2. set `prompt` (the CLIPTextEncode feeding `positive`), `seed`, and the LoadImage/LoadAudio
   file names for `image`/`audio`;
3. pre-flight against GET /object_info: every node type installed, every input legal, every
   model/LoRA file present (closest name and download link when not), the router's pairing rules;
   all problems are listed at once and nothing is uploaded or queued when there is one;
4. upload the image/audio (POST /upload/image: ComfyUI stores any file type there, and LoadAudio
   lists audio files from the same input folder), POST /prompt;
5. with `wait`: follow progress over the websocket (`progress`, e.g. a ProgressBar; /history
   polling when the websocket is unavailable), then download every output through /view into `out`.

`runpod_request` writes instead the request body a RunPod ComfyUI worker takes (see .runpod).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import websocket

from ..errors import WorkflowError
from ..graph.convert import check_widget_counts, load_prompt_file, ui_to_api
from ..graph.widgets import JSON, nodes_of
from .client import Client, SubmitError, execution_error, output_items, text_outputs
from .edits import apply_graph_edits, apply_set, set_file_input, set_positive_prompt, set_seed
from .preflight import preflight
from .runpod import RUNPOD_SOFT_LIMIT, job_name, runpod_body, send_hint

DEFAULT_SERVER = "http://127.0.0.1:8188"
Say = Callable[[str], object]

__all__ = ["DEFAULT_SERVER", "Reporter", "SubmitOptions", "read_workflow", "submit"]


@dataclass
class SubmitOptions:
    """Every `python -m wan22 submit` flag, typed (the CLI's defaults)."""

    workflow: str  # WORKFLOW.json: API format, UI format, {"prompt": ...} or a RunPod body
    server: str = DEFAULT_SERVER  # the CLI's default is $COMFYUI_URL when set
    image: str | None = None  # start/reference image to upload and put in the LoadImage node
    audio: str | None = None  # audio file to upload and put in the LoadAudio node
    prompt: str | None = None  # positive prompt text
    seed: int | None = None  # sampler seed
    wait: bool = False  # wait for the run and download outputs
    out: str = "wan22_outputs"  # where `wait` saves outputs
    timeout: float = 3600.0  # seconds `wait` waits
    runpod_request: str | None = None  # write a RunPod worker request body here instead of submitting
    preflight: bool = True  # False: --no-preflight
    width: int | None = None  # on every Wan video node with a width input (edits.GRAPH_EDITS)
    height: int | None = None
    frames: int | None = None  # `length` of every Wan video node
    steps: int | None = None  # on every sampler / scheduler / Wan22ModeRouter
    cfg: float | None = None
    sets: list[str] = field(default_factory=list)  # NODE.INPUT=VALUE, node by id or title

    def graph_edits(self) -> dict[str, Any]:
        """The --width/--height/--frames/--steps/--cfg values (None: not given)."""
        return {"width": self.width, "height": self.height, "frames": self.frames, "steps": self.steps, "cfg": self.cfg}


class Reporter(Protocol):
    """What `submit` drives while it waits (e.g. progress.ProgressBar)."""

    def event(self, msg: Mapping[str, Any]) -> None:
        """One websocket event of the prompt."""

    def finish(self) -> None:
        """The prompt finished."""


@dataclass
class _Lines:
    out: Say
    err: Say

    def problems(self, problems: list[str], where: str) -> None:
        self.err(f"preflight: {len(problems)} problem(s) with {where}; nothing was uploaded or queued:")
        for i, p in enumerate(problems, 1):
            self.err(f"  {i}. " + p.replace("\n", "\n     "))


def submit(opts: SubmitOptions, out: Say, err: Say | None = None,
           progress: Callable[[Mapping[str, Any]], Reporter] | None = None) -> int:
    """Run one submission. `out` takes result lines, `err` problems and warnings (default `out`),
    `progress(prompt)` makes the reporter `wait` feeds (default none). Exit 0: queued (and with
    `wait`: finished, outputs saved); 1: pre-flight problems, refused or failed run, unreachable
    server. Raises WorkflowError for an unreadable workflow (the CLI exits 2)."""
    lines = _Lines(out, err or out)
    kind, data = read_workflow(opts.workflow)
    client = Client(opts.server)
    try:
        if opts.runpod_request:
            return _write_runpod(opts, opts.runpod_request, kind, data, client, lines)
        return _submit(opts, kind, data, client, lines, progress)
    except SubmitError as e:
        lines.err(f"error: {e}")
        return 1


def read_workflow(path: str) -> tuple[str, JSON]:
    """('api'|'ui', workflow) from a file; WorkflowError names the file when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise WorkflowError(f"{path}: no such file (example workflows: example_workflows/api/*.json)") from None
    except ValueError as e:
        raise WorkflowError(f"{path}: not valid JSON ({e})") from None
    return load_prompt_file(data)


def _convert(data: JSON, info: Mapping[str, Any], lines: _Lines) -> JSON:
    """A UI workflow as the frontend would queue it; a note when widget values and node types disagree."""
    mismatched = check_widget_counts(data, info)
    if mismatched:
        lines.err(f"[wan22] note: {len(mismatched)} node(s) were saved with another version of their node type "
                  f"(first: {mismatched[0].split(' but ')[0]}); like the frontend, widgets without a saved value "
                  "take their defaults")
    return ui_to_api(data, info)


def _graph_edits(prompt: JSON, opts: SubmitOptions, say: Say) -> list[str]:
    """--width/--height/--frames/--steps/--cfg and every --set, each reported through `say`; the problems."""
    lines, problems = apply_graph_edits(prompt, opts.graph_edits())
    for spec in opts.sets:
        try:
            lines.append(apply_set(prompt, spec))
        except WorkflowError as e:
            problems.append(str(e))
    for line in lines:
        if line:
            say(f"[wan22] {line}")
    return problems


def _apply_edits(prompt: JSON, opts: SubmitOptions, image_name: str | None,
                 audio_name: str | None, say: Say) -> tuple[list[str], list[tuple[str, str]]]:
    """Set prompt text, seed, the graph edits and input file names (each graph edit reported
    through `say`). Returns (problems, (node, input) uploads)."""
    problems: list[str] = []
    uploads: list[tuple[str, str]] = []
    edits: list[tuple[Callable[[JSON, Any], object], Any]] = [(set_positive_prompt, opts.prompt), (set_seed, opts.seed)]
    for edit, value in edits:
        if value is not None:
            try:
                edit(prompt, value)
            except WorkflowError as e:
                problems.append(str(e))
    problems += _graph_edits(prompt, opts, say)
    for flag, path, ctype, key, name in (("--image", opts.image, "LoadImage", "image", image_name),
                                         ("--audio", opts.audio, "LoadAudio", "audio", audio_name)):
        if path is None:
            continue
        if not os.path.isfile(path):
            problems.append(f"{flag} {path}: no such file")
        ids = nodes_of(prompt, ctype)
        if not ids:
            problems.append(f"{flag}: the workflow has no {ctype} node to put the file in")
            continue
        set_file_input(prompt, ctype, name or os.path.basename(path))
        uploads += [(nid, key) for nid in ids]
    return problems, uploads


def _submit(opts: SubmitOptions, kind: str, data: JSON, client: Client, lines: _Lines,
            progress: Callable[[Mapping[str, Any]], Reporter] | None) -> int:
    info = client.object_info()
    prompt = _convert(data, info, lines) if kind == "ui" else data
    problems, uploads = _apply_edits(prompt, opts, None, None, lines.err)
    if opts.preflight:
        problems += preflight(prompt, info, skip_files=uploads)
    if problems:
        lines.problems(problems, f"{opts.workflow} on {client.url}")
        return 1
    for label, ctype, path in (("image", "LoadImage", opts.image), ("audio", "LoadAudio", opts.audio)):
        if path:
            name = client.upload(path)
            lines.out(f"uploaded {label} {path} -> input/{name}")
            set_file_input(prompt, ctype, name)
    if not opts.wait:
        prompt_id = client.queue(prompt)
        lines.out(f"queued {opts.workflow} on {client.url}: prompt_id {prompt_id}")
        lines.out(f"follow it in the ComfyUI queue, or GET {client.url}/history/{prompt_id}")
        return 0
    entry = _queue_and_follow(opts, prompt, client, lines, progress)
    return _collect(opts, prompt, entry, client, lines)


def _queue_and_follow(opts: SubmitOptions, prompt: JSON, client: Client, lines: _Lines,
                      progress: Callable[[Mapping[str, Any]], Reporter] | None) -> dict[str, Any]:
    """Open the event websocket (before queueing: no event is missed), queue, follow to the end."""
    ws: websocket.WebSocket | None = None
    try:
        ws = client.connect_events(timeout=10)
    except (OSError, websocket.WebSocketException) as e:
        lines.err(f"[wan22] websocket unavailable ({e}); following the run by polling /history")
    try:
        prompt_id = client.queue(prompt)
        lines.out(f"queued {opts.workflow} on {client.url}: prompt_id {prompt_id}")
        reporter = progress(prompt) if progress is not None else None
        entry = client.follow(prompt_id, opts.timeout, ws, on_event=reporter.event if reporter else None)
        if reporter is not None:
            reporter.finish()
        return entry
    finally:
        if ws is not None:
            ws.close()


def _collect(opts: SubmitOptions, prompt: JSON, entry: Mapping[str, Any], client: Client, lines: _Lines) -> int:
    """Report a finished run: its error, text outputs, and every output file downloaded."""
    failure = execution_error(entry)
    if failure:
        lines.err(f"error: {failure}")
        return 1
    for nid, text in text_outputs(entry):
        ctype = (prompt.get(nid) or {}).get("class_type", "?")
        lines.out(f"--- node {nid} ({ctype}) ---\n{text.rstrip()}")
    saved = [client.download(item, opts.out) for _nid, item in output_items(entry)]
    for path in saved:
        lines.out(f"saved {path}")
    if not saved and nodes_of(prompt, "SaveVideo"):
        lines.err("warning: the run finished but returned no files")
    return 0


def _runpod_info(opts: SubmitOptions, kind: str, client: Client, lines: _Lines) -> dict[str, Any] | None:
    """The server's /object_info when one answers (needed to convert a UI workflow; used for the preflight)."""
    if kind != "ui" and not opts.preflight:
        return None
    try:
        return client.object_info()
    except SubmitError as e:
        if kind == "ui":
            raise WorkflowError(f"{opts.workflow} is a UI workflow: converting it needs a server's /object_info ({e}); "
                                "or use its API twin in example_workflows/api/") from None
        lines.err(f"[wan22] no server at {client.url}: skipped the server preflight (pass --server URL of a ComfyUI "
                  "with the same models to check the workflow before sending it to RunPod)")
        return None


def _write_runpod(opts: SubmitOptions, request_file: str, kind: str, data: JSON, client: Client, lines: _Lines) -> int:
    info = _runpod_info(opts, kind, client, lines)
    prompt = _convert(data, info, lines) if kind == "ui" and info is not None else data
    image_name, audio_name = job_name(opts.image), job_name(opts.audio)
    problems, uploads = _apply_edits(prompt, opts, image_name, audio_name, lines.err)
    if info is not None and opts.preflight:
        problems += preflight(prompt, info, skip_files=uploads)
    if problems:
        lines.problems(problems, opts.workflow)
        return 1
    files: list[tuple[str, bytes]] = []
    for path, name in ((opts.image, image_name), (opts.audio, audio_name)):
        if path and name:
            with open(path, "rb") as f:
                files.append((name, f.read()))
    text = json.dumps(runpod_body(prompt, files))
    with open(request_file, "w", encoding="utf-8") as f:
        f.write(text)
    lines.out(f"wrote {request_file}: input.workflow ({len(prompt)} nodes)"
              + (f" + input.images: {', '.join(n for n, _ in files)}" if files else "") + f", {len(text):,} bytes")
    if audio_name:
        lines.out(f"audio: {audio_name} travels in input.images; the worker uploads it to ComfyUI's input folder, "
                  "where LoadAudio finds it")
    if len(text) > RUNPOD_SOFT_LIMIT:
        lines.err(f"warning: {len(text) / 1e6:.1f} MB: RunPod limits /run bodies to 10 MB and /runsync to 20 MB; put large "
                  "inputs on the network volume (ComfyUI input folder) instead")
    lines.out(send_hint(request_file))
    return 0
