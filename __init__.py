"""ComfyUI-Wan22: Wan 2.2 bundle loader, mode router, MoE sampler, volume inventory, S2V audio prep."""

WEB_DIRECTORY = "./js"


async def comfy_entrypoint():
    from .nodes import Wan22Extension

    return Wan22Extension()
