"""ComfyUI-free core of the Wan 2.2 node pack: catalog, inventory, routing, audio, workflows.

Nothing in this package imports comfy, folder_paths, server or nodes (tests enforce it), so the
CLI and the tests run on any machine with Python.
"""

from __future__ import annotations

from ._version import __version__

__all__ = ["__version__"]
