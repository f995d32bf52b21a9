"""ComfyUI version compatibility smoke checks (run by tools/compat.py on every version, and by
the comfy tier on the pinned one): the pack imports with no IMPORT FAILED, logs its one start-up
inventory line, every node id the pack declares is registered under this pack, its frontend
files and HTTP routes are served, and every core node the example API workflows use exists and
gets every input it requires.

The node ids come from the pack's source (`node_id=` in nodes/*.py), the core nodes and inputs
from example_workflows/, so a new node or a new example is checked without editing this file.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EX = REPO / "example_workflows"
IMPORT_ERRORS = ("IMPORT FAILED", "Cannot import", "comfy_entrypoint")


def pack_errors(log: str) -> list[str]:
    """Log lines that say the pack failed: ComfyUI's import-failure lines naming the pack's folder,
    and traceback frames in the pack's own files. A core node that fails to import for want of a
    library (e.g. nodes_glsl.py without OpenGL on some releases) or a ComfyUI-internal traceback
    (e.g. its asset scanner) is not the pack's."""
    ours = ("ComfyUI-Wan22", str(REPO))
    return [line for line in log.splitlines() if any(o in line for o in ours)
            and (any(e in line for e in IMPORT_ERRORS) or line.lstrip().startswith('File "'))]


def pack_node_ids() -> set[str]:
    """Every `node_id=` given in nodes/*.py: a string, or a module-level string constant."""
    ids: set[str] = set()
    for path in sorted((REPO / "nodes").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        consts = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                  for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "node_id":
                v = node.value
                value = v.value if isinstance(v, ast.Constant) else consts.get(v.id) if isinstance(v, ast.Name) else None
                assert isinstance(value, str), f"{path.name}:{node.value.lineno}: node_id is not a string constant"
                ids.add(value)
    return ids


def _pack_module(info: dict[str, Any]) -> str:
    return str(info["Wan22BundleLoader"]["python_module"])


def example_nodes() -> dict[str, dict[str, set[str]]]:
    """{class_type: {API twin file: input names it gives}} over example_workflows/api/ (the UI
    form, with its frontend-only nodes and widget lists, is checked by test_example_workflows_comfy)."""
    out: dict[str, dict[str, set[str]]] = {}
    for path in sorted((EX / "api").glob("*.json")):
        for node in json.loads(path.read_text()).values():
            out.setdefault(node["class_type"], {})[path.name] = set(node.get("inputs", {}))
    return out


def test_pack_imports_and_registers_every_node_id(comfy_server: Any) -> None:
    ids = pack_node_ids()
    assert len(ids) >= 5, ids
    info = comfy_server.get("/object_info")
    log = comfy_server.log_text()
    # import and registration happen before the first prompt; later tracebacks on this shared
    # server come from other tests' deliberate refusals (e.g. a preset on the wrong model file)
    bad = pack_errors(log.split("got prompt", 1)[0])
    assert not bad, "ComfyUI reported errors in the pack:\n" + "\n".join(bad[:20])
    startup = [line for line in log.splitlines() if "Wan22 inventory:" in line]
    assert len(startup) == 1, f"expected exactly one start-up inventory line (logged from Wan22Extension.on_load): {startup}"
    missing = sorted(ids - set(info))
    assert not missing, f"node ids declared in nodes/ but not registered by ComfyUI: {missing}"
    module = _pack_module(info)
    assert module.startswith("custom_nodes."), module
    ours = {k for k, v in info.items() if v.get("python_module") == module}
    assert ours == ids, f"registered under {module} but not declared in nodes/: {sorted(ours - ids)}"
    for node_id in sorted(ids):
        assert set(comfy_server.get(f"/object_info/{node_id}")) == {node_id}


def test_frontend_files_and_routes_are_served(comfy_server: Any) -> None:
    served = comfy_server.get("/extensions")
    for js in sorted((REPO / "js").glob("*.js")):
        assert any(str(s).endswith(f"/{js.name}") for s in served), f"{js.name} not in GET /extensions: {served}"
    hint = "the pack registers its routes in Wan22Extension.on_load(): does this ComfyUI call on_load?"
    status, inv = comfy_server.request("GET", "/wan22/inventory")
    assert status == 200 and isinstance(inv, dict) and inv.get("ready") is not None, (status, str(inv)[:300], hint)
    status, plan = comfy_server.request("GET", "/wan22/plan?mode=i2v&preset=fast")  # ComfyUI's own sigmas behind it
    assert status == 200 and isinstance(plan, dict), (status, str(plan)[:300], hint)
    assert plan["mode"] == "i2v" and 0 < plan["split_step"] < plan["steps"], plan


def test_core_nodes_the_examples_use_exist_with_their_inputs(comfy_server: Any) -> None:
    """Every node type of the API twins exists and gets every input this ComfyUI requires (extra
    inputs are ignored by ComfyUI; dynamic-combo children such as "format.codec" are optional)."""
    info = comfy_server.get("/object_info")
    used = example_nodes()
    assert {"WanImageToVideo", "WanSoundImageToVideo"} <= set(used), sorted(used)
    problems: list[str] = []
    for class_type, files in sorted(used.items()):
        if class_type not in info:
            problems.append(f"{class_type} (used by {', '.join(sorted(files))}) is not a node of this ComfyUI")
            continue
        required = {k for k in info[class_type]["input"].get("required") or {} if "." not in k}
        for where, given in sorted(files.items()):
            if absent := sorted(required - given):
                problems.append(f"{where}: {class_type} here requires input(s) {absent} that the workflow does not give")
    assert not problems, "\n".join(problems)
