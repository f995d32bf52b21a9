"""The reader's records: a model file a node loads (`ModelRef`), a node input that cannot be
judged (`Unjudged`), a node type nobody here knows (`UnknownNode`), and one workflow's whole
reading (`WorkflowRefs`). Plain data, for the volume wing's check and the prefetcher.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .packs import Pack
from .widgets import JSON


@dataclass(frozen=True)
class ModelRef:
    """One model file a workflow loads."""

    folder: str  # ComfyUI folder key
    name: str  # as the workflow names it (relative to the folder)
    node: str  # execution id: "12", or "129:95" inside a subgraph
    node_type: str
    input: str
    title: str
    expects: str  # the kind: diffusion_model, text_encoder, umt5_xxl, vae, lora, clip_vision, audio_encoder, checkpoint...
    role: str | None = None  # the catalog role the node asks for (this pack's nodes)
    url: str | None = None  # download link the workflow carries (properties.models)
    format: str = "any"  # what the loader reads: safetensors, gguf or any (loaders.json)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Unjudged:
    """A model-file input of a node that runs, whose file cannot be known or judged before the
    workflow runs: it blocks the verdict."""

    node: str
    node_type: str
    title: str
    input: str
    why: str
    fix: str

    def hint(self) -> str:
        return f"node {self.node} ({self.node_type}), input {self.input}: {self.why}; {self.fix}"

    def as_dict(self) -> dict[str, str]:
        return {**asdict(self), "hint": self.hint()}


@dataclass(frozen=True)
class UnknownNode:
    """A node type neither the server (or our table) nor this pack has."""

    type: str
    nodes: tuple[str, ...]
    pack: Pack | None
    since: str | None = None  # a core node of a newer ComfyUI: its first release ('' when not verified)
    comfyui: str = ""  # the ComfyUI release our table was taken from

    def hint(self) -> str:
        where = ", ".join(self.nodes[:6]) + (", ..." if len(self.nodes) > 6 else "")
        if self.since is not None:
            what = (f"built into ComfyUI >= {self.since}: update ComfyUI" if self.since else
                    f"built into ComfyUI releases newer than {self.comfyui}: update ComfyUI")
        elif self.pack is not None:
            what = self.pack.hint()
        else:
            what = "no known pack provides it: search its name in ComfyUI-Manager (Install Missing Custom Nodes)"
        return f"node type {self.type} (node {where}): {what}"

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "nodes": list(self.nodes), "pack": self.pack.as_dict() if self.pack else None,
                "core_since": self.since, "hint": self.hint()}


@dataclass
class WorkflowRefs:
    """Everything the check needs from one workflow."""

    format: str  # "ui" or "api"
    prompt: JSON  # the API prompt the graph amounts to (converted from a UI workflow)
    refs: list[ModelRef] = field(default_factory=list)
    unknown: list[UnknownNode] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    live: bool = False  # judged against a live server's node types (unknown types cannot run)
    unjudged: list[Unjudged] = field(default_factory=list)
    shape: str = ""  # how the workflow arrived (graph.shapes)
    runs: list[str] = field(default_factory=list)  # ids of the nodes that feed an output, in id order
    conflicts: list[Unjudged] = field(default_factory=list)  # files that cannot work together (graph.pairing)

    def files(self) -> list[tuple[str, str]]:
        """(folder key, name) of every file, once, in reference order."""
        return list(dict.fromkeys((r.folder, r.name) for r in self.refs))
