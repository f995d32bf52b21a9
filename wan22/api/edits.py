"""Edits of an API prompt, for `submit` (positive prompt text, seed, input file names, and
--width/--height/--frames/--steps/--cfg/--set on the nodes that have them), for the worker's typed
jobs (`serverless/build.py`: the same texts, sizes, frames, fps, seed and file names) and for the
documented test/demo transformations of the example workflows (tiny sizes, precomputed text
conditioning, seeds stripped), plus the frame count a graph's SaveVideo writes.

One link policy (`set_input`): a value for an input linked to a primitive node (PrimitiveInt,
PrimitiveFloat...) sets the primitive, so every node it feeds agrees (the official templates carry
lengths that way). An input linked to any other node: what the user names explicitly
(`submit --width/--set`) replaces the link and the report says so; an edit the user did not aim at
that input (a typed job's size on every size node) keeps the link (`keep_links`), since the graph
computes that value (S2V's fps from its audio). `tiny_overrides` (tests and demo only) leaves every
linked input as it is.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Mapping
from typing import Any

from ..errors import WorkflowError
from ..graph.widgets import FILE_INPUTS, JSON, SEED_INPUTS, consumers, is_link, nodes_of, sorted_nodes
from ..plan.modes import MODE_TABLE

TINY = {"width": 64, "height": 64, "length": 9}
# The size node of every mode (width/height/length) and the continuation nodes with only a length
# (modes.json `size_node`, `extend_node`).
SIZE_NODES = tuple(dict.fromkeys(m.size_node for m in MODE_TABLE))
_EXTEND_NODES = tuple(dict.fromkeys(m.extend_node for m in MODE_TABLE if m.extend_node))
LENGTH_NODES = (*SIZE_NODES, *_EXTEND_NODES)
# Size nodes that put the reference image in front of the latent (modes.json `reference_latent`):
# one more latent frame; output 3 trim_latent = 1, output 4 trim_image = 0 without continue_motion
# (comfy_extras/nodes_wan.py WanAnimateToVideo, WanAnimate2ToVideo).
REFERENCE_NODES = tuple(dict.fromkeys(m.size_node for m in MODE_TABLE if m.reference_latent))
# Nodes whose latent has ((length - 1) // 4) + 1 frames (comfy_extras/nodes_wan.py).
LATENT_SOURCES = (*(n for n in SIZE_NODES if n not in REFERENCE_NODES), *_EXTEND_NODES)
SAMPLERS = ("Wan22MoESampler", "KSampler", "KSamplerAdvanced")


# --------------------------------------------------------------------------- submit's edits

def positive_text_nodes(prompt: Mapping[str, Any]) -> list[str]:
    """CLIPTextEncode nodes whose conditioning reaches a `positive` input, directly or through
    conditioning-only nodes (a path that enters a `negative` input stops there)."""
    found: list[str] = []
    for nid in nodes_of(prompt, "CLIPTextEncode"):
        frontier = [nid]
        seen: set[str] = set()
        while frontier and nid not in found:
            cur = frontier.pop()
            if cur in seen:
                continue
            seen.add(cur)
            for cons, name, _slot in consumers(prompt, cur):
                if name == "positive":
                    found.append(nid)
                    break
                if name != "negative":
                    frontier.append(cons)
    return found


def set_positive_prompt(prompt: JSON, text: str) -> list[str]:
    """Put `text` in every positive CLIPTextEncode; returns their ids (WorkflowError if none)."""
    ids = positive_text_nodes(prompt)
    if not ids:
        raise WorkflowError("--prompt: the workflow has no CLIPTextEncode node that feeds a 'positive' input")
    return set_texts(prompt, text, None)


def set_texts(prompt: JSON, positive: str | None, negative: str | None) -> list[str]:
    """`positive` into every positive CLIPTextEncode, `negative` into every other one (None leaves
    them); returns the ids set."""
    pos = set(positive_text_nodes(prompt))
    done = []
    for nid in nodes_of(prompt, "CLIPTextEncode"):
        value = positive if nid in pos else negative
        if value is not None:
            set_input(prompt, nid, "text", value, keep_links=True)
            done.append(nid)
    return done


def set_size(prompt: JSON, width: int | None = None, height: int | None = None, frames: int | None = None,
             fps: float | None = None, keep_links: bool = True) -> list[str]:
    """width/height/length on every *ToVideo / empty-latent node (SIZE_NODES) and fps on every
    CreateVideo, by the module's link policy; None leaves a value. Returns the report lines."""
    lines: list[str] = []
    done: set[tuple[str, str]] = set()
    for ct in SIZE_NODES:
        for nid in nodes_of(prompt, ct):
            for name, value in (("width", width), ("height", height), ("length", frames)):
                if value is not None and (line := set_input(prompt, nid, name, value, done, keep_links)):
                    lines.append(line)
    for nid in nodes_of(prompt, "CreateVideo"):
        if fps is not None and (line := set_input(prompt, nid, "fps", float(fps), done, keep_links)):
            lines.append(line)
    return lines


