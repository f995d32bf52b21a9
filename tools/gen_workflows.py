#!/usr/bin/env python
"""Generate the example workflows from one spec per workflow.

Writes, for every mode/preset the router offers plus a volume check:
  example_workflows/<stem>.json      UI format (frontend save format 0.4), drag-and-drop
  example_workflows/<stem>.jpg       thumbnail for the template browser
  example_workflows/api/<stem>.json  API-format twin (what POST /prompt takes)

The UI file and its twin are built independently from the same spec (the UI one through the
frontend's widget order, the twin directly from widget names), so the converter test
(wan22.graph.convert.ui_to_api(UI) == twin) checks real work. Node definitions come from
tests/fixtures/object_info.json, a snapshot of a real server's /object_info for the node types
the examples use.

  python tools/gen_workflows.py                        write everything from the snapshot
  python tools/gen_workflows.py --check                exit 1 if a checked-in file is out of date
  python tools/gen_workflows.py --refresh-object-info  re-take the snapshot from a real ComfyUI
                                                       (COMFYUI_PATH or ~/comfy/ComfyUI) first
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wan22.catalog import BY_NAME, BY_ROLE  # noqa: E402
from wan22.demo.inputs import EXAMPLE_AUDIO, EXAMPLE_END_IMAGE, EXAMPLE_FACE, EXAMPLE_IMAGE, EXAMPLE_POSE  # noqa: E402
from wan22.graph.widgets import (  # noqa: E402
    FRONTEND_EXTRA_INPUTS,
    FRONTEND_WIDGET_NODES,
    UI_VERSION,
    dumps,
    outputs_of,
    socket_inputs,
    widget_layout,
    widgets_values_from_names,
)
from wan22.plan.bundle_spec import AUTO, BUNDLE_INPUTS  # noqa: E402
from wan22.plan.modes import MODES  # noqa: E402
from wan22.plan.presets import PRESET_TABLE, get_preset  # noqa: E402
from wan22.plan.routing import RELIGHT_ROLE, make_plan  # noqa: E402

OUT = REPO / "example_workflows"
SNAPSHOT = REPO / "tests" / "fixtures" / "object_info.json"
FRONTEND_VERSION = "1.49.6"  # the frontend whose save format and graphToPrompt these follow

# wan_shared_cfg.sample_neg_prompt, as in the official ComfyUI Wan 2.2 templates.
NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
    "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)
POSITIVE = {
    "i2v": "The subject slowly turns toward the camera and smiles; soft daylight, gentle push-in, natural motion.",
    "t2v": "A red fox trots through fresh snow in a birch forest at sunrise, cinematic tracking shot, shallow depth of field.",
    "s2v": "A person talks to the camera in a bright studio, natural head movement, expressive face, accurate lip sync.",
    "animate": "The character dances, following the pose video, with a consistent face, outfit and lighting.",
    "flf2v": "The scene transforms smoothly from the first frame into the last, one continuous shot, static camera, "
             "gentle consistent lighting.",
    # ---- animate2: the templates' advice: describe the looks and the background, no motion words
    "animate2": "Character appearance description: the character from the reference image, same face, outfit and "
                "colours. Background description: a bright, empty white studio.",
    # the official template video_wan2_2_5B_ti2v's prompt
    "ti2v": "Low contrast. In a retro 1970s-style subway station, a street musician plays in dim colors and rough textures. "
            "He wears an old jacket, playing guitar with focus. Commuters hurry by, and a small crowd gathers to listen. "
            "The camera slowly moves right, capturing the blend of music and city noise, with old subway signs and "
            "mottled walls in the background.",
}
COL_W = 420
GAP = 36


# ----------------------------------------------------------------------------- graph builder

@dataclass
class Node:
    id: int
    type: str
    col: int
    widgets: dict[str, Any]
    title: str | None = None
    note: str | None = None  # MarkdownNote text
    models: list[dict[str, str]] = field(default_factory=list)
    size: tuple[int, int] | None = None
    color: str | None = None


@dataclass
class Link:
    id: int
    src: Node
    out: int
    dst: Node
    inp: str
    type: str


class Graph:
    def __init__(self, info: dict[str, Any], stem: str, title: str, columns: list[str]) -> None:
        self.info = info
        self.stem = stem
        self.title = title
        self.columns = columns
        self.nodes: list[Node] = []
        self.links: list[Link] = []

    def node(self, type_: str, col: int, title: str | None = None, models: list[dict[str, str]] | None = None,
             size: tuple[int, int] | None = None, **widgets: Any) -> Node:
        if type_ not in self.info:
            raise SystemExit(f"{self.stem}: node type {type_} is not in the object_info snapshot; "
                             "run tools/gen_workflows.py --refresh-object-info")
        known = {w.name for w, _ in widget_layout(self.info[type_], lambda w: widgets.get(w.name, w.default))}
        for k in widgets:
            if k not in known and ":" not in k:
                raise SystemExit(f"{self.stem}: {type_} has no widget {k!r} (widgets: {sorted(known)})")
        n = Node(len(self.nodes) + 1, type_, col, dict(widgets), title, models=models or [], size=size)
        self.nodes.append(n)
        return n

    def note(self, col: int, text: str, title: str | None = None, height: int | None = None) -> Node:
        lines = sum(max(1, len(line) // 58 + 1) for line in text.splitlines())
        n = Node(len(self.nodes) + 1, "MarkdownNote", col, {}, title, note=text.strip() + "\n",
                 size=(COL_W - 40, height or 40 + 19 * lines), color="#432")
        self.nodes.append(n)
        return n

    def link(self, src: Node, out: str | int, dst: Node, inp: str) -> None:
        outs = outputs_of(self.info[src.type])
        idx = out if isinstance(out, int) else next((i for i, (name, _) in enumerate(outs) if name == out), None)
        if idx is None:
            raise SystemExit(f"{self.stem}: {src.type} has no output {out!r} ({[o for o, _ in outs]})")
        dst_inputs = {s.name for s in socket_inputs(self.info[dst.type])} | {
            w.name for w, _ in widget_layout(self.info[dst.type], lambda w: dst.widgets.get(w.name, w.default)) if w.serialize}
        if inp not in dst_inputs:
            raise SystemExit(f"{self.stem}: {dst.type} has no input {inp!r}")
        self.links.append(Link(len(self.links) + 1, src, idx, dst, inp, outs[idx][1]))

    # -- layout
    def _size(self, n: Node) -> tuple[int, int]:
        if n.size:
            return n.size
        d = self.info[n.type]
        widgets = [w for w, _ in widget_layout(d, lambda w: n.widgets.get(w.name, w.default)) if w.type != "control"]
        slots = max(len(socket_inputs(d)), len(outputs_of(d)))
        h = 36 + 22 * slots + 26 * len(widgets)
        if n.type == "CLIPTextEncode":
            h = 200
        if n.type == "PreviewAny":
            h = 260
        return (COL_W - 40, h)

    def _positions(self) -> dict[int, tuple[int, int]]:
        pos: dict[int, tuple[int, int]] = {}
        y_of = {c: 80 for c in range(len(self.columns))}
        for n in self.nodes:
            pos[n.id] = (40 + n.col * COL_W, y_of[n.col])
            y_of[n.col] += self._size(n)[1] + GAP + 30
        return pos

    def _order(self) -> dict[int, int]:
        deps = {n.id: {lk.src.id for lk in self.links if lk.dst.id == n.id} for n in self.nodes}
        order: dict[int, int] = {}
        ready = sorted(i for i, d in deps.items() if not d)
        while ready:
            i = ready.pop(0)
            order[i] = len(order)
            for j, d in deps.items():
                if i in d:
                    d.discard(i)
                    if not d and j not in order and j not in ready:
                        ready.append(j)
            ready.sort()
        return order

    # -- UI format
    def ui(self) -> dict[str, Any]:
        pos = self._positions()
        order = self._order()
        out_nodes = []
        for n in self.nodes:
            w, h = self._size(n)
            base: dict[str, Any] = {"id": n.id, "type": n.type, "pos": list(pos[n.id]), "size": [w, h], "flags": {},
                                    "order": order[n.id], "mode": 0}
            if n.type == "MarkdownNote":
                base.update({"inputs": [], "outputs": [], "title": n.title or "Note", "properties": {},
                             "widgets_values": [n.note], "color": n.color, "bgcolor": "#653"})
                out_nodes.append(base)
                continue
            d = self.info[n.type]
            inputs: list[dict[str, Any]] = []
            for s in socket_inputs(d):
                lk = next((lk for lk in self.links if lk.dst is n and lk.inp == s.name), None)
                slot: dict[str, Any] = {"name": s.name, "type": s.type, "link": lk.id if lk else None}
                if s.optional:
                    slot["shape"] = 7
                inputs.append(slot)
            for wdg, _ in widget_layout(d, lambda w, n=n: n.widgets.get(w.name, w.default)):
                lk = next((lk for lk in self.links if lk.dst is n and lk.inp == wdg.name), None)
                if wdg.serialize and lk:
                    inputs.append({"name": wdg.name, "type": wdg.type, "widget": {"name": wdg.name}, "link": lk.id})
            outputs = []
            for i, (oname, otype) in enumerate(outputs_of(d)):
                ids = [lk.id for lk in self.links if lk.src is n and lk.out == i]
                outputs.append({"name": oname, "type": otype, "links": ids or None, "slot_index": i})
            props: dict[str, Any] = {"cnr_id": "wan22" if n.type.startswith("Wan22") else "comfy-core",
                                     "Node name for S&R": n.type}
            if n.models:
                props["models"] = n.models
            base.update({"inputs": inputs, "outputs": outputs})
            if n.title:
                base["title"] = n.title
            base["properties"] = props
            values = widgets_values_from_names(d, n.widgets)
            if values or n.type in FRONTEND_WIDGET_NODES:
                base["widgets_values"] = values
            out_nodes.append(base)
        links = [[lk.id, lk.src.id, lk.out, lk.dst.id, self._slot_index(lk), lk.type] for lk in self.links]
        groups = []
        for c, title in enumerate(self.columns):
            members = [n for n in self.nodes if n.col == c and n.type != "MarkdownNote"]
            if not members:
                continue
            x0 = min(pos[n.id][0] for n in members) - 15
            y0 = min(pos[n.id][1] for n in members) - 60
            y1 = max(pos[n.id][1] + self._size(n)[1] for n in members) + 20
            groups.append({"id": c + 1, "title": title, "bounding": [x0, y0, COL_W - 10, y1 - y0], "color": "#3f789e",
                           "font_size": 22, "flags": {}})
        return {"id": _uuid(self.stem), "revision": 0, "last_node_id": len(self.nodes), "last_link_id": len(self.links),
                "nodes": out_nodes, "links": links, "groups": groups, "config": {},
                "extra": {"ds": {"scale": 0.75, "offset": [0, 0]}, "frontendVersion": FRONTEND_VERSION}, "version": UI_VERSION}

    def _slot_index(self, lk: Link) -> int:
        d = self.info[lk.dst.type]
        names = [s.name for s in socket_inputs(d)]
        names += [w.name for w, _ in widget_layout(d, lambda w: lk.dst.widgets.get(w.name, w.default))
                  if w.serialize and any(x.dst is lk.dst and x.inp == w.name for x in self.links)]
        return names.index(lk.inp)

    # -- API format (built from names, not through the UI file)
    def api(self) -> dict[str, Any]:
        prompt: dict[str, Any] = {}
        for n in self.nodes:
            if n.type == "MarkdownNote":
                continue
            d = self.info[n.type]
            inputs: dict[str, Any] = dict(FRONTEND_EXTRA_INPUTS.get(n.type, {}))
            for wdg, value in widget_layout(d, lambda w, n=n: n.widgets.get(w.name, w.default)):
                if wdg.serialize:
                    inputs[wdg.name] = value
            for lk in self.links:
                if lk.dst is n:
                    inputs[lk.inp] = [str(lk.src.id), lk.out]
            prompt[str(n.id)] = {"inputs": inputs, "class_type": n.type,
                                 "_meta": {"title": n.title or d.get("display_name") or n.type}}
        return prompt


def _uuid(stem: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://github.com/wan22-comfy/ComfyUI-Wan22/example_workflows/{stem}"))


# ----------------------------------------------------------------------------- shared pieces

def model_entry(name: str) -> dict[str, str]:
    f = BY_NAME[name]
    return {"name": f.name, "url": f.url, "directory": f.folder}


def bundle(g: Graph, mode: str, col: int = 0) -> Node:
    widgets: dict[str, Any] = {"mode": mode, "weight_dtype": "default"}
    models = []
    for inp in BUNDLE_INPUTS:
        role = inp.roles.get(mode)
        widgets[inp.name] = BY_ROLE[role].name if role else AUTO
        if role:
            models.append(model_entry(BY_ROLE[role].name))
    return g.node("Wan22BundleLoader", col, title=f"Wan 2.2 models ({mode})", models=models, **widgets)


def router(g: Graph, mode: str, preset: str, bundle_from: Node, col: int = 0) -> Node:
    """The router for (mode, preset), its bundle input linked to `bundle_from`."""
    p = get_preset(mode, preset)
    widgets: dict[str, Any] = {"mode": mode, "preset": preset, "relight": True}
    models = []
    firsts = [stage[0].role if stage else None for stage in p.loras]
    slots = ("lora_high", "lora_low") if len(p.experts) == 2 else ("lora_high",)
    for slot, role in zip(slots, firsts, strict=True):
        if role:
            widgets[slot] = BY_ROLE[role].name
            models.append(model_entry(BY_ROLE[role].name))
    for stage in p.loras:
        for u in stage[1:]:
            if model_entry(BY_ROLE[u.role].name) not in models:
                models.append(model_entry(BY_ROLE[u.role].name))
    r = g.node("Wan22ModeRouter", col, title=f"Wan 2.2 router ({mode} / {preset})", models=models, **widgets)
    g.link(bundle_from, "bundle", r, "bundle")
    return r


def conditioned(g: Graph, node: Node, pos: Node, neg: Node, b: Node) -> None:
    """Link the prompts and the bundle's VAE into a Wan conditioning node (WanImageToVideo & co)."""
    g.link(pos, "CONDITIONING", node, "positive")
    g.link(neg, "CONDITIONING", node, "negative")
    g.link(b, "vae", node, "vae")


