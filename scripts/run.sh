#!/usr/bin/env bash
# Starts KeyGate: the desktop app when there is a display, else the headless engine.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/debug"
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  exec "$bin/keygate-app"
fi
echo "No display found (DISPLAY and WAYLAND_DISPLAY are unset): starting the headless engine instead."
echo "Open the Web UI URL below in a browser on this machine."
exec "$bin/keygate" serve
