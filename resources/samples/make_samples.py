"""Generate the bundled sample: a UV-mapped rounded box and a procedural tile PBR set.

Deterministic (fixed seed), so re-running produces byte-identical files. Run from the repo root:

    .venv/bin/python resources/samples/make_samples.py

The mesh is a rounded cube (each cube face is its own UV island in a 3x2 atlas); the material is
glazed ceramic tiles with a few brushed-copper tiles and rough grout, so base colour, roughness,
metallic, normal, height and AO all visibly differ across the surface.

No seam shows where two islands meet: the maps are painted from the point of the cube each texel
shows (not from its place in the atlas), each island's gutter holds the surface beyond its border,
and the normal and AO filters are sized in cube units, not in the atlas's non-square texels.
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
TILE = 0.5  # tile width in cube units (the cube spans -1..1): four tiles across a face
COURSES = 5  # courses of tiles up each side: odd, so the top and bottom ones are both unshifted
GROUT = 0.0225  # grout half-width, in cube units
BEVEL = 0.03  # how far a tile's bevel reaches in from the grout, in cube units
ROUNDING = 0.22  # edge radius of the rounded cube (cube half-size is 1)

# Each face: (axis of its normal, sign, in-plane axis along u, in-plane axis along v), chosen so
# the (u, v, normal) frame is right-handed and textures appear unmirrored from outside.
_FACES = (
    (0, +1, 1, 2), (0, -1, 2, 1),
    (1, +1, 2, 0), (1, -1, 0, 2),
    (2, +1, 0, 1), (2, -1, 1, 0),
)
_ATLAS_COLS, _ATLAS_ROWS = 3, 2
# UV gutter round each island (a fraction of its atlas cell), filled with the surface beyond the
# island's border: wider than the AO blur's reach, and enough for four mipmap levels.
_ISLAND_MARGIN = 0.06


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


def _texels_per_unit(size: int) -> tuple[float, float]:
    """Texels per cube unit across an island, along u and along v: the atlas cells are not
    square, so a filter sized in texels would reach differently on the two sides of a seam."""
    span = (1.0 - 2 * _ISLAND_MARGIN) / 2.0
    return size / _ATLAS_COLS * span, size / _ATLAS_ROWS * span


def _cube_points(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per texel: the point of the (unrounded) cube it shows, and the axis of that point's face.

    A gutter texel gets the surface beyond its island's border, folded over the cube edge onto
    the neighbouring face, as a baker's dilation would: bilinear filtering, mipmaps and the
    filters below then see the same surface on both sides of every seam.
    """
    centers = (np.arange(size) + 0.5) / size
    u, v = np.meshgrid(centers, 1.0 - centers, indexing="xy")  # image row 0 is the top (v = 1)
    col = np.minimum((u * _ATLAS_COLS).astype(int), _ATLAS_COLS - 1)
    row = np.minimum((v * _ATLAS_ROWS).astype(int), _ATLAS_ROWS - 1)
    face = np.array(_FACES)[row * _ATLAS_COLS + col]  # per texel: axis, sign, u axis, v axis
    axis = face[..., 0, None]
    inside = (1.0 - 2 * _ISLAND_MARGIN) / 2.0  # half an island, as a fraction of its cell
    point = np.zeros((size, size, 3))
    np.put_along_axis(point, axis, face[..., 1, None].astype(float), axis=2)
    for k, offset in ((2, u * _ATLAS_COLS - col), (3, v * _ATLAS_ROWS - row)):
        np.put_along_axis(point, face[..., k, None], ((offset - 0.5) / inside)[..., None], axis=2)
    face_axis = face[..., 0].copy()
    for k in (2, 3):  # what lies past a border is folded onto the face across that edge
        along = face[..., k, None]
        coord = np.take_along_axis(point, along, axis=2)
        excess = np.maximum(np.abs(coord) - 1.0, 0.0)
        np.put_along_axis(point, along, np.clip(coord, -1.0, 1.0), axis=2)
        normal = np.take_along_axis(point, axis, axis=2)
        np.put_along_axis(point, axis, normal - np.sign(normal) * excess, axis=2)
        face_axis = np.where(excess[..., 0] > 0, face[..., k], face_axis)
    return point, face_axis


