"""`python -m wan22 plan`: argv -> Overrides -> the routing plan, as text or JSON."""

from __future__ import annotations

import argparse
import json

from ..plan.routing import MODES, PRESETS


def cmd_plan(a: argparse.Namespace) -> int:
    from ..plan.routing import Overrides, make_plan

    ov = Overrides(steps=a.steps, cfg=a.cfg, shift=a.shift, sampler=a.sampler, scheduler=a.scheduler,
                   split_step=a.split_step, relight=not a.no_relight, base_steps=a.base_steps, base_cfg=a.base_cfg)
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
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_plan)
