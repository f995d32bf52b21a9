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
from .modes import MODE_TABLE, MODES, check_bundle_inputs
from .overrides import AUTO as AUTO
from .overrides import NONE as NONE


@dataclass(frozen=True)
class BundleInput:
    name: str
    folder: str
    roles: Mapping[str, str]  # mode -> catalog role (modes that do not use the input are absent)
    tooltip: str
    optional: bool = False  # 'none' skips loading it (the output is then empty)


def _roles(name: str) -> dict[str, str]:
    """mode -> the role input `name` loads for it (modes.json), for the modes that use it."""
    return {m.mode: m.bundle_roles[name] for m in MODE_TABLE if name in m.bundle_roles}


# The loader's inputs (node schema: names and folders are a contract); which role each loads for
# which mode is the modes' rows (modes.json).
BUNDLE_INPUTS: tuple[BundleInput, ...] = (
    BundleInput("high_noise_model", "diffusion_models", _roles("high_noise_model"),
                "i2v/t2v/flf2v: the high-noise expert (runs the first, noisiest steps). 'auto' = the standard file name for the mode."),
    BundleInput("low_noise_model", "diffusion_models", _roles("low_noise_model"),
                "i2v/t2v/flf2v: the low-noise expert (runs the remaining steps). 'auto' = the standard file name for the mode."),
    BundleInput("model", "diffusion_models", _roles("model"),
                "s2v/animate/ti2v/animate2: the single diffusion model. 'auto' = the standard file name for the mode "
                "(animate2: the quality and the distilled file, whichever are there; the router's preset picks)."),
    BundleInput("text_encoder", "text_encoders", _roles("text_encoder"),
                "umT5-XXL, loaded with CLIPLoader type 'wan'. 'none' skips it (about 6.7 GB of RAM) for graphs "
                "that bring their own conditioning, e.g. API workflows with precomputed embeddings.", optional=True),
    BundleInput("vae", "vae", _roles("vae"),
                "The Wan 2.1 VAE for every Wan 2.2 14B mode; ti2v (the 5B model) needs the Wan 2.2 VAE (wan2.2_vae). "
                "The loader refuses the other one."),
    BundleInput("clip_vision", "clip_vision", _roles("clip_vision"),
                "animate/animate2 only: CLIP ViT-H. Wan 2.2 I2V does not use CLIP vision."),
    BundleInput("audio_encoder", "audio_encoders", _roles("audio_encoder"),
                "s2v only: wav2vec2 large (1024-d)."),
)
INPUT_BY_NAME = {i.name: i for i in BUNDLE_INPUTS}
check_bundle_inputs(MODE_TABLE, {i.name: i.folder for i in BUNDLE_INPUTS})
# Inputs that serve more than one role of a mode (a row's expert input with several roles).
# Animate 2's quality and distilled presets run different model files (templates
# video_wan_animate2 / _distilled), and the bundle is set by mode only: with 'auto' the `model`
# input resolves every one of them that is on the volume (at least one must be) and the router's
# preset takes its own; a chosen file serves the role whose standard name it has, or every role
# when it has neither (the user's own build).
ALSO_ROLES: dict[tuple[str, str], tuple[str, ...]] = {
    (inp, m.mode): also for m in MODE_TABLE for inp, also in m.also_roles.items()}
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


def _resolve_shared(inp: BundleInput, roles: Sequence[str], value: str, options: Sequence[str]) -> dict[str, Resolved]:
    """The roles one input serves (ALSO_ROLES): with 'auto' each role whose standard file is listed;
    a chosen file fills the role with its standard name, or every role when it has none of them."""
    if value == AUTO:
        return {r: Resolved(r, inp.name, inp.folder, BY_ROLE[r].name) for r in roles if BY_ROLE[r].name in options}
    if value not in options:
        return {}
    named = [r for r in roles if BY_ROLE[r].name == value] or list(roles)
    return {r: Resolved(r, inp.name, inp.folder, value) for r in named}


def _also_line(also: Sequence[str], value: str) -> str:
    if value != AUTO:
        return ""
    return "; or " + ", ".join(f"'{BY_ROLE[r].name}' ({BY_ROLE[r].url})" for r in also)


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
        also = ALSO_ROLES.get((inp.name, mode))
        if also:
            found = _resolve_shared(inp, (role, *also), value, options)
            out.update(found)
            if not found:
                missing.append(_missing_line(inp, name, options, search_dirs or {}) + _also_line(also, value))
        elif name in options:
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
