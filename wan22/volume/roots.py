"""Where ComfyUI looks for each model folder key, resolved the way ComfyUI resolves it.

Why a mirror and not ComfyUI's own utils/extra_config.load_extra_path_config: that function
imports folder_paths (ComfyUI itself), so the CLI, install.py and the serverless worker cannot
call it before or without ComfyUI; and it diagnoses nothing. Of the 30 extra_model_paths.yaml
forms in tests/unit/test_roots.py, 10 make it raise (ComfyUI does not start) with messages such
as "'NoneType' object has no attribute 'split'" or "string indices must be integers", naming no
file, section or key; here each becomes a problem that names them and the fix. That test runs
ComfyUI's own code on every form and requires the same search order and the same crashes.

Mirrors folder_paths (default dirs under <models>, legacy `unet`/`clip` keys, append vs
`is_default` insert, first match wins) and utils/extra_config.py (base_path with ~ and $VARS, a
relative base_path or path resolved against the YAML file's folder, values split on newlines so
several paths need a `|` block). Where ComfyUI would crash on a YAML file (a list value, an empty
key, invalid YAML...), the problem is recorded instead, naming the file, section and key.
Read-only: nothing here writes anywhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..catalog import DEFAULT_DIRS, LEGACY_FOLDERS
from ..catalog import WAN_FOLDER_KEYS as WAN_FOLDER_KEYS  # its home is the catalog; re-exported for importers

# Folder names ComfyUI uses under models/ (folder_paths.py): a configured folder with one of these
# names sits in a models directory, whose other sub-folders are worth searching for strays.
KNOWN_DIR_NAMES = frozenset({
    "checkpoints", "configs", "loras", "vae", "text_encoders", "clip", "diffusion_models", "unet", "clip_vision",
    "style_models", "embeddings", "diffusers", "vae_approx", "controlnet", "t2i_adapter", "gligen", "upscale_models",
    "latent_upscale_models", "hypernetworks", "photomaker", "classifiers", "model_patches", "audio_encoders",
    "background_removal", "frame_interpolation", "geometry_estimation", "optical_flow", "detection", "lora",
})
_VAR_RE = re.compile(r"\$(\w+|\{[^}]*\})")


@dataclass
class YamlSection:
    """One top-level section of an extra_model_paths.yaml, as ComfyUI would apply it."""

    yaml_path: str
    name: str
    base_path: str | None
    is_default: bool
    keys: dict[str, list[str]] = field(default_factory=dict)  # folder key (legacy-mapped) -> full paths
    raw_keys: dict[str, list[str]] = field(default_factory=dict)  # key as written -> its lines as written


@dataclass
class SearchDir:
    path: str
    source: str
    section: YamlSection | None = None


@dataclass
class Root:
    path: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "source": self.source}


@dataclass
class FolderConfig:
    folders: dict[str, list[SearchDir]] = field(default_factory=dict)
    roots: list[Root] = field(default_factory=list)
    sections: list[YamlSection] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # ComfyUI would fail to start
    warnings: list[str] = field(default_factory=list)  # works, but probably not as meant

    def dirs(self, key: str) -> list[str]:
        return [d.path for d in self.folders.get(map_legacy(key), [])]

    def search_dirs(self, key: str) -> list[SearchDir]:
        return list(self.folders.get(map_legacy(key), []))

    def add(self, key: str, path: str, source: str, is_default: bool = False,
            section: YamlSection | None = None) -> None:
        """folder_paths.add_model_folder_path: append, or with is_default put (or move) it first."""
        key = map_legacy(key)
        lst = self.folders.setdefault(key, [])
        existing = next((d for d in lst if d.path == path), None)
        if existing is not None:
            if is_default and lst[0] is not existing:
                lst.remove(existing)
                lst.insert(0, existing)
            return
        d = SearchDir(path, source, section)
        if is_default:
            lst.insert(0, d)
        else:
            lst.append(d)

    def add_root(self, path: str, source: str) -> None:
        path = os.path.normpath(path)
        if all(r.path != path for r in self.roots):
            self.roots.append(Root(path, source))

    def add_models_dir(self, models_dir: str, source: str) -> None:
        """A ComfyUI-style models directory: the default sub-folders of every Wan folder key."""
        models_dir = os.path.normpath(os.path.abspath(os.path.expanduser(models_dir)))
        self.add_root(models_dir, source)
        for key in WAN_FOLDER_KEYS:
            for sub in DEFAULT_DIRS.get(key, (key,)):
                self.add(key, os.path.join(models_dir, sub), source)

    def add_parent_roots(self) -> None:
        """A configured folder named like a ComfyUI folder (loras, unet, vae...) whose parent holds
        at least one more such folder sits in a models directory: search that directory too, to
        find files in the wrong sub-folder. Never the filesystem root or the home directory, nor a
        folder like ComfyUI's output/ that merely holds one model folder."""
        home = os.path.normpath(os.path.expanduser("~"))
        for key in WAN_FOLDER_KEYS:
            for d in self.search_dirs(key):
                if os.path.basename(d.path).lower() not in KNOWN_DIR_NAMES:
                    continue
                parent = os.path.dirname(d.path)
                if parent in (os.path.dirname(parent), home) or any(r.path == parent for r in self.roots):
                    continue
                if _known_subdirs(parent) >= 2:
                    self.add_root(parent, d.source)


