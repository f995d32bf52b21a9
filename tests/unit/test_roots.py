"""Folder resolution exactly as ComfyUI does it.

The parity test runs ComfyUI's own utils/extra_config.py and folder_paths.add_model_folder_path
(read from the ComfyUI checkout, executed against a stub folder_paths module, so nothing of
ComfyUI is imported or written) on every extra_model_paths form, and compares the search order
for every Wan folder key and whether ComfyUI would crash. Without a checkout it is skipped; the
explicit tests below run everywhere."""

from __future__ import annotations

import ast
import os
import sys
import types
from pathlib import Path

import pytest

from wan22.volume.roots import WAN_FOLDER_KEYS, from_folder_paths, resolve, section_for

COMFY = next((p for p in (Path(os.environ.get("COMFYUI_PATH", "/nonexistent")), Path("~/comfy/ComfyUI").expanduser())
              if (p / "utils" / "extra_config.py").is_file() and (p / "folder_paths.py").is_file()), None)


# ------------------------------------------------------------------ ComfyUI as the oracle

def comfy_oracle(models_dir: Path, yaml_files: list[Path]) -> tuple[dict[str, list[str]], BaseException | None]:
    """(search dirs per Wan key, the exception ComfyUI raised) from ComfyUI's own code."""
    assert COMFY is not None
    fp_tree = ast.parse((COMFY / "folder_paths.py").read_text())
    keep: list[ast.stmt] = []
    for node in fp_tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in ("map_legacy", "add_model_folder_path"):
            keep.append(node)
        elif (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript)
              and isinstance(node.targets[0].value, ast.Name) and node.targets[0].value.id == "folder_names_and_paths"):
            keep.append(node)  # the default folders, as ComfyUI defines them
    fp = types.ModuleType("folder_paths")
    fp.__dict__.update(os=os, models_dir=str(models_dir), base_path=str(models_dir.parent),
                       supported_pt_extensions={".safetensors"}, folder_names_and_paths={})
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(COMFY / "folder_paths.py"), "exec"), fp.__dict__)  # noqa: S102 (ComfyUI's own code is the oracle)
    ec = types.ModuleType("extra_config")
    saved = sys.modules.get("folder_paths")
    sys.modules["folder_paths"] = fp
    err: BaseException | None = None
    try:
        exec(compile((COMFY / "utils" / "extra_config.py").read_text(), "extra_config.py", "exec"), ec.__dict__)  # noqa: S102
        for y in yaml_files:
            ec.load_extra_path_config(str(y))
    except Exception as e:  # what ComfyUI would die of at start-up
        err = e
    finally:
        if saved is None:
            sys.modules.pop("folder_paths", None)
        else:
            sys.modules["folder_paths"] = saved
    fnp = fp.__dict__["folder_names_and_paths"]
    return {k: list(fnp[k][0]) if k in fnp else [] for k in WAN_FOLDER_KEYS}, err


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    vol = tmp_path / "vol"
    for d in ("diffusion_models", "unet", "text_encoders", "clip", "vae", "loras", "audio_encoders", "clip_vision"):
        (vol / d).mkdir(parents=True)
    cfgdir = tmp_path / "comfy"
    (cfgdir / "models").mkdir(parents=True)
    home = tmp_path / "home"
    (home / "vol").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("WAN22_T_VOL", str(vol))
    monkeypatch.delenv("WAN22_UNSET_VAR", raising=False)
    monkeypatch.chdir(tmp_path / "home")  # relative paths must not depend on the working directory
    return {"tmp": tmp_path, "vol": vol, "cfg": cfgdir, "models": cfgdir / "models", "home": home}


