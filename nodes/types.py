"""Custom io types and node categories of the pack, declared once."""

from __future__ import annotations

from comfy_api.latest import io

Bundle = io.Custom("WAN22_BUNDLE")
Plan = io.Custom("WAN22_PLAN")

# Categories are display only (node ids are the permanent names): Wan22/<area>, as core's
# model/conditioning/wan.
CATEGORY = "Wan22"
LOADERS = f"{CATEGORY}/loaders"
SAMPLING = f"{CATEGORY}/sampling"
VOLUME = f"{CATEGORY}/volume"
AUDIO = f"{CATEGORY}/audio"
