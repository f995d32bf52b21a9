"""Typed job -> API prompt, from the pack's API twins (`example_workflows/api/wan22_<id>.json`,
one graph per workflow in the whole product), and stock jobs' input names -> stored names.

A typed job changes only what it names: the input files, prompt texts, seed, size, frame count,
fps and the router's steps/cfg/shift. What differs by mode is the mode's row (`plan.modes`):
`image` goes to every LoadImage but the one feeding the size node's `end_image_input` (flf2v's
WanFirstLastFrameToVideo `end_image`), which gets `end_image`. A job without an image its mode
`may` take drops the twin's LoadImage and its link into the size node's `optional_image_input`
(ti2v: Wan22ImageToVideoLatent's `start_image`, pure T2V). For a `chunked_audio` mode (s2v) the
Extend chain is cut or grown to the audio's chunk plan (`wan22.audio.frames.frame_plan`): one
size node (WanSoundImageToVideo), then one `extend_node` + sampler + LatentConcat per further
chunk, as the twin wires its one.

`precomputed` (the worker's WAN22_PRECOMPUTED_CONDITIONING test/demo switch) swaps each
CLIPTextEncode for the demo volume's precomputed conditioning, since the umT5 stand-in takes
~30-60 s per encode on a CPU and returns NaN.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..api.edits import SIZE_NODES, set_file_input, set_seed, set_size, set_texts, use_precomputed_conditioning
from ..audio.frames import DEFAULT_CHUNK, S2V_AUDIO_FPS, frame_plan
from ..errors import Wan22Error, WorkflowError
from ..graph.widgets import consumers, is_link, nodes_of
from ..plan.modes import MEDIA, MODE_TABLE, ModeSpec, mode_spec
from ..plan.presets import preset_for_workflow
from .jobs import StockJob, TypedJob

JSON = dict[str, Any]
TWINS = Path(__file__).resolve().parents[2] / "example_workflows" / "api"
# Inputs an image may be left out of (the node runs without it): a ti2v job without an image.
OPTIONAL_IMAGE_INPUTS = {(m.size_node, m.optional_image_input) for m in MODE_TABLE if m.optional_image_input}
IMAGE_PASS_THROUGH = ("ImageScale", "ImageScaleBy", "ImageScaleToTotalPixels", "ImageResizeKJ")


def twin_path(workflow_id: str, root: Path = TWINS) -> Path:
    """The API twin of a workflow id: `i2v` -> wan22_i2v_quality.json, `i2v_fast` -> wan22_i2v_fast.json,
    `animate2_distilled` -> wan22_animate2_distilled.json (mode and preset of the id)."""
    try:
        p = preset_for_workflow(workflow_id)
        stem = f"{p.mode}_{p.preset}"
    except Wan22Error:
        stem = f"{workflow_id}_quality" if "_" not in workflow_id else workflow_id
    return root / f"wan22_{stem}.json"


def load_twin(workflow_id: str, root: Path = TWINS) -> JSON:
    path = twin_path(workflow_id, root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkflowError(f"the worker has no API twin for '{workflow_id}' ({path} is missing): reinstall the pack "
                            "with its example_workflows/ folder") from None
    if not isinstance(data, dict):
        raise WorkflowError(f"{path}: not an API prompt")
    return data


def _only(prompt: Mapping[str, Any], class_type: str) -> str:
    ids = nodes_of(prompt, class_type)
    if len(ids) != 1:
        raise WorkflowError(f"the API twin has {len(ids)} {class_type} nodes, the worker expects one")
    return ids[0]


def _consumer(prompt: Mapping[str, Any], src: str, input_name: str, class_type: str) -> str:
    for nid in nodes_of(prompt, class_type):
        v = prompt[nid]["inputs"].get(input_name)
        if is_link(v) and v[0] == src:
            return nid
    raise WorkflowError(f"the chunked twin has no {class_type} reading node {src}'s {input_name}")


def chunk_chain(prompt: JSON, spec: ModeSpec, frames: int, chunk: int = DEFAULT_CHUNK) -> list[int]:
    """Make the twin's chunk chain of a `chunked_audio` mode (its size node, then one extend node
    per further chunk) match `frames` in chunks of `chunk`; returns the step lengths."""
    if spec.extend_node is None:
        raise WorkflowError(f"mode {spec.mode} has no extend node (modes.json 'extend_node'): its twin has no chunk chain")
    plan = frame_plan(0.0, S2V_AUDIO_FPS, chunk, frames=frames)
    first = _only(prompt, spec.size_node)
    ext = _only(prompt, spec.extend_node)
    k1 = _consumer(prompt, first, "latent_image", "Wan22MoESampler")
    k2 = _consumer(prompt, ext, "latent_image", "Wan22MoESampler")
    cat = _consumer(prompt, k2, "samples2", "LatentConcat")
    decode = _consumer(prompt, cat, "samples", "VAEDecode")
    templates = {n: prompt.pop(n) for n in (ext, k2, cat)}
    prompt[first]["inputs"]["length"] = plan.steps[0].length
    cur = k1
    for step in plan.steps[1:]:
        e, k, c = f"{ext}_{step.index}", f"{k2}_{step.index}", f"{cat}_{step.index}"
        prompt[e] = copy.deepcopy(templates[ext])
        prompt[e]["inputs"].update(length=step.length, video_latent=[cur, 0])
        prompt[k] = copy.deepcopy(templates[k2])
        prompt[k]["inputs"].update(positive=[e, 0], negative=[e, 1], latent_image=[e, 2])
        prompt[c] = copy.deepcopy(templates[cat])
        prompt[c]["inputs"].update(samples1=[cur, 0], samples2=[k, 0])
        cur = c
    prompt[decode]["inputs"]["samples"] = [cur, 0]
    for nid in nodes_of(prompt, "Wan22S2VAudioPrep"):  # the audio the video hears: exactly its frames
        prompt[nid]["inputs"].update(start_seconds=0.0, max_seconds=round(plan.frames / S2V_AUDIO_FPS, 6),
                                     chunk_length=chunk)
    return [s.length for s in plan.steps]


def _feeds(prompt: Mapping[str, Any], nid: str, input_name: str | None) -> bool:
    return input_name is not None and any(name == input_name for _c, name, _s in consumers(prompt, nid))


def media_nodes(prompt: Mapping[str, Any], key: str, spec: ModeSpec | None = None) -> list[str]:
    """The loader nodes a job's media key fills: `end_image` the LoadImage feeding the mode's
    `end_image_input`, `image` every other LoadImage, `audio`/`video` every LoadAudio/LoadVideo.
    Without `spec`, a LoadImage feeding any mode's end-image input counts as the end image."""
    ids = nodes_of(prompt, MEDIA[key].loader)
    ends = [spec.end_image_input] if spec is not None else [m.end_image_input for m in MODE_TABLE]
    if key == "end_image":
        return [n for n in ids if any(_feeds(prompt, n, e) for e in ends)]
    if key == "image":
        return [n for n in ids if not any(_feeds(prompt, n, e) for e in ends)]
    return ids