def decoded(g: Graph, col: int, samples: tuple[Node, str], b: Node) -> Node:
    """VAEDecode of `samples` with the bundle's VAE."""
    dec = g.node("VAEDecode", col)
    g.link(samples[0], samples[1], dec, "samples")
    g.link(b, "vae", dec, "vae")
    return dec


def prompts(g: Graph, mode: str, clip_from: Node, col: int) -> tuple[Node, Node]:
    pos = g.node("CLIPTextEncode", col, title="Positive prompt (what to show)", text=POSITIVE[mode])
    neg = g.node("CLIPTextEncode", col, title="Negative prompt (official Wan 2.2)", text=NEGATIVE_PROMPT)
    g.link(clip_from, "clip", pos, "clip")
    g.link(clip_from, "clip", neg, "clip")
    return pos, neg


def finish(g: Graph, images_from: Node, images_out: str, fps: float | None, col: int, prefix: str,
           fps_from: tuple[Node, str] | None = None, audio_from: tuple[Node, str] | None = None) -> Node:
    create = g.node("CreateVideo", col, **({"fps": fps} if fps is not None else {}))
    g.link(images_from, images_out, create, "images")
    if fps_from:
        g.link(fps_from[0], fps_from[1], create, "fps")
    if audio_from:
        g.link(audio_from[0], audio_from[1], create, "audio")
    save = g.node("SaveVideo", col, title="Save video (mp4)", filename_prefix=prefix, format="mp4", **{"format.codec": "auto"})
    g.link(create, "VIDEO", save, "video")
    return save


