from __future__ import annotations

import json
from typing import Any

import pytest

from wan22.catalog import BY_ROLE
from wan22.errors import PlanError
from wan22.plan.modes import MODE_TABLE, mode_spec
from wan22.plan.overrides import DEFAULTS, Overrides, overrides_from_inputs
from wan22.plan.presets import PRESET_TABLE, PRESETS_FILE, WORKFLOW_IDS, load_presets
from wan22.plan.routing import make_plan, resolve, stages
from wan22.plan.sigmas import flow_sigma_table, sigmas_for, split_closed_form, split_step

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
            for b in {m.boundary for m in MODE_TABLE if m.boundary is not None}:
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
    settings = resolve("i2v", "quality", Overrides(scheduler="karras", steps=5))  # no sigmas needed to check
    sig = [1.0, 0.95, 0.91, 0.5, 0.2, 0.0]
    plan = stages(settings, sig)
    assert plan.split_step == 3 and plan.scheduler == "karras" and plan.sigmas == sig
    with pytest.raises(PlanError, match="6 sigmas for 4 steps"):
        stages(resolve("i2v", "fast"), sig)


# ---------------------------------------------------------------- resolve, then stages


def test_make_plan_is_resolve_then_stages_on_the_pure_schedule() -> None:
    for p in PRESET_TABLE:
        s = resolve(p.mode, p.preset)
        assert stages(s, sigmas_for(s.scheduler, s.steps, s.shift)) == make_plan(p.mode, p.preset)
        assert [role for role, _ in s.experts] == list(p.experts)


def test_resolve_lists_every_problem_at_once_without_sigmas() -> None:
    ov = Overrides(cfg=3.5, steps=20, split_step=25, loras={"high": BY_ROLE["lora_t2v_high"].name})
    with pytest.raises(PlanError) as e:
        resolve("i2v", "fast", ov)
    text = str(e.value)
    for needle in ("set cfg to 1", "distilled for 4 steps", "is a T2V LoRA", "split_step 25 is out of range: use 0-20"):
        assert needle in text, needle


def test_split_override_is_checked_in_resolve_and_warned_in_stages() -> None:
    s = resolve("i2v", "quality", Overrides(split_step=10))
    assert s.split_step == 10 and not s.warnings
    plan = stages(s, sigmas_for("simple", 20, 5.0))
    assert plan.split_step == 10 and "overrides the boundary split 8" in plan.warnings[0]
    assert resolve("s2v", "quality", Overrides(split_step=3)).split_step is None  # one model: no hand-off


def test_relight_off_drops_the_relight_lora_in_every_animate_preset() -> None:
    relight = BY_ROLE["lora_animate_relight"].name
    for preset in ("quality", "fast"):
        on = [x.file for x in make_plan("animate", preset).stages[0].loras]
        off = [x.file for x in make_plan("animate", preset, Overrides(relight=False)).stages[0].loras]
        assert relight in on and off == [f for f in on if f != relight], preset


def test_lora_strength_override_sets_the_first_lora_only() -> None:
    plan = make_plan("animate", "fast", Overrides(lora_strength=0.5))
    assert [x.strength for x in plan.stages[0].loras] == [0.5, 1.0]


# ---------------------------------------------------------------- the router's input rules


def test_widget_defaults_mean_the_preset() -> None:
    assert overrides_from_inputs("i2v", {}) == Overrides()
    assert overrides_from_inputs("i2v", DEFAULTS) == Overrides()
    assert overrides_from_inputs("s2v", {**DEFAULTS, "bundle": ["1", 0], "mode": "s2v"}) == Overrides()


def test_widget_values_become_overrides() -> None:
    ov = overrides_from_inputs("i2v", {"steps": 6, "cfg": "1.5", "shift": 8, "split_step": 2, "sampler_name": "uni_pc",
                                       "scheduler": "karras", "lora_high": "a.safetensors", "lora_low": "none",
                                       "lora_strength": 0.75, "relight": False})
    assert ov == Overrides(steps=6, cfg=1.5, shift=8.0, split_step=2, sampler="uni_pc", scheduler="karras",
                           lora_strength=0.75, loras={"high": "a.safetensors", "low": None}, relight=False)
    single = overrides_from_inputs("animate", {"lora_high": "none", "lora_low": "none"})
    assert single.loras == {"single": None}