def set_seed(prompt: JSON, seed: int) -> list[str]:
    """Set every unlinked seed/noise_seed input; returns the node ids (WorkflowError if none)."""
    done = []
    for nid, node in sorted_nodes(prompt):
        for k in SEED_INPUTS:
            if k in node.get("inputs", {}) and not is_link(node["inputs"][k]):
                node["inputs"][k] = int(seed)
                done.append(nid)
    if not done:
        raise WorkflowError("--seed: the workflow has no seed input")
    return done


def set_file_input(prompt: JSON, class_type: str, name: str, ids: list[str] | None = None) -> list[str]:
    """Set the file input of every LoadImage/LoadAudio/LoadVideo node (or of `ids`) to `name`;
    returns the ids."""
    key = FILE_INPUTS[class_type]
    ids = nodes_of(prompt, class_type) if ids is None else ids
    for nid in ids:
        prompt[nid]["inputs"][key] = name
    return ids


def strip_seeds(prompt: Mapping[str, Any]) -> JSON:
    """A copy without seed values (the equivalence check ignores seeds)."""
    out = copy.deepcopy(dict(prompt))
    for entry in out.values():
        for k in SEED_INPUTS:
            if k in entry.get("inputs", {}) and not is_link(entry["inputs"][k]):
                entry["inputs"][k] = None
    return out


# --------------------------------------------------------------------------- test/demo edits

def tiny_overrides(prompt: Mapping[str, Any], width: int = 64, height: int = 64, length: int = 9,
                   audio_chunk: int | None = None, steps: int | None = None) -> JSON:
    """A copy of an example prompt sized for a CPU and stand-in weights (the examples use real
    sizes: 640x640, 81 frames, S2V chunks of 77). Sets width/height on every *ToVideo /
    empty-latent node, `length` on them and on every S2V Extend node (unless linked), and the
    S2V audio prep node's `chunk_length` (to `audio_chunk`, default `length`) so its chunk
    count describes the tiny graph. `steps` (optional) sets Wan22ModeRouter's steps override
    (the fast presets accept only their distilled counts: 4, Animate 4-8). Nothing else
    changes: models, presets, prompts and links stay as in the example."""
    out = copy.deepcopy(dict(prompt))
    for node in out.values():
        ct = node.get("class_type")
        ins = node.setdefault("inputs", {})
        if ct in SIZE_NODES:
            for k, v in (("width", width), ("height", height)):
                if not is_link(ins.get(k)):
                    ins[k] = v
        if ct in LENGTH_NODES and not is_link(ins.get("length")):
            ins["length"] = length
        if ct == "Wan22S2VAudioPrep" and "chunk_length" in ins and not is_link(ins["chunk_length"]):
            ins["chunk_length"] = audio_chunk or length
        if ct == "Wan22ModeRouter" and steps is not None:
            ins["steps"] = int(steps)
    return out


