#!/usr/bin/env bash
# Installs what KeyGate needs on Debian/Ubuntu, idempotently: only what is missing.
#   scripts/setup.sh run    build dependencies and the UI's npm packages
#   scripts/setup.sh test   the above, plus the test tools (gnome-keyring, Xvfb, WebKit
#                           WebDriver, Chromium, tauri-driver, Playwright, a Python venv,
#                           the coding tools of tests/tools)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}

build_pkgs=(build-essential pkg-config libssl-dev libwebkit2gtk-4.1-dev libgtk-3-dev
  libayatana-appindicator3-dev librsvg2-dev)
test_pkgs=(xvfb xauth dbus gnome-keyring libsecret-tools webkit2gtk-driver chromium python3-venv
  postgresql)

pkgs=("${build_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

npm_ci() { # dir: install from the lockfile when node_modules is missing or older than it
  local dir=$1
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "==> npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
npm_ci ui

if [ "$mode" = test ]; then
  npm_ci tests/e2e
  # The real tools the tool tests run (Codex CLI, …), pinned by tests/tools/package-lock.json.
  npm_ci tests/tools
  if ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/tauri-driver" ]; then
    echo "==> cargo install tauri-driver"
    cargo install tauri-driver --version '^2' --locked --quiet
  fi
  if [ ! -x tests/.venv/bin/python ]; then
    echo "==> creating the Python venv for client tests (tests/.venv)"
    python3 -m venv tests/.venv
  fi
  # aider, in a venv of its own (its exact pins would fight the SDKs').
  if [ ! -x tests/tools/.venv-aider/bin/python ]; then
    echo "==> creating the venv for aider (tests/tools/.venv-aider)"
    python3 -m venv tests/tools/.venv-aider
  fi
  aider_stamp=tests/tools/.venv-aider/.requirements-installed
  if [ ! -f "$aider_stamp" ] || [ tests/tools/aider-requirements.txt -nt "$aider_stamp" ]; then
    echo "==> pip install -r tests/tools/aider-requirements.txt (tests/tools/.venv-aider)"
    tests/tools/.venv-aider/bin/python -m pip install --quiet --disable-pip-version-check -r tests/tools/aider-requirements.txt
    touch "$aider_stamp"
  fi
  # The client SDK tests' packages, reinstalled only when requirements.txt is newer than the stamp.
  stamp=tests/.venv/.requirements-installed
  if [ ! -f "$stamp" ] || [ tests/python/requirements.txt -nt "$stamp" ]; then
    echo "==> pip install -r tests/python/requirements.txt (tests/.venv)"
    tests/.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
    touch "$stamp"
  fi
fi