def sampler(g: Graph, col: int, router_node: Node, pos: tuple[Node, str], neg: tuple[Node, str],
            latent: tuple[Node, str], title: str | None = None) -> Node:
    s = g.node("Wan22MoESampler", col, title=title, seed=22, **{"seed:control_after_generate": "randomize"})
    g.link(router_node, "plan", s, "plan")
    g.link(pos[0], pos[1], s, "positive")
    g.link(neg[0], neg[1], s, "negative")
    g.link(latent[0], latent[1], s, "latent_image")
    return s


def preset_line(mode: str, preset: str) -> str:
    p = get_preset(mode, preset)
    loras = "; ".join(", ".join(f"`{BY_ROLE[u.role].name}`" for u in st) or "no LoRA" for st in p.loras)
    line = f"**{preset}**: {p.steps} steps, cfg {p.cfg:g}, {p.sampler}/{p.scheduler}, shift {p.shift:g}; LoRA: {loras}."
    return line + (f"\n{stages_text(mode, preset)}" if p.stages else "")


def stages_text(mode: str, preset: str) -> str:
    """A staged preset (fast_motion) in words, from its plan: which expert, LoRA and cfg run which steps."""
    plan = make_plan(mode, preset)
    kinds = ["base " + s.expert.rsplit("_", 1)[-1] + "-noise expert, no LoRA" if not s.loras
             else s.expert.rsplit("_", 1)[-1] + "-noise expert + its 4-step LoRA" for s in plan.stages]
    parts = [f"steps {s.start_step}-{s.end_step}: {k}, cfg {s.cfg:g}" for s, k in zip(plan.stages, kinds, strict=True)]
    return (f"**{len(plan.stages)} stages** (against the Lightning LoRAs' slow motion): " + "; ".join(parts) + ". "
            f"The low-noise expert takes over at the {plan.boundary:.3f} boundary (step {plan.split_step}); "
            "the base stage's length and cfg are the plan's (`python -m wan22 plan --base-steps/--base-cfg`).")


HOW_TO_CHANGE = (
    "**Presets.** The router sets steps, cfg, sampler, shift and the hand-off step from the preset; leave the "
    "numbers at 0 / -1 / auto to use it. Changing `preset`? Set `lora_high`/`lora_low` back to `auto` (the "
    "preset's LoRAs) or `none`: a 4-step LoRA with the quality preset's cfg is refused on purpose.\n"
    "**Missing files?** Run the *Wan 2.2 volume check* example, or `python -m wan22 inventory`."
)


