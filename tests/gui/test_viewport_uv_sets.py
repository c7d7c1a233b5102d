"""A map on another UV set than the material's first (glTF texCoord 1, as DamagedHelmet's emissive)
is drawn where that UV set puts it, while the other maps keep reading theirs; a map the user
brings instead is laid out on the model's own UVs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtTest import QTest

from automata_desktop.core.maps import MapKind
from automata_desktop.core.texture_set import TextureMap, TextureSet
from automata_desktop.ui.main_window import MainWindow
from automata_desktop.viewport import ViewMode
from tests.fixtures.assets import ELEMENT_ARRAY_BUFFER, GltfWriter
from tests.gui.workbench_helpers import wait_for

pytestmark = pytest.mark.gui

RED, GREEN = (255, 0, 0), (0, 255, 0)


def halves(left: tuple[int, int, int], right: tuple[int, int, int], size: int = 32) -> np.ndarray:
    pixels = np.zeros((size, size, 3), np.uint8)
    pixels[:, : size // 2], pixels[:, size // 2:] = left, right
    return pixels


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def two_uv_sets_card(path: Path, *, rough: bool = False, occluded: bool = False) -> Path:
    """A square card facing +Z: base colour (blue left, black right) on TEXCOORD_0 = the card's
    own layout, emissive (red left, green right) on TEXCOORD_1 = that layout mirrored in u; or,
    `rough`, no emissive but metal-roughness on TEXCOORD_1 (roughness 30 left, 230 right); or,
    `occluded`, metal-roughness (roughness 30 left, 230 right) on TEXCOORD_0 and a separate
    occlusion (dark left, white right) on TEXCOORD_1."""
    w = GltfWriter("Khronos glTF Blender I/O v4.1.63")
    positions = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], np.float32)
    uv0 = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32)  # glTF: v = 0 at the top
    uv1 = np.column_stack([1 - uv0[:, 0], uv0[:, 1]]).astype(np.float32)
    for pixels, name in ((halves((0, 0, 200), (0, 0, 0)), "base"), (halves(RED, GREEN), "glow")):
        w.add("textures", {"source": w.embedded_image(png(pixels), "image/png", name)})
    material = {"name": "card", "pbrMetallicRoughness": {
        "baseColorTexture": {"index": 0}, "metallicFactor": 0.0, "roughnessFactor": 1.0}}
    if rough:
        w.add("textures", {"source": w.embedded_image(
            png(halves((0, 30, 0), (0, 230, 0))), "image/png", "metal-rough")})
        material["pbrMetallicRoughness"]["metallicRoughnessTexture"] = {"index": 2, "texCoord": 1}
    elif occluded:
        w.add("textures", {"source": w.embedded_image(
            png(halves((0, 30, 0), (0, 230, 0))), "image/png", "metal-rough")})
        w.add("textures", {"source": w.embedded_image(
            png(halves((25, 25, 25), (255, 255, 255))), "image/png", "occlusion")})
        material["pbrMetallicRoughness"]["metallicRoughnessTexture"] = {"index": 2}
        material["occlusionTexture"] = {"index": 3, "texCoord": 1}
    else:
        material.update(emissiveTexture={"index": 1, "texCoord": 1}, emissiveFactor=[1, 1, 1])
    w.doc["materials"] = [material]
    w.doc["meshes"] = [{"primitives": [{"attributes": {
        "POSITION": w.accessor(positions, bounds=True),
        "NORMAL": w.accessor(np.tile(np.float32([0, 0, 1]), (4, 1))),
        "TEXCOORD_0": w.accessor(uv0), "TEXCOORD_1": w.accessor(uv1)},
        "indices": w.accessor(np.array([0, 1, 2, 0, 2, 3], np.uint32),
                              target=ELEMENT_ARRAY_BUFFER),
        "material": 0}]}]
    w.doc["nodes"] = [{"mesh": 0, "name": "card"}]
    w.doc["scenes"] = [{"nodes": [0]}]
    w.doc["scene"] = 0
    return w.glb(path)


def open_card(qapp, tmp_path, *, rough: bool = False, occluded: bool = False) -> MainWindow:
    window = MainWindow(interactive=False, prefs_path=tmp_path / "view.json")
    window.resize(900, 600)
    window.show()
    QTest.qWaitForWindowExposed(window, 5000)
    window.open_mesh(two_uv_sets_card(tmp_path / "card.glb", rough=rough, occluded=occluded))
    wait_for(qapp, lambda: window.mesh is not None and window.texture_set is not None
             and not window.busy, 60, "the card")
    wait_for(qapp, lambda: window.lighting_view.applied, 60, "the HDRI")
    return window


@pytest.fixture
def window(qapp, tmp_path):
    window = open_card(qapp, tmp_path)
    yield window
    window.close()


def left_and_right(window: MainWindow) -> tuple[np.ndarray, np.ndarray]:
    """The card's colour a quarter of its width in from its left and its right edge."""
    window.viewport.render()
    image = window.viewport.screenshot(return_img=True)[..., :3].astype(int)
    rows, cols = np.nonzero(~np.isnan(window.viewport.get_image_depth()))
    row = (rows.min() + rows.max()) // 2
    quarter = (cols.max() - cols.min()) // 4
    return image[row, cols.min() + quarter], image[row, cols.max() - quarter]


