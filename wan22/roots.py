"""Where ComfyUI looks for each model folder key, resolved the way ComfyUI resolves it.

Mirrors folder_paths (default dirs under <base>/models, legacy `unet`/`clip` keys, append vs
is_default insert) and utils/extra_config.py (base_path with ~ and $VARS, paths relative to the
YAML file, `|` multi-line values split on newlines). Read-only: nothing here writes anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

from .catalog import DEFAULT_DIRS, LEGACY_FOLDERS

WAN_FOLDER_KEYS = ("diffusion_models", "text_encoders", "vae", "clip_vision", "audio_encoders", "loras")


@dataclass
class SearchDir:
    path: str
    source: str


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
    problems: list[str] = field(default_factory=list)  # ComfyUI would fail to start
    warnings: list[str] = field(default_factory=list)  # works, but probably not as meant

    def dirs(self, key: str) -> list[str]:
        return [d.path for d in self.folders.get(map_legacy(key), [])]

    def add(self, key: str, path: str, source: str, is_default: bool = False) -> None:
        key = map_legacy(key)
        lst = self.folders.setdefault(key, [])
        existing = next((d for d in lst if d.path == path), None)
        if existing is not None:
            if is_default and lst[0] is not existing:
                lst.remove(existing)
                lst.insert(0, existing)
            return
        if is_default:
            lst.insert(0, SearchDir(path, source))
        else:
            lst.append(SearchDir(path, source))

    def add_root(self, path: str, source: str) -> None:
        path = os.path.normpath(path)
        if all(r.path != path for r in self.roots):
            self.roots.append(Root(path, source))

    def add_models_dir(self, models_dir: str, source: str) -> None:
        """A ComfyUI-style models directory: the default sub-folders for every Wan folder key."""
        models_dir = os.path.normpath(os.path.abspath(os.path.expanduser(models_dir)))
        self.add_root(models_dir, source)
        for key, subdirs in DEFAULT_DIRS.items():
            for sub in subdirs:
                self.add(key, os.path.join(models_dir, sub), source)


def map_legacy(key: str) -> str:
    return LEGACY_FOLDERS.get(key, key)


def load_extra_model_paths(cfg: FolderConfig, yaml_path: str) -> None:
    """Apply one extra_model_paths.yaml exactly as ComfyUI's load_extra_path_config does.

    Anything ComfyUI would crash on or silently misread is recorded in cfg.problems instead.
    """
    yaml_path = os.path.abspath(os.path.expanduser(yaml_path))
    src = f"extra_model_paths {yaml_path}"
    try:
        with open(yaml_path, encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except OSError as e:
        cfg.problems.append(f"{yaml_path}: cannot read ({e.strerror}); ComfyUI would fail to start with it")
        return
    except yaml.YAMLError as e:
        cfg.problems.append(f"{yaml_path}: not valid YAML ({str(e).splitlines()[0]}); ComfyUI would fail to start")
        return
    if config is None:
        return
    if not isinstance(config, dict):
        cfg.problems.append(f"{yaml_path}: top level must be a mapping of sections (like 'comfyui:'), got {type(config).__name__}")
        return
    yaml_dir = os.path.dirname(yaml_path)
    for section, conf in config.items():
        if conf is None:
            continue
        if not isinstance(conf, dict):
            cfg.problems.append(f"{yaml_path}: section {section!r} must be a mapping of folder keys to paths")
            continue
        conf = dict(conf)
        base_path = None
        if "base_path" in conf:
            raw = conf.pop("base_path")
            if not isinstance(raw, str):
                cfg.problems.append(f"{yaml_path}: {section}.base_path must be a string, got {raw!r}")
                continue
            base_path = os.path.expandvars(os.path.expanduser(raw))
            if not os.path.isabs(base_path):
                base_path = os.path.abspath(os.path.join(yaml_dir, base_path))
            cfg.add_root(base_path, f"{src} [{section}]")
        is_default = bool(conf.pop("is_default", False))
        for key, value in conf.items():
            if not isinstance(value, str):
                kind = "a list" if isinstance(value, list) else type(value).__name__
                cfg.problems.append(
                    f"{yaml_path}: {section}.{key} is {kind}; ComfyUI splits each value as text and crashes on it. "
                    f"Write several paths as a '|' block, one per line"
                )
                continue
            for line in value.split("\n"):
                if not line:
                    continue
                if line != line.strip():
                    cfg.warnings.append(
                        f"{yaml_path}: {section}.{key} line {line!r} has surrounding spaces, which ComfyUI keeps in the path"
                    )
                full = line
                if base_path:
                    full = os.path.join(base_path, full)
                elif not os.path.isabs(full):
                    full = os.path.abspath(os.path.join(yaml_dir, line))
                cfg.add(str(key), os.path.normpath(full), f"{src} [{section}]", is_default)


def resolve(comfyui: str | None = None, extra_yaml: list[str] | None = None,
            roots: list[str] | None = None, models_dir: str | None = None) -> FolderConfig:
    """Folder config for a ComfyUI checkout (its models dir and extra_model_paths.yaml), extra
    YAML files in the order ComfyUI would load them, and plain `--root` model directories."""
    cfg = FolderConfig()
    if comfyui:
        comfyui = os.path.abspath(os.path.expanduser(comfyui))
        if not os.path.isdir(comfyui):
            cfg.problems.append(f"ComfyUI folder {comfyui} does not exist")
        else:
            cfg.add_models_dir(models_dir or os.path.join(comfyui, "models"), f"ComfyUI models {comfyui}")
            default_yaml = os.path.join(comfyui, "extra_model_paths.yaml")
            if os.path.isfile(default_yaml):
                load_extra_model_paths(cfg, default_yaml)
    elif models_dir:
        cfg.add_models_dir(models_dir, "models directory")
    for y in extra_yaml or []:
        load_extra_model_paths(cfg, y)
    for r in roots or []:
        cfg.add_models_dir(r, "--root")
    return cfg


def from_folder_paths(get_folder_paths: Callable[[str], list[str]], models_dir: str, extra_roots: list[str] | None = None) -> FolderConfig:
    """Folder config from a running ComfyUI's folder_paths (passed in, so this module stays
    ComfyUI-free). Roots are ComfyUI's models dir plus the parent of every registered folder."""
    cfg = FolderConfig()
    cfg.add_root(models_dir, "ComfyUI models directory")
    for key in WAN_FOLDER_KEYS:
        try:
            paths = get_folder_paths(key)
        except KeyError:
            cfg.problems.append(f"ComfyUI has no '{key}' model folder registered")
            paths = []
        for p in paths:
            cfg.add(key, os.path.normpath(p), "ComfyUI folder_paths")
            cfg.add_root(os.path.dirname(os.path.normpath(p)), "parent of a configured model folder")
    for r in extra_roots or []:
        cfg.add_root(r, "extra root")
    return cfg
