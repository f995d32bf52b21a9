"""What install.py does, kept here so it can be tested without ComfyUI or a network volume.

ComfyUI-Manager runs `python install.py` from the pack folder after `pip install -r
requirements.txt`, with COMFYUI_PATH set and no arguments. In that mode this module only reads
and prints: it checks the ComfyUI version against `[tool.comfy] requires-comfyui` in the pack's
pyproject.toml, and when a network volume is present (WAN22_MODELS_DIR, /workspace/models,
/runpod-volume/models) whose Wan 2.2 folders ComfyUI does not search, it prints the
extra_model_paths.yaml section that would add them.

It writes only when asked (`--write-yaml` or WAN22_WRITE_MODEL_PATHS=1), and then only by
appending one clearly named section to the end of the user's extra_model_paths.yaml (or creating
the file). It never rewrites or reorders what is there, never appends when the volume's Wan
folders are already searched, and checks that the result still parses to the same sections plus
the new one before touching the file. A second run changes nothing. No network, no git, no pip.
Stdlib only, plus pyyaml for the YAML steps (imported lazily, so the version check works without it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._version import read_pyproject_value
from ..catalog import DEFAULT_DIRS, VOLUME_CANDIDATES
from ..comfyui_dir import is_comfyui

# Every folder key a Wan 2.2 workflow loads from, with the sub-folders ComfyUI itself uses for
# it under a models directory (ComfyUI's search order: legacy `unet`/`clip` first).
WAN_KEYS: tuple[str, ...] = ("diffusion_models", "text_encoders", "vae", "clip_vision", "audio_encoders", "loras")
WAN_SUBDIRS: dict[str, tuple[str, ...]] = {k: DEFAULT_DIRS[k] for k in WAN_KEYS}
SECTION_NAME = "wan22_volume"
WRITE_ENV = "WAN22_WRITE_MODEL_PATHS"
MODELS_ENV = "WAN22_MODELS_DIR"
PREFIX = "[wan22]"

Out = Callable[[str], None]


# ---------------------------------------------------------------- versions

def _specifiers() -> Any:
    """`packaging.specifiers`: installed with pip/setuptools and by ComfyUI's own requirements,
    so present wherever ComfyUI-Manager runs install.py. ImportError is handled by the caller."""
    from packaging import specifiers

    return specifiers


def version_satisfies(version: str, spec: str) -> bool:
    """Whether `version` meets a requires-comfyui spec such as '>=0.3.60' or '>=1.0.0,<2.0.0',
    by PEP 440 (packaging). A bare version means ==. Only the release numbers of `version` count
    ('v0.3.60-rc1' is 0.3.60), as ComfyUI's own version strings carry no pre-release meaning."""
    specifiers = _specifiers()
    version_cls = specifiers.Version
    release = ".".join(str(n) for n in version_cls(version.strip()).release)
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    normal = ",".join(p if p[0] in "<>=!~" else f"=={p}" for p in parts)
    try:
        wanted = specifiers.SpecifierSet(normal)
    except specifiers.InvalidSpecifier as e:
        raise ValueError(f"cannot read version requirement {spec!r}: {e}") from None
    return bool(wanted.contains(release, prereleases=True))


def read_comfyui_version(comfyui: str) -> str | None:
    """ComfyUI's version from comfyui_version.py (or its pyproject.toml), without importing it."""
    try:
        with open(os.path.join(comfyui, "comfyui_version.py"), encoding="utf-8") as f:
            m = re.search(r"""__version__\s*=\s*["']([^"']+)["']""", f.read())
        if m:
            return m.group(1)
    except OSError:
        pass
    return read_pyproject_value(os.path.join(comfyui, "pyproject.toml"), "project", "version")


