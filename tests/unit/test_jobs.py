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
from worker_jobs import b64, bad_jobs, m4a_bytes, mp4_bytes, png_bytes, wav_bytes

from wan22.api.edits import expected_frames
from wan22.api.widgets import nodes_of
from wan22.serverless import media
from wan22.serverless.build import load_twin, s2v_chain, stock_prompt, twin_path, typed_prompt
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
    from wan22.plan.routing import WORKFLOW_IDS

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


@pytest.mark.parametrize("frames, lengths", [(33, [33]), (89, [77, 9]), (197, [77, 77, 37])])
def test_s2v_chain_follows_the_chunk_plan(frames: int, lengths: list[int]) -> None:
    p = load_twin("s2v_fast")
    assert s2v_chain(p, frames) == lengths
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
