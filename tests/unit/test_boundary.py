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


def _wing(rel: Path) -> str:
    """The wing (or bottom-floor module) a file under wan22/ belongs to."""
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_wings(path: Path) -> set[str]:
    """The wan22 wings a module imports, from its relative imports resolved against its package."""
    rel = path.relative_to(REPO / "wan22")
    pkg = list(rel.parts[:-1])
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
        target = base + (node.module.split(".") if node.module else [])
        if target:
            out.add(target[0])
        else:  # `from .. import x`: x is a wing or a bottom module
            out.update(a.name for a in node.names if a.name != "__version__")
    return out


def test_wings_import_only_downwards() -> None:
    from wan22 import FLOORS

    bad = []
    for path in sorted((REPO / "wan22").rglob("*.py")):
        rel = path.relative_to(REPO / "wan22")
        own = _wing(rel)
        if own in ("__init__", "__main__", "data"):
            continue
        assert own in FLOORS, f"wan22/{rel}: wing {own!r} has no floor in wan22.FLOORS"
        for w in _imported_wings(path) - {own}:
            if w not in FLOORS:
                continue
            if FLOORS[w] >= FLOORS[own]:
                bad.append(f"wan22/{rel} ({own}, floor {FLOORS[own]}) imports {w} (floor {FLOORS[w]})")
    assert not bad, "imports against the allowed direction (see wan22/__init__.py):\n" + "\n".join(bad)


def test_the_read_only_inventory_reaches_neither_writer_nor_prefetcher() -> None:
    """volume/ is the read-only inventory: it imports neither fetch/ (the commands that write to the
    volume) nor prefetch/ (page-cache warming); fetch/ sits above it because it plans from and
    verifies with the inventory, and prefetch/ needs no part of it."""
    from wan22 import FLOORS

    assert FLOORS["fetch"] > FLOORS["volume"]
    reach: dict[str, set[str]] = {}
    for wing in ("volume", "fetch", "prefetch"):
        modules = sorted((REPO / "wan22" / wing).rglob("*.py"))
        assert len(modules) > 1, f"wan22/{wing}/ has no modules"
        reach[wing] = set().union(*(_imported_wings(m) for m in modules)) - {wing}
    assert not reach["volume"] & {"fetch", "prefetch"}, reach["volume"]
    assert "volume" in reach["fetch"]
    assert not reach["prefetch"] & {"volume", "fetch"}, reach["prefetch"]


def test_every_wing_says_what_it_owns() -> None:
    for init in (REPO / "wan22").glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(doc) > 80, f"{init.relative_to(REPO)}: the wing's docstring must say what it owns and may import"


def test_no_module_re_exports_names_it_imports() -> None:
    """Each name has one import path, its owner's: an `__all__` lists only names the module
    defines (a re-export facade gave every name two paths)."""
    bad = []
    for path in sorted((REPO / "wan22").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own: set[str] = set()
        listed: list[str] = []
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        own.add(target.id)
                        if target.id == "__all__" and isinstance(node.value, (ast.List, ast.Tuple)):
                            listed = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                own.add(node.target.id)
        bad += [f"{path.relative_to(REPO)}: {name}" for name in listed if name not in own and not name.startswith("__")]
    assert not bad, "re-exported names (import them from the module that defines them): " + ", ".join(bad)


MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def test_no_module_or_function_is_too_big() -> None:
    """Measured with the AST: a module's line count, a function's end_lineno - lineno + 1
    (decorators and docstring included)."""
    too_big = []
    for path in sorted((REPO / "wan22").rglob("*.py")):
        src = path.read_text()
        rel = path.relative_to(REPO)
        if len(src.splitlines()) > MAX_MODULE_LINES:
            too_big.append(f"{rel}: {len(src.splitlines())} lines (max {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(src, str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    too_big.append(f"{rel}:{node.lineno} {node.name}: {n} lines (max {MAX_FUNCTION_LINES})")
    assert not too_big, "\n".join(too_big)