def _known_subdirs(path: str) -> int:
    try:
        with os.scandir(path) as it:
            return sum(1 for e in it if e.name.lower() in KNOWN_DIR_NAMES and e.is_dir())
    except OSError:
        return 0


def map_legacy(key: str) -> str:
    return LEGACY_FOLDERS.get(key, key)


def _where(yaml_path: str, section: object = None, key: object = None) -> str:
    s = yaml_path
    if section is not None:
        s += f", section '{section}'"
    if key is not None:
        s += f", key '{key}'"
    return s


def load_extra_model_paths(cfg: FolderConfig, yaml_path: str, register: bool = True) -> None:
    """Apply one extra_model_paths.yaml exactly as ComfyUI's load_extra_path_config does.

    What ComfyUI would crash on goes to cfg.problems (it would not start), what it would
    silently misread goes to cfg.warnings. With register=False only cfg.sections is filled (to
    name the file and section in hints when the folders come from a running ComfyUI).
    """
    yaml_path = os.path.abspath(os.path.expanduser(yaml_path))
    config = _read_yaml(cfg, yaml_path)
    if config is None:
        return
    for name, conf in config.items():
        if conf is None:
            continue
        if not isinstance(conf, dict):
            if conf in ("", []):
                continue
            cfg.problems.append(f"{_where(yaml_path, name)}: must hold 'folder_key: path' lines, but it is a "
                                f"{type(conf).__name__} ({str(conf)[:60]!r}); ComfyUI fails to start on it. "
                                "Indent the keys under the section name")
            continue
        _apply_section(cfg, yaml_path, name, dict(conf), register)


