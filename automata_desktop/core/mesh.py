"""Loading a mesh file into one triangle mesh with UVs, ready to texture and preview.

trimesh reads the formats; this module flattens scenes (node transforms applied), checks the result
is a usable surface, and gives every mesh UVs: texturing needs them, and a file without them still
deserves a preview. Pure Python + numpy: call it from a worker thread, never the UI thread.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import trimesh

from automata_desktop.errors import AutomataError

log = logging.getLogger(__name__)

#: Formats we promise to open. trimesh reads more, but these are the ones tested.
SUPPORTED_SUFFIXES: tuple[str, ...] = (".glb", ".gltf", ".obj", ".ply", ".stl", ".off")


class MeshError(AutomataError):
    """A mesh file could not be opened or holds no usable surface."""


@dataclass(frozen=True, eq=False)
class MeshData:
    """One triangle mesh. UVs follow the OpenGL convention: v = 0 is the bottom of an image."""

    vertices: np.ndarray  # (n, 3) float32
    faces: np.ndarray  # (m, 3) int64
    normals: np.ndarray  # (n, 3) float32, unit length
    uvs: np.ndarray | None = None  # (n, 2) float32
    source: Path | None = None
    base_color_image: np.ndarray | None = None  # (h, w, 3|4) uint8, embedded in the file
    notices: tuple[str, ...] = field(default=())  # things the user should know (UVs generated...)

    @property
    def triangle_count(self) -> int:
        return len(self.faces)

    @property
    def vertex_count(self) -> int:
        return len(self.vertices)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.vertices.min(axis=0), self.vertices.max(axis=0)


def load_mesh(path: str | Path, *, generate_uvs: bool = True) -> MeshData:
    """Read `path` into a single mesh; raise MeshError with a readable reason if that fails.

    Scenes (glTF, multi-object OBJ) are merged into one mesh in world space. Without UVs, a mesh gets
    generated ones (see `ensure_uvs`) unless `generate_uvs` is False.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise MeshError(
            f"Cannot open {path.name}: {suffix or 'no extension'} is not a supported mesh format "
            f"(use {', '.join(SUPPORTED_SUFFIXES)})"
        )
    if not path.is_file():
        raise MeshError(f"Cannot open {path}: the file does not exist")
    if path.stat().st_size == 0:
        raise MeshError(f"Cannot open {path.name}: the file is empty")
    try:
        # process=False keeps duplicated vertices along UV seams, which merging would destroy.
        loaded = trimesh.load(path, process=False)
    except Exception as exc:  # trimesh raises anything from ValueError to struct.error
        raise MeshError(f"Cannot open {path.name}: the file is damaged or not a {suffix[1:].upper()}"
                        f" mesh ({type(exc).__name__}: {exc})") from exc
    mesh = from_trimesh(loaded, source=path)
    return ensure_uvs(mesh) if generate_uvs else mesh


def from_trimesh(loaded: object, source: Path | None = None) -> MeshData:
    """Convert a trimesh Trimesh or Scene into MeshData (raises MeshError if there is no surface)."""
    name = source.name if source else "mesh"
    parts = _triangle_parts(loaded)
    if not parts:
        raise MeshError(f"Cannot open {name}: it contains no triangles (a point cloud or empty file)")
    have_uvs = all(_uvs_of(part) is not None for part in parts)
    vertices, faces, normals, uvs = [], [], [], []
    offset = 0
    for part in parts:
        vertices.append(np.asarray(part.vertices, dtype=np.float32))
        faces.append(np.asarray(part.faces, dtype=np.int64) + offset)
        normals.append(np.asarray(part.vertex_normals, dtype=np.float32))
        if have_uvs:
            uvs.append(np.asarray(_uvs_of(part), dtype=np.float32))
        offset += len(part.vertices)
    all_vertices = np.concatenate(vertices)
    if not np.isfinite(all_vertices).all():
        raise MeshError(f"Cannot open {name}: it has vertices at NaN or infinite positions")
    notices: list[str] = []
    if len(parts) > 1:
        notices.append(f"Merged {len(parts)} objects of {name} into one mesh.")
    return MeshData(
        vertices=all_vertices,
        faces=np.concatenate(faces),
        normals=_unit(np.concatenate(normals)),
        uvs=np.concatenate(uvs) if have_uvs else None,
        source=source,
        base_color_image=next(
            (img for img in map(_embedded_base_color, parts) if img is not None), None
        ),
        notices=tuple(notices),
    )


def ensure_uvs(mesh: MeshData) -> MeshData:
    """Return `mesh` unchanged if it has UVs, else a copy with generated UVs and a notice.

    xatlas gives a proper chart atlas (vertices are split along the new seams); without it, a
    spherical projection is used: crude, but enough to preview a texture.
    """
    if mesh.uvs is not None:
        return mesh
    try:
        import xatlas
    except ImportError:
        xatlas = None
    if xatlas is not None:
        mapping, faces, uvs = xatlas.parametrize(mesh.vertices, mesh.faces.astype(np.uint32))
        notice = "The mesh had no UVs; generated a UV atlas with xatlas."
        return replace(
            mesh,
            vertices=mesh.vertices[mapping],
            normals=mesh.normals[mapping],
            faces=faces.astype(np.int64),
            uvs=uvs.astype(np.float32),
            notices=(*mesh.notices, notice),
        )
    notice = "The mesh had no UVs; projected UVs from a sphere (seams and stretching likely)."
    return replace(mesh, uvs=spherical_uvs(mesh.vertices), notices=(*mesh.notices, notice))


def spherical_uvs(vertices: np.ndarray) -> np.ndarray:
    """Longitude/latitude of each vertex around the bounding-box centre, in [0, 1]²."""
    centred = vertices - (vertices.min(axis=0) + vertices.max(axis=0)) / 2
    x, y, z = centred.T
    radius = np.linalg.norm(centred, axis=1) + 1e-12
    u = 0.5 + np.arctan2(x, z) / (2 * np.pi)
    v = 0.5 + np.arcsin(np.clip(y / radius, -1.0, 1.0)) / np.pi
    return np.column_stack([u, v]).astype(np.float32)


def _triangle_parts(loaded: object) -> list[trimesh.Trimesh]:
    # Scene.dump returns copies of the geometry with node transforms applied.
    geometry = loaded.dump(concatenate=False) if isinstance(loaded, trimesh.Scene) else [loaded]
    return [g for g in geometry if isinstance(g, trimesh.Trimesh) and len(g.faces) > 0]


def _uvs_of(part: trimesh.Trimesh) -> np.ndarray | None:
    uv = getattr(part.visual, "uv", None)
    if uv is None or len(uv) != len(part.vertices):
        return None
    return np.asarray(uv)


def _embedded_base_color(part: trimesh.Trimesh) -> np.ndarray | None:
    material = getattr(part.visual, "material", None)
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    if image is None:
        return None
    try:
        if not hasattr(image, "mode"):  # some loaders keep the encoded bytes
            from PIL import Image

            image = Image.open(io.BytesIO(image))
        return np.asarray(image.convert("RGBA" if "A" in image.mode else "RGB"))
    except Exception as exc:  # a broken embedded image should not stop the mesh from opening
        log.warning("ignoring unreadable embedded texture: %s", exc)
        return None


def _unit(normals: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
