#!/usr/bin/env bash
# Idempotent environment set-up for `make test` / `make demo` on a fresh machine.
# Creates or reuses the virtualenv $VENV and installs torch/torchvision/torchaudio at versions
# that work together on CPU, ComfyUI's requirements (when a checkout is present, pinned to
# those torch versions) and this pack's requirements. Skips everything when nothing changed.
# --min (make setup-min, for make test-unit): torch and torchaudio, then this pack's requirements
# only: no ComfyUI clone, no ComfyUI requirements (the unit tier needs neither).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-$HOME/comfy/venv}"
COMFY="${COMFYUI_PATH:-$HOME/comfy/ComfyUI}"
BOOT="${PYTHON_BOOTSTRAP:-python3}"
MIN=0
[ "${1:-}" = "--min" ] && MIN=1

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtualenv $VENV"
  "$BOOT" -m venv "$VENV"
fi
PY="$VENV/bin/python"
constraints="$VENV/wan22-constraints.txt"
printf 'torch==2.9.1\ntorchvision==0.24.1\ntorchaudio==2.9.1\n' > "$constraints"

if [ "$MIN" = 0 ] && [ ! -f "$COMFY/main.py" ]; then
  # no checkout: clone the pinned release when online (the same code `make demo` uses); its
  # requirements are installed below, pinned to the torch set above
  "$PY" tools/get_comfyui.py "$COMFY" "$PY" --no-install || true
fi

inputs=$(cat requirements.txt requirements-dev.txt "$constraints" 2>/dev/null; [ -f "$COMFY/requirements.txt" ] && cat "$COMFY/requirements.txt"; true)
stamp="$VENV/.wan22-setup-$(printf '%s' "$inputs" | sha1sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0  # the full set-up is current (it covers --min too)
fi
if [ "$MIN" = 1 ]; then
  inputs=$(cat requirements.txt requirements-dev.txt "$constraints" 2>/dev/null; true)
  stamp="$VENV/.wan22-setup-min-$(printf '%s' "$inputs" | sha1sum | cut -c1-16)"
  [ -f "$stamp" ] && exit 0
fi
pip() { "$PY" -m pip --disable-pip-version-check -q "$@"; }
if [ "$MIN" = 1 ]; then
  if ! "$PY" -c "import torch, torchaudio" 2>/dev/null; then
    echo "[setup] installing torch 2.9.1 + torchaudio 2.9.1 (the unit tier's tensors; a few minutes)"
    pip install torch==2.9.1 'torchaudio==2.9.*'
  fi
elif ! "$PY" -c "import torch, torchvision, torchaudio" 2>/dev/null; then
  echo "[setup] installing torch 2.9.1 + torchvision 0.24.1 + torchaudio 2.9.1 (several GB, a few minutes)"
  pip install torch==2.9.1 torchvision==0.24.1
  pip install torch==2.9.1 'torchaudio==2.9.*'
fi
if [ "$MIN" = 1 ]; then
  :  # the unit tier: no ComfyUI requirements
elif [ -f "$COMFY/requirements.txt" ]; then
  echo "[setup] installing ComfyUI requirements from $COMFY (torch pinned)"
  pip install -c "$constraints" -r "$COMFY/requirements.txt"
else
  echo "[setup] no ComfyUI at $COMFY: ComfyUI-dependent test tiers will be skipped"
fi
pip install -c "$constraints" -r requirements.txt -r requirements-dev.txt
touch "$stamp"
echo "[setup] environment ready: $VENV"
