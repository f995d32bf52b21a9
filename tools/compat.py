"""ComfyUI version compatibility run (`make test-compat`): the comfy tier's smoke subset on each
ComfyUI release we claim and on the pinned one (the reference), one table at the end.

    python tools/compat.py [--versions "0.14.0 0.25.0 0.33.0"] [--reference 0.33.0] [--full-tier]
                           [--with-slow] [--mirror GIT_DIR] [--cache DIR] [--tree DIR] [--json FILE] [--list]

Versions come from --versions, else $COMFYUI_VERSIONS, else default_versions(): the oldest
release pyproject's requires-comfyui claims, IN_BETWEEN, and the pinned release. With
--full-tier (or COMPAT_FULL=1) the reference runs the whole comfy tier except the tests marked
slow (--with-slow adds them): the tests `make test-comfy` runs, 22 min on 2 shared cores, so it
is not the default (the smoke subset on the three default releases: 7.3 min).
Each version is got once into a cache folder outside the repository (--cache, else
$COMFYUI_VERSIONS_DIR, else ~/comfy/versions/<version>), from the first source that works:
  1. the checkout at $COMFYUI_PATH (or ~/comfy/ComfyUI) when its comfyui_version.py is that version;
  2. a git mirror with ComfyUI's history (--mirror or $COMFYUI_MIRROR, a bare git dir): the
     commit that set comfyui_version.py to that version, `git archive`d (blobs a partial mirror
     lacks are left out and listed);
  3. `git clone --depth 1 --branch v<version>` from GitHub when github.com is reachable.
Nothing is installed: every version runs on the Python that runs this tool (the project's venv);
the libraries that differ from that version's requirements.txt are listed under the table. On a
ComfyUI without the `datasets` model folder (before 0.30.0) the tests' precomputed conditioning
is also linked where that version's LoadTrainingDataset looks (tools/compat_plugin.py).

A test that does not pass on an older version but also does not pass on the reference in the
same run is shown as "also failed on <reference>: not a compatibility failure" (a bug or a
half-done change in the pack). Exit status 1 for any other failure, error or skip on an older
version and for anything not passed on the reference itself; 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wan22._version import read_pyproject_value  # noqa: E402
from wan22.comfyui_dir import comfyui_candidates, is_comfyui  # noqa: E402
from wan22.demo.server import COMFYUI_REPO, PINNED_COMFYUI, online  # noqa: E402
from wan22.install.support import read_comfyui_version  # noqa: E402

PINNED = PINNED_COMFYUI.lstrip("v")
IN_BETWEEN = "0.25.0"  # a release between the oldest claimed and the pinned one
# the smoke subset: tests/comfy/test_pack_startup.py (pack imports with no IMPORT FAILED, its
# start-up line, every node id registered, its routes and frontend served, every core node the
# example API workflows use present with the inputs it requires), the i2v fast and s2v fast API
# twins run, MoE equality (fast preset: the quality preset's takes 1-3 min more per version and
# runs in the full tier). test_i2v_nodes's test_pack_loads_without_import_failure is left to the full
# tier: it fails on any IMPORT FAILED line, a core node's included (0.25.0's nodes_glsl.py without
# glfw/OpenGL), which says nothing about the pack.
SMOKE = (
    "tests/comfy/test_pack_startup.py",
    "tests/comfy/test_i2v_nodes.py::test_moe_sampler_equals_two_ksampler_advanced_bit_for_bit[fast]",
    "tests/comfy/test_example_workflows_comfy.py::test_api_twin_completes_with_expected_frames[wan22_i2v_fast]",
    "tests/comfy/test_example_workflows_comfy.py::test_api_twin_completes_with_expected_frames[wan22_s2v_fast]",
)
FULL_TIER = ("tests/comfy",)


def claimed_minimum(pyproject: Path = REPO / "pyproject.toml") -> str:
    """The X.Y.Z of `>=X.Y.Z` in pyproject's [tool.comfy] requires-comfyui."""
    spec = read_pyproject_value(pyproject, "tool.comfy", "requires-comfyui") or ""
    m = re.search(r">=\s*v?(\d+\.\d+\.\d+)", spec)
    if not m:
        raise SystemExit(f"[compat] {pyproject}: [tool.comfy] requires-comfyui {spec!r} has no >=X.Y.Z; "
                         "pass --versions")
    return m.group(1)


def default_versions() -> tuple[str, ...]:
    """The oldest release requires-comfyui claims, IN_BETWEEN, the pinned release."""
    return tuple(dict.fromkeys((claimed_minimum(), IN_BETWEEN, PINNED)))


def say(msg: str) -> None:
    print(f"[compat] {msg}", flush=True)


# ---------------------------------------------------------------- getting a version

