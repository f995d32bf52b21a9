"""Shared pieces of the browser tier: where chromium and playwright-core are, why the tier cannot
run, the router settings it drives, and the results of the one driver run (drive.mjs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ARTIFACTS = Path(os.environ.get("WAN22_BROWSER_ARTIFACTS", HERE / "artifacts"))
NODE_MODULES = HERE / "node_modules"
DRIVER = HERE / "drive.mjs"
DRIVER_TIMEOUT = float(os.environ.get("WAN22_BROWSER_TIMEOUT", "900"))

# Router widget settings the preview is driven through, each checked against `python -m wan22 plan`.
# (id, widgets, CLI arguments, screenshot or None)
PLAN_CASES: list[tuple[str, dict[str, Any], list[str], str | None]] = [
    ("i2v-fast", {"mode": "i2v", "preset": "fast"}, [], None),
    ("i2v-quality", {"mode": "i2v", "preset": "quality"}, [], "router_preview_i2v_quality"),
    ("i2v-fast_480p-6steps", {"mode": "i2v", "preset": "fast_480p", "steps": 6}, ["--steps", "6"], None),
    ("i2v-quality-split5-unipc", {"mode": "i2v", "preset": "quality", "split_step": 5, "sampler_name": "uni_pc", "cfg": 4.0},
     ["--split-step", "5", "--sampler", "uni_pc", "--cfg", "4.0"], "router_preview_split_override"),
    ("t2v-quality-30steps-shift8", {"mode": "t2v", "preset": "quality", "steps": 30, "shift": 8.0},
     ["--steps", "30", "--shift", "8.0"], "router_preview_t2v_quality"),
    ("t2v-fast", {"mode": "t2v", "preset": "fast"}, [], None),
    ("s2v-quality", {"mode": "s2v", "preset": "quality"}, [], None),
    ("s2v-fast", {"mode": "s2v", "preset": "fast"}, [], None),
    ("animate-fast", {"mode": "animate", "preset": "fast"}, [], "router_preview_animate_fast"),
    ("animate-quality-no-relight", {"mode": "animate", "preset": "quality", "relight": False}, ["--no-relight"], None),
    ("i2v-fast_motion", {"mode": "i2v", "preset": "fast_motion"}, [], "router_preview_fast_motion"),
    ("i2v-fast-lightning-1022", {"mode": "i2v", "preset": "fast", "lightning": "i2v_1022"}, ["--lightning", "i2v_1022"],
     None),
    ("refused-i2v-fast-cfg3.5", {"mode": "i2v", "preset": "fast", "cfg": 3.5}, ["--cfg", "3.5"], "router_preview_refused"),
]

QUEUE_SIZE = {"width": 64, "height": 64, "length": 9}

# The frontends the tier runs against: the one the running ComfyUI pins (the venv's
# comfyui-frontend-package) and the newest published one, installed by tools/setup_browser.sh into
# FRONTENDS/<version>/ (never into the venv) and served with `main.py --front-end-root`.
# WAN22_FRONTENDS picks them: "pinned", "latest", or both comma-separated (the default).
FRONTEND_LATEST = "1.58.1"
FRONTENDS = HERE / "frontends"


@dataclass(frozen=True)
class Frontend:
    name: str  # "pinned" or "latest"
    version: str
    root: Path | None  # --front-end-root, None for the server's own

    @property
    def args(self) -> list[str]:
        return [] if self.root is None else ["--front-end-root", str(self.root)]

    @property
    def artifacts(self) -> Path:
        """Screenshots and logs: artifacts/ for the pinned frontend, artifacts/frontend-<version>/ else."""
        return ARTIFACTS if self.root is None else ARTIFACTS / f"frontend-{self.version}"


def pinned_frontend_version() -> str:
    try:
        return metadata.version("comfyui-frontend-package")
    except metadata.PackageNotFoundError:
        return "pinned"


def latest_frontend_root(version: str = FRONTEND_LATEST) -> Path:
    return FRONTENDS / version / "comfyui_frontend_package" / "static"


def frontends_wanted() -> list[str]:
    names = [n.strip() for n in os.environ.get("WAN22_FRONTENDS", "pinned,latest").split(",") if n.strip()]
    bad = [n for n in names if n not in ("pinned", "latest")]
    if bad or not names:
        raise pytest.UsageError(f"WAN22_FRONTENDS={os.environ.get('WAN22_FRONTENDS')!r}: use pinned, latest or pinned,latest")
    return names


def frontend(name: str) -> Frontend:
    """The frontend called `name`; skips the test with the fix when the latest one is not installed."""
    if name == "pinned":
        return Frontend("pinned", pinned_frontend_version(), None)
    root = latest_frontend_root()
    if not (root / "index.html").is_file():
        pytest.skip(f"browser tier on frontend {FRONTEND_LATEST} skipped: not installed in {root.parents[1]}; "
                    "run tools/setup_browser.sh (make test does)")
    return Frontend("latest", FRONTEND_LATEST, root)


def chromium_path() -> str | None:
    cands = [os.environ.get("WAN22_CHROMIUM", ""), "/usr/bin/chromium", "/usr/bin/chromium-browser",
             shutil.which("chromium") or "", shutil.which("chromium-browser") or ""]
    return next((c for c in cands if c and os.access(c, os.X_OK)), None)


def _locked_version() -> str | None:
    try:
        lock = json.loads((HERE / "package-lock.json").read_text())
        return str(lock["packages"]["node_modules/playwright-core"]["version"])
    except (OSError, KeyError, ValueError):
        return None


def browser_missing() -> str | None:
    """Why the tier cannot run here, or None. One reason, naming the fix."""
    fix = "run tools/setup_browser.sh (make test does)"
    if chromium_path() is None:
        return f"browser tier skipped: no chromium (Debian package `chromium`, or set WAN22_CHROMIUM); {fix}"
    if shutil.which("node") is None:
        return f"browser tier skipped: no `node` (Node.js >= 20) on PATH; {fix}"
    try:
        installed = json.loads((NODE_MODULES / "playwright-core" / "package.json").read_text())["version"]
    except (OSError, KeyError, ValueError):
        return f"browser tier skipped: playwright-core is not installed in {NODE_MODULES}; {fix}"
    locked = _locked_version()
    if locked and installed != locked:
        return f"browser tier skipped: playwright-core {installed} in node_modules, lockfile pins {locked}; {fix}"
    return None


def describe() -> str:
    why = browser_missing()
    return f"browser tier: {why}" if why else f"browser tier: {chromium_path()} + playwright-core {_locked_version()}"


def example_names() -> list[str]:
    return sorted(p.stem for p in (REPO / "example_workflows").glob("*.json"))


def queue_example() -> str | None:
    """The fast I2V example (not the 480p variant)."""
    names = example_names()
    exact = [n for n in names if n.endswith("i2v_fast")]
    if exact:
        return exact[0]
    return next((n for n in names if "i2v" in n and "fast" in n and "480" not in n), None)


def nothing_ready(report: dict[str, Any]) -> dict[str, Any]:
    """The live report turned into one where no workflow can run (every expert missing)."""
    rep: dict[str, Any] = json.loads(json.dumps(report))
    experts = [f for f in rep["files"] if f["folder"] == "diffusion_models"]
    for f in experts:
        f.update(status="missing", path=None, size=None, identity=None,
                 hint=f"put it in {f['expected_path'].rsplit('/', 1)[0] if f.get('expected_path') else 'diffusion_models'}")
    for wid, st in rep["workflows"].items():
        mode = wid.split("_")[0]
        st["ready"] = False
        st["stand_ins"] = []
        st["blocking"] = [{"role": f["role"], "name": f["name"], "status": "missing", "hint": f["hint"]}
                          for f in experts if str(f["role"]).startswith(mode)]
    rep["ready"] = False
    rep["summary"] = f"Wan22 inventory: 0/{len(rep['workflows'])} workflows ready; {len(experts)} missing"
    return rep


def example_inputs(input_dir: Path) -> list[str]:
    """The input files the examples name (pose/face videos, speech) when the server lacks them, so
    the frontend's previews of them load instead of 404ing. Never overwrites a file."""
    try:
        from wan22.demo.inputs import write_example_inputs
    except ImportError:
        return []
    added = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            write_example_inputs(tmp)
        except Exception as e:  # a helper in flux must not take the tier down
            print(f"[browser] example inputs not written: {e}", file=sys.stderr)
            return []
        for p in Path(tmp).iterdir():
            dst = input_dir / p.name
            if not dst.exists():
                shutil.copyfile(p, dst)
                added.append(p.name)
    return added


