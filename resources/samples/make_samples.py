"""Generate the bundled sample: a UV-mapped rounded box and a procedural tile PBR set.

Deterministic (fixed seed), so re-running produces byte-identical files. Run from the repo root:

    .venv/bin/python resources/samples/make_samples.py

The mesh is a rounded cube (each cube face is its own UV island in a 3x2 atlas); the material is
glazed ceramic tiles with a few brushed-copper tiles and rough grout, so base colour, roughness,
metallic, normal, height and AO all visibly differ across the surface.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from PIL import Image
from scipy import ndimage

HERE = Path(__file__).resolve().parent
SEED = 7
TEXTURE_SIZE = 1024  # base colour, normal
SMALL_SIZE = 512  # height (16-bit), roughness, metallic, AO
TILES_PER_FACE = 4
GROUT = 0.045  # grout half-width, in tile units
ROUNDING = 0.22  # edge radius of the rounded cube (cube half-size is 1)

# Each face: (axis of its normal, sign, in-plane axis along u, in-plane axis along v), chosen so
# the (u, v, normal) frame is right-handed and textures appear unmirrored from outside.
_FACES = (
    (0, +1, 1, 2), (0, -1, 2, 1),
    (1, +1, 2, 0), (1, -1, 0, 2),
    (2, +1, 0, 1), (2, -1, 1, 0),
)
_ATLAS_COLS, _ATLAS_ROWS = 3, 2
_ISLAND_MARGIN = 0.01  # UV padding around each island, so mipmaps do not bleed across seams


def _axis_samples() -> np.ndarray:
    """Grid positions along one face edge, denser in the rounded band so edges look smooth."""
    inner = 1.0 - ROUNDING
    band = np.linspace(-1.0, -inner, 7)
    flat = np.linspace(-inner, inner, 19)[1:-1]
    return np.concatenate([band, flat, -band[::-1]])


def rounded_box() -> trimesh.Trimesh:
    """A rounded cube with analytic normals and a non-overlapping 3x2 UV atlas (~10k triangles)."""
    ts = _axis_samples()
    n = len(ts)
    inner = 1.0 - ROUNDING
    vertices, normals, uvs, faces = [], [], [], []
    for index, (axis, sign, ua, va) in enumerate(_FACES):
        s, t = np.meshgrid(ts, ts, indexing="xy")
        cube = np.zeros((n * n, 3))
        cube[:, axis] = sign
        cube[:, ua] = s.ravel()
        cube[:, va] = t.ravel()
        core = np.clip(cube, -inner, inner)
        offset = cube - core
        normal = offset / np.linalg.norm(offset, axis=1, keepdims=True)
        point = core + ROUNDING * normal
        col, row = index % _ATLAS_COLS, index // _ATLAS_COLS
        cell_w, cell_h = 1.0 / _ATLAS_COLS, 1.0 / _ATLAS_ROWS
        local = (np.stack([s.ravel(), t.ravel()], axis=1) + 1.0) / 2.0
        local = _ISLAND_MARGIN + local * (1.0 - 2 * _ISLAND_MARGIN)
        uv = np.column_stack([(col + local[:, 0]) * cell_w, (row + local[:, 1]) * cell_h])
        base = index * n * n
        grid = np.arange(n * n).reshape(n, n) + base
        a, b = grid[:-1, :-1].ravel(), grid[:-1, 1:].ravel()
        c, d = grid[1:, 1:].ravel(), grid[1:, :-1].ravel()
        faces.append(np.column_stack([a, b, c]))
        faces.append(np.column_stack([a, c, d]))
        vertices.append(point)
        normals.append(normal)
        uvs.append(uv)
    mesh = trimesh.Trimesh(
        vertices=np.concatenate(vertices),
        faces=np.concatenate(faces),
        vertex_normals=np.concatenate(normals),
        process=False,
    )
    # An explicit untextured material: without one trimesh embeds a 2x2 grey placeholder image.
    material = trimesh.visual.material.PBRMaterial(
        name="tiles", baseColorFactor=[255, 255, 255, 255], metallicFactor=0.0, roughnessFactor=1.0
    )
    mesh.visual = trimesh.visual.TextureVisuals(uv=np.concatenate(uvs), material=material)
    return mesh


def _face_coordinates(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per texel: the atlas island index and the position inside that island's face, in [0, 1]."""
    centers = (np.arange(size) + 0.5) / size
    u, v = np.meshgrid(centers, 1.0 - centers, indexing="xy")  # image row 0 is the top (v = 1)
    col = np.minimum((u * _ATLAS_COLS).astype(int), _ATLAS_COLS - 1)
    row = np.minimum((v * _ATLAS_ROWS).astype(int), _ATLAS_ROWS - 1)
    island = row * _ATLAS_COLS + col
    fu = (u * _ATLAS_COLS - col - _ISLAND_MARGIN) / (1.0 - 2 * _ISLAND_MARGIN)
    fv = (v * _ATLAS_ROWS - row - _ISLAND_MARGIN) / (1.0 - 2 * _ISLAND_MARGIN)
    return island, np.clip(fu, 0.0, 1.0), np.clip(fv, 0.0, 1.0)


def _noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return field / (np.abs(field).max() + 1e-9)


