"""Helpers the test tiers share, imported as `support.<module>` (tests/pytest.ini puts tests/ and
the repository root on the import path; no test edits sys.path).

- harness: finding ComfyUI, base directories, yaml, damaged volumes, tree hashes and the test
  server (a clean state per test: Server.fresh).
- worker_jobs: real media for worker jobs, the bad jobs the worker must refuse, and the worker
  process of the comfy tier.

Nothing here imports ComfyUI at import time: the unit tier imports these modules without it.
"""
