"""Bench-only ComfyUI custom node pack (never shipped): counts model file reads.

Wraps comfy.utils.load_torch_file, which every core loader (UNETLoader, LoraLoaderModelOnly,
VAELoader, CLIPLoader, CLIPVisionLoader, AudioEncoderLoader) and this pack's loaders go through,
and serves the counts at GET /bench/loads (POST /bench/reset clears them), with `events`: the
file reads and sampling calls (comfy.sample.sample, as "sample") in the order they happened, and
`patching`: how often ComfyUI applied LoRA patches (comfy.sd.load_lora_for_models, the call
LoraLoaderModelOnly and this pack make) and patched a weight on load
(ModelPatcher.patch_weight_to_device, once per patched weight each time a model is loaded).
Installed only into the benchmark/test server's custom_nodes.
"""

import collections
import os
import threading

import comfy.model_patcher
import comfy.sample
import comfy.sd
import comfy.utils
from aiohttp import web
from server import PromptServer

_counts = collections.Counter()
_events = []
_lock = threading.Lock()
_orig = comfy.utils.load_torch_file


def _counting_load(ckpt, *args, **kwargs):
    with _lock:
        _counts[os.path.basename(str(ckpt))] += 1
        _events.append(os.path.basename(str(ckpt)))
    return _orig(ckpt, *args, **kwargs)


_orig_sample = comfy.sample.sample


def _recording_sample(*args, **kwargs):
    with _lock:
        _events.append("sample")
    return _orig_sample(*args, **kwargs)


_patching = collections.Counter()
_orig_lora = comfy.sd.load_lora_for_models
_orig_patch = comfy.model_patcher.ModelPatcher.patch_weight_to_device


def _counting_lora(*args, **kwargs):
    with _lock:
        _patching["load_lora_for_models"] += 1
    return _orig_lora(*args, **kwargs)


def _counting_patch(self, key, *args, **kwargs):
    if key in self.patches:
        with _lock:
            _patching["patch_weight_to_device"] += 1
    return _orig_patch(self, key, *args, **kwargs)


comfy.utils.load_torch_file = _counting_load
comfy.sample.sample = _recording_sample
comfy.sd.load_lora_for_models = _counting_lora
comfy.model_patcher.ModelPatcher.patch_weight_to_device = _counting_patch


@PromptServer.instance.routes.get("/bench/loads")
async def _loads(request):
    with _lock:
        return web.json_response({"total": sum(_counts.values()), "by_file": dict(_counts), "events": list(_events),
                                  "patching": dict(_patching)})


@PromptServer.instance.routes.post("/bench/reset")
async def _reset(request):
    with _lock:
        _counts.clear()
        _events.clear()
        _patching.clear()
    return web.json_response({"ok": True})


NODE_CLASS_MAPPINGS = {}
