"""Wan22VolumeInventory: the inventory of ComfyUI's configured model folders, on the canvas."""

from __future__ import annotations

import itertools
import json
import os
import time
from typing import Any

import folder_paths
from comfy_api.latest import io

from ..wan22.plan.presets import WORKFLOW_IDS
from ..wan22.volume.inventory import run_inventory
from ..wan22.volume.report import Report
from ..wan22.volume.roots import FolderConfig, from_folder_paths
from .types import VOLUME as CATEGORY


def comfy_yaml_files() -> list[str]:
    """The extra_model_paths.yaml files this ComfyUI loaded, in its order (main.py)."""
    files = [os.path.join(os.path.dirname(os.path.realpath(folder_paths.__file__)), "extra_model_paths.yaml")]
    try:
        from comfy.cli_args import args

        extra = args.extra_model_paths_config or []
        files += [str(p) for p in itertools.chain.from_iterable(x if isinstance(x, list) else [x] for x in extra)]
    except (ImportError, AttributeError):
        pass
    return [f for f in files if os.path.isfile(f)]


def comfy_folder_config() -> FolderConfig:
    """ComfyUI's own folder configuration (models dir + extra_model_paths, in search order). The
    YAML files only name the file and section in hints; the folders come from folder_paths."""
    return from_folder_paths(folder_paths.get_folder_paths, folder_paths.models_dir, yaml_files=comfy_yaml_files())


def inventory_report() -> Report:
    """The inventory of this ComfyUI's model folders (headers cached between calls in this process)."""
    return run_inventory(comfy_folder_config())


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
            report.apply_strict()
        st = report.workflows[workflow]
        head = f"{workflow}: {'READY' if st.ready else 'NOT READY'}" + (
            f" ({len(st.stand_ins)} stand-ins)" if st.ready and st.stand_ins else "")
        text = head + "\n" + report.text()
        ui = {"text": [text], "wan22_inventory": [json.dumps(report.as_dict())]}
        return io.NodeOutput(text, st.ready, ui=ui)
