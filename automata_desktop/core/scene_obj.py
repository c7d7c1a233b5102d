"""Wavefront OBJ + MTL read into a Scene: one node per object, one primitive per material used.

Read by hand rather than through trimesh because what matters here is exactly what trimesh drops
or hides: the MTL's PBR extension maps (map_Pr, map_Pm, map_Ke, norm, map_d), `map_Bump -bm`
scales, texture names with spaces (Blender writes them unquoted), and faces that point at vertices
the file does not have: the sign of a truncated file, which trimesh turned into scattered triangles.

OBJ's vt grows upwards (OpenGL); the Scene keeps glTF's convention, so v is flipped on reading and
an MTL `-o`/`-s` becomes the equivalent KHR_texture_transform. Roughness without `Pr` follows
Blender's importer: roughness = 1 - sqrt(Ns / 1000).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from automata_desktop.core.material import ImageSource, Material, TextureRef, TextureTransform
from automata_desktop.core.scene import Mesh, MeshError, Node, Primitive, Scene, unit, vertex_normals

# How many numbers each MTL map option takes (-o, -s, -t take one to three).
_OPTION_ARGS = {"-bm": 1, "-blendu": 1, "-blendv": 1, "-boost": 1, "-mm": 2, "-texres": 1,
                "-clamp": 1, "-imfchan": 1, "-type": 1, "-cc": 1, "-o": 3, "-s": 3, "-t": 3}


@dataclass
class _Group:
    """The corners of one (object, material) pair: indices into the file's v / vt / vn lists."""

    obj: str
    material: str | None
    corners: list[tuple[int, int, int]] = field(default_factory=list)


def read_obj(path: Path, data: bytes) -> Scene:
    text = data.decode("utf-8", errors="replace")
    positions: list[list[float]] = []
    texcoords: list[list[float]] = []
    normals: list[list[float]] = []
    groups: dict[tuple[str, str | None], _Group] = {}
    libraries: list[str] = []
    obj, material = path.stem, None
    named_objects = False
    vertices_at_object = 0
    bad_lines = 0
    for line in text.splitlines():
        head, _, rest = line.strip().partition(" ")
        if head == "v" or head == "vn" or head == "vt":
            numbers = _floats(rest)
            if numbers is None or len(numbers) < (2 if head == "vt" else 3):
                bad_lines += 1
                numbers = [np.nan, np.nan, np.nan]  # keeps the numbering of the lines after it
            (positions if head == "v" else normals if head == "vn" else texcoords).append(numbers)
        elif head == "f":
            key = (obj, material)
            group = groups.get(key) or groups.setdefault(key, _Group(obj, material))
            corners = _corners(rest, len(positions), len(texcoords), len(normals))
            if corners is None or len(corners) < 3:
                bad_lines += 1
                continue
            for i in range(1, len(corners) - 1):  # a polygon becomes a fan of triangles
                group.corners += (corners[0], corners[i], corners[i + 1])
        elif head == "o" and rest.strip():
            obj, named_objects = rest.strip(), True
            vertices_at_object = len(positions)
        elif head == "g" and rest.strip() and not named_objects:
            obj = rest.strip()  # files without `o` lines name their parts with groups
        elif head == "usemtl":
            material = rest.strip() or None
        elif head == "mtllib":
            libraries.append(rest.strip())
    notices: list[str] = []
    # An OBJ declares no counts: a cut-off file shows as a last line without its newline, or a last
    # object whose vertices arrived but whose faces did not.
    if text and not text.endswith(("\n", "\r")):
        notices.append(f"{path.name} looks truncated: it ends in the middle of a line; showing what "
                       "is there (fetch the file again for the rest).")
    elif named_objects and len(positions) > vertices_at_object and not any(
            k[0] == obj for k in groups):
        notices.append(f"{path.name} looks truncated: its last object, {obj}, has vertices but no "
                       "faces; showing the rest (fetch the file again).")
    materials, notices_mtl = _materials(path, libraries)
    notices += notices_mtl
    vertex_array = _array(positions, 3)
    return _scene(path, groups, vertex_array, _array(texcoords, 2), _array(normals, 3), materials,
                  notices, bad_lines)