@dataclass
class BrowserRun:
    results: dict[str, Any]
    input: dict[str, Any]
    server: Any
    log: str
    seconds: float
    frontend: Frontend | None = None

    def phase(self, name: str) -> dict[str, Any]:
        ph = self.results["phases"].get(name)
        if ph is None:
            pytest.fail(f"the browser driver did not reach phase '{name}'; driver log tail:\n{self.log[-3000:]}")
        if not ph.get("ok"):
            pytest.fail(f"browser phase '{name}' failed (screenshot artifacts/failure_{name}.png):\n{ph.get('error')}")
        return dict(ph)


# ---------------------------------------------------------------- checks shared by the browser tests

def _ours(entry: dict[str, Any]) -> bool:
    blob = f"{entry.get('url', '')} {entry.get('text', '')}".lower()
    return "wan22" in blob or "comfyui-wan22" in blob


@cache
def cli_plan(args: tuple[str, ...]) -> tuple[int, Any]:
    """`python -m wan22 plan ... --json` as a user runs it: (exit code, JSON or error text)."""
    p = subprocess.run([sys.executable, "-m", "wan22", "plan", *args, "--json"], cwd=str(REPO), capture_output=True,
                       text=True, timeout=60)
    if p.returncode == 0:
        return 0, json.loads(p.stdout)
    return p.returncode, (p.stderr or p.stdout).strip()


