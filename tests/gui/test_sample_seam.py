"""The sample the app opens on first start shows no seam along the cube's top edge: seen in the
real window, tiles and grout run on over the rounded edge from the front face onto the top.

The camera looks straight at the top front edge, along the bisector of the two faces, with the
edge running across the middle of the image. The rounded edge is symmetric about that bisector,
so a surface that continues over it looks the same at mirrored rows above and below the edge
(the grout joints meet); where the two faces' patterns break, they do not.
"""

from __future__ import annotations

import numpy as np
import pytest

from automata_desktop.viewport.material_view import ViewMode
from tests.gui.workbench_helpers import wait_for

pytestmark = pytest.mark.gui

INNER = 0.78  # the sample cube's half-size (1) less its edge radius (0.22)
SEAM = INNER + 0.22 / np.sqrt(2)  # where the front and top islands meet: 45 degrees round the edge
GROUT_RGB = np.round(np.array([0.42, 0.40, 0.37]) ** (1 / 2.2) * 255)  # make_samples' grout


def display_row(renderer, point: tuple[float, float, float], height: int) -> int:
    renderer.SetWorldPoint(*point, 1.0)
    renderer.WorldToDisplay()
    return height - 1 - round(renderer.GetDisplayPoint()[1])  # display y counts from the bottom


def look_at_top_front_edge(window) -> tuple[np.ndarray, int, int, slice]:
    """A close-up of the edge as base colour: the image, the edge's row, how many rows up and down
    stay on the first tiles of each face (the front's top course ends 0.4 below the top, where the
    top's tiles are 0.5 long: only the joints that meet the edge mirror), and the edge's columns."""
    window.set_view_mode(ViewMode.BASE_COLOR)
    renderer = window.viewport.renderer
    camera = renderer.GetActiveCamera()
    focal = np.array([0.0, SEAM, SEAM])
    camera.SetFocalPoint(*focal)
    camera.SetPosition(*(focal + 3.0 * np.array([0.0, 1.0, 1.0]) / np.sqrt(2)))
    camera.SetViewUp(0.0, 1.0, -1.0)  # the top face above the edge, the front face below it
    renderer.ResetCameraClippingRange()
    window.viewport.render()
    image = window.viewport.screenshot(return_img=True)[..., :3].astype(float)
    ends = []
    for x in (-0.6, 0.6):  # a stretch of the edge away from the cube's corners
        renderer.SetWorldPoint(x, SEAM, SEAM, 1.0)
        renderer.WorldToDisplay()
        ends.append(renderer.GetDisplayPoint())
    height, width = image.shape[:2]
    row = display_row(renderer, (0.0, SEAM, SEAM), height)
    reach = min(display_row(renderer, (0.0, 0.65, 1.0), height) - row,
                row - display_row(renderer, (0.0, 1.0, 0.65), height))
    assert abs(ends[0][1] - ends[1][1]) < 1.0, "the edge should run level across the image"
    assert 0 <= ends[0][0] < ends[1][0] < width, "the stretch of edge should be in view"
    return image, row, reach, slice(round(ends[0][0]), round(ends[1][0]))


def test_grout_joints_run_on_over_the_top_edge_of_the_first_start_sample(qapp, own_sample_window):
    window = own_sample_window
    wait_for(qapp, lambda: not window.busy, 60, "the sample")
    image, row, reach, columns = look_at_top_front_edge(window)
    assert columns.stop - columns.start > 150, "the edge should fill the close-up"
    grout = np.abs(image - GROUT_RGB).max(axis=2) < 24
    assert grout[row, columns].mean() > 0.9, "the edge itself is a grout line"
    # Rows past the edge's own grout line, on across the rounded band onto each face's flat part.
    offsets = range(12, reach, 2)
    assert len(offsets) > 20, "the close-up should be close"
    above = np.array([grout[row - k, columns] for k in offsets])
    below = np.array([grout[row + k, columns] for k in offsets])
    assert below.mean() > 0.03, "the close-up should cross the joints between tiles"
    broken = (above != below).mean()
    assert broken < 0.03, f"the pattern breaks at the edge: {broken:.0%} of it differs across"
