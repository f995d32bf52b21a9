"""The audio wing's parameter vocabulary: the ``normalize`` choices, the names errors use for a
parameter, and the whole-number / real-number tests every check shares.

Torch-free (like :mod:`.frames`) so the CLI builds its parser, choices and defaults included,
without importing torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeGuard

import numpy as np

NORMALIZE_MODES: tuple[str, ...] = ("peak", "loudness", "none")
"""``prepare(normalize=...)``: peak to -1 dBFS, about -20 LUFS under that ceiling, or unchanged."""
DEFAULT_NORMALIZE = "peak"


def label(labels: Mapping[str, str] | None, name: str) -> str:
    """The name the caller shows for parameter ``name`` (``--start`` in the CLI, ``start_seconds``
    on the node), or ``name`` itself."""
    return (labels or {}).get(name, name)


def is_whole(x: object) -> TypeGuard[int | np.integer]:
    """True for a Python or numpy integer that is not a bool."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def is_real(x: object) -> TypeGuard[int | float | np.integer | np.floating]:
    """True for a Python or numpy integer or float that is not a bool (NaN and Inf included)."""
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def is_finite_real(x: object) -> TypeGuard[int | float | np.integer | np.floating]:
    """:func:`is_real` and finite."""
    return is_real(x) and math.isfinite(x)
