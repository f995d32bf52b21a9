"""`python -m wan22 inventory`: argv -> the volume wing's inventory; prints its text or JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..catalog import VOLUME_CANDIDATES
from ..comfyui_dir import find_comfyui

if TYPE_CHECKING:
    from ..volume.report import Report


def cmd_inventory(a: argparse.Namespace) -> int:
    """Exit 0: every requested workflow is ready; 1: not; 2: bad usage (nothing was checked)."""
    def usage(msg: str) -> int:
        print(f"error: {msg}", file=sys.stderr)
        return 2

    files, err = _workflow_args(a.workflow or [])
    if err:
        return usage(err)
    where, err = folder_args(a)
    if err:
        return usage(err)
    run, err = _runner(a.workflow or [], files, where)
    if run is None:
        return usage(err)
    report = run(a.verify)
    if a.strict:
        report.apply_strict()
    fixes: list[dict[str, Any]] | None = None
    if a.fix:
        report, fixes = _fix(a, report, run)
        if a.strict:
            report.apply_strict()
    ids = a.workflow or list(report.workflows)
    if a.json:
        body = report.as_dict(ids)
        if fixes is not None:
            body["fixes"] = fixes
        print(json.dumps(body, indent=2))
    else:
        print(report.text(ids))
    return 0 if report.ready(ids) else 1


def _workflow_args(values: list[str]) -> tuple[list[str], str]:
    """The --workflow values that are workflow files (an existing .json file), or a usage error."""
    from ..plan.presets import WORKFLOW_IDS

    files: list[str] = []
    for w in values:
        if w not in WORKFLOW_IDS and w.lower().endswith(".json"):
            if not os.path.isfile(w):
                return [], f"--workflow {w}: no such file (a workflow file, UI or API format)"
            files.append(w)
        elif w not in WORKFLOW_IDS:
            return [], (f"--workflow {w!r} is not a workflow id; use one of: {', '.join(WORKFLOW_IDS)} "
                        "(or give a workflow .json file)")
    return files, ""


def _runner(values: list[str], files: list[str], where: dict[str, Any]) -> tuple[Callable[[bool], Report] | None, str]:
    """The inventory to run (again after --fix): workflow ids only, or with workflow files."""
    from ..errors import Wan22Error
    from ..volume.inventory import run_inventory
    from ..volume.report import preset_roles
    from ..volume.roots import resolve
    from ..volume.verify import stderr_progress
    from ..volume.workflow_check import check_workflows

    if not files:
        roles = {r for w in values for r in preset_roles(w)} if values else None
        return (lambda verify=False: run_inventory(resolve(**where), verify=verify, roles=roles, cache=False,
                                                   progress=stderr_progress() if verify else None)), ""
    try:
        refs = workflow_files(files, where.get("comfyui"))
    except Wan22Error as e:
        return None, str(e)
    ids = [w for w in values if w not in files]
    return (lambda verify=False: check_workflows(resolve(**where), refs, ids=ids, verify=verify, cache=False,
                                                 progress=stderr_progress() if verify else None)), ""


def workflow_files(paths: list[str], comfyui: str | None) -> dict[str, Any]:
    """{path as given: the model references of that workflow file} (api wing), for the volume wing."""
    from ..graph.packs import manager_map_candidates
    from ..graph.reader import read_workflow_file, workflow_refs

    maps = manager_map_candidates(comfyui)
    return {p: workflow_refs(read_workflow_file(p), manager_maps=maps) for p in paths}


def _fix(a: argparse.Namespace, report: Report, rerun: Callable[[bool], Report]) -> tuple[Report, list[dict[str, Any]]]:
    """--fix: show the inventory's moves, ask unless --yes, apply them, look again."""
    from ..fetch.fix import apply_moves, moves_text, plan_moves

    out = sys.stderr if a.json else sys.stdout
    moves = plan_moves(report)
    for line in moves_text(moves, applied=False):
        print(line, file=out)
    if not any(m.state == "planned" for m in moves):
        return report, [m.as_dict() for m in moves]
    if not a.yes:
        if not sys.stdin.isatty():
            print("Not applied: pass --yes to apply these moves without being asked.", file=out)
            return report, [m.as_dict() for m in moves]
        print("Apply these moves? [y/N] ", end="", file=out, flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("Not applied.", file=out)
            return report, [m.as_dict() for m in moves]
    apply_moves(moves)
    for line in moves_text(moves, applied=True):
        print(line, file=out)
    print("", file=out)
    return rerun(False), [m.as_dict() for m in moves]


def folder_args(a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """`resolve()`'s arguments from --root/--extra-model-paths/--comfyui, else the usual places
    (WAN22_MODELS_DIR, the RunPod volume paths, a ComfyUI found by COMFYUI_PATH); or a usage error."""
    comfyui = a.comfyui
    roots = list(a.root or [])
    if not (comfyui or roots or a.extra_model_paths):
        env_dir = os.environ.get("WAN22_MODELS_DIR")
        roots = [d for d in ([env_dir] if env_dir else []) + list(VOLUME_CANDIDATES) if d and os.path.isdir(d)]
        found = find_comfyui()
        comfyui = str(found) if found else None
        if not roots and not comfyui:
            return {}, ("no model folders found. Pass --root DIR (a models folder: the one holding diffusion_models/, "
                        "vae/, loras/...), --comfyui DIR, or --extra-model-paths YAML (or set COMFYUI_PATH / "
                        "WAN22_MODELS_DIR)")
    for r in roots:
        if not os.path.isdir(r):
            return {}, (f"--root {r}: no such folder" + (" (it is a file; pass the folder that holds the model "
                                                          "folders)" if os.path.isfile(r) else ""))
    for y in a.extra_model_paths or []:
        if not os.path.isfile(y):
            return {}, f"--extra-model-paths {y}: no such file"
    if comfyui and not os.path.isdir(comfyui):
        return {}, f"--comfyui {comfyui}: no such folder"
    return {"comfyui": comfyui, "extra_yaml": a.extra_model_paths, "roots": roots}, ""


def add_folder_args(s: argparse.ArgumentParser) -> None:
    """The model-folder flags `inventory` and `fetch` share (read back by folder_args)."""
    s.add_argument("--root", action="append", metavar="DIR",
                   help="a models folder laid out like ComfyUI/models: diffusion_models/, vae/, loras/... (repeatable)")
    s.add_argument("--extra-model-paths", action="append", metavar="YAML",
                   help="an extra_model_paths.yaml, read exactly as ComfyUI reads it (repeatable, in ComfyUI's order)")
    s.add_argument("--comfyui", metavar="DIR", help="a ComfyUI folder: its models/ and its extra_model_paths.yaml")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("inventory", help="which workflows the model folders can serve, and what is wrong",
                       description="Reads only directory listings and safetensors headers (tensor data only with "
                                   "--verify) and never writes. Exit 0: every requested workflow is ready; 1: not; "
                                   "2: bad usage.")
    add_folder_args(s)
    s.add_argument("--workflow", action="append", metavar="ID",
                   help="judge only these workflow ids (repeatable): i2v, i2v_fast, t2v, s2v, animate, ...")
    s.add_argument("--json", action="store_true", help="print one JSON object (roots, files, workflows, ...)")
    s.add_argument("--verify", action="store_true",
                   help="also hash file data against known hashes (blake3 when installed, else sha256; slow, "
                        "progress on stderr)")
    s.add_argument("--strict", action="store_true", help="stand-in files (demo-volume) make a workflow not ready")
    s.add_argument("--fix", action="store_true",
                   help="apply the misplaced/misnamed moves it suggests (mv -n: never over an existing file; "
                        "nothing else changes), after showing them and asking")
    s.add_argument("--yes", action="store_true", help="with --fix: apply without asking")
    s.set_defaults(func=cmd_inventory)