def _scene(path: Path, groups: dict[tuple[str, str | None], _Group], positions: np.ndarray,
           texcoords: np.ndarray, normals: np.ndarray, materials: dict[str, Material],
           notices: list[str], bad_lines: int) -> Scene:
    material_list = list(materials.values())
    index_of = {m.name: i for i, m in enumerate(material_list)}
    objects: dict[str, list[Primitive]] = {}
    dropped = 0
    for group in groups.values():
        corners = np.asarray(group.corners, dtype=np.int64).reshape(-1, 3, 3)  # (tri, corner, v/t/n)
        v, t, n = corners[..., 0], corners[..., 1], corners[..., 2]
        present = ((v >= 0) & (v < len(positions))
                   & ((t == -1) | ((t >= 0) & (t < len(texcoords))))
                   & ((n == -1) | ((n >= 0) & (n < len(normals)))))
        broken = ~present.all(axis=1)
        if len(positions):  # a vertex line cut mid-number reads as NaN
            broken |= ~np.isfinite(positions[np.where(present, v, 0)]).all(axis=(1, 2))
        dropped += int(broken.sum())
        corners = corners[~broken]
        if not len(corners):
            continue
        unique, inverse = np.unique(corners.reshape(-1, 3), axis=0, return_inverse=True)
        faces = inverse.reshape(-1, 3).astype(np.int64)
        points = positions[unique[:, 0]]
        uvs: tuple[np.ndarray, ...] = ()
        if (unique[:, 1] >= 0).all():
            uv = texcoords[unique[:, 1], :2].astype(np.float32)
            uv[:, 1] = 1.0 - uv[:, 1]  # OBJ's v grows upwards; the Scene keeps glTF's convention
            uvs = (uv,)
        if (unique[:, 2] >= 0).all() and np.isfinite(normals[unique[:, 2]]).all():
            vertex_normal = unit(normals[unique[:, 2]])
        else:
            vertex_normal = vertex_normals(points, faces)
        if group.material is not None and group.material not in index_of:
            index_of[group.material] = len(material_list)
            material_list.append(Material(name=group.material, metallic_factor=0.0))
            notices.append(f"Material {group.material} is not in the MTL file; shown in grey.")
        primitives = objects.setdefault(group.obj, [])
        primitives.append(Primitive(
            positions=points, faces=faces, normals=vertex_normal, uvs=uvs,
            material=None if group.material is None else index_of[group.material], name=group.obj))
    if dropped and not objects:
        raise MeshError(f"Cannot open {path.name}: the file is truncated or damaged: its faces "
                        "point at vertices that are not in the file (fetch it again)")
    if dropped:
        notices.append(f"{path.name} looks truncated: {dropped:,} triangle"
                       f"{'s' if dropped > 1 else ''} pointing at vertices that are not in the file "
                       "were left out (fetch the file again for the rest).")
    elif bad_lines:
        notices.append(f"{path.name}: skipped {bad_lines:,} unreadable line"
                       f"{'s' if bad_lines > 1 else ''} (the file may be damaged).")
    nodes, meshes = [], []
    eye = np.eye(4)
    for name, primitives in objects.items():
        if len(primitives) > 1:
            primitives = [_renamed(p, f"{name} #{i}") for i, p in enumerate(primitives)]
        nodes.append(Node(name, eye, eye, mesh=len(meshes)))
        meshes.append(Mesh(name, tuple(primitives)))
    return Scene(nodes=tuple(nodes), roots=tuple(range(len(nodes))), meshes=tuple(meshes),
                 materials=tuple(material_list), source=path, format="OBJ", notices=tuple(notices))


def _renamed(primitive: Primitive, name: str) -> Primitive:
    return replace(primitive, name=name)


def _floats(text: str) -> list[float] | None:
    try:
        return [float(x) for x in text.split()]
    except ValueError:
        return None


def _array(rows: list[list[float]], width: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, width), np.float32)
    return np.array([row[:width] + [0.0] * (width - len(row[:width])) for row in rows], np.float32)


def _corners(text: str, nv: int, nt: int, nn: int) -> list[tuple[int, int, int]] | None:
    """"1/2/3 4//6 -1/-1/-1" → 0-based (v, vt, vn) triples, -1 where absent, None if unreadable.

    An index past the end stays past the end: the caller tells a truncated file by it."""
    corners = []
    try:
        for token in text.split():
            parts = token.split("/")
            v = int(parts[0])
            t = int(parts[1]) if len(parts) > 1 and parts[1] else 0
            n = int(parts[2]) if len(parts) > 2 and parts[2] else 0
            corners.append((_index(v, nv), _index(t, nt) if t else -1, _index(n, nn) if n else -1))
    except ValueError:
        return None
    return corners


def _index(value: int, count: int) -> int:
    return value - 1 if value > 0 else count + value if value < 0 else -2  # 0 is never valid


def _materials(obj_path: Path, libraries: list[str]) -> tuple[dict[str, Material], list[str]]:
    materials: dict[str, Material] = {}
    notices: list[str] = []
    images: dict[Path, ImageSource] = {}
    for library in libraries:
        candidates = [library, *library.split()] if " " in library else [library]
        path = next((obj_path.parent / c for c in candidates if (obj_path.parent / c).is_file()), None)
        if path is None:
            notices.append(f"{library} (the OBJ's materials) is missing; shown in grey.")
            continue
        for material in _read_mtl(path, images, notices):
            materials.setdefault(material.name, material)
    return materials, notices


