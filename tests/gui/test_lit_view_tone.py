"""The lit view of a light material reads as light as its base colour, as Substance or Marmoset
show it: a cream marble with only a base colour (AO, roughness and normal derived as the app does)
on the sample cube, rendered lit and as base colour, compared on the mesh's pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from vtkmodules.util.numpy_support import vtk_to_numpy

from automata_desktop.core.maps import MapKind
from automata_desktop.core.texture_set import TextureMap, TextureSet
from automata_desktop.ui.main_window import MainWindow, sample_paths
from automata_desktop.viewport.environment import Lighting, read_hdri
from automata_desktop.viewport.material_view import ViewMode
from tests.gui.workbench_helpers import wait_for
from tests.marble import cream_marble

pytestmark = pytest.mark.gui

@pytest.fixture
def window(qapp, tmp_path):
    window = MainWindow(interactive=False, prefs_path=tmp_path / "view.json")
    window.resize(1100, 700)
    window.show()
    window.open_mesh(sample_paths()[0])
    wait_for(qapp, lambda: window.mesh is not None and not window.busy, 60, "the sample cube")
    marble, _ = cream_marble()
    window.show_texture_set(TextureSet(
        {MapKind.BASE_COLOR: TextureMap(MapKind.BASE_COLOR, pixels=marble)}, "marble"))
    wait_for(qapp, lambda: window.texture_set is not None and MapKind.AO in window.texture_set
             and not window.busy, 60, "the marble with its derived maps")
    wait_for(qapp, lambda: window.lighting_view.applied, 60, "the HDRI")
    yield window
    window.close()


def uniform_hdr(path: Path, radiance: float = 1.0, width: int = 64, height: int = 32) -> Path:
    """A constant-colour Radiance .hdr: the same white light from every direction."""
    mantissa, exponent = np.frexp(radiance)
    texel = bytes([int(mantissa * 256)] * 3 + [int(exponent) + 128])
    header = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {height} +X {width}\n".encode("ascii")
    path.write_bytes(header + texel * (width * height))
    return path


def linear_luminance(image: np.ndarray) -> np.ndarray:
    srgb = image[..., :3].astype(float) / 255
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return linear @ (0.2126, 0.7152, 0.0722)


def lit_and_base(window: MainWindow) -> tuple[np.ndarray, np.ndarray]:
    """Linear luminance of the mesh's pixels, lit and as base colour (same pixels, same order)."""
    viewport = window.viewport
    window.set_view_mode(ViewMode.LIT)
    lit = viewport.screenshot(return_img=True)
    on_mesh = ~np.isnan(viewport.get_image_depth())  # the background has no depth
    window.set_view_mode(ViewMode.BASE_COLOR)
    base = viewport.screenshot(return_img=True)
    window.set_view_mode(ViewMode.LIT)
    assert on_mesh.mean() > 0.1, "the cube should fill a good part of the view"
    return linear_luminance(lit)[on_mesh], linear_luminance(base)[on_mesh]


def test_under_uniform_white_light_the_lit_marble_matches_its_base_colour(qapp, window, tmp_path):
    # A white diffuse surface under radiance 1 from everywhere reflects its albedo: only Fresnel
    # and the (subtle) derived occlusion may take a little away, and the veins stay grey.
    window.set_lighting(Lighting(hdri=str(uniform_hdr(tmp_path / "white.hdr"))))
    lit, base = lit_and_base(window)
    assert lit.mean() == pytest.approx(base.mean(), rel=0.10)
    dark_lit, dark_base = np.percentile(lit, 2), np.percentile(base, 2)
    # (The veins keep at least half their brightness; before, the derived AO made them black.)
    assert dark_lit >= 0.5 * dark_base, f"veins go black: {dark_lit:.3f} vs {dark_base:.3f}"


def test_the_default_studio_lights_a_cream_marble_cream_not_grey(qapp, window):
    lit, base = lit_and_base(window)
    # The studio is a directional light, so the face towards the camera gets less than a face
    # turned to the key; it must still read as a light stone, not as a mid grey.
    assert lit.mean() >= 0.5 * base.mean()


def test_colour_maps_are_bound_as_srgb_and_data_maps_as_linear(qapp, window):
    prop = window.material_view.vtk_property
    assert prop.GetTexture("albedoTex").GetUseSRGBColorSpace()
    for slot in ("normalTex", "materialTex"):  # ORM and normals are data: never linearised
        assert not prop.GetTexture(slot).GetUseSRGBColorSpace(), slot
    # The unlit base colour view shows the file's bytes as they are (linearised, it reads dark).
    window.set_view_mode(ViewMode.BASE_COLOR)
    shown = window.viewport.screenshot(return_img=True)
    on_mesh = ~np.isnan(window.viewport.get_image_depth())
    marble, _ = cream_marble()
    assert shown[on_mesh][:, :3].mean() == pytest.approx(marble[..., :3].mean(), abs=6)


def test_exposure_zero_is_calibrated_whatever_the_absolute_scale_of_the_hdri(tmp_path):
    # Radiance 0.25 everywhere lights a white card at a quarter: at 0 EV it is brought to 1, the
    # level at which a white diffuse surface reads white; stops count from there.
    for radiance in (0.25, 16.0):
        path = uniform_hdr(tmp_path / f"uniform-{radiance}.hdr", radiance)
        for exposure in (0.0, 1.0):
            texture = read_hdri(path, exposure)
            texels = vtk_to_numpy(texture.GetInput().GetPointData().GetScalars())
            assert texels.mean() == pytest.approx(2.0 ** exposure, rel=0.01)
