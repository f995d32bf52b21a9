"""wan22/data/loaders.json checked against itself and against the core snapshot it was taken from
(loader_nodes.json): every loader's pack is known, every folder key is a ComfyUI folder key or an
alias of one, every source names a commit, and the core part is the snapshot's."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from wan22.api.widgets import widget_layout

DATA = Path(__file__).resolve().parents[2] / "wan22" / "data"
KINDS = {"diffusion_model", "text_encoder", "vae", "lora", "clip_vision", "audio_encoder", "checkpoint",
         "upscale_model", "other"}
FORMATS = {"safetensors", "gguf", "any"}


@pytest.fixture(scope="module")
def table() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "loaders.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "loader_nodes.json").read_text(encoding="utf-8"))
    return data


def _known_folders(table: dict[str, Any]) -> set[str]:
    return set(table["folder_keys"]) | set(table["folder_aliases"]) | set(table["pack_folders"])


def test_every_loader_names_a_known_pack_folder_and_kind(table: dict[str, Any]) -> None:
    packs = {p["id"] for p in table["packs"]}
    folders = _known_folders(table)
    bad: list[str] = []
    for ct, row in table["loaders"].items():
        if row["pack"] != "core" and row["pack"] not in packs:
            bad.append(f"{ct}: pack {row['pack']!r} is not in packs")
        widgets = [e["widget"] for e in row["inputs"] if "widget" in e]
        if len(widgets) != len(set(widgets)):
            bad.append(f"{ct}: two inputs at one widget position {widgets}")
        for e in row["inputs"]:
            where = f"{ct}.{e.get('name') or e.get('pattern')}"
            if e["folder"] not in folders:
                bad.append(f"{where}: folder {e['folder']!r} is neither a folder key nor an alias")
            if e.get("match", "exact") not in {"exact", "substring", "rgthree"} or \
                    e.get("when_missing", "error") not in {"error", "skipped"}:
                bad.append(f"{where}: match {e.get('match')!r}, when_missing {e.get('when_missing')!r}")
            if e["kind"] not in KINDS:
                bad.append(f"{where}: kind {e['kind']!r}")
            if "pattern" in e:
                re.compile(e["pattern"])
                if not e.get("field") or "name" in e:
                    bad.append(f"{where}: a pattern entry names its file `field` and has no `name`")
            else:
                if not isinstance(e.get("widget"), int) or e["widget"] < 0 or not e.get("name"):
                    bad.append(f"{where}: needs a name and a widget position")
                if e.get("format") not in FORMATS or not isinstance(e.get("required"), bool):
                    bad.append(f"{where}: format {e.get('format')!r}, required {e.get('required')!r}")
                if not isinstance(e.get("none"), list):
                    bad.append(f"{where}: `none` must be a list")
    assert bad == []


def test_pack_folders_are_registered_by_a_known_pack(table: dict[str, Any]) -> None:
    packs = {p["id"] for p in table["packs"]}
    for key, folder in table["pack_folders"].items():
        assert key not in table["folder_keys"] and key not in table["folder_aliases"], key
        assert folder["pack"] in packs and folder["dir"] and "/" not in folder["dir"], key


def test_folder_aliases_lead_to_folder_keys(table: dict[str, Any]) -> None:
    keys = set(table["folder_keys"])
    aliases = table["folder_aliases"]
    for alias, targets in aliases.items():
        assert alias not in keys, alias
        assert targets and all(t in keys or t in aliases for t in targets), (alias, targets)
        assert any(t in keys for t in targets), f"{alias} leads to no folder key"


def test_sources_name_a_commit_and_cover_every_pack_with_loaders(table: dict[str, Any]) -> None:
    packs = {p["id"]: p for p in table["packs"]}
    for pid, src in table["sources"].items():
        assert pid in packs, pid
        for commit in (src["commit"], *src.get("path_commits", {}).values()):
            assert re.fullmatch(r"[0-9a-f]{40}", commit), (pid, commit)
        assert set(src.get("path_commits", {})) <= set(src["paths"]), pid
        assert src["url"] == packs[pid]["url"] and src["name"] == packs[pid]["name"], pid
        assert src["paths"] and all(isinstance(p, str) and p for p in src["paths"]), pid
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", src["read"]), pid
    with_loaders = {row["pack"] for row in table["loaders"].values()} - {"core"}
    assert with_loaders - set(table["sources"]) == set()


def test_core_since_names_newer_node_types_with_a_release(table: dict[str, Any]) -> None:
    core = set(table["core_nodes"])
    for ct, version in table["core_since"].items():
        assert ct not in core, f"{ct} is already in ComfyUI {table['comfyui']}"
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), (ct, version)


def test_core_part_is_the_snapshot(table: dict[str, Any], snapshot: dict[str, Any]) -> None:
    for key in ("comfyui", "folder_keys", "core_nodes", "output_nodes"):
        assert table[key] == snapshot[key], key
    assert table["object_info"] == snapshot["nodes"]
    assert table["pack_object_info"] == snapshot["pack_nodes"]
    core = {ct: row for ct, row in table["loaders"].items() if row["pack"] == "core"}
    assert set(core) == set(snapshot["nodes"])
    for ct, defn in snapshot["nodes"].items():
        layout = [w.name for w, _ in widget_layout(defn, lambda w: w.default)]
        want = {name: (folders[0], layout.index(name)) for name, folders in defn["folders"].items()}
        got = {e["name"]: (e["folder"], e["widget"]) for e in core[ct]["inputs"]}
        assert got == want, ct
        assert all(ct in table["core_nodes"] for ct in core)


def test_a_loader_of_a_pack_node_is_provided_by_that_pack(table: dict[str, Any]) -> None:
    """A pack loader is named in its pack's `nodes` or matches its `pattern`, so the reader that
    says which pack to install names the same pack the table reads the loader from."""
    packs = {p["id"]: p for p in table["packs"]}
    for ct, row in table["loaders"].items():
        if row["pack"] == "core":
            continue
        p = packs[row["pack"]]
        assert ct in p.get("nodes", ()) or (p.get("pattern") and re.search(p["pattern"], ct)), ct


REALWORLD = Path(__file__).resolve().parents[2].parent / "shared" / "realworld"
MODEL_FILE = (".safetensors", ".sft", ".gguf", ".pt", ".pth", ".ckpt", ".bin")


def _ui_nodes(x: Any) -> Any:
    if isinstance(x, dict):
        if isinstance(x.get("type"), str) and isinstance(x.get("widgets_values"), list):
            yield x
        for v in x.values():
            yield from _ui_nodes(v)
    elif isinstance(x, list):
        for v in x:
            yield from _ui_nodes(v)


@pytest.mark.skipif(not REALWORLD.is_dir(), reason="the third-party workflows in ../shared/realworld are absent")
def test_widget_positions_point_at_the_file_in_published_ui_graphs(table: dict[str, Any]) -> None:
    """Every loader node of a published UI workflow holds a model file name (or a `none` value)
    at the widget position the table gives: the positions are checked against real graphs."""
    checked = 0
    bad = []
    for f in sorted(REALWORLD.glob("*.json")):
        for node in _ui_nodes(json.loads(f.read_text(encoding="utf-8"))):
            row = table["loaders"].get(node["type"])
            if row is None:
                continue
            wv = node["widgets_values"]
            for e in row["inputs"]:
                if "widget" not in e:
                    continue
                v = wv[e["widget"]] if e["widget"] < len(wv) else None
                checked += 1
                if not (isinstance(v, str) and (v.lower().endswith(MODEL_FILE) or v in e["none"])):
                    bad.append(f"{f.name}: {node['type']}.{e['name']} widget {e['widget']} holds {v!r}")
    assert bad == []
    assert checked >= 30  # 44 when written: core, GGUF, WanVideoWrapper and MultiGPU loaders
