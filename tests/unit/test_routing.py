from __future__ import annotations

import pytest

from wan22.catalog import BY_ROLE
from wan22.errors import PlanError
from wan22.plan.routing import (
    BOUNDARY,
    PRESET_TABLE,
    WORKFLOW_IDS,
    Overrides,
    flow_sigma_table,
    make_plan,
    sigmas_for,
    split_closed_form,
    split_step,
)

# From the fact sheet (section 4.3): sigma >= boundary counts for ComfyUI 'simple'.
FACT_SHEET = {
    (0.875, 5): [2, 3, 4, 9, 13, 17],
    (0.875, 8): [3, 4, 5, 11, 17, 22],
    (0.875, 12): [3, 4, 6, 13, 19, 26],
    (0.900, 5): [2, 3, 3, 8, 11, 15],
    (0.900, 8): [2, 3, 4, 10, 15, 19],
    (0.900, 12): [3, 4, 5, 12, 18, 23],
}


@pytest.mark.parametrize("key", sorted(FACT_SHEET))
def test_split_steps_match_fact_sheet(key: tuple[float, int]) -> None:
    b, shift = key
    got = [split_step(sigmas_for("simple", n, shift), b) for n in (4, 6, 8, 20, 30, 40)]
    assert got == FACT_SHEET[key]


def test_split_is_not_half_and_follows_closed_form() -> None:
    for n in range(2, 80):
        for shift in (3.0, 5.0, 8.0, 12.0):
            for b in BOUNDARY.values():
                s = split_step(sigmas_for("simple", n, shift), b)
                cf = min(max(split_closed_form(n, shift, b), 1), n - 1)
                assert abs(s - cf) <= 1, (n, shift, b, s, cf)
    assert make_plan("i2v", "quality").split_step == 8  # 20 steps at shift 5: not 10
    assert make_plan("t2v", "quality").split_step == 9


def test_sigma_table_is_comfyui_shape() -> None:
    t = flow_sigma_table(5.0)
    assert t.shape == (1000,) and t.dtype.name == "float32"
    assert t[-1] == 1.0 and 0 < t[0] < 0.01
    s = sigmas_for("simple", 4, 5.0)
    assert [round(x, 4) for x in s] == [1.0, 0.9375, 0.8333, 0.625, 0.0]  # the Lightning schedule


def test_fast_preset_routes_each_lora_to_its_expert() -> None:
    p = make_plan("i2v", "fast")
    assert (p.steps, p.cfg, p.sampler, p.scheduler, p.shift, p.split_step) == (4, 1.0, "euler", "simple", 5.0, 2)
    hi, lo = p.stages
    assert hi.expert_file == BY_ROLE["i2v_high"].name and hi.loras[0].file == BY_ROLE["lora_i2v_high"].name
    assert lo.expert_file == BY_ROLE["i2v_low"].name and lo.loras[0].file == BY_ROLE["lora_i2v_low"].name
    assert (hi.start_step, hi.end_step, lo.start_step, lo.end_step) == (0, 2, 2, 4)
    assert hi.add_noise and hi.return_with_leftover_noise and not lo.add_noise and not lo.return_with_leftover_noise


def test_single_model_modes_route_one_model() -> None:
    s2v = make_plan("s2v", "fast")
    assert len(s2v.stages) == 1 and s2v.stages[0].loras[0].file == BY_ROLE["lora_t2v_high"].name
    assert (s2v.sampler, s2v.shift, s2v.cfg, s2v.steps, s2v.split_step) == ("uni_pc", 8.0, 1.0, 4, 4)
    an = make_plan("animate", "fast")
    assert [x.file for x in an.stages[0].loras] == [BY_ROLE["lora_i2v_480p"].name, BY_ROLE["lora_animate_relight"].name]
    assert [x.file for x in make_plan("animate", "fast", Overrides(relight=False)).stages[0].loras] == [BY_ROLE["lora_i2v_480p"].name]


@pytest.mark.parametrize("mode,preset,ov,needle", [
    ("i2v", "fast", Overrides(cfg=3.5), "set cfg to 1"),
    ("i2v", "fast", Overrides(steps=20), "distilled for 4 steps"),
    ("i2v", "fast", Overrides(loras={"high": BY_ROLE["lora_t2v_high"].name}), "is a T2V LoRA"),
    ("i2v", "fast", Overrides(loras={"high": BY_ROLE["lora_i2v_low"].name}), "low-noise LoRA but it is on the high-noise expert"),
    ("t2v", "fast", Overrides(loras={"low": BY_ROLE["lora_i2v_low"].name}), "is a I2V LoRA"),
    ("i2v", "quality", Overrides(experts={"i2v_high": BY_ROLE["i2v_low"].name}), "low-noise expert but is set as the high-noise"),
    ("i2v", "quality", Overrides(experts={"i2v_high": BY_ROLE["t2v_high"].name}), "is a T2V expert"),
    ("s2v", "fast", Overrides(loras={"single": BY_ROLE["lora_i2v_high"].name}), "S2V's 4-step LoRA is"),
    ("i2v", "fast", Overrides(loras={"high": BY_ROLE["lora_animate_relight"].name}), "only fits the Animate model"),
    ("t2v", "fast_480p", Overrides(), "unknown preset"),
    ("x2v", "fast", Overrides(), "unknown mode"),
    ("i2v", "quality", Overrides(steps=20, split_step=25), "out of range"),
])
def test_wrong_pairings_refused_with_the_fix(mode: str, preset: str, ov: Overrides, needle: str) -> None:
    with pytest.raises(PlanError) as e:
        make_plan(mode, preset, ov)
    assert needle in str(e.value)


def test_every_preset_builds_and_has_a_workflow_id() -> None:
    assert len(set(WORKFLOW_IDS)) == len(PRESET_TABLE)
    for p in PRESET_TABLE:
        plan = make_plan(p.mode, p.preset)
        d = plan.as_dict()
        for key in ("stages", "steps", "cfg", "sampler", "scheduler", "shift"):
            assert key in d
        for st in d["stages"]:
            assert {"expert_file", "lora", "strength", "start_step", "end_step"} <= set(st)
        assert plan.stages[-1].end_step == plan.steps


def test_split_override_warns() -> None:
    p = make_plan("i2v", "quality", Overrides(split_step=10))
    assert p.split_step == 10 and any("overrides the boundary split 8" in w for w in p.warnings)


def test_non_simple_scheduler_needs_comfyui_sigmas() -> None:
    with pytest.raises(PlanError, match="only simple"):
        make_plan("i2v", "quality", Overrides(scheduler="karras"))
    sig = [1.0, 0.95, 0.91, 0.5, 0.2, 0.0]
    assert make_plan("i2v", "quality", Overrides(scheduler="karras", steps=5), sigmas=sig).split_step == 3