def _read_mtl(path: Path, images: dict[Path, ImageSource], notices: list[str]) -> list[Material]:
    found: list[Material] = []
    spec: dict[str, object] | None = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        head, _, rest = line.strip().partition(" ")
        if head == "newmtl":
            if spec is not None:
                found.append(_material(spec))
            spec = {"name": rest.strip()}
        elif spec is None or not rest.strip():
            continue
        elif head.lower() in ("map_kd", "map_bump", "bump", "norm", "disp", "map_pr", "map_pm",
                              "map_ke", "map_d"):
            texture = _map(path.parent, rest, images, notices)
            if texture is not None:
                spec[head.lower()] = texture
        else:
            numbers = _floats(rest)
            if numbers:
                spec[head] = numbers
    if spec is not None:
        found.append(_material(spec))
    return found


def _material(spec: dict[str, object]) -> Material:
    def number(key: str, default: float) -> float:
        value = spec.get(key)
        return float(value[0]) if isinstance(value, list) else default

    def colour(key: str, default: tuple[float, float, float]) -> tuple[float, float, float]:
        value = spec.get(key)
        return tuple(float(c) for c in value[:3]) if isinstance(value, list) and len(value) >= 3 \
            else default  # type: ignore[return-value]

    def texture(*keys: str) -> tuple[TextureRef, float] | None:
        found = next((spec[k] for k in keys if isinstance(spec.get(k), tuple)), None)
        return found  # type: ignore[return-value]

    def ref(*keys: str) -> TextureRef | None:
        found = texture(*keys)
        return None if found is None else found[0]

    alpha = number("d", 1.0 - number("Tr", 0.0))
    shininess = max(number("Ns", 250.0), 0.0)
    roughness = number("Pr", float(np.clip(1.0 - np.sqrt(shininess / 1000.0), 0.0, 1.0)))
    emissive = colour("Ke", (0.0, 0.0, 0.0))
    if texture("map_ke") is not None and emissive == (0.0, 0.0, 0.0):
        emissive = (1.0, 1.0, 1.0)  # a map with Ke 0 would be black in glTF's product
    normal = texture("norm", "map_bump", "bump")
    return Material(
        name=str(spec["name"]),
        base_color_factor=(*colour("Kd", (0.8, 0.8, 0.8)), alpha),
        base_color_texture=ref("map_kd"),
        metallic_factor=number("Pm", 0.0),
        roughness_factor=roughness,
        normal_texture=None if normal is None else normal[0],
        normal_scale=1.0 if normal is None else normal[1],
        emissive_factor=emissive,
        emissive_texture=ref("map_ke"),
        alpha_mode="BLEND" if alpha < 1.0 or texture("map_d") is not None else "OPAQUE",
        roughness_texture=ref("map_pr"),
        metallic_texture=ref("map_pm"),
        opacity_texture=ref("map_d"),
        height_texture=ref("disp"),
    )


def _map(folder: Path, text: str, images: dict[Path, ImageSource],
         notices: list[str]) -> tuple[TextureRef, float] | None:
    """`[-opt args...] file name with spaces.png` → (texture, -bm value)."""
    words = text.split()
    options: dict[str, list[float]] = {}
    i = 0
    while i < len(words) and words[i].startswith("-") and words[i] in _OPTION_ARGS:
        option, i = words[i], i + 1
        values: list[float] = []
        while i < len(words) and len(values) < _OPTION_ARGS[option]:
            try:
                values.append(float(words[i]))
            except ValueError:
                if option in ("-clamp", "-imfchan", "-type", "-cc", "-blendu", "-blendv"):
                    values.append(0.0)  # on/off and channel letters: consumed, not used
                else:
                    break
            i += 1
        options[option] = values
    name = " ".join(words[i:])
    if not name:
        return None
    path = _find_texture(folder, name)
    image = images.get(path)
    if image is None:
        image = images[path] = ImageSource(Path(name.replace("\\", "/")).name, "external", path=path,
                                           uri=name)
        if not path.is_file():
            notices.append(f"Texture {name} is missing (looked for {path}); its slot shows no image.")
    transform = None
    if "-o" in options or "-s" in options:
        offset = [*options.get("-o", []), 0.0, 0.0][:2]
        scale = [*options.get("-s", []), 1.0, 1.0][:2]
        # MTL maps v upwards; in glTF's v-down space, v' = s·v + o becomes v' = s·v + (1 - s - o).
        transform = TextureTransform(offset=(offset[0], 1.0 - scale[1] - offset[1]),
                                     scale=(scale[0], scale[1]))
    return TextureRef(image, 0, transform), (options.get("-bm") or [1.0])[0]


def _find_texture(folder: Path, name: str) -> Path:
    """The file an MTL names: as written, with Windows separators turned, or just its base name."""
    for candidate in (name, name.replace("\\", "/"), Path(name.replace("\\", "/")).name):
        path = folder / candidate
        if path.is_file():
            return path
    return folder / name.replace("\\", "/")