def _git(git_dir: Path, *args: str, binary: bool = False) -> str | bytes:
    out = subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True, check=True)
    return out.stdout if binary else out.stdout.decode("utf-8", "replace")


def version_commits(mirror: Path) -> dict[str, str]:
    """{version: commit} for every commit that set comfyui_version.py; the newest wins when a
    version was set twice."""
    log = str(_git(mirror, "log", "--format=commit %H", "-p", "--", "comfyui_version.py"))
    found: dict[str, str] = {}
    commit = ""
    for line in log.splitlines():
        if line.startswith("commit "):
            commit = line.split()[1]
        m = re.match(r"""\+__version__\s*=\s*["']([^"']+)["']""", line)
        if m and commit:
            found.setdefault(m.group(1), commit)
    return found


def missing_blobs(mirror: Path, commit: str) -> list[str]:
    """Paths in `commit` whose blob the (partial) mirror does not hold."""
    tree = str(_git(mirror, "ls-tree", "-r", "-z", commit))
    by_sha: dict[str, list[str]] = {}
    for entry in filter(None, tree.split("\0")):
        meta, path = entry.split("\t", 1)
        _mode, kind, sha = meta.split()
        if kind == "blob":
            by_sha.setdefault(sha, []).append(path)
    check = subprocess.run(["git", "--git-dir", str(mirror), "cat-file", "--batch-check"], input="\n".join(by_sha) + "\n",
                           capture_output=True, text=True, check=True)
    return sorted(p for line in check.stdout.splitlines() if line.endswith(" missing") for p in by_sha[line.split()[0]])


def extract(mirror: Path, version: str, dest: Path) -> list[str]:
    """Write ComfyUI `version` from the mirror into `dest` (atomically); returns the left-out paths."""
    commits = version_commits(mirror)
    if version not in commits:
        near = ", ".join(sorted(commits, key=_vkey)[-8:])
        raise SystemExit(f"[compat] ComfyUI {version} is not in the mirror {mirror} (no commit sets comfyui_version.py "
                         f"to it); the newest there: {near}")
    commit = commits[version]
    left_out = missing_blobs(mirror, commit)
    excludes = [f":(exclude){p}" for p in left_out]
    say(f"extracting ComfyUI {version} ({commit[:10]}) from {mirror} into {dest}"
        + (f"; left out (not in the mirror): {', '.join(left_out)}" if left_out else ""))
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=dest.parent))
    try:
        _archive_into(mirror, commit, excludes, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / ".wan22-compat-source").write_text(f"{mirror} {commit}\n")
    tmp.rename(dest)
    return left_out


def _archive_into(mirror: Path, commit: str, excludes: list[str], dest: Path) -> None:
    with tempfile.TemporaryFile() as tar:
        # git archive warns "invalid object" for the excluded missing blobs and still writes the rest
        done = subprocess.run(["git", "--git-dir", str(mirror), "archive", "--format=tar", commit, "--", ".", *excludes],
                              stdout=tar, stderr=subprocess.PIPE, check=False)
        if done.returncode:
            raise SystemExit(f"[compat] git archive of {commit} failed: {done.stderr.decode(errors='replace')}")
        tar.seek(0)
        with tarfile.open(fileobj=tar) as tf:
            if hasattr(tarfile, "data_filter"):  # Python 3.10.12+ / 3.11.4+
                tf.extractall(dest, filter="data")
            else:
                tf.extractall(dest)  # our own git archive of a known commit


def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def clone(version: str, dest: Path) -> None:
    say(f"cloning ComfyUI v{version} from {COMFYUI_REPO} into {dest}")
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", f"v{version}", COMFYUI_REPO, str(dest)], check=True)


def get_version(version: str, cache: Path, mirror: Path | None) -> tuple[Path, str]:
    """(a ComfyUI folder holding `version`, where it came from). See the module docstring."""
    for cand in comfyui_candidates():
        if is_comfyui(cand) and read_comfyui_version(str(cand)) == version:
            return cand, "the existing checkout"
    dest = cache / version
    if is_comfyui(dest) and read_comfyui_version(str(dest)) == version:
        return dest, "cache"
    if dest.exists():
        raise SystemExit(f"[compat] {dest} exists but holds no ComfyUI {version}: remove it and run again")
    cache.mkdir(parents=True, exist_ok=True)
    if mirror is not None:
        extract(mirror, version, dest)
        return dest, f"mirror {mirror}"
    if online():
        clone(version, dest)
        return dest, "GitHub"
    raise SystemExit(f"[compat] ComfyUI {version}: not in {cache}, no mirror given and github.com unreachable; "
                     "set COMFYUI_MIRROR=<bare git dir with ComfyUI's history> or run online")


# ---------------------------------------------------------------- the Python it runs on

