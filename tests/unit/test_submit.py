"""`python -m wan22 submit` and the api wing's Client against stub ComfyUIs on 127.0.0.1:
pre-flight lists every problem and sends nothing, uploads/queue/poll/download, the RunPod request
body (http.server in a thread, no websocket: the /history polling path), and following a prompt
over a real websocket (an aiohttp server, the library ComfyUI's own server runs on, sending
ComfyUI's event sequence) with progress reaching the callbacks and the tqdm bar."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support.comfy_stub import WsComfy

from wan22.api.client import Client, Step, SubmitError
from wan22.api.edits import positive_text_nodes, strip_seeds
from wan22.api.preflight import PACK_NODE_IDS, missing_node_hint, preflight
from wan22.api.progress import NodeProgress, ProgressBar, prompt_stages
from wan22.api.runpod import runpod_body
from wan22.api.submit import SubmitOptions, submit
from wan22.cli import main

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = json.loads((REPO / "tests" / "fixtures" / "object_info.json").read_text())
API = REPO / "example_workflows" / "api"
T2V_LORA_HIGH = "wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors"


class StubComfy:
    """Answers like ComfyUI: /object_info, /upload/image, /prompt, /history/<id>, /view."""

    def __init__(self, upload_rename: str | None = None, reject: dict[str, Any] | None = None,
                 object_info: dict[str, Any] | None = None) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self.object_info = object_info if object_info is not None else SNAPSHOT
        self.upload_rename = upload_rename
        self.reject = reject
        self.queued: dict[str, Any] = {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, status: int, body: Any, ctype: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                stub.requests.append(("GET", self.path, b""))
                if self.path == "/object_info":
                    return self._send(200, stub.object_info)
                if self.path.startswith("/history/"):
                    pid = self.path.rsplit("/", 1)[1]
                    if pid not in stub.queued:
                        return self._send(200, {})
                    entry = {"prompt": [0, pid, stub.queued[pid]],
                             "outputs": {"11": {"images": [{"filename": "i2v_fast_00001_.mp4", "subfolder": "wan22",
                                                            "type": "output"}], "animated": [True]},
                                         "3": {"text": ["Wan 2.2 i2v / fast: 4 steps"]}},
                             "status": {"status_str": "success", "completed": True, "messages": []}}
                    return self._send(200, {pid: entry})
                if self.path.startswith("/view?"):
                    return self._send(200, b"\x00\x00\x00\x18ftypmp42 fake video", "video/mp4")
                return self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stub.requests.append(("POST", self.path, body))
                if self.path == "/upload/image":
                    name = body.split(b'filename="', 1)[1].split(b'"', 1)[0].decode()
                    return self._send(200, {"name": stub.upload_rename or name, "subfolder": "", "type": "input"})
                if self.path == "/prompt":
                    if stub.reject is not None:
                        return self._send(400, stub.reject)
                    payload = json.loads(body)
                    stub.queued["pid-1"] = payload["prompt"]
                    return self._send(200, {"prompt_id": "pid-1", "number": 0, "node_errors": {}})
                return self._send(404, {"error": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def posts(self) -> list[tuple[str, bytes]]:
        return [(p, b) for m, p, b in self.requests if m == "POST"]


@pytest.fixture
def stub() -> Iterator[StubComfy]:
    s = StubComfy()
    s.thread.start()
    yield s
    s.server.shutdown()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    p = tmp_path / "my start.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    return p


def write(tmp_path: Path, prompt: dict[str, Any], name: str = "wf.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(prompt))
    return p


def twin(stem: str) -> dict[str, Any]:
    return json.loads((API / f"{stem}.json").read_text())


def by_type(prompt: dict[str, Any], ctype: str) -> str:
    return next(k for k, v in prompt.items() if v["class_type"] == ctype)


# ----------------------------------------------------------------------------- pre-flight

def test_preflight_lists_every_problem_at_once_and_sends_nothing(stub: StubComfy, image: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    p = twin("wan22_i2v_fast")
    p[by_type(p, "Wan22BundleLoader")]["inputs"]["high_noise_model"] = "wan2.2_i2v_high_noise_14B_fp16.safetensors"
    p[by_type(p, "VAEDecode")]["class_type"] = "VAEDecodeHyper"
    p[by_type(p, "Wan22ModeRouter")]["inputs"]["lora_high"] = T2V_LORA_HIGH
    rc = main(["submit", str(write(tmp_path, p)), "--server", stub.url, "--image", str(image), "--wait",
               "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "3 problem(s)" in err and "nothing was uploaded or queued" in err
    assert "high_noise_model: 'wan2.2_i2v_high_noise_14B_fp16.safetensors' is not in diffusion_models" in err
    assert "closest existing: 'wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors'" in err
    assert "(VAEDecodeHyper): node type is not installed on the server" in err
    assert f"{T2V_LORA_HIGH} is a T2V LoRA but the high-noise expert is I2V" in err
    assert stub.posts == []
    assert not (tmp_path / "out").exists()


def test_preflight_checks_local_inputs_and_router_bundle_pairing(stub: StubComfy, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    p = twin("wan22_i2v_fast")
    p[by_type(p, "Wan22BundleLoader")]["inputs"]["mode"] = "s2v"
    p[by_type(p, "WanImageToVideo")]["inputs"]["width"] = 100000
    rc = main(["submit", str(write(tmp_path, p)), "--server", stub.url, "--image", str(tmp_path / "nope.png"),
               "--audio", str(tmp_path / "nope.wav")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "--image" in err and "nope.png: no such file" in err
    assert "--audio: the workflow has no LoadAudio node" in err
    assert "set both to the same mode" in err
    assert "'width': 100000 is above the maximum 16384" in err
    assert stub.posts == []


def test_missing_pack_nodes_name_the_pack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = StubComfy(object_info={k: v for k, v in SNAPSHOT.items() if k not in PACK_NODE_IDS})  # a server without the pack
    s.thread.start()
    try:
        assert main(["submit", str(API / "wan22_volume_check.json"), "--server", s.url]) == 1
    finally:
        s.server.shutdown()
    err = capsys.readouterr().err
    assert "(Wan22VolumeInventory): node type is not installed on the server: install this pack (ComfyUI-Wan22)" in err


# ----------------------------------------------------------------------------- the happy path

def test_upload_queue_poll_download(tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = StubComfy(upload_rename="my start (1).png")
    s.thread.start()
    try:
        rc = main(["submit", str(API / "wan22_i2v_fast.json"), "--server", s.url.replace("http://", ""),
                   "--image", str(image), "--prompt", "a cat waves", "--seed", "7", "--wait", "--out", str(tmp_path / "out")])
    finally:
        s.server.shutdown()
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert [p for p, _ in s.posts] == ["/upload/image", "/prompt"]
    upload = s.posts[0][1]
    assert b'name="image"; filename="my start.png"' in upload and b"not really a png" in upload
    payload = json.loads(s.posts[1][1])
    sent = payload["prompt"]
    assert payload["client_id"]
    assert sent[by_type(sent, "LoadImage")]["inputs"]["image"] == "my start (1).png"  # the name the server chose
    assert sent[positive_text_nodes(sent)[0]]["inputs"]["text"] == "a cat waves"
    assert sent[by_type(sent, "Wan22MoESampler")]["inputs"]["seed"] == 7
    saved = tmp_path / "out" / "wan22" / "i2v_fast_00001_.mp4"
    assert saved.read_bytes().startswith(b"\x00\x00\x00\x18ftyp")
    assert f"saved {saved}" in out.out
    assert "Wan 2.2 i2v / fast: 4 steps" in out.out  # text outputs are printed
    assert "websocket unavailable" in out.err  # the stub has no /ws: polling took over


def test_ui_workflow_is_converted_with_the_servers_object_info(stub: StubComfy, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["submit", str(REPO / "example_workflows" / "wan22_t2v_fast.json"), "--server", stub.url])
    assert rc == 0, capsys.readouterr().err
    sent = json.loads(stub.posts[-1][1])["prompt"]
    assert strip_seeds(sent) == strip_seeds(twin("wan22_t2v_fast"))


def test_refused_prompt_shows_node_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = StubComfy(reject={"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                                    "details": ""},
                          "node_errors": {"2": {"errors": [{"message": "Value not in list",
                                                            "details": "vae: 'x' not in [...]"}],
                                                "class_type": "Wan22BundleLoader"}}})
    s.thread.start()
    try:
        rc = main(["submit", str(API / "wan22_t2v_fast.json"), "--server", s.url, "--no-preflight"])
    finally:
        s.server.shutdown()
    err = capsys.readouterr().err
    assert rc == 1
    assert "ComfyUI refused the prompt" in err and "node 2 (Wan22BundleLoader): Value not in list: vae" in err


def test_unreachable_server_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    assert main(["submit", str(API / "wan22_t2v_fast.json"), "--server", f"127.0.0.1:{port}"]) == 1
    assert "cannot reach ComfyUI" in capsys.readouterr().err


# ----------------------------------------------------------------------------- RunPod

def test_runpod_request_body_with_image_and_audio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = tmp_path / "ref.png"
    img.write_bytes(b"PNGDATA")
    wav = tmp_path / "voice.wav"
    wav.write_bytes(b"RIFF....WAVEfmt ")
    out = tmp_path / "req.json"
    with socket.socket() as sk:  # a port nobody listens on: the body is written offline
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    rc = main(["submit", str(API / "wan22_s2v_fast.json"), "--server", f"127.0.0.1:{port}", "--image", str(img),
               "--audio", str(wav), "--prompt", "she sings", "--runpod-request", str(out)])
    std = capsys.readouterr()
    assert rc == 0, std.err
    body = json.loads(out.read_text())
    assert set(body) == {"input"} and set(body["input"]) == {"workflow", "images"}
    wf = body["input"]["workflow"]
    ref = hashlib.sha256(b"PNGDATA").hexdigest()[:10] + "_ref.png"  # content-addressed: safe on a warm worker
    voice = hashlib.sha256(b"RIFF....WAVEfmt ").hexdigest()[:10] + "_voice.wav"
    assert wf[by_type(wf, "LoadImage")]["inputs"]["image"] == ref
    assert wf[by_type(wf, "LoadAudio")]["inputs"]["audio"] == voice
    assert wf[positive_text_nodes(wf)[0]]["inputs"]["text"] == "she sings"
    images = {i["name"]: base64.b64decode(i["image"]) for i in body["input"]["images"]}
    assert images == {ref: b"PNGDATA", voice: b"RIFF....WAVEfmt "}
    assert "skipped the server preflight" in std.err
    assert f"{voice} travels in input.images" in std.out


def test_runpod_request_runs_preflight_when_a_server_answers(stub: StubComfy, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    p = twin("wan22_i2v_fast")
    p[by_type(p, "Wan22ModeRouter")]["inputs"]["lora_low"] = T2V_LORA_HIGH
    out = tmp_path / "req.json"
    rc = main(["submit", str(write(tmp_path, p)), "--server", stub.url, "--runpod-request", str(out)])
    assert rc == 1 and not out.exists()
    assert "is a T2V LoRA" in capsys.readouterr().err
    assert stub.posts == []


def test_runpod_body_without_files_has_no_images_key() -> None:
    assert runpod_body({"1": {"class_type": "X", "inputs": {}}}, []) == {"input": {"workflow": {"1": {"class_type": "X", "inputs": {}}}}}




# ----------------------------------------------------------------------------- missing-node hints

def test_missing_node_hint_names_this_pack_only_for_its_own_node_ids() -> None:
    registered = set()
    for path in (REPO / "nodes").glob("*.py"):
        text = path.read_text()
        registered |= {part.split('"', 1)[0] for part in text.split('node_id="')[1:]}
        registered |= {line.split('"')[1] for line in text.splitlines() if line.startswith('NODE = "')}
    assert registered == PACK_NODE_IDS  # the hint list is the pack's real node ids
    for nid in PACK_NODE_IDS:
        assert "ComfyUI-Wan22" in missing_node_hint(nid)
    # core ComfyUI ships these (comfy_extras/nodes_wan.py): a prefix match sent users to this pack
    for core in ("Wan22FunControlToVideo", "Wan22ImageToVideoLatent", "Wan22Something"):
        hint = missing_node_hint(core)
        assert "ComfyUI-Wan22" not in hint and "update ComfyUI if it is a core node" in hint


def test_preflight_on_an_old_comfyui_without_a_core_wan22_node_says_update_comfyui() -> None:
    p = twin("wan22_i2v_fast")
    p[by_type(p, "WanImageToVideo")]["class_type"] = "Wan22ImageToVideoLatent"
    old = {k: v for k, v in SNAPSHOT.items() if k != "Wan22ImageToVideoLatent"}  # a ComfyUI from before it
    problems = preflight(p, old)
    [line] = [q for q in problems if "Wan22ImageToVideoLatent" in q]
    assert "not installed on the server: update ComfyUI if it is a core node" in line


# ----------------------------------------------------------------------------- progress bar

def _events(sampler: str) -> list[dict[str, Any]]:
    return [{"type": "execution_cached", "data": {"nodes": ["1"]}},
            {"type": "executing", "data": {"node": sampler}},
            {"type": "progress", "data": {"value": 1, "max": 4, "node": sampler}},
            {"type": "progress", "data": {"value": 1, "max": 4, "node": sampler}},
            {"type": "progress", "data": {"value": 4, "max": 4, "node": sampler}}]


def test_progress_lines_in_a_log() -> None:
    prompt = {"1": {"class_type": "A", "inputs": {}}, "2": {"class_type": "Wan22MoESampler", "inputs": {}}}
    buf = io.StringIO()
    bar = ProgressBar(prompt, buf)
    for msg in _events("2"):
        bar.event(msg)
    bar.finish()
    lines = buf.getvalue().splitlines()
    assert "\r" not in buf.getvalue()
    assert any("node 2 Wan22MoESampler 1/4" in line and " 25%" in line for line in lines)
    assert sum("1/4" in line for line in lines) == 1  # repeated events are not repeated in a log
    assert "100%" in lines[-1] and "########################" in lines[-1]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_redraws_in_place() -> None:
    prompt = {"1": {"class_type": "A", "inputs": {}}, "2": {"class_type": "Wan22MoESampler", "inputs": {}}}
    term = _Terminal()
    bar = ProgressBar(prompt, term)
    for msg in _events("2"):
        bar.event(msg)
    bar.finish()
    text = term.getvalue()
    assert text.count("\r") >= 2 and text.endswith("\n") and text.count("\n") == 1
    assert "node 2 Wan22MoESampler 1/4" in text
    assert "100%" in text.rsplit("\r", 1)[-1]


# ----------------------------------------------------------------------------- a real websocket

TINY = {"1": {"class_type": "A", "inputs": {}}, "5": {"class_type": "Wan22MoESampler", "inputs": {}}}


def test_client_run_follows_the_websocket_and_reports_each_sampler_step() -> None:
    events: list[dict[str, Any]] = []
    steps: list[Step] = []
    with WsComfy(steps=3) as s:
        pid, entry = Client(s.url, timeout=10).run(TINY, timeout=30, on_event=events.append, on_progress=steps.append)
    assert pid == "pid-1" and entry["status"]["status_str"] == "success"
    assert steps == [Step("5", 1, 3), Step("5", 2, 3), Step("5", 3, 3)]  # the other prompt's step is not ours
    kinds = [e["type"] for e in events]
    assert kinds[0] == "status"  # no prompt_id: passed on
    assert kinds[1:9] == ["execution_start", "execution_cached", "executing", "progress", "progress", "progress",
                          "executed", "executing"]
    assert kinds[9:] in ([], ["execution_success"])  # /history may answer before the last event arrives
    assert all(e["data"].get("prompt_id") in (None, pid) for e in events)


def test_client_falls_back_to_polling_when_the_websocket_drops() -> None:
    steps: list[Step] = []
    with WsComfy(drop_after_first_step=True) as s:
        _pid, entry = Client(s.url, timeout=10).run(TINY, timeout=30, on_progress=steps.append)
    assert steps == [Step("5", 1, 2)]  # the rest came after the drop: /history told the end
    assert entry["status"]["completed"] is True


def test_client_follow_times_out_with_the_history_url() -> None:
    with WsComfy() as s:
        c = Client(s.url)
        ws = c.connect_events()
        t0 = time.monotonic()
        with pytest.raises(SubmitError, match=r"did not finish within 0.5 s .*history/nope"):
            c.follow("nope", 0.5, ws)
        assert time.monotonic() - t0 < 5
        ws.close()


def test_client_queue_interrupt_upload_and_view() -> None:
    with WsComfy() as s:
        c = Client(s.url.replace("http://", "") + "/")
        assert c.url == s.url and c.ws_url() == s.url.replace("http://", "ws://") + f"/ws?clientId={c.client_id}"
        assert c.queue_state() == {"queue_running": [], "queue_pending": []}
        c.interrupt("pid-9")
        c.interrupt()
        assert s.interrupted == [{"prompt_id": "pid-9"}, {}]
        assert c.upload_bytes("voice.wav", b"RIFF", overwrite=True) == "voice.wav"
        assert json.loads(s.posts[-1][1]) == {"overwrite": "true", "image": "voice.wav"}
        assert c.view({"filename": "a.mp4", "subfolder": "", "type": "output"}).endswith(b"a.mp4")


def test_submit_wait_follows_the_websocket_with_a_progress_bar(tmp_path: Path, image: Path) -> None:
    out: list[str] = []
    err: list[str] = []
    log = io.StringIO()
    with WsComfy() as s:
        opts = SubmitOptions(workflow=str(API / "wan22_i2v_fast.json"), server=s.url, image=str(image), seed=3, wait=True,
                             out=str(tmp_path / "out"), timeout=60)
        rc = submit(opts, out.append, err.append, progress=lambda prompt: ProgressBar(prompt, log))
    assert rc == 0, err
    assert not any("websocket unavailable" in e for e in err)
    assert out[0] == f"uploaded image {image} -> input/{image.name}" and out[1].startswith("queued ")
    saved = tmp_path / "out" / "out_00001_.mp4"
    assert out[-1] == f"saved {saved}" and saved.read_bytes().endswith(b"out_00001_.mp4")  # the temp preview is not saved
    bar = log.getvalue().splitlines()
    assert any("Wan22MoESampler high 1/2" in line and " 50%" not in line for line in bar)
    assert "100%" in bar[-1]


def test_submit_without_callbacks_for_err_and_progress_sends_everything_to_out(stub: StubComfy, tmp_path: Path) -> None:
    lines: list[str] = []
    p = twin("wan22_t2v_fast")
    p[by_type(p, "VAEDecode")]["class_type"] = "VAEDecodeHyper"
    assert submit(SubmitOptions(workflow=str(write(tmp_path, p)), server=stub.url), lines.append) == 1
    assert lines[0].startswith("preflight: 1 problem(s)") and "VAEDecodeHyper" in lines[1]
    assert stub.posts == []


def test_progress_of_a_two_expert_sampler_never_runs_backwards_and_names_the_stages() -> None:
    """The MoE sampler runs one KSampler per expert: its step counter restarts at the hand-off.
    The bar must not fall back (65% -> 70% -> 65% -> 70% before) and the label names the stage."""
    prompt = {"router": {"class_type": "Wan22ModeRouter", "inputs": {"mode": "i2v", "preset": "fast"}},
              "9": {"class_type": "Wan22MoESampler", "inputs": {"plan": ["router", 8]}},
              "save": {"class_type": "SaveVideo", "inputs": {}}}
    state = NodeProgress(prompt, stages=prompt_stages(prompt))
    assert state.stages == {"9": ("high", "low")}
    state.event({"type": "executing", "data": {"node": "9"}})
    seen, labels = [], []
    for value in (1, 2, 1, 2):
        state.event({"type": "progress", "data": {"value": value, "max": 2, "node": "9"}})
        seen.append(state.fraction())
        labels.append(state.label())
    assert seen == sorted(seen) and seen[-1] > seen[1] > seen[0], seen
    assert labels[2] == "node 9 Wan22MoESampler high 2/2, low 1/2"
    assert labels[3] == "node 9 Wan22MoESampler high 2/2, low 2/2"


def test_progress_stages_without_a_plan_read_stage_n() -> None:
    prompt = {"9": {"class_type": "KSamplerLike", "inputs": {}}}
    state = NodeProgress(prompt)
    for value in (1, 3, 1):
        state.event({"type": "progress", "data": {"value": value, "max": 3, "node": "9"}})
    assert state.label() == "node 9 KSamplerLike stage 1 3/3, stage 2 1/3"
    bar_text = io.StringIO()
    bar = ProgressBar({"router": {"class_type": "Wan22ModeRouter", "inputs": {"mode": "i2v", "preset": ["x", 0]}},
                       "9": {"class_type": "Wan22MoESampler", "inputs": {"plan": ["router", 8]}}}, bar_text)
    assert bar.state.stages == {}  # a linked preset: no plan to name the stages from