def _noise(rng: np.random.Generator, point: np.ndarray) -> np.ndarray:
    """Smooth speckle in [-1, 1], read from a 3D noise volume at each texel's cube point (a
    volume rather than an image, so the speckle too runs on across the islands' borders)."""
    count, reach = 96, 1.1
    field = ndimage.gaussian_filter(rng.standard_normal((count,) * 3), 1.8, mode="wrap")
    field /= np.abs(field).max() + 1e-9
    coords = (point.reshape(-1, 3).T + reach) * ((count - 1) / (2 * reach))
    return ndimage.map_coordinates(field, coords, order=1).reshape(point.shape[:2])


def _joints(coord: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """The index of the tile (of `width`) a coordinate falls in, and its distance to a joint."""
    scaled = coord / width
    index = np.floor(scaled)
    return index.astype(int), np.minimum(scaled - index, index + 1 - scaled) * width


def tile_fields(size: int) -> dict[str, np.ndarray]:
    """Float fields in [0, 1] at `size`²: height, grout mask, per-tile ids, copper mask.

    Every field is a function of the cube point a texel shows, never of where its island sits in
    the atlas, so tiles, grout and speckle meet across the cube's edges. The four sides are a
    running bond whose courses run round the cube (a tile of a shifted course bends round the
    rounded vertical edge); top and bottom are a grid of square tiles whose joints meet the
    sides' top and bottom courses.
    """
    rng = np.random.default_rng(SEED)
    point, face_axis = _cube_points(size)
    x, y, z = point[..., 0], point[..., 1], point[..., 2]
    # The distance round the sides (+Z, +X, -Z, -X, 2 units each), continuous over their edges.
    around = np.select([(face_axis == 2) & (z > 0), (face_axis == 0) & (x > 0),
                        (face_axis == 2) & (z < 0)], [x + 1, 3 - z, 5 - x], 7 + z)
    course, course_gap = _joints(y + 1, 2.0 / COURSES)
    column, column_gap = _joints(around + 0.5 * TILE * (course % 2), TILE)
    cap_row, cap_row_gap = _joints(z + 1, TILE)
    cap_col, cap_col_gap = _joints(x + 1, TILE)
    cap = face_axis == 1
    edge = np.where(cap, np.minimum(cap_row_gap, cap_col_gap), np.minimum(course_gap, column_gap))
    # (% 16: the courses close round the cube, so the last column is the first one again.)
    tile_id = np.where(cap, 100 + 16 * (y > 0) + 4 * cap_row.clip(0, 3) + cap_col.clip(0, 3),
                       course.clip(0, COURSES - 1) * 16 + column % 16)
    # A bevel: height rises from the grout over a short distance to the tile's flat top.
    height = np.clip((edge - GROUT) / BEVEL, 0.0, 1.0)
    height = height * height * (3 - 2 * height)
    table = rng.random((256, 4))
    copper = (table[tile_id, 0] < 0.14).astype(float)
    height = 0.25 + 0.75 * height - 0.04 * copper * (height > 0.99)
    fine = _noise(rng, point)
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

    `strength` scales the slope in height units per cube unit. Measured per texel instead, a
    bevel across u (fewer texels per unit) would tilt further than the same bevel across v, and
    the two sides of a seam (crossed along u on one island, along v on the other) would differ.
    """
    per_u, per_v = _texels_per_unit(height.shape[0])
    dx = ndimage.sobel(height, axis=1, mode="nearest") / 8.0 * per_u
    dy = -ndimage.sobel(height, axis=0, mode="nearest") / 8.0 * per_v  # rows go down, v up
    n = np.dstack([-dx * strength, -dy * strength, np.ones_like(height)])
    n /= np.linalg.norm(n, axis=2, keepdims=True)
    return n * 0.5 + 0.5


def ambient_occlusion(height: np.ndarray) -> np.ndarray:
    """Cheap AO: how far a texel sits below its blurred neighbourhood (a radius in cube units)."""
    per_u, per_v = _texels_per_unit(height.shape[0])
    cavity = ndimage.gaussian_filter(height, (0.025 * per_v, 0.025 * per_u)) - height
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
    _save(normal_from_height(fields["height"], strength=0.03), "sample_normal.png")
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
