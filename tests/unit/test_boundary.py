"""wan22/ must work without ComfyUI: importing it pulls in no ComfyUI module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BANNED = ("comfy", "comfy_api", "comfy_extras", "comfy_execution", "folder_paths", "server", "nodes", "execution")


def test_importing_every_wan22_module_imports_no_comfyui() -> None:
    code = (
        "import importlib, pkgutil, sys, wan22\n"
        "for m in pkgutil.walk_packages(wan22.__path__, 'wan22.'):\n"
        "    m.name.endswith('__main__') or importlib.import_module(m.name)\n"
        f"banned = {BANNED!r}\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in banned)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"ComfyUI modules imported by wan22: {out.stdout}"


def test_wan22_sources_use_relative_imports_and_no_comfyui() -> None:
    for path in (REPO / "wan22").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    continue
                names = [node.module or ""]
            else:
                continue
            for n in names:
                assert n.split(".")[0] not in BANNED, f"{path.name} imports {n}"
                assert n.split(".")[0] != "wan22", f"{path.name} imports wan22 absolutely; use relative imports"


def test_root_init_has_no_side_effects_and_no_v1_mappings() -> None:
    src = (REPO / "__init__.py").read_text()
    tree = ast.parse(src)
    assert "NODE_CLASS_MAPPINGS" not in src  # exporting it would silently disable the V3 entry point
    top = [type(n).__name__ for n in tree.body]
    assert set(top) <= {"Expr", "Assign", "AsyncFunctionDef"}, top
    assert 'WEB_DIRECTORY = "./js"' in src
    assert "async def comfy_entrypoint" in src