def find_comfyui(arg: str | None, env: Mapping[str, str], pack_dir: str) -> tuple[str | None, str]:
    """(ComfyUI folder or None, how it was found). --comfyui, then COMFYUI_PATH (set by
    ComfyUI-Manager), then the folder above custom_nodes/ when the pack sits in one."""
    if arg:
        p = os.path.abspath(os.path.expanduser(arg))
        return (p, "--comfyui") if is_comfyui(p) else (None, f"--comfyui {p} is not a ComfyUI folder (no folder_paths.py)")
    env_path = env.get("COMFYUI_PATH")
    if env_path:
        p = os.path.abspath(os.path.expanduser(env_path))
        if is_comfyui(p):
            return p, "COMFYUI_PATH"
    parent = os.path.dirname(os.path.abspath(pack_dir))
    if os.path.basename(parent) == "custom_nodes" and is_comfyui(os.path.dirname(parent)):
        return os.path.dirname(parent), "the folder above custom_nodes/"
    return None, "no ComfyUI found (pass --comfyui DIR or set COMFYUI_PATH)"


@dataclass
class VersionCheck:
    ok: bool
    known: bool
    message: str


def check_comfyui_version(comfyui: str | None, requires: str | None) -> VersionCheck:
    if not requires:
        return VersionCheck(True, True, "the pack states no ComfyUI version requirement")
    if comfyui is None:
        return VersionCheck(True, False, f"ComfyUI version not checked (no ComfyUI folder found); this pack needs ComfyUI {requires}")
    version = read_comfyui_version(comfyui)
    if version is None:
        return VersionCheck(True, False, f"could not read ComfyUI's version in {comfyui} (no comfyui_version.py); this pack needs ComfyUI {requires}")
    try:
        ok = version_satisfies(version, requires)
    except (ValueError, ImportError) as e:  # ImportError: no `packaging` in this Python
        return VersionCheck(True, False, f"could not compare ComfyUI {version} with {requires!r}: {e}")
    if ok:
        return VersionCheck(True, True, f"ComfyUI {version} at {comfyui} meets {requires}")
    return VersionCheck(False, True, (
        f"ComfyUI {version} at {comfyui} is too old: this pack needs ComfyUI {requires}, and its nodes will fail to "
        f"load until ComfyUI is updated. Update ComfyUI (ComfyUI-Manager: 'Update ComfyUI'; comfy-cli: `comfy update comfy`; "
        f"a git checkout: `git pull` in {comfyui}, then `pip install -r requirements.txt`), then restart it. "
        f"On the RunPod worker image, use a newer runpod/worker-comfyui base tag."
    ))


# ---------------------------------------------------------------- the extra_model_paths.yaml section

def detect_volume(env: Mapping[str, str], candidates: Sequence[str] = VOLUME_CANDIDATES) -> tuple[str | None, list[str]]:
    """(models folder on a network volume or None, notes). WAN22_MODELS_DIR wins when set."""
    notes: list[str] = []
    explicit = env.get(MODELS_ENV)
    if explicit:
        p = os.path.abspath(os.path.expanduser(explicit))
        if os.path.isdir(p):
            return p, notes
        notes.append(f"{MODELS_ENV}={explicit} is not a folder; ignoring it")
    for c in candidates:
        if os.path.isdir(c):
            return os.path.abspath(c), notes
    return None, notes


def _yaml_scalar(s: str) -> str:
    if re.fullmatch(r"/[A-Za-z0-9_./+-]*", s):
        return s
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def section_text(models_dir: str, name: str = SECTION_NAME, version: str = "") -> str:
    """The YAML section that makes ComfyUI search every Wan 2.2 folder of `models_dir`, written
    the way utils/extra_config.py reads it: base_path, one key per folder, several paths as a
    `|` block (ComfyUI splits values on newlines; YAML lists crash it)."""
    by = f"ComfyUI-Wan22 install.py {version}".rstrip()
    lines = [
        f"# ---- added by {by}: the Wan 2.2 model folders on {models_dir} ----",
        "# ComfyUI searches its own models/ folders first, then these. Delete this section to undo.",
        "# unet/ and clip/ are the older folder names ComfyUI still reads for diffusion_models and text_encoders.",
        f"{name}:",
        f"  base_path: {_yaml_scalar(models_dir)}",
    ]
    for key in WAN_KEYS:
        subs = WAN_SUBDIRS[key]
        if len(subs) == 1:
            lines.append(f"  {key}: {subs[0]}/")
        else:
            lines.append(f"  {key}: |")
            lines += [f"    {s}/" for s in subs]
    return "\n".join(lines) + "\n"


