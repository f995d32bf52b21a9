#!/usr/bin/env python
"""Take, from a real ComfyUI, the facts the any-workflow check and its tests rely on.

Starts `main.py --cpu` (COMFYUI_PATH or ~/comfy/ComfyUI) on a demo volume, with one probe file
`wan22probe.<key>.safetensors` in every model folder key ComfyUI registers, and writes:

  wan22/data/loader_nodes.json        every core node type whose combo lists a model folder, with the
                                      folder key(s) per input: a combo whose options hold the probe
                                      of folder <key> lists <key>; the input specs (model lists
                                      emptied) so a UI node's widgets can be named without a server;
                                      every core node type, the core output node types (what the
                                      executor starts from) and this pack's node definitions
  tests/fixtures/object_info_templates.json
                                      /object_info of every node type ComfyUI's Wan 2.2 templates use
  tests/fixtures/templates_api/<name>.json   (with --graph-to-prompt, needs the browser tier)
                                      what the real frontend's app.graphToPrompt() makes of each
                                      template: the reference wan22.graph.convert.ui_to_api equals

  python tools/gen_template_fixtures.py [--graph-to-prompt] [--comfyui DIR] [--check]

--check compares instead of writing and exits 1 when a file is out of date.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wan22.demo.server import PACK_DIR_NAME  # noqa: E402
from wan22.graph.templates import WAN22_TEMPLATES, load_template, template_node_types  # noqa: E402

LOADERS = REPO / "wan22" / "data" / "loader_nodes.json"
OBJECT_INFO = REPO / "tests" / "fixtures" / "object_info_templates.json"
G2P_DIR = REPO / "tests" / "fixtures" / "templates_api"
PROBE = "wan22probe.{key}.safetensors"
# Folder keys that hold no model files (ComfyUI lists them with other extensions or not at all).
NOT_MODELS = {"custom_nodes", "configs", "datasets", "diffusers", "classifiers"}


def folder_keys(comfyui: Path) -> list[str]:
    """ComfyUI's registered folder keys (folder_paths.folder_names_and_paths), read from its source."""
    code = ("import sys, json; sys.path.insert(0, sys.argv[1]); import folder_paths; "
            "print(json.dumps(sorted(folder_paths.folder_names_and_paths)))")
    out = subprocess.run([sys.executable, "-c", code, str(comfyui)], capture_output=True, text=True, check=True,
                         cwd=str(comfyui))
    return [k for k in json.loads(out.stdout.strip().splitlines()[-1]) if k not in NOT_MODELS]


def _combo_options(spec: Any) -> list[Any] | None:
    if not isinstance(spec, list) or not spec:
        return None
    if isinstance(spec[0], list):
        return spec[0]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return list(spec[1].get("options") or [])
    return None


