"""The main window as a user meets it: the sample appears textured, modes switch, errors explain."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from automata_desktop.core.maps import MapKind
from automata_desktop.viewport import ViewMode

pytestmark = pytest.mark.gui


def viewport_pixels(window) -> np.ndarray:
    window.viewport.render()
    image = window.viewport.interactor.grab().toImage().convertToFormat(
        window.viewport.interactor.grab().toImage().Format.Format_RGB888)
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, image.bytesPerLine() * height)
    return data.reshape(height, image.bytesPerLine())[:, : width * 3].reshape(height, width, 3)


def centre(pixels: np.ndarray) -> np.ndarray:
    h, w = pixels.shape[:2]
    return pixels[h // 4: 3 * h // 4, w // 4: 3 * w // 4].reshape(-1, 3).astype(int)


def teal_fraction(pixels: np.ndarray) -> float:
    """Share of pixels in the sample's teal glaze: green and blue well above red."""
    p = centre(pixels)
    return float(np.mean((p[:, 1] > p[:, 0] + 25) & (p[:, 2] > p[:, 0] + 25)))


def test_the_sample_is_shown_with_its_pbr_maps_bound(sample_window):
    prop = sample_window.material_view.vtk_property
    assert prop.GetInterpolationAsString() == "Physically based rendering"
    albedo = prop.GetTexture("albedoTex")
    assert albedo is not None and albedo.GetUseSRGBColorSpace()
    assert prop.GetTexture("normalTex") is not None
    assert prop.GetTexture("materialTex") is not None  # ORM
    mapper_input = sample_window.material_view.actor.GetMapper().GetInput()
    assert mapper_input.GetPointData().GetTangents() is not None  # else normal maps do nothing
    assert set(sample_window.texture_set.kinds) >= {MapKind.BASE_COLOR, MapKind.NORMAL}
    assert "triangles" in sample_window.statusBar().currentMessage() or \
        "Material" in sample_window.statusBar().currentMessage()


def test_the_viewport_shows_the_textured_mesh_not_a_blank_or_grey_box(sample_window):
    pixels = viewport_pixels(sample_window)
    assert pixels.std() > 20  # not a blank frame
    assert teal_fraction(pixels) > 0.05  # the base colour's teal tiles are visible, lit


def test_number_keys_switch_view_modes(own_sample_window, qtbot):
    own_sample_window.activateWindow()
    qtbot.waitUntil(own_sample_window.isActiveWindow, timeout=5000)
    viewport = own_sample_window.viewport.interactor  # the VTK widget holds focus while orbiting
    qtbot.keyClick(viewport, Qt.Key.Key_3)
    assert own_sample_window.material_view.mode is ViewMode.NORMAL
    normal = centre(viewport_pixels(own_sample_window))
    on_mesh = normal[normal.sum(axis=1) > 150]
    # A tangent-space normal map is mostly (128, 128, 255): blue dominates.
    assert np.mean(on_mesh[:, 2] > on_mesh[:, 0] + 60) > 0.5

    qtbot.keyClick(viewport, Qt.Key.Key_1)
    assert own_sample_window.material_view.mode is ViewMode.LIT
    assert own_sample_window.material_view.vtk_property.GetTexture("albedoTex") is not None


def test_base_color_mode_shows_the_texture_unlit(sample_window):
    sample_window.set_view_mode(ViewMode.BASE_COLOR)
    try:
        prop = sample_window.material_view.vtk_property
        assert not prop.GetLighting()
        assert sample_window.material_view.actor.GetTexture() is not None
        assert teal_fraction(viewport_pixels(sample_window)) > 0.05
    finally:
        sample_window.set_view_mode(ViewMode.LIT)


def test_a_corrupt_mesh_explains_itself_and_keeps_the_current_one(sample_window, qtbot, tmp_path):
    bad = tmp_path / "broken.glb"
    bad.write_bytes(b"glTF" + b"\x00" * 64)
    before = sample_window.mesh

    with qtbot.waitSignal(sample_window.failed, timeout=20_000) as failed:
        sample_window.open_mesh(bad)

    assert "broken.glb" in failed.args[0]
    assert "Traceback" not in failed.args[0]
    assert "broken.glb" in sample_window.statusBar().currentMessage()
    assert sample_window.mesh is before


def test_a_mesh_without_uvs_opens_with_a_notice_in_the_status_bar(own_sample_window, qtbot, tmp_path):
    import trimesh

    path = tmp_path / "plain.stl"
    trimesh.creation.icosphere(subdivisions=2).export(path)
    with qtbot.waitSignal(own_sample_window.mesh_shown, timeout=20_000) as shown:
        own_sample_window.open_mesh(path)
    scene = shown.args[0]
    assert all(scene.primitive(i).uvs for i in scene.instances())
    assert "no UVs" in own_sample_window.statusBar().currentMessage()
    # The new mesh shows its own (empty) material, not the sample's maps (issue 9).
    assert own_sample_window.material_view.vtk_property.GetTexture("albedoTex") is None
    assert own_sample_window.texture_set is None


def test_a_base_color_only_folder_is_completed_with_derived_maps(own_sample_window, qtbot, tmp_path):
    import shutil

    from automata_desktop.core.texture_set import MapSource
    from automata_desktop.paths import resources_dir

    shutil.copy(resources_dir() / "samples" / "sample_basecolor.png",
                tmp_path / "ai_basecolor_00001_.png")
    with qtbot.waitSignal(own_sample_window.textures_shown, timeout=30_000) as shown:
        own_sample_window.open_maps_folder(tmp_path)

    textures = shown.args[0]
    assert textures.get(MapKind.NORMAL).source is MapSource.DERIVED
    assert own_sample_window.material_view.vtk_property.GetTexture("normalTex") is not None
    sources = [own_sample_window.maps_list.topLevelItem(i).text(2)
               for i in range(own_sample_window.maps_list.topLevelItemCount())]
    assert sources.count("derived") == 4 and sources.count("imported") == 1


def test_the_about_box_shows_the_version_from_the_package(sample_window):
    from automata_desktop import __version__

    menus = [a.text() for a in sample_window.menuBar().actions()]
    assert "&Help" in menus
    assert f"AUTOMATA Desktop {__version__}" in sample_window.about_text()
