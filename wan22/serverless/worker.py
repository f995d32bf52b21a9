"""The RunPod serverless worker: a `runpod` SDK handler that runs typed Wan 2.2 jobs (and stock
worker-comfyui jobs) on a ComfyUI it starts or finds.

Boot: start the boot prefetch of the default workflow's model files (`boot_prefetch`,
WAN22_DEFAULT_WORKFLOW), start ComfyUI (`--start-comfyui DIR`) or wait for the one at
`--comfy-url`, run the volume inventory and log one readiness table, then hand the handler to
`runpod.serverless.start`, which serves RunPod's job queue, or with `--rp_serve_api` the SDK's
own local job API (/run, /runsync, /status), or runs `--test_input` once.

A job: check every input (`jobs`), refuse a workflow the volume cannot serve (`readiness`),
build the prompt from the API twin (`build`), upload the inputs under content-hash names, run
it (`runner`: progress, time limit, a dead or hung ComfyUI), return the video (`outputs`).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..api.client import Client, SubmitError
from ..api.edits import expected_frames
from ..errors import Wan22Error
from ..volume.roots import resolve
from . import boot_prefetch, hf_cache
from .build import stock_prompt, twin_defaults, typed_prompt
from .comfy import Comfy, ComfyDown, ComfyProcess
from .jobs import Limits, StockJob, TypedJob, parse_job
from .media import JobError, Media
from .outputs import Files, stock_outputs, typed_video
from .readiness import Readiness, at_boot, comfy_folders
from .runner import JobFailed, Progress, Result, Run, forget

log = logging.getLogger("wan22.worker")
DEFAULT_URL = "http://127.0.0.1:8188"


@dataclass
class WorkerConfig:
    """How the worker runs; the CLI fills it from flags and WAN22_* / COMFY_URL variables."""

    comfy_url: str = DEFAULT_URL
    start_comfyui: str | None = None  # ComfyUI folder to start main.py in
    comfy_args: list[str] = field(default_factory=list)  # extra main.py arguments
    python: str = sys.executable
    boot_timeout: float = 600.0
    hang_timeout: float = 120.0
    precomputed: bool = False  # WAN22_PRECOMPUTED_CONDITIONING: test/demo switch (see build.py)
    default_workflow: str | None = None  # WAN22_DEFAULT_WORKFLOW: prefetched at boot (boot_prefetch.py)
    limits: Limits = field(default_factory=Limits)
    model_source: str = "auto"  # WAN22_MODEL_SOURCE: auto | volume | hf-cache (hf_cache.py)
    hf_cache: str = hf_cache.DEFAULT_CACHE  # WAN22_HF_CACHE: RunPod's cached models


def _sender(job: Mapping[str, Any]) -> Callable[[str], None]:
    """Progress goes to the log, and to RunPod (`progress_update`) when the worker runs there
    (RUNPOD_WEBHOOK_POST_OUTPUT is where the SDK posts it)."""
    job_id = str(job.get("id", "?"))

    def send(text: str) -> None:
        log.info("job %s: %s", job_id, text)
        if os.environ.get("RUNPOD_WEBHOOK_POST_OUTPUT"):
            from runpod.serverless import progress_update

            progress_update(dict(job), text)

    return send


class Worker:
    """One worker: its ComfyUI, the boot readiness verdict and the job handler."""

    def __init__(self, cfg: WorkerConfig) -> None:
        self.models = self._cache_models(cfg)
        if self.models is not None and self.models.config:
            cfg = replace(cfg, comfy_args=[*cfg.comfy_args, "--extra-model-paths-config", self.models.config])
        self.cfg = cfg
        process = ComfyProcess(cfg.start_comfyui, cfg.comfy_url, cfg.comfy_args, cfg.python) if cfg.start_comfyui else None
        self.comfy = Comfy(cfg.comfy_url, process, cfg.boot_timeout)
        self.readiness: Readiness | None = None
        self.boot_s: float | None = None
        self.prefetch: boot_prefetch.BootPrefetch | None = None

    # ------------------------------------------------------------------ boot
    @staticmethod
    def _cache_models(cfg: WorkerConfig) -> hf_cache.CacheModels | None:
        """RunPod's cached models (a Hugging Face cache) as ComfyUI model folders, before ComfyUI starts."""
        if cfg.model_source == "volume":
            return None
        if not cfg.start_comfyui:
            if os.path.isdir(cfg.hf_cache):
                log.warning("model source %s: the Hugging Face cache at %s is not used: the worker did not start "
                            "ComfyUI (--start-comfyui), so it cannot add the cache's folders", cfg.model_source, cfg.hf_cache)
            return None
        try:
            models = hf_cache.prepare(cfg.model_source, cfg.hf_cache)
        except (Wan22Error, OSError, ValueError) as e:
            log.error("model source %s: the Hugging Face cache at %s cannot be read (%s): the volume only", cfg.model_source, cfg.hf_cache, e)
            return None
        if models is not None and models.config:
            atexit.register(shutil.rmtree, os.path.dirname(models.config), True)
        return models

    def boot(self) -> None:
        t0 = time.monotonic()
        what = f"starting ComfyUI in {self.cfg.start_comfyui}" if self.comfy.process else f"waiting for ComfyUI at {self.comfy.url}"
        log.info("wan22 worker: %s", what)
        self.prefetch = self._start_prefetch()
        waited = self.comfy.boot()
        log.info("ComfyUI answers at %s (%.1f s)", self.comfy.url, waited)
        try:
            self.readiness = at_boot(self.comfy.url, self.cfg.start_comfyui, self.cfg.comfy_args,
                                     self.models.origin if self.models is not None else None)
        except Wan22Error as e:
            log.warning("no volume inventory (%s): typed jobs go to ComfyUI unchecked", e)
        self.boot_s = time.monotonic() - t0
        log.info("wan22 worker ready to take jobs after %.1f s%s", self.boot_s,
                 " (precomputed text conditioning: WAN22_PRECOMPUTED_CONDITIONING test/demo switch)" if self.cfg.precomputed else "")

    def _start_prefetch(self) -> boot_prefetch.BootPrefetch | None:
        """The default workflow's files into the page cache while ComfyUI boots (never fatal)."""
        wid = self.cfg.default_workflow
        if wid is None:
            return None
        if not self.cfg.start_comfyui:
            log.info("boot prefetch of %s: skipped: the worker did not start ComfyUI, so it does not know its model "
                     "folders (the pack's prefetch on a queued prompt still runs in that ComfyUI)", wid)
            return None
        try:
            root, yamls, models = comfy_folders(self.cfg.start_comfyui, self.cfg.comfy_args)
            return boot_prefetch.start(wid, resolve(comfyui=root, extra_yaml=yamls, models_dir=models))
        except (Wan22Error, OSError, ValueError) as e:
            log.warning("boot prefetch of %s not started: %s", wid, e)
            return None

    def close(self) -> None:
        if self.prefetch is not None:
            self.prefetch.cancel("the worker is stopping")
        self.comfy.close()

    # ------------------------------------------------------------------ jobs
    def handle(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """One RunPod job -> its output, or {"error": ...} (+ "refresh_worker" after a lost ComfyUI)."""
        t0 = time.monotonic()
        job_id = str(job.get("id", "local"))
        try:
            parsed = parse_job(job.get("input"), self.cfg.limits)
            if self.prefetch is not None and (not isinstance(parsed, TypedJob) or parsed.workflow != self.prefetch.workflow):
                self.prefetch.cancel(f"job {job_id} runs another workflow: its files come first")
            if isinstance(parsed, TypedJob):
                out = self._typed(job, parsed)
            else:
                out = self._stock(job, parsed)
            log.info("job %s done in %.1f s", job_id, time.monotonic() - t0)
            return out
        except JobFailed as e:
            log.error("job %s failed: %s", job_id, e)
            return {"error": str(e), **({"refresh_worker": True} if e.refresh_worker else {})}
        except ComfyDown as e:
            log.error("job %s: %s", job_id, e)
            return {"error": f"{e}; nothing was queued", **({} if self.comfy.process else {"refresh_worker": True})}
        except (JobError, Wan22Error) as e:
            log.info("job %s refused: %s", job_id, str(e).splitlines()[0])
            return {"error": str(e)}
        except OSError as e:  # URLError included: ComfyUI went away between the steps above
            log.error("job %s: ComfyUI request failed: %s", job_id, e)
            return {"error": f"a request to ComfyUI at {self.comfy.url} failed ({getattr(e, 'reason', e)})"}

    async def handler(self, job: dict[str, Any]) -> dict[str, Any]:
        """The coroutine the runpod SDK calls; the job runs in a thread, so the SDK's local API
        stays responsive and concurrent /status calls run their jobs side by side."""
        return await asyncio.to_thread(self.handle, job)

    def _typed(self, job: Mapping[str, Any], t: TypedJob) -> dict[str, Any]:
        if self.readiness is not None:
            refusal = self.readiness.check(t.workflow)
            if refusal:
                raise JobError(refusal)
        names = {k: m.stored_name() for k, m in t.media.items()}
        prompt = typed_prompt(t, names, self.cfg.precomputed)
        result, files = self._execute(job, prompt, list(t.media.values()), t.timeout, Progress(t.stages, _sender(job)))
        try:
            video = typed_video(result.entry, files)
        finally:
            forget(self.comfy, result.prompt_id)
        d = twin_defaults(t)
        frames: int | None
        try:
            frames = expected_frames(prompt)
        except Wan22Error:
            frames = t.frames or d.get("frames")
        return {"video": video, "workflow": t.workflow, "seed": t.seed, "frames": frames,
                "fps": t.fps if t.fps is not None else d.get("fps"), "width": t.width or d.get("width"),
                "height": t.height or d.get("height"),
                "timings": {"queued_s": round(result.queued_s, 3), "run_s": round(result.run_s, 3)}}

    def _stock(self, job: Mapping[str, Any], s: StockJob) -> dict[str, Any]:
        prompt = stock_prompt(s, {name: m.stored_name() for name, m in s.files})
        result, files = self._execute(job, prompt, [m for _n, m in s.files], s.timeout, Progress((), _sender(job)))
        try:
            out = stock_outputs(result.entry, files)
        finally:
            forget(self.comfy, result.prompt_id)
        out["timings"] = {"queued_s": round(result.queued_s, 3), "run_s": round(result.run_s, 3)}
        return out

    def _execute(self, job: Mapping[str, Any], prompt: dict[str, Any], media: Sequence[Media], timeout: float | None,
                 progress: Progress) -> tuple[Result, Files]:
        self.comfy.ensure_up()
        client = Client(self.comfy.url, timeout=120.0)
        try:
            for m in media:
                client.upload_bytes(m.stored_name(), m.data, overwrite=True)
        except (SubmitError, urllib.error.URLError, OSError) as e:
            what, refresh = self.comfy.recover() if self.comfy.down_reason() else ("", False)
            raise JobFailed(f"uploading the inputs to ComfyUI failed ({getattr(e, 'reason', e)}); nothing was queued"
                            + (f"; {what}" if what else ""), refresh_worker=refresh) from None
        limit = min(timeout or self.cfg.limits.max_timeout, self.cfg.limits.max_timeout)
        run = Run(self.comfy, prompt, limit, progress, self.cfg.hang_timeout)
        try:
            result = run.execute()
        except JobFailed:
            if run.prompt_id and self.comfy.down_reason() is None:
                forget(self.comfy, run.prompt_id)
            raise
        return result, Files(str(job.get("id", "local")), client.view)


def serve(worker: Worker, rp_args: Sequence[str]) -> None:
    """Hand the handler to the runpod SDK with its own flags (it parses sys.argv itself)."""
    args = list(rp_args)
    if "--test_input" not in args and not os.environ.get("RUNPOD_WEBHOOK_GET_JOB") and os.path.isfile("test_input.json"):
        with open("test_input.json", encoding="utf-8") as f:  # the SDK's own local fallback, read before the chdir below
            args += ["--test_input", f.read()]
    os.environ.setdefault("RUNPOD_LOG_LEVEL", "INFO")  # the SDK's DEBUG default logs every output in full
    # The SDK keeps its job list in <cwd>/.runpod_jobs.pkl (read back at the next start): give it a
    # folder of its own, never the pack or a user's folder.
    state = tempfile.mkdtemp(prefix="wan22-worker-state-")
    atexit.register(shutil.rmtree, state, True)
    os.chdir(state)
    import runpod

    sys.argv = [sys.argv[0], *args]
    runpod.serverless.start({"handler": worker.handler})


def main(cfg: WorkerConfig, rp_args: Sequence[str]) -> int:
    """Boot, then serve until the SDK returns (exit status for the CLI)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s wan22-worker %(levelname)s %(message)s")
    worker = Worker(cfg)
    atexit.register(worker.close)
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(0))
    try:
        worker.boot()
    except ComfyDown as e:
        log.error("the worker cannot start: %s", e)
        worker.close()
        return 1
    serve(worker, rp_args)
    return 0