def loader_table(info: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """{node type: {"folders": {input: [keys]}, "input", "input_order", "output", ...}} for every
    core node whose combo holds a probe; model option lists are emptied (they are the volume's)."""
    probes = {PROBE.format(key=k): k for k in keys}
    nodes: dict[str, Any] = {}
    for ntype, defn in sorted(info.items()):
        folders: dict[str, list[str]] = {}
        for section in ("required", "optional"):
            for name, spec in (defn.get("input", {}).get(section) or {}).items():
                found = sorted({probes[o] for o in _combo_options(spec) or [] if isinstance(o, str) and o in probes})
                if found:
                    folders[name] = found
        if folders and not str(defn.get("python_module", "")).startswith("custom_nodes."):
            nodes[ntype] = {"folders": folders, **_strip_models(defn)}
    return nodes


_MODEL_EXTS = (".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft", ".gguf")


def _strip_models(defn: dict[str, Any]) -> dict[str, Any]:
    """A node definition without the volume's file names in its combos (they are not facts of the node)."""
    d = json.loads(json.dumps(defn))
    for section in ("required", "optional"):
        for spec in (d.get("input", {}).get(section) or {}).values():
            opts = _combo_options(spec)
            if opts:
                kept = [o for o in opts if not (isinstance(o, str) and o.lower().endswith(_MODEL_EXTS))]
                if isinstance(spec[0], list):
                    spec[0] = kept
                else:
                    spec[1]["options"] = kept
    return {k: d[k] for k in ("input", "input_order", "output", "output_name", "output_node", "display_name",
                              "python_module") if k in d}


def _without_probes(defn: dict[str, Any]) -> dict[str, Any]:
    """The definition as a server without the probe files would give it."""
    d = json.loads(json.dumps(defn))
    for section in ("required", "optional"):
        for spec in (d.get("input", {}).get(section) or {}).values():
            opts = _combo_options(spec)
            if opts:
                kept = [o for o in opts if not (isinstance(o, str) and o.startswith("wan22probe."))]
                if isinstance(spec[0], list):
                    spec[0] = kept
                else:
                    spec[1]["options"] = kept
    return d


def take(comfyui: Path, work: Path) -> tuple[dict[str, Any], Any]:
    """(object_info, the running server): a demo volume plus one probe file per folder key."""
    from wan22.demo.demo_volume import make_demo_volume
    from wan22.demo.inputs import write_example_inputs
    from wan22.demo.server import ComfyServer, make_base, write_model_paths_yaml

    keys = folder_keys(comfyui)
    make_demo_volume(str(work / "volume"), with_t2v=True)
    base = make_base(work / "base")
    write_example_inputs(str(base / "input"))
    for k in keys:
        d = base / "models" / k
        d.mkdir(parents=True, exist_ok=True)
        (d / PROBE.format(key=k)).write_bytes(b"")
    yaml = write_model_paths_yaml(work / "extra_model_paths.yaml", work / "volume")
    server = ComfyServer(comfyui=comfyui, base=base, yaml=yaml, log_path=work / "server.log")
    server.start()
    return dict(server.get("/object_info")), (server, keys)


def graph_to_prompt(server: Any, work: Path) -> dict[str, Any]:
    """{template name: app.graphToPrompt().output} from the real frontend (tests/browser/drive_templates.mjs)."""
    sys.path.insert(0, str(REPO / "tests" / "browser"))
    from browser_support import browser_missing, chromium_path

    why = browser_missing()
    if why:
        raise SystemExit(f"--graph-to-prompt: {why}")
    spec = {"url": server.url + "/", "chromium": chromium_path(), "artifacts": str(work / "artifacts"),
            "results": str(work / "results.json"),
            "templates": [{"name": n, "workflow": load_template(n)} for n in WAN22_TEMPLATES], "checks": []}
    (work / "input.json").write_text(json.dumps(spec))
    browser_dir = REPO / "tests" / "browser"
    proc = subprocess.run(["node", str(browser_dir / "drive_templates.mjs"), str(work / "input.json")], cwd=str(browser_dir),
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"the browser driver failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
    res = json.loads((work / "results.json").read_text())
    out = {}
    for name, r in res["phases"]["templates"]["templates"].items():
        if not r.get("ok"):
            raise SystemExit(f"{name}: graphToPrompt failed in the browser: {r.get('error')}")
        out[name] = r["output"]
    return out


def _text(data: Any, sort: bool = False) -> str:
    """JSON as written. /object_info keeps the server's key order: a dynamic combo's inputs are a
    dict whose order is the frontend's widget order."""
    return json.dumps(data, indent=1, sort_keys=sort, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--comfyui", help="a ComfyUI folder (default: COMFYUI_PATH, else ~/comfy/ComfyUI)")
    ap.add_argument("--graph-to-prompt", action="store_true", help="also take the frontend's graphToPrompt of every template")
    ap.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 when out of date")
    a = ap.parse_args(argv)
    from wan22.comfyui_dir import find_comfyui, not_found_reason

    comfyui = find_comfyui(a.comfyui)
    if comfyui is None:
        raise SystemExit(not_found_reason())
    files: dict[Path, str] = {}
    with tempfile.TemporaryDirectory(prefix="wan22-tplfix-") as tmp:
        work = Path(tmp)
        info, (server, keys) = take(comfyui, work)
        try:
            used = sorted({t for n in WAN22_TEMPLATES for t in template_node_types(load_template(n))} & set(info))
            files[OBJECT_INFO] = _text({t: _without_probes(info[t]) for t in used})
            outputs = sorted(t for t, d in info.items() if d.get("output_node")
                             and not str(d.get("python_module", "")).startswith("custom_nodes."))
            ours = {t: _strip_models(d) for t, d in sorted(info.items())
                    if str(d.get("python_module", "")).startswith(f"custom_nodes.{PACK_DIR_NAME}")}
            core = sorted(t for t, d in info.items() if not str(d.get("python_module", "")).startswith("custom_nodes."))
            files[LOADERS] = _text({"comfyui": _version(comfyui), "folder_keys": keys, "core_nodes": core,
                                    "output_nodes": outputs, "nodes": loader_table(info, keys), "pack_nodes": ours})
            if a.graph_to_prompt:
                for name, out in graph_to_prompt(server, work).items():
                    files[G2P_DIR / f"{name}.json"] = _text(out, sort=True)
        finally:
            server.stop()
    stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    for p in stale:
        print(("out of date: " if a.check else "wrote ") + str(p.relative_to(REPO)))
        if not a.check:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(files[p])
    return 1 if a.check and stale else 0


def _version(comfyui: Path) -> str:
    try:
        m = re.search(r"__version__\s*=\s*[\"']([^\"']+)", (comfyui / "comfyui_version.py").read_text())
    except OSError:
        return "unknown"
    return m.group(1) if m else "unknown"


if __name__ == "__main__":
    os.environ.setdefault("DO_NOT_TRACK", "1")
    sys.exit(main())
