"""The worker's job contract without ComfyUI: every bad input refused with the field named, good
typed and stock jobs parsed, media identified by content (never by name), prompts built from
the API twins (the S2V Extend chain cut or grown to the audio), progress labels, the readiness
table and refusal, the endpoint client's helpers and the worker CLI's flag pass-through."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from support.worker_jobs import b64, bad_jobs, m4a_bytes, mp4_bytes, png_bytes, wav_bytes

from wan22.api.edits import expected_frames
from wan22.graph.widgets import nodes_of
from wan22.plan.modes import mode_spec
from wan22.serverless import media
from wan22.serverless.build import chunk_chain, load_twin, stock_prompt, twin_path, typed_prompt
from wan22.serverless.jobs import Limits, StockJob, TypedJob, parse_job
from wan22.serverless.media import JobError
from wan22.serverless.readiness import Readiness, comfy_folders
from wan22.serverless.remote import endpoint_url, typed_input
from wan22.serverless.runner import Progress

LIMITS = Limits(max_payload=2_000_000)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def img() -> str:
    return b64(png_bytes())


@pytest.mark.parametrize("label, job, expect", bad_jobs(LIMITS.max_payload), ids=[c[0] for c in bad_jobs()])
def test_bad_job_is_refused_naming_the_field(label: str, job: dict[str, Any], expect: str) -> None:
    with pytest.raises(JobError) as e:
        parse_job(job, LIMITS)
    assert expect in str(e.value), f"{label}: {e.value}"


def test_at_least_25_bad_jobs() -> None:
    assert len(bad_jobs()) >= 25


@pytest.mark.parametrize("raw", ["hello", None, [1, 2], 7])
def test_input_that_is_not_an_object(raw: Any) -> None:
    with pytest.raises(JobError, match=r"^input: expected a JSON object"):
        parse_job(raw, LIMITS)


def test_typed_job_parsed(img: str) -> None:
    job = parse_job({"workflow": "i2v_fast", "image": img, "prompt": "a fox", "negative_prompt": "blur", "seed": 7,
                     "width": 832, "height": 480, "frames": 81, "fps": 16, "steps": 4, "timeout": 60}, LIMITS)
    assert isinstance(job, TypedJob)
    assert (job.mode, job.preset, job.seed, job.width, job.height, job.frames, job.fps) == ("i2v", "fast", 7, 832, 480, 81, 16.0)
    assert job.media["image"].kind == "image" and job.media["image"].ext == ".png"
    assert job.stages == ("high", "low") and job.router == {"steps": 4} and job.timeout == 60.0


def test_a_json_whole_float_counts_as_a_whole_number(img: str) -> None:
    job = parse_job({"workflow": "i2v_fast", "image": img, "frames": 9.0, "seed": 3.0}, LIMITS)
    assert isinstance(job, TypedJob) and job.frames == 9 and job.seed == 3


def test_seed_is_random_when_not_given(img: str) -> None:
    seeds = {parse_job({"workflow": "i2v_fast", "image": img}, LIMITS).seed for _ in range(5)}  # type: ignore[union-attr]
    assert len(seeds) > 1


def test_s2v_frames_come_from_the_audio(img: str) -> None:
    job = parse_job({"workflow": "s2v_fast", "image": img, "audio": b64(m4a_bytes(2.0))}, LIMITS)
    assert isinstance(job, TypedJob)
    assert job.media["audio"].kind == "audio" and job.media["audio"].ext == ".m4a"
    assert abs(float(job.media["audio"].seconds or 0) - 2.0) < 0.05
    assert job.frames == 33 and job.stages == ("model",)
    given = parse_job({"workflow": "s2v_fast", "image": img, "audio": b64(wav_bytes(2.0)), "frames": 17}, LIMITS)
    assert given.frames == 17  # type: ignore[union-attr]


def test_s2v_audio_longer_than_the_frame_limit(img: str) -> None:
    with pytest.raises(JobError, match=r"input.audio: 4.00 s of audio makes 65 frames .* limit of 41"):
        parse_job({"workflow": "s2v_fast", "image": img, "audio": b64(wav_bytes(4.0))}, Limits(max_frames=41))


def test_media_by_content_not_name() -> None:
    png, wav, mp4 = media.identify(png_bytes()), media.identify(wav_bytes()), media.identify(mp4_bytes())
    assert png is not None and (png.kind, png.ext, png.width) == ("image", ".png", 64)
    assert wav is not None and (wav.kind, wav.ext) == ("audio", ".wav") and abs(float(wav.seconds or 0) - 1.0) < 1e-3
    assert mp4 is not None and (mp4.kind, mp4.ext) == ("video", ".mp4")
    assert media.identify(b"GIF89a but not really") is None
    name = png.stored_name()
    assert name.startswith("wan22_") and name.endswith(".png") and "/" not in name
    assert name == media.identify(png_bytes()).stored_name()  # type: ignore[union-attr]


def test_data_urls_and_url_safe_base64() -> None:
    raw = png_bytes()
    assert media.decode("data:image/png;base64," + b64(raw), "f", 10**7) == raw
    assert media.decode(base64.urlsafe_b64encode(raw).decode().rstrip("="), "f", 10**7) == raw
    with pytest.raises(JobError, match="over the worker's 0.0001 MB limit"):
        media.decode(b64(raw), "input.image", 100)


def test_stock_job_keeps_names_for_the_workflow_only(img: str) -> None:
    prompt = {"4": {"class_type": "LoadImage", "inputs": {"image": "me.png"}},
              "5": {"class_type": "LoadAudio", "inputs": {"audio": "voice.m4a"}}}
    job = parse_job({"workflow": prompt, "images": [{"name": "me.png", "image": img}],
                     "files": [{"name": "voice.m4a", "data": b64(m4a_bytes(1.0))}]}, LIMITS)
    assert isinstance(job, StockJob)
    stored = {n: m.stored_name() for n, m in job.files}
    out = stock_prompt(job, stored)
    assert out["4"]["inputs"]["image"] == stored["me.png"] and out["5"]["inputs"]["audio"].endswith(".m4a")
    assert prompt["4"]["inputs"]["image"] == "me.png", "the job's own prompt is not modified"


def test_twin_paths() -> None:
    assert twin_path("i2v").name == "wan22_i2v_quality.json"
    assert twin_path("i2v_fast_480p").name == "wan22_i2v_fast_480p.json"
    from wan22.plan.presets import WORKFLOW_IDS

    for wid in WORKFLOW_IDS:
        assert twin_path(wid).is_file(), wid


def test_typed_prompt_sets_what_the_job_names(img: str) -> None:
    job = parse_job({"workflow": "i2v_fast", "image": img, "prompt": "a fox", "negative_prompt": "blur", "seed": 9,
                     "width": 64, "height": 48, "frames": 13, "fps": 12}, LIMITS)
    assert isinstance(job, TypedJob)
    p = typed_prompt(job, {"image": job.media["image"].stored_name()})
    twin = load_twin("i2v_fast")
    (load,) = nodes_of(p, "LoadImage")
    assert p[load]["inputs"]["image"] == job.media["image"].stored_name()
    texts = sorted(p[n]["inputs"]["text"] for n in nodes_of(p, "CLIPTextEncode"))
    assert texts == ["a fox", "blur"]
    (i2v,) = nodes_of(p, "WanImageToVideo")
    assert {k: p[i2v]["inputs"][k] for k in ("width", "height", "length")} == {"width": 64, "height": 48, "length": 13}
    assert expected_frames(p) == 13
    (save,) = nodes_of(p, "SaveVideo")
    assert p[save] == twin[save], "nothing the job does not name changes"
    pre = typed_prompt(job, {"image": "x.png"}, precomputed=True)
    assert not nodes_of(pre, "CLIPTextEncode") and len(nodes_of(pre, "LoadTrainingDataset")) == 2


def test_typed_job_and_submit_edit_a_primitive_length_alike(img: str, tmp_path: Path) -> None:
    """One edit dialect: a twin whose length comes from a PrimitiveInt (as the official templates
    carry it) gets the job's frames in the primitive, as `submit --frames` does; a length linked to
    any other node is kept by the job (the graph computes it) and replaced by submit's explicit flag."""
    from wan22.api.edits import apply_graph_edits

    twin = load_twin("i2v_fast")
    (i2v,) = nodes_of(twin, "WanImageToVideo")
    twin["frames"] = {"class_type": "PrimitiveInt", "inputs": {"value": 81}}
    twin[i2v]["inputs"]["length"] = ["frames", 0]
    (tmp_path / twin_path("i2v_fast").name).write_text(json.dumps(twin), encoding="utf-8")
    job = parse_job({"workflow": "i2v_fast", "image": img, "frames": 13}, LIMITS)
    assert isinstance(job, TypedJob)
    p = typed_prompt(job, {"image": "x.png"}, root=tmp_path)
    assert p["frames"]["inputs"]["value"] == 13 and p[i2v]["inputs"]["length"] == ["frames", 0]
    q = json.loads(json.dumps(twin))
    apply_graph_edits(q, {"frames": 13})
    assert q["frames"]["inputs"]["value"] == 13 and q[i2v]["inputs"]["length"] == ["frames", 0]

    twin["frames"] = {"class_type": "SomeLengthNode", "inputs": {"value": 81}}
    (tmp_path / twin_path("i2v_fast").name).write_text(json.dumps(twin), encoding="utf-8")
    p = typed_prompt(job, {"image": "x.png"}, root=tmp_path)
    assert p[i2v]["inputs"]["length"] == ["frames", 0] and p["frames"]["inputs"]["value"] == 81


