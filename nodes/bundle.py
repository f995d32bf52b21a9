"""Wan22BundleLoader: everything a Wan 2.2 mode needs, through ComfyUI's own loaders."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import folder_paths
from comfy_api.latest import io

from ..wan22.catalog import BY_ROLE
from ..wan22.errors import MissingFilesError, ModelFileError, PlanError
from ..wan22.plan.bundle_spec import (
    ALSO_ROLES,
    AUTO,
    BUNDLE_INPUTS,
    EXPERT_INPUTS,
    INPUT_BY_NAME,
    NONE,
    Resolved,
    resolve_bundle,
)
from ..wan22.plan.modes import MODES, MODES_TOOLTIP
from ..wan22.volume.checks import check_model_file
from . import loading
from .types import LOADERS, Bundle

log = logging.getLogger("wan22")
WEIGHT_DTYPES = ["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]
# Patched stage models a bundle keeps (each a clone sharing the expert's weights: its cost is the
# patch list, the LoRA tensors are shared); enough for every stage of a few plans tried in a row.
STAGE_MEMO = 12


class Wan22Bundle:
    """What the loader hands the router: the resolved files, the shared models, and the
    experts, which are loaded only when the router asks for them (by role)."""

    def __init__(self, mode: str, files: dict[str, Resolved], weight_dtype: str,
                 clip: Any, vae: Any, clip_vision: Any, audio_encoder: Any) -> None:
        self.mode = mode
        self.files = files
        self.weight_dtype = weight_dtype
        self.clip = clip
        self.vae = vae
        self.clip_vision = clip_vision
        self.audio_encoder = audio_encoder
        self._experts: dict[str, Any] = {}
        self._loras: dict[str, loading.LoraData] = {}
        self._stages: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def expert_file(self, role: str) -> str:
        if role not in self.files:
            shared = next((inp for (inp, m), also in ALSO_ROLES.items()
                           if m == self.mode and role in (INPUT_BY_NAME[inp].roles.get(m), *also)), None)
            if shared is not None:  # animate2: the preset's model file is not the one the bundle found
                entry = BY_ROLE[role]
                raise PlanError(
                    f"Wan22ModeRouter's preset needs {entry.name} ({entry.description}) but Wan22BundleLoader's "
                    f"'{shared}' input has {', '.join(r.name for r in self.files.values()) or 'no such file'}: "
                    f"set '{shared}' to 'auto' or to that file (download: {entry.url}), or pick the preset that fits"
                )
            raise PlanError(
                f"the bundle was loaded for mode '{self.mode}' and has no '{role}' model: "
                f"set Wan22BundleLoader's mode to match Wan22ModeRouter's"
            )
        return self.files[role].name

    def expert(self, role: str) -> Any:
        if role not in self._experts:
            self._experts[role] = loading.diffusion_model(self.expert_file(role), self.weight_dtype)
        return self._experts[role]

    def lora(self, name: str) -> loading.LoraData:
        """A LoRA read once and held as long as this bundle is (shared with other bundles)."""
        if name not in self._loras:
            self._loras[name] = loading.lora(name)
        return self._loras[name]

    def stage_model(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """A patched stage model (expert + LoRAs + shift), built once per `key` and then the same
        ModelPatcher object on every later prompt: ComfyUI keeps an object it has loaded with its
        patches applied, so a warm prompt does not re-patch the weights (new clones with the same
        LoRA would be patched again on every load). The last STAGE_MEMO keys are kept."""
        if key in self._stages:
            self._stages.move_to_end(key)
            return self._stages[key]
        model = build()
        self._stages[key] = model
        while len(self._stages) > STAGE_MEMO:
            self._stages.popitem(last=False)
        return model

    def describe(self) -> dict[str, str]:
        return {role: r.name for role, r in self.files.items()}


def _listings() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    folders = {i.folder for i in BUNDLE_INPUTS}
    listings = {f: loading.list_files(f) for f in folders}
    dirs = {}
    for f in folders:
        try:
            dirs[f] = folder_paths.get_folder_paths(f)
        except KeyError:
            dirs[f] = []
    return listings, dirs


def _check_headers(mode: str, files: dict[str, Resolved]) -> str | None:
    """Read each file's header (milliseconds, no tensor data) so a truncated, corrupt or wrong
    file fails validation with a clear message instead of deep inside a loader."""
    problems = []
    for role, r in files.items():
        path = folder_paths.get_full_path(r.folder, r.name)
        if path is None or not path.lower().endswith((".safetensors", ".sft")):
            continue
        why = check_model_file(role, path)
        if why:
            problems.append(f"{r.input}: '{r.name}' ({path}) is {why}" + _vae_hint(mode, r, why))
    if problems:
        return f"Wan22BundleLoader (mode {mode}) cannot use {len(problems)} file(s):\n- " + "\n- ".join(problems)
    return None


def _vae_hint(mode: str, r: Resolved, why: str) -> str:
    """For a VAE of the wrong generation: which VAE this mode decodes with (the 5B model's latent
    has 48 channels and only the Wan 2.2 VAE reads it; every 14B model's has 16: the Wan 2.1 VAE)."""
    if r.input != "vae" or not why.startswith("wrong_model"):
        return ""
    want = BY_ROLE[r.role].name
    if r.name == want:
        return ""
    return f". Mode {mode} decodes with {want}: select it in 'vae' (or 'auto')"


class Wan22BundleLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        listings, _ = _listings()
        inputs: list[io.Input] = [
            io.Combo.Input("mode", options=list(MODES), default="i2v", tooltip=MODES_TOOLTIP),
        ]
        for spec in BUNDLE_INPUTS:
            extra = [NONE] if spec.optional else []
            inputs.append(io.Combo.Input(spec.name, options=[AUTO, *extra, *listings.get(spec.folder, [])], default=AUTO,
                                         tooltip=spec.tooltip))
        inputs.append(io.Combo.Input("weight_dtype", options=WEIGHT_DTYPES, default="default", advanced=True,
                                     tooltip="As UNETLoader. Keep 'default' for *_fp8_scaled files."))
        return io.Schema(
            node_id="Wan22BundleLoader",
            display_name="Wan 2.2 Bundle Loader",
            category=LOADERS,
            description="Loads what a Wan 2.2 mode needs through ComfyUI's own loaders: umT5 (CLIPLoader type wan), "
                        "the Wan VAE (2.1 for the 14B modes, 2.2 for ti2v), CLIP vision (animate only), wav2vec2 (s2v only). The experts load lazily "
                        "when Wan22ModeRouter asks for them. A missing file fails before anything runs, with every "
                        "missing file, its folder and the closest existing name.",
            search_aliases=["wan loader", "wan 2.2", "wan22 models", "load wan"],
            inputs=inputs,
            outputs=[
                Bundle.Output(display_name="bundle"),
                io.Clip.Output(display_name="clip"),
                io.Vae.Output(display_name="vae"),
                io.ClipVision.Output(display_name="clip_vision", tooltip="animate only; empty for other modes"),
                io.AudioEncoder.Output(display_name="audio_encoder", tooltip="s2v only; empty for other modes"),
            ],
        )

    @classmethod
    def validate_inputs(cls, mode: str, high_noise_model: str, low_noise_model: str, model: str,
                        text_encoder: str, vae: str, clip_vision: str, audio_encoder: str,
                        weight_dtype: str) -> bool | str:
        # Every input named here loses ComfyUI's own combo check (execution.py skips the inputs
        # a node's validate_inputs takes), so resolve_bundle checks each file input against its
        # folder listing, the ones this mode ignores included, as core would have.
        if mode not in MODES:
            return f"mode '{mode}' is not one of {', '.join(MODES)}"
        if weight_dtype not in WEIGHT_DTYPES:
            return f"weight_dtype '{weight_dtype}' is not one of {', '.join(WEIGHT_DTYPES)}"
        listings, dirs = _listings()
        values = dict(high_noise_model=high_noise_model, low_noise_model=low_noise_model, model=model,
                      text_encoder=text_encoder, vae=vae, clip_vision=clip_vision, audio_encoder=audio_encoder)
        try:
            files = resolve_bundle(mode, values, listings, dirs)
        except MissingFilesError as e:
            return str(e)
        return _check_headers(mode, files) or True

    @classmethod
    def execute(cls, mode: str, high_noise_model: str, low_noise_model: str, model: str, text_encoder: str,
                vae: str, clip_vision: str, audio_encoder: str, weight_dtype: str = "default") -> io.NodeOutput:
        listings, dirs = _listings()
        values = dict(high_noise_model=high_noise_model, low_noise_model=low_noise_model, model=model,
                      text_encoder=text_encoder, vae=vae, clip_vision=clip_vision, audio_encoder=audio_encoder)
        files = resolve_bundle(mode, values, listings, dirs)
        bad = _check_headers(mode, files)
        if bad:
            raise ModelFileError(bad)
        clip = loading.text_encoder(files["text_encoder"].name) if "text_encoder" in files else None
        vae_obj = loading.vae(next(r.name for r in files.values() if r.input == "vae"))  # role vae or vae22
        cv = loading.clip_vision(files["clip_vision"].name) if "clip_vision" in files else None
        ae = loading.audio_encoder(files["audio_encoder"].name) if "audio_encoder" in files else None
        experts = {role: r for role, r in files.items() if r.input in EXPERT_INPUTS}
        bundle = Wan22Bundle(mode, experts, weight_dtype, clip, vae_obj, cv, ae)
        log.info("Wan22BundleLoader %s: %s (experts load on demand)", mode, ", ".join(r.name for r in files.values()))
        return io.NodeOutput(bundle, clip, vae_obj, cv, ae)
