#!/usr/bin/env bash
# Entry point of the Wan 2.2 worker image (deploy/Dockerfile): say whether the network volume is
# there, then exec the pack's RunPod worker, which starts ComfyUI as its child, runs the volume
# inventory (one readiness table in the first log lines), and serves jobs through the runpod SDK.
#
#   python -m wan22 worker [SDK flags: this script's arguments] --start-comfyui $COMFYUI_DIR -- <ComfyUI args>
#
# It is the image's ENTRYPOINT. Arguments given to the container that start with "-" go to the
# worker (the runpod SDK's own flags, e.g. --rp_serve_api --rp_api_host 0.0.0.0 for a local test of
# the image); a full command instead (RunPod's "Container Start Command", `docker run IMAGE bash`)
# is run as given, so `/wan22-start.sh --rp_serve_api ...` as a start command works too.
#
# Environment (all optional):
#   WAN22_COMFY_ARGS   extra ComfyUI arguments, e.g. "--disable-dynamic-vram --disable-mmap"
#                      (letters, digits, spaces and . _ = / - only; see docs/deploy.md)
#   the worker's own: COMFY_URL, WAN22_JOB_TIMEOUT, WAN22_MAX_FRAMES, WAN22_MAX_SIDE, WAN22_MAX_PAYLOAD,
#                      WAN22_MAX_FILE, WAN22_HANG_TIMEOUT, BUCKET_ENDPOINT_URL... (docs/deploy.md)
#   COMFYUI_DIR, WAN22_PACK_DIR, WAN22_VOLUME, WAN22_PYTHON: paths, for tests
set -u

if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
  exec "$@"
fi

COMFYUI_DIR="${COMFYUI_DIR:-/comfyui}"
WAN22_PACK_DIR="${WAN22_PACK_DIR:-$COMFYUI_DIR/custom_nodes/ComfyUI-Wan22}"
WAN22_VOLUME="${WAN22_VOLUME:-/runpod-volume}"
PYTHON="${WAN22_PYTHON:-python}"

log() { printf 'wan22-worker: %s\n' "$*"; }

if [ ! -d "$WAN22_VOLUME" ]; then
  log "NO NETWORK VOLUME at $WAN22_VOLUME: attach one in the endpoint settings (Advanced > Select Network Volume). Every Wan 2.2 workflow will be refused as not ready."
elif [ ! -d "$WAN22_VOLUME/models" ]; then
  log "the network volume has no models/ folder: put the weights in $WAN22_VOLUME/models/<folder>/ (diffusion_models, text_encoders, vae, clip_vision, audio_encoders, loras)."
fi

comfy_args=(--disable-auto-launch --disable-metadata --log-stdout)
if [ -n "${WAN22_COMFY_ARGS:-}" ]; then
  if printf '%s' "$WAN22_COMFY_ARGS" | grep -Eq '^[A-Za-z0-9 ._=/-]+$'; then
    read -r -a extra <<< "$WAN22_COMFY_ARGS"
    comfy_args+=("${extra[@]}")
    log "ComfyUI starts with the extra arguments: $WAN22_COMFY_ARGS"
  else
    log "WARNING: WAN22_COMFY_ARGS ignored: only letters, digits, spaces and . _ = / - are allowed"
  fi
fi

# tcmalloc, as the stock worker image uses it (less fragmentation with large tensors)
tcmalloc="$(ldconfig -p 2>/dev/null | grep -Po 'libtcmalloc.so.\d' | head -n 1 || true)"
if [ -n "$tcmalloc" ]; then
  export LD_PRELOAD="$tcmalloc"
fi

cd "$WAN22_PACK_DIR" || { log "no pack folder at $WAN22_PACK_DIR"; exit 1; }
exec "$PYTHON" -m wan22 worker "$@" --start-comfyui "$COMFYUI_DIR" -- "${comfy_args[@]}"