@dataclass
class YamlPlan:
    action: str  # "nothing" | "create" | "append" | "refuse"
    path: str
    reason: str
    section: str = ""
    missing: list[str] = field(default_factory=list)
    new_text: str = ""


def _real(p: str) -> str:
    return os.path.realpath(p)


def uncovered_keys(models_dir: str, comfyui: str | None, yaml_path: str | None) -> tuple[list[str], list[str]]:
    """(Wan folder keys whose <models_dir>/<key> ComfyUI would not search, config problems)."""
    from ..volume.roots import FolderConfig, load_extra_model_paths

    cfg = FolderConfig()
    if comfyui:
        cfg.add_models_dir(os.path.join(comfyui, "models"), "ComfyUI models")
    if yaml_path and os.path.isfile(yaml_path):
        load_extra_model_paths(cfg, yaml_path)
    missing = []
    for key in WAN_KEYS:
        searched = {_real(d) for d in cfg.dirs(key)}
        if _real(os.path.join(models_dir, key)) not in searched:
            missing.append(key)
    return missing, list(cfg.problems)


def _as_comfyui_reads(value: object) -> object:
    """A parsed YAML value as ComfyUI uses it: strings are split on newlines, empty lines dropped
    (so a block scalar that gains a final newline when text follows it reads the same)."""
    if isinstance(value, dict):
        return {k: _as_comfyui_reads(v) for k, v in value.items()}
    if isinstance(value, str):
        return tuple(line for line in value.split("\n") if line)
    return value


def plan_yaml(models_dir: str, yaml_path: str, comfyui: str | None, version: str = "") -> YamlPlan:
    """What --write-yaml would do to `yaml_path` for the volume `models_dir`; reads only."""
    import yaml

    section = section_text(models_dir, SECTION_NAME, version)
    exists = os.path.exists(yaml_path)
    old: object = None
    old_text = ""
    if exists:
        try:
            with open(yaml_path, encoding="utf-8") as f:
                old_text = f.read()
            old = yaml.safe_load(old_text)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            missing, _ = uncovered_keys(models_dir, comfyui, None)
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            return YamlPlan("refuse", yaml_path, f"it has problems ComfyUI would trip over; fix them first ({why})", section, missing)
    empty = exists and old is None  # empty or only comments: ComfyUI fails on it, our section fixes that
    missing, problems = uncovered_keys(models_dir, comfyui, yaml_path if exists and not empty else None)
    if not missing:
        return YamlPlan("nothing", yaml_path, f"ComfyUI already searches every Wan 2.2 folder of {models_dir}")
    if not exists:
        return YamlPlan("create", yaml_path, f"{yaml_path} does not exist", section, missing, section)
    if problems:
        return YamlPlan("refuse", yaml_path, "it has problems ComfyUI would trip over; fix them first:\n  " + "\n  ".join(problems),
                        section, missing)
    if old is None:
        old = {}
    if not isinstance(old, dict):
        return YamlPlan("refuse", yaml_path, "its top level is not a mapping of sections", section, missing)
    if SECTION_NAME in old:
        return YamlPlan("refuse", yaml_path, (
            f"it already has a '{SECTION_NAME}' section that does not cover {models_dir}; this script never edits an "
            f"existing section. Edit that section by hand, or rename it and run again"), section, missing)
    sep = "" if not old_text or old_text.endswith("\n") else "\n"
    new_text = old_text + sep + ("\n" if old_text.strip() else "") + section
    try:
        new = yaml.safe_load(new_text)
    except yaml.YAMLError as e:
        return YamlPlan("refuse", yaml_path, f"appending would not give valid YAML: the file does not end cleanly at the top "
                        f"level ({str(e).splitlines()[0]})", section, missing)
    expected = dict(old)
    expected[SECTION_NAME] = yaml.safe_load(section)[SECTION_NAME]
    if _as_comfyui_reads(new) != _as_comfyui_reads(expected):
        return YamlPlan("refuse", yaml_path, "appending would change how the existing sections read (the file does not end "
                        "cleanly at the top level)", section, missing)
    return YamlPlan("append", yaml_path, f"adds a '{SECTION_NAME}' section for {', '.join(missing)}", section, missing, new_text)


