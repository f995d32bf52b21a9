"""`python -m wan22 plan`: argv -> Overrides -> the routing plan, as text or JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..plan.lightning import CHOICES as LIGHTNING_CHOICES
from ..plan.modes import MODES
from ..plan.presets import PRESETS


def cmd_plan(a: argparse.Namespace) -> int:
    from ..plan.overrides import Overrides
    from ..plan.routing import make_plan

    ov = Overrides(steps=a.steps, cfg=a.cfg, shift=a.shift, sampler=a.sampler, scheduler=a.scheduler,
                   split_step=a.split_step, relight=not a.no_relight, base_steps=a.base_steps, base_cfg=a.base_cfg,
                   lightning=a.lightning)
    if a.root:
        from ..volume.listing import scan
        from ..volume.lora_generation import available_names
        from ..volume.roots import resolve

        missing = [r for r in a.root if not os.path.isdir(r)]
        if missing:
            print(f"error: --root {missing[0]}: no such folder", file=sys.stderr)
            return 2
        cfg = resolve(roots=list(a.root))
        ov.available = available_names(cfg, scan(cfg))
    plan = make_plan(a.mode, a.preset, ov)
    if a.json:
        print(json.dumps(plan.as_dict(), indent=2))
    else:
        print(plan.text())
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("plan", help="the routing plan for a mode and preset")
    s.add_argument("--mode", required=True, choices=MODES)
    s.add_argument("--preset", required=True, choices=PRESETS)
    s.add_argument("--steps", type=int)
    s.add_argument("--cfg", type=float)
    s.add_argument("--shift", type=float)
    s.add_argument("--sampler")
    s.add_argument("--scheduler")
    s.add_argument("--split-step", type=int)
    s.add_argument("--no-relight", action="store_true", help="animate: leave the relight LoRA off")
    s.add_argument("--base-steps", type=int, help="fast_motion: steps of the base stage (high-noise expert, no LoRA)")
    s.add_argument("--base-cfg", type=float, help="fast_motion: cfg of the base stage")
    s.add_argument("--lightning", choices=LIGHTNING_CHOICES, metavar="ID",
                   help="fast presets: the Lightning generation (auto: the newest pair in --root, else the preset's "
                        f"LoRAs; or one of {', '.join(LIGHTNING_CHOICES[1:])})")
    s.add_argument("--root", action="append", metavar="DIR",
                   help="a models folder (repeatable): --lightning auto picks from its loras and diffusion_models")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_plan)
