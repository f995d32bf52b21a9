"""What Wan22BundleLoader loads for each mode, and the one error that lists every missing file.

ComfyUI-free: the node passes in the folder listings (folder_paths.get_filename_list) and the
search directories, so this is testable without ComfyUI.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..catalog import BY_ROLE
from ..errors import MissingFilesError
from .overrides import AUTO as AUTO
from .overrides import NONE as NONE
from .presets import MODES, VAE_ROLE


@dataclass(frozen=True)
class BundleInput:
    name: str
    folder: str
    roles: Mapping[str, str]  # mode -> catalog role (modes that do not use the input are absent)
    tooltip: str
    optional: bool = False  # 'none' skips loading it (the output is then empty)


BUNDLE_INPUTS: tuple[BundleInput, ...] = (
    BundleInput("high_noise_model", "diffusion_models", {"i2v": "i2v_high", "t2v": "t2v_high", "flf2v": "i2v_high"},
                "i2v/t2v/flf2v: the high-noise expert (runs the first, noisiest steps). 'auto' = the standard file name for the mode."),
    BundleInput("low_noise_model", "diffusion_models", {"i2v": "i2v_low", "t2v": "t2v_low", "flf2v": "i2v_low"},
                "i2v/t2v/flf2v: the low-noise expert (runs the remaining steps). 'auto' = the standard file name for the mode."),
    BundleInput("model", "diffusion_models", {"s2v": "s2v", "animate": "animate"},
                "s2v/animate: the single diffusion model. 'auto' = the standard file name for the mode."),
    BundleInput("text_encoder", "text_encoders", dict.fromkeys(MODES, "text_encoder"),
                "umT5-XXL, loaded with CLIPLoader type 'wan'. 'none' skips it (about 6.7 GB of RAM) for graphs "
                "that bring their own conditioning, e.g. API workflows with precomputed embeddings.", optional=True),
    BundleInput("vae", "vae", {m: VAE_ROLE.get(m, "vae") for m in MODES},
                "The Wan 2.1 VAE (every Wan 2.2 14B model uses it; wan2.2_vae is for the 5B model only)."),
    BundleInput("clip_vision", "clip_vision", {"animate": "clip_vision"},
                "animate only: CLIP ViT-H. Wan 2.2 I2V does not use CLIP vision."),
    BundleInput("audio_encoder", "audio_encoders", {"s2v": "audio_encoder"},
                "s2v only: wav2vec2 large (1024-d)."),
)
INPUT_BY_NAME = {i.name: i for i in BUNDLE_INPUTS}
EXPERT_INPUTS = ("high_noise_model", "low_noise_model", "model")


@dataclass(frozen=True)
class Resolved:
    role: str
    input: str
    folder: str
    name: str


def closest(name: str, options: Sequence[str], n: int = 2) -> list[str]:
    """Closest existing names, comparing base names too (a file in a sub-folder is listed as
    'sub/name')."""
    base = {o.replace("\\", "/").rsplit("/", 1)[-1]: o for o in options}
    if name in base:
        return [base[name]]
    low = {o.lower(): o for o in options}
    if name.lower() in low:
        return [low[name.lower()]]
    hits = difflib.get_close_matches(name, list(base), n=n, cutoff=0.55)
    return [base[h] for h in hits]


def _unlisted(mode: str, values: Mapping[str, str], listings: Mapping[str, Sequence[str]]) -> list[str]:
    """Inputs `mode` does not use whose value is not in their list: ComfyUI refuses any combo value
    that is not in the list, so the loader does too, even where the value would be ignored."""
    out = []
    for inp in BUNDLE_INPUTS:
        value = values.get(inp.name, AUTO) or AUTO
        if mode in inp.roles or value == AUTO or (value == NONE and inp.optional):
            continue
        if value not in listings.get(inp.folder, ()):
            used = ", ".join(inp.roles)
            out.append(f"{inp.name}: '{value}' is not in {inp.folder}; mode {mode} does not use this input "
                       f"(only {used} do), but a value that is not in the list is refused: set it to 'auto'")
    return out


def _missing_line(inp: BundleInput, name: str, options: Sequence[str], search_dirs: Mapping[str, Sequence[str]]) -> str:
    where = ", ".join(search_dirs.get(inp.folder, ())) or f"ComfyUI's '{inp.folder}' folders"
    near = [c for c in closest(name, options) if c != name]
    line = f"{inp.name}: '{name}' is not in {inp.folder} ({where})"
    if near:
        line += f"; closest existing: {', '.join(repr(c) for c in near)} (select it in '{inp.name}', or rename/move the file)"
    catalog = next((f for f in BY_ROLE.values() if f.name == name), None)
    if catalog is not None:
        line += f"; download: {catalog.url}"
    return line


def resolve_bundle(mode: str, values: Mapping[str, str], listings: Mapping[str, Sequence[str]],
                   search_dirs: Mapping[str, Sequence[str]] | None = None) -> dict[str, Resolved]:
    """role -> Resolved for every file `mode` needs. Raises one MissingFilesError naming every
    missing file, its input, the folders searched, the closest existing name and the download,
    and every input the mode does not use that holds a value not in its list."""
    if mode not in MODES:
        raise MissingFilesError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    out: dict[str, Resolved] = {}
    missing: list[str] = []
    for inp in BUNDLE_INPUTS:
        role = inp.roles.get(mode)
        if role is None:
            continue
        entry = BY_ROLE[role]
        value = values.get(inp.name, AUTO) or AUTO
        if value == NONE:
            if not inp.optional:
                missing.append(f"{inp.name}: 'none' is not allowed; mode {mode} needs {entry.description}")
            continue
        name = entry.name if value == AUTO else value
        options = listings.get(inp.folder, ())
        if name in options:
            out[role] = Resolved(role, inp.name, inp.folder, name)
        else:
            missing.append(_missing_line(inp, name, options, search_dirs or {}))
    unlisted = _unlisted(mode, values, listings)
    if missing or unlisted:
        text = [f"Wan22BundleLoader (mode {mode}) cannot find {len(missing)} file(s):\n- " + "\n- ".join(missing)
                + "\nRun `python -m wan22 inventory` (or the Wan 2.2 Volume Inventory node) for a full report."] if missing else []
        if unlisted:
            text.append(f"Wan22BundleLoader (mode {mode}) has {len(unlisted)} input(s) set to a file that is not "
                        "in the list:\n- " + "\n- ".join(unlisted))
        raise MissingFilesError("\n".join(text))
    return out


def resolve_lora(name: str, listing: Sequence[str]) -> str | None:
    """None when the LoRA exists; otherwise the message line for it."""
    if name in listing:
        return None
    near = [c for c in closest(name, listing) if c != name]
    entry = next((f for f in BY_ROLE.values() if f.name == name), None)
    line = f"LoRA '{name}' is not in loras"
    if near:
        line += f"; closest existing: {', '.join(repr(c) for c in near)}"
    if entry is not None:
        line += f"; download: {entry.url}"
    return line
