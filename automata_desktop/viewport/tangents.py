"""Per-vertex tangents of a viewport mesh, from the one implementation the GLB export uses too.

vtkPolyDataTangents gives the same frame, but one call on a million triangles holds the GIL for
~80 ms, and the UI thread waits that long for its next event; numpy's array loops release it.
"""

from __future__ import annotations

import numpy as np

from automata_desktop.core.mesh import MeshData
from automata_desktop.core.tangents import vertex_tangents as _tangent_frames


def vertex_tangents(mesh: MeshData) -> np.ndarray:
    """(n, 3) float32 unit tangents along +u, orthogonal to the vertex normals."""
    if mesh.uvs is None:
        raise ValueError("tangents need UVs")
    # MeshData's UVs are OpenGL's (v up); core.tangents takes glTF's (v down) and flips them.
    frames = _tangent_frames(mesh.vertices, mesh.normals, mesh.uvs * (1.0, -1.0), mesh.faces)
    return np.ascontiguousarray(frames[:, :3])