YAML_FORMS: dict[str, list[str]] = {
    "base_path_absolute": ["s:\n  base_path: {vol}\n  diffusion_models: diffusion_models/\n  vae: vae\n"],
    "base_path_relative": ["s:\n  base_path: ../vol\n  loras: loras/\n  vae: vae/\n"],
    "base_path_tilde": ["s:\n  base_path: ~/vol\n  loras: loras\n"],
    "base_path_var": ["s:\n  base_path: $WAN22_T_VOL\n  loras: loras\n", "t:\n  base_path: ${{WAN22_T_VOL}}/\n  vae: vae\n"],
    "base_path_unset_var": ["s:\n  base_path: $WAN22_UNSET_VAR/models\n  loras: loras\n"],
    "base_path_empty": ["s:\n  base_path: ''\n  loras: vol/loras\n"],
    "no_base_relative": ["s:\n  loras: ../vol/loras\n  vae: {vol}/vae\n"],
    "block_multiline": ["s:\n  base_path: {vol}\n  text_encoders: |\n    text_encoders/\n    clip/\n  diffusion_models: |\n"
                        "      unet/\n      diffusion_models/\n"],
    "legacy_unet_clip": ["s:\n  base_path: {vol}\n  unet: unet/\n  clip: clip/\n"],
    "legacy_and_new_together": ["s:\n  base_path: {vol}\n  unet: unet/\n  diffusion_models: diffusion_models/\n"
                                "  clip: clip/\n  text_encoders: text_encoders/\n"],
    "is_default": ["a:\n  base_path: {vol}\n  loras: loras/\n  vae: vae/\nb:\n  base_path: {vol}\n  is_default: true\n"
                   "  vae: vae/\n  diffusion_models: diffusion_models/\n"],
    "is_default_string_false": ["a:\n  base_path: {vol}\n  is_default: 'false'\n  vae: vae/\n"],
    "multiple_sections": ["a:\n  base_path: {vol}\n  loras: loras/\nb:\n  base_path: {tmp}\n  loras: vol/loras/\n  vae: other/vae\n"],
    "multiple_files": ["a:\n  base_path: {vol}\n  vae: vae/\n", "b:\n  base_path: {vol}\n  is_default: true\n  vae: vae/\n  loras: loras\n"],
    "absolute_value_with_base": ["s:\n  base_path: {vol}\n  vae: {tmp}/elsewhere/vae\n"],
    "null_section": ["empty:\ns:\n  base_path: {vol}\n  vae: vae\n"],
    "spaces_in_line": ["s:\n  base_path: {vol}\n  loras: |\n    loras/  \n    more\n  vae: 'vae '\n"],
    "non_string_key": ["s:\n  base_path: {vol}\n  123: x\n  vae: vae\n"],
    "seed_document": ["wan2_permanent_storage:\n  base_path: {vol}\n\n  diffusion_models: diffusion_models/\n  vae: vae/\n"
                      "  text_encoders: text_encoders/\n  audio_encoders: audio_encoders/\n  clip_vision: clip_vision/\n"
                      "  loras: loras/\n  checkpoints: checkpoints/\n  clip: clip/\n  controlnet: controlnet/\n"
                      "  embeddings: embeddings/\n  upscale_models: upscale_models/\n  unet: unet/\n  configs: configs/\n"],
    "runpod_worker": ["runpod_worker_comfy:\n  base_path: {tmp}\n  checkpoints: models/checkpoints/\n  clip: models/clip/\n"
                      "  clip_vision: models/clip_vision/\n  configs: models/configs/\n  loras: models/loras/\n"
                      "  vae: models/vae/\n  unet: models/unet/\n"],
    # ComfyUI fails to start on these
    "list_value": ["s:\n  base_path: {vol}\n  loras:\n    - loras/\n    - more/\n"],
    "null_value": ["s:\n  base_path: {vol}\n  diffusion_models:\n  vae: vae\n"],
    "number_value": ["s:\n  base_path: {vol}\n  vae: 5\n"],
    "null_base_path": ["s:\n  base_path:\n  vae: vae\n"],
    "section_is_a_string": ["s: {vol}/loras\n"],
    "section_is_a_list": ["s:\n  - {vol}/loras\n"],
    "top_level_list": ["- a\n- b\n"],
    "invalid_yaml": ["s:\n  base_path: {vol}\n vae: [unclosed\n"],
    "empty_file": ["# only a comment\n"],
    "tab_indent": ["s:\n\tvae: vae\n"],
}


def _write(place: dict[str, Path], texts: list[str]) -> list[Path]:
    out = []
    for i, t in enumerate(texts):
        p = place["cfg"] / f"extra_{i}.yaml"
        p.write_text(t.format(vol=place["vol"], tmp=place["tmp"]))
        out.append(p)
    return out


@pytest.mark.skipif(COMFY is None, reason="no ComfyUI checkout (COMFYUI_PATH or ~/comfy/ComfyUI) to compare with")
@pytest.mark.parametrize("form", sorted(YAML_FORMS))
def test_same_search_order_and_same_crashes_as_comfyui(place: dict[str, Path], form: str) -> None:
    yamls = _write(place, YAML_FORMS[form])
    expected, err = comfy_oracle(place["models"], yamls)
    cfg = resolve(models_dir=str(place["models"]), extra_yaml=[str(y) for y in yamls])
    assert bool(cfg.problems) == (err is not None), f"ComfyUI: {err!r}; ours: {cfg.problems}"
    if err is None:
        for key in WAN_FOLDER_KEYS:
            assert cfg.dirs(key) == expected[key], key
    else:
        assert all(str(yamls[0].parent) in p for p in cfg.problems)  # the problem names the file


# ------------------------------------------------------------------ explicit expectations

def _dirs(place: dict[str, Path], form: str, key: str) -> list[str]:
    cfg = resolve(extra_yaml=[str(y) for y in _write(place, YAML_FORMS[form])])
    return cfg.dirs(key)


