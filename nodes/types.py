"""Custom io types of the pack, declared once."""

from __future__ import annotations

from comfy_api.latest import io

Bundle = io.Custom("WAN22_BUNDLE")
Plan = io.Custom("WAN22_PLAN")

CATEGORY = "Wan22"