def use_precomputed_conditioning(prompt: Mapping[str, Any], positive: str = "wan22_demo_positive",
                                 negative: str = "wan22_demo_negative") -> JSON:
    """A copy where each CLIPTextEncode is replaced by core `LoadTrainingDataset` (the
    conditioning datasets of `demo-volume`): the positive prompt's node loads `positive`, every
    other one `negative`. The umT5 stand-in takes ~30 s per encode and returns NaN, so the
    comfy tests and the demo use this; one test runs CLIPTextEncode as-is."""
    out = copy.deepcopy(dict(prompt))
    pos = set(positive_text_nodes(out))
    for nid in nodes_of(out, "CLIPTextEncode"):
        out[nid] = {"class_type": "LoadTrainingDataset",
                    "inputs": {"folder_name": positive if nid in pos else negative},
                    "_meta": {"title": f"precomputed conditioning (was CLIPTextEncode {nid})"}}
        for cons, name, _slot in consumers(out, nid):
            out[cons]["inputs"][name] = [nid, 1]  # LoadTrainingDataset output 1 = conditioning
    return out


# --------------------------------------------------------------------------- frame counts

def latent_frames(length: int) -> int:
    """Latent frames of a Wan *ToVideo node of `length` frames: ((length - 1) // 4) + 1."""
    return (int(length) - 1) // 4 + 1


def decoded_frames(latents: int) -> int:
    """Frames the Wan VAE decodes from `latents` latent frames: 4 * (latents - 1) + 1."""
    return 4 * (int(latents) - 1) + 1


class _Frames:
    """Walks a prompt's links backwards from a video to count frames (see expected_frames)."""

    def __init__(self, prompt: Mapping[str, Any]) -> None:
        self.prompt = prompt

    def value(self, v: Any) -> int:
        if is_link(v):
            src = self.prompt[v[0]]
            if str(src["class_type"]).startswith("Primitive") and not is_link(src["inputs"].get("value")):
                return int(src["inputs"]["value"])  # PrimitiveInt & co. (the official templates' lengths)
            if src["class_type"] in REFERENCE_NODES and v[1] == 3:  # trim_latent (one reference image)
                return 1
            if src["class_type"] in REFERENCE_NODES and v[1] == 4:  # trim_image (no continue_motion)
                return 0
            raise WorkflowError(f"cannot compute a frame count through node {v[0]} ({src['class_type']}) output {v[1]}")
        return int(v)

    def latent(self, link: Any) -> int:
        nid, _slot = link
        ct, ins = self.prompt[nid]["class_type"], self.prompt[nid]["inputs"]
        if ct in LATENT_SOURCES:
            return latent_frames(self.value(ins["length"]))
        if ct in REFERENCE_NODES:
            return latent_frames(self.value(ins["length"])) + 1
        if ct in SAMPLERS:
            return self.latent(ins["latent_image"])
        if ct == "TrimVideoLatent":
            return self.latent(ins["samples"]) - self.value(ins["trim_amount"])
        if ct == "LatentConcat" and ins.get("dim") in ("t", "-t"):
            return self.latent(ins["samples1"]) + self.latent(ins["samples2"])
        if ct == "LatentCut" and ins.get("dim") == "t":
            total = self.latent(ins["samples"])
            idx = self.value(ins["index"])
            start = idx if idx >= 0 else total + idx
            return max(0, min(self.value(ins["amount"]), total - start))
        raise WorkflowError(f"cannot compute latent frames through node {nid} ({ct})")

    def images(self, link: Any) -> int:
        nid, _slot = link
        ct, ins = self.prompt[nid]["class_type"], self.prompt[nid]["inputs"]
        if ct == "VAEDecode":
            return decoded_frames(self.latent(ins["samples"]))
        if ct == "ImageFromBatch":
            total = self.images(ins["image"])
            idx = self.value(ins["batch_index"])
            start = idx if idx >= 0 else max(0, total + idx)
            return max(0, min(self.value(ins["length"]), total - start))
        raise WorkflowError(f"cannot compute frames through node {nid} ({ct})")