@pytest.mark.parametrize("frames, lengths", [(33, [33]), (89, [77, 9]), (197, [77, 77, 37])])
def test_s2v_chain_follows_the_chunk_plan(frames: int, lengths: list[int]) -> None:
    p = load_twin("s2v_fast")
    assert chunk_chain(p, mode_spec("s2v"), frames) == lengths
    assert len(nodes_of(p, "WanSoundImageToVideoExtend")) == len(lengths) - 1
    assert len(nodes_of(p, "Wan22MoESampler")) == len(lengths)
    assert expected_frames(p) == frames
    (prep,) = nodes_of(p, "Wan22S2VAudioPrep")
    assert p[prep]["inputs"]["max_seconds"] == pytest.approx(frames / 16)
    linked = {v[0] for n in p.values() for v in n["inputs"].values() if isinstance(v, list) and len(v) == 2}
    assert linked <= set(p), "every link points at a node of the prompt"


def test_progress_labels() -> None:
    sent: list[str] = []
    pr = Progress(("high", "low"), sent.append)
    for v in (1, 2, 1, 2):
        pr.step("8", v, 2)
    assert sent == ["high 1/2", "high 2/2", "high 2/2, low 1/2", "high 2/2, low 2/2"]
    pr.step("13", 1, 4)
    assert sent[-1] == "chunk 2: high 1/4"
    stock: list[str] = []
    Progress((), stock.append).step("3", 5, 20)
    assert stock == ["step 5/20"]


