"""ComfyUI-free core of the Wan 2.2 node pack, in wings.

Nothing in this package imports comfy, folder_paths, server or nodes (tests enforce it), so the
CLI, the worker and the tests run on any machine with Python.

Floors, top to bottom. A module may import from its own wing and from wings on lower floors,
never upwards and never sideways between wings on one floor (tests/unit/test_boundary.py):

    5  cli/                       argparse only: argv -> typed options -> library calls
    4  demo/  serverless/ install/  the demo and dev toolkit; the RunPod worker; what install.py runs;
       fetch/                     the commands that write to the volume (fetch, inventory --fix)
    3  api/   volume/  prefetch/  ComfyUI's HTTP API; the model volume, read only; page-cache warming
    2  graph/                     reading workflows: every shape -> one graph, the model files it loads
    1  plan/  audio/  comfyui_dir routing plans and presets; S2V audio; where ComfyUI is
    0  catalog  errors  _version  facts every wing shares

`wan22.data` holds package data (tensor layouts, the tiny SentencePiece model, presets).
"""

from __future__ import annotations

from ._version import __version__

# The allowed direction, as data: the boundary test reads it.
FLOORS: dict[str, int] = {
    "cli": 5,
    "demo": 4, "serverless": 4, "install": 4, "fetch": 4,
    "api": 3, "volume": 3, "prefetch": 3,
    "graph": 2,
    "plan": 1, "audio": 1, "comfyui_dir": 1,
    "catalog": 0, "errors": 0, "_version": 0,
}

__all__ = ["FLOORS", "__version__"]
