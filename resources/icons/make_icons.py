"""Generate the app icon: an isometric cube with a textured face on a dark rounded tile.

Writes automata.svg (the master) and automata_<size>.png rasterised with Pillow (no SVG renderer
needed). Run from the repo root: `.venv/bin/python resources/icons/make_icons.py`.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SIZES = (16, 24, 32, 48, 64, 128, 256)
CANVAS = 256
BACKGROUND = "#1e2230"
TOP, LEFT, RIGHT = "#f2a65a", "#d9653b", "#8c3b2f"
GRID = "#ffe2b8"

# Isometric cube in a 256 canvas: centre (128, 132), edge ~ 82 px.
_TOP = [(128, 46), (202, 89), (128, 132), (54, 89)]
_LEFT = [(54, 89), (128, 132), (128, 218), (54, 175)]
_RIGHT = [(128, 132), (202, 89), (202, 175), (128, 218)]


def _grid_lines() -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Two lines each way across the top face: the 'texture' being painted on."""
    lines = []
    a, b, c, d = _TOP

    def lerp(p: tuple[int, int], q: tuple[int, int], t: float) -> tuple[float, float]:
        return (p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t)

    for t in (1 / 3, 2 / 3):
        lines.append((lerp(a, d, t), lerp(b, c, t)))
        lines.append((lerp(a, b, t), lerp(d, c, t)))
    return lines


def svg() -> str:
    def poly(points: list[tuple[int, int]], fill: str) -> str:
        return f'<polygon points="{" ".join(f"{x},{y}" for x, y in points)}" fill="{fill}"/>'

    lines = "".join(
        f'<line x1="{a[0]:.1f}" y1="{a[1]:.1f}" x2="{b[0]:.1f}" y2="{b[1]:.1f}" '
        f'stroke="{GRID}" stroke-width="4" stroke-linecap="round" opacity="0.8"/>'
        for a, b in _grid_lines()
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CANVAS} {CANVAS}" '
        f'width="{CANVAS}" height="{CANVAS}">'
        f'<rect x="8" y="8" width="240" height="240" rx="48" fill="{BACKGROUND}"/>'
        f"{poly(_TOP, TOP)}{poly(_LEFT, LEFT)}{poly(_RIGHT, RIGHT)}{lines}</svg>\n"
    )


def raster(size: int) -> Image.Image:
    scale = 4  # draw large, then downsample: Pillow's polygons are not anti-aliased
    big = Image.new("RGBA", (CANVAS * scale, CANVAS * scale), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)

    def s(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x * scale, y * scale) for x, y in points]

    draw.rounded_rectangle([8 * scale, 8 * scale, 248 * scale, 248 * scale], 48 * scale,
                           fill=BACKGROUND)
    for points, fill in ((_TOP, TOP), (_LEFT, LEFT), (_RIGHT, RIGHT)):
        draw.polygon(s(points), fill=fill)
    if size >= 32:  # grid lines turn to mud at tiny sizes
        for a, b in _grid_lines():
            draw.line(s([a, b]), fill=GRID, width=4 * scale)
    return big.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    (HERE / "automata.svg").write_text(svg(), encoding="utf-8")
    for size in SIZES:
        raster(size).save(HERE / f"automata_{size}.png", optimize=True)
    print(f"wrote {len(SIZES)} PNGs and automata.svg to {HERE}")


if __name__ == "__main__":
    main()
