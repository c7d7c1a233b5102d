"""Windows and macOS show the app with the same icon as Linux: the .ico and .icns the installer
build makes from resources/icons hold every size those systems ask for, drawn, not blurred."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import IcoImagePlugin, Image

from automata_desktop.desktop_entry import icon_pngs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "installer"))
from platform_icons import ICNS_SIZES, ICO_SIZES, write_platform_icons


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return np.array_equal(np.asarray(a.convert("RGBA")), np.asarray(b.convert("RGBA")))


def test_the_windows_icon_carries_each_drawn_size_unchanged(tmp_path):
    ico_path, _ = write_platform_icons(tmp_path)

    ico = IcoImagePlugin.IcoFile(ico_path.open("rb"))
    assert {w for w, _h in ico.sizes()} == set(ICO_SIZES)
    for size, png in icon_pngs().items():
        assert same_pixels(ico.getimage((size, size)), Image.open(png)), f"{size}px differs"


def test_the_macos_icon_has_retina_sizes_and_the_drawn_ones_unchanged(tmp_path):
    _, icns_path = write_platform_icons(tmp_path)

    icns = Image.open(icns_path)
    assert icns.format == "ICNS"
    assert (512, 512, 2) in icns.info["sizes"], "no 1024 px icon for Retina displays"
    icns.size = (256, 256)  # pick the 256 px representation at scale 1
    icns.load(scale=1)
    assert same_pixels(icns, Image.open(icon_pngs()[256]))
    assert max(ICNS_SIZES) == 1024


def test_a_missized_png_is_named_in_the_error(tmp_path):
    from platform_icons import write_ico

    wrong = tmp_path / "automata_64.png"
    Image.new("RGBA", (60, 60)).save(wrong)
    try:
        write_ico({64: wrong}, tmp_path / "out.ico")
    except ValueError as exc:
        assert "automata_64.png is 60x60, expected 64x64" in str(exc)
    else:
        raise AssertionError("a 60 px file passed as the 64 px icon")
