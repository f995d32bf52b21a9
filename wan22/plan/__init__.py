"""Routing plans: the modes (`modes`, one row per mode in wan22/data/modes.json: every fact of a
mode the other wings read), the presets (`presets`, rows in wan22/data/presets.json), the pure sigma schedule
(`sigmas`), the router's input rules, widgets -> Overrides (`overrides`), the pairing checks
(`routing.resolve`) and the per-expert stages on a real schedule (`routing.stages`), plus what the
bundle loader loads per mode (`bundle_spec`). Pure Python; imports only the bottom floor
(catalog, errors).
"""