# ----------------------------------------------------------------------------- the workflows

def wf_i2v(info: dict[str, Any], preset: str) -> Graph:
    w, h = (832, 480) if preset == "fast_480p" else (640, 640)
    g = Graph(info, f"wan22_i2v_{preset}", f"Wan 2.2 I2V · {preset}",
              ["Models and preset", "Start image and prompts", "Image to video", "Decode and save"])
    g.note(0, f"""## Wan 2.2 image to video ({preset})
{preset_line('i2v', preset)}

**Change:** the start image (Load Image), the positive prompt, `width`/`height`/`length` on *WanImageToVideo*
(multiples of 16; length 4n+1: 81 frames = 5 s at 16 fps), the seed.
Both experts are needed: the high-noise expert runs the first steps, the low-noise expert the rest; the
router computes the hand-off from the 0.900 MoE boundary.

{HOW_TO_CHANGE}""")
    b = bundle(g, "i2v")
    r = router(g, "i2v", preset, b)
    img = g.node("LoadImage", 1, title="Start image", image=EXAMPLE_IMAGE)
    pos, neg = prompts(g, "i2v", b, 1)
    i2v = g.node("WanImageToVideo", 2, width=w, height=h, length=81, batch_size=1)
    conditioned(g, i2v, pos, neg, b)
    g.link(img, "IMAGE", i2v, "start_image")
    s = sampler(g, 2, r, (i2v, "positive"), (i2v, "negative"), (i2v, "latent"))
    dec = decoded(g, 3, (s, "latent"), b)
    finish(g, dec, "IMAGE", 16.0, 3, f"wan22/i2v_{preset}")
    return g


def wf_flf2v(info: dict[str, Any], preset: str) -> Graph:
    # Sizes and nodes as the official template video_wan2_2_14B_flf2v (WanFirstLastFrameToVideo
    # 640x640, 81 frames; CreateVideo 16 fps).
    g = Graph(info, f"wan22_flf2v_{preset}", f"Wan 2.2 FLF2V · {preset}",
              ["Models and preset", "First and last frame, prompts", "First-last frame to video", "Decode and save"])
    g.note(0, f"""## Wan 2.2 first-last-frame to video ({preset})
{preset_line('flf2v', preset)}

Runs on the **I2V experts** you already have (no new download): the video starts on the *first frame* image and
ends on the *last frame* image; the prompt describes the change between them.

**Change:** the two images (Load Image), the positive prompt, `width`/`height`/`length` on
*WanFirstLastFrameToVideo* (multiples of 16; length 4n+1: 81 frames = 5 s at 16 fps), the seed.
The router hands off from the high- to the low-noise expert at the 0.900 I2V boundary.

{HOW_TO_CHANGE}""")
    b = bundle(g, "flf2v")
    r = router(g, "flf2v", preset, b)
    first = g.node("LoadImage", 1, title="First frame", image=EXAMPLE_IMAGE)
    last = g.node("LoadImage", 1, title="Last frame", image=EXAMPLE_END_IMAGE)
    pos, neg = prompts(g, "flf2v", b, 1)
    flf = g.node("WanFirstLastFrameToVideo", 2, width=640, height=640, length=81, batch_size=1)
    conditioned(g, flf, pos, neg, b)
    g.link(first, "IMAGE", flf, "start_image")
    g.link(last, "IMAGE", flf, "end_image")
    s = sampler(g, 2, r, (flf, "positive"), (flf, "negative"), (flf, "latent"))
    dec = decoded(g, 3, (s, "latent"), b)
    finish(g, dec, "IMAGE", 16.0, 3, f"wan22/flf2v_{preset}")
    return g


def wf_ti2v(info: dict[str, Any], preset: str) -> Graph:
    # Nodes and sizes as the official template video_wan2_2_5B_ti2v (Wan22ImageToVideoLatent
    # 1280x704x121, CreateVideo 24 fps); its LoadImage is bypassed (a T2V run), here it is wired.
    g = Graph(info, f"wan22_ti2v_{preset}", f"Wan 2.2 TI2V 5B · {preset}",
              ["Models and preset", "Start image and prompts", "Text/image to video", "Decode and save"])
    g.note(0, f"""## Wan 2.2 TI2V 5B: text or image to video ({preset})
{preset_line('ti2v', preset)}

**One 5B model** (`{BY_ROLE['ti2v5b'].name}`, about 9.3 GiB) for cards under 24 GB, with **the Wan 2.2 VAE**
(`{BY_ROLE['vae22'].name}`): its latent has 48 channels, so the Wan 2.1 VAE of the 14B models cannot decode it
(the bundle loader refuses it, and refuses the Wan 2.2 VAE in the 14B modes).

**Image to video** (this graph): the start image becomes the first frame. **Text to video**: bypass *Start image*
(select it, Ctrl+B), as the official template does, or delete its link to `start_image`: the optional input is then
empty and the video comes from the prompt alone.

**Change:** the prompt, the start image, `width`/`height`/`length` on *Wan22ImageToVideoLatent* (multiples of 32;
1280x704 or 704x1280; length 4n+1: 121 frames = 5 s at 24 fps), the seed.

{HOW_TO_CHANGE}""")
    b = bundle(g, "ti2v")
    r = router(g, "ti2v", preset, b)
    img = g.node("LoadImage", 1, title="Start image (bypass for text to video)", image=EXAMPLE_IMAGE)
    pos, neg = prompts(g, "ti2v", b, 1)
    lat = g.node("Wan22ImageToVideoLatent", 2, width=1280, height=704, length=121, batch_size=1)
    g.link(b, "vae", lat, "vae")
    g.link(img, "IMAGE", lat, "start_image")
    s = sampler(g, 2, r, (pos, "CONDITIONING"), (neg, "CONDITIONING"), (lat, "LATENT"))
    dec = decoded(g, 3, (s, "latent"), b)
    finish(g, dec, "IMAGE", 24.0, 3, f"wan22/ti2v_{preset}")
    return g