def expected_frames(prompt: Mapping[str, Any], save_node: str | None = None) -> int:
    """Frames of the video a SaveVideo node writes, from the graph's length/latent rules:
    *ToVideo: ((length-1)//4)+1 latent frames (WanAnimateToVideo adds `trim_latent` = 1 for the
    reference image); LatentConcat on t adds; TrimVideoLatent removes; LatentCut keeps
    `amount`; VAEDecode gives 4*(T-1)+1; ImageFromBatch keeps `length` from `batch_index`."""
    saves = [save_node] if save_node else nodes_of(prompt, "SaveVideo")
    if len(saves) != 1:
        raise WorkflowError(f"expected one SaveVideo node, found {len(saves)}")
    video = prompt[saves[0]]["inputs"]["video"]
    create = prompt[video[0]]
    if create["class_type"] != "CreateVideo":
        raise WorkflowError(f"SaveVideo {saves[0]} is not fed by CreateVideo")
    return _Frames(prompt).images(create["inputs"]["images"])


# --------------------------------------------------------------------------- submit's graph edits

EXTRA_VIDEO_NODES = tuple(n for n in SIZE_NODES if not n.startswith("Wan"))  # a mode's size node by another name
STEP_NODES = ("KSampler", "KSamplerAdvanced", "BasicScheduler", "Wan22ModeRouter")
CFG_NODES = ("KSampler", "KSamplerAdvanced", "SamplerCustom", "CFGGuider", "Wan22ModeRouter")
# flag -> (input name, which node types take it, what to call them in an error)
GRAPH_EDITS: dict[str, tuple[str, tuple[str, ...] | None, str]] = {
    "width": ("width", None, "a Wan video node (WanImageToVideo, EmptyHunyuanLatentVideo, ...)"),
    "height": ("height", None, "a Wan video node (WanImageToVideo, EmptyHunyuanLatentVideo, ...)"),
    "frames": ("length", None, "a Wan video node (WanImageToVideo, WanSoundImageToVideo(Extend), ...)"),
    "steps": ("steps", STEP_NODES, "a sampler (" + ", ".join(STEP_NODES) + ")"),
    "cfg": ("cfg", CFG_NODES, "a sampler (" + ", ".join(CFG_NODES) + ")"),
}


def _takes(class_type: str, types: tuple[str, ...] | None) -> bool:
    if types is not None:
        return class_type in types
    return class_type.startswith("Wan") or class_type in EXTRA_VIDEO_NODES


def _where(prompt: Mapping[str, Any], nid: str) -> str:
    return f"node {nid} ({prompt[nid].get('class_type')})"


def set_input(prompt: JSON, nid: str, name: str, value: Any, done: set[tuple[str, str]] | None = None,
              keep_links: bool = False) -> str | None:
    """Set input `name` of node `nid` and say what changed. An input linked to a primitive node
    (PrimitiveInt, PrimitiveFloat...) sets that primitive's value, so every node it feeds agrees;
    any other link is replaced by the value, or kept with `keep_links`. None when nothing changed
    or `done` already holds the target."""
    done = done if done is not None else set()
    ins = prompt[nid].setdefault("inputs", {})
    old = ins.get(name)
    if is_link(old) and str(prompt.get(old[0], {}).get("class_type", "")).startswith("Primitive") \
            and not is_link((prompt[old[0]].get("inputs") or {}).get("value")):
        src = str(old[0])
        if (src, "value") in done:
            return None
        done.add((src, "value"))
        before = prompt[src]["inputs"].get("value")
        prompt[src]["inputs"]["value"] = value
        return f"set {_where(prompt, src)} value {before!r} -> {value!r} (it feeds {_where(prompt, nid)} {name})"
    if (nid, name) in done or (keep_links and is_link(old)):
        return None
    done.add((nid, name))
    ins[name] = value
    if is_link(old):
        return f"set {_where(prompt, nid)} {name} -> {value!r} (was linked to {_where(prompt, str(old[0]))})"
    return f"set {_where(prompt, nid)} {name} {old!r} -> {value!r}"


