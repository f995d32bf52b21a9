"""Fixtures that several comfy-tier files share (the shared server and volumes are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.harness import Server, free_port, make_base, write_yaml


@pytest.fixture(scope="module")
def own_server(comfyui_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Starts ComfyUI servers of the module's own, each with a base directory of its own (only this
    pack in custom_nodes) reading `volume` through its extra_model_paths.yaml; all are stopped when
    the module is done.

        server = own_server(volume, "name", env={...}, inputs=lambda input_dir: ...)

    `inputs` writes the files prompts upload-free refer to into the base's input folder before the
    server starts; `env` is added to the server's environment."""
    servers: list[Server] = []

    def start(volume: Path, name: str, *, env: dict[str, str] | None = None,
              inputs: Callable[[Path], object] | None = None) -> Server:
        base = make_base(tmp_path_factory.mktemp(f"{name}_base"))
        if inputs is not None:
            inputs(base / "input")
        yaml_path = write_yaml(base / "extra_model_paths.yaml", volume)
        server = Server(comfyui=comfyui_path, base=base, yaml=yaml_path, port=free_port(), log_path=base / "server.log")
        servers.append(server)
        server.start(env=env)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