def requirement_differences(checkout: Path) -> list[str]:
    """The libraries of `checkout`'s requirements.txt that this Python lacks or has at another
    version than the file asks for ("name: installed X, wants Y")."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    req_file = checkout / "requirements.txt"
    if not req_file.is_file():
        return ["no requirements.txt"]
    out: list[str] = []
    for raw in req_file.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            out.append(f"{req.name}: not installed, wants {req.specifier or 'any'}")
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            out.append(f"{req.name}: installed {have}, wants {req.specifier}")
    return out


# ---------------------------------------------------------------- running the tests

@dataclass
class Outcome:
    """One version's run: per test node id, "passed" / "failed" / "error" / "skipped" and a message."""

    version: str
    checkout: Path
    source: str
    tests: tuple[str, ...]
    results: dict[str, tuple[str, str]] = field(default_factory=dict)
    seconds: float = 0.0
    returncode: int = 0
    log: Path | None = None
    deps: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for s, _ in self.results.values() if s == status)


def _junit_results(path: Path) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    if not path.is_file():
        return out
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        nid = f"tests/{module}.py::{case.get('name')}"
        status, msg = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                status = {"failure": "failed"}.get(tag, tag)
                msg = (el.get("message") or el.text or "").strip()
                break
        if nid in out and out[nid][0] == "passed":  # a teardown error is reported as a second case
            out[nid] = (status, msg)
        else:
            out.setdefault(nid, (status, msg))
    return out


def _has_datasets_folder(checkout: Path) -> bool:
    try:
        return '"datasets"' in (checkout / "folder_paths.py").read_text(encoding="utf-8")
    except OSError:
        return True