def wf_t2v(info: dict[str, Any], preset: str) -> Graph:
    g = Graph(info, f"wan22_t2v_{preset}", f"Wan 2.2 T2V · {preset}",
              ["Models and preset", "Prompts", "Text to video", "Decode and save"])
    lora_note = ("the high-noise AND the low-noise T2V v1.1 4-step LoRAs" if preset in ("fast", "fast_motion")
                 else "no LoRA")
    g.note(0, f"""## Wan 2.2 text to video ({preset})
{preset_line('t2v', preset)}

**Needs the T2V experts** (`{BY_ROLE['t2v_high'].name}` and `{BY_ROLE['t2v_low'].name}`) and {lora_note}.
They are not on the usual I2V/S2V volume: ComfyUI lists them under *Missing Models* (the error banner's View details)
with a Download button each, and the
*Wan 2.2 volume check* example (workflow `{get_preset('t2v', preset).workflow_id}`) lists exactly what is missing.

**Change:** the positive prompt, `width`/`height`/`length` on the empty latent (640x640 or 832x480,
81 frames = 5 s at 16 fps), the seed. The router hands off at the 0.875 T2V boundary.

{HOW_TO_CHANGE}""")
    b = bundle(g, "t2v")
    r = router(g, "t2v", preset, b)
    pos, neg = prompts(g, "t2v", b, 1)
    lat = g.node("EmptyHunyuanLatentVideo", 2, title="Empty video latent", width=640, height=640, length=81, batch_size=1)
    s = sampler(g, 2, r, (pos, "CONDITIONING"), (neg, "CONDITIONING"), (lat, "LATENT"))
    dec = decoded(g, 3, (s, "latent"), b)
    finish(g, dec, "IMAGE", 16.0, 3, f"wan22/t2v_{preset}")
    return g


S2V_CHUNK = 77
S2V_CHUNKS = 2


