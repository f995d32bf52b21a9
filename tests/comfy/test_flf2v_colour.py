"""Issue 16, "Done when": the FLF2V run's first and last frames come from its two images.

The example twins wan22_flf2v_fast (LoRAs, cfg 1, 2+2 steps, both colour orders) and
wan22_flf2v_quality (cfg 4, 10+10 steps) run, shrunk like the other twins (64x64, 9 frames,
precomputed text conditioning), on their own `main.py --cpu` server whose volume is the demo volume
with the I2V experts replaced by guided stand-ins (wan22/demo/guided_standin.py: the real Wan I2V
architecture and key names, weights that make every denoise step predict the concat image latent).
ComfyUI's own loader, LoRA patching, WanFirstLastFrameToVideo, sampler and VAE do the rest, so
the decoded frames show what the graph hands the experts.

Two solid colours go in as first and last frame. The stand-in VAE (random weights) does not keep
the hue, so frames are judged against round trips (VAEEncode -> VAEDecode) through the same VAE,
checked first to be far enough apart: the first frame against each colour alone (measured: red
-> ~(234, 194, 91), blue -> ~(222, 188, 81), ~16 apart); the last frame, whose latent frame also
packs three of the grey frames in between, against the round trip of the whole sequence
WanFirstLastFrameToVideo encodes (measured: ~(216, 158, 136) for red -> blue, ~(134, 157, 95)
for blue -> red, ~91 apart; the end colour alone is no reference for it: measured nearer red).
With the random experts the first frame is ~(174, 154, 105) in both orders and the test fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.harness import Server, video_info

from wan22.api.edits import expected_frames, tiny_overrides, use_precomputed_conditioning
from wan22.api.preflight import preflight
from wan22.demo.demo_volume import make_demo_volume
from wan22.demo.guided_standin import write_guided_experts
from wan22.demo.inputs import solid_image

REPO = Path(__file__).resolve().parents[2]
TWINS = REPO / "example_workflows" / "api"
COLOURS = {"red": (220, 40, 30), "blue": (30, 60, 220)}
ORDERS = [("red", "blue"), ("blue", "red")]
MIN_APART = 8.0  # RGB distance the two round trips must keep (measured about 16 on the stand-in VAE)
CLOSE = 0.25  # a followed frame lies within this share of the two round trips' distance from its own

RGB = tuple[float, float, float]


@pytest.fixture(scope="module")
def guided_server(own_server: Callable[..., Server], tmp_path_factory: pytest.TempPathFactory) -> Server:
    """A server on a volume of its own: the demo volume with guided I2V experts."""
    volume = tmp_path_factory.mktemp("guided_volume")
    make_demo_volume(str(volume))
    write_guided_experts(str(volume))

    def inputs(input_dir: Path) -> None:
        for name, rgb in COLOURS.items():
            solid_image(str(input_dir / f"wan22_flf_{name}.png"), rgb)

    return own_server(volume, "guided", inputs=inputs)


def frame_means(path: Path) -> list[RGB]:
    import av

    with av.open(str(path)) as c:
        out = []
        for f in c.decode(c.streams.video[0]):
            r, g, b = (float(x) for x in f.to_ndarray(format="rgb24").reshape(-1, 3).mean(0))
            out.append((r, g, b))
        return out


def follows(frame: RGB, own: RGB, other: RGB) -> bool:
    """`frame` is within CLOSE of the distance between the round trips from `own`, and nearer
    `own` than `other`."""
    return math.dist(frame, own) < min(CLOSE * math.dist(own, other), math.dist(frame, other))


def run_video(server: Server, prompt: dict[str, Any]) -> Path:
    entry = server.run(prompt, timeout=600)
    videos = [f for f in server.output_files(entry) if f.suffix == ".mp4"]
    assert len(videos) == 1, entry["outputs"]
    return Path(videos[0])


LOADER = {"class_type": "Wan22BundleLoader", "inputs": {
    "mode": "flf2v", "high_noise_model": "auto", "low_noise_model": "auto", "model": "auto", "text_encoder": "none",
    "vae": "auto", "clip_vision": "auto", "audio_encoder": "auto", "weight_dtype": "default"}}


def roundtrip(server: Server, images: list[str], prefix: str) -> list[RGB]:
    """Frame means of an image sequence after the stand-in VAE's encode + decode, through the same
    bundle loader and VAE file as the twin. `images` are input file names, or "gray:N" for N
    frames of mid grey (WanFirstLastFrameToVideo fills the frames between with 0.5; EmptyImage's
    0x808080 is 128/255)."""
    prompt: dict[str, Any] = {"loader": LOADER}
    for i, name in enumerate(images):
        if name.startswith("gray:"):
            node = {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": int(name[5:]),
                                                            "color": 0x808080}}
        else:
            node = {"class_type": "LoadImage", "inputs": {"image": name}}
        prompt[f"img{i}"] = node
        prompt[f"seq{i}"] = ({"class_type": "ImageBatch", "inputs": {"image1": [f"seq{i - 1}", 0], "image2": [f"img{i}", 0]}}
                             if i else {"class_type": "RepeatImageBatch", "inputs": {"image": ["img0", 0], "amount": 1}})
    last = f"seq{len(images) - 1}"
    prompt.update({
        "enc": {"class_type": "VAEEncode", "inputs": {"pixels": [last, 0], "vae": ["loader", 2]}},
        "dec": {"class_type": "VAEDecode", "inputs": {"samples": ["enc", 0], "vae": ["loader", 2]}},
        "vid": {"class_type": "CreateVideo", "inputs": {"images": ["dec", 0], "fps": 16.0}},
        "save": {"class_type": "SaveVideo", "inputs": {"video": ["vid", 0], "filename_prefix": f"wan22/rt_{prefix}",
                                                       "format": "mp4", "codec": "auto"}},
    })
    return frame_means(run_video(server, prompt))


def flf2v_prompt(stem: str, first: str, last: str) -> dict[str, Any]:
    import json

    prompt = use_precomputed_conditioning(tiny_overrides(json.loads((TWINS / f"{stem}.json").read_text()), 64, 64, 9))
    by_title = {n["_meta"]["title"]: n for n in prompt.values() if n["class_type"] == "LoadImage"}
    by_title["First frame"]["inputs"]["image"] = f"wan22_flf_{first}.png"
    by_title["Last frame"]["inputs"]["image"] = f"wan22_flf_{last}.png"
    return prompt


@pytest.fixture(scope="module")
def references(guided_server: Server) -> dict[str, Any]:
    """Round trips of each colour alone and of the sequence WanFirstLastFrameToVideo encodes
    (first image, 7 grey frames, last image) in both orders; each pair must stay apart."""
    single = {name: roundtrip(guided_server, [f"wan22_flf_{name}.png"], name)[0] for name in COLOURS}
    seq = {(a, b): roundtrip(guided_server, [f"wan22_flf_{a}.png", "gray:7", f"wan22_flf_{b}.png"], f"{a}_{b}")
           for a, b in ORDERS}
    (ab, ba) = (seq[o] for o in ORDERS)
    for what, x, y in (("alone", single["red"], single["blue"]), ("as first frames", ab[0], ba[0]),
                       ("as last frames", ab[-1], ba[-1])):
        assert math.dist(x, y) > MIN_APART, (
            f"the stand-in VAE does not keep red and blue apart {what} (round trips {x} and {y}, "
            f"{math.dist(x, y):.1f} apart, need {MIN_APART}): this test could not tell the frames apart")
    return {"single": single, "seq": seq}


def _denoise_errors(comfyui_path: Path, path: Path) -> list[float]:
    """max |denoised - c| / rms(c) of the expert at `path`, loaded by ComfyUI's own
    load_diffusion_model, for a random concat latent c, at sigmas from 1 down to 0.01."""
    import comfy.cli_args
    import torch

    comfy.cli_args.args.cpu = True
    import comfy.sd

    model = comfy.sd.load_diffusion_model(str(path)).model
    g = torch.Generator().manual_seed(0)
    shape = (1, 16, 3, 8, 8)
    c = torch.randn(shape, generator=g) * 1.3 + 0.4
    errors = []
    for sigma in (1.0, 0.9, 0.6, 0.3, 0.1, 0.03, 0.01):
        x = sigma * torch.randn(shape, generator=g) + (1 - sigma) * torch.randn(shape, generator=g)
        cond = {"c_concat": torch.cat([torch.ones((1, 4, 3, 8, 8)), c], 1),
                "c_crossattn": torch.randn((1, 16, 4096), generator=g)}
        with torch.no_grad():
            den = model.apply_model(x, torch.tensor([sigma]), **cond)
        errors.append(float((den - c).abs().max() / c.pow(2).mean().sqrt()))
    return errors


def test_guided_expert_predicts_the_concat_latent(comfy_importable: Path, tmp_path: Path) -> None:
    """In ComfyUI's own Wan model class, the guided expert's denoised latent is the concat image
    latent at every sigma (measured: max error about 0.2 % of rms(c)); the random stand-in's is not."""
    from wan22.catalog import BY_ROLE
    from wan22.demo.demo_volume import build_stand_in, stand_in_metadata, write_safetensors

    (guided,) = (Path(str(f["path"])) for f in write_guided_experts(str(tmp_path)) if f["role"] == "i2v_low")
    random = tmp_path / "random.safetensors"
    write_safetensors(str(random), build_stand_in(BY_ROLE["i2v_low"], "dit:tiny_i2v", 22), stand_in_metadata("i2v_low", 22))
    good, bad = _denoise_errors(comfy_importable, guided), _denoise_errors(comfy_importable, random)
    assert max(good) < 0.01, good
    assert min(bad) > 0.5, bad


