"""Which workflows this worker's volume can serve, decided once at boot and logged as one table.

Two sources, the same inventory: run locally on the folders of the ComfyUI the worker starts
(its models dir, its extra_model_paths.yaml and every `--extra-model-paths-config` file, as
`wan22.volume.roots.resolve` reads them), or, for a ComfyUI the worker did not start, the
pack's own `GET /wan22/inventory` route, which reports that ComfyUI's configured folders.

A job for a workflow that is not ready is refused at once with the inventory's words for every
blocking file (which file, where it was looked for, the fix); the inventory is re-run first,
so a file added to the volume after boot is found.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..api.client import Client
from ..catalog import USABLE
from ..errors import Wan22Error
from ..volume.inventory import run_inventory
from ..volume.report import Report
from ..volume.roots import inside, resolve
from .comfy import arg_values

log = logging.getLogger("wan22.worker")


@dataclass
class Readiness:
    """The inventory's verdict per workflow id: {"ready": bool, "blocking": [{name, status, hint}]}."""

    workflows: dict[str, dict[str, Any]]
    summary: str
    source: str
    refresh: Callable[[], Readiness] | None = field(default=None, repr=False)
    origins: dict[str, list[str]] = field(default_factory=dict)  # snapshot label or model folder -> file names

    @classmethod
    def from_report(cls, report: Mapping[str, Any], source: str,
                    refresh: Callable[[], Readiness] | None = None) -> Readiness:
        workflows = report.get("workflows")
        if not isinstance(workflows, dict):
            raise Wan22Error(f"{source}: the inventory report has no 'workflows' object")
        return cls({str(k): dict(v) for k, v in workflows.items()}, str(report.get("summary", "")), source, refresh)

    def ready(self, workflow_id: str) -> bool:
        return bool(self.workflows.get(workflow_id, {}).get("ready"))

    def table(self) -> str:
        """One readiness table for the boot log."""
        ready = [w for w in self.workflows if self.ready(w)]
        lines = [f"Wan 2.2 worker readiness ({self.source}): {len(ready)}/{len(self.workflows)} workflows ready",
                 f"  {'workflow':<15} {'ready':<6} blocking files"]
        for wid, st in self.workflows.items():
            blocking = ", ".join(f"{b.get('name')} ({b.get('status')})" for b in st.get("blocking") or [])
            stand = " (demo stand-ins)" if st.get("stand_ins") else ""
            lines.append(f"  {wid:<15} {'yes' if st.get('ready') else 'NO':<6} {blocking or '-'}{stand}")
        for where, names in self.origins.items():
            lines.append(f"  files from {where}: {', '.join(names)}")
        if self.summary:
            lines.append(f"  {self.summary}")
        return "\n".join(lines)

    def refusal(self, workflow_id: str) -> str | None:
        """None when `workflow_id` can run; else the inventory's message for every blocking file."""
        if self.ready(workflow_id):
            return None
        st = self.workflows.get(workflow_id)
        if st is None:
            return f"input.workflow: '{workflow_id}' is not in this worker's inventory ({self.source})"
        lines = [f"input.workflow: '{workflow_id}' cannot run on this worker: the volume lacks what it needs "
                 f"(inventory of {self.source}); nothing was queued:"]
        for b in st.get("blocking") or []:
            hint = " ".join(str(b.get("hint") or "").split())
            lines.append(f"- {b.get('name')} ({b.get('status')}){': ' + hint if hint else ''}")
        return "\n".join(lines)

    def check(self, workflow_id: str) -> str | None:
        """`refusal`, after re-running the inventory when the workflow was not ready."""
        if self.ready(workflow_id) or self.refresh is None:
            return self.refusal(workflow_id)
        try:
            fresh = self.refresh()
        except (Wan22Error, OSError) as e:
            log.warning("re-running the inventory failed (%s); keeping the boot verdict", e)
            return self.refusal(workflow_id)
        self.workflows, self.summary, self.origins = fresh.workflows, fresh.summary, fresh.origins
        return self.refusal(workflow_id)


def comfy_folders(comfyui: str | os.PathLike[str], comfy_args: Sequence[str]) -> tuple[str, list[str], str | None]:
    """(ComfyUI dir, extra_model_paths yaml files, models dir) that `main.py comfy_args` uses;
    relative paths as ComfyUI sees them (it runs in its own folder)."""
    root = Path(comfyui).expanduser()

    def at(p: str) -> str:
        return str(root / Path(p).expanduser())  # an absolute path stays itself

    base = arg_values(comfy_args, "--base-directory")
    models = str(Path(at(base[-1])) / "models") if base else None
    return str(root), [at(y) for y in arg_values(comfy_args, "--extra-model-paths-config")], models


def _origins(report: Report, origin: Callable[[str], str | None] | None) -> dict[str, list[str]]:
    """Where each usable catalog file ComfyUI would load comes from: a cache snapshot (`origin`
    names it) or the model folder (volume, image) it was found in."""
    roots = sorted((r.path for r in report.roots), key=len, reverse=True)
    out: dict[str, list[str]] = {}
    for f in report.files:
        if f.status not in USABLE or not f.path:
            continue
        label = origin(f.path) if origin else None
        if label is None:
            label = next((r for r in roots if inside(f.path, r)), os.path.dirname(f.path))
        out.setdefault(label, []).append(f.name)
    return dict(sorted(out.items(), key=lambda kv: not kv[0].startswith("snapshot ")))


def local(comfyui: str | os.PathLike[str], comfy_args: Sequence[str],
          origin: Callable[[str], str | None] | None = None) -> Readiness:
    """The inventory of the folders the ComfyUI started with `comfy_args` uses (read-only);
    `origin` labels the files that come from a Hugging Face cache snapshot."""
    root, yamls, models = comfy_folders(comfyui, comfy_args)

    def run() -> Readiness:
        report = run_inventory(resolve(comfyui=root, extra_yaml=yamls, models_dir=models))
        where = "; ".join(r.path for r in report.roots) or "no folders"
        r = Readiness.from_report(report.as_dict(), where, run)
        r.origins = _origins(report, origin)
        return r

    return run()


def remote(url: str, timeout: float = 120.0) -> Readiness:
    """The inventory a running ComfyUI with this pack reports for its own folders."""
    route = url.rstrip("/") + "/wan22/inventory"

    def run() -> Readiness:
        try:
            status, raw = Client(url, timeout=timeout).request("GET", "/wan22/inventory")
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise Wan22Error(f"GET {route} failed: {getattr(e, 'reason', e)}") from None
        if status != 200:
            raise Wan22Error(f"GET {route}: HTTP {status}: is the Wan 2.2 pack installed in that ComfyUI?")
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise Wan22Error(f"GET {route} failed: {e}") from None
        return Readiness.from_report(body, route, run)

    return run()


def at_boot(url: str, comfyui: str | None, comfy_args: Sequence[str],
            origin: Callable[[str], str | None] | None = None) -> Readiness:
    """The boot verdict, logged as one table."""
    t0 = time.perf_counter()
    r = local(comfyui, comfy_args, origin) if comfyui else remote(url)
    log.info("%s\n  (inventory took %.0f ms)", r.table(), (time.perf_counter() - t0) * 1000)
    return r