def apply_graph_edits(prompt: JSON, edits: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """--width/--height/--frames/--steps/--cfg on every node that has the input (GRAPH_EDITS):
    (report lines, problems). An edit that matches no node is a problem."""
    lines: list[str] = []
    problems: list[str] = []
    done: set[tuple[str, str]] = set()
    for flag, value in edits.items():
        if value is None:
            continue
        name, types, what = GRAPH_EDITS[flag]
        hits = [nid for nid, n in sorted_nodes(prompt) if _takes(str(n.get("class_type")), types)
                and name in (n.get("inputs") or {})]
        if not hits:
            problems.append(f"--{flag}: the workflow has no {what} with a '{name}' input; use --set NODE.INPUT=VALUE")
            continue
        lines += [line for nid in hits if (line := set_input(prompt, nid, name, value, done))]
    steps = edits.get("steps")
    for nid, n in sorted_nodes(prompt):
        start = (n.get("inputs") or {}).get("start_at_step")
        if steps is not None and n.get("class_type") == "KSamplerAdvanced" and isinstance(start, int) and start >= steps:
            lines.append(f"warning: {_where(prompt, nid)} starts at step {start}, past the {steps} steps: it will not "
                         "sample (set its start_at_step, and the other expert's end_at_step, with --set)")
    return lines, problems


def parse_set(spec: str) -> tuple[str, str, Any]:
    """NODE.INPUT=VALUE -> (node id or title, input, value). VALUE is read as JSON when it parses
    (numbers, true/false, "quoted text", lists), else taken as text. The node part may contain
    dots (titles do; ids inside subgraphs use ':'), so the input is the text after the last dot."""
    target, eq, raw = spec.partition("=")
    node, dot, name = target.rpartition(".")
    if not eq or not dot or not node or not name:
        raise WorkflowError(f"--set {spec!r}: expected NODE.INPUT=VALUE (NODE: a node id like 12 or 129:95, or a node "
                            "title), e.g. --set 'KSampler.steps=8'")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return node.strip(), name.strip(), value


def find_node(prompt: Mapping[str, Any], node: str, flag: str = "--set") -> str:
    """The id of the node named by id or by title (exact, else case-insensitive); WorkflowError
    when none or several match."""
    if node in prompt:
        return node
    titled = [k for k, v in sorted_nodes(prompt) if str((v.get("_meta") or {}).get("title", "")) == node]
    if not titled:
        titled = [k for k, v in sorted_nodes(prompt) if str((v.get("_meta") or {}).get("title", "")).lower() == node.lower()]
    if len(titled) == 1:
        return titled[0]
    if titled:
        raise WorkflowError(f"{flag}: {len(titled)} nodes are titled {node!r} (ids {', '.join(titled)}): use an id")
    titles = sorted({str((v.get("_meta") or {}).get("title", "")) for v in prompt.values()})
    near = difflib.get_close_matches(node, titles, n=3, cutoff=0.5)
    raise WorkflowError(f"{flag}: no node has the id or title {node!r}" + (f"; closest titles: {', '.join(near)}" if near else ""))


def apply_set(prompt: JSON, spec: str) -> str:
    """One --set NODE.INPUT=VALUE; the report line (WorkflowError when it matches nothing)."""
    node, name, value = parse_set(spec)
    nid = find_node(prompt, node)
    ins = prompt[nid].get("inputs") or {}
    if name not in ins:
        raise WorkflowError(f"--set {spec!r}: {_where(prompt, nid)} has no input {name!r} (its inputs: "
                            f"{', '.join(sorted(ins)) or 'none'})")
    return set_input(prompt, nid, name, value) or ""
