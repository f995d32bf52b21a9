"""Every community workflow in ../shared/realworld/ (third-party files, read in place, never
copied here) judged on three volumes: the demo volume (`demo-volume`), the same with the T2V and
5B stand-ins plus community-named stand-ins (`--community-names --gguf`: Kijai names, bare-named
Seko LoRAs, a GGUF I2V/T2V pair), and that volume damaged (a LoRA under a KJ expert name, a T2V
GGUF under an I2V GGUF name, a GGUF cut short). Every verdict, every named file and its status,
every input that cannot be judged is asserted. Why each verdict is the right one is written next
to its file (the README of that folder describes the graphs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REALWORLD = Path(__file__).parents[2].parent / "shared" / "realworld"
pytestmark = pytest.mark.skipif(not REALWORLD.is_dir(), reason=f"no community workflows beside the checkout ({REALWORLD})")

S, M = "stand_in", "missing"
# the demo volume's stand-ins by name
UMT5, VAE21, VAE22 = "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "wan_2.1_vae.safetensors", "wan2.2_vae.safetensors"
I2V_HI, I2V_LO = "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors", "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors"
T2V_HI, T2V_LO = "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors", "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors"
L_I2V_HI = "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors"
L_I2V_LO = "wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors"
L_T2V_HI = "wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors"
L_T2V_LO = "wan2.2_t2v_lightx2v_4steps_lora_v1.1_low_noise.safetensors"
TI2V, CLIPV = "wan2.2_ti2v_5B_fp16.safetensors", "clip_vision_h.safetensors"
# community names
KJ_HI, KJ_LO = "Wan2_2-I2V-A14B-HIGH_fp8_e4m3fn_scaled_KJ.safetensors", "Wan2_2-I2V-A14B-LOW_fp8_e4m3fn_scaled_KJ.safetensors"
KJ_VAE, KJ_UMT5 = "Wan2_1_VAE_bf16.safetensors", "umt5-xxl-enc-bf16.safetensors"
SEKO = "Wan2.2-I2V-A14B-4steps-lora-rank64-Seko-V1/"
G5_HI, G5_LO = "Wan2.2-I2V-A14B-HighNoise-Q5_K_M.gguf", "Wan2.2-I2V-A14B-LowNoise-Q5_K_M.gguf"
G3_HI, G3_LO, G3_UMT5 = "Wan2.2-I2V-A14B-HighNoise-Q3_K_M.gguf", "Wan2.2-I2V-A14B-LowNoise-Q3_K_M.gguf", "umt5-xxl-encoder-Q3_K_M.gguf"


@dataclass(frozen=True)
class V:
    """One verdict: ready, {file name: status}, (node, input) that cannot be judged, VAE pairings
    that cannot work, and files in folders the CLI does not read (blocking)."""

    ready: bool
    files: dict[str, str]
    unjudged: frozenset[tuple[str, str]] = frozenset()
    conflicts: frozenset[tuple[str, str]] = frozenset()
    not_checked: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Case:
    why: str
    demo: V
    community: V
    damaged: V | None = None  # when it differs from `community`
    hints: dict[str, tuple[str, ...]] = field(default_factory=dict)  # volume:name -> words its hint holds


WIN_FP16_HI, WIN_FP16_LO = "wan_video\\wan2.2_i2v_high_noise_14B_fp16.safetensors", "wan_video\\wan2.2_i2v_low_noise_14B_fp16.safetensors"
WIN_T2V_HI, WIN_T2V_LO = "wan_video\\" + T2V_HI, "wan_video\\" + T2V_LO
KJ_WIN_HI, KJ_WIN_LO = "WanVideo\\2_2\\" + KJ_HI, "WanVideo\\2_2\\" + KJ_LO
KJ_WIN_LORA, KJ_WIN_VAE = "WanVideo\\Lightx2v\\lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors", "wanvideo\\" + KJ_VAE
ANIM_L1 = "WAN_22\\speed\\WanAnimate_relight_lora_fp16.safetensors"
ANIM_L2 = "WAN_22\\speed\\lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors"
ANIM = "Wan2_2-Animate-14B_fp8_e4m3fn_scaled_KJ.safetensors"
LIGHTNING = {"lora1_high.safetensors": M, "Wan2.2-Lightning_I2V-A14B-4steps-lora_HIGH_fp16.safetensors": M,
             "Wan2.2-Lightning_I2V-A14B-4steps-lora_LOW_fp16.safetensors": M,
             "Wan21_CausVid_14B_T2V_lora_rank32.safetensors": M, "lora1_low.safetensors": M}
PLACEHOLDERS = frozenset((n, f"lora_{i}") for n in ("279", "553") for i in range(4))
LOSSY = frozenset({("38", "clip_name"), ("39", "vae_name"), ("56", "unet_name"), ("69", "unet_name"),
                   ("171", "filename"), ("172", "filename")} | {(n, "class_type") for n in
                                                                 ("95", "96", "97", "98", "99", "100", "102", "134",
                                                                  "135", "136")})
UPSCALERS = frozenset({"upscale_models/4xLSDIR.pth", "upscale_models/1x-ITF-SkinDiffDetail-Lite-v1.pth"})

CASES: dict[str, Case] = {
    "kazuph__runpod-wan2.2-api__wan22_flf2v_workflow.json": Case(
        "hand-written FLF2V API graph: the 14B I2V experts decode with wan2.2_vae, the 5B model's 48-channel VAE; "
        "never ready, even where every file is there (the pairing blocks on the community volume, which holds it)",
        V(False, {I2V_HI: S, UMT5: S, VAE22: M, I2V_LO: S}, conflicts=frozenset({("39", "vae_name")})),
        V(False, {I2V_HI: S, UMT5: S, VAE22: S, I2V_LO: S}, conflicts=frozenset({("39", "vae_name")}))),
    "maxolgi__Comfy-scripts__video_wan2_2_14B_i2v-gguf.json": Case(
        "the I2V template on UnetLoaderGGUF/CLIPLoaderGGUF at Q3_K_M: the GGUFs are named and missing on both "
        "volumes (the community one holds Q5_K_M, the same model: the hint names it)",
        V(False, {VAE21: S, L_I2V_HI: S, L_I2V_LO: S, G3_HI: M, G3_UMT5: M, G3_LO: M}),
        V(False, {VAE21: S, L_I2V_HI: S, L_I2V_LO: S, G3_HI: M, G3_UMT5: M, G3_LO: M}),
        hints={f"community:{G3_HI}": (f"pick '{G5_HI}'",), f"community:{G3_LO}": (f"pick '{G5_LO}'",)}),
    "eriktrk__wan2.2_14b_i2v_4step_runpod_worker__wan22_14B_i2v_lightning.json": Case(
        "API export of the official I2V + 4-step template: every file is a demo-volume stand-in",
        V(True, {VAE21: S, I2V_HI: S, I2V_LO: S, UMT5: S, L_I2V_HI: S, L_I2V_LO: S}),
        V(True, {VAE21: S, I2V_HI: S, I2V_LO: S, UMT5: S, L_I2V_HI: S, L_I2V_LO: S})),
    "Akshat-Gupta04__Wan2.2_Runpod_serverless__test_simple_workflow.json": Case(
        "one UNETLoader (high-noise expert only), CLIP and VAE: all on the demo volume",
        V(True, {I2V_HI: S, UMT5: S, VAE21: S}), V(True, {I2V_HI: S, UMT5: S, VAE21: S})),
    "Ell10ttHar5h__comfyui_workflows__video_wan2_2_14B_flf2v.json": Case(
        "the active loaders ask for fp16 experts under `wan_video\\` (saved on Windows: on Linux one file name, "
        "missing, with the fix); the fp8 group is bypassed (mode 4) and not named",
        V(False, {WIN_FP16_HI: M, UMT5: S, VAE21: S, WIN_FP16_LO: M, L_I2V_HI: S, L_I2V_LO: S}),
        V(False, {WIN_FP16_HI: M, UMT5: S, VAE21: S, WIN_FP16_LO: M, L_I2V_HI: S, L_I2V_LO: S}),
        hints={f"demo:{WIN_FP16_HI}": ("saved on Windows", f"pick '{I2V_HI}'")}),
    "Ell10ttHar5h__comfyui_workflows__video_wan2_2_14B_t2v_x4lora.json": Case(
        "T2V template re-saved with `wan_video\\` names: those are missing on Linux; the demo volume lacks the "
        "T2V low-noise LoRA, the community volume (with the T2V stand-ins) has it",
        V(False, {UMT5: S, VAE21: S, WIN_T2V_HI: M, WIN_T2V_LO: M, L_T2V_HI: S, L_T2V_LO: M}),
        V(False, {UMT5: S, VAE21: S, WIN_T2V_HI: M, WIN_T2V_LO: M, L_T2V_HI: S, L_T2V_LO: S}),
        hints={f"community:{WIN_T2V_HI}": ("saved on Windows", f"pick '{T2V_HI}' (the file at the folder root)")}),
    "pollockjj__ComfyUI-MultiGPU__ComfyUI-WanVideoWrapper_wanvideo2_2_I2V_A14B_GGUF.json": Case(
        "WanVideoWrapper I2V through the MultiGPU loaders: Q5_K_M GGUF experts, Seko LoRAs in their sub-folder, "
        "Kijai's umT5; only the VAE is on the demo volume; all are community stand-ins; damaged: the high GGUF is "
        "cut short, the low one is a T2V model under the I2V name",
        V(False, {SEKO + "high_noise_model.safetensors": M, SEKO + "low_noise_model.safetensors": M, KJ_UMT5: M,
                  G5_LO: M, G5_HI: M, VAE21: S}),
        V(True, {SEKO + "high_noise_model.safetensors": S, SEKO + "low_noise_model.safetensors": S, KJ_UMT5: S,
                 G5_LO: S, G5_HI: S, VAE21: S}),
        damaged=V(False, {SEKO + "high_noise_model.safetensors": S, SEKO + "low_noise_model.safetensors": S,
                          KJ_UMT5: S, G5_LO: "wrong_model", G5_HI: "truncated", VAE21: S}),
        hints={f"demo:{G5_HI}": (f"pick '{I2V_HI}'",), f"damaged:{G5_LO}": ("T2V",)}),
    "pollockjj__ComfyUI-MultiGPU__wan2_2_t2v_lightx2v_lora_distorch2_api.json": Case(
        "native T2V on MultiGPU DisTorch2 loaders: the Seko V1.1 T2V LoRAs are on neither volume; the T2V experts "
        "only on the community one",
        V(False, {"Wan2.2-T2V-A14B-4steps-lora-rank64-Seko-V1.1/high_noise.safetensors": M,
                  "Wan2.2-T2V-A14B-4steps-lora-rank64-Seko-V1.1/low_noise.safetensors": M, T2V_HI: M, UMT5: S,
                  T2V_LO: M, VAE21: S}),
        V(False, {"Wan2.2-T2V-A14B-4steps-lora-rank64-Seko-V1.1/high_noise.safetensors": M,
                  "Wan2.2-T2V-A14B-4steps-lora-rank64-Seko-V1.1/low_noise.safetensors": M, T2V_HI: S, UMT5: S,
                  T2V_LO: S, VAE21: S})),
    "yiwangsimple__ComfyUI-WanVideoWrapper__wanvideo2_2_I2V_A14B_example_WIP.json": Case(
        "Kijai's own example with Windows subfolders (`WanVideo\\2_2\\`, `wanvideo\\`): those names are missing "
        "on Linux; the muted native CLIPLoader (umt5_xxl_fp16) is not named; Kijai's umT5 is a community stand-in",
        V(False, {KJ_UMT5: M, KJ_WIN_HI: M, KJ_WIN_VAE: M, KJ_WIN_LORA: M, KJ_WIN_LO: M}),
        V(False, {KJ_UMT5: S, KJ_WIN_HI: M, KJ_WIN_VAE: M, KJ_WIN_LORA: M, KJ_WIN_LO: M}),
        hints={f"community:{KJ_WIN_HI}": (f"pick '{KJ_HI}' (the file at the folder root)",)}),
    "wlsdml1114__generate_video__wan22_1lora.json": Case(
        "RunPod Hub template: Lightning and CausVid LoRAs and the placeholder user LoRAs lora1_high/low are on no "
        "volume; the experts, CLIP and VAE are",
        V(False, {VAE21: S, UMT5: S, I2V_HI: S, I2V_LO: S, **LIGHTNING}),
        V(False, {VAE21: S, UMT5: S, I2V_HI: S, I2V_LO: S, **LIGHTNING})),
    "wlsdml1114__generate_video__new_Wan22_flf2v_api.json": Case(
        "WanVideoWrapper FLF2V with KJ names and bare LoRA names at the loras root: on the demo volume the KJ "
        "names are missing (the official experts are the same model: named); on the community volume the bare "
        "LoRAs exist only in the Seko sub-folder (named); damaged: a LoRA under the KJ high-noise name",
        V(False, {KJ_HI: M, KJ_VAE: M, KJ_UMT5: M, CLIPV: S, "high_noise_model.safetensors": M, KJ_LO: M,
                  "low_noise_model.safetensors": M}),
        V(False, {KJ_HI: S, KJ_VAE: S, KJ_UMT5: S, CLIPV: S, "high_noise_model.safetensors": M, KJ_LO: S,
                  "low_noise_model.safetensors": M}),
        damaged=V(False, {KJ_HI: "wrong_model", KJ_VAE: S, KJ_UMT5: S, CLIPV: S, "high_noise_model.safetensors": M,
                          KJ_LO: S, "low_noise_model.safetensors": M}),
        hints={f"demo:{KJ_HI}": (f"pick '{I2V_HI}'",), f"demo:{KJ_VAE}": (f"pick '{VAE21}'",),
               "community:high_noise_model.safetensors": (f"pick '{SEKO}high_noise_model.safetensors'",),
               f"damaged:{KJ_HI}": ("LoRA",)}),
    "averystormknight-hue__Wan22-ti2v-runpod__wan22_ti2v_api.json": Case(
        "TI2V 5B in a 14B-style WanVideoWrapper graph whose LoRA selectors still hold template placeholders "
        "(`__LORA1_HIGH__`...): those inputs cannot be judged and block; umt5_xxl_fp16 is on no volume",
        V(False, {TI2V: M, VAE22: M, "umt5_xxl_fp16.safetensors": M, CLIPV: S}, unjudged=PLACEHOLDERS),
        V(False, {TI2V: S, VAE22: S, "umt5_xxl_fp16.safetensors": M, CLIPV: S}, unjudged=PLACEHOLDERS)),
    "Sliish2__wan-2.2-t2i.json-v2__example-request.json": Case(
        "lossy converter output in a RunPod body: the loaders lost unet_name/clip_name/vae_name (a `filename` "
        "input instead), Reroute nodes left in an API prompt, SAM/Ultralytics loaders of unknown packs naming "
        "files, upscalers in a folder the CLI does not read: nothing can be judged, nothing is called ready",
        V(False, {}, unjudged=LOSSY, not_checked=UPSCALERS), V(False, {}, unjudged=LOSSY, not_checked=UPSCALERS)),
    "kelvinweijun__wan-2.2-animate-comfyui-kaggle__WAN2.2_Animate_12GB-VRAM.json": Case(
        "WanVideoWrapper Animate: LoRAs under `WAN_22\\speed\\` (Windows: missing), DWPose and RIFE models named by "
        "node types of unknown packs (cannot be judged); the SAM2 loader is bypassed; Kijai's VAE is a "
        "community stand-in",
        V(False, {ANIM: S, ANIM_L1: M, ANIM_L2: M, CLIPV: S, KJ_VAE: M, UMT5: S},
          unjudged=frozenset({("53", "widget 4"), ("53", "widget 5"), ("171", "widget 0")})),
        V(False, {ANIM: S, ANIM_L1: M, ANIM_L2: M, CLIPV: S, KJ_VAE: S, UMT5: S},
          unjudged=frozenset({("53", "widget 4"), ("53", "widget 5"), ("171", "widget 0")}))),
    "gregpaynter__ooc-forge__workflow.json": Case(
        "clean TI2V 5B API graph: ready once the 5B model and the Wan 2.2 VAE are there",
        V(False, {TI2V: M, UMT5: S, VAE22: M}), V(True, {TI2V: S, UMT5: S, VAE22: S})),
}


@pytest.fixture(scope="module")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`python -m wan22 demo-volume DIR`; the same `--with-t2v --with-5b --community-names --gguf`;
    and that one with the damage cases written over it."""
    import os
    import subprocess
    import sys

    from wan22.demo.community_standins import write_damage_cases

    repo = Path(__file__).resolve().parents[2]
    out = {}
    for name, flags in (("demo", []), ("community", ["--with-t2v", "--with-5b", "--community-names", "--gguf"]),
                        ("damaged", ["--with-t2v", "--with-5b", "--community-names", "--gguf"])):
        root = tmp_path_factory.mktemp(name)
        p = subprocess.run([sys.executable, "-m", "wan22", "demo-volume", str(root), *flags], cwd=repo,
                           capture_output=True, text=True, timeout=600,
                           env={**os.environ, "PYTHONPATH": str(repo), "COMFYUI_PATH": os.devnull})
        assert p.returncode == 0, p.stderr
        if name == "damaged":
            write_damage_cases(str(root), 1)
        out[name] = root
    return out