def wf_s2v(info: dict[str, Any], preset: str) -> Graph:
    frames = 4 * (S2V_CHUNKS * ((S2V_CHUNK - 1) // 4 + 1) - 1) + 1
    seconds = frames / 16
    g = Graph(info, f"wan22_s2v_{preset}", f"Wan 2.2 S2V · {preset}",
              ["Models and preset", "Audio and reference", "Prompts", "Chunk 1", "Chunk 2 (Extend)", "Decode and save"])
    g.note(0, f"""## Wan 2.2 sound to video ({preset})
{preset_line('s2v', preset)}

**Change:** the audio (Load Audio: speech or singing; any rate, mono or stereo), the reference image, the prompt,
`width`/`height` on *WanSoundImageToVideo* (multiples of 16), the seed.

**Chunks.** S2V renders {S2V_CHUNK}-frame chunks; each hears {4 * ((S2V_CHUNK - 1) // 4 + 1) / 16:.1f} s of audio. This graph
renders {S2V_CHUNKS} chunks: *WanSoundImageToVideo* + {S2V_CHUNKS - 1} *Extend* step = {frames} frames ({seconds:.2f} s at 16 fps),
so the audio prep node keeps the first {math.floor(seconds * 10) / 10:g} s (`max_seconds`) and pads it to the video's length.
For longer audio, set `max_seconds` to 0 (all): the prep node's `chunks` output (shown in its summary on the node) is how
many chunks the audio needs; add one *Extend group* per extra chunk (copy WanSoundImageToVideoExtend + MoE sampler +
LatentConcat and chain: the new Extend's `video_latent` and LatentConcat's `samples1` come from the previous
LatentConcat). Keep the chunk length at 77 (the model needs at least 73 frames).

*Optional:* the official template's first-frame fix (LatentCut 1 frame + LatentConcat before decoding, then drop
the extra frames with ImageFromBatch) reduces an over-exposed first frame.

{HOW_TO_CHANGE}""")
    b = bundle(g, "s2v")
    r = router(g, "s2v", preset, b)
    la = g.node("LoadAudio", 1, title="Audio (speech or singing)", audio=EXAMPLE_AUDIO)
    prep = g.node("Wan22S2VAudioPrep", 1, fps=16.0, max_seconds=math.floor(seconds * 10) / 10, chunk_length=S2V_CHUNK)
    g.link(la, "AUDIO", prep, "audio")
    enc = g.node("AudioEncoderEncode", 1)
    g.link(b, "audio_encoder", enc, "audio_encoder")
    g.link(prep, "audio", enc, "audio")
    ref = g.node("LoadImage", 1, title="Reference image (who speaks)", image=EXAMPLE_IMAGE)
    pos, neg = prompts(g, "s2v", b, 2)
    s2v = g.node("WanSoundImageToVideo", 3, width=640, height=640, length=S2V_CHUNK, batch_size=1)
    conditioned(g, s2v, pos, neg, b)
    g.link(enc, "AUDIO_ENCODER_OUTPUT", s2v, "audio_encoder_output")
    g.link(ref, "IMAGE", s2v, "ref_image")
    s1 = sampler(g, 3, r, (s2v, "positive"), (s2v, "negative"), (s2v, "latent"), title="MoE sampler (chunk 1)")
    ext = g.node("WanSoundImageToVideoExtend", 4, length=S2V_CHUNK)
    conditioned(g, ext, pos, neg, b)
    g.link(s1, "latent", ext, "video_latent")
    g.link(enc, "AUDIO_ENCODER_OUTPUT", ext, "audio_encoder_output")
    g.link(ref, "IMAGE", ext, "ref_image")
    s2 = sampler(g, 4, r, (ext, "positive"), (ext, "negative"), (ext, "latent"), title="MoE sampler (chunk 2)")
    cat = g.node("LatentConcat", 4, dim="t")
    g.link(s1, "latent", cat, "samples1")
    g.link(s2, "latent", cat, "samples2")
    dec = decoded(g, 5, (cat, "LATENT"), b)
    finish(g, dec, "IMAGE", None, 5, f"wan22/s2v_{preset}", fps_from=(prep, "fps"), audio_from=(prep, "audio"))
    return g


def trimmed_decode(g: Graph, s: Node, an: Node, b: Node) -> Node:
    """Animate (1 and 2): drop the reference frame from the latent (trim_latent), decode, drop the
    continue-motion frames (trim_image), as the official templates do."""
    trim = g.node("TrimVideoLatent", 4, title="Drop the reference frame", trim_amount=0)
    g.link(s, "latent", trim, "samples")
    g.link(an, "trim_latent", trim, "trim_amount")
    dec = decoded(g, 4, (trim, "LATENT"), b)
    cut = g.node("ImageFromBatch", 4, title="Drop continue-motion frames", batch_index=0, length=4096)
    g.link(dec, "IMAGE", cut, "image")
    g.link(an, "trim_image", cut, "batch_index")
    return cut


def wf_animate(info: dict[str, Any], preset: str) -> Graph:
    g = Graph(info, f"wan22_animate_{preset}", f"Wan 2.2 Animate · {preset}",
              ["Models and preset", "Reference and driving videos", "Prompts", "Animate", "Decode and save"])
    g.note(0, f"""## Wan 2.2 Animate ({preset})
{preset_line('animate', preset)}

**Inputs you prepare:** a *reference image* of the character, a *pose video* (skeleton renders, e.g. DWPose
body+hands) and a *face video* (face crops / face-only pose) of the driving performance, same length and
frame rate. The output has the pose video's frame rate (and its audio, when it has a track).

**Move mode (this graph):** the character from the reference image performs the driving motion in the
reference image's scene. **Mix / replace mode:** also connect `background_video` (the original driving
video) and `character_mask` (a mask of the person, e.g. from a segmentation pack) on *WanAnimateToVideo*: the
character replaces the person inside the original video. Leaving them unconnected is move mode (bypassing
them is not enough).

**Relight** (router `relight`, on): chains `{BY_ROLE['lora_animate_relight'].name}` so the character takes
the scene's lighting; it matters most in mix mode and is optional in move mode (turn it off to keep the
reference's own lighting).

**Change:** `width`/`height` (multiples of 16) and `length` (77; 4n+1) on *WanAnimateToVideo*, the prompt, the seed.
For longer videos chain another WanAnimateToVideo with `continue_motion` and `video_frame_offset`.

{HOW_TO_CHANGE}""")
    b = bundle(g, "animate")
    r = router(g, "animate", preset, b)
    ref = g.node("LoadImage", 1, title="Reference image (the character)", image=EXAMPLE_IMAGE)
    cve = g.node("CLIPVisionEncode", 1, crop="none")
    g.link(b, "clip_vision", cve, "clip_vision")
    g.link(ref, "IMAGE", cve, "image")
    pose_v = g.node("LoadVideo", 1, title="Pose video", file=EXAMPLE_POSE)
    pose = g.node("GetVideoComponents", 1, title="Pose frames")
    g.link(pose_v, "VIDEO", pose, "video")
    face_v = g.node("LoadVideo", 1, title="Face video", file=EXAMPLE_FACE)
    face = g.node("GetVideoComponents", 1, title="Face frames")
    g.link(face_v, "VIDEO", face, "video")
    pos, neg = prompts(g, "animate", b, 2)
    an = g.node("WanAnimateToVideo", 3, width=640, height=640, length=77, batch_size=1,
                continue_motion_max_frames=5, video_frame_offset=0)
    conditioned(g, an, pos, neg, b)
    g.link(cve, "CLIP_VISION_OUTPUT", an, "clip_vision_output")
    g.link(ref, "IMAGE", an, "reference_image")
    g.link(face, "images", an, "face_video")
    g.link(pose, "images", an, "pose_video")
    s = sampler(g, 3, r, (an, "positive"), (an, "negative"), (an, "latent"))
    cut = trimmed_decode(g, s, an, b)
    finish(g, cut, "IMAGE", None, 4, f"wan22/animate_{preset}", fps_from=(pose, "fps"), audio_from=(pose, "audio"))
    return g


# ---- animate2
def wf_animate2(info: dict[str, Any], preset: str) -> Graph:
    # The node chain of the official templates video_wan_animate2 / _distilled (subgraph "Motion
    # Transfer"): CLIPVisionEncode of the reference image and of the driving video's first frame,
    # WanAnimate2ToVideo 832x480x81, TrimVideoLatent(trim_latent) -> VAEDecode -> ImageFromBatch
    # (trim_image), CreateVideo at the driving video's fps. The loaders, LoRA, ModelSamplingSD3 and
    # the BasicScheduler/KSamplerSelect/SamplerCustom chain are the bundle, router and sampler here;
    # the router applies WanAnimate2Cache (gpu, int8) to the model, as the templates do.
    g = Graph(info, f"wan22_animate2_{preset}", f"Wan Animate 2 · {preset}",
              ["Models and preset", "Reference and driving video", "Prompts", "Animate 2", "Decode and save"])
    expert = get_preset("animate2", preset).experts[0]
    g.note(0, f"""## Wan Animate 2 ({preset})
{preset_line('animate2', preset)}

**A separate model from Wan 2.2 Animate:** give it a *reference image* of the character and a *driving video* of
the motion, as it is (no pose or face extraction). The prompt describes the character's looks and the background,
not the motion. Model: `{BY_ROLE[expert].name}`; VAE `{BY_ROLE['vae_bf16'].name}` as in the official template
(the same Wan 2.1 VAE as `{BY_ROLE['vae'].name}`: select that one in `vae` if you have it).
The bundle's `model` input on `auto` finds both Animate 2 files; the router's `preset` picks
(`quality`: the int8 model with the 480p distill LoRA, 6 steps; `distilled`: the distilled model, 10 steps).

**Change:** `width`/`height` (multiples of 16) and `length` (4n+1; 81 per segment) on *WanAnimate2ToVideo*, the
prompt, the seed. Longer videos: chain another WanAnimate2ToVideo with `continue_motion` (this one's frames) and
`video_frame_offset` (its output). Optional on the node: `positive_pose` (a prompt describing the motion),
`pose_strength`, `pose_start/end_percent`, `reference_image_strength`.

**Pose-branch cache:** the router applies core *WanAnimate2Cache* (gpu, int8, as the official template: about 2x
faster, several GB of memory); set `WAN22_ANIMATE2_CACHE=cpu` on the server to keep it in RAM, `=off` to skip it.

{HOW_TO_CHANGE}""")
    b = bundle(g, "animate2")
    if b.widgets["model"] != BY_ROLE[expert].name:  # the distilled preset's own file
        b.widgets["model"] = BY_ROLE[expert].name
        b.models = [m if m["directory"] != "diffusion_models" else model_entry(BY_ROLE[expert].name) for m in b.models]
    r = router(g, "animate2", preset, b)
    ref = g.node("LoadImage", 1, title="Reference image (the character)", image=EXAMPLE_IMAGE)
    cve = g.node("CLIPVisionEncode", 1, title="CLIP vision: reference", crop="none")
    g.link(b, "clip_vision", cve, "clip_vision")
    g.link(ref, "IMAGE", cve, "image")
    drive_v = g.node("LoadVideo", 1, title="Driving video (the motion)", file=EXAMPLE_POSE)
    drive = g.node("GetVideoComponents", 1, title="Driving frames")
    g.link(drive_v, "VIDEO", drive, "video")
    first = g.node("ImageFromBatch", 1, title="First driving frame", batch_index=0, length=1)
    g.link(drive, "images", first, "image")
    cvp = g.node("CLIPVisionEncode", 1, title="CLIP vision: driving video", crop="none")
    g.link(b, "clip_vision", cvp, "clip_vision")
    g.link(first, "IMAGE", cvp, "image")
    pos, neg = prompts(g, "animate2", b, 2)
    an = g.node("WanAnimate2ToVideo", 3, width=832, height=480, length=81, batch_size=1, video_frame_offset=0,
                pose_strength=1.0, pose_start_percent=0.0, pose_end_percent=1.0, reference_image_strength=1.0)
    conditioned(g, an, pos, neg, b)
    g.link(ref, "IMAGE", an, "reference_image")
    g.link(drive, "images", an, "pose_video")
    g.link(cve, "CLIP_VISION_OUTPUT", an, "clip_vision_output")
    g.link(cvp, "CLIP_VISION_OUTPUT", an, "clip_vision_output_pose")
    s = sampler(g, 3, r, (an, "positive"), (an, "negative"), (an, "latent"))
    cut = trimmed_decode(g, s, an, b)
    finish(g, cut, "IMAGE", None, 4, f"wan22/animate2_{preset}", fps_from=(drive, "fps"))
    return g


def wf_volume_check(info: dict[str, Any]) -> Graph:
    g = Graph(info, "wan22_volume_check", "Wan 2.2 volume check", ["Check", "Report"])
    g.note(0, """## Wan 2.2 volume check
Run this first on a new pod or worker. It reads only file headers in ComfyUI's configured model folders
(including `extra_model_paths.yaml`, e.g. `/workspace/models` or `/runpod-volume/models`) and reports, for every
Wan 2.2 file, whether it is there, misplaced, misnamed, half-downloaded or the wrong model, with the fix.

**Change:** `workflow` = the example you want to run (`i2v_fast`, `i2v`, `t2v_fast`, `s2v_fast`, `animate_fast`, ...);
the `ready` output says whether that one can run. `strict` counts demo stand-in files as not ready.
The same report: `python -m wan22 inventory`, or GET `/wan22/inventory` on the server.""")
    inv = g.node("Wan22VolumeInventory", 0, workflow="i2v_fast", strict=False)
    show = g.node("PreviewAny", 1, title="Report", size=(COL_W - 40, 520))
    g.link(inv, "report", show, "source")
    ready = g.node("PreviewAny", 1, title="Ready?", size=(COL_W - 40, 120))
    g.link(inv, "ready", ready, "source")
    return g


# The graph of each mode (its preset rows in presets.json say which workflows it ships).
BUILDERS: dict[str, Callable[[dict[str, Any], str], Graph]] = {
    "i2v": wf_i2v, "t2v": wf_t2v, "s2v": wf_s2v, "animate": wf_animate, "flf2v": wf_flf2v, "ti2v": wf_ti2v,
    "animate2": wf_animate2,
}


def _workflows() -> list[tuple[str, Callable[[dict[str, Any]], Graph]]]:
    """One workflow per preset row (its workflow id), then the volume check."""
    missing = [m for m in MODES if m not in BUILDERS]
    if missing:
        raise SystemExit(f"mode {missing[0]} has no graph builder: add wf_{missing[0]} to BUILDERS in tools/gen_workflows.py")
    out: list[tuple[str, Callable[[dict[str, Any]], Graph]]] = [
        (p.workflow_id, lambda i, p=p: BUILDERS[p.mode](i, p.preset)) for p in PRESET_TABLE]
    return [*out, ("volume_check", wf_volume_check)]


WORKFLOWS = _workflows()


# ----------------------------------------------------------------------------- thumbnails

def thumbnail(g: Graph, workflow_id: str) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    W, H = 512, 384
    img = Image.new("RGB", (W, H), (22, 27, 38))
    d = ImageDraw.Draw(img)
    big = ImageFont.load_default(size=44)
    mid = ImageFont.load_default(size=24)
    small = ImageFont.load_default(size=18)
    mode, _, preset = g.title.partition(" · ")
    accent = {"TI2V": (230, 120, 110), "I2V": (86, 156, 214), "T2V": (197, 134, 192), "S2V": (78, 201, 176), "Animate": (220, 170, 90),
              "FLF2V": (120, 200, 110)}
    color = next((c for k, c in accent.items() if k in mode), (160, 160, 160))
    d.rectangle([0, 0, W, 10], fill=color)
    d.text((28, 40), mode.replace("Wan 2.2 ", ""), font=big, fill=color)
    d.text((28, 96), "Wan 2.2 · ComfyUI-Wan22", font=small, fill=(170, 178, 190))
    if preset:
        d.rounded_rectangle([28, 132, 28 + 16 + int(d.textlength(preset, font=mid)), 170], radius=8, outline=color, width=2)
        d.text((36, 136), preset, font=mid, fill=(235, 235, 235))
    lines = _thumb_lines(g)
    y = 196
    for line in lines:
        d.text((28, y), line, font=small, fill=(215, 220, 228))
        y += 28
    d.text((28, H - 36), f"workflow id: {workflow_id}", font=small, fill=(120, 128, 140))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88)
    return buf.getvalue()


def _thumb_lines(g: Graph) -> list[str]:
    by_type = {n.type: n for n in g.nodes}
    out = []
    for t in ("WanImageToVideo", "WanFirstLastFrameToVideo", "EmptyHunyuanLatentVideo", "WanSoundImageToVideo", "WanAnimateToVideo",
              "Wan22ImageToVideoLatent", "WanAnimate2ToVideo"):
        if t in by_type:
            w = by_type[t].widgets
            if "Sound" in t:
                chunks = 1 + sum(1 for n in g.nodes if n.type == "WanSoundImageToVideoExtend")
                out.append(f"{w['width']}x{w['height']} · {chunks} chunks x {w['length']} frames")
            else:
                out.append(f"{w['width']}x{w['height']} · {w['length']} frames")
    r = by_type.get("Wan22ModeRouter")
    if r:
        p = get_preset(r.widgets["mode"], r.widgets["preset"])
        out.append(f"{p.steps} steps · cfg {p.cfg:g} · shift {p.shift:g} · {p.sampler}")
        plain = "none (distilled model)" if p.preset == "distilled" else "none (full quality)"  # ---- animate2
        if p.stages:  # ---- fast_motion
            out.append(f"{len(p.layout)} stages: base cfg {p.layout[0].cfg:g}, then LightX2V cfg {p.cfg:g}")
        out.append("LoRA: " + ("LightX2V / distill" if p.distill else plain)
                   + (" + relight" if any(u.role == RELIGHT_ROLE for st in p.loras for u in st) else ""))
    if "SaveVideo" in by_type:
        out.append("output: SaveVideo mp4")
    if "Wan22VolumeInventory" in by_type:
        out += ["reads model headers only", "says what is missing and the fix"]
    return out


# ----------------------------------------------------------------------------- object_info snapshot

def used_types(info: dict[str, Any]) -> list[str]:
    types: set[str] = set()
    for _, build in WORKFLOWS:
        if _buildable(build, info):
            types |= {n.type for n in build(info).nodes if n.type != "MarkdownNote"}
    types |= {"LoadTrainingDataset", "CLIPTextEncode"}  # used by the documented test/demo substitutions
    return sorted(types)


def _buildable(build: Callable[[dict[str, Any]], Graph], info: dict[str, Any]) -> bool:
    try:
        build(info)
        return True
    except SystemExit:
        return False


def refresh_object_info(comfyui: str | None) -> dict[str, Any]:
    """Start a real ComfyUI (CPU) on a demo volume with the example inputs, take /object_info."""
    import tempfile

    from wan22.comfyui_dir import find_comfyui, not_found_reason
    from wan22.demo.demo_volume import make_demo_volume
    from wan22.demo.inputs import write_example_inputs
    from wan22.demo.server import ComfyServer, make_base, write_model_paths_yaml

    path = find_comfyui(comfyui)
    if path is None:
        raise SystemExit(f"--comfyui {comfyui}: not a ComfyUI folder" if comfyui else not_found_reason() + " or pass --comfyui")
    with tempfile.TemporaryDirectory(prefix="wan22-objinfo-") as tmp:
        root = Path(tmp)
        make_demo_volume(str(root / "volume"), with_t2v=True, with_5b=True, with_animate2=True)
        base = make_base(root / "base")
        write_example_inputs(str(base / "input"))
        yaml = write_model_paths_yaml(base / "extra_model_paths.yaml", root / "volume")
        server = ComfyServer(comfyui=path, base=base, yaml=yaml, log_path=root / "server.log")
        try:
            server.start()
            info = server.get("/object_info")
        finally:
            server.stop()
    return dict(info)


def snapshot_of(info: dict[str, Any]) -> dict[str, Any]:
    return {t: info[t] for t in used_types(info) if t in info}


# ----------------------------------------------------------------------------- main

def stem_of(workflow_id: str) -> str:
    if workflow_id == "volume_check":
        return "wan22_volume_check"
    mode, _, preset = workflow_id.partition("_")
    return f"wan22_{mode}_{preset or 'quality'}"


def build_all(info: dict[str, Any]) -> dict[Path, bytes]:
    files: dict[Path, bytes] = {}
    for wid, build in WORKFLOWS:
        if not _buildable(build, info):
            print(f"warning: {wid} skipped: a node type it needs is not in the snapshot", file=sys.stderr)
            continue
        g = build(info)
        stem = stem_of(wid)
        assert g.stem == stem, (g.stem, stem)
        files[OUT / f"{stem}.json"] = dumps(g.ui()).encode()
        files[OUT / "api" / f"{stem}.json"] = dumps(g.api()).encode()
        files[OUT / f"{stem}.jpg"] = thumbnail(g, wid)
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 when out of date")
    ap.add_argument("--refresh-object-info", action="store_true", help="re-take the snapshot from a real ComfyUI first")
    ap.add_argument("--comfyui", help="ComfyUI folder for --refresh-object-info")
    a = ap.parse_args(argv)
    if a.refresh_object_info:
        live = refresh_object_info(a.comfyui)
        snap = snapshot_of(live)
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(snap, indent=1, sort_keys=True) + "\n")
        print(f"wrote {SNAPSHOT.relative_to(REPO)} ({len(snap)} node types)")
    info = json.loads(SNAPSHOT.read_text())
    files = build_all(info)
    stale = []
    for path, data in files.items():
        old = path.read_bytes() if path.exists() else None
        if old == data:
            continue
        if path.suffix == ".jpg" and old is not None and a.check:
            continue  # JPEG bytes depend on the Pillow build; the JSON files are the contract
        stale.append(path)
        if not a.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    expected = set(files)
    extra = [p for p in list(OUT.glob("*.json")) + list(OUT.glob("*.jpg")) + list((OUT / "api").glob("*.json"))
             if p not in expected]
    if a.check:
        for p in stale:
            print(f"out of date: {p.relative_to(REPO)}")
        for p in extra:
            print(f"not generated (remove it or add it to the generator): {p.relative_to(REPO)}")
        return 1 if stale or extra else 0
    for p in extra:
        p.unlink()
        print(f"removed {p.relative_to(REPO)}")
    print(f"{len(files)} files, {len(stale)} changed under {OUT.relative_to(REPO)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
