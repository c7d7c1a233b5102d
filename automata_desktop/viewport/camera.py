"""Named views of a scene, as Blender users know them, for either up axis.

Blender (Z-up) looks from -Y in Front (numpad 1), from +X in Right (numpad 3), from +Z in Top
(numpad 7); Ctrl+numpad gives the opposite. A glTF (Y-up) model faces +Z, so its Front view looks
from +Z with +Y up. Everything here derives from the scene's `up_vector` and `front_vector`, so
both kinds of file stand upright and face the viewer.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from vtkmodules.vtkRenderingCore import vtkRenderer

#: Margin around the framed scene (the camera zooms out by this factor after fitting it).
FRAME_ZOOM = 0.8


class NamedView(StrEnum):
    FRONT = "front"
    BACK = "back"
    RIGHT = "right"
    LEFT = "left"
    TOP = "top"
    BOTTOM = "bottom"

    @property
    def label(self) -> str:
        return self.value.capitalize()


#: Blender's keys: numpad 1/3/7, with Ctrl for the opposite side.
NAMED_VIEW_KEYS: dict[NamedView, str] = {
    NamedView.FRONT: "1", NamedView.BACK: "Ctrl+1",
    NamedView.RIGHT: "3", NamedView.LEFT: "Ctrl+3",
    NamedView.TOP: "7", NamedView.BOTTOM: "Ctrl+7",
}


def view_direction(view: NamedView, up: tuple[float, float, float],
                   front: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(from the focal point towards the camera, the camera's view-up) for a named view."""
    up_v, front_v = np.asarray(up, float), np.asarray(front, float)
    right = np.cross(up_v, front_v)
    return {
        NamedView.FRONT: (front_v, up_v),
        NamedView.BACK: (-front_v, up_v),
        NamedView.RIGHT: (right, up_v),
        NamedView.LEFT: (-right, up_v),
        NamedView.TOP: (up_v, -front_v),
        NamedView.BOTTOM: (-up_v, front_v),
    }[view]


def look_at(renderer: vtkRenderer, bounds: np.ndarray, view: NamedView,
            up: tuple[float, float, float], front: tuple[float, float, float]) -> None:
    """Point the camera at the centre of world `bounds` ((2, 3) min/max) from `view`, framed.

    Goes through the renderer, not the plotter: pyvista's camera wrappers render a frame each.
    """
    direction, view_up = view_direction(view, up, front)
    low, high = np.asarray(bounds, float)
    centre = (low + high) / 2
    radius = max(float(np.linalg.norm(high - low)) / 2, 1e-6)
    camera = renderer.GetActiveCamera()
    camera.SetFocalPoint(*centre)
    camera.SetPosition(*(centre + direction * radius * 4))
    camera.SetViewUp(*view_up)
    renderer.ResetCamera(low[0], high[0], low[1], high[1], low[2], high[2])
    camera.Zoom(FRAME_ZOOM)
    renderer.ResetCameraClippingRange()