@pytest.mark.parametrize(("stem", "first", "last"), [("wan22_flf2v_fast", *ORDERS[0]), ("wan22_flf2v_fast", *ORDERS[1]),
                                                     ("wan22_flf2v_quality", *ORDERS[0])])
def test_flf2v_first_and_last_frame_come_from_the_two_images(guided_server: Server, references: dict[str, Any],
                                                            stem: str, first: str, last: str) -> None:
    """The first frame follows the first image's round trip; the last frame, whose latent frame
    also holds three grey frames (the VAE packs 4 frames per latent frame after the first), follows
    the conditioning sequence's round trip, as does every frame. Judged against the swapped
    images the same frames fail, so the check can fail."""
    prompt = flf2v_prompt(stem, first, last)
    assert preflight(prompt, dict(guided_server.get("/object_info"))) == []
    video = run_video(guided_server, prompt)
    info = video_info(video)
    out = frame_means(video)
    assert len(out) == info["frames"] == expected_frames(prompt) == 9
    single, ref, swapped = references["single"], references["seq"][(first, last)], references["seq"][(last, first)]
    report = (f"{stem} {first}->{last}: first frame {out[0]}, last {out[-1]}; {first} alone -> {single[first]}, "
              f"{last} alone -> {single[last]}; sequence round trip first {ref[0]}, last {ref[-1]}; "
              f"swapped sequence first {swapped[0]}, last {swapped[-1]}")
    assert follows(out[0], single[first], single[last]), f"the first frame does not come from the first image: {report}"
    assert follows(out[-1], ref[-1], swapped[-1]), f"the last frame does not come from the last image: {report}"
    worst = max(math.dist(o, r) for o, r in zip(out, ref))
    assert worst < CLOSE * math.dist(single[first], single[last]), f"a frame strays {worst:.1f} from the round trip: {report}"
    assert not follows(out[0], single[last], single[first]), f"swapped, the first frame still passes: {report}"
    assert not follows(out[-1], swapped[-1], ref[-1]), f"swapped, the last frame still passes: {report}"
