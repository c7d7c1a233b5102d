"""PLY, STL and OFF through trimesh: one object each, with what the file says about its surface.

These formats hold one mesh and no hierarchy. trimesh parses the geometry; this module adds what
it would lose or hide: a PLY's texture (`comment TextureFile name.png`, the MeshLab and
Meshroom convention) as a lazily read base colour, its UVs flipped to glTF's convention, and a
binary STL cut short, whose whole triangles still open with a warning instead of noise.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import trimesh

from automata_desktop.core.material import ImageSource, Material, TextureRef
from automata_desktop.core.scene import Mesh, MeshError, Node, Primitive, Scene, unit, vertex_normals

_STL_HEADER, _STL_TRIANGLE = 84, 50


def read_with_trimesh(path: Path, data: bytes) -> Scene:
    suffix = path.suffix.lower()
    notices: list[str] = []
    has_normals = suffix == ".ply" and any(
        line.split()[-1:] == ["nx"] for line in _ply_header(data) if line.startswith("property"))
    materials: tuple[Material, ...] = ()
    if suffix == ".stl":
        data = _whole_stl_triangles(path, data, notices)
    elif suffix == ".ply":
        _check_ply_length(path, data)
        texture = _ply_texture(path, data)
        if texture is not None:
            materials = (Material(name=Path(texture.name).stem, base_color_texture=TextureRef(texture),
                                  metallic_factor=0.0),)
            if not texture.exists:
                notices.append(f"Texture {texture.name} is missing (looked for {texture.path}); "
                               "its slot shows no image.")
    if suffix == ".ply":  # the texture is ours to read, lazily: hide it from trimesh's eager loader
        data = data.replace(b"comment TextureFile", b"comment texture-by-automata", 1)
    # process=False keeps duplicated vertices along UV seams, which merging would destroy.
    try:
        loaded = trimesh.load(io.BytesIO(data), file_type=suffix[1:], process=False)
    except Exception as exc:  # trimesh raises anything from ValueError to struct.error
        binary = suffix == ".ply" and b"format binary" in data[:512]
        reason = ("is truncated or damaged: its data does not match what its header describes"
                  if binary else f"is damaged or not a {suffix[1:].upper()} mesh")
        raise MeshError(f"Cannot open {path.name}: the file {reason} ({type(exc).__name__}: "
                        f"{exc})") from exc
    parts = loaded.dump(concatenate=False) if isinstance(loaded, trimesh.Scene) else [loaded]
    parts = [p for p in parts if isinstance(p, trimesh.Trimesh) and len(p.faces) > 0]
    primitives = []
    for part in parts:
        positions = np.asarray(part.vertices, dtype=np.float32)
        faces = np.asarray(part.faces, dtype=np.int64)
        normals = _normals(part, positions, faces, has_normals)
        uv = getattr(part.visual, "uv", None)
        uvs: tuple[np.ndarray, ...] = ()
        if uv is not None and len(uv) == len(positions):
            uv = np.array(uv, dtype=np.float32)
            uv[:, 1] = 1.0 - uv[:, 1]  # PLY's v points up (OpenGL); the Scene keeps glTF's
            uvs = (uv,)
        if not np.isfinite(positions).all():
            raise MeshError(f"Cannot open {path.name}: it has vertices at NaN or infinite positions")
        primitives.append(Primitive(positions, faces, normals, uvs, material=0 if materials else None,
                                    name=path.stem))
    eye = np.eye(4)
    nodes = (Node(path.stem, eye, eye, mesh=0),) if primitives else ()
    return Scene(nodes=nodes, roots=tuple(range(len(nodes))),
                 meshes=(Mesh(path.stem, tuple(primitives)),) if primitives else (),
                 materials=materials, source=path, format=suffix[1:].upper(), notices=tuple(notices))


def _normals(part: trimesh.Trimesh, positions: np.ndarray, faces: np.ndarray,
             in_file: bool) -> np.ndarray:
    # A PLY's own vertex normals are kept; STL and OFF have none, so smooth ones are computed.
    if in_file and len(part.vertex_normals) == len(positions):
        return unit(np.asarray(part.vertex_normals))
    return vertex_normals(positions, faces)


def _whole_stl_triangles(path: Path, data: bytes, notices: list[str]) -> bytes:
    """A binary STL declares its triangle count; a file cut short keeps its whole triangles."""
    if data[:5].lower() == b"solid" and b"facet" in data[:1024]:
        return data  # ASCII
    if len(data) < _STL_HEADER:
        raise MeshError(f"Cannot open {path.name}: the file is truncated ({len(data)} bytes, shorter "
                        "than an STL header)")
    declared = struct.unpack_from("<I", data, 80)[0]
    present = (len(data) - _STL_HEADER) // _STL_TRIANGLE
    if present >= declared:
        return data
    if present == 0:
        raise MeshError(f"Cannot open {path.name}: the file is truncated: it declares {declared:,} "
                        "triangles and holds none (fetch it again)")
    notices.append(f"{path.name} is truncated: it holds {present:,} of the {declared:,} triangles "
                   "it declares; showing those (fetch the file again for the rest).")
    return data[:80] + struct.pack("<I", present) + data[_STL_HEADER: _STL_HEADER + present * _STL_TRIANGLE]


def _ply_header(data: bytes) -> list[str]:
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        return []
    return data[:end].decode("ascii", "replace").splitlines()


def _check_ply_length(path: Path, data: bytes) -> None:
    """A binary PLY cut short: trimesh would read past the end or return garbage."""
    header = _ply_header(data)
    if not header:
        raise MeshError(f"Cannot open {path.name}: the file is damaged or not a PLY mesh (no PLY "
                        "header ending in end_header)")
    fmt = next((line.split()[1] for line in header if line.startswith("format ")), "ascii")
    if fmt == "ascii":
        return
    sizes = {"char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2, "int16": 2,
             "uint16": 2, "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4,
             "double": 8, "float64": 8}
    fixed = 0
    count = 0
    for line in header:
        words = line.split()
        if words[:1] == ["element"] and len(words) == 3:
            count = int(words[2])
        elif words[:1] == ["property"] and len(words) >= 3:
            if words[1] == "list":
                # a face list holds at least its count and three indices
                fixed += count * (sizes.get(words[2], 1) + 3 * sizes.get(words[3], 4))
            else:
                fixed += count * sizes.get(words[1], 4)
    body = len(data) - (data.find(b"end_header") + len(b"end_header\n"))
    if body < fixed:
        raise MeshError(f"Cannot open {path.name}: the file is truncated: its header describes at "
                        f"least {fixed:,} bytes of data and it holds {max(body, 0):,} (fetch it again)")


def _ply_texture(path: Path, data: bytes) -> ImageSource | None:
    for line in _ply_header(data):
        words = line.split(None, 2)
        if len(words) == 3 and words[0] == "comment" and words[1].lower() == "texturefile":
            name = words[2].strip()
            return ImageSource(Path(name).name, "external", path=path.parent / name, uri=name)
    return None
