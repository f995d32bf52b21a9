"""Loading through ComfyUI's own loader nodes, with one shared cache.

Every model object is kept in a weak cache keyed by (folder, real path, size, mtime, options):
while anything (a cached node output, a bundle) still holds a model, asking for the same file
again returns the same object instead of reading it again. So a prompt never loads a file twice,
and a second prompt, or a switch i2v -> s2v -> i2v, reloads only what is no longer held.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

import comfy.sd
import comfy.utils
import folder_paths
from comfy_extras import nodes_audio_encoder

import nodes as comfy_nodes

log = logging.getLogger("wan22")

# Loads that actually read a file, per folder key; benchmarks and tests read this.
LOAD_COUNTS: collections.Counter[str] = collections.Counter()
_cache: weakref.WeakValueDictionary[tuple[Any, ...], Any] = weakref.WeakValueDictionary()
_lock = threading.Lock()


class LoraData:
    """A loaded LoRA state dict (a plain dict cannot live in a weak cache)."""

    def __init__(self, name: str, sd: dict[str, Any]) -> None:
        self.name = name
        self.sd = sd


def full_path(folder: str, name: str) -> str:
    path = folder_paths.get_full_path(folder, name)
    if path is None:
        dirs = ", ".join(folder_paths.get_folder_paths(folder))
        raise FileNotFoundError(f"'{name}' is not in ComfyUI's '{folder}' folders ({dirs})")
    return path


def _key(folder: str, name: str, *extra: Any) -> tuple[Any, ...]:
    path = full_path(folder, name)
    st = os.stat(path)
    return (folder, os.path.realpath(path), st.st_size, st.st_mtime_ns, *extra)


def _cached(key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
    with _lock:
        obj = _cache.get(key)
        if obj is not None:
            return obj
    obj = load()
    LOAD_COUNTS[key[0]] += 1
    with _lock:
        _cache[key] = obj
    return obj


def diffusion_model(name: str, weight_dtype: str = "default") -> Any:
    """A ModelPatcher, via core UNETLoader."""
    return _cached(_key("diffusion_models", name, weight_dtype),
                   lambda: comfy_nodes.UNETLoader().load_unet(name, weight_dtype)[0])


def text_encoder(name: str) -> Any:
    """umT5-XXL via core CLIPLoader with type 'wan'."""
    return _cached(_key("text_encoders", name, "wan"),
                   lambda: comfy_nodes.CLIPLoader().load_clip(name, "wan", "default")[0])


def vae(name: str) -> Any:
    return _cached(_key("vae", name), lambda: comfy_nodes.VAELoader().load_vae(name)[0])


def clip_vision(name: str) -> Any:
    return _cached(_key("clip_vision", name), lambda: comfy_nodes.CLIPVisionLoader().load_clip(name)[0])


def audio_encoder(name: str) -> Any:
    return _cached(_key("audio_encoders", name),
                   lambda: nodes_audio_encoder.AudioEncoderLoader.execute(name)[0])


def lora(name: str) -> LoraData:
    """A LoRA state dict read the way core LoraLoaderModelOnly reads it."""
    def load() -> LoraData:
        return LoraData(name, comfy.utils.load_torch_file(full_path("loras", name), safe_load=True))

    return _cached(_key("loras", name), load)


def apply_lora(model: Any, data: LoraData, strength: float) -> Any:
    """Exactly what LoraLoaderModelOnly does with a loaded file."""
    if strength == 0:
        return model
    patched, _ = comfy.sd.load_lora_for_models(model, None, data.sd, strength, 0)
    return patched


def apply_shift(model: Any, shift: float) -> Any:
    """Core ModelSamplingSD3."""
    from comfy_extras.nodes_model_advanced import ModelSamplingSD3

    return ModelSamplingSD3().patch(model, shift)[0]


ANIMATE2_CACHE_CHOICES = ("gpu", "cpu", "off")


def animate2_cache_choice() -> str:
    """WAN22_ANIMATE2_CACHE: gpu (default), cpu or off."""
    where = os.environ.get("WAN22_ANIMATE2_CACHE", "gpu").strip().lower() or "gpu"
    if where not in ANIMATE2_CACHE_CHOICES:
        raise ValueError(f"WAN22_ANIMATE2_CACHE={where!r}: use one of {', '.join(ANIMATE2_CACHE_CHOICES)}")
    return where


def apply_animate2_cache(model: Any) -> Any:
    """Core WanAnimate2Cache: the pose branch's activations computed once instead of every step
    (ComfyUI: "roughly halves generation time"). The official templates (video_wan_animate2*) use
    device gpu, dtype int8; WAN22_ANIMATE2_CACHE=cpu keeps it in RAM, =off skips it."""
    where = animate2_cache_choice()
    if where == "off":
        return model
    from comfy_extras.nodes_wan import WanAnimate2Cache

    return WanAnimate2Cache.execute(model, where, "int8")[0]


def list_files(folder: str) -> list[str]:
    try:
        return list(folder_paths.get_filename_list(folder))
    except KeyError:
        return []
