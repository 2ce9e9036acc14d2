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
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] && [ -z "${KEYGATE_ADMIN_TOKEN:-}" ] && [ ! -S "${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/bus" ]; then
  # No session bus, so no keyring to keep the admin token in: use a one-time token for this run.
  # Keys stored in the keyring need a keyring; keys added with --secret-env work without one.
  echo "No D-Bus session (so no OS keyring): using a one-time admin token for this run."
  KEYGATE_ADMIN_TOKEN="kg-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  export KEYGATE_ADMIN_TOKEN
fi
exec "$bin/keygate" serve
