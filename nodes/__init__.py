"""The ComfyUI glue: thin V3 nodes over the ComfyUI-free wan22 package."""

from __future__ import annotations

import logging
import threading

from comfy_api.latest import ComfyExtension, io

from .audio_node import Wan22S2VAudioPrep
from .bundle import Wan22BundleLoader
from .inventory_node import Wan22VolumeInventory
from .router import Wan22ModeRouter
from .sampler import Wan22MoESampler

log = logging.getLogger("wan22")


def _startup_inventory() -> None:
    try:
        from .inventory_node import inventory_report

        log.info("[wan22] %s", inventory_report().summary_line())
    except Exception as e:  # never let a check break start-up
        log.warning("[wan22] inventory at start-up failed: %s", e)


class Wan22Extension(ComfyExtension):
    async def on_load(self) -> None:
        try:
            from server import PromptServer

            if getattr(PromptServer, "instance", None) is not None:
                from . import routes

                routes.register(PromptServer.instance.routes)
                from . import prefetch

                prefetch.register(PromptServer.instance)
        except ImportError:
            pass
        threading.Thread(target=_startup_inventory, name="wan22-inventory", daemon=True).start()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [Wan22BundleLoader, Wan22ModeRouter, Wan22MoESampler, Wan22VolumeInventory, Wan22S2VAudioPrep]