def tile_fields(size: int) -> dict[str, np.ndarray]:
    """Float fields in [0, 1] at `size`²: height, grout mask, per-tile ids, copper mask."""
    rng = np.random.default_rng(SEED)
    island, fu, fv = _face_coordinates(size)
    tu, tv = fu * TILES_PER_FACE, fv * TILES_PER_FACE
    # Running bond: every other row of tiles is shifted by half a tile.
    row = np.floor(tv).astype(int)
    tu = tu + 0.5 * (row % 2)
    col = np.floor(tu).astype(int)
    du = np.minimum(tu - col, col + 1 - tu)
    dv = np.minimum(tv - row, row + 1 - tv)
    edge = np.minimum(du, dv)
    # A bevel: height rises from the grout over a short distance to the tile's flat top.
    height = np.clip((edge - GROUT) / 0.06, 0.0, 1.0)
    height = height * height * (3 - 2 * height)
    tile_id = (island * 97 + row * 13 + col) % 1024
    table = rng.random((1024, 4))
    copper = (table[tile_id, 0] < 0.14).astype(float)
    height = 0.25 + 0.75 * height - 0.04 * copper * (height > 0.99)
    fine = _noise(rng, (size, size), size / 128)
    height = np.clip(height + 0.012 * fine, 0.0, 1.0)
    return {"height": height, "grout": (edge < GROUT).astype(float), "tile_table": table[tile_id],
            "copper": copper * (edge >= GROUT), "fine": fine}


def base_color(fields: dict[str, np.ndarray]) -> np.ndarray:
    table, grout, copper = fields["tile_table"], fields["grout"], fields["copper"]
    glaze = np.array(
        [[0.16, 0.35, 0.52], [0.10, 0.48, 0.48], [0.83, 0.80, 0.72], [0.55, 0.20, 0.16]]
    )
    pick = np.minimum((table[..., 1] * len(glaze)).astype(int), len(glaze) - 1)
    color = glaze[pick] * (0.85 + 0.3 * table[..., 2:3])
    color = color * (1.0 + 0.08 * fields["fine"][..., None])
    copper_rgb = np.array([0.95, 0.64, 0.54]) * (0.9 + 0.1 * table[..., 3:4])
    color = np.where(copper[..., None] > 0, copper_rgb, color)
    color = np.where(grout[..., None] > 0, np.array([0.42, 0.40, 0.37]), color)
    return np.clip(color, 0.0, 1.0)


def roughness(fields: dict[str, np.ndarray]) -> np.ndarray:
    table, grout, copper = fields["tile_table"], fields["grout"], fields["copper"]
    rough = 0.18 + 0.25 * table[..., 3]
    rough = np.where(copper > 0, 0.35 + 0.1 * fields["fine"], rough)
    return np.clip(np.where(grout > 0, 0.92, rough), 0.0, 1.0)


def normal_from_height(height: np.ndarray, strength: float) -> np.ndarray:
    """Tangent-space normal map, OpenGL/glTF convention (+Y = up the image = +v).

    `strength` is the slope, in height units per texel, that tilts a normal by 45 degrees.
    """
    dx = ndimage.sobel(height, axis=1, mode="nearest") / 8.0
    dy = -ndimage.sobel(height, axis=0, mode="nearest") / 8.0  # rows grow downwards, v upwards
    n = np.dstack([-dx * strength, -dy * strength, np.ones_like(height)])
    n /= np.linalg.norm(n, axis=2, keepdims=True)
    return n * 0.5 + 0.5


def ambient_occlusion(height: np.ndarray) -> np.ndarray:
    """Cheap AO: how far a texel sits below its blurred neighbourhood."""
    cavity = ndimage.gaussian_filter(height, height.shape[0] / 200) - height
    return np.clip(1.0 - 4.0 * np.maximum(cavity, 0.0), 0.0, 1.0)


def _save(array: np.ndarray, name: str, bits: int = 8) -> None:
    path = HERE / name
    if bits == 16:
        Image.fromarray(np.round(array * 65535).astype(np.uint16)).save(path, optimize=True)
        return
    Image.fromarray(np.round(array * 255).astype(np.uint8)).save(path, optimize=True)


def _resize(array: np.ndarray, size: int) -> np.ndarray:
    factor = array.shape[0] // size
    return array.reshape(size, factor, size, factor, *array.shape[2:]).mean(axis=(1, 3))


def write_textures() -> None:
    fields = tile_fields(TEXTURE_SIZE)
    srgb = base_color(fields) ** (1 / 2.2)
    _save(srgb, "sample_basecolor.png")
    _save(normal_from_height(fields["height"], strength=6.0), "sample_normal.png")
    _save(_resize(fields["height"], SMALL_SIZE), "sample_height.png", bits=16)
    _save(_resize(roughness(fields), SMALL_SIZE), "sample_roughness.png")
    _save(_resize(fields["copper"], SMALL_SIZE), "sample_metallic.png")
    _save(_resize(ambient_occlusion(fields["height"]), SMALL_SIZE), "sample_ao.png")


def write_mesh() -> None:
    (HERE / "sample.glb").write_bytes(rounded_box().export(file_type="glb"))


def main() -> None:
    write_mesh()
    write_textures()
    total = sum(p.stat().st_size for p in HERE.glob("sample*"))
    print(f"wrote {HERE} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