def test_relative_base_path_is_relative_to_the_yaml_file(place: dict[str, Path]) -> None:
    assert _dirs(place, "base_path_relative", "loras") == [str(place["tmp"] / "vol" / "loras")]


def test_no_base_path_relative_values_are_relative_to_the_yaml_file(place: dict[str, Path]) -> None:
    assert _dirs(place, "no_base_relative", "loras") == [str(place["vol"] / "loras")]
    assert _dirs(place, "no_base_relative", "vae") == [str(place["vol"] / "vae")]


def test_tilde_and_variables_are_expanded(place: dict[str, Path]) -> None:
    assert _dirs(place, "base_path_tilde", "loras") == [str(place["home"] / "vol" / "loras")]
    cfg = resolve(extra_yaml=[str(y) for y in _write(place, YAML_FORMS["base_path_var"])])
    assert cfg.dirs("loras") == [str(place["vol"] / "loras")] and cfg.dirs("vae") == [str(place["vol"] / "vae")]


def test_unset_variable_is_kept_literally_and_warned(place: dict[str, Path]) -> None:
    cfg = resolve(extra_yaml=[str(y) for y in _write(place, YAML_FORMS["base_path_unset_var"])])
    assert cfg.dirs("loras") == [str(place["cfg"] / "$WAN22_UNSET_VAR" / "models" / "loras")]
    assert any("WAN22_UNSET_VAR is not set" in w for w in cfg.warnings)


def test_block_values_and_legacy_keys(place: dict[str, Path]) -> None:
    v = place["vol"]
    assert _dirs(place, "block_multiline", "text_encoders") == [str(v / "text_encoders"), str(v / "clip")]
    assert _dirs(place, "block_multiline", "diffusion_models") == [str(v / "unet"), str(v / "diffusion_models")]
    assert _dirs(place, "legacy_unet_clip", "diffusion_models") == [str(v / "unet")]
    assert _dirs(place, "legacy_unet_clip", "clip") == [str(v / "clip")]  # both names reach the same key


def test_is_default_puts_folders_first_and_moves_existing_ones(place: dict[str, Path]) -> None:
    cfg = resolve(models_dir=str(place["models"]), extra_yaml=[str(y) for y in _write(place, YAML_FORMS["is_default"])])
    v, m = place["vol"], place["models"]
    assert cfg.dirs("vae") == [str(v / "vae"), str(m / "vae")]  # moved in front of ComfyUI's own
    assert cfg.dirs("loras") == [str(m / "loras"), str(v / "loras")]  # no is_default: appended
    assert cfg.dirs("diffusion_models")[0] == str(v / "diffusion_models")
    sec = cfg.search_dirs("vae")[0].section
    assert sec is not None and sec.name == "a" and not sec.is_default  # first registered by section a
    warn = resolve(extra_yaml=[str(y) for y in _write(place, YAML_FORMS["is_default_string_false"])]).warnings
    assert any("'false' is not true/false" in w and "treats it as True" in w for w in warn)


@pytest.mark.parametrize("form, words", [
    ("list_value", ["loras", "YAML list", "'|' block", "loras: |"]),
    ("null_value", ["diffusion_models", "has no value"]),
    ("number_value", ["vae", "not a path"]),
    ("null_base_path", ["base_path", "must be a path"]),
    ("section_is_a_string", ["section 's'", "Indent"]),
    ("top_level_list", ["top level"]),
    ("invalid_yaml", ["not valid YAML", "line 3"]),
    ("empty_file", ["empty"]),
])
def test_config_problems_name_the_file_key_and_fix(place: dict[str, Path], form: str, words: list[str]) -> None:
    yamls = _write(place, YAML_FORMS[form])
    cfg = resolve(extra_yaml=[str(y) for y in yamls])
    assert len(cfg.problems) == 1, cfg.problems
    assert str(yamls[0]) in cfg.problems[0]
    for w in words:
        assert w in cfg.problems[0], (w, cfg.problems[0])
    assert "fail" in cfg.problems[0]  # says ComfyUI would not start


def test_missing_yaml_file_is_a_problem(place: dict[str, Path]) -> None:
    cfg = resolve(extra_yaml=[str(place["cfg"] / "nope.yaml")])
    assert cfg.problems and "cannot be read" in cfg.problems[0]


def test_spaces_around_a_path_are_warned(place: dict[str, Path]) -> None:
    cfg = resolve(extra_yaml=[str(y) for y in _write(place, YAML_FORMS["spaces_in_line"])])
    assert any("spaces around it" in w for w in cfg.warnings)


def test_missing_base_path_warns_about_the_mount_point(place: dict[str, Path]) -> None:
    y = place["cfg"] / "w.yaml"
    y.write_text(f"w:\n  base_path: {place['tmp']}/not-mounted\n  vae: models/vae/\n")
    cfg = resolve(extra_yaml=[str(y)])
    assert any("does not exist" in w and "/runpod-volume" in w and "section 'w'" in w for w in cfg.warnings)


