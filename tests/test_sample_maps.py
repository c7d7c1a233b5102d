"""The bundled sample cube shows no seam: where two UV islands meet on the mesh (each cube face is
its own island), the maps on both sides of the shared edge show the same surface, so tiles and
grout run on across the rounded edges and no line of light or colour marks the island border.

Checked on the files the app opens on first start, through its own mesh loader and tangents: each
shared edge is sampled (bilinearly, as the GPU does) from both of its islands and compared.
"""

from __future__ import annotations

import numpy as np
import pytest

from automata_desktop.core.maps import MapKind
from automata_desktop.core.mesh import MeshData, load_mesh
from automata_desktop.core.tangents import vertex_tangents
from automata_desktop.core.texture_set import TextureSet
from automata_desktop.paths import resources_dir

SAMPLES = resources_dir() / "samples"
STEPS = np.linspace(0.0, 1.0, 9)[:-1]  # along each shared triangle edge (its far end is the next's)


@pytest.fixture(scope="module")
def mesh() -> MeshData:
    return load_mesh(SAMPLES / "sample.glb")


@pytest.fixture(scope="module")
def maps() -> dict[MapKind, np.ndarray]:
    textures = TextureSet.from_folder(SAMPLES).loaded()
    out = {}
    for kind in textures.kinds:
        pixels = textures.pixels(kind).astype(np.float64)
        pixels /= 65535.0 if textures.pixels(kind).dtype == np.uint16 else 255.0
        out[kind] = pixels if pixels.ndim == 3 else pixels[..., None]
    return out


def seam_edges(mesh: MeshData) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of triangle edges with the same two corners in space but their own vertices (and UVs):
    (k, 2) vertex ids of one side and the matching (k, 2) ids of the other, corners in order."""
    keys = np.round(mesh.vertices.astype(np.float64), 5)
    _, where = np.unique(keys, axis=0, return_inverse=True)
    where = where.ravel()
    edges = np.concatenate([mesh.faces[:, [0, 1]], mesh.faces[:, [1, 2]], mesh.faces[:, [2, 0]]])
    spot = where[edges]
    ordered = np.sort(spot, axis=1)
    flip = spot[:, 0] > spot[:, 1]
    edges = np.where(flip[:, None], edges[:, ::-1], edges)  # corners ordered by spot, both sides
    index = {}
    one, other = [], []
    for edge, key in zip(edges, map(tuple, ordered), strict=True):
        if key in index and not np.array_equal(index[key], edge):
            one.append(index[key])
            other.append(edge)
        index.setdefault(key, edge)
    return np.array(one), np.array(other)


def sample(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup at OpenGL UVs (v = 0 at the image's bottom row), texel centres at +0.5."""
    h, w = image.shape[:2]
    x = uv[:, 0] * w - 0.5
    y = (1.0 - uv[:, 1]) * h - 0.5
    x0 = np.clip(np.floor(x).astype(int), 0, w - 2)
    y0 = np.clip(np.floor(y).astype(int), 0, h - 2)
    fx = np.clip(x - x0, 0.0, 1.0)[:, None]
    fy = np.clip(y - y0, 0.0, 1.0)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def along(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`values` per vertex, interpolated at STEPS along each edge: (k * len(STEPS), ...)."""
    start, end = values[edges[:, 0]], values[edges[:, 1]]
    t = STEPS.reshape(1, -1, *([1] * (values.ndim - 1)))
    return (start[:, None] * (1 - t) + end[:, None] * t).reshape(-1, *values.shape[1:])


def test_the_sample_cube_has_shared_edges_between_its_six_islands(mesh):
    one, other = seam_edges(mesh)
    # 12 cube edges, each split into the triangle edges of its rounded band's grid.
    assert len(one) >= 12 * 20
    assert not np.allclose(mesh.uvs[one], mesh.uvs[other], atol=1e-4)  # really two islands


@pytest.mark.parametrize("kind", [MapKind.BASE_COLOR, MapKind.HEIGHT, MapKind.ROUGHNESS,
                                  MapKind.METALLIC, MapKind.AO])
def test_both_sides_of_every_cube_edge_show_the_same_tiles_and_grout(mesh, maps, kind):
    one, other = seam_edges(mesh)
    a = sample(maps[kind], along(mesh.uvs.astype(np.float64), one))
    b = sample(maps[kind], along(mesh.uvs.astype(np.float64), other))
    differs = np.abs(a - b).max(axis=1) > 0.06
    # Where a grout line meets the edge its sharp border falls a fraction of a texel apart on the
    # two islands; anything beyond that is a tile meeting grout or another tile: a visible seam.
    assert differs.mean() < 0.02, f"{differs.mean():.1%} of the seam shows a different surface"


def test_the_normal_map_tilts_the_surface_the_same_way_on_both_sides_of_every_edge(mesh, maps):
    # In world space: each side's tangent-space texel is turned by that island's own tangent
    # frame, which is what the lit view does; a mismatch would be a line of light along the edge.
    one, other = seam_edges(mesh)
    frames = vertex_tangents(mesh.vertices, mesh.normals, mesh.uvs * (1.0, -1.0), mesh.faces)
    uvs = mesh.uvs.astype(np.float64)

    def world(edges: np.ndarray) -> np.ndarray:
        n = along(mesh.normals.astype(np.float64), edges)
        t = along(frames[:, :3].astype(np.float64), edges)
        b = np.cross(n, t) * along(frames[:, 3:].astype(np.float64), edges)
        texel = sample(maps[MapKind.NORMAL], along(uvs, edges)) * 2.0 - 1.0
        w = texel[:, :1] * t + texel[:, 1:2] * b + texel[:, 2:3] * n
        return w / np.linalg.norm(w, axis=1, keepdims=True)

    angle = np.degrees(np.arccos(np.clip(np.sum(world(one) * world(other), axis=1), -1, 1)))
    assert (angle > 8.0).mean() < 0.02, f"{(angle > 8).mean():.1%} of the seam is lit differently"
