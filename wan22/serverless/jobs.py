"""The worker's job contract: a RunPod job's `input` -> a checked `TypedJob` or `StockJob`.

Typed job (contract, docs/deploy.md)::

    {"workflow": "i2v_fast", "image": "<base64 | data: URL | https:// URL>", "prompt": "...",
     "negative_prompt": "...", "seed": 7, "width": 832, "height": 480, "frames": 81, "fps": 16}

plus `end_image` (flf2v: the last frame), `audio` (s2v), `video` (animate, animate2: the driving
video), optional `steps`/`cfg`/`shift`/`lightning` (judged by the router's own rules) and `timeout` (seconds,
at most the worker's limit). Which media keys each mode takes, and the side multiple, are the mode's
row (wan22/data/modes.json: `needs`, `may`, `side_multiple`).

Stock worker-comfyui job: `{"workflow": <API prompt>, "images": [{"name", "image"}],
"files": [{"name", "data"}]}`.

Everything a client sends is checked here, before anything is uploaded or queued; each refusal is
one `JobError` whose message names the field and what is allowed.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..audio.frames import DEFAULT_CHUNK, S2V_AUDIO_FPS, frame_plan
from ..errors import Wan22Error
from ..plan.lightning import BY_ID as LIGHTNING_BY_ID
from ..plan.lightning import CHOICES as LIGHTNING_CHOICES
from ..plan.modes import MEDIA, mode_spec
from ..plan.overrides import overrides_from_inputs
from ..plan.presets import WORKFLOW_IDS, preset_for_workflow
from ..plan.routing import make_plan, stage_names
from .media import JobError, Media, load

TYPED_KEYS = ("workflow", *MEDIA, "prompt", "negative_prompt", "seed", "width", "height",
              "frames", "fps", "steps", "cfg", "shift", "timeout", "lightning")
STOCK_KEYS = ("workflow", "images", "files")
SEED_MAX = 2**64 - 1  # ComfyUI's seed inputs
TEXT_MAX = 20_000
MAX_ENTRIES = 16  # files in one stock job
NAME_MAX = 200


@dataclass(frozen=True)
class Limits:
    """What one job may ask for; each from its WAN22_* environment variable (docs/deploy.md)."""

    max_frames: int = 241  # WAN22_MAX_FRAMES: 15 s at 16 fps
    max_side: int = 1280  # WAN22_MAX_SIDE: pixels, width and height each
    max_payload: int = 20_000_000  # WAN22_MAX_PAYLOAD: bytes of JSON input (RunPod: /run 10 MB, /runsync 20 MB)
    max_file: int = 20_000_000  # WAN22_MAX_FILE: bytes per decoded input file (https:// downloads too)
    max_timeout: float = 3600.0  # WAN22_JOB_TIMEOUT: seconds a job may run

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if env is None else env
        d = cls()

        def num(key: str, default: float) -> float:
            raw = env.get(key, "")
            try:
                value = float(raw) if raw.strip() else default
            except ValueError:
                raise Wan22Error(f"{key}={raw!r} is not a number") from None
            if not math.isfinite(value) or value <= 0:
                raise Wan22Error(f"{key}={raw!r} must be a positive number")
            return value

        return cls(max_frames=int(num("WAN22_MAX_FRAMES", d.max_frames)), max_side=int(num("WAN22_MAX_SIDE", d.max_side)),
                   max_payload=int(num("WAN22_MAX_PAYLOAD", d.max_payload)), max_file=int(num("WAN22_MAX_FILE", d.max_file)),
                   max_timeout=num("WAN22_JOB_TIMEOUT", d.max_timeout))


@dataclass
class TypedJob:
    """A typed job, checked: the workflow id, its inputs and settings (None: the twin's value)."""

    workflow: str
    mode: str
    preset: str
    media: dict[str, Media]
    seed: int
    prompt: str | None = None
    negative_prompt: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    fps: float | None = None
    router: dict[str, Any] = field(default_factory=dict)  # steps/cfg/shift/lightning for Wan22ModeRouter
    bundle: dict[str, Any] = field(default_factory=dict)  # Wan22BundleLoader inputs (a distilled expert pair)
    stages: tuple[str, ...] = ()  # the plan's experts, for progress ("high", "low")
    timeout: float | None = None


@dataclass
class StockJob:
    """A stock worker-comfyui job: an API prompt and its input files by the names it uses."""

    prompt: dict[str, Any]
    files: list[tuple[str, Media]]
    timeout: float | None = None


# ---------------------------------------------------------------- field checks

def _kind(value: Any) -> str:
    return "a boolean" if isinstance(value, bool) else type(value).__name__


def whole(name: str, value: Any, lo: int, hi: int) -> int:
    """An int field in [lo, hi] (a JSON 7.0 counts as 7; true/false and 7.5 do not)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise JobError(f"input.{name}: expected a whole number, got {_kind(value)} {value!r}")
    if not lo <= value <= hi:
        raise JobError(f"input.{name}: {value} is out of range: use {lo}..{hi}")
    return value


def number(name: str, value: Any, lo: float, hi: float) -> float:
    """A finite number field in (lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise JobError(f"input.{name}: expected a number, got {_kind(value)} {value!r}")
    if not lo < value <= hi:
        raise JobError(f"input.{name}: {value:g} is out of range: use a number above {lo:g} and at most {hi:g}")
    return float(value)


def text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise JobError(f"input.{name}: expected a string, got {_kind(value)}")
    if len(value) > TEXT_MAX:
        raise JobError(f"input.{name}: {len(value):,} characters, over the limit of {TEXT_MAX:,}")
    return value


def side(name: str, value: Any, limits: Limits, multiple: int = 16) -> int:
    v = whole(name, value, multiple, limits.max_side)
    if v % multiple:
        lo = v - v % multiple
        raise JobError(f"input.{name}: {v} is not a multiple of {multiple} (the model's VAE and patching need it): "
                       f"use {lo} or {lo + multiple}")
    return v


def frame_count(value: Any, limits: Limits) -> int:
    v = whole("frames", value, 5, limits.max_frames)
    if (v - 1) % 4:
        lo = v - (v - 1) % 4
        raise JobError(f"input.frames: {v} is not 4n+1 (Wan makes 4 frames per latent plus the first): use {lo} or {lo + 4}")
    return v


def _unknown_keys(raw: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
    extra = [k for k in raw if k not in allowed]
    if extra:
        raise JobError(f"input: unknown key{'s' if len(extra) > 1 else ''} {', '.join(repr(k) for k in extra)} for {what}; "
                       f"allowed: {', '.join(allowed)}")


def check_payload(raw: Any, limits: Limits) -> None:
    """RunPod refuses bodies over 10 MB (/run) or 20 MB (/runsync); the worker refuses inputs over
    `max_payload` bytes of JSON, whatever let them through."""
    size = len(json.dumps(raw, separators=(",", ":")))
    if size > limits.max_payload:
        raise JobError(f"input: {size / 1e6:.1f} MB of JSON, over the worker's {limits.max_payload / 1e6:g} MB limit "
                       "(RunPod accepts 10 MB on /run, 20 MB on /runsync): pass large files as https:// URLs")


# ---------------------------------------------------------------- typed jobs

def _media(raw: Mapping[str, Any], mode: str, workflow: str, limits: Limits) -> dict[str, Media]:
    spec = mode_spec(mode)
    for key in MEDIA:
        if key in raw and key not in spec.media:
            takes = " and ".join(f"input.{k}" for k in spec.media) or "no input files"
            raise JobError(f"input.{key}: workflow '{workflow}' takes {takes}; drop input.{key}")
        if key in spec.needs and key not in raw:
            what = "an end image (the last frame)" if key == "end_image" else f"{'an' if key[0] in 'aeiou' else 'a'} {key}"
            raise JobError(f"input.{key}: workflow '{workflow}' needs {what} (base64, a data: URL or an https:// URL)")
    return {key: load(raw[key], f"input.{key}", limits.max_file, (MEDIA[key].kind,)) for key in spec.media if key in raw}


def _audio_frames(job: TypedJob, limits: Limits) -> None:
    """A chunked-audio mode (s2v): 16 fps, and frames from the audio's chunk plan unless given."""
    if job.fps is not None and job.fps != S2V_AUDIO_FPS:
        raise JobError(f"input.fps: {job.mode} runs at {S2V_AUDIO_FPS:g} fps (WanSoundImageToVideo slices the audio at that "
                       "rate): drop input.fps or set it to 16")
    if job.frames is None:
        seconds = float(job.media["audio"].seconds or 0.0)
        frames = frame_plan(seconds, S2V_AUDIO_FPS, DEFAULT_CHUNK).frames
        if frames > limits.max_frames:
            raise JobError(f"input.audio: {seconds:.2f} s of audio makes {frames} frames at 16 fps, over the worker's "
                           f"limit of {limits.max_frames} (WAN22_MAX_FRAMES): send shorter audio, or set input.frames "
                           "to use only its start")
        job.frames = frames


def _router(job: TypedJob, raw: Mapping[str, Any]) -> None:
    """steps/cfg/shift through the router's own rules; the plan's experts name the progress stages."""
    if "steps" in raw:
        job.router["steps"] = whole("steps", raw["steps"], 1, 10_000)
    if "cfg" in raw:
        job.router["cfg"] = number("cfg", raw["cfg"], 0.0, 100.0)
    if "shift" in raw:
        job.router["shift"] = number("shift", raw["shift"], 0.0, 100.0)
    if "lightning" in raw:
        _lightning(job, raw["lightning"])
    try:
        plan = make_plan(job.mode, job.preset, overrides_from_inputs(job.mode, job.router))
    except Wan22Error as e:
        names = "/".join(f"input.{k}" for k in job.router) or "input.workflow"
        raise JobError(f"{names}: {e}") from None
    job.stages = stage_names(plan.stages)


def _lightning(job: TypedJob, value: Any) -> None:
    """input.lightning: 'auto' or a generation id; a distilled expert pair also sets the bundle's experts."""
    if not isinstance(value, str) or value not in LIGHTNING_CHOICES:
        raise JobError(f"input.lightning: {value!r} is not a Lightning generation: use 'auto' or one of "
                       f"{', '.join(LIGHTNING_CHOICES[1:])}")
    job.router["lightning"] = value
    gen = LIGHTNING_BY_ID.get(value)
    if gen is not None and gen.kind == "experts" and gen.high is not None and gen.low is not None:
        job.bundle = {"high_noise_model": gen.high.name, "low_noise_model": gen.low.name}


def parse_typed(raw: Mapping[str, Any], limits: Limits) -> TypedJob:
    """A typed job from its input object (the `workflow` key is a workflow id)."""
    _unknown_keys(raw, TYPED_KEYS, "a typed job")
    wid = raw["workflow"]
    if wid not in WORKFLOW_IDS:
        raise JobError(f"input.workflow: unknown workflow {wid!r}: use one of {', '.join(WORKFLOW_IDS)} "
                       "(or an API prompt object, as the stock worker takes)")
    p = preset_for_workflow(wid)
    job = TypedJob(workflow=wid, mode=p.mode, preset=p.preset, media={},
                   seed=whole("seed", raw["seed"], 0, SEED_MAX) if "seed" in raw else secrets.randbelow(2**32))
    for key in ("prompt", "negative_prompt"):
        if key in raw:
            setattr(job, key, text(key, raw[key]))
    for key in ("width", "height"):
        if key in raw:
            setattr(job, key, side(key, raw[key], limits, mode_spec(job.mode).side_multiple))
    if "frames" in raw:
        job.frames = frame_count(raw["frames"], limits)
    if "fps" in raw:
        job.fps = number("fps", raw["fps"], 0.0, 120.0)
    if "timeout" in raw:
        job.timeout = number("timeout", raw["timeout"], 0.0, limits.max_timeout)
    _router(job, raw)
    job.media = _media(raw, job.mode, wid, limits)
    if mode_spec(job.mode).chunked_audio:
        _audio_frames(job, limits)
    return job


# ---------------------------------------------------------------- stock jobs

def plain_name(name: Any, where: str) -> str:
    """A file name without path parts (the stored name is a content hash; this one only matches
    the workflow's references)."""
    if not isinstance(name, str) or not name.strip():
        raise JobError(f"{where}: expected a file name string")
    bad = [c for c in ("/", "\\", "\0", ":") if c in name]
    if bad or name in (".", "..") or name.startswith(".") or len(name) > NAME_MAX:
        raise JobError(f"{where}: {name[:80]!r} is not a plain file name (no folders, '..', ':' or leading '.', at most "
                       f"{NAME_MAX} characters): the worker stores every input under a content-hash name in ComfyUI's "
                       "input folder and points the workflow at it")
    return name


def _entries(raw: Mapping[str, Any], key: str, data_key: str, limits: Limits) -> list[tuple[str, Media]]:
    items = raw.get(key, [])
    if not isinstance(items, list):
        raise JobError(f"input.{key}: expected a list of {{\"name\", \"{data_key}\"}} objects, got {_kind(items)}")
    out: list[tuple[str, Media]] = []
    for i, item in enumerate(items):
        where = f"input.{key}[{i}]"
        if not isinstance(item, dict) or set(item) != {"name", data_key}:
            got = sorted(item) if isinstance(item, dict) else _kind(item)
            raise JobError(f"{where}: expected exactly {{\"name\", \"{data_key}\"}}, got {got}")
        name = plain_name(item["name"], f"{where}.name")
        out.append((name, load(item[data_key], f"{where}.{data_key}", limits.max_file)))
    return out


def parse_stock(raw: Mapping[str, Any], limits: Limits) -> StockJob:
    """A worker-comfyui job: `workflow` is an API prompt; `images` and `files` carry its inputs."""
    from ..graph.convert import is_api_prompt, is_ui_workflow

    _unknown_keys(raw, STOCK_KEYS, "a stock worker-comfyui job")
    prompt = raw["workflow"]
    if is_ui_workflow(prompt):
        raise JobError("input.workflow: this is a UI workflow (nodes and links); send the API format "
                       "(ComfyUI: Workflow > Export (API)) or a typed job with a workflow id")
    if not is_api_prompt(prompt):
        raise JobError("input.workflow: expected a workflow id string or an API prompt object "
                       "({\"<node id>\": {\"class_type\", \"inputs\"}})")
    files = _entries(raw, "images", "image", limits) + _entries(raw, "files", "data", limits)
    if len(files) > MAX_ENTRIES:
        raise JobError(f"input.images/files: {len(files)} files, more than {MAX_ENTRIES} in one job")
    names = [n for n, _ in files]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise JobError(f"input.images/files: the name {dupes[0]!r} is given more than once")
    return StockJob(prompt=json.loads(json.dumps(prompt)), files=files)


def parse_job(raw: Any, limits: Limits) -> TypedJob | StockJob:
    """The job a RunPod `input` describes (JobError for anything else)."""
    if not isinstance(raw, dict):
        raise JobError(f"input: expected a JSON object, got {_kind(raw)}")
    check_payload(raw, limits)
    if "workflow" not in raw:
        raise JobError(f"input.workflow: missing: give a workflow id ({', '.join(WORKFLOW_IDS)}) or an API prompt")
    if isinstance(raw["workflow"], str):
        return parse_typed(raw, limits)
    if isinstance(raw["workflow"], dict):
        return parse_stock(raw, limits)
    raise JobError(f"input.workflow: expected a workflow id string or an API prompt object, got {_kind(raw['workflow'])}")