def test_an_emissive_map_on_texcoord_1_glows_where_texcoord_1_puts_it(window):
    left, right = left_and_right(window)
    # TEXCOORD_1 mirrors the card: the image's green half glows on its left, red on its right.
    assert left[1] > left[0] + 100 and right[0] > right[1] + 100, (left, right)
    # The base colour keeps reading TEXCOORD_0: its blue half stays on the left.
    assert left[2] > right[2] + 40, (left, right)


def test_an_emissive_map_the_user_brings_is_laid_out_on_the_models_own_uvs(qapp, window):
    mine = TextureSet({MapKind.EMISSIVE: TextureMap(MapKind.EMISSIVE, pixels=halves(RED, GREEN))})
    window.show_texture_set(mine, derive_missing=False, merge="layer")
    wait_for(qapp, lambda: window.texture_set.get(MapKind.EMISSIVE).pixels is not None
             and not window.busy, 30, "the user's emissive map")
    left, right = left_and_right(window)
    assert left[0] > left[1] + 100 and right[1] > right[0] + 100, (left, right)


def test_the_roughness_view_of_a_map_on_texcoord_1_shows_it_where_texcoord_1_puts_it(
        qapp, tmp_path):
    window = open_card(qapp, tmp_path, rough=True)
    try:
        window.set_view_mode(ViewMode.ROUGHNESS)
        left, right = left_and_right(window)
        assert np.abs(left - 230).max() <= 3 and np.abs(right - 30).max() <= 3, (left, right)
    finally:
        window.close()


def test_an_occlusion_on_texcoord_1_darkens_where_texcoord_1_puts_it_beside_texcoord_0_roughness(
        qapp, tmp_path):
    # VTK reads occlusion and roughness from one ORM texture with one UV set: the occlusion is
    # resampled onto the metal-roughness map's TEXCOORD_0 layout.
    window = open_card(qapp, tmp_path, occluded=True)
    try:
        window.set_view_mode(ViewMode.AO)
        left, right = left_and_right(window)
        # TEXCOORD_1 mirrors the card: the image's dark half occludes the card's right.
        assert left.min() >= 240 and right.max() <= 40, (left, right)
        window.set_view_mode(ViewMode.ROUGHNESS)
        left, right = left_and_right(window)
        assert np.abs(left - 30).max() <= 3 and np.abs(right - 230).max() <= 3, (left, right)
    finally:
        window.close()


def test_opening_a_file_with_occlusion_on_its_own_uv_set_says_it_was_baked(qapp, tmp_path):
    window = open_card(qapp, tmp_path, occluded=True)
    try:
        assert '"card": occlusion on TEXCOORD_1 baked onto the metallic-roughness UVs' \
            in window.statusBar().currentMessage()
    finally:
        window.close()
