"""Per-vertex tangent frames for normal mapping, the way MikkTSpace defines them (closely enough).

A tangent-space normal map is only read correctly when the renderer's tangents agree with the
baker's. glTF asks for explicit TANGENT attributes (xyz unit length, orthogonal to the normal,
w = ±1 the handedness: bitangent = cross(normal, tangent.xyz) * w); without them every viewer
generates its own, which is what the Khronos validator warns about.

Tangent follows +u, bitangent follows +v *up the image* (OpenGL/MikkTSpace, what Blender bakes and
glTF's normalTexture means by "+Y up"). glTF texture coordinates put v = 0 at the top, so they are
flipped here before the derivatives are taken. Unlike MikkTSpace, vertices are never split: where
mirrored UV islands share a vertex the frames are averaged. Pure numpy.
"""

from __future__ import annotations

import numpy as np

_EPSILON = 1e-12


def vertex_tangents(positions: np.ndarray, normals: np.ndarray, texcoords: np.ndarray,
                    triangles: np.ndarray) -> np.ndarray:
    """(n, 4) float32 tangents for a triangle list; `texcoords` in glTF's convention (v down).

    Vertices whose triangles have no usable UV derivative (zero UV area, unreferenced) get any
    unit vector orthogonal to their normal, so the attribute stays valid everywhere.
    """
    p = np.asarray(positions, np.float64)
    n = _unit(np.asarray(normals, np.float64))
    uv = np.asarray(texcoords, np.float64) * (1.0, -1.0)  # v up: bitangent points up the image
    tri = np.asarray(triangles, np.int64).reshape(-1, 3)
    e1 = p[tri[:, 1]] - p[tri[:, 0]]
    e2 = p[tri[:, 2]] - p[tri[:, 0]]
    d1 = uv[tri[:, 1]] - uv[tri[:, 0]]
    d2 = uv[tri[:, 2]] - uv[tri[:, 0]]
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    usable = np.abs(det) > _EPSILON
    inv = np.divide(1.0, det, out=np.zeros_like(det), where=usable)[:, None]
    # Weighted by the triangle's surface area (the cross product's length), as MikkTSpace does
    # with its angle/area weights: large faces dominate, slivers do not swing the frame.
    area = np.linalg.norm(np.cross(e1, e2), axis=1)[:, None]
    sdir = _unit((e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) * inv) * area
    tdir = _unit((e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) * inv) * area
    tan = _per_vertex(tri, sdir, len(p))
    bit = _per_vertex(tri, tdir, len(p))
    # Gram-Schmidt: the tangent must be orthogonal to the normal the renderer interpolates.
    tan -= n * np.sum(n * tan, axis=1, keepdims=True)
    length = np.linalg.norm(tan, axis=1)
    lost = length < 1e-8
    if lost.any():
        tan[lost] = any_orthogonal(n[lost])
        length[lost] = 1.0
    tan /= length[:, None]
    handedness = np.where(np.sum(np.cross(n, tan) * bit, axis=1) < 0.0, -1.0, 1.0)
    return np.column_stack([tan, handedness]).astype(np.float32)


def _per_vertex(triangles: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """Sum each triangle's vector into its three corners (bincount: np.add.at is ~10x slower)."""
    corners = triangles.ravel()
    out = np.empty((count, 3))
    for axis in range(3):
        out[:, axis] = np.bincount(corners, weights=np.repeat(values[:, axis], 3), minlength=count)
    return out


def any_orthogonal(normals: np.ndarray) -> np.ndarray:
    """A unit vector orthogonal to each unit normal (crossed with the axis least aligned to it)."""
    n = np.asarray(normals, np.float64)
    axis = np.zeros_like(n)
    axis[np.arange(len(n)), np.argmin(np.abs(n), axis=1)] = 1.0
    return _unit(np.cross(n, axis))


def _unit(v: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, length, out=np.zeros_like(v), where=length > _EPSILON)