def apply_plan(plan: YamlPlan) -> None:
    """Create the file, or append exactly the planned text (the file is opened in append mode,
    so its inode, permissions and any symlink are kept and nothing before the end is touched)."""
    if plan.action == "create":
        os.makedirs(os.path.dirname(plan.path) or ".", exist_ok=True)
        with open(plan.path, "x", encoding="utf-8") as f:
            f.write(plan.new_text)
    elif plan.action == "append":
        with open(plan.path, encoding="utf-8") as f:
            current = f.read()
        if not plan.new_text.startswith(current):
            raise RuntimeError(f"{plan.path} changed while planning; nothing written, run again")
        with open(plan.path, "a", encoding="utf-8") as f:
            f.write(plan.new_text[len(current):])


# ---------------------------------------------------------------- the install.py entry point

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python install.py",
        description="ComfyUI-Wan22 post-install check (ComfyUI-Manager runs it with no arguments). "
                    "Checks the ComfyUI version and offers an extra_model_paths.yaml section for a network volume.")
    p.add_argument("--comfyui", metavar="DIR", help="ComfyUI folder (default: $COMFYUI_PATH, else the folder above custom_nodes/)")
    p.add_argument("--models-dir", metavar="DIR", help=f"models folder on the volume (default: ${MODELS_ENV}, else "
                   f"{' or '.join(VOLUME_CANDIDATES)} when present)")
    p.add_argument("--yaml", metavar="FILE", help="the extra_model_paths.yaml to check or extend (default: <ComfyUI>/extra_model_paths.yaml)")
    p.add_argument("--write-yaml", action="store_true", help=f"append the section (same as {WRITE_ENV}=1); without it nothing is written")
    p.add_argument("--dry-run", action="store_true", help="say what --write-yaml would do, write nothing")
    p.add_argument("--strict", action="store_true", help="exit 1 when ComfyUI is missing, too old or of unknown version (for image builds)")
    return p


def _check_version(a: argparse.Namespace, env: Mapping[str, str], pack_dir: str, out: Out) -> tuple[str | None, int]:
    """(ComfyUI folder or None, exit code so far) after the version check."""
    requires = read_pyproject_value(os.path.join(pack_dir, "pyproject.toml"), "tool.comfy", "requires-comfyui")
    comfyui, how = find_comfyui(a.comfyui, env, pack_dir)
    if comfyui is None:
        out(f"{PREFIX} note: {how}")
    check = check_comfyui_version(comfyui, requires)
    out(f"{PREFIX} {'ok' if check.ok and check.known else 'WARNING' if not check.ok else 'note'}: {check.message}")
    strict_fail = a.strict and (comfyui is None or not check.ok or not check.known)
    return comfyui, 1 if strict_fail else 0


def _models_dir(a: argparse.Namespace, env: Mapping[str, str], candidates: Sequence[str], out: Out) -> str | None:
    if a.models_dir:
        given = os.path.abspath(os.path.expanduser(a.models_dir))
        notes = [] if os.path.isdir(given) else [f"--models-dir {given} does not exist (yet); the section is offered anyway"]
        models_dir: str | None = given
    else:
        models_dir, notes = detect_volume(env, candidates)
    for n in notes:
        out(f"{PREFIX} note: {n}")
    return models_dir


