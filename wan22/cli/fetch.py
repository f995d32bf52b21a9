"""`python -m wan22 fetch`: argv -> the volume wing's fetch; prints the plan, progress and verdict."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..plan.lightning import CHOICES
from .inventory import add_folder_args, folder_args

LIGHTNING_IDS = CHOICES[1:]  # no 'auto': fetch gets one named pair


def _wanted(workflows: list[str], lightning: str | None = None) -> tuple[dict[str, tuple[str, ...]], set[str], str]:
    """Workflow ids and workflow files -> (label -> roles it needs, roles to inventory, usage error);
    with `lightning`, a fast workflow needs that generation's files instead of the preset's."""
    from ..errors import PlanError
    from ..fetch.plan import required_roles, workflow_file_roles
    from ..plan.presets import WORKFLOW_IDS, preset_for_workflow
    from ..volume.lora_generation import generation_roles
    from ..volume.report import preset_roles

    wanted: dict[str, tuple[str, ...]] = {}
    roles: set[str] = set()
    for w in workflows:
        if w in WORKFLOW_IDS and lightning:
            try:
                wanted[w] = generation_roles(preset_for_workflow(w), lightning)
            except PlanError as e:
                return {}, set(), f"--lightning: {e}"
            roles |= set(wanted[w]) | set(preset_for_workflow(w).optional)
            continue
        if w in WORKFLOW_IDS:
            wanted[w] = required_roles(w)
            roles |= set(preset_roles(w))
            continue
        if not w.lower().endswith(".json"):
            return {}, set(), f"--workflow {w!r} is not a workflow id ({', '.join(WORKFLOW_IDS)}) nor a .json file"
        try:
            found, _others = workflow_file_roles(w)
        except (OSError, ValueError) as e:
            return {}, set(), f"--workflow {w}: cannot read it as a workflow JSON ({e})"
        if not found:
            return {}, set(), f"--workflow {w}: it names no Wan 2.2 file of the catalog, so fetch has nothing to get for it"
        wanted[w] = tuple(found)
        roles |= set(found)
    return wanted, roles, ""


def cmd_fetch(a: argparse.Namespace) -> int:
    """Exit 0: every requested workflow is ready afterwards; 1: not (or refused); 2: bad usage."""
    from ..fetch.fetch import FetchOptions, fetch
    from ..plan.presets import WORKFLOW_IDS
    from ..volume.roots import resolve

    def usage(msg: str) -> int:
        print(f"error: {msg}", file=sys.stderr)
        return 2

    if a.lightning and not a.workflow:
        return usage("--lightning needs --workflow (a fast workflow: i2v_fast, t2v_fast, flf2v_fast, ..._fast_motion)")
    wanted, roles, err = _wanted(a.workflow or list(WORKFLOW_IDS), a.lightning)
    if err:
        return usage(err)
    if a.to and not (a.root or a.extra_model_paths or a.comfyui):
        if not os.path.isdir(a.to):
            return usage(f"--to {a.to}: no such folder (create it first: fetch never guesses a volume path)")
        a.root = [a.to]
    where, err = folder_args(a)
    if err:
        return usage(err)
    mirror = a.mirror or os.environ.get("WAN22_MIRROR") or None
    if mirror and not mirror.startswith(("http://", "https://")):
        return usage(f"--mirror {mirror!r}: must be an http:// or https:// URL serving <URL>/<folder key>/<file name>")
    if a.jobs < 1:
        return usage("--jobs must be at least 1")
    opts = FetchOptions(wanted, roles, to=a.to, roots=list(where.get("roots") or []), mirror=mirror,
                        dry_run=a.dry_run, jobs=a.jobs, bars=not a.json)
    out = sys.stderr if a.json else sys.stdout

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    outcome = fetch(lambda: resolve(**where), opts, say)
    if a.json:
        print(json.dumps(outcome.as_dict(), indent=2))
    else:
        print()
        print(outcome.after.summary_line())
        for label, v in outcome.verdict(outcome.after).items():
            why = ", ".join(f"{b['name']} ({b['status']})" for b in v["blocking"])
            print(f"{'READY' if v['ready'] else 'NOT READY'}: {label}" + (f": {why}" if why else ""))
        if a.dry_run:
            print("(dry run: nothing was written)")
    return 0 if outcome.ready() else 1


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("fetch", help="download exactly the files a workflow lacks: resumable, verified, never "
                                     "over an existing file",
                       description="Plans from the inventory (only files that block the requested workflows), checks "
                                   "free space, then downloads each into <name>.part next to its target, resumes after "
                                   "an interruption, verifies size, header and sha256 (when published) and renames it "
                                   "into place. Never overwrites or deletes a file. Exit 0: the workflows are ready "
                                   "afterwards; 1: not; 2: bad usage.")
    s.add_argument("--workflow", action="append", metavar="ID|FILE.json",
                   help="what to make ready (repeatable): a workflow id (i2v, i2v_fast, t2v, s2v, animate, ...) or a "
                        "workflow JSON naming catalog files; default: every workflow")
    add_folder_args(s)
    s.add_argument("--to", metavar="DIR",
                   help="put files in DIR/<folder key>/ (default: the first --root, else the folder the inventory "
                        "names for each file)")
    s.add_argument("--mirror", metavar="URL",
                   help="fetch every file from URL/<folder key>/<file name> instead of its catalog URL "
                        "(default: $WAN22_MIRROR)")
    s.add_argument("--lightning", choices=LIGHTNING_IDS, metavar="ID",
                   help="fast workflows: fetch this Lightning generation's pair (LoRAs, or distilled experts) instead "
                        f"of the preset's LoRAs: {', '.join(LIGHTNING_IDS)}")
    s.add_argument("--dry-run", action="store_true", help="print the plan and the free-space check; write nothing")
    s.add_argument("--jobs", type=int, default=2, metavar="N", help="files transferred at once (default 2)")
    s.add_argument("--json", action="store_true",
                   help="print one JSON object (plan, space, per-file results, verdict); the text goes to stderr")
    s.set_defaults(func=cmd_fetch)
