#!/usr/bin/env bash
# Regenerates every app icon from the master icons/icon.svg.
#
# Rasterising uses CairoSVG and packing (.ico, .icns) uses Pillow, both pinned and installed into a
# throwaway venv under /tmp, so the output does not depend on which ImageMagick or librsvg build a
# machine happens to have. Needs python3 (with venv) and libcairo2, which Tauri's build deps bring.
#
# Usage: scripts/make-icons.sh            (writes icons/ and ui/public/favicon.png, ui/src/assets/logo.svg)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${KEYGATE_ICONS_VENV:-/tmp/keygate-icons-venv}"

if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check 'cairosvg==2.9.1' 'pillow==13.0.0'
"$venv/bin/python" "$repo/scripts/make-icons.py" "$repo"

# Cross-check with ImageMagick when it is installed (Tauri refuses PNGs that are not 8-bit RGBA).
if command -v identify >/dev/null 2>&1 && identify -version 2>/dev/null | grep -q ImageMagick; then
  identify -format '%f %wx%h %[channels] %[bit-depth]-bit\n' "$repo"/icons/*.png
fi