def test_readiness_table_and_refusal() -> None:
    report = {"summary": "1/2 workflows ready", "workflows": {
        "i2v_fast": {"ready": True, "blocking": [], "stand_ins": ["a"]},
        "t2v": {"ready": False, "blocking": [{"name": "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors", "status": "missing",
                                              "hint": "download it into /v/diffusion_models/"}]}}}
    r = Readiness.from_report(report, "test")
    assert "i2v_fast        yes" in r.table() and "t2v             NO     wan2.2_t2v_high" in r.table()
    assert r.refusal("i2v_fast") is None
    msg = r.refusal("t2v") or ""
    assert msg.startswith("input.workflow: 't2v' cannot run on this worker") and "nothing was queued" in msg
    assert "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors (missing): download it into /v/diffusion_models/" in msg
    fixed = Readiness.from_report({"workflows": {"t2v": {"ready": True}}}, "again")
    r.refresh = lambda: fixed
    assert r.check("t2v") is None, "a file added after boot is found on the next job"


def test_comfy_folders_from_main_py_arguments() -> None:
    root, yamls, models = comfy_folders("/c", ["--cpu", "--base-directory", "/b", "--extra-model-paths-config", "/y1", "/y2",
                                               "--extra-model-paths-config=/y3", "--port", "1"])
    assert (root, yamls, models) == ("/c", ["/y1", "/y2", "/y3"], "/b/models")


