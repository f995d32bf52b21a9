"""Model files from RunPod's cached models: Hugging Face cache snapshots made usable by ComfyUI.

RunPod puts an endpoint's cached model (one Hugging Face repo) on the host before the worker
starts, in the standard `huggingface_hub` cache layout under
`/runpod-volume/huggingface-cache/hub`: `models--ORG--NAME/snapshots/<commit>/<path in repo>`,
each file a relative symlink into `blobs/`. ComfyUI knows nothing of that layout; this module
bridges it at boot, before ComfyUI starts:

1. `scan`: the cache's snapshots, read with `huggingface_hub.scan_cache_dir` (model repos; per
   repo the revision a ref such as `main` points at, else the newest);
2. `map_files`: each file of a snapshot to a ComfyUI folder key: a file under
   `split_files/<key>/` (the Comfy-Org repackaged repos) or `<key>/` (a lean repo laid out like a
   models folder) is in that key's folder; any other file by its catalog name (`wan22.catalog`),
   else by its safetensors or GGUF header (what the file is: a Wan DiT, the VAE, umT5, a LoRA...);
3. `write_config`: one extra_model_paths YAML, passed to ComfyUI with `--extra-model-paths-config`:
   a section per snapshot pointing each key at its folders in the snapshot (`is_default`, so the
   cached copy is found before a volume copy), and for files outside key folders a section on a
   folder of symlinks, one per key, outside the cache. ComfyUI lists folders with
   `os.walk(followlinks=True)` and opens files through the symlinks, so blobs are read in place.

Nothing in the cache is written. `WAN22_MODEL_SOURCE` picks the source: `auto` (default: the
cache when it holds a snapshot, the volume as always), `volume` (never look at the cache),
`hf-cache` (the cache must hold a snapshot: the boot log says so loudly when it does not).
`WAN22_HF_CACHE` moves the cache folder. The readiness table names where each file comes from.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import BY_NAME, BY_ROLE, FILES, WAN_FOLDER_KEYS
from ..errors import Wan22Error

log = logging.getLogger("wan22.worker")
SOURCE_ENV = "WAN22_MODEL_SOURCE"
CACHE_ENV = "WAN22_HF_CACHE"
SOURCES = ("auto", "volume", "hf-cache")
DEFAULT_CACHE = "/runpod-volume/huggingface-cache/hub"
# folder keys a repo folder may be named after (unet / clip: ComfyUI's older names)
FOLDER_KEYS = (*WAN_FOLDER_KEYS, "model_patches", "datasets", "checkpoints", "upscale_models", "unet", "clip")
LAYOUT_PREFIXES = ("split_files/", "")  # Comfy-Org repackaged repos, then a models-folder layout
MODEL_SUFFIXES = (".safetensors", ".sft", ".gguf")
# keys whose first folder ComfyUI writes to (SaveTrainingDataset): never a snapshot's folder first
WRITTEN_KEYS = ("datasets",)


@dataclass(frozen=True)
class Snapshot:
    """One revision of one cached model repo."""

    repo_id: str
    commit: str
    path: str  # snapshots/<commit>
    storage: str  # models--ORG--NAME (blobs/ inside)
    files: tuple[str, ...]  # paths in the repo

    @property
    def label(self) -> str:
        return f"snapshot {self.repo_id}@{self.commit[:12]}"


@dataclass(frozen=True)
class Mapped:
    """One snapshot file and the ComfyUI folder key it serves."""

    key: str
    rel: str  # path in the repo
    how: str  # "folder", "catalog name" or "header"
    folder: str | None  # the key folder in the repo holding it ("split_files/vae"); None: linked


@dataclass
class CacheModels:
    """What the boot found in the cache, and the YAML that points ComfyUI at it."""

    cache_dir: str
    snapshots: list[Snapshot] = field(default_factory=list)
    mapped: dict[str, list[Mapped]] = field(default_factory=dict)  # snapshot path -> its files
    config: str | None = None
    notes: list[str] = field(default_factory=list)

    def origin(self, path: str) -> str | None:
        """The label of the snapshot a model file path comes from (through any symlinks), or None."""
        real = os.path.realpath(path)
        for s in self.snapshots:
            for top in (s.storage, s.path):
                if real == top or real.startswith(top.rstrip("/") + "/"):
                    return s.label
        return None

    def summary(self) -> str:
        if not self.snapshots:
            return f"no Hugging Face cache snapshot under {self.cache_dir}"
        parts = []
        for s in self.snapshots:
            keys: dict[str, int] = {}
            for m in self.mapped.get(s.path, []):
                keys[m.key] = keys.get(m.key, 0) + 1
            parts.append(f"{s.label} ({', '.join(f'{k} {n}' for k, n in sorted(keys.items())) or 'no model files'})")
        return "; ".join(parts)


def model_source(raw: str | None = None) -> str:
    """WAN22_MODEL_SOURCE, checked; a bad value names the variable and the choices."""
    value = (os.environ.get(SOURCE_ENV, "") if raw is None else raw).strip().lower() or "auto"
    if value not in SOURCES:
        raise Wan22Error(f"{SOURCE_ENV}={value!r}: use one of {', '.join(SOURCES)}")
    return value


def cache_dir() -> str:
    return os.environ.get(CACHE_ENV, "").strip() or DEFAULT_CACHE


def scan(root: str) -> tuple[list[Snapshot], list[str]]:
    """The model snapshots in the cache at `root` (huggingface_hub's own scanner) and its warnings."""
    from huggingface_hub import scan_cache_dir

    if not os.path.isdir(root):
        return [], []
    info = scan_cache_dir(root)
    notes = [f"cache scan: {w}" for w in info.warnings]
    out = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        revs = [r for r in repo.revisions if r.refs] or sorted(repo.revisions, key=lambda r: r.last_modified)[-1:]
        for rev in revs:
            snap = str(rev.snapshot_path)
            files = tuple(sorted(Path(f.file_path).relative_to(snap).as_posix() for f in rev.files))
            out.append(Snapshot(repo.repo_id, rev.commit_hash, snap, str(repo.repo_path), files))
    return out, notes


def _key_folder(rel: str) -> tuple[str, str] | None:
    """(folder key, repo folder) for a file in a key folder of a known layout."""
    for prefix in LAYOUT_PREFIXES:
        if not rel.startswith(prefix):
            continue
        parts = rel[len(prefix):].split("/")
        if len(parts) >= 2 and parts[0] in FOLDER_KEYS:
            return {"unet": "diffusion_models", "clip": "text_encoders"}.get(parts[0], parts[0]), prefix + parts[0]
    return None


def key_by_header(path: str) -> str | None:
    """The folder key of a safetensors or GGUF file from what its header says it is (None: not a
    model file the catalog knows a folder for). A GGUF expert goes to diffusion_models and a GGUF
    umT5 to text_encoders, the folders ComfyUI-GGUF's loaders list."""
    from ..volume.checks import kind_fits
    from ..volume.kinds import identify_file

    ident = identify_file(path)
    if ident is None:
        return None
    if ident.stand_in and ident.role in BY_ROLE:
        return BY_ROLE[ident.role].folder
    return next((f.folder for f in FILES if kind_fits(f.kind, ident.kind)), None)


def map_files(snap: Snapshot) -> list[Mapped]:
    """Every file of the snapshot that ComfyUI can use, with its folder key."""
    out = []
    for rel in snap.files:
        found = _key_folder(rel)
        if found is not None:
            out.append(Mapped(found[0], rel, "folder", found[1]))
            continue
        name = rel.rsplit("/", 1)[-1]
        if name in BY_NAME:
            out.append(Mapped(BY_NAME[name].folder, rel, "catalog name", None))
        elif name.endswith(MODEL_SUFFIXES):
            key = key_by_header(os.path.join(snap.path, rel))
            if key is not None:
                out.append(Mapped(key, rel, "header", None))
    return out


def write_config(models: CacheModels, state: str) -> str:
    """The extra_model_paths YAML for the snapshots (in `state`, never in the cache); several
    folders of one key are one text with a line each, the way ComfyUI splits them."""
    import yaml

    config: dict[str, dict[str, object]] = {}
    links = Path(state) / "links"
    linked: dict[str, list[tuple[str, str]]] = {}
    for i, s in enumerate(models.snapshots):
        folders: dict[str, list[str]] = {}
        for m in models.mapped.get(s.path, []):
            if m.folder is None:
                linked.setdefault(m.key, []).append((m.rel.rsplit("/", 1)[-1], os.path.join(s.path, m.rel)))
            elif m.folder not in folders.setdefault(m.key, []):
                folders[m.key].append(m.folder)
        first = {k: "\n".join(d) for k, d in sorted(folders.items()) if k not in WRITTEN_KEYS}
        last = {k: "\n".join(d) for k, d in sorted(folders.items()) if k in WRITTEN_KEYS}
        if first:
            config[f"wan22_hf_cache_{i}"] = {"base_path": s.path, "is_default": True, **first}
        if last:
            config[f"wan22_hf_cache_{i}_read"] = {"base_path": s.path, **last}
    for key, files in linked.items():
        (links / key).mkdir(parents=True, exist_ok=True)
        for name, target in files:
            link = links / key / name
            if not link.is_symlink() and not link.exists():
                link.symlink_to(target)
    if linked:
        config["wan22_hf_cache_links"] = {"base_path": str(links), "is_default": True, **{k: k for k in sorted(linked)}}
    os.makedirs(state, exist_ok=True)
    path = os.path.join(state, "wan22_hf_cache_paths.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("# written by the Wan 2.2 worker at boot: Hugging Face cache snapshots as ComfyUI model folders\n")
        for s in models.snapshots:
            f.write(f"# {s.label}: {s.path}\n")
        yaml.safe_dump(config, f, sort_keys=False)
    return path


def prepare(source: str, root: str, state: str | None = None) -> CacheModels | None:
    """Boot step: scan the cache, map its files, write the YAML. None when the source is the
    volume, or `auto` finds no snapshot."""
    if source == "volume":
        return None
    snaps, notes = scan(root)
    models = CacheModels(root, snaps, notes=notes)
    if not snaps:
        if source == "hf-cache":
            log.error("%s=hf-cache but there is %s: set the endpoint's cached model (a Hugging Face repo with the "
                      "workflow's files, docs/deploy.md) or use the network volume (%s=auto)",
                      SOURCE_ENV, models.summary(), SOURCE_ENV)
        return models if source == "hf-cache" else None
    for s in snaps:
        models.mapped[s.path] = map_files(s)
    state = state or tempfile.mkdtemp(prefix="wan22-hf-cache-")
    models.config = write_config(models, state)
    log.info("model source %s: %s (ComfyUI reads them through %s)", source, models.summary(), models.config)
    for n in notes:
        log.warning("%s", n)
    return models
