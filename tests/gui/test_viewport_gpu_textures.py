"""A shown texture set is held once, by the GL driver: the window keeps no pixels of its own, and
still draws every map the same after the things that used to re-read them (a re-created GL
context, a replaced mesh, a debug view, another set)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from automata_desktop.core.maps import MapKind
from automata_desktop.core.texture_set import TextureMap, TextureSet
from automata_desktop.ui.main_window import MainWindow, sample_paths
from automata_desktop.viewport import ViewMode
from automata_desktop.viewport.textures import on_gpu_only, texture_pixels
from tests.gui.workbench_helpers import wait_for

pytestmark = pytest.mark.gui

SLOTS = ("albedoTex", "normalTex", "materialTex")


@pytest.fixture
def window(qapp, tmp_path):
    window = MainWindow(interactive=False, prefs_path=tmp_path / "view.json")
    window.resize(900, 600)
    window.show()
    window.open_sample()
    wait_for(qapp, lambda: window.texture_set is not None and not window.busy, 120, "the sample")
    window.viewport.render()
    yield window
    window.close()


def sample_map(name: str) -> np.ndarray:
    return np.asarray(Image.open(sample_paths()[1] / f"sample_{name}.png"))


def bound(window: MainWindow) -> dict[str, object]:
    prop = window.material_view.vtk_property
    return {slot: prop.GetTexture(slot) for slot in SLOTS}


def mesh_pixels(window: MainWindow) -> np.ndarray:
    window.viewport.render()
    image = window.viewport.screenshot(return_img=True)[..., :3].astype(int)
    return image[~np.isnan(window.viewport.get_image_depth())]


def test_a_shown_set_lives_on_the_gpu_only_and_reads_back_as_its_files(window):
    textures = bound(window)
    assert all(on_gpu_only(t) for t in textures.values()), "a CPU copy of a map is still held"
    assert np.array_equal(texture_pixels(textures["albedoTex"]), sample_map("basecolor")[..., :3])
    assert np.array_equal(texture_pixels(textures["normalTex"]), sample_map("normal")[..., :3])
    orm = texture_pixels(textures["materialTex"])
    for channel, name in enumerate(("ao", "roughness", "metallic")):
        assert np.array_equal(orm[..., channel], sample_map(name)), name


def test_the_view_draws_the_same_after_its_gl_context_is_recreated(window):
    before = mesh_pixels(window)
    window.viewport.ren_win.Finalize()  # what re-parenting the native window does to its context
    after = mesh_pixels(window)
    assert before.mean() > 60, "the mesh should be lit, not black"
    assert np.abs(after - before).mean() < 1.0, "a map was lost with the old context"
    assert all(on_gpu_only(t) for t in bound(window).values())


def test_a_replaced_mesh_keeps_drawing_its_maps_from_the_gpu(qapp, window):
    textures = bound(window)
    handles = {slot: t.GetTextureObject().GetHandle() for slot, t in textures.items()}
    before = mesh_pixels(window)
    window.set_displacement(0.02)  # the actor now draws a displaced, subdivided copy
    wait_for(qapp, lambda: not window.busy, 60, "the displaced copy")
    window.set_displacement(0.0)
    assert all(on_gpu_only(t) for t in textures.values())
    # Same GL textures: nothing was decoded and uploaded again for a new mesh.
    assert {slot: t.GetTextureObject().GetHandle() for slot, t in bound(window).items()} == handles
    assert np.abs(mesh_pixels(window) - before).mean() < 1.0


def test_debug_views_show_each_channel_of_the_gpu_held_maps(qapp, window):
    flat = {MapKind.BASE_COLOR: np.full((64, 64, 3), (200, 100, 50), np.uint8),
            MapKind.AO: np.full((64, 64), 60, np.uint8),
            MapKind.ROUGHNESS: np.full((64, 64), 140, np.uint8),
            MapKind.METALLIC: np.full((64, 64), 220, np.uint8)}
    window.show_texture_set(TextureSet({k: TextureMap(k, pixels=p) for k, p in flat.items()},
                                       "flat"), derive_missing=False)
    wait_for(qapp, lambda: MapKind.METALLIC in window.texture_set and not window.busy, 60,
             "the flat set")
    window.viewport.render()
    expected = {ViewMode.BASE_COLOR: (200, 100, 50), ViewMode.AO: (60,) * 3,
                ViewMode.ROUGHNESS: (140,) * 3, ViewMode.METALLIC: (220,) * 3}
    for mode, colour in expected.items():
        window.set_view_mode(mode)
        shown = np.median(mesh_pixels(window), axis=0)
        assert np.abs(shown - colour).max() <= 2, f"{mode.label}: {shown} instead of {colour}"
        assert on_gpu_only(window.material_view.actor.GetTexture()), mode.label
    window.set_view_mode(ViewMode.LIT)
    assert all(on_gpu_only(t) for t in bound(window).values() if t is not None)