def test_endpoint_client_helpers(tmp_path: Path) -> None:
    assert endpoint_url("abc123") == "https://api.runpod.ai/v2/abc123"
    assert endpoint_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    f = tmp_path / "a.png"
    f.write_bytes(png_bytes())
    body = typed_input("i2v_fast", {"image": str(f), "audio": None}, {"seed": 1, "prompt": None})
    assert body == {"workflow": "i2v_fast", "image": b64(png_bytes()), "seed": 1}
    assert typed_input("i2v", {"image": "https://x/y.png"}, {})["image"] == "https://x/y.png"


def test_worker_cli_passes_the_sdk_flags_through() -> None:
    from wan22.cli import build_parser
    from wan22.cli.worker import rp_argv

    a = build_parser().parse_args(["worker", "--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", "8010",
                                   "--test_input", json.dumps({"input": {}}), "--start-comfyui", "/c", "--", "--cpu"])
    assert rp_argv(a) == ["--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", "8010",
                          "--test_input", '{"input": {}}']
    assert a.comfy_args == ["--", "--cpu"] and a.start_comfyui == "/c"


def test_https_inputs_are_fetched_with_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A loopback HTTPS server with a self-signed certificate the test trusts (SSL_CERT_FILE)."""
    import http.server
    import shutil
    import ssl
    import subprocess
    import threading

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed (needed to make the test's certificate)")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    png = png_bytes()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = {"/a.png": png, "/big.bin": b"\0" * 5000}.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            if body is not None:
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("WAN22_MEDIA_ALLOW_HOSTS", "127.0.0.1")  # loopback is refused unless allowed
    base = f"https://127.0.0.1:{httpd.server_address[1]}"
    try:
        m = media.load(f"{base}/a.png", "input.image", 10**7, ("image",))
        assert m.data == png and m.kind == "image"
        with pytest.raises(JobError, match=r"^input.image: GET 127.0.0.1/missing.png answered HTTP 404"):
            media.decode(f"{base}/missing.png", "input.image", 10**7)
        with pytest.raises(JobError, match=r"^input.video: the file at 127.0.0.1/big.bin is over 0.001 MB"):
            media.decode(f"{base}/big.bin", "input.video", 1000)
    finally:
        httpd.shutdown()
        httpd.server_close()


# ---------------------------------------------------------------- issue 16: the new modes' media

NEW_IDS = ("flf2v", "flf2v_fast", "ti2v", "animate2", "animate2_distilled", "i2v_fast_motion", "t2v_fast_motion")


def _red_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (250, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def test_flf2v_takes_a_start_and_an_end_image(img: str) -> None:
    end = b64(_red_png())
    job = parse_job({"workflow": "flf2v_fast", "image": img, "end_image": end, "seed": 1, **TINY_JOB}, LIMITS)
    assert isinstance(job, TypedJob) and set(job.media) == {"image", "end_image"}
    assert job.media["end_image"].kind == "image" and job.media["image"].sha256 != job.media["end_image"].sha256
    names = {k: m.stored_name() for k, m in job.media.items()}
    p = typed_prompt(job, names)
    (flf,) = nodes_of(p, "WanFirstLastFrameToVideo")
    start_node, end_node = p[flf]["inputs"]["start_image"][0], p[flf]["inputs"]["end_image"][0]
    assert p[start_node]["inputs"]["image"] == names["image"]
    assert p[end_node]["inputs"]["image"] == names["end_image"]
    assert {k: p[flf]["inputs"][k] for k in ("width", "height", "length")} == {"width": 64, "height": 64, "length": 9}
    assert expected_frames(p) == 9


TINY_JOB = {"width": 64, "height": 64, "frames": 9}


@pytest.mark.parametrize("job, expect", [
    ({"workflow": "flf2v_fast", "image": "I"}, "input.end_image: workflow 'flf2v_fast' needs an end image"),
    ({"workflow": "flf2v", "end_image": "I"}, "input.image: workflow 'flf2v' needs an image"),
    ({"workflow": "i2v_fast", "image": "I", "end_image": "I"},
     "input.end_image: workflow 'i2v_fast' takes input.image; drop input.end_image"),
    ({"workflow": "t2v_fast", "end_image": "I"}, "input.end_image: workflow 't2v_fast' takes no input files"),
    ({"workflow": "flf2v_fast", "image": "I", "end_image": "W"}, "input.end_image: "),
    ({"workflow": "flf2v_fast", "image": "I", "end_image": "A"}, "input.end_image: "),
    ({"workflow": "flf2v_fast", "image": "I", "end_image": 5}, "input.end_image: expected a string"),
    ({"workflow": "flf2v_fast", "image": "I", "end_image": "I", "video": "V"},
     "input.video: workflow 'flf2v_fast' takes input.image and input.end_image"),
])
def test_flf2v_media_refused(img: str, job: dict[str, Any], expect: str) -> None:
    fill = {"I": img, "W": b64(b"not an image at all"), "A": b64(wav_bytes(0.5)), "V": b64(mp4_bytes())}
    raw = {k: fill.get(v, v) if isinstance(v, str) and k != "workflow" else v for k, v in job.items()}
    with pytest.raises(JobError) as e:
        parse_job(raw, LIMITS)
    assert str(e.value).startswith(expect), e.value
    if job.get("end_image") in ("W", "A"):
        assert "image" in str(e.value).split(":", 1)[1], e.value


def test_typed_keys_hold_every_media_key() -> None:
    from wan22.plan.modes import MEDIA, MODE_TABLE
    from wan22.serverless.jobs import TYPED_KEYS

    assert set(MEDIA) <= set(TYPED_KEYS) and all(set(m.media) <= set(MEDIA) for m in MODE_TABLE)


def test_ti2v_image_is_optional_and_others_are_refused(img: str) -> None:
    from wan22.serverless.jobs import _media

    assert _media({}, "ti2v", "ti2v", LIMITS) == {}
    assert set(_media({"image": img}, "ti2v", "ti2v", LIMITS)) == {"image"}
    with pytest.raises(JobError, match=r"^input.video: workflow 'ti2v' takes input.image; drop input.video"):
        _media({"video": b64(mp4_bytes())}, "ti2v", "ti2v", LIMITS)
    with pytest.raises(JobError, match=r"^input.end_image: workflow 'ti2v' takes input.image"):
        _media({"end_image": img}, "ti2v", "ti2v", LIMITS)


def test_ti2v_sides_are_multiples_of_32() -> None:
    from wan22.serverless.jobs import side

    assert side("width", 1280, LIMITS, mode_spec("ti2v").side_multiple) == 1280
    with pytest.raises(JobError, match=r"^input.height: 720 is not a multiple of 32 .*use 704 or 736"):
        side("height", 720, LIMITS, mode_spec("ti2v").side_multiple)


def test_animate2_needs_an_image_and_a_video(img: str) -> None:
    from wan22.serverless.jobs import _media

    got = _media({"image": img, "video": b64(mp4_bytes())}, "animate2", "animate2", LIMITS)
    assert {k: m.kind for k, m in got.items()} == {"image": "image", "video": "video"}
    with pytest.raises(JobError, match=r"^input.video: workflow 'animate2_distilled' needs a video"):
        _media({"image": img}, "animate2", "animate2_distilled", LIMITS)
    with pytest.raises(JobError, match=r"^input.video: got an image file, expected video"):
        _media({"image": img, "video": img}, "animate2", "animate2", LIMITS)


def _ti2v_like() -> dict[str, Any]:
    return {"1": {"class_type": "LoadImage", "inputs": {"image": "wan22_start.png"}},
            "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "width": 64, "height": 64}},
            "3": {"class_type": "Wan22ImageToVideoLatent", "inputs": {"vae": ["9", 0], "width": 64, "height": 64,
                                                                      "length": 9, "start_image": ["2", 0]}},
            "9": {"class_type": "VAELoader", "inputs": {"vae_name": "wan2.2_vae.safetensors"}}}


def test_a_ti2v_job_without_an_image_drops_the_start_image_cleanly() -> None:
    from wan22.serverless.build import drop_image

    p = _ti2v_like()
    drop_image(p, "1")
    assert set(p) == {"3", "9"} and "start_image" not in p["3"]["inputs"]
    bad = _ti2v_like()
    bad["3"]["class_type"] = "WanImageToVideo"
    with pytest.raises(Exception, match=r"node 3 \(WanImageToVideo\) needs input 'start_image'"):
        drop_image(bad, "1")


def test_new_latent_nodes_share_the_size_rule() -> None:
    from wan22.api import edits
    from wan22.serverless import build

    assert {"Wan22ImageToVideoLatent", "WanAnimate2ToVideo", "WanFirstLastFrameToVideo"} <= set(edits.SIZE_NODES)
    assert build.SIZE_NODES is edits.SIZE_NODES, "one home for the rule"


def _media_for(mode: str, img: str) -> dict[str, Any]:
    needs = mode_spec(mode).needs
    values = {"image": img, "end_image": b64(_red_png()), "audio": b64(m4a_bytes(1.0)), "video": b64(mp4_bytes())}
    return {k: values[k] for k in needs}


def _every_id() -> list[str]:
    from wan22.plan.presets import WORKFLOW_IDS

    return list(dict.fromkeys([*WORKFLOW_IDS, *NEW_IDS]))


@pytest.mark.parametrize("wid", _every_id())
def test_typed_prompt_for_every_workflow_id(wid: str, img: str) -> None:
    """Each workflow id's twin takes a typed job: its media, size and frames land on the graph."""
    from wan22.plan.presets import WORKFLOW_IDS, preset_for_workflow

    if wid not in WORKFLOW_IDS:
        pytest.skip(f"'{wid}' is not a workflow id yet (issue 16: its engineer adds the preset)")
    if not twin_path(wid).is_file():
        pytest.skip(f"no API twin for '{wid}' yet ({twin_path(wid).name})")
    mode = preset_for_workflow(wid).mode
    frames = 33 if mode == "s2v" else 9
    side_px = 64
    job = parse_job({"workflow": wid, **_media_for(mode, img), "seed": 5, "width": side_px, "height": side_px,
                     "frames": frames, "prompt": "p"}, LIMITS)
    assert isinstance(job, TypedJob)
    names = {k: m.stored_name() for k, m in job.media.items()}
    p = typed_prompt(job, names)
    from wan22.api.edits import SIZE_NODES
    from wan22.plan.modes import MEDIA
    from wan22.serverless.build import media_nodes

    for key, name in names.items():
        nodes = media_nodes(p, key, mode_spec(mode))
        assert nodes, f"{wid}: no {MEDIA[key].loader} for input.{key}"
        assert all(name in p[n]["inputs"].values() for n in nodes)
    sized = [n for ct in SIZE_NODES for n in nodes_of(p, ct)]
    assert sized, f"{wid}: the twin has none of the size nodes {SIZE_NODES}: set its mode's size_node in wan22/data/modes.json"
    for n in sized:
        assert p[n]["inputs"]["width"] == side_px and p[n]["inputs"]["height"] == side_px
    linked = {v[0] for n in p.values() for v in n["inputs"].values() if isinstance(v, list) and len(v) == 2}
    assert linked <= set(p), "every link points at a node of the prompt"
    assert expected_frames(p) == frames if mode != "animate" else expected_frames(p) > 0


