"""Routing plans: presets, sigma schedules, the router's input rules (widgets -> Overrides),
the pairing checks (resolve) and the per-expert stages on a real schedule (stages), plus what
the bundle loader loads per mode. Pure Python; imports only the bottom floor (catalog, errors).
"""
