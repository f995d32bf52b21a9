"""Where a catalog file is, the way ComfyUI would look for it, and where users misplace it.

A workflow names a file relative to a folder key; ComfyUI compares that name exactly with its
listing and loads the first match in the folder's search order. `find` tries, in order:
(1) where ComfyUI looks; (2) the exact name somewhere it does not look, or (3) a similar name
(case, separators, suffixes); (4) a partial download; (5) missing, with what is close. Each
strategy returns a Finding or None. Hints carry the command that fixes the problem (`mv -n`,
`wget -c`) for the user to run: nothing here writes.
"""

from __future__ import annotations

import difflib
import os
import shlex
from dataclasses import dataclass, field

from ..catalog import FILES, LEGACY_FOLDERS, MODEL_EXTENSIONS, USABLE, CatalogFile, folder_names
from .checks import Check, HeaderCache, inspect_file, source_of
from .listing import OTHER_FORMATS, SAFETENSORS_EXTS, Listing
from .report import Finding
from .roots import FolderConfig, SearchDir, YamlSection, inside, section_for
from .safetensors_header import HeaderError, read_header

DAMAGE = ("truncated", "corrupt")


def normalize_name(name: str) -> str:
    """Case, separators and extension folded: 'Wan_2.1-VAE.SafeTensors' -> 'wan21vae'."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for ext in MODEL_EXTENSIONS + OTHER_FORMATS:
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    return "".join(c for c in base if c.isalnum())


_CATALOG_NAMES = {f.name for f in FILES}
_CATALOG_NORMS = {normalize_name(f.name): f.role for f in FILES}


@dataclass
class _Search:
    """One catalog file being looked for: what the strategies share."""

    cfg: FolderConfig
    entry: CatalogFile
    listing: Listing
    headers: HeaderCache
    sdirs: list[SearchDir] = field(init=False)
    home: str | None = field(init=False)  # the configured folder a missing file should go to

    def __post_init__(self) -> None:
        self.sdirs = self.cfg.search_dirs(self.entry.folder)
        self.home = _home_dir(self.cfg, self.entry.folder, self.listing)

    def inspect(self, path: str) -> Check:
        return inspect_file(self.entry, path, self.headers, self.listing.aria2)

    def finding(self, check: Check | None = None, path: str | None = None) -> Finding:
        """A new finding (missing until a strategy says otherwise), filled from `check` when given."""
        e = self.entry
        f = Finding(e.name, e.folder, e.role, "missing", None, os.path.join(self.home, e.name) if self.home else None, None)
        if check is not None:
            f.status, f.path, f.size = check.status, path, check.size
            f.identity = check.identity.label if check.identity else None
        return f


@dataclass
class _Candidates:
    """Copies outside ComfyUI's lookup: the exact name elsewhere, similar names, and similar names
    that turned out to be another model (named in the missing hint)."""

    exact: list[tuple[str, Check]]
    fuzzy: list[tuple[str, Check]]
    similar_wrong: list[tuple[str, Check]]


def find(cfg: FolderConfig, entry: CatalogFile, listing: Listing, headers: HeaderCache) -> Finding:
    """Where `entry` is, judged the way ComfyUI would resolve its name, with the fix when it is wrong."""
    s = _Search(cfg, entry, listing, headers)
    hit = _at_comfy_location(s)
    if hit is not None:
        return hit
    cands = _candidates(s)
    return _stray_copy(s, cands) or _partial_download(s) or _missing(s, cands.similar_wrong)


# ---------------------------------------------------------------- 1. where ComfyUI looks

def _loaded_copies(s: _Search) -> list[tuple[SearchDir, str]]:
    """The file under its exact name in each searched folder, in search order (one per real file)."""
    found: list[tuple[SearchDir, str]] = []
    reals: set[str] = set()
    for d in s.sdirs:
        p = s.listing.dir_files.get(d.path, {}).get(s.entry.name)
        if p is None:
            continue
        real = os.path.realpath(p)
        if real in reals:
            continue  # the same file reached through a symlinked folder: not a second copy
        reals.add(real)
        found.append((d, p))
    return found


def _at_comfy_location(s: _Search) -> Finding | None:
    """The first match in search order wins (folder_paths.get_full_path); other copies are shadowed."""
    found = _loaded_copies(s)
    if not found:
        return None
    d0, path = found[0]
    c = s.inspect(path)
    f = s.finding(c, path)
    f.expected_path = path
    notes = [c.hint] if c.hint else []
    for _d, other in found[1:]:
        f.shadowed.append(other)
        oc = s.inspect(other)
        why = _shadow_reason(d0)
        if c.status not in USABLE and oc.status in USABLE:
            notes.append(f"a good copy at {other} is ignored: ComfyUI loads the {c.status} one first ({why}). "
                         f"Move the bad copy away: {_mv(path, path + '.bad')}")
            f.fix = _mv(path, path + ".bad")
        else:
            notes.append(f"another copy at {other} ({oc.status}) is ignored: ComfyUI loads {path} ({why})")
    if c.status not in USABLE and f.fix is None:
        alt = _alternatives(s, exclude={path, *f.shadowed})
        if alt:
            notes.append(f"a usable copy exists at {alt}: {_mv(alt, path)}")
            f.fix = _mv(alt, path)
    f.hint = "\n".join(notes)
    return f


def _alternatives(s: _Search, exclude: set[str]) -> str | None:
    """A usable copy elsewhere (exact or similar name) to replace a bad one ComfyUI loads."""
    norm = normalize_name(s.entry.name)
    for base, paths in s.listing.by_name.items():
        if base != s.entry.name and (base in _CATALOG_NAMES or not _similar(norm, base)):
            continue
        for p in paths:
            if p not in exclude and s.inspect(p).status in USABLE:
                return p
    return None


def _shadow_reason(d: SearchDir) -> str:
    if d.section is not None and d.section.is_default:
        return f"'is_default: true' in section '{d.section.name}' of {d.section.yaml_path} puts its folder first"
    if d.section is None and "--root" not in d.source and "yaml" not in d.source:
        return "ComfyUI's own models folder comes before extra_model_paths folders"
    return "its folder comes first in ComfyUI's search order"


# ---------------------------------------------------------------- 2, 3. stray copies

def _candidates(s: _Search) -> _Candidates:
    """The exact name anywhere else (searched folders' sub-folders first), then similar names
    (case, separators, suffixes) that are not another catalog file's name."""
    name = s.entry.name
    exact = sorted(s.listing.by_name.get(name, []), key=lambda p: (not any(inside(p, d.path) for d in s.sdirs), p))
    norm = normalize_name(name)
    out = _Candidates([(p, s.inspect(p)) for p in exact], [], [])
    for base, paths in s.listing.by_name.items():
        if base == name or base in _CATALOG_NAMES or not _similar(norm, base):
            continue
        other_role = _CATALOG_NORMS.get(normalize_name(base))
        if other_role is not None and other_role != s.entry.role:
            continue
        for p in paths:
            c = s.inspect(p)
            (out.similar_wrong if c.status == "wrong_model" else out.fuzzy).append((p, c))
    out.fuzzy.sort(key=lambda pc: (not _top_level_of(pc[0], s.sdirs), pc[0]))
    return out


def _stray_copy(s: _Search, cands: _Candidates) -> Finding | None:
    """A copy ComfyUI does not find under the name a workflow asks for: misnamed (in a searched
    folder under another name) or misplaced (anywhere else); a damaged copy reports its damage."""
    chosen = _pick([(p, c, True) for p, c in cands.exact] + [(p, c, False) for p, c in cands.fuzzy])
    if chosen is None:
        return None
    path, c, exact_name = chosen
    f = s.finding(c, path)
    if _top_level_of(path, s.sdirs) is not None and not exact_name:
        lines = _misnamed(s, f, path, c)
    else:
        lines = _misplaced(s, f, path, c, exact_name)
    if c.status not in USABLE:
        lines.insert(0, c.hint)
    elif c.hint:
        lines.append(c.hint)
    f.hint = "\n".join(x for x in lines if x)
    return f


def _pick(cands: list[tuple[str, Check, bool]]) -> tuple[str, Check, bool] | None:
    """The best stray copy: usable first, then damaged ones (their damage is the finding)."""
    for want in (USABLE, DAMAGE):
        for p, c, exact in cands:
            if c.status in want:
                return p, c, exact
    return None


def _misnamed(s: _Search, f: Finding, path: str, c: Check) -> list[str]:
    name = s.entry.name
    f.status = "misnamed" if c.status in USABLE else c.status
    f.expected_path = os.path.join(os.path.dirname(path), name)
    f.fix = _mv(path, f.expected_path) if c.status in USABLE else None
    diff = _name_difference(os.path.basename(path), name)
    return [f"found as '{os.path.basename(path)}' (differs in {diff}); workflows ask for '{name}' and "
            "ComfyUI compares names exactly ('value not in list')" + (". Rename it:" if f.fix else ""), f.fix or ""]


def _misplaced(s: _Search, f: Finding, path: str, c: Check, exact_name: bool) -> list[str]:
    folder, name = s.entry.folder, s.entry.name
    dst_dir = _dest_dir(s.cfg, folder, path)
    mdst = os.path.join(dst_dir, name) if dst_dir else None
    movable = bool(mdst) and c.status in USABLE
    f.status = "misplaced" if c.status in USABLE else c.status
    f.expected_path = mdst
    lines = []
    sub = _sub_of(path, s.sdirs)
    yh = _yaml_hint(s.cfg, folder, path) if sub is None else None
    if sub is not None:
        lines.append(f"it is in a sub-folder, so ComfyUI lists it as '{sub}' and a workflow asking for "
                     f"'{name}' fails. Move it up (or pick '{sub}' in the loader):")
    elif yh:
        lines += [yh, "or move it into a folder ComfyUI searches:" if movable else ""]
    elif mdst:
        lines.append(f"ComfyUI does not look in {os.path.dirname(path)} for '{folder}' files. Move it:")
    else:
        lines.append(f"ComfyUI has no '{folder}' folder configured: add one to extra_model_paths.yaml "
                     f"(`{folder}: {os.path.dirname(path)}`)")
    if not exact_name:
        lines.append(f"(its name also differs from '{name}' in {_name_difference(os.path.basename(path), name)})")
    if mdst and movable:
        f.fix = _mv(path, mdst)
        lines.append(f.fix)
    elif mdst:
        lines.append(f"once replaced, it belongs at {mdst}")
    return lines


# ---------------------------------------------------------------- 4. a partial download

def _partial_download(s: _Search) -> Finding | None:
    """Only an unfinished download (a .part/.incomplete... file, or huggingface_hub's pending state)."""
    name, listing = s.entry.name, s.listing
    partial = sorted(p for p in listing.partials if os.path.basename(p).startswith(name)
                     or (p.endswith(".incomplete") and name in listing.hf_pending.get(os.path.dirname(p), ())))
    if not partial:
        return None
    p = partial[0]
    f = s.finding()
    f.status, f.path = "truncated", p
    try:
        f.size = os.stat(p).st_size
    except OSError:
        pass
    f.hint = (f"only an unfinished download exists ({os.path.basename(p)}{_partial_progress(p)}): finish or restart "
              f"it, then it must end up as {f.expected_path or name}. Download: {source_of(s.entry)}")
    return f


def _partial_progress(path: str) -> str:
    try:
        h = read_header(path)
    except HeaderError:
        return ""
    return f", {100.0 * min(h.file_size, h.data_end) / max(h.data_end, 1):.1f}% of {h.data_end:,} bytes"


# ---------------------------------------------------------------- 5. missing

def _missing(s: _Search, similar_wrong: list[tuple[str, Check]]) -> Finding:
    """Nowhere: what is close (broken symlinks, similar names of another model, GGUF builds, close
    names in the folder) and the download command."""
    folder, name, listing = s.entry.folder, s.entry.name, s.listing
    f = s.finding()
    lines = []
    if not s.sdirs:
        lines.append(f"ComfyUI has no '{folder}' folder configured: add `{folder}: {folder}/` to your "
                     "extra_model_paths.yaml section (the stock RunPod worker config lacks it)")
    for b in listing.broken:
        if os.path.basename(b) == name:
            try:
                target = os.readlink(b)
            except OSError:
                target = "?"
            lines.append(f"{b} is a broken symlink (to {target}); ComfyUI skips it")
    for p, c in similar_wrong[:2]:
        lines.append(f"'{p}' has a similar name but is not this file: {c.hint.split(' Get the right file')[0]}")
    norm = normalize_name(name)
    for p in listing.others:
        if difflib.SequenceMatcher(None, normalize_name(os.path.basename(p)), norm).ratio() >= 0.75:
            lines.append(f"found {p}: GGUF files need the ComfyUI-GGUF loader; the Wan templates and this pack use "
                         f"the .safetensors file")
            break
    pool = list(listing.dir_files.get(s.home, {})) if s.home else []
    close = difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
    if close:
        lines.append("closest names there (other files): " + ", ".join(close))
    if f.expected_path and s.entry.url:
        lines.append(f"download it to {f.expected_path}:")
        lines.append(f"wget -c -O {shlex.quote(f.expected_path)} {shlex.quote(s.entry.url)}")
    elif f.expected_path:
        lines.append(f"it belongs at {f.expected_path} {source_of(s.entry)}")
    else:
        lines.append(f"download: {source_of(s.entry)}")
    f.hint = "\n".join(lines)
    return f


# ---------------------------------------------------------------- folders and names

def _mv(src: str, dst: str) -> str:
    """The command that moves src to dst (never overwriting: mv -n), creating dst's folder if needed."""
    mv = f"mv -n {shlex.quote(src)} {shlex.quote(dst)}"
    parent = os.path.dirname(dst)
    return mv if os.path.isdir(parent) else f"mkdir -p {shlex.quote(parent)} && {mv}"


def _dest_dir(cfg: FolderConfig, folder: str, src: str) -> str | None:
    """The configured folder to move a stray file into: a folder of this key that already holds
    `src` in a sub-folder, else the one nearest to it, preferring existing folders named like the key."""
    dirs = cfg.search_dirs(folder)
    if not dirs:
        return None
    for d in dirs:
        if inside(src, d.path):
            return d.path
    names = folder_names(folder)

    def score(d: SearchDir) -> tuple[int, int, int]:
        try:
            common = len(os.path.commonpath([d.path, src]))
        except ValueError:
            common = 0
        return (common, int(os.path.isdir(d.path)), int(os.path.basename(d.path).lower() in names))

    return max(dirs, key=score).path


def _home_dir(cfg: FolderConfig, folder: str, listing: Listing) -> str | None:
    """Where a missing file of this key should go: the configured folder already holding files
    (the user's volume), preferring existing folders named like the key, then search order."""
    dirs = cfg.search_dirs(folder)
    if not dirs:
        return None

    def score(item: tuple[int, SearchDir]) -> tuple[bool, bool, bool, int]:
        i, d = item
        return (bool(listing.dir_files.get(d.path)), os.path.isdir(d.path),
                os.path.basename(d.path).lower() == folder, -i)

    return max(enumerate(dirs), key=score)[1].path


def _yaml_hint(cfg: FolderConfig, folder: str, src: str) -> str | None:
    """When `src` sits in a folder named for this key that ComfyUI is not told about: the line to
    add to extra_model_paths.yaml (naming the file and section when one covers the path)."""
    parent = os.path.dirname(src)
    pname = os.path.basename(parent)
    if pname.lower() not in folder_names(folder):
        return None
    key = pname if pname in LEGACY_FOLDERS else folder  # ComfyUI accepts 'unet:' and 'clip:' as they are
    sec: YamlSection | None = section_for(cfg, parent)
    if sec is not None and sec.base_path:
        rel = os.path.relpath(parent, sec.base_path).replace(os.sep, "/") + "/"
        existing = sec.raw_keys.get(key)
        if existing:
            block = "\n".join(f"    {v}" for v in existing + [rel])
            return (f"ComfyUI does not search {parent}: in {sec.yaml_path}, section '{sec.name}', make '{key}' a "
                    f"'|' block with both folders:\n  {key}: |\n{block}")
        return f"ComfyUI does not search {parent}: add `{key}: {rel}` to section '{sec.name}' of {sec.yaml_path}"
    return (f"ComfyUI does not search {parent}: add `{key}: {parent}` to a section of your extra_model_paths.yaml "
            f"(or pass --root {os.path.dirname(parent)} to this check)")


def _top_level_of(path: str, sdirs: list[SearchDir]) -> str | None:
    parent = os.path.dirname(path)
    return next((d.path for d in sdirs if d.path == parent), None)


def _sub_of(path: str, sdirs: list[SearchDir]) -> str | None:
    for d in sdirs:
        if inside(path, d.path) and os.path.dirname(path) != d.path:
            return os.path.relpath(path, d.path).replace(os.sep, "/")
    return None


def _name_difference(found: str, want: str) -> str:
    """How a found name differs from the wanted one, in words ('letter case and extra text ' (1)'')."""
    if found.lower() == want.lower():
        return "letter case"
    low = found.lower()
    if any(low.endswith(e1 + e2) for e1 in SAFETENSORS_EXTS for e2 in SAFETENSORS_EXTS):
        return "a doubled extension"
    fstem, wstem = os.path.splitext(found)[0], os.path.splitext(want)[0]
    parts = []
    if fstem.lower().startswith(wstem.lower()):
        if not fstem.startswith(wstem):
            parts.append("letter case")
        parts.append(f"extra text '{fstem[len(wstem):]}'")
    elif normalize_name(found) == normalize_name(want):
        parts.append("separators ('-', '_', '.', spaces)" + (" and letter case" if found != found.lower() and
                                                              want == want.lower() else ""))
    else:
        parts.append("spelling")
    return " and ".join(parts)


def _similar(norm: str, candidate: str) -> bool:
    n = normalize_name(candidate)
    return n == norm or (n.startswith(norm) and len(n) - len(norm) <= 16)