def _offer_or_write(plan: YamlPlan, models_dir: str, yaml_path: str, want_write: bool, dry_run: bool, out: Out) -> None:
    """Act on a plan that adds a section: say it, or (asked to) append it."""
    if not want_write or dry_run:
        out(f"{PREFIX} ComfyUI does not search these Wan 2.2 folders on {models_dir}: {', '.join(plan.missing)}. "
            "Workflows that need them fail with 'not found' until they are added.")
        target = f"create {yaml_path} with" if plan.action == "create" else f"append to {yaml_path}"
        if dry_run:
            out(f"{PREFIX} --dry-run: would {target} this section (nothing written):")
        else:
            out(f"{PREFIX} to {target} this section, run `python install.py --write-yaml` (or set {WRITE_ENV}=1), "
                "or paste it yourself:")
        out(plan.section.rstrip("\n"))
        return
    try:
        apply_plan(plan)
    except (OSError, RuntimeError) as e:
        out(f"{PREFIX} WARNING: could not write {yaml_path} ({e}); add this section by hand:")
        out(plan.section.rstrip("\n"))
        return
    out(f"{PREFIX} {'created' if plan.action == 'create' else 'appended a section to'} {yaml_path}: "
        f"'{SECTION_NAME}' for {', '.join(plan.missing)} (restart ComfyUI to use it)")


def _yaml_step(a: argparse.Namespace, env: Mapping[str, str], comfyui: str | None, models_dir: str, version: str,
               out: Out) -> None:
    yaml_path = os.path.abspath(a.yaml) if a.yaml else (os.path.join(comfyui, "extra_model_paths.yaml") if comfyui else None)
    if yaml_path is None:
        out(f"{PREFIX} models folder {models_dir} found but no ComfyUI folder to configure; add this section to the "
            "extra_model_paths.yaml that ComfyUI reads:")
        out(section_text(models_dir, SECTION_NAME, version).rstrip("\n"))
        return
    try:
        plan = plan_yaml(models_dir, yaml_path, comfyui, version)
    except ImportError as e:
        out(f"{PREFIX} note: cannot check {yaml_path} ({e}); run `pip install -r requirements.txt` and then this script again")
        return
    if plan.action == "nothing":
        out(f"{PREFIX} ok: {plan.reason}; {yaml_path} left as it is")
    elif plan.action == "refuse":
        out(f"{PREFIX} WARNING: ComfyUI does not search {', '.join(plan.missing)} on {models_dir}, and {yaml_path} was "
            f"not changed: {plan.reason}")
        out(f"{PREFIX} the section to add by hand:")
        out(plan.section.rstrip("\n"))
    else:
        want_write = a.write_yaml or env.get(WRITE_ENV, "").strip().lower() in ("1", "true", "yes")
        _offer_or_write(plan, models_dir, yaml_path, want_write, a.dry_run, out)


def run(argv: Sequence[str] | None, env: Mapping[str, str], pack_dir: str, out: Out,
        candidates: Sequence[str] = VOLUME_CANDIDATES) -> int:
    """install.py's whole job; returns its exit code (0 unless --strict and ComfyUI is unusable)."""
    a = build_parser().parse_args(argv)
    version = read_pyproject_value(os.path.join(pack_dir, "pyproject.toml"), "project", "version") or ""
    out(f"{PREFIX} ComfyUI-Wan22 {version} post-install check ({pack_dir})")
    comfyui, code = _check_version(a, env, pack_dir, out)
    models_dir = _models_dir(a, env, candidates, out)
    if models_dir is None:
        out(f"{PREFIX} no network volume found ({', '.join(candidates)}; or set {MODELS_ENV}): "
            "extra_model_paths.yaml left alone")
        return code
    _yaml_step(a, env, comfyui, models_dir, version, out)
    return code
