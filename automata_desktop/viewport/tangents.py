"""Per-vertex tangents for normal mapping, in numpy.

vtkPolyDataTangents gives the same frame, but one call on a million triangles holds the GIL for
~80 ms, and the UI thread waits that long for its next event. numpy's array loops release it.
"""

from __future__ import annotations

import numpy as np

from automata_desktop.core.mesh import MeshData


def vertex_tangents(mesh: MeshData) -> np.ndarray:
    """(n, 3) float32 unit tangents along +u, orthogonal to the vertex normals.

    Each triangle's tangent (the surface direction in which u grows) is summed, unnormalised, onto
    its corners, so larger triangles weigh more; the sum is then made orthogonal to the normal.
    Vertices whose triangles have degenerate UVs get any unit vector orthogonal to their normal.
    """
    if mesh.uvs is None:
        raise ValueError("tangents need UVs")
    faces = mesh.faces
    p0, p1, p2 = (mesh.vertices[faces[:, i]] for i in range(3))
    t0, t1, t2 = (mesh.uvs[faces[:, i]] for i in range(3))
    e1, e2 = p1 - p0, p2 - p0
    d1, d2 = t1 - t0, t2 - t0
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    flat = np.abs(det) < 1e-20
    # Dividing by |det| would weight by 1/UV area: keep only its sign, so each face counts by its
    # 3D size (e * dv is proportional to it), and mirrored UV islands still point along +u.
    sign = np.where(flat, 0.0, np.sign(det)).astype(np.float32)
    face_tangent = (e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) * sign[:, None]
    count = len(mesh.vertices)
    tangents = np.empty((count, 3), np.float32)
    corners = faces.ravel()
    for axis in range(3):
        weights = np.repeat(face_tangent[:, axis], 3)
        tangents[:, axis] = np.bincount(corners, weights=weights, minlength=count)
    normals = mesh.normals.astype(np.float32, copy=False)
    tangents -= normals * np.einsum("ij,ij->i", tangents, normals)[:, None]
    length = np.linalg.norm(tangents, axis=1)
    missing = length < 1e-12
    if missing.any():
        tangents[missing] = _any_orthogonal(normals[missing])
        length[missing] = 1.0
    tangents /= length[:, None]
    return tangents


def _any_orthogonal(normals: np.ndarray) -> np.ndarray:
    """A unit vector orthogonal to each normal (for vertices whose UVs give no direction)."""
    helper = np.where(np.abs(normals[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    ortho = np.cross(normals, helper).astype(np.float32)
    length = np.linalg.norm(ortho, axis=1, keepdims=True)
    return ortho / np.where(length < 1e-12, 1.0, length)
