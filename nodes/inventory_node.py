"""Wan22VolumeInventory: the inventory of ComfyUI's configured model folders, on the canvas."""

from __future__ import annotations

import json
import time
from typing import Any

import folder_paths
from comfy_api.latest import io

from ..wan22.inventory import Report, run_inventory
from ..wan22.roots import FolderConfig, from_folder_paths
from ..wan22.routing import WORKFLOW_IDS
from .types import CATEGORY


def comfy_folder_config() -> FolderConfig:
    """ComfyUI's own folder configuration (models dir + extra_model_paths, in search order)."""
    return from_folder_paths(folder_paths.get_folder_paths, folder_paths.models_dir)


def inventory_report() -> Report:
    return run_inventory(comfy_folder_config())


def apply_strict(report: Report) -> None:
    for st in report.workflows.values():
        if st.stand_ins:
            st.ready = False
            st.blocking += [{"role": "", "name": n, "status": "stand_in", "hint": "strict: stand-ins do not count"}
                            for n in st.stand_ins]


class Wan22VolumeInventory(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="Wan22VolumeInventory",
            display_name="Wan 2.2 Volume Inventory",
            category=CATEGORY,
            description="Checks ComfyUI's configured model folders for every Wan 2.2 file, reading headers only: what is "
                        "missing, misplaced, misnamed, half-downloaded or the wrong model, and which workflows can run. "
                        "Never writes to the volume.",
            search_aliases=["wan check", "model check", "missing models", "inventory"],
            is_output_node=True,
            inputs=[
                io.Combo.Input("workflow", options=list(WORKFLOW_IDS), default="i2v_fast",
                               tooltip="the workflow whose readiness goes to the 'ready' output"),
                io.Boolean.Input("strict", default=False, tooltip="stand-in files (demo-volume) make a workflow not ready"),
            ],
            outputs=[
                io.String.Output(display_name="report"),
                io.Boolean.Output(display_name="ready"),
            ],
        )

    @classmethod
    def fingerprint_inputs(cls, workflow: str, strict: bool) -> Any:
        return time.monotonic_ns()  # the volume can change between prompts: always look again

    @classmethod
    def execute(cls, workflow: str, strict: bool) -> io.NodeOutput:
        report = inventory_report()
        if strict:
            apply_strict(report)
        text = report.text()
        ready = report.workflows[workflow].ready
        ui = {"text": [text], "wan22_inventory": [json.dumps(report.as_dict())]}
        return io.NodeOutput(text, ready, ui=ui)