def drop_image(prompt: JSON, nid: str) -> None:
    """Remove image node `nid` and its links into optional inputs (through resize nodes); a twin
    whose image feeds a required input cannot run without it (WorkflowError names the input)."""
    for cons, name, _slot in consumers(prompt, nid):
        ct = str(prompt[cons].get("class_type"))
        if (ct, name) in OPTIONAL_IMAGE_INPUTS:
            del prompt[cons]["inputs"][name]
        elif ct in IMAGE_PASS_THROUGH:
            drop_image(prompt, cons)
        else:
            raise WorkflowError(f"the API twin's node {cons} ({ct}) needs input '{name}' from image node {nid}: "
                                "this workflow cannot run without input.image")
    prompt.pop(nid, None)


def typed_prompt(job: TypedJob, names: Mapping[str, str], precomputed: bool = False, root: Path = TWINS) -> JSON:
    """The API prompt for a typed job; `names` maps image/end_image/audio/video to their stored
    names (an optional image left out: its loader is dropped, see `drop_image`)."""
    prompt = load_twin(job.workflow, root)
    spec = mode_spec(job.mode)
    for key, name in names.items():
        set_file_input(prompt, MEDIA[key].loader, name, media_nodes(prompt, key, spec))
    if spec.optional_image_input and "image" in spec.may and "image" not in names:
        for nid in media_nodes(prompt, "image", spec):
            drop_image(prompt, nid)
    set_texts(prompt, job.prompt, job.negative_prompt)
    set_size(prompt, job.width, job.height, None if spec.chunked_audio else job.frames, job.fps)
    set_seed(prompt, job.seed)
    for nid in nodes_of(prompt, "Wan22ModeRouter"):
        prompt[nid]["inputs"].update(job.router)
    for nid in nodes_of(prompt, "Wan22BundleLoader"):  # input.lightning: a distilled expert pair
        prompt[nid]["inputs"].update(job.bundle)
    if spec.chunked_audio and job.frames is not None:
        chunk_chain(prompt, spec, job.frames)
    return use_precomputed_conditioning(prompt) if precomputed else prompt


def twin_defaults(job: TypedJob, root: Path = TWINS) -> dict[str, Any]:
    """width/height/frames/fps the twin runs with where the job leaves them out (for the output)."""
    prompt = load_twin(job.workflow, root)
    out: dict[str, Any] = {}
    for ct in SIZE_NODES:
        for nid in nodes_of(prompt, ct):
            ins = prompt[nid]["inputs"]
            out.setdefault("width", ins.get("width"))
            out.setdefault("height", ins.get("height"))
            out.setdefault("frames", ins.get("length"))
    for nid in nodes_of(prompt, "CreateVideo"):
        fps = prompt[nid]["inputs"].get("fps")
        out.setdefault("fps", fps if not is_link(fps) else S2V_AUDIO_FPS)
    return out


def stock_prompt(job: StockJob, stored: Mapping[str, str]) -> JSON:
    """The stock job's prompt with every input that names an uploaded file pointed at its stored
    (content-hash) name."""
    prompt = copy.deepcopy(job.prompt)
    for node in prompt.values():
        ins = node.get("inputs")
        if not isinstance(ins, dict):
            continue
        for key, value in list(ins.items()):
            if isinstance(value, str) and value in stored:
                ins[key] = stored[value]
    return prompt
