"""Test tiers: unit (no ComfyUI), comfy (real ComfyUI on CPU, tiny weights), browser.

The comfy and browser tiers find ComfyUI through COMFYUI_PATH, else ~/comfy/ComfyUI. Without
it they are skipped as a whole, with one explicit reason in the header and on every skip.

Shared helpers live in tests/support (imported as `support.*`; tests/pytest.ini sets the path).
No test depends on another's server state: tests that read what a node did ask for
`fresh_comfy` (the session server with its caches dropped first); the in-process ComfyUI
(`comfy_inproc`) undoes its sys.path entry and removes its log handlers when done.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.harness import Server, find_comfyui, free_port, make_base, make_damaged_volume, start_image, tree_hashes, write_yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

COMFYUI, COMFY_MISSING = find_comfyui()
SKIP_COMFY = f"ComfyUI tier skipped: {COMFY_MISSING}"


def pytest_report_header(config: pytest.Config) -> list[str]:
    if COMFYUI is None:
        return ["", "!" * 78, f"!! {SKIP_COMFY}", "!" * 78, ""]
    return [f"ComfyUI for the comfy/browser tiers: {COMFYUI}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).resolve().relative_to(HERE).parts
        tier = parts[0] if parts else ""
        if tier == "comfy":
            item.add_marker(pytest.mark.comfy)
        if tier == "browser":
            item.add_marker(pytest.mark.browser)
        if tier in ("comfy", "browser") and COMFYUI is None:
            item.add_marker(pytest.mark.skip(reason=SKIP_COMFY))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and "comfy_server" in getattr(item, "fixturenames", ()):
        server = item.funcargs.get("comfy_server") if hasattr(item, "funcargs") else None
        if server is not None:
            rep.sections.append(("ComfyUI server log (tail)", server.log_tail(120)))


@pytest.fixture(scope="session")
def comfyui_path() -> Path:
    if COMFYUI is None:
        pytest.skip(SKIP_COMFY)
    return COMFYUI


@pytest.fixture(scope="session")
def demo_volume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's volume as tiny stand-ins, plus the T2V files (for the t2v workflows) and the
    TI2V 5B model and Wan 2.2 VAE (for the ti2v workflow; the VAE is sparse, no data on disk)."""
    from wan22.demo.demo_volume import make_demo_volume

    root = tmp_path_factory.mktemp("volume")
    make_demo_volume(str(root), with_t2v=True, with_5b=True, with_animate2=True)  # animate2: both Animate 2 files
    return root


@pytest.fixture(scope="session")
def damaged_volume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Truncated, corrupt, 2^60-byte-header and wrong-model files under non-catalog names."""
    root = tmp_path_factory.mktemp("damaged")
    make_damaged_volume(root)
    return root


@pytest.fixture(scope="session")
def volume_guard(demo_volume: Path, damaged_volume: Path) -> Any:
    """Hashes of every volume file before the suite; checked again at the end of the session."""
    before = tree_hashes(demo_volume, damaged_volume)
    yield before
    after = tree_hashes(demo_volume, damaged_volume)
    assert after == before, "a test or the pack wrote to the model volume"


@pytest.fixture(scope="session")
def comfy_server(comfyui_path: Path, demo_volume: Path, damaged_volume: Path, volume_guard: Any,
                 tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = make_base(tmp_path_factory.mktemp("comfy_base"))
    # test-only pack: counts file reads (GET /bench/loads); never shipped
    (base / "custom_nodes" / "wan22_test_counting").symlink_to(REPO / "bench" / "counting_pack", target_is_directory=True)
    yaml_path = write_yaml(base / "extra_model_paths.yaml", demo_volume, extra={"wan22_damaged": damaged_volume})
    start_image(base / "input" / "wan22_start.png")
    server = Server(comfyui=comfyui_path, base=base, yaml=yaml_path, port=free_port(), log_path=base / "server.log")
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture()
def fresh_comfy(comfy_server: Server) -> Server:
    """The session server with every cached output and loaded model dropped: the test's prompts
    run every node whatever ran before (a node's UI output exists only when it executed)."""
    comfy_server.fresh()
    return comfy_server


@pytest.fixture(scope="session")
def comfy_importable(comfyui_path: Path) -> Iterator[Path]:
    """ComfyUI's modules importable in this process (CPU), for the in-process tests; its folder
    leaves sys.path again when the session ends."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(comfyui_path))
        import comfy.cli_args

        comfy.cli_args.args.cpu = True
        yield comfyui_path


class InProcess:
    """ComfyUI imported into the test process, folders pointed at the demo volume."""

    def __init__(self, volume: Path) -> None:
        import folder_paths

        for key in ("diffusion_models", "text_encoders", "vae", "clip_vision", "audio_encoders", "loras", "datasets"):
            folder_paths.add_model_folder_path(key, str(volume / key), is_default=True)
        import nodes

        asyncio.run(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))
        ok = asyncio.run(nodes.load_custom_node(str(REPO), module_parent="custom_nodes"))
        assert ok, "the pack failed to load in-process (see log)"
        self.nodes = nodes
        self.folder_paths = folder_paths
        self.volume = volume
        self.pack = sys.modules[str(REPO).replace(".", "_x_")]
        self._handlers: list[logging.Handler] = []

    def capture_logs(self) -> list[str]:
        """Every log message from now to the end of the test (the handler goes with the test)."""
        logs: list[str] = []

        class H(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                logs.append(record.getMessage())

        handler = H()
        self._handlers.append(handler)
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)
        return logs

    def release_logs(self, level: int) -> None:
        root = logging.getLogger()
        for handler in self._handlers:
            root.removeHandler(handler)
        self._handlers.clear()
        root.setLevel(level)


@pytest.fixture(scope="session")
def _comfy_inproc_session(comfy_importable: Path, demo_volume: Path, volume_guard: Any) -> InProcess:
    return InProcess(demo_volume)


@pytest.fixture()
def comfy_inproc(_comfy_inproc_session: InProcess) -> Iterator[InProcess]:
    """The in-process ComfyUI (imported once per session); log capture ends with the test."""
    level = logging.getLogger().level
    yield _comfy_inproc_session
    _comfy_inproc_session.release_logs(level)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


def pytest_sessionstart(session: pytest.Session) -> None:
    os.environ.setdefault("DO_NOT_TRACK", "1")
