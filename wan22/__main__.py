"""Entry point: python -m wan22 (from the repo root or from inside an installed pack)."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