@pytest.mark.parametrize("mode,inputs,needle", [
    ("s2v", {"lora_low": "x.safetensors"}, "lora_low has no effect in mode s2v"),
    ("i2v", {"split_step": -7}, "split_step -7: use -1"),
    ("i2v", {"lora_strength": 1000.0}, "lora_strength 1000 is out of range"),
    ("i2v", {"steps": "abc"}, "steps 'abc' is not a valid int"),
    ("i2v", {"cfg": "nan"}, "cfg must be a finite number"),
    ("i2v", {"shift": float("inf")}, "shift must be a finite number"),
    ("i2v", {"steps": ["5", 0]}, "steps ['5', 0] is not a number"),
    ("i2v", {"relight": "yes"}, "relight must be true or false"),
])
def test_bad_widget_values_name_the_input(mode: str, inputs: dict[str, object], needle: str) -> None:
    with pytest.raises(PlanError) as e:
        overrides_from_inputs(mode, inputs)
    assert needle in str(e.value)


def test_sampler_and_scheduler_are_checked_against_the_given_lists() -> None:
    assert overrides_from_inputs("i2v", {"sampler_name": "bogus"}).sampler == "bogus"  # no list: resolve decides
    with pytest.raises(PlanError, match="sampler_name 'bogus' is not a ComfyUI sampler"):
        overrides_from_inputs("i2v", {"sampler_name": "bogus"}, samplers=["euler"])
    with pytest.raises(PlanError, match="scheduler 'bogus' is not a ComfyUI scheduler"):
        overrides_from_inputs("i2v", {"scheduler": "bogus"}, schedulers=["simple"])
    assert overrides_from_inputs("i2v", {"scheduler": "auto"}, schedulers=["simple"]).scheduler is None


# ---------------------------------------------------------------- presets.json


def _doc() -> dict[str, object]:
    return json.loads(PRESETS_FILE.read_text())


def test_presets_file_is_the_table() -> None:
    assert load_presets(_doc()) == PRESET_TABLE
    rows = _doc()["presets"]
    assert isinstance(rows, list) and len(PRESET_TABLE) == len(rows) >= 13
    assert all(p.distill == (p.allowed_steps is not None) for p in PRESET_TABLE)


@pytest.mark.parametrize("edit,needle", [
    (lambda r: r.update(cfgg=1.0), "unknown fields ['cfgg']"),
    (lambda r: r.pop("shift"), "missing fields ['shift']"),
    (lambda r: r.update(steps="4"), "'steps' must be a whole number"),
    (lambda r: r.update(distill=1), "'distill' must be true or false"),
    (lambda r: r.update(experts=["i2v_high", "i2v_medium"]), "'i2v_medium', which is not a catalog role"),
    (lambda r: r.update(loras=[[]]), "one list per expert (2)"),
    (lambda r: r.update(loras=[[{"role": "lora_i2v_high", "weight": 1}], []]), "a LoRA is"),
    (lambda r: r.update(allowed_steps=[4]), "'allowed_steps' must be [min, max]"),
    (lambda r: r.update(preset="turbo"), "preset one of"),
])
def test_a_bad_preset_row_names_the_row_and_field(edit: Any, needle: str) -> None:
    doc = _doc()
    rows = doc["presets"]
    assert isinstance(rows, list)
    edit(rows[1])
    with pytest.raises(PlanError) as e:
        load_presets(doc)
    assert "presets.json: row 1" in str(e.value) and needle in str(e.value)


def test_a_second_row_for_one_key_is_refused() -> None:
    doc = _doc()
    rows = doc["presets"]
    assert isinstance(rows, list)
    rows.append(dict(rows[0]))
    with pytest.raises(PlanError, match="a second row for this mode and preset"):
        load_presets(doc)


def test_flf2v_plans_match_the_official_template() -> None:
    """video_wan2_2_14B_flf2v: 20 steps cfg 4 shift 8 split 10 (quality); 4 steps cfg 1 shift 5 split 2
    with the I2V 4-step LoRAs (fast); both on the I2V experts."""
    from wan22.plan.routing import make_plan

    q = make_plan("flf2v", "quality")
    assert (q.steps, q.cfg, q.shift, q.split_step, q.boundary) == (20, 4.0, 8.0, 10, 0.9)
    assert [s.expert for s in q.stages] == ["i2v_high", "i2v_low"] and all(not s.loras for s in q.stages)
    f = make_plan("flf2v", "fast")
    assert (f.steps, f.cfg, f.shift, f.split_step) == (4, 1.0, 5.0, 2)
    assert [s.loras[0].role for s in f.stages] == ["lora_i2v_high", "lora_i2v_low"]


