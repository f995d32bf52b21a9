# Two commands do all set-up on a fresh machine:  make demo  and  make test
VENV ?= $(HOME)/comfy/venv
PYTHON ?= $(VENV)/bin/python
export COMFYUI_PATH ?= $(HOME)/comfy/ComfyUI
export VENV

.PHONY: setup setup-min test test-unit test-random test-comfy test-browser demo lint bench layouts

setup:
	@tools/setup_env.sh
	@tools/setup_browser.sh

# the unit tier's set-up: the venv with torch and this pack's requirements; no ComfyUI, no chromium
setup-min:
	@tools/setup_env.sh --min

# the unit tier's tests are independent (green in random orders), so it runs on two processes
# (pytest-xdist); the comfy and browser tiers share one ComfyUI server per session and run in one
test: setup
	$(PYTHON) -m pytest tests/unit -q -n 2
	$(PYTHON) -m pytest tests/comfy tests/browser -q

test-unit: setup-min
	$(PYTHON) -m pytest tests/unit -q -n 2

# tests in a random order (pytest-randomly): make test-random SEED=12345 [TIER=tests/comfy]
test-random: setup
	$(PYTHON) -m pytest $(or $(TIER),tests) -q -p randomly --randomly-seed=$(or $(SEED),last)

test-comfy: setup
	$(PYTHON) -m pytest tests/comfy -q

test-browser: setup
	$(PYTHON) -m pytest tests/browser -q

# the browser tier on the newest published frontend only (make test runs it on the pinned one and
# this one; WAN22_FRONTENDS=pinned|latest, see tests/browser/conftest.py)
.PHONY: test-browser-latest
test-browser-latest: setup
	WAN22_FRONTENDS=latest $(PYTHON) -m pytest tests/browser -q

# the comfy tier's smoke subset on the ComfyUI releases we claim and the pinned one; COMPAT_FULL=1
# runs the whole tier on the pinned one (make test-compat COMFYUI_VERSIONS="0.14.0 0.25.0 0.33.0"
# COMFYUI_MIRROR=<bare git dir with ComfyUI's history>; see tools/compat.py)
test-compat: setup
	$(PYTHON) tools/compat.py $(if $(COMFYUI_VERSIONS),--versions "$(COMFYUI_VERSIONS)") \
		$(if $(COMFYUI_MIRROR),--mirror "$(COMFYUI_MIRROR)") $(if $(filter-out 0,$(COMPAT_FULL)),--full-tier)

# deploy/Dockerfile built with buildah and run with podman, typed i2v_fast and s2v_fast jobs checked
# (root, Debian, ~25 GB on the first run; tools/test_image.py; TEST_IMAGE_ARGS="--purge" cleans all up)
.PHONY: test-image
test-image: setup
	$(PYTHON) tools/test_image.py $(TEST_IMAGE_ARGS)

demo: setup
	$(PYTHON) -m wan22 demo --python $(PYTHON)

# ruff (style, imports, size: C901/PLR0915) + mypy --strict on wan22/ (config in pyproject.toml)
lint: setup
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy

bench: setup
	$(PYTHON) bench/run_all.py

layouts:
	$(PYTHON) tools/gen_layouts.py
