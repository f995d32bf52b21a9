"""Boot prefetch: while a cold worker starts ComfyUI, read the model files of its default workflow
(`WAN22_DEFAULT_WORKFLOW=i2v_fast`, docs/deploy.md) from the volume into the page cache, in the
order the workflow will load them, so the first job finds them in RAM.

Which files: the workflow's API twin (the graph the worker runs for it) through
`wan22.prefetch.engine.files_for_prompt`, with the folders of the ComfyUI the worker starts
(`wan22.volume.roots.resolve`, as the readiness inventory reads them): the bundle's text encoder,
VAE, CLIP vision / audio encoder, then per stage its expert and LoRAs (high before low). The
reading is `wan22.prefetch.engine.PrefetchJob`: large sequential reads on a few streams, bounded
by free memory, files opened read-only, nothing on the volume written.

Switches: `WAN22_PREFETCH=0` turns it off (the same switch as ComfyUI's prefetch on a queued
prompt); unset it reads files on network or FUSE filesystems only, `=1` any file. A file with a
valid copy in `WAN22_LOCAL_CACHE` is skipped (ComfyUI loads the copy). It runs in the background
and is cancelled when the worker closes or a job for another workflow arrives (that job's files
come first). The worker log says what it read and how long it took.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Wan22Error
from ..plan.bundle_spec import BUNDLE_INPUTS
from ..plan.presets import WORKFLOW_IDS
from ..prefetch.cache import LocalCache
from ..prefetch.engine import Needed, PrefetchJob, PrefetchReport, files_for_prompt, switch, wanted
from ..volume.roots import FolderConfig
from .build import TWINS, load_twin

log = logging.getLogger("wan22.worker")
ENV_DEFAULT = "WAN22_DEFAULT_WORKFLOW"
LISTED_FOLDERS = tuple(dict.fromkeys([*(i.folder for i in BUNDLE_INPUTS), "loras"]))
MAX_LISTED = 20_000  # files listed per folder key (for the bundle's 'auto' inputs)


def default_workflow(env: Mapping[str, str] | None = None) -> str | None:
    """The workflow id in WAN22_DEFAULT_WORKFLOW (None when unset); Wan22Error for an unknown id."""
    raw = (os.environ if env is None else env).get(ENV_DEFAULT, "").strip()
    if not raw:
        return None
    if raw not in WORKFLOW_IDS:
        raise Wan22Error(f"{ENV_DEFAULT}={raw!r} is not a workflow id: use one of {', '.join(WORKFLOW_IDS)} "
                         "(or leave it unset: no boot prefetch)")
    return raw


def listings(cfg: FolderConfig, folders: tuple[str, ...] = LISTED_FOLDERS) -> dict[str, list[str]]:
    """folder key -> file names under its search folders (relative, '/'-separated, as ComfyUI lists them)."""
    out: dict[str, list[str]] = {}
    for key in folders:
        names: list[str] = []
        for top in cfg.dirs(key):
            for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                rel = os.path.relpath(dirpath, top)
                names += [f if rel == "." else f"{rel}/{f}".replace(os.sep, "/") for f in sorted(filenames)]
                if len(names) >= MAX_LISTED:
                    break
        out[key] = list(dict.fromkeys(names))
    return out


def resolver(cfg: FolderConfig) -> Callable[[str, str], str | None]:
    """(folder key, file name) -> the first file of that name in the key's search folders."""

    def resolve(folder: str, name: str) -> str | None:
        for d in cfg.dirs(folder):
            path = os.path.join(d, name)
            if os.path.isfile(path):
                return path
        return None

    return resolve


def boot_files(workflow_id: str, cfg: FolderConfig, root: Path = TWINS) -> list[Needed]:
    """The files the workflow's twin loads, each once, in need order (ComfyUI-free)."""
    return files_for_prompt(load_twin(workflow_id, root), resolver(cfg), listings=listings(cfg))


@dataclass
class BootPrefetch:
    """One boot prefetch in the background; `report` once it has ended."""

    workflow: str
    needed: list[Needed]
    job: PrefetchJob
    report: PrefetchReport | None = None
    _logged: threading.Event = field(default_factory=threading.Event)

    def cancel(self, why: str) -> None:
        if not self.job.done:
            log.info("boot prefetch of %s: cancelled (%s)", self.workflow, why)
            self.job.cancel()

    def wait(self, timeout: float | None = None) -> PrefetchReport | None:
        """The report once the prefetch has ended and been logged (None after `timeout`)."""
        return self.report if self._logged.wait(timeout) else None

    def _watch(self) -> None:
        report = self.job.wait()
        for f in report.files:
            log.info("  boot prefetch %-9s %s: %.0f MB read, %.0f MB cached, %.1f s%s", f.status, os.path.basename(f.path),
                     f.read_bytes / 1e6, f.cached_bytes / 1e6, f.seconds, f" ({f.detail})" if f.detail else "")
        log.info("boot prefetch of %s: %s", self.workflow, report.summary_line())
        self.report = report
        self._logged.set()


def _todo(needed: list[Needed], env: Mapping[str, str] | None) -> list[Needed]:
    """What the switch lets us read and has no valid local copy, logging what is left out."""
    todo = [n for n in needed if wanted(n.path, env)]
    if len(todo) < len(needed):
        log.info("boot prefetch: %d file(s) not on a network or FUSE volume left to ComfyUI (WAN22_PREFETCH=1 reads "
                 "them too)", len(needed) - len(todo))
    try:
        cache = LocalCache.from_env(env)
    except (OSError, ValueError) as e:
        log.warning("boot prefetch: local copy cache not used (%s)", e)
        cache = None
    if cache is not None:
        copies = [n for n in todo if cache.lookup(n.folder, n.name, n.path)]
        todo = [n for n in todo if n not in copies]
        if copies:
            log.info("boot prefetch: %d file(s) have a valid copy in %s: skipped", len(copies), cache.root)
    return todo


def start(workflow_id: str | None, cfg: FolderConfig, env: Mapping[str, str] | None = None, root: Path = TWINS,
          **options: object) -> BootPrefetch | None:
    """Start the boot prefetch of `workflow_id` (None: no default workflow, nothing to do)."""
    if workflow_id is None:
        return None
    if switch(env) == "off":
        log.info("boot prefetch of %s: off (WAN22_PREFETCH=0)", workflow_id)
        return None
    needed = boot_files(workflow_id, cfg, root)
    todo = _todo(needed, env)
    if not todo:
        log.info("boot prefetch of %s: nothing to read (%d file(s) found on the volume)", workflow_id, len(needed))
        return None
    size = sum(os.path.getsize(n.path) for n in todo if os.path.isfile(n.path))
    log.info("boot prefetch of %s: %d file(s), %.2f GB, in need order: %s", workflow_id, len(todo), size / 1e9,
             ", ".join(n.name for n in todo))
    job = PrefetchJob([n.path for n in todo], **options)  # type: ignore[arg-type]
    bp = BootPrefetch(workflow_id, todo, job)
    job.start()
    threading.Thread(target=bp._watch, name="wan22-boot-prefetch-log", daemon=True).start()
    return bp