def run_tests(version: str, checkout: Path, source: str, tests: tuple[str, ...], workdir: Path,
              extra_pytest: list[str], tree: Path = REPO) -> Outcome:
    """pytest over `tests` of the pack at `tree` with COMFYUI_PATH=checkout (the comfy tier
    starts its own servers)."""
    outcome = Outcome(version, checkout, source, tests, deps=requirement_differences(checkout))
    junit = workdir / f"junit-{version}.xml"
    outcome.log = workdir / f"pytest-{version}.log"
    basetemp = workdir / f"tmp-{version}"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors",
           f"--junitxml={junit}", f"--basetemp={basetemp}", *extra_pytest, *tests]
    env = dict(os.environ, COMFYUI_PATH=str(checkout))
    if not _has_datasets_folder(checkout):  # see tools/compat_plugin.py; its folder alone goes on the path
        plugin_dir = workdir / "plugin"
        plugin_dir.mkdir(exist_ok=True)
        shutil.copy(Path(__file__).resolve().parent / "compat_plugin.py", plugin_dir / "compat_plugin.py")
        cmd[3:3] = ["-p", "compat_plugin"]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugin_dir), env.get("PYTHONPATH")]))
    say(f"ComfyUI {version} ({source}: {checkout}): pytest {' '.join(tests)}")
    start = time.monotonic()
    with open(outcome.log, "wb") as log:
        outcome.returncode = subprocess.run(cmd, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    outcome.seconds = time.monotonic() - start
    shutil.rmtree(basetemp, ignore_errors=True)  # stand-in volumes and server bases; the log keeps the server tails
    outcome.results = _junit_results(junit)
    if not outcome.results:
        tail = "\n".join(outcome.log.read_text(errors="replace").splitlines()[-15:])
        outcome.results["(pytest)"] = ("error", f"pytest exited {outcome.returncode} with no results:\n{tail}")
    say(f"ComfyUI {version}: {outcome.count('passed')} passed, {outcome.count('failed')} failed, "
        f"{outcome.count('error')} errors, {outcome.count('skipped')} skipped in {outcome.seconds:.0f} s (log {outcome.log})")
    return outcome


# ---------------------------------------------------------------- the verdict

def _short(msg: str, n: int = 220) -> str:
    line = next((ln.strip() for ln in msg.splitlines() if ln.strip().startswith(("E ", "RuntimeError", "AssertionError"))),
                msg.strip().splitlines()[0] if msg.strip() else "")
    return line if len(line) <= n else line[: n - 3] + "..."


def _tag(o: Outcome, nid: str, ref: Outcome | None) -> tuple[str, bool]:
    """(what a not-passed test means, whether it fails the run)."""
    if ref is None:
        return "no reference version in this run", True
    if o is ref:
        return f"fails on the reference {ref.version} itself", True
    theirs = ref.results.get(nid, ("passed", ""))[0]
    if nid in ref.results and theirs != "passed":
        return f"also {theirs} on {ref.version}: not a compatibility failure", False
    return "COMPAT FAILURE", True


def verdict(outcomes: list[Outcome], reference: str) -> tuple[list[str], bool]:
    """(report lines, ok). A not-passed test (failed, error or skipped) counts against a version
    unless the reference version also does not pass it in this run; anything not passed on the
    reference counts; with no reference run everything not passed counts."""
    ref = next((o for o in outcomes if o.version == reference), None)
    lines = [f"{'ComfyUI':<9} {'tests':<6} {'passed':>6} {'failed':>6} {'errors':>6} {'skipped':>7} {'seconds':>8}  source"]
    problems: list[str] = []
    ok = True
    for o in outcomes:
        lines.append(f"{o.version:<9} {'full' if o.tests == FULL_TIER else 'smoke':<6} {o.count('passed'):>6} {o.count('failed'):>6} "
                     f"{o.count('error'):>6} {o.count('skipped'):>7} {o.seconds:>8.0f}  {o.source}")
        for nid, (status, msg) in sorted(o.results.items()):
            if status != "passed":
                tag, bad = _tag(o, nid, ref)
                ok = ok and not bad
                problems.append(f"  {o.version} {status} {nid}: {_short(msg)}\n      [{tag}]")
    lines += ["", "not passed:" if problems else "every test passed on every version", *problems]
    lines += [f"  {o.version}: this Python differs from its requirements.txt: " + "; ".join(o.deps) for o in outcomes if o.deps]
    return lines, ok


def parse_versions(text: str) -> list[str]:
    out = [v.strip().lstrip("v") for v in re.split(r"[\s,]+", text) if v.strip()]
    for v in out:
        if not re.fullmatch(r"\d+\.\d+\.\d+", v):
            raise SystemExit(f"[compat] version {v!r}: give versions as X.Y.Z (e.g. COMFYUI_VERSIONS='0.3.66 0.33.0')")
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tools/compat.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--versions", default=os.environ.get("COMFYUI_VERSIONS") or " ".join(default_versions()),
                   help="ComfyUI versions, space or comma separated (default: $COMFYUI_VERSIONS, else %(default)s)")
    p.add_argument("--reference", default=PINNED, help="a test that fails here too is not held against an older "
                   "version (default %(default)s; run even when not in --versions)")
    p.add_argument("--full-tier", action="store_true", default=os.environ.get("COMPAT_FULL", "") not in ("", "0"),
                   help="the reference runs the whole comfy tier, not only the smoke subset (default: $COMPAT_FULL; "
                   "22 min here, the same tests `make test-comfy` runs)")
    p.add_argument("--with-slow", action="store_true", help="with --full-tier: include the tests marked slow (the real "
                   "text encoder and the face-video Animate run, about 7 min more on 2 cores)")
    p.add_argument("--tree", default=str(REPO), help="the pack checkout whose tests run (default: this one), e.g. a "
                   "`git archive HEAD` copy while the working tree is mid-change")
    p.add_argument("--mirror", default=os.environ.get("COMFYUI_MIRROR"), help="bare git dir with ComfyUI's history "
                   "(default $COMFYUI_MIRROR)")
    p.add_argument("--cache", default=os.environ.get("COMFYUI_VERSIONS_DIR", "~/comfy/versions"),
                   help="where versions are kept (default: $COMFYUI_VERSIONS_DIR, else %(default)s)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--list", action="store_true", help="print the smoke subset and the versions, run nothing")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    versions = parse_versions(a.versions)
    ref = a.reference.lstrip("v")
    if ref not in versions:
        versions.append(ref)
    versions.sort(key=_vkey)
    if a.list:
        print("versions:", " ".join(versions), f"(reference {ref}: {'whole comfy tier' if a.full_tier else 'smoke subset'})")
        print("smoke subset:", *SMOKE, sep="\n  ")
        return 0
    cache = Path(a.cache).expanduser()
    mirror = Path(a.mirror).expanduser() if a.mirror else None
    started = time.monotonic()
    checkouts = {v: get_version(v, cache, mirror) for v in versions}
    workdir = Path(tempfile.mkdtemp(prefix="wan22-compat-"))
    outcomes = []
    for v in versions:
        is_full = v == ref and a.full_tier
        extra = [*a.pytest_args, *([] if a.with_slow or not is_full else ["-m", "not slow"])]
        outcomes.append(run_tests(v, *checkouts[v], FULL_TIER if is_full else SMOKE, workdir, extra, Path(a.tree).resolve()))
    lines, ok = verdict(outcomes, ref)
    wall = time.monotonic() - started
    print("\n".join(["", *lines, "", f"compat run: {len(versions)} versions in {wall:.0f} s wall; logs in {workdir}"]))
    if a.json:
        Path(a.json).write_text(json.dumps({"wall_seconds": round(wall, 1), "reference": ref, "ok": ok, "versions": [
            {"version": o.version, "checkout": str(o.checkout), "source": o.source, "seconds": round(o.seconds, 1),
             "tests": list(o.tests), "results": {k: list(v) for k, v in o.results.items()}, "deps": o.deps}
            for o in outcomes]}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
