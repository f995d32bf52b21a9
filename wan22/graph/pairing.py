"""Files a graph loads that cannot work together, whatever the volume holds: the Wan 2.2 VAE
(48 latent channels, made for the TI2V 5B model) decoding a 14B model's 16-channel latents, or the
Wan 2.1 VAE with the 5B model. Judged from the names the graph asks for (the catalog's, or a
community name that says 5B / 14B); a graph that loads both families is left alone.
"""

from __future__ import annotations

import re

from ..catalog import BY_NAME
from .records import ModelRef, Unjudged

_5B = re.compile(r"(^|[^a-z0-9])(ti2v|5b)([^a-z0-9]|$)", re.I)
_14B = re.compile(r"(^|[^a-z0-9])a?14b([^a-z0-9]|$)", re.I)


def _catalog_kind(ref: ModelRef) -> str:
    entry = BY_NAME.get(ref.name.replace("\\", "/").rsplit("/", 1)[-1])
    return entry.kind if entry is not None and entry.folder == ref.folder else ""


def _family(ref: ModelRef) -> str:
    """'5b', '14b' or '' for a diffusion model reference."""
    kind = _catalog_kind(ref)
    if kind == "wan_dit:ti2v5b" or (not kind and _5B.search(ref.name)):
        return "5b"
    if kind.startswith("wan_dit") or (not kind and _14B.search(ref.name)):
        return "14b"
    return ""


def _vae(ref: ModelRef) -> str:
    return {"wan_vae:2.2": "2.2", "wan_vae:2.1": "2.1"}.get(_catalog_kind(ref), "")


def pairing_problems(refs: list[ModelRef]) -> list[Unjudged]:
    """One record per VAE reference that does not fit the graph's diffusion models."""
    families = {_family(r) for r in refs if r.folder == "diffusion_models"} - {""}
    if len(families) != 1:
        return []
    family = families.pop()
    out: list[Unjudged] = []
    for r in refs:
        v = _vae(r) if r.folder == "vae" else ""
        if (family, v) == ("14b", "2.2"):
            why = (f"{r.name} is the Wan 2.2 VAE (48 latent channels, for the TI2V 5B model), but this graph's diffusion "
                   "models are 14B ones (16 channels): decoding fails with a channel mismatch")
            out.append(Unjudged(r.node, r.node_type, r.title, r.input, why, "load wan_2.1_vae.safetensors here"))
        elif (family, v) == ("5b", "2.1"):
            why = (f"{r.name} is the Wan 2.1 VAE, but this graph's diffusion model is the TI2V 5B model, which needs the "
                   "Wan 2.2 VAE")
            out.append(Unjudged(r.node, r.node_type, r.title, r.input, why, "load wan2.2_vae.safetensors here"))
    return out
