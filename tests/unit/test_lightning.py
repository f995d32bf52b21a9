"""Lightning generations (wan22/data/lightning.json, wan22/plan/lightning.py): the data, the
router's choice (`lightning` auto or an id), every refusal with its fix, the CLI, typed jobs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.snapshots import _contains  # the snapshots' rule: keys may be added, none may change
from support.worker_jobs import b64, png_bytes

from wan22.catalog import BY_NAME, BY_ROLE, LIGHTNING_DATA, LIGHTNING_FILES
from wan22.errors import PlanError
from wan22.plan.lightning import BY_ID, CHOICES, GENERATIONS, identify
from wan22.plan.overrides import Overrides, overrides_from_inputs
from wan22.plan.routing import make_plan
from wan22.serverless.build import typed_prompt
from wan22.serverless.jobs import Limits, TypedJob, parse_job
from wan22.serverless.media import JobError

REPO = Path(__file__).resolve().parents[2]
V1_HIGH = BY_ROLE["lora_i2v_high"].name
V1_LOW = BY_ROLE["lora_i2v_low"].name
G1022 = BY_ID["i2v_1022"]
G260412 = BY_ID["i2v_260412"]


def names(gid: str) -> tuple[str, str]:
    g = BY_ID[gid]
    assert g.high is not None and g.low is not None
    return g.high.name, g.low.name


def plan(mode: str, preset: str, **ov: Any) -> dict[str, Any]:
    return make_plan(mode, preset, Overrides(**ov)).as_dict()


def refused(mode: str, preset: str, **ov: Any) -> str:
    with pytest.raises(PlanError) as e:
        make_plan(mode, preset, Overrides(**ov))
    return str(e.value)


def without_lightning(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != "lightning"}


# ---------------------------------------------------------------- the data

def test_every_generation_has_a_source_settings_and_files_the_catalog_knows() -> None:
    doc = json.loads(LIGHTNING_DATA.read_text())
    assert doc["left_out"], "what could not be verified is said in the data"
    for raw in doc["generations"]:
        g = BY_ID[raw["id"]]
        assert raw["source"] and raw["verified"], g.id
        assert g.card.steps == 4 and g.card.cfg == 1.0, g.id  # every published generation is a 4-step, cfg-1 one
        for side in (g.high, g.low):
            if side is not None:
                assert BY_ROLE[side.role].name == side.name
    for f in LIGHTNING_FILES:  # new files: a published URL, a size only where one was published
        assert re.match(r"https://huggingface\.co/(lightx2v|Kijai)/", f.url), f.url
        assert f.url.endswith("/" + f.name)
        assert f.size is None or not f.size_exact
        assert BY_NAME[f.name] is f


def test_the_readme_lists_every_generation_with_its_source() -> None:
    readme = (REPO / "README.md").read_text()
    for g in GENERATIONS:
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{g.id}` |")), None)
        assert row is not None, f"README: no row for generation {g.id}"
        repo = g.source.split(" ")[0]
        assert repo in row and all(x.name in row for x in (g.high, g.low) if x is not None), row


def test_files_are_recognised_by_their_published_and_re_upload_names() -> None:
    assert identify(V1_HIGH) == (BY_ID["i2v_v1"], "high")
    assert identify("Wan2.2-Lightning_I2V-A14B-4steps-lora_LOW_fp16.safetensors") == (BY_ID["i2v_v1"], "low")
    assert identify("sub/" + names("i2v_1022")[0].upper()) == (G1022, "high")
    assert identify("wan2.2_i2v_A14b_low_noise_scaled_fp8_e4m3_lightx2v_4step_comfyui.safetensors") == (
        BY_ID["i2v_1030"], "low")
    assert identify("my_own_lora.safetensors") is None
    assert CHOICES[0] == "auto" and "i2v_1030_lora" not in CHOICES  # a lone high file is no pair


# ---------------------------------------------------------------- plans

def test_1022_plan_runs_its_pair_at_its_card_settings() -> None:
    d = plan("i2v", "fast", lightning="i2v_1022")
    hi, lo = names("i2v_1022")
    assert [s["lora"] for s in d["stages"]] == [hi, lo]
    assert [s["expert"] for s in d["stages"]] == ["i2v_high", "i2v_low"]
    assert (d["steps"], d["cfg"], d["shift"], d["sampler"], d["scheduler"], d["split_step"]) == (4, 1.0, 5.0, "euler", "simple", 2)
    assert d["lightning"]["id"] == "i2v_1022" and d["lightning"]["chosen"] == "set" and not d["lightning"]["default"]
    assert [s["strength"] for s in d["stages"]] == [1.0, 1.0]


def test_260412_plan_runs_the_distilled_experts_without_a_lora() -> None:
    d = plan("i2v", "fast", lightning="i2v_260412")
    assert [s["expert_file"] for s in d["stages"]] == list(names("i2v_260412"))
    assert all(s["loras"] == [] and s["lora"] is None for s in d["stages"])
    assert (d["steps"], d["cfg"], d["shift"]) == (4, 1.0, 5.0)
    assert d["lightning"]["kind"] == "experts" and "no LoRA" in d["summary"]


def test_cli_prints_the_files_and_settings_of_each_generation() -> None:
    def cli(*args: str) -> str:
        r = subprocess.run([sys.executable, "-m", "wan22", "plan", "--mode", "i2v", "--preset", "fast", *args],
                           cwd=REPO, capture_output=True, text=True, check=True)
        return r.stdout

    text = cli("--lightning", "i2v_1022")
    assert "4 steps, cfg 1, euler/simple, shift 5" in text
    assert all(n in text for n in names("i2v_1022"))
    text = cli("--lightning", "i2v_260412")
    assert "distilled experts, no LoRA" in text and text.count("[no LoRA]") == 2
    assert all(n in text for n in names("i2v_260412"))


def snapshot(wid: str) -> Any:
    return json.loads((REPO / f"tests/fixtures/cli/plan_{wid}.txt").read_text().split("\n", 1)[1])


def test_auto_keeps_todays_plan_where_it_knows_no_volume_or_the_volume_has_only_v1() -> None:
    assert not _contains(snapshot("i2v_fast"), plan("i2v", "fast"), "$")
    on_v1 = plan("i2v", "fast", available=(V1_HIGH, V1_LOW, "unrelated.safetensors"))
    assert without_lightning(on_v1) == without_lightning(plan("i2v", "fast"))
    assert on_v1["lightning"]["id"] == "i2v_v1" and on_v1["lightning"]["default"]
    for wid, (mode, preset) in {"t2v_fast": ("t2v", "fast"), "i2v_fast_motion": ("i2v", "fast_motion"),
                                "t2v_fast_motion": ("t2v", "fast_motion")}.items():
        assert not _contains(snapshot(wid), plan(mode, preset), "$"), wid


def test_auto_on_a_volume_with_v1_and_1022_picks_1022() -> None:
    d = plan("i2v", "fast", available=(V1_HIGH, V1_LOW, *names("i2v_1022")))
    assert d["lightning"]["id"] == "i2v_1022" and d["lightning"]["chosen"] == "auto"
    assert [s["lora"] for s in d["stages"]] == list(names("i2v_1022"))
    # half a pair is no pair: the high 1022 alone leaves v1
    assert plan("i2v", "fast", available=(V1_HIGH, V1_LOW, names("i2v_1022")[0]))["lightning"]["id"] == "i2v_v1"
    # distilled experts on the volume win over LoRAs when the experts are not fixed by the caller
    d = plan("i2v", "fast", available=(V1_HIGH, V1_LOW, *names("i2v_1022"), *names("i2v_260412")))
    assert d["lightning"]["id"] == "i2v_260412"
    # ...but fast_motion needs the base high expert: it takes the newest LoRA pair
    d = plan("i2v", "fast_motion", available=(*names("i2v_1022"), *names("i2v_260412")))
    assert d["lightning"]["id"] == "i2v_1022"


def test_auto_uses_the_name_comfyui_lists_for_a_pair_in_a_sub_folder() -> None:
    hi, lo = names("i2v_1022")
    d = plan("i2v", "fast", available=(V1_HIGH, V1_LOW, f"lightx2v/{hi}", f"lightx2v/{lo}"))
    assert [s["lora"] for s in d["stages"]] == [f"lightx2v/{hi}", f"lightx2v/{lo}"]


SEKO_I2V = "Wan2.2-I2V-A14B-4steps-lora-rank64-Seko-V1"


def test_the_official_seko_folders_are_known_by_their_folder() -> None:
    assert identify(f"{SEKO_I2V}/high_noise_model.safetensors") == (BY_ID["i2v_v1"], "high")
    assert identify(f"x/{SEKO_I2V.lower()}/LOW_NOISE_MODEL.safetensors") == (BY_ID["i2v_v1"], "low")
    assert identify("Wan2.2-T2V-A14B-4steps-lora-rank64-Seko-V1.1/low_noise_model.safetensors") == (
        BY_ID["t2v_v1.1"], "low")
    # a bare name says nothing without its folder
    assert identify("high_noise_model.safetensors") is None
    assert identify("some_other_folder/high_noise_model.safetensors") is None


def test_auto_runs_the_pair_under_the_names_comfyui_lists_seko_folder_or_re_upload() -> None:
    seko = (f"{SEKO_I2V}/high_noise_model.safetensors", f"{SEKO_I2V}/low_noise_model.safetensors")
    d = plan("i2v", "fast", available=seko)
    assert d["lightning"]["id"] == "i2v_v1" and [s["lora"] for s in d["stages"]] == list(seko)
    assert d["lightning"]["files"] == {"high": seko[0], "low": seko[1]}  # the names the plan runs
    # the published name wins over the folder when both are listed: today's plan
    both = plan("i2v", "fast", available=(*seko, V1_HIGH, V1_LOW))
    assert without_lightning(both) == without_lightning(plan("i2v", "fast"))
    # a re-upload name of a newer generation counts as that generation on the volume
    kj = ("Wan_2_2_I2V_A14B_HIGH_lightx2v_4step_lora_260412_rank_256_fp16.safetensors",
          "Wan_2_2_I2V_A14B_LOW_lightx2v_4step_lora_260412_rank_256_fp16.safetensors")
    d = plan("i2v", "fast", available=(*seko, *kj))
    assert d["lightning"]["id"] == "i2v_260412_lora" and [s["lora"] for s in d["stages"]] == list(kj)
    # and the fp8 re-upload of the distilled experts runs under its own name
    fp8 = ("wan2.2_i2v_A14b_high_noise_scaled_fp8_e4m3_lightx2v_4step_comfyui_1030.safetensors",
           "wan2.2_i2v_A14b_low_noise_scaled_fp8_e4m3_lightx2v_4step_comfyui.safetensors")
    d = plan("i2v", "fast", available=(*seko, *fp8))
    assert d["lightning"]["id"] == "i2v_1030" and [s["expert_file"] for s in d["stages"]] == list(fp8)


def test_cli_root_auto_lists_a_seko_folder_as_comfyui_does(tmp_path: Path) -> None:
    seko = tmp_path / "loras" / SEKO_I2V
    seko.mkdir(parents=True)
    for n in ("high_noise_model.safetensors", "low_noise_model.safetensors"):
        (seko / n).write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "wan22", "plan", "--mode", "i2v", "--preset", "fast_motion", "--root",
                        str(tmp_path), "--json"], cwd=REPO, capture_output=True, text=True, check=True)
    d = json.loads(r.stdout)
    assert d["lightning"]["id"] == "i2v_v1"
    assert [lo["file"] for st in d["stages"] for lo in st["loras"]] == [
        f"{SEKO_I2V}/high_noise_model.safetensors", f"{SEKO_I2V}/low_noise_model.safetensors"]


def test_auto_follows_the_distilled_experts_the_bundle_loads_and_a_lora_the_user_picked() -> None:
    hi, lo = names("i2v_1030")
    d = plan("i2v", "fast", experts={"i2v_high": hi, "i2v_low": lo}, available=(V1_HIGH, V1_LOW))
    assert d["lightning"]["id"] == "i2v_1030" and all(not s["loras"] for s in d["stages"])
    d = plan("i2v", "fast", loras={"high": names("i2v_1022")[0]}, available=(V1_HIGH, V1_LOW))
    assert [s["lora"] for s in d["stages"]] == list(names("i2v_1022"))


def test_cli_root_auto_picks_the_newest_pair_on_the_volume(tmp_path: Path) -> None:
    (tmp_path / "loras").mkdir()
    for n in (V1_HIGH, V1_LOW, *names("i2v_1022")):
        (tmp_path / "loras" / n).write_bytes(b"")  # names are all 'auto' reads
    r = subprocess.run([sys.executable, "-m", "wan22", "plan", "--mode", "i2v", "--preset", "fast", "--root",
                        str(tmp_path), "--json"], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(r.stdout)["lightning"]["id"] == "i2v_1022"


@pytest.mark.parametrize("gid", [g.id for g in GENERATIONS if g.kind == "lora" and g.pair])
def test_fast_motion_runs_every_lora_generation_in_three_stages(gid: str) -> None:
    g = BY_ID[gid]
    d = plan(g.task, "fast_motion", lightning=gid)
    st = d["stages"]
    assert len(st) == 3 and st[0]["loras"] == [] and st[0]["cfg"] == 3.5
    assert [s["lora"] for s in st[1:]] == list(names(gid)) and [s["cfg"] for s in st[1:]] == [1.0, 1.0]
    assert (st[0]["end_step"], st[1]["end_step"], st[2]["end_step"]) == (2, d["split_step"], 6)


def test_a_named_generation_replaces_the_lightning_loras_a_workflow_names() -> None:
    named = {"high": V1_HIGH, "low": V1_LOW}  # as the example workflows and their API twins
    d = plan("i2v", "fast", lightning="i2v_1022", loras=named)
    assert [s["lora"] for s in d["stages"]] == list(names("i2v_1022"))
    d = plan("i2v", "fast", lightning="i2v_260412", loras=named)
    assert all(not s["loras"] for s in d["stages"])
    custom = plan("i2v", "fast", lightning="i2v_1022", loras={"high": "my_style.safetensors"})
    assert [s["lora"] for s in custom["stages"]] == ["my_style.safetensors", names("i2v_1022")[1]]


def test_router_widget_value_reaches_the_plan() -> None:
    ov = overrides_from_inputs("i2v", {"lightning": "i2v_1022"})
    assert ov.lightning == "i2v_1022"
    assert overrides_from_inputs("i2v", {}).lightning is None
    with pytest.raises(PlanError, match="lightning must be"):
        overrides_from_inputs("i2v", {"lightning": 3})


# ---------------------------------------------------------------- refusals, each with its fix

def test_a_step_distill_lora_on_a_distilled_expert_is_refused() -> None:
    hi, lo = names("i2v_260412")  # the example workflow names the v1 LoRAs; the bundle now loads 260412
    msg = refused("i2v", "fast", experts={"i2v_high": hi, "i2v_low": lo}, loras={"high": V1_HIGH, "low": V1_LOW})
    assert "distilled 4-step expert" in msg and "set lora_high to 'none'" in msg and "set lora_low to 'none'" in msg
    hi, lo = names("i2v_1030")  # the bundle loads distilled experts, the user adds the 480p LoRA
    msg = refused("i2v", "fast", experts={"i2v_high": hi, "i2v_low": lo},
                  loras={"low": BY_ROLE["lora_i2v_480p"].name})
    assert "runs without one: set lora_low to 'none'" in msg


def test_a_high_lora_of_one_generation_with_the_low_of_another_is_refused() -> None:
    msg = refused("i2v", "fast", loras={"high": names("i2v_1022")[0], "low": V1_LOW})
    assert "a pair is distilled together" in msg
    assert f"use {names('i2v_1022')[1]} on the low expert (lightning i2v_1022)" in msg
    assert f"or {V1_HIGH} on the high expert (lightning i2v_v1)" in msg


def test_the_1030_high_lora_with_the_1022_low_is_a_warning_not_a_refusal() -> None:
    kijai_1030 = BY_ID["i2v_1030_lora"].high
    assert kijai_1030 is not None
    d = plan("i2v", "fast", loras={"high": kijai_1030.name, "low": names("i2v_1022")[1]})
    assert any("publishes only one side" in w for w in d["warnings"]), d["warnings"]


def test_a_t2v_generation_on_the_i2v_experts_is_refused() -> None:
    msg = refused("i2v", "fast", lightning="t2v_1217")
    assert "T2V generation" in msg and "use lightning 'auto' or one of i2v_" in msg
    msg = refused("i2v", "fast", loras={"high": names("t2v_250928")[0], "low": names("t2v_250928")[1]})
    assert "T2V LoRA but the high-noise expert is I2V" in msg
    assert "I2V" in refused("t2v", "fast", lightning="i2v_260412")


def test_a_lora_on_the_wrong_side_is_refused_even_without_high_noise_in_its_name() -> None:
    g = BY_ID["i2v_260412_lora"]
    assert g.high is not None and g.low is not None
    msg = refused("i2v", "fast", loras={"high": g.low.name, "low": g.high.name})
    assert "is the low-noise LoRA of" in msg and f"put {g.high.name} there" in msg


def test_distilled_experts_refuse_another_cfg_or_step_count() -> None:
    assert "set cfg to 1" in refused("i2v", "fast", lightning="i2v_260412", cfg=3.5)
    assert "set steps to 4" in refused("i2v", "fast", lightning="i2v_260412", steps=8)


def test_mixed_distilled_experts_and_base_experts_under_a_distilled_id() -> None:
    msg = refused("i2v", "fast", experts={"i2v_high": names("i2v_1030")[0], "i2v_low": names("i2v_260412")[1]})
    assert "load both experts of one generation" in msg
    msg = refused("i2v", "fast", lightning="i2v_260412", experts={"i2v_high": BY_ROLE["i2v_high"].name,
                                                                   "i2v_low": BY_ROLE["i2v_low"].name})
    assert f"set the bundle's high_noise_model to {names('i2v_260412')[0]}" in msg


def test_lightning_outside_the_fast_presets_and_unknown_ids_are_refused() -> None:
    assert "fast_motion's first stage runs the base" in refused("i2v", "fast_motion", lightning="i2v_260412")
    assert "set lightning to 'auto'" in refused("i2v", "quality", lightning="i2v_1022")
    assert "set lightning to 'auto'" in refused("s2v", "fast", lightning="t2v_1217")
    assert "unknown lightning generation" in refused("i2v", "fast", lightning="i2v_9999")
    assert "publishes no low-noise file" in refused("i2v", "fast", lightning="i2v_1030_lora")
    assert "use preset 'fast_480p'" in refused("i2v", "fast", lightning="wan21_480p")


# ---------------------------------------------------------------- typed jobs

def test_typed_jobs_accept_lightning() -> None:
    img = b64(png_bytes())
    limits = Limits(max_payload=2_000_000)
    job = parse_job({"workflow": "i2v_fast", "image": img, "lightning": "i2v_260412"}, limits)
    assert isinstance(job, TypedJob) and job.router == {"lightning": "i2v_260412"}
    assert job.bundle == dict(zip(("high_noise_model", "low_noise_model"), names("i2v_260412"), strict=True))
    prompt = typed_prompt(job, {"image": "x.png"})
    router = next(n for n in prompt.values() if n["class_type"] == "Wan22ModeRouter")
    bundle = next(n for n in prompt.values() if n["class_type"] == "Wan22BundleLoader")
    assert router["inputs"]["lightning"] == "i2v_260412"
    assert bundle["inputs"]["high_noise_model"] == names("i2v_260412")[0]
    routed = make_plan("i2v", "fast", overrides_from_inputs("i2v", router["inputs"]))  # the twin names the v1 LoRAs
    assert routed.lightning is not None and routed.lightning["id"] == "i2v_260412"
    assert all(not st.loras for st in routed.stages)
    job = parse_job({"workflow": "i2v_fast_motion", "image": img, "lightning": "i2v_1022"}, limits)
    assert isinstance(job, TypedJob) and job.bundle == {} and job.stages == ("base", "high", "low")
    with pytest.raises(JobError, match="input.lightning"):
        parse_job({"workflow": "i2v_fast", "image": img, "lightning": "v9"}, limits)
    with pytest.raises(JobError, match="T2V generation"):
        parse_job({"workflow": "i2v_fast", "image": img, "lightning": "t2v_1217"}, limits)
