"""Height as real displacement: a subdivided copy of a part, its points moved along their normals.

A normal map only fakes relief; displacement shows the silhouette a height map implies, at the
cost of triangles. The copy is subdivided (linearly: UVs, normals and tangents are interpolated)
until it would pass `MAX_TRIANGLES`, then each point moves by (height - 0.5) x amount, as
Blender's Displace modifier does with its default mid-level. The shown mesh is never changed:
strength 0 puts the original back. Pure numpy + VTK filters: run it in a worker thread.
"""

from __future__ import annotations

import numpy as np
import pyvista as pv

#: Subdivide while the copy stays at or under this many triangles (and at most 3 levels).
MAX_TRIANGLES = 1_000_000
MAX_LEVELS = 3
MID_LEVEL = 0.5


def subdivision_levels(triangles: int) -> int:
    levels = 0
    while levels < MAX_LEVELS and triangles * 4 ** (levels + 1) <= MAX_TRIANGLES:
        levels += 1
    return levels


def sample_height(height: np.ndarray, uvs: np.ndarray) -> np.ndarray:
    """Height in 0..1 at VTK UVs (v = 0 at the image's bottom row), repeating, nearest pixel."""
    gray = height if height.ndim == 2 else height[..., 0]
    scale = 65535.0 if gray.dtype == np.uint16 else 255.0 if gray.dtype == np.uint8 else 1.0
    rows, cols = gray.shape
    u = np.mod(uvs[:, 0], 1.0)
    v = np.mod(uvs[:, 1], 1.0)
    col = np.minimum((u * cols).astype(np.int64), cols - 1)
    row = np.minimum(((1.0 - v) * rows).astype(np.int64), rows - 1)
    return gray[row, col].astype(np.float32) / np.float32(scale)


def displaced_copy(polydata: pv.PolyData, height: np.ndarray, amount: float) -> pv.PolyData:
    """A subdivided copy of `polydata` displaced by `height` (HxW[xC]) times `amount` (world units)."""
    if polydata.active_texture_coordinates is None:
        raise ValueError("displacement needs UVs")
    levels = subdivision_levels(polydata.n_cells)
    mesh = polydata.subdivide(levels, "linear") if levels else polydata.copy()
    normals = np.asarray(mesh.point_data.active_normals, np.float32)
    offsets = (sample_height(height, np.asarray(mesh.active_texture_coordinates)) - MID_LEVEL)
    mesh.points = np.asarray(mesh.points, np.float32) + normals * (offsets * amount)[:, None]
    return mesh