def test_flf2v_refuses_t2v_experts_and_loras() -> None:
    from wan22.errors import PlanError
    from wan22.plan.overrides import Overrides
    from wan22.plan.routing import resolve

    with pytest.raises(PlanError, match="runs on the I2V experts"):
        resolve("flf2v", "quality", Overrides(experts={"i2v_high": "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors"}))
    with pytest.raises(PlanError, match="T2V LoRA but the high-noise expert is I2V"):
        resolve("flf2v", "fast", Overrides(loras={"high": "wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors"}))


# ---------------------------------------------------------------- fast_motion: three stages, a cfg per stage


@pytest.mark.parametrize("mode", ["i2v", "t2v"])
def test_fast_motion_runs_a_base_stage_then_both_lightning_stages(mode: str) -> None:
    p = make_plan(mode, "fast_motion")
    assert (p.steps, p.cfg, p.shift, p.split_step, p.workflow) == (6, 1.0, 5.0, 3, f"{mode}_fast_motion")
    base, high, low = p.stages
    assert [s.expert for s in p.stages] == [f"{mode}_high", f"{mode}_high", f"{mode}_low"]
    assert base.loras == [] and [x.role for x in high.loras] == [f"lora_{mode}_high"]
    assert [x.role for x in low.loras] == [f"lora_{mode}_low"]
    assert [(s.start_step, s.end_step, s.cfg) for s in p.stages] == [(0, 2, 3.5), (2, 3, 1.0), (3, 6, 1.0)]
    assert [(s.add_noise, s.return_with_leftover_noise) for s in p.stages] == [(True, True), (False, True), (False, False)]
    assert p.split_step == split_step(p.sigmas, mode_spec(mode).boundary or 0.0)  # the low expert takes over at the boundary
    d = p.as_dict()
    assert [st["cfg"] for st in d["stages"]] == [3.5, 1.0, 1.0] and d["stages"][0]["lora"] is None
    text = p.text()
    assert "cfg 1 (stage 1 cfg 3.5)" in text
    assert [line.split()[-1] for line in text.splitlines() if line.startswith("  steps")] == ["3.5", "1", "1"]


def test_two_stage_plans_keep_one_cfg_on_every_stage() -> None:
    for p in PRESET_TABLE:
        if p.stages:
            continue
        plan = make_plan(p.mode, p.preset)
        assert [s.cfg for s in plan.stages] == [plan.cfg] * len(plan.stages), p.workflow_id
        assert "(stage" not in plan.text().splitlines()[0]
    over = make_plan("i2v", "quality", Overrides(cfg=4.5))
    assert [s.cfg for s in over.stages] == [4.5, 4.5]


def test_fast_motion_base_stage_overrides() -> None:
    p = make_plan("i2v", "fast_motion", Overrides(steps=10, base_steps=3, base_cfg=5.0))
    assert [(s.start_step, s.end_step, s.cfg) for s in p.stages] == [(0, 3, 5.0), (3, 4, 1.0), (4, 10, 1.0)]
    p = make_plan("i2v", "fast_motion", Overrides(split_step=5))
    assert [(s.start_step, s.end_step) for s in p.stages] == [(0, 2), (2, 5), (5, 6)]
    assert "overrides the boundary split 3" in p.warnings[0]


@pytest.mark.parametrize("mode,preset,ov,needle", [
    ("i2v", "fast_motion", Overrides(cfg=3.5), "cfg 3.5 with a step-distilled LoRA"),
    ("i2v", "fast_motion", Overrides(steps=4), "base and LoRA stages take 6-10 steps"),
    ("i2v", "fast_motion", Overrides(base_steps=6), "base_steps 6 is out of range: use 1-5"),
    ("i2v", "fast_motion", Overrides(base_cfg=500.0), "base_cfg 500 is out of range"),
    ("i2v", "fast", Overrides(base_steps=3), "base_steps has no effect in i2v/fast (no base stage)"),
    ("t2v", "quality", Overrides(base_cfg=2.0), "base_cfg has no effect in t2v/quality"),
    ("i2v", "fast_motion", Overrides(base_steps=3), "the base stage's 3 steps reach the hand-off to the low-noise "
                                                    "expert at step 3"),
    ("i2v", "fast_motion", Overrides(split_step=2), "use fewer base_steps, more steps, or a split_step above 2"),
])
def test_fast_motion_refusals_name_the_fix(mode: str, preset: str, ov: Overrides, needle: str) -> None:
    with pytest.raises(PlanError) as e:
        make_plan(mode, preset, ov)
    assert needle in str(e.value)


