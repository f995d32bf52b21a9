"""The modes: one `ModeSpec` per mode, read from `wan22/data/modes.json`.

A mode's facts live in its row and nowhere else: what Wan22BundleLoader loads for it (the expert
inputs and their roles, the text encoder, the VAE, the extra encoders), the expert family and MoE
boundary of a two-expert mode, the media a typed job sends and the node each fills, the size node
and its side multiple, and which LoRAs its model refuses. The presets, the bundle spec, the
router's checks, the worker's jobs and prompt edits, the nodes and the workflow generator read
the row; where a mode needs its own logic (S2V's audio chunks, TI2V's optional image), the logic
keys on a row field, never on the mode's name.

The loader checks every row (known fields, types, catalog roles, media keys) so a bad edit fails at
import with the file, the mode and the field. This module imports only the bottom floor.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from ..catalog import BY_ROLE
from ..errors import PlanError

MODES_FILE = Path(__file__).resolve().parent.parent / "data" / "modes.json"
MEDIA_KINDS = ("image", "audio", "video")  # what wan22.serverless.media can check a file to be
NOISE_SIDES = ("high", "low")


@dataclass(frozen=True)
class MediaKey:
    """One media key of a typed job: what its file must be and the loader node it fills."""

    key: str
    kind: str  # image / audio / video
    loader: str  # LoadImage / LoadAudio / LoadVideo


@dataclass(frozen=True)
class LoraRule:
    """A LoRA the mode's model refuses: matched by catalog role, by noise side (from its file name),
    by being any catalog LoRA, or by a part of its file name; `refuse` says why (`{role}` is that
    role's file name)."""

    refuse: str
    roles: tuple[str, ...] = ()
    noise: str | None = None
    catalog: bool = False
    name_contains: str | None = None

    def matches(self, role: str | None, name: str, noise: str | None) -> bool:
        return bool((role is not None and role in self.roles) or (self.noise is not None and noise == self.noise)
                    or (self.catalog and role is not None)
                    or (self.name_contains is not None and self.name_contains in name.lower()))

    def message(self, name: str) -> str:
        return f"{name} is " + self.refuse.format(**{r: f.name for r, f in BY_ROLE.items()})


@dataclass(frozen=True)
class ModeSpec:
    """One row of modes.json.

    `title`: what the mode makes, in a few words, for people (the bundle loader's mode tooltip).
    `experts`: (bundle input, roles) per expert input: (high, low) for a two-expert mode, one
    `model` input otherwise; an input's first role is its own, the others are roles it also
    serves (Animate 2's quality and distilled models). `family`/`boundary`: the expert family a
    two-expert mode runs on and its MoE boundary (None for one model). `extras`: (bundle input,
    role) of the other encoders. `needs`/`may`: the typed job's media keys. `size_node`: the node
    with width/height/length (sides a multiple of `side_multiple`); `extend_node`: a continuation
    node with only a length; `reference_latent`: the size node puts the reference image in front
    of the latent. `end_image_input`: the size node's last-frame input (the `end_image` key fills
    the LoadImage feeding it). `optional_image_input`: the size node's image input that may stay
    empty (a job without `image` drops its loader). `chunked_audio`: frames come from the audio's
    chunk plan (WanSoundImageToVideo + Extend). `pose_cache`: the router applies WanAnimate2Cache.
    """

    mode: str
    title: str
    experts: tuple[tuple[str, tuple[str, ...]], ...]
    text_encoder: str
    vae: str
    size_node: str
    source: str
    family: str | None = None
    boundary: float | None = None
    extras: tuple[tuple[str, str], ...] = ()
    needs: tuple[str, ...] = ()
    may: tuple[str, ...] = ()
    side_multiple: int = 16
    extend_node: str | None = None
    reference_latent: bool = False
    end_image_input: str | None = None
    optional_image_input: str | None = None
    chunked_audio: bool = False
    pose_cache: bool = False
    lora_rules: tuple[LoraRule, ...] = ()
    own_loras: tuple[tuple[str, str], ...] = ()  # (role, why it fits only this mode)

    @property
    def single_model(self) -> bool:
        return len(self.experts) == 1

    @property
    def expert_roles(self) -> tuple[str, ...]:
        """Every role the expert inputs serve."""
        return tuple(r for _inp, roles in self.experts for r in roles)

    @property
    def extra_roles(self) -> tuple[str, ...]:
        return tuple(role for _inp, role in self.extras)

    @property
    def bundle_roles(self) -> dict[str, str]:
        """Bundle input -> the role it loads for this mode (an expert input: its own role)."""
        return {**{inp: roles[0] for inp, roles in self.experts}, "text_encoder": self.text_encoder,
                "vae": self.vae, **dict(self.extras)}

    @property
    def also_roles(self) -> dict[str, tuple[str, ...]]:
        """Bundle input -> the further roles it serves (only inputs that serve several)."""
        return {inp: roles[1:] for inp, roles in self.experts if len(roles) > 1}

    @property
    def media(self) -> tuple[str, ...]:
        return self.needs + self.may


# ---------------------------------------------------------------- loading modes.json

_FIELDS = {f.name: f for f in fields(ModeSpec)}
_REQUIRED = {n for n, f in _FIELDS.items() if f.default is MISSING}
_STRINGS = ("mode", "title", "text_encoder", "vae", "size_node", "source", "family", "extend_node", "end_image_input",
            "optional_image_input")
_FLAGS = ("reference_latent", "chunked_audio", "pose_cache")
_RULE_KEYS = {"refuse", "roles", "noise", "catalog", "name_contains"}


def _fail(where: str, msg: str) -> PlanError:
    return PlanError(f"{MODES_FILE.name}: {where}: {msg}; fix the row (fields: see wan22/plan/modes.py ModeSpec)")


def _role(at: str, name: str, value: Any) -> str:
    if not isinstance(value, str) or value not in BY_ROLE:
        raise _fail(at, f"'{name}' names {value!r}, which is not a catalog role (wan22/catalog.py)")
    return value


def _roles(at: str, name: str, value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _fail(at, f"'{name}' must name at least one catalog role")
    return tuple(_role(at, name, r) for r in items)


def _inputs(at: str, name: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise _fail(at, f"'{name}' must map bundle inputs to catalog roles, got {value!r}")
    return value


def _media_keys(at: str, name: str, value: Any, media: Mapping[str, MediaKey]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise _fail(at, f"'{name}' must be a list of media keys, got {value!r}")
    unknown = [k for k in value if k not in media]
    if unknown:
        raise _fail(at, f"'{name}' names {unknown[0]!r}, which is not a media key (the 'media' section: "
                        f"{', '.join(media)})")
    return tuple(value)


def _rule(at: str, raw: Any) -> LoraRule:
    if not isinstance(raw, dict) or not isinstance(raw.get("refuse"), str) or set(raw) - _RULE_KEYS \
            or len(set(raw) - {"refuse"}) == 0:
        raise _fail(at, f"a LoRA rule is {{\"refuse\": why, and \"roles\", \"noise\", \"catalog\" or \"name_contains\"}}, "
                        f"got {raw!r}")
    names = [f for _t, f, _s, _c in string.Formatter().parse(raw["refuse"]) if f]
    for f in names:
        _role(at, "lora_rules.refuse", f)
    if not isinstance(raw.get("catalog", False), bool) or not isinstance(raw.get("roles", []), list):
        raise _fail(at, f"'lora_rules.catalog' is true or false and 'lora_rules.roles' a list of roles, got {raw!r}")
    noise = raw.get("noise")
    if noise is not None and noise not in NOISE_SIDES:
        raise _fail(at, f"'lora_rules.noise' must be one of {NOISE_SIDES}, got {noise!r}")
    part = raw.get("name_contains")
    if part is not None and (not isinstance(part, str) or not part or part != part.lower()):
        raise _fail(at, f"'lora_rules.name_contains' must be a lower-case part of a file name, got {part!r}")
    return LoraRule(raw["refuse"], _roles(at, "lora_rules.roles", raw["roles"]) if "roles" in raw else (), noise,
                    raw.get("catalog") is True, part)


def _scalars(at: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in _STRINGS:
        if k in raw and raw[k] is not None:
            if not isinstance(raw[k], str) or not raw[k]:
                raise _fail(at, f"'{k}' must be a non-empty string, got {raw[k]!r}")
            out[k] = raw[k]
    for k in _FLAGS:
        if k in raw:
            if not isinstance(raw[k], bool):
                raise _fail(at, f"'{k}' must be true or false, got {raw[k]!r}")
            out[k] = raw[k]
    if "side_multiple" in raw:
        v = raw["side_multiple"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 8 or v % 8:
            raise _fail(at, f"'side_multiple' must be a whole multiple of 8, got {v!r}")
        out["side_multiple"] = v
    return out


def _experts(at: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """experts, family and boundary, checked together: a family and a boundary go with two experts."""
    experts = tuple((inp, _roles(at, f"experts.{inp}", r)) for inp, r in _inputs(at, "experts", raw["experts"]).items())
    if len(experts) not in (1, 2):
        raise _fail(at, f"'experts' must be one model input or a high and a low one, got {len(experts)}")
    boundary = raw.get("boundary")
    two = len(experts) == 2
    if (raw.get("family") is not None) != two or (boundary is not None) != two:
        raise _fail(at, "'family' and 'boundary' are for two-expert modes only, and such a mode needs both")
    if boundary is not None and (isinstance(boundary, bool) or not isinstance(boundary, (int, float))
                                 or not 0 < boundary < 1):
        raise _fail(at, f"'boundary' must be a number between 0 and 1, got {boundary!r}")
    return {"experts": experts, "boundary": None if boundary is None else float(boundary)}


def _row(at: str, raw: Mapping[str, Any], media: Mapping[str, MediaKey]) -> ModeSpec:
    unknown = sorted(set(raw) - set(_FIELDS))
    missing = sorted(_REQUIRED - set(raw))
    if unknown or missing:
        raise _fail(at, f"unknown fields {unknown}" if unknown else f"missing fields {missing}")
    values = {**_scalars(at, raw), **_experts(at, raw)}
    values["text_encoder"] = _role(at, "text_encoder", raw["text_encoder"])
    values["vae"] = _role(at, "vae", raw["vae"])
    values["extras"] = tuple((inp, _role(at, f"extras.{inp}", r))
                             for inp, r in _inputs(at, "extras", raw.get("extras", {})).items())
    for k in ("needs", "may"):
        values[k] = _media_keys(at, k, raw.get(k, []), media)
    if set(values["needs"]) & set(values["may"]):
        raise _fail(at, "a media key is in both 'needs' and 'may'")
    rules = raw.get("lora_rules", [])
    if not isinstance(rules, list):
        raise _fail(at, f"'lora_rules' must be a list of rules, got {rules!r}")
    values["lora_rules"] = tuple(_rule(at, r) for r in rules)
    own = _inputs(at, "own_loras", raw.get("own_loras", {}))
    if not all(isinstance(why, str) and why for why in own.values()):
        raise _fail(at, "'own_loras' maps a catalog role to why it fits only this mode")
    values["own_loras"] = tuple((_role(at, "own_loras", r), why) for r, why in own.items())
    return ModeSpec(**values)


def _media(doc: Mapping[str, Any]) -> dict[str, MediaKey]:
    raw = doc.get("media")
    if not isinstance(raw, dict) or not raw:
        raise _fail("top level", "'media' must map each media key to {\"kind\", \"loader\"}")
    out: dict[str, MediaKey] = {}
    for key, v in raw.items():
        if not isinstance(v, dict) or set(v) != {"kind", "loader"} or v["kind"] not in MEDIA_KINDS \
                or not isinstance(v["loader"], str) or not v["loader"]:
            raise _fail(f"media key {key!r}", f"must be {{\"kind\": one of {MEDIA_KINDS}, \"loader\": a node type}}, got {v!r}")
        out[key] = MediaKey(key, v["kind"], v["loader"])
    return out


def load_modes(doc: Mapping[str, Any]) -> tuple[dict[str, MediaKey], tuple[ModeSpec, ...]]:
    """The media keys and the modes of a modes.json document, each row checked; PlanError names
    the mode and the field."""
    media = _media(doc)
    rows = doc.get("modes")
    if not isinstance(rows, list) or not rows:
        raise _fail("top level", "'modes' must be a list of rows")
    table: list[ModeSpec] = []
    for i, raw in enumerate(rows):
        name = raw.get("mode") if isinstance(raw, dict) else None
        at = f"mode {name!r}" if isinstance(name, str) else f"row {i}"
        if not isinstance(raw, dict):
            raise _fail(at, f"a row is an object, got {type(raw).__name__}")
        spec = _row(at, raw, media)
        if any(m.mode == spec.mode for m in table):
            raise _fail(at, "a second row for this mode")
        table.append(spec)
    return media, tuple(table)


def check_bundle_inputs(table: tuple[ModeSpec, ...], inputs: Mapping[str, str]) -> None:
    """Every bundle input a row names is one of Wan22BundleLoader's (`inputs`: name -> folder) and
    loads a file of that folder (PlanError naming the mode and the field)."""
    for spec in table:
        for field, inp, role in ([("experts", i, r) for i, rs in spec.experts for r in rs]
                                 + [("text_encoder", "text_encoder", spec.text_encoder), ("vae", "vae", spec.vae)]
                                 + [("extras", i, r) for i, r in spec.extras]):
            if inp not in inputs:
                raise _fail(f"mode {spec.mode!r}", f"'{field}' names input {inp!r}, which Wan22BundleLoader does not "
                                                   f"have (inputs: {', '.join(inputs)})")
            if BY_ROLE[role].folder != inputs[inp]:
                raise _fail(f"mode {spec.mode!r}", f"'{field}' puts {role!r} (a {BY_ROLE[role].folder} file) on input "
                                                   f"{inp!r}, which loads from {inputs[inp]}")


MEDIA, MODE_TABLE = load_modes(json.loads(MODES_FILE.read_text(encoding="utf-8")))
MODES: tuple[str, ...] = tuple(m.mode for m in MODE_TABLE)
MODE_BY_NAME: dict[str, ModeSpec] = {m.mode: m for m in MODE_TABLE}
# The bundle loader's mode tooltip: every row, in the table's order.
MODES_TOOLTIP = " · ".join(f"{m.mode}: {m.title}" for m in MODE_TABLE)


def mode_spec(mode: str) -> ModeSpec:
    """The row of `mode`, or PlanError naming the modes to use."""
    spec = MODE_BY_NAME.get(mode)
    if spec is None:
        raise PlanError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    return spec


def family(mode: str) -> str | None:
    """The expert family a two-expert mode runs on (Lightning generations and LoRA names follow
    it); None for a one-model mode or an unknown one."""
    spec = MODE_BY_NAME.get(mode)
    return spec.family if spec is not None else None


FAMILY_MODES: tuple[str, ...] = tuple(m.mode for m in MODE_TABLE if m.family is not None)
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(m.family for m in MODE_TABLE if m.family is not None))