def test_missing_wan_folders_are_listed_once_per_section(place: dict[str, Path]) -> None:
    cfg = resolve(extra_yaml=[str(y) for y in _write(place, YAML_FORMS["runpod_worker"])])
    lines = [w for w in cfg.warnings if "these folders do not exist" in w]
    assert len(lines) == 1 and "unet" in lines[0] and "checkpoints" not in lines[0]  # only Wan keys


def test_roots_cover_the_models_folder_not_the_whole_base(place: dict[str, Path]) -> None:
    (place["tmp"] / "models" / "diffusion_models").mkdir(parents=True)
    (place["tmp"] / "models" / "unet").mkdir()
    cfg = resolve(extra_yaml=[str(y) for y in _write(place, YAML_FORMS["runpod_worker"])])
    assert [r.path for r in cfg.roots] == [str(place["tmp"] / "models")]
    assert "runpod_worker_comfy" in cfg.roots[0].source
    sec = section_for(cfg, str(place["tmp"] / "models" / "diffusion_models"))
    assert sec is not None and sec.name == "runpod_worker_comfy"
    assert sec.raw_keys["unet"] == ["models/unet/"]


def test_parent_roots_never_include_the_filesystem_root_or_home(place: dict[str, Path]) -> None:
    y = place["cfg"] / "odd.yaml"
    y.write_text(f"s:\n  loras: {place['home']}/loras\n  vae: /vae\n")
    (place["home"] / "loras").mkdir()
    cfg = resolve(extra_yaml=[str(y)])
    assert all(r.path not in ("/", str(place["home"])) for r in cfg.roots)


def test_a_folder_holding_a_single_model_folder_is_not_searched(place: dict[str, Path]) -> None:
    """ComfyUI also registers output/loras (trained LoRAs): output/ is no models folder to walk."""
    out = place["tmp"] / "output"
    (out / "loras").mkdir(parents=True)
    (out / "my_video_0001.mp4").write_bytes(b"")
    registered = {"loras": [str(place["models"] / "loras"), str(out / "loras")]}
    cfg = from_folder_paths(lambda k: registered.get(k, []), str(place["models"]))
    assert [r.path for r in cfg.roots] == [str(place["models"])]


def test_root_that_is_a_single_model_folder_is_warned(place: dict[str, Path]) -> None:
    cfg = resolve(roots=[str(place["vol"] / "loras")])
    assert any("looks like one model folder" in w and f"--root {place['vol']}" in w for w in cfg.warnings)
    assert not resolve(roots=[str(place["vol"])]).warnings


def test_roots_register_comfyuis_default_sub_folders(place: dict[str, Path]) -> None:
    cfg = resolve(roots=[str(place["vol"])])
    v = place["vol"]
    assert cfg.dirs("diffusion_models") == [str(v / "unet"), str(v / "diffusion_models")]
    assert cfg.dirs("text_encoders") == [str(v / "text_encoders"), str(v / "clip")]
    assert cfg.roots[0].as_dict() == {"path": str(v), "source": "--root"}


def test_from_a_running_comfyui(place: dict[str, Path]) -> None:
    v, m = place["vol"], place["models"]
    y = _write(place, YAML_FORMS["legacy_unet_clip"])[0]
    registered: dict[str, list[str]] = {
        "diffusion_models": [str(m / "unet"), str(m / "diffusion_models"), str(v / "unet")],
        "text_encoders": [str(m / "text_encoders"), str(m / "clip"), str(v / "clip")],
        "vae": [str(m / "vae")], "clip_vision": [str(m / "clip_vision")], "loras": [str(m / "loras")],
    }

    def get_folder_paths(key: str) -> list[str]:
        return list(registered[key])  # audio_encoders unknown: an older ComfyUI

    cfg = from_folder_paths(get_folder_paths, str(m), yaml_files=[str(y)])
    assert cfg.dirs("diffusion_models") == registered["diffusion_models"]
    assert any("audio_encoders" in w for w in cfg.warnings)
    d = cfg.search_dirs("diffusion_models")[2]
    assert d.section is not None and d.section.name == "s" and str(y) in d.source
    assert cfg.search_dirs("diffusion_models")[0].section is None
    assert {r.path for r in cfg.roots} == {str(m), str(v)}


def test_unknown_keys_from_comfyui_do_not_crash(place: dict[str, Path]) -> None:
    def get_folder_paths(key: str) -> list[str]:
        raise KeyError(key)

    cfg = from_folder_paths(get_folder_paths, str(place["models"]))
    assert len(cfg.warnings) == len(WAN_FOLDER_KEYS) and not cfg.problems