# ---------------------------------------------------------------- issue 14: boot prefetch

def _volume(tmp_path: Path, size: int = 3 << 20) -> Path:
    """A models dir with the i2v_fast files (random bytes: the prefetcher reads bytes, not tensors)."""
    import os

    from wan22.catalog import BY_ROLE

    models = tmp_path / "models"
    for role in ("i2v_high", "i2v_low", "lora_i2v_high", "lora_i2v_low", "text_encoder", "vae"):
        e = BY_ROLE[role]
        (models / e.folder).mkdir(parents=True, exist_ok=True)
        (models / e.folder / e.name).write_bytes(os.urandom(size))
    return models


def _hashes(root: Path) -> dict[str, tuple[str, float]]:
    import hashlib

    return {str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_boot_prefetch_reads_the_default_workflow_in_need_order(tmp_path: Path) -> None:
    from wan22.serverless import boot_prefetch
    from wan22.volume.roots import resolve

    models = _volume(tmp_path)
    before = _hashes(models)
    cfg = resolve(models_dir=str(models))
    names = [n.name for n in boot_prefetch.boot_files("i2v_fast", cfg)]
    assert names == ["umt5_xxl_fp8_e4m3fn_scaled.safetensors", "wan_2.1_vae.safetensors",
                     "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
                     "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors",
                     "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
                     "wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors"], "text encoder, VAE, then high before low"
    bp = boot_prefetch.start("i2v_fast", cfg, {"WAN22_PREFETCH": "1"}, skip_cached=False)
    assert bp is not None
    report = bp.wait(30)
    assert report is not None and report.read_bytes == 6 * (3 << 20) and not report.stopped
    assert [f.status for f in report.files] == ["read"] * 6
    assert _hashes(models) == before, "nothing on the volume changes (bytes and mtimes)"


def test_boot_prefetch_switches(tmp_path: Path) -> None:
    from wan22.errors import Wan22Error
    from wan22.serverless import boot_prefetch
    from wan22.volume.roots import resolve

    cfg = resolve(models_dir=str(_volume(tmp_path, 4096)))
    assert boot_prefetch.start("i2v_fast", cfg, {"WAN22_PREFETCH": "0"}) is None, "WAN22_PREFETCH=0: off"
    assert boot_prefetch.start(None, cfg, {}) is None, "no default workflow: nothing"
    assert boot_prefetch.start("i2v_fast", cfg, {}) is None, "auto: a local disk is left to ComfyUI"
    assert boot_prefetch.default_workflow({"WAN22_DEFAULT_WORKFLOW": " i2v_fast "}) == "i2v_fast"
    assert boot_prefetch.default_workflow({}) is None
    with pytest.raises(Wan22Error, match=r"^WAN22_DEFAULT_WORKFLOW='i2v_fastt' is not a workflow id: use one of i2v, "):
        boot_prefetch.default_workflow({"WAN22_DEFAULT_WORKFLOW": "i2v_fastt"})


def test_boot_prefetch_skips_files_with_a_local_copy(tmp_path: Path) -> None:
    from wan22.prefetch.cache import KEY_SUFFIX, LocalCache, file_key
    from wan22.serverless import boot_prefetch
    from wan22.volume.roots import resolve

    models = _volume(tmp_path, 4096)
    cache = LocalCache(tmp_path / "cache")
    vae = models / "vae" / "wan_2.1_vae.safetensors"
    copy = cache.copy_path("vae", vae.name)
    copy.parent.mkdir(parents=True)
    copy.write_bytes(vae.read_bytes())
    copy.with_name(copy.name + KEY_SUFFIX).write_text(json.dumps(file_key(str(vae))))
    assert cache.lookup("vae", vae.name, str(vae)), "the test's copy is valid"
    bp = boot_prefetch.start("i2v_fast", resolve(models_dir=str(models)),
                             {"WAN22_PREFETCH": "1", "WAN22_LOCAL_CACHE": str(tmp_path / "cache")})
    assert bp is not None and vae.name not in [n.name for n in bp.needed] and len(bp.needed) == 5
    bp.wait(30)


def test_boot_prefetch_is_cancellable(tmp_path: Path) -> None:
    import threading

    from wan22.serverless import boot_prefetch
    from wan22.volume.roots import resolve

    models = _volume(tmp_path, 4 << 20)
    gate = threading.Event()

    def slow(_job: Any, _f: Any, _n: int) -> None:
        gate.wait(5)

    bp = boot_prefetch.start("i2v_fast", resolve(models_dir=str(models)), {"WAN22_PREFETCH": "1"},
                             skip_cached=False, chunk_bytes=1 << 20, streams=1, progress=slow)
    assert bp is not None
    bp.cancel("test")
    gate.set()
    report = bp.wait(30)
    assert report is not None and report.stopped == "cancelled"
    assert report.read_bytes < 6 * (4 << 20) and "cancelled" in [f.status for f in report.files]


def test_a_job_for_another_workflow_cancels_the_boot_prefetch(tmp_path: Path) -> None:
    import threading

    from wan22.serverless import boot_prefetch
    from wan22.serverless.worker import Worker, WorkerConfig
    from wan22.volume.roots import resolve

    gate = threading.Event()
    bp = boot_prefetch.start("i2v_fast", resolve(models_dir=str(_volume(tmp_path, 2 << 20))), {"WAN22_PREFETCH": "1"},
                             skip_cached=False, chunk_bytes=1 << 20, streams=1, progress=lambda *_a: gate.wait(5))
    w = Worker(WorkerConfig(comfy_url="http://127.0.0.1:9", default_workflow="i2v_fast"))
    w.prefetch = bp
    w.readiness = Readiness.from_report({"workflows": {"t2v_fast": {"ready": False, "blocking": []}}}, "test")
    out = w.handle({"id": "j1", "input": {"workflow": "t2v_fast"}})
    assert out["error"].startswith("input.workflow: 't2v_fast' cannot run on this worker")
    gate.set()
    assert bp is not None and bp.job.cancelled
    report = bp.wait(30)
    assert report is not None and report.stopped == "cancelled"


def test_ti2v_twin_with_and_without_an_image(img: str) -> None:
    from wan22.plan.presets import WORKFLOW_IDS

    if "ti2v" not in WORKFLOW_IDS or not twin_path("ti2v").is_file():
        pytest.skip("no ti2v workflow or twin yet (issue 16)")
    bare = parse_job({"workflow": "ti2v", "seed": 1, "width": 64, "height": 64, "frames": 9}, LIMITS)
    assert isinstance(bare, TypedJob) and bare.media == {}
    p = typed_prompt(bare, {})
    (lat,) = nodes_of(p, "Wan22ImageToVideoLatent")
    assert not nodes_of(p, "LoadImage") and "start_image" not in p[lat]["inputs"], "pure T2V: no start image"
    assert expected_frames(p) == 9
    with_img = parse_job({"workflow": "ti2v", "image": img, "seed": 1, "width": 64, "height": 64, "frames": 9}, LIMITS)
    assert isinstance(with_img, TypedJob)
    q = typed_prompt(with_img, {"image": with_img.media["image"].stored_name()})
    (load,) = nodes_of(q, "LoadImage")
    assert q[load]["inputs"]["image"] == with_img.media["image"].stored_name()
    assert q[lat]["inputs"]["start_image"] == [load, 0]
    with pytest.raises(JobError, match=r"^input.width: 48 is not a multiple of 32"):
        parse_job({"workflow": "ti2v", "width": 48}, LIMITS)


def test_run_client_sends_the_end_image(tmp_path: Path) -> None:
    from wan22.cli import build_parser

    start, end = tmp_path / "a.png", tmp_path / "b.png"
    start.write_bytes(png_bytes())
    end.write_bytes(_red_png())
    a = build_parser().parse_args(["run", "flf2v_fast", "--endpoint", "x", "--image", str(start), "--end-image", str(end)])
    body = typed_input(a.workflow, {"image": a.image, "end_image": a.end_image}, {})
    assert body == {"workflow": "flf2v_fast", "image": b64(png_bytes()), "end_image": b64(_red_png())}
    assert isinstance(parse_job(body, LIMITS), TypedJob), "what the client sends, the worker takes"


def test_progress_stage_names_follow_the_plan() -> None:
    from wan22.plan.routing import make_plan, stage_names

    assert stage_names(make_plan("i2v", "fast_motion").stages) == ("base", "high", "low")
    assert stage_names(make_plan("i2v", "fast").stages) == ("high", "low")
    assert stage_names(make_plan("s2v", "quality").stages) == ("model",)
