"""The Display dock: the HDRI (bundled or the user's own), its rotation, exposure and background,
UV tiling, and the height map as real displacement of a subdivided copy."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from vtkmodules.util.numpy_support import vtk_to_numpy

from automata_desktop.core.maps import MapKind
from automata_desktop.paths import resources_dir
from automata_desktop.ui.main_window import MainWindow, sample_paths
from automata_desktop.viewport.environment import Lighting
from tests.gui.workbench_helpers import wait_for

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qapp, tmp_path):
    window = MainWindow(interactive=False, prefs_path=tmp_path / "view.json")
    window.resize(1100, 700)
    window.show()
    window.open_sample()
    wait_for(qapp, lambda: window.texture_set is not None
             and MapKind.HEIGHT in window.texture_set and not window.busy, 60, "the sample")
    yield window
    window.close()


def frame(window: MainWindow) -> np.ndarray:
    window.viewport.render()
    return window.viewport.screenshot(return_img=True).astype(float)


def centre(image: np.ndarray) -> float:
    h, w = image.shape[:2]
    return float(image[h * 2 // 5:h * 3 // 5, w * 2 // 5:w * 3 // 5].mean())


def test_exposure_brightens_the_model_and_the_background_shows_the_hdri(qapp, window):
    before = frame(window)
    window.display_panel.exposure.setValue(20)  # +2 stops, as releasing the slider sends it
    brighter = frame(window)
    assert centre(brighter) > centre(before) + 10
    assert window.prefs.exposure == pytest.approx(2.0)

    corner_before = brighter[5:20, 5:20].mean(axis=(0, 1))
    window.display_panel.background.setChecked(True)
    assert window.lighting_view.skybox is not None
    assert np.abs(frame(window)[5:20, 5:20].mean(axis=(0, 1)) - corner_before).max() > 5
    window.display_panel.background.setChecked(False)
    assert window.lighting_view.skybox is None


def test_rotating_the_lighting_turns_the_environment_about_the_up_axis(qapp, window):
    before = frame(window)
    window.display_panel.rotation.setValue(90)
    lighting = window.lighting_view
    assert np.allclose(lighting.environment_up, window.scene.up_vector)
    assert np.allclose(lighting.environment_right, window.scene.front_vector, atol=1e-6)
    assert np.abs(frame(window) - before).mean() > 0.5


def test_the_users_own_hdri_lights_the_scene_and_is_remembered(qapp, window, tmp_path):
    mine = shutil.copy(resources_dir() / "hdri" / "sky.hdr", tmp_path / "my sky.hdr")
    window.set_lighting(Lighting(hdri=str(mine)))
    assert window.lighting_view.lighting.hdri == str(mine)
    assert window.display_panel.hdri.currentData() == str(mine)

    again = MainWindow(interactive=False, prefs_path=tmp_path / "view.json")
    try:
        assert again.lighting_view.lighting.hdri == str(mine)
    finally:
        again.close()


def test_a_file_that_is_not_an_hdri_says_so_and_the_lighting_stays(qapp, window, tmp_path):
    fake = shutil.copy(sample_paths()[1] / "sample_basecolor.png", tmp_path / "fake.hdr")
    errors = []
    window.failed.connect(errors.append)
    window.set_lighting(Lighting(hdri=str(fake)))
    assert errors and "fake.hdr" in errors[0] and ".hdr" in errors[0]
    assert window.lighting_view.lighting.hdri == "studio"


def test_tiling_repeats_the_maps_across_the_uvs(qapp, window):
    poly = window.material_view.actor.GetMapper().GetInput()
    before = vtk_to_numpy(poly.GetPointData().GetTCoords()).copy()
    window.display_panel.tile_u.setValue(2.0)
    window.display_panel.tile_v.setValue(3.0)
    after = vtk_to_numpy(window.material_view.actor.GetMapper().GetInput()
                         .GetPointData().GetTCoords())
    assert np.allclose(after, before * [2.0, 3.0])


def test_height_displaces_a_subdivided_copy_and_zero_puts_the_mesh_back(qapp, window):
    original = window.material_view.actor.GetMapper().GetInput()
    assert window.display_panel.displacement.value() == 0  # off by default
    window.display_panel.displacement.setValue(50)
    wait_for(qapp, lambda: window.material_view.actor.GetMapper().GetInput() is not original
             and not window.busy, 60, "the displaced copy")
    displaced = window.material_view.actor.GetMapper().GetInput()
    assert displaced.GetNumberOfCells() >= 16 * original.GetNumberOfCells()
    moved = np.linalg.norm(np.asarray(displaced.GetBounds()) - np.asarray(original.GetBounds()))
    assert moved > 1e-3
    window.display_panel.displacement.setValue(0)
    shown = window.material_view.actor.GetMapper().GetInput()
    assert shown.GetNumberOfCells() == original.GetNumberOfCells()
    assert shown.GetBounds() == pytest.approx(original.GetBounds())


def test_an_openexr_hdri_lights_the_scene(qapp, window, tmp_path):
    import OpenEXR

    sky = np.zeros((64, 128, 3), np.float32)
    sky[:32] = (4.0, 4.0, 5.0)  # a bright sky over a dark ground
    path = tmp_path / "studio.exr"
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                      {"RGB": sky}) as exr:
        exr.write(str(path))
    before = frame(window)
    window.set_lighting(Lighting(hdri=str(path)))
    assert window.lighting_view.lighting.hdri == str(path)
    assert np.abs(frame(window) - before).mean() > 1
