#!/usr/bin/env bash
# Entry point of the Wan 2.2 worker image (deploy/Dockerfile): first say what the network volume
# holds, then hand over to the stock worker start script unchanged.
#
# The first log lines of every worker are the Wan 2.2 volume inventory, so a worker whose volume
# is missing, laid out wrong, or lacks a file says so before the first job fails on it. The
# inventory only reads directory listings and file headers, never blocks the worker (time limit)
# and never fails it: whatever it finds, the stock worker starts.
#
# Environment (all optional):
#   WAN22_WORKFLOWS          workflow ids to judge, e.g. "i2v i2v_fast s2v" (default: all)
#   WAN22_INVENTORY=0        skip the inventory
#   WAN22_INVENTORY_TIMEOUT  seconds (default 120)
#   WAN22_COMFY_ARGS         extra ComfyUI arguments, e.g. "--disable-dynamic-vram --disable-mmap"
#                            (letters, digits, spaces and . _ = / - only; see docs/deploy.md)
#   COMFYUI_DIR, WAN22_PACK_DIR, WAN22_VOLUME, WAN22_WORKER_START, WAN22_PYTHON: paths, for tests
set -u

COMFYUI_DIR="${COMFYUI_DIR:-/comfyui}"
WAN22_PACK_DIR="${WAN22_PACK_DIR:-$COMFYUI_DIR/custom_nodes/ComfyUI-Wan22}"
WAN22_VOLUME="${WAN22_VOLUME:-/runpod-volume}"
WORKER_START="${WAN22_WORKER_START:-/start.sh}"
PYTHON="${WAN22_PYTHON:-python}"

log() { printf 'wan22-worker: %s\n' "$*"; }

if [ "${WAN22_INVENTORY:-1}" != "0" ]; then
  if [ ! -d "$WAN22_VOLUME" ]; then
    log "NO NETWORK VOLUME at $WAN22_VOLUME: attach one in the endpoint settings (Advanced > Select Network Volume). Every Wan 2.2 workflow will fail with 'not found'."
  elif [ ! -d "$WAN22_VOLUME/models" ]; then
    log "the network volume has no models/ folder: put the weights in $WAN22_VOLUME/models/<folder>/ (diffusion_models, text_encoders, vae, clip_vision, audio_encoders, loras)."
  fi
  args=(--comfyui "$COMFYUI_DIR")
  for w in ${WAN22_WORKFLOWS:-}; do
    args+=(--workflow "$w")
  done
  limit="${WAN22_INVENTORY_TIMEOUT:-120}"
  report="$(cd "$WAN22_PACK_DIR" && timeout "$limit" "$PYTHON" -m wan22 inventory "${args[@]}" 2>&1)"
  rc=$?
  case "$rc" in
    0) log "volume inventory: every checked Wan 2.2 workflow is ready" ;;
    1) log "WARNING: volume inventory: some Wan 2.2 workflows are NOT READY (details below); the worker starts anyway" ;;
    124) log "WARNING: volume inventory timed out after ${limit}s (slow or hung network volume?); the worker starts anyway" ;;
    *) log "WARNING: volume inventory could not run (exit $rc, output below); the worker starts anyway" ;;
  esac
  if [ -n "$report" ]; then
    printf '%s\n' "$report"
  fi
fi

if [ -n "${WAN22_COMFY_ARGS:-}" ]; then
  if ! printf '%s' "$WAN22_COMFY_ARGS" | grep -Eq '^[A-Za-z0-9 ._=/-]+$'; then
    log "WARNING: WAN22_COMFY_ARGS ignored: only letters, digits, spaces and . _ = / - are allowed"
  elif ! grep -qF "$COMFYUI_DIR/main.py" "$WORKER_START"; then
    log "WARNING: WAN22_COMFY_ARGS ignored: $WORKER_START does not start $COMFYUI_DIR/main.py the way this script expects"
  else
    patched="$(mktemp /tmp/wan22-worker-start.XXXXXX)"
    sed "s#$COMFYUI_DIR/main.py#$COMFYUI_DIR/main.py $WAN22_COMFY_ARGS#g" "$WORKER_START" > "$patched"
    chmod +x "$patched"
    log "ComfyUI starts with the extra arguments: $WAN22_COMFY_ARGS"
    WORKER_START="$patched"
  fi
fi

exec "$WORKER_START" "$@"