def test_every_file_has_a_case() -> None:
    assert sorted(p.name for p in REALWORLD.glob("*.json")) == sorted(CASES)


@pytest.mark.parametrize("volume", ["demo", "community", "damaged"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_verdict(volumes: dict[str, Path], volume: str, name: str) -> None:
    from wan22.graph.reader import read_workflow_file, workflow_refs
    from wan22.volume.roots import resolve
    from wan22.volume.workflow_check import check_workflows

    case = CASES[name]
    want = case.demo if volume == "demo" else (case.damaged or case.community) if volume == "damaged" else case.community
    wf = workflow_refs(read_workflow_file(str(REALWORLD / name)))
    rep = check_workflows(resolve(roots=[str(volumes[volume])]), {"w": wf})
    st = rep.workflows["w"]
    assert {f.name: f.status for f in rep.files} == want.files, case.why
    assert {(u.node, u.input) for u in wf.unjudged} == want.unjudged, case.why
    assert {(u.node, u.input) for u in wf.conflicts} == want.conflicts, case.why
    assert {b["name"] for b in st.blocking if b["role"] == "unjudged" and b["name"] in want.not_checked} == want.not_checked
    assert st.ready is want.ready, case.why
    # every file that is not usable blocks, and every unjudged input and pairing does, naming its node
    blocking = {b["name"] for b in st.blocking}
    assert {n for n, s in want.files.items() if s not in ("ok", "stand_in")} <= blocking
    assert len(st.blocking) == (sum(s not in ("ok", "stand_in") for s in want.files.values()) + len(want.unjudged)
                                + len(want.conflicts) + len(want.not_checked))
    assert all(b.get("nodes") for b in st.blocking)
    for key, words in case.hints.items():
        vol, fname = key.split(":", 1)
        if vol == volume:
            hint = next(f.hint for f in rep.files if f.name == fname)
            assert all(w in hint for w in words), (fname, hint)


def test_the_cli_gives_the_same_verdict(volumes: dict[str, Path]) -> None:
    """One file through `python -m wan22 inventory --workflow FILE --json` (the contract keys)."""
    import os
    import subprocess
    import sys

    name = "pollockjj__ComfyUI-MultiGPU__ComfyUI-WanVideoWrapper_wanvideo2_2_I2V_A14B_GGUF.json"
    repo = Path(__file__).resolve().parents[2]
    p = subprocess.run([sys.executable, "-m", "wan22", "inventory", "--root", str(volumes["community"]), "--workflow",
                        str(REALWORLD / name), "--json"], capture_output=True, text=True, timeout=120, cwd=repo,
                       env={**os.environ, "PYTHONPATH": str(repo), "COMFYUI_PATH": os.devnull})
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    st = data["workflows"][str(REALWORLD / name)]
    assert st["ready"] is True and st["blocking"] == [] and st["shape"] == "ui" and st["unjudged"] == []
    assert {f["name"]: f["status"] for f in data["files"]} == CASES[name].community.files
    assert all({"name", "folder", "role", "status", "path", "expected_path", "size", "hint"} <= set(f) for f in data["files"])
