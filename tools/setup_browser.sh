#!/usr/bin/env bash
# Idempotent set-up of the browser test tier (tests/browser): Debian `chromium`, the npm
# `playwright-core` pinned in tests/browser/package-lock.json (no browser download), and the newest
# published ComfyUI frontend (FRONTEND_LATEST in tests/browser/browser_support.py) in
# tests/browser/frontends/<version>/ (pip --target, never into the venv, whose pinned frontend the
# other tiers use; the tier serves it with main.py --front-end-root).
# Never fails the build: when something cannot be installed it prints one line saying so and
# exits 0, and the browser tier then skips with that reason.
set -uo pipefail
cd "$(dirname "$0")/.."
DIR=tests/browser

say() { echo "[setup-browser] $*"; }

chromium_bin() {
  for c in "${WAN22_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser "$(command -v chromium 2>/dev/null)"; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
  done
  return 1
}

if ! chromium_bin >/dev/null; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing Debian chromium (about 480 MB, once)"
    if ! { apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
           || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }; }; then
      say "could not install chromium with apt-get: the browser tier will be skipped"
      exit 0
    fi
  elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    say "installing Debian chromium with sudo (about 480 MB, once)"
    sudo -n apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
      || { sudo -n apt-get update -q >/dev/null 2>&1 && sudo -n apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; } \
      || { say "could not install chromium: the browser tier will be skipped"; exit 0; }
  else
    say "no chromium and no way to install it (needs apt-get as root; or set WAN22_CHROMIUM): the browser tier will be skipped"
    exit 0
  fi
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "no node/npm (Node.js >= 20) on PATH: the browser tier will be skipped"
  exit 0
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "node $(node --version) is older than 20 (playwright-core needs >= 20): the browser tier will be skipped"
  exit 0
fi

# The newest frontend: one wheel (~30 MB), no dependencies.
fe_version=$(sed -n 's/^FRONTEND_LATEST = "\(.*\)"$/\1/p' "$DIR/browser_support.py")
fe_dir="$DIR/frontends/$fe_version"
if [ -n "$fe_version" ] && [ ! -f "$fe_dir/comfyui_frontend_package/static/index.html" ]; then
  py="${VENV:-$HOME/comfy/venv}/bin/python"
  [ -x "$py" ] || py=$(command -v python3)
  say "installing comfyui-frontend-package==$fe_version into $fe_dir (the browser tier's second frontend)"
  rm -rf "$fe_dir"
  if ! "$py" -m pip install -q --disable-pip-version-check --no-deps --target "$fe_dir" "comfyui-frontend-package==$fe_version" >/dev/null 2>&1; then
    rm -rf "$fe_dir"
    say "could not install comfyui-frontend-package==$fe_version (offline?): the tier's runs on it will be skipped"
  fi
fi

# npm ci when node_modules is missing or older than the lockfile (npm writes its own copy).
lock="$DIR/package-lock.json"
hidden="$DIR/node_modules/.package-lock.json"
if [ ! -f "$hidden" ] || [ "$lock" -nt "$hidden" ] || ! cmp -s <(node -p "require('./$lock').packages['node_modules/playwright-core'].version") \
     <(node -p "require('./$DIR/node_modules/playwright-core/package.json').version" 2>/dev/null); then
  say "npm ci in $DIR (playwright-core, pinned)"
  if ! (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
    say "npm ci failed (offline?): the browser tier will be skipped"
    exit 0
  fi
fi
exit 0