def test_fast_motion_base_stage_keeps_its_real_cfg_with_the_lightning_loras() -> None:
    """Only the stages with a distilled LoRA need cfg 1: the base stage's cfg 3.5 (or the user's) passes."""
    s = resolve("i2v", "fast_motion", Overrides(base_cfg=6.0))
    assert [pk.cfg for pk in s.layout] == [6.0, 1.0, 1.0] and s.cfg == 1.0
    with pytest.raises(PlanError, match="set cfg to 1"):
        resolve("i2v", "fast", Overrides(cfg=3.5))  # unchanged for two-stage presets


@pytest.mark.parametrize("stages_value,needle", [
    ([{"expert": 0, "lora": None, "cfg": 3.5, "steps": 2}, {"expert": 1, "lora": 1}], "only the first two stages"),
    ([{"expert": 0, "lora": 0}, {"expert": 0, "lora": 0}, {"expert": 1, "lora": 1}], "the first needs 'steps'"),
    ([{"expert": 0, "lora": 0}], "run the experts in order, each at least once"),
    ([{"expert": 1, "lora": 1}, {"expert": 0, "lora": 0}], "run the experts in order"),
    ([{"expert": 2, "lora": 0}], "'expert' must index 'experts' (0-1)"),
    ([{"expert": 0, "lora": 5}, {"expert": 1, "lora": 1}], "'lora' must index 'loras'"),
    ([{"expert": 0, "lora": None, "cfg": -1, "steps": 2}, {"expert": 0, "lora": 0}, {"expert": 1, "lora": 1}],
     "'cfg' must be above 0"),
    ([{"expert": 0, "lora": 0}, {"expert": 1, "lora": 1, "steps": 2}], "is for the first stage only"),
    ([{"expert": 0, "lora": 0, "model": "x"}, {"expert": 1, "lora": 1}], "a stage is"),
    ([], "'stages' must be a non-empty list"),
])
def test_a_bad_stage_layout_names_the_row_and_stage(stages_value: Any, needle: str) -> None:
    doc = _doc()
    rows = doc["presets"]
    assert isinstance(rows, list)
    rows[1]["stages"] = stages_value
    with pytest.raises(PlanError) as e:
        load_presets(doc)
    assert "presets.json: row 1" in str(e.value) and needle in str(e.value)


def test_the_default_layout_is_one_stage_per_expert() -> None:
    from wan22.plan.presets import PRESET_BY_KEY, StageSpec

    assert PRESET_BY_KEY[("i2v", "fast")].layout == (StageSpec(0, 0), StageSpec(1, 1))
    assert PRESET_BY_KEY[("s2v", "quality")].layout == (StageSpec(0, 0),)
    fm = PRESET_BY_KEY[("i2v", "fast_motion")]
    assert fm.layout == (StageSpec(0, None, 3.5, 2), StageSpec(0, 0), StageSpec(1, 1))
    assert fm.required_roles[:4] == ("i2v_high", "i2v_low", "lora_i2v_high", "lora_i2v_low")


def test_ti2v_refuses_a_14b_lora_naming_the_fix() -> None:
    from wan22.catalog import BY_ROLE as _roles
    from wan22.errors import PlanError as _PlanError
    from wan22.plan.overrides import Overrides as _Ov
    from wan22.plan.routing import resolve as _resolve

    for role in ("lora_i2v_high", "lora_t2v_high", "lora_i2v_480p"):
        try:
            _resolve("ti2v", "quality", _Ov(loras={"single": _roles[role].name}))
        except _PlanError as e:
            assert _roles[role].name in str(e) and "TI2V 5B" in str(e) and "'none'" in str(e), str(e)
        else:
            raise AssertionError(f"{role} on ti2v was accepted")
    assert _resolve("ti2v", "quality").loras == ((),)
