"""Renders the KeyGate icon set from icons/icon.svg. Run through scripts/make-icons.sh."""

import io
import pathlib
import shutil
import sys

import cairosvg
from PIL import Image

# Tray status colours; the UI's health dots use the same ones.
TRAY_DOTS = {
    "green": "#22c55e",
    "yellow": "#f5a524",
    "red": "#ef4444",
    "grey": "#9ca3af",
}

# The dot sits in the bottom-right corner and a ring around it is cut out of the mark,
# so it stays readable on light and dark panels alike. Units are the master's 512 grid.
TRAY_MASK = """
  <defs>
    <mask id="kg-dot-cut" maskUnits="userSpaceOnUse" x="0" y="0" width="512" height="512">
      <rect width="512" height="512" fill="#fff"/>
      <circle cx="416" cy="416" r="124" fill="#000"/>
    </mask>
  </defs>
"""
TRAY_DOT = '  <circle cx="416" cy="416" r="92" fill="{colour}"/>\n</svg>'


def render(svg: str, size: int) -> Image.Image:
    png = cairosvg.svg2png(bytestring=svg.encode(), output_width=size, output_height=size)
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.convert("RGBA")


def save_png(image: Image.Image, path: pathlib.Path) -> None:
    image.save(path, format="PNG", optimize=True)
    check = Image.open(path)
    if check.mode != "RGBA" or check.size != image.size:
        raise SystemExit(f"{path}: expected 8-bit RGBA {image.size}, got {check.mode} {check.size}")


def tray_svg(master: str, colour: str) -> str:
    if '<g id="mark">' not in master or not master.rstrip().endswith("</svg>"):
        raise SystemExit("icons/icon.svg must keep its <g id=\"mark\"> group for the tray variants")
    svg = master.replace('<g id="mark">', TRAY_MASK + '  <g id="mark" mask="url(#kg-dot-cut)">', 1)
    return svg.rstrip()[: -len("</svg>")] + TRAY_DOT.format(colour=colour) + "\n"


def main(repo: pathlib.Path) -> None:
    icons = repo / "icons"
    master = (icons / "icon.svg").read_text()

    for name, size in {
        "32x32.png": 32,
        "64x64.png": 64,
        "128x128.png": 128,
        "128x128@2x.png": 256,
        "icon.png": 512,
    }.items():
        save_png(render(master, size), icons / name)

    # Each size is rendered from the vector, not scaled down from the largest one.
    ico_sizes = [16, 24, 32, 48, 64, 128, 256]
    ico = [render(master, s) for s in ico_sizes]
    ico[-1].save(icons / "icon.ico", format="ICO", sizes=[(s, s) for s in ico_sizes], append_images=ico[:-1])

    icns_sizes = [16, 32, 64, 128, 256, 512, 1024]
    icns = [render(master, s) for s in icns_sizes]
    icns[-1].save(icons / "icon.icns", format="ICNS", append_images=icns[:-1])

    for state, colour in TRAY_DOTS.items():
        save_png(render(tray_svg(master, colour), 32), icons / f"tray-{state}.png")

    ui = repo / "ui"
    (ui / "public").mkdir(parents=True, exist_ok=True)
    (ui / "src" / "assets").mkdir(parents=True, exist_ok=True)
    save_png(render(master, 64), ui / "public" / "favicon.png")
    shutil.copyfile(icons / "icon.svg", ui / "src" / "assets" / "logo.svg")

    print("icons written:", ", ".join(sorted(p.name for p in icons.iterdir() if p.name != "icon.svg")))


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]).resolve())