def _read_yaml(cfg: FolderConfig, yaml_path: str) -> dict[Any, Any] | None:
    """The file's sections, or None (with the problem recorded) where ComfyUI would not start."""
    try:
        with open(yaml_path, encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except OSError as e:
        cfg.problems.append(f"{yaml_path}: cannot be read ({e.strerror}); ComfyUI would fail to start with it")
        return None
    except UnicodeDecodeError:
        cfg.problems.append(f"{yaml_path}: is not UTF-8 text; ComfyUI reads it as UTF-8 and fails to start")
        return None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        cfg.problems.append(f"{yaml_path}: not valid YAML{at} ({what}); ComfyUI fails to start on it. "
                            "Check the indentation (two spaces under each section) and quote paths containing ':'")
        return None
    if config is None:
        cfg.problems.append(f"{yaml_path}: the file is empty (or only comments); ComfyUI fails to start on it "
                            "('NoneType' object is not iterable). Delete it or add a section")
        return None
    if not isinstance(config, dict):
        if config in ("", []):
            cfg.warnings.append(f"{yaml_path}: holds no sections, so it adds no folders")
        else:
            cfg.problems.append(f"{yaml_path}: the top level must be sections (like 'comfyui:') holding folder keys, "
                                f"but it is a {type(config).__name__}; ComfyUI fails to start on it")
        return None
    return config


def _base_path(cfg: FolderConfig, yaml_path: str, name: object, conf: dict[Any, Any],
               register: bool) -> tuple[bool, str | None]:
    """(ok, the section's base_path as ComfyUI expands it); pops it from `conf`. Not ok: ComfyUI
    would not start (recorded in cfg.problems)."""
    if "base_path" not in conf:
        return True, None
    raw = conf.pop("base_path")
    if not isinstance(raw, str):
        cfg.problems.append(f"{_where(yaml_path, name, 'base_path')}: must be a path, got {raw!r}; "
                            "ComfyUI fails to start on it")
        return False, None
    base_path = os.path.expandvars(os.path.expanduser(raw))
    for var in _VAR_RE.findall(base_path):
        cfg.warnings.append(f"{_where(yaml_path, name, 'base_path')}: environment variable ${var.strip('{}')} "
                            "is not set, so ComfyUI keeps it literally in the path")
    if not os.path.isabs(base_path):
        base_path = os.path.abspath(os.path.join(os.path.dirname(yaml_path), base_path))
    if register and not os.path.isdir(base_path):
        cfg.warnings.append(f"{_where(yaml_path, name, 'base_path')}: {base_path} does not exist, so none of "
                            "its folders are searched (is the volume mounted there? RunPod pods mount it "
                            "at /workspace, serverless workers at /runpod-volume)")
    return True, base_path


def _apply_section(cfg: FolderConfig, yaml_path: str, name: object, conf: dict[Any, Any], register: bool) -> None:
    """One section: its base_path, is_default and every 'key: path' line, in ComfyUI's order."""
    ok, base_path = _base_path(cfg, yaml_path, name, conf, register)
    if not ok:
        return
    raw_default = conf.pop("is_default", False)
    if not isinstance(raw_default, bool):
        cfg.warnings.append(f"{_where(yaml_path, name, 'is_default')}: {raw_default!r} is not true/false; ComfyUI "
                            f"treats it as {bool(raw_default)}")
    section = YamlSection(yaml_path, str(name), base_path, bool(raw_default))
    cfg.sections.append(section)
    missing: list[str] = []
    for key, value in conf.items():
        if not isinstance(value, str):
            cfg.problems.append(f"{_where(yaml_path, name, key)}: {_value_problem(key, value)}")
            continue
        for line in value.split("\n"):
            if len(line) == 0:
                continue
            if line != line.strip():
                cfg.warnings.append(f"{_where(yaml_path, name, key)}: the path {line!r} has spaces around it, which "
                                    "ComfyUI keeps as part of the folder name")
            full = _full_path(line, base_path, os.path.dirname(yaml_path))
            fkey = map_legacy(str(key))
            section.keys.setdefault(fkey, []).append(full)
            section.raw_keys.setdefault(str(key), []).append(line)
            if register:
                cfg.add(fkey, full, f"{yaml_path} [{name}]", section.is_default, section)
                if fkey in WAN_FOLDER_KEYS and not os.path.isdir(full) and (base_path is None or os.path.isdir(base_path)):
                    missing.append(f"{key} ({full})")
    if missing:
        cfg.warnings.append(f"{_where(yaml_path, name)}: these folders do not exist: {', '.join(missing)}")


def _full_path(line: str, base_path: str | None, yaml_dir: str) -> str:
    """A value's line as ComfyUI joins it: onto base_path, else onto the YAML file's folder if relative."""
    full = line
    if base_path:
        full = os.path.join(base_path, full)
    elif not os.path.isabs(full):
        full = os.path.abspath(os.path.join(yaml_dir, line))
    return os.path.normpath(full)


def _value_problem(key: object, value: object) -> str:
    """Why ComfyUI fails to start on a value that is not text (it splits every value on newlines)."""
    if value is None:
        return ("has no value; ComfyUI fails to start on it ('NoneType' object has no attribute 'split'). Give it "
                "a folder or delete the line")
    if isinstance(value, list):
        return ("is a YAML list; ComfyUI splits each value as text and fails to start on it. Write several "
                f"folders as a '|' block, one per line:\n  {key}: |\n" + "".join(f"    {v}\n" for v in value).rstrip())
    return f"is {value!r} ({type(value).__name__}), not a path; ComfyUI fails to start on it"


def resolve(comfyui: str | None = None, extra_yaml: list[str] | None = None,
            roots: list[str] | None = None, models_dir: str | None = None) -> FolderConfig:
    """Folder config as ComfyUI would build it: a ComfyUI checkout's models dir and its
    extra_model_paths.yaml, then extra YAML files in order (--extra-model-paths-config), then
    plain `--root` models directories (appended like extra paths)."""
    cfg = FolderConfig()
    if comfyui:
        comfyui = os.path.abspath(os.path.expanduser(comfyui))
        if not os.path.isdir(comfyui):
            cfg.problems.append(f"ComfyUI folder {comfyui} does not exist")
        else:
            cfg.add_models_dir(models_dir or os.path.join(comfyui, "models"), f"ComfyUI models ({comfyui})")
            default_yaml = os.path.join(comfyui, "extra_model_paths.yaml")
            if os.path.isfile(default_yaml):
                load_extra_model_paths(cfg, default_yaml)
    elif models_dir:
        cfg.add_models_dir(models_dir, "models directory")
    for y in extra_yaml or []:
        load_extra_model_paths(cfg, y)
    for r in roots or []:
        cfg.add_models_dir(r, "--root")
        _check_root_shape(cfg, os.path.abspath(os.path.expanduser(r)))
    cfg.add_parent_roots()
    return cfg


def _check_root_shape(cfg: FolderConfig, root: str) -> None:
    base = os.path.basename(os.path.normpath(root)).lower()
    if base in KNOWN_DIR_NAMES and not any(os.path.isdir(os.path.join(root, k)) for k in WAN_FOLDER_KEYS):
        cfg.warnings.append(f"--root {root} looks like one model folder ('{base}'), not a models directory: --root "
                            f"takes the folder that holds diffusion_models/, vae/, loras/... Try --root {os.path.dirname(root)}")


def from_folder_paths(get_folder_paths: Callable[[str], list[str]], models_dir: str,
                      yaml_files: list[str] | None = None, extra_roots: list[str] | None = None) -> FolderConfig:
    """Folder config from a running ComfyUI's folder_paths (passed in, so this module stays
    ComfyUI-free): its folders in its search order. `yaml_files` (the extra_model_paths files it
    loaded) only serve to name the file and section in hints."""
    cfg = FolderConfig()
    cfg.add_root(os.path.normpath(models_dir), "ComfyUI models directory")
    for key in WAN_FOLDER_KEYS:
        try:
            paths = get_folder_paths(key)
        except KeyError:
            cfg.warnings.append(f"ComfyUI has no '{key}' model folder registered")
            paths = []
        for p in paths:
            cfg.add(key, os.path.normpath(p), "ComfyUI folder_paths")
    scratch = FolderConfig()
    for y in yaml_files or []:
        if os.path.isfile(y):
            load_extra_model_paths(scratch, y, register=False)
    cfg.sections = scratch.sections
    for key in WAN_FOLDER_KEYS:  # attach the section each folder came from, for hints
        for d in cfg.folders.get(key, []):
            d.section = next((s for s in reversed(scratch.sections) if d.path in s.keys.get(key, [])), None)
            if d.section is not None:
                d.source = f"{d.section.yaml_path} [{d.section.name}]"
    for r in extra_roots or []:
        cfg.add_root(r, "extra root")
    cfg.add_parent_roots()
    return cfg


def section_for(cfg: FolderConfig, path: str) -> YamlSection | None:
    """The YAML section whose base_path holds `path` (the deepest one), for 'add this key' hints."""
    best: YamlSection | None = None
    for s in cfg.sections:
        if s.base_path and inside(path, s.base_path) and (best is None or len(s.base_path) > len(best.base_path or "")):
            best = s
    return best


def inside(path: str, folder: str) -> bool:
    """True when `path` is `folder` or lies under it (both made absolute first)."""
    try:
        return os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == os.path.abspath(folder)
    except ValueError:
        return False


def describe(cfg: FolderConfig) -> dict[str, Any]:
    """The search order per Wan folder key, for reports."""
    return {k: [d.path for d in cfg.search_dirs(k)] for k in WAN_FOLDER_KEYS}
