#!/usr/bin/env bash
# Runs a command inside KeyGate's test session: a private D-Bus with a freshly created,
# unlocked gnome-keyring (in temporary XDG dirs, so a user's keyring is never touched) and
# an Xvfb display. D-Bus is the outer layer on purpose: its activation environment has no
# DISPLAY, so a locked keyring's unlock prompt fails at once instead of waiting on screen.
#
#   tests/run-in-session.sh cargo test --workspace
#   KEYGATE_TEST_LOCKABLE=1 tests/run-in-session.sh …   (the test may lock the keyring)
set -euo pipefail

if [ -z "${KEYGATE_IN_SESSION:-}" ]; then
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/keygate-session.XXXXXX")
  cleanup() {
    # Services the session activated (xdg-document-portal) may leave a FUSE mount in the
    # runtime dir: detach it before removing the directory; cleanup never fails the run.
    for mount in $(awk -v dir="$tmp" 'index($2, dir) == 1 { print $2 }' /proc/mounts 2>/dev/null); do
      fusermount -uz "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true
    done
    rm -rf "$tmp" 2>/dev/null || true
  }
  trap cleanup EXIT
  export XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" XDG_CACHE_HOME="$tmp/cache" XDG_RUNTIME_DIR="$tmp/run"
  mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
  chmod 700 "$XDG_RUNTIME_DIR"
  unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL
  export KEYGATE_IN_SESSION=1
  status=0
  dbus-run-session -- "$0" "$@" || status=$?
  exit "$status"
fi

printf '%s' keygate-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
export KEYGATE_TEST_SESSION=1
if [ -n "${KEYGATE_TEST_LOCKABLE:-}" ]; then
  export KEYGATE_TEST_LOCKABLE=/org/freedesktop/secrets/collection/login
fi
exec xvfb-run -a -s "-screen 0 1280x800x24" "$@"