def _cli_args(widgets: dict[str, Any], extra: list[str]) -> tuple[str, ...]:
    return ("--mode", widgets["mode"], "--preset", widgets["preset"], *extra)


def _check_shown(pv: dict[str, Any], plan: dict[str, Any]) -> None:
    """The preview's text and chart show this plan."""
    assert pv["visible"], "the preview is not visible on the node"
    assert pv["head"].startswith(f"{plan['mode']} / {plan['preset']}") and plan["workflow"] in pv["head"]
    s = pv["settings"]
    assert f"{plan['steps']} steps" in s and f"cfg {plan['cfg']:g}" in s and f"shift {plan['shift']:g}" in s
    assert f"{plan['sampler']} / {plan['scheduler']}" in s
    if plan["boundary"] is not None:
        assert f"boundary {plan['boundary']:.3f}" in s and f"split @ step {plan['split_step']}" in s
    assert [st["expert"] for st in pv["stages"]] == [st["expert"] for st in plan["stages"]]
    for shown, st in zip(pv["stages"], plan["stages"], strict=True):
        assert f"steps {st['start_step']}–{st['end_step']}" in shown["text"]
        assert st["expert_file"] in shown["text"]
        assert [(lo["file"], lo["strength"]) for lo in shown["loras"]] == [(lo["file"], lo["strength"]) for lo in st["loras"]]
        for lo, lo_shown in zip(st["loras"], shown["loras"], strict=True):
            assert f"× {lo['strength']:g}" in lo_shown["text"] and lo["file"] in lo_shown["text"]
    for w in plan["warnings"]:
        assert w in pv["notes"]
    chart = pv["chart"]
    assert chart["visible"] and chart["width"] > 100 and chart["height"] > 50
    assert [float(x) for x in chart["sigmas"].split(",")] == plan["sigmas"]
    assert int(chart["split"]) == plan["split_step"]
    assert (float(chart["boundary"]) if chart["boundary"] else None) == plan["boundary"]
    owners = [next(k for k, st in enumerate(plan["stages"]) if st["start_step"] <= i < st["end_step"])
              for i in range(plan["steps"])]
    assert [int(x) for x in chart["owners"].split(",")] == owners
