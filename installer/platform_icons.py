"""Make the Windows .ico and macOS .icns app icons from the shipped PNGs (Pillow only).

Run by the PyInstaller spec at build time, so the binary icons are never committed and never
drift from resources/icons. `python installer/platform_icons.py OUT_DIR` runs it alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # Windows picks the nearest; 256 is the largest it uses
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def _load(pngs: dict[int, Path]) -> dict[int, Image.Image]:
    images = {}
    for size, path in pngs.items():
        image = Image.open(path).convert("RGBA")
        if image.size != (size, size):
            raise ValueError(f"{path} is {image.width}x{image.height}, expected {size}x{size}")
        images[size] = image
    return images


def _sized(images: dict[int, Image.Image], size: int) -> Image.Image:
    """The drawn PNG of that size, else the nearest larger one scaled down (or the largest up)."""
    if size in images:
        return images[size]
    larger = [s for s in images if s > size]
    source = images[min(larger)] if larger else images[max(images)]
    return source.resize((size, size), Image.Resampling.LANCZOS)


def write_ico(pngs: dict[int, Path], target: Path) -> Path:
    images = _load(pngs)
    frames = [_sized(images, s) for s in ICO_SIZES]
    target.parent.mkdir(parents=True, exist_ok=True)
    frames[-1].save(target, format="ICO", sizes=[f.size for f in frames], append_images=frames[:-1])
    return target


def write_icns(pngs: dict[int, Path], target: Path) -> Path:
    images = _load(pngs)
    frames = [_sized(images, s) for s in ICNS_SIZES]
    target.parent.mkdir(parents=True, exist_ok=True)
    frames[-1].save(target, format="ICNS", append_images=frames[:-1])
    return target


def write_platform_icons(out_dir: Path) -> tuple[Path, Path]:
    """(ico, icns) written into `out_dir`."""
    from automata_desktop.desktop_entry import icon_pngs

    pngs = icon_pngs()
    return write_ico(pngs, out_dir / "automata.ico"), write_icns(pngs, out_dir / "automata.icns")


if __name__ == "__main__":
    for path in write_platform_icons(Path(sys.argv[1] if len(sys.argv) > 1 else "build/icons")):
        print(path)
