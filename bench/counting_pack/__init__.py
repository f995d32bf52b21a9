"""Bench-only ComfyUI custom node pack (never shipped): counts model file reads.

Wraps comfy.utils.load_torch_file, which every core loader (UNETLoader, LoraLoaderModelOnly,
VAELoader, CLIPLoader, CLIPVisionLoader, AudioEncoderLoader) and this pack's loaders go through,
and serves the counts at GET /bench/loads (POST /bench/reset clears them). Installed only into
the benchmark/test server's custom_nodes.
"""

import collections
import os
import threading

import comfy.utils
from aiohttp import web
from server import PromptServer

_counts = collections.Counter()
_lock = threading.Lock()
_orig = comfy.utils.load_torch_file


def _counting_load(ckpt, *args, **kwargs):
    with _lock:
        _counts[os.path.basename(str(ckpt))] += 1
    return _orig(ckpt, *args, **kwargs)


comfy.utils.load_torch_file = _counting_load


@PromptServer.instance.routes.get("/bench/loads")
async def _loads(request):
    with _lock:
        return web.json_response({"total": sum(_counts.values()), "by_file": dict(_counts)})


@PromptServer.instance.routes.post("/bench/reset")
async def _reset(request):
    with _lock:
        _counts.clear()
    return web.json_response({"ok": True})


NODE_CLASS_MAPPINGS = {}
