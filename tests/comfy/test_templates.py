"""ComfyUI's official Wan 2.2 templates against a real `main.py --cpu` on the demo volume.

- `submit` takes the template files as they are (UI format, subgraphs): converted with the live
  /object_info, resized by --width/--height/--frames, preflighted against the live server (every
  model, input and link), written as a RunPod request without running;
- the I2V, FLF2V and S2V templates run through `submit --wait` at 64x64 and 9 frames and write
  mp4s with the frames their graph says. They run with the demo volume's precomputed text
  conditioning in place of CLIPTextEncode (edits.use_precomputed_conditioning, as every run in
  this tier): ComfyUI builds the full 11 GB umT5-XXL around the stand-in and one encode takes
  minutes on a 2-core machine (measured: the I2V template as it is, 5 min 55 s);
- POST /wan22/inventory/workflow judges a template on ComfyUI's own folders, names the nodes at
  fault, lists node types the server lacks, and refuses what is not a workflow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.harness import video_info

from wan22.api.edits import expected_frames, use_precomputed_conditioning
from wan22.demo.inputs import speech_wav
from wan22.demo.server import start_image
from wan22.graph.convert import ui_to_api
from wan22.graph.templates import load_template, templates_available

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(templates_available() is not None, reason=str(templates_available()))
TINY = ["--width", "64", "--height", "64", "--frames", "9"]
# Per template: the files to upload, and the hand-off to move with --steps 4 (the experts' split
# sits at step 10 of 20 in the 14B templates; S2V's 4-step LoRA graph has one sampler per chunk).
RUNS: dict[str, list[str]] = {
    "video_wan2_2_14B_i2v": ["--steps", "4", "--set", "129:86.end_at_step=2", "--set", "129:85.start_at_step=2"],
    "video_wan2_2_14B_flf2v": ["--steps", "4", "--set", "84.end_at_step=2", "--set", "87.start_at_step=2"],
    "video_wan2_2_14B_s2v": [],
}


def cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wan22", *args], cwd=str(REPO), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tpl_inputs")
    return {"image": Path(start_image(str(d / "tpl_start.png"), size=64)),
            "audio": Path(speech_wav(str(d / "tpl_speech.wav"), seconds=3.0))}


def uploads(name: str, inputs: dict[str, Path]) -> list[str]:
    return ["--image", str(inputs["image"])] + (["--audio", str(inputs["audio"])] if "s2v" in name else [])


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("name", list(RUNS))
def test_submit_takes_the_template_as_it_is(comfy_server: Any, inputs: dict[str, Path], tmp_path: Path, name: str) -> None:
    tpl = write(tmp_path / f"{name}.json", load_template(name))
    req = tmp_path / "request.json"
    r = cli("submit", str(tpl), "--server", comfy_server.url, *uploads(name, inputs), *TINY, *RUNS[name],
            "--runpod-request", str(req))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "preflight" not in r.stderr, r.stderr
    prompt = json.loads(req.read_text())["input"]["workflow"]
    converted = ui_to_api(load_template(name), comfy_server.get("/object_info"))
    assert set(prompt) == set(converted)  # the conversion with the live server's node definitions
    sizes = [v["inputs"] for v in prompt.values() if v["class_type"].startswith("Wan") and "width" in v["inputs"]]
    assert sizes and all((s["width"], s["height"]) == (64, 64) for s in sizes)
    assert "set node" in r.stderr and "width 640 -> 64" in r.stderr  # each edit is reported
    assert expected_frames(prompt) == (9 if "s2v" not in name else 34)


@pytest.mark.parametrize("name", list(RUNS))
def test_template_runs_through_submit_and_writes_an_mp4(comfy_server: Any, inputs: dict[str, Path], tmp_path: Path,
                                                        name: str) -> None:
    prompt = use_precomputed_conditioning(ui_to_api(load_template(name), comfy_server.get("/object_info")))
    wf = write(tmp_path / f"{name}_api.json", prompt)
    out = tmp_path / "out"
    r = cli("submit", str(wf), "--server", comfy_server.url, *uploads(name, inputs), *TINY, *RUNS[name], "--seed", "7",
            "--wait", "--out", str(out), "--timeout", "600")
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    videos = list(out.rglob("*.mp4"))
    assert len(videos) == 1, r.stdout
    info = video_info(videos[0])
    assert (info["width"], info["height"]) == (64, 64)
    # 9 frames; S2V: three chunks of 9 (3 latent frames each), the reference latent cut in front
    # and ImageFromBatch dropping the first 3 frames: 4 * (1 + 9 - 1) + 1 - 3
    assert info["frames"] == (9 if "s2v" not in name else 34)


def post(server: Any, body: bytes, query: str = "") -> tuple[int, Any]:
    status, raw = server.client.request("POST", f"/wan22/inventory/workflow{query}", body,
                                        {"Content-Type": "application/json"}, timeout=120)
    return status, json.loads(raw)


def test_the_route_judges_templates_on_comfyuis_folders(comfy_server: Any) -> None:
    status, body = post(comfy_server, json.dumps(load_template("video_wan2_2_14B_i2v")).encode())
    assert status == 200 and body["ready"] is True and body["nodes_at_fault"] == []
    st = body["workflows"]["workflow"]
    assert len(st["stand_ins"]) == 6 and {f["status"] for f in body["files"]} == {"stand_in"}
    status, body = post(comfy_server, json.dumps(load_template("video_wan2_2_14B_fun_camera")).encode())
    assert status == 200 and body["ready"] is False
    st = body["workflows"]["workflow"]
    assert {(b["name"], b["status"], tuple(b["nodes"])) for b in st["blocking"]} == {
        ("wan2.2_fun_camera_high_noise_14B_fp8_scaled.safetensors", "missing", ("92",)),
        ("wan2.2_fun_camera_low_noise_14B_fp8_scaled.safetensors", "missing", ("95",))}
    assert body["nodes_at_fault"] == ["92", "95"]
    assert "strict" not in body["workflows"]  # the one key is the workflow's
    status, body = post(comfy_server, json.dumps(load_template("video_wan2_2_14B_i2v")).encode(), "?strict=1")
    assert status == 200 and body["ready"] is False


def test_the_route_lists_node_types_the_server_lacks(comfy_server: Any) -> None:
    wf = load_template("video_wan2_2_14B_flf2v")
    loader = next(n for n in wf["nodes"] if n["type"] == "UNETLoader" and n["mode"] == 0)
    loader["type"] = "UnetLoaderGGUF"
    status, body = post(comfy_server, json.dumps(wf).encode())
    st = body["workflows"]["workflow"]
    assert status == 200 and body["ready"] is False
    node_types = [b for b in st["blocking"] if b["role"] == "node_type"]
    assert [(b["name"], b["nodes"]) for b in node_types] == [("UnetLoaderGGUF", [str(loader["id"])])]
    assert "ComfyUI-GGUF" in node_types[0]["hint"] and st["unknown_nodes"][0]["pack"]["name"] == "ComfyUI-GGUF"


def test_the_route_refuses_what_is_not_a_workflow(comfy_server: Any) -> None:
    assert post(comfy_server, b"{not json")[0] == 400
    status, body = post(comfy_server, json.dumps({"hello": 1}).encode())
    assert status == 400 and "not a ComfyUI workflow" in body["error"]
    status, body = post(comfy_server, b"{}", "?path=/etc")
    assert status == 400 and "never takes a path" in body["error"]
    status, body = post(comfy_server, b" " * (16 * 1024 * 1024 + 10))
    assert status == 413 and "larger than 16 MiB" in body["error"]


def test_the_route_reads_a_body_that_arrives_in_pieces(comfy_server: Any) -> None:
    """A slow client (or a loaded machine) delivers the body in several TCP segments; the route must
    judge the whole workflow, not what had arrived when it started reading."""
    import http.client
    import time

    body = json.dumps(load_template("video_wan2_2_14B_fun_camera")).encode()
    conn = http.client.HTTPConnection("127.0.0.1", comfy_server.port, timeout=120)  # loopback only
    try:
        conn.putrequest("POST", "/wan22/inventory/workflow")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        for i in range(0, len(body), 4096):
            conn.send(body[i:i + 4096])
            time.sleep(0.02)
        resp = conn.getresponse()
        status, got = resp.status, json.loads(resp.read())
    finally:
        conn.close()
    assert status == 200, got
    assert got["ready"] is False and got["nodes_at_fault"] == ["92", "95"]


def test_the_route_reads_every_prompt_shape_with_one_file_list(comfy_server: Any) -> None:
    """An API prompt, a queue item and a RunPod body of the bundle/router graph: one verdict, one
    file list (the bundle's files for its mode, the router's LoRAs for its preset), its shape named."""
    prompt = json.loads((REPO / "example_workflows" / "api" / "wan22_i2v_fast.json").read_text())
    seen = []
    for shape, body in (("api", prompt), ("queue-item", [7, "a1b2", prompt, {}, ["11"]]),
                        ("runpod-body", {"input": {"workflow": prompt}})):
        status, got = post(comfy_server, json.dumps(body).encode())
        assert status == 200, got
        st = got["workflows"]["workflow"]
        assert st["shape"] == shape and st["unjudged"] == []
        seen.append((got["ready"], sorted((f["folder"], f["name"]) for f in got["files"])))
    assert seen[0] == seen[1] == seen[2] and len(seen[0][1]) == 6
