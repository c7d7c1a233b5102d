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

import warnings
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
    lines: list[str] = field(default_factory=list)  # each face line after "f "
    counts: list[tuple[int, int, int]] = field(default_factory=list)  # v/vt/vn seen before it


def read_obj(path: Path, data: bytes) -> Scene:
    text = data.decode("utf-8", errors="replace")
    positions: list[str] = []
    texcoords: list[str] = []
    normals: list[str] = []
    groups: dict[tuple[str, str | None], _Group] = {}
    libraries: list[str] = []
    obj, material = path.stem, None
    named_objects = False
    vertices_at_object = 0
    # One pass that only sorts lines; numbers are parsed in bulk by numpy afterwards.
    for line in text.splitlines():
        head, _, rest = line.strip().partition(" ")
        if head == "v":
            positions.append(rest)
        elif head == "vt":
            texcoords.append(rest)
        elif head == "vn":
            normals.append(rest)
        elif head == "f":
            key = (obj, material)
            group = groups.get(key) or groups.setdefault(key, _Group(obj, material))
            group.lines.append(rest)
            group.counts.append((len(positions), len(texcoords), len(normals)))
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
    vertex_array, bad_v = _rows(positions, 3)
    uv_array, bad_t = _rows(texcoords, 2)
    normal_array, bad_n = _rows(normals, 3)
    return _scene(path, groups, vertex_array, uv_array, normal_array, materials, notices,
                  bad_v + bad_t + bad_n)


def _scene(path: Path, groups: dict[tuple[str, str | None], _Group], positions: np.ndarray,
           texcoords: np.ndarray, normals: np.ndarray, materials: dict[str, Material],
           notices: list[str], bad_lines: int) -> Scene:
    material_list = list(materials.values())
    index_of = {m.name: i for i, m in enumerate(material_list)}
    objects: dict[str, list[Primitive]] = {}
    dropped = 0
    for group in groups.values():
        corners, bad = _group_corners(group)
        bad_lines += bad
        corners = corners.reshape(-1, 3, 3)  # (triangle, corner, v/vt/vn)
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
        unique, inverse = _unique_rows(corners.reshape(-1, 3))
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


def _rows(rows: list[str], width: int) -> tuple[np.ndarray, int]:
    """"x y z" lines → (n, width) float32 in one numpy parse; unreadable lines become NaN rows
    (keeping the numbering of the lines after them) and are counted."""
    if not rows:
        return np.zeros((0, width), np.float32), 0
    per_line = len(rows[0].split())
    if per_line >= width:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns when text does not parse to its end
            values = np.fromstring(" ".join(rows), dtype=np.float64, sep=" ")
        if len(values) == len(rows) * per_line:
            return values.reshape(len(rows), per_line)[:, :width].astype(np.float32), 0
    table = np.full((len(rows), width), np.nan, np.float32)  # mixed widths or damage: line by line
    bad = 0
    for i, row in enumerate(rows):
        numbers = _floats(row)
        if numbers is None or len(numbers) < width:
            bad += 1
        else:
            table[i] = numbers[:width]
    return table, bad


def _group_corners(group: _Group) -> tuple[np.ndarray, int]:
    """The group's triangles as (3·t, 3) corner rows of 0-based (v, vt, vn), -1 where absent, and
    how many face lines could not be read. Polygons become fans of triangles."""
    fast = _fast_corners(group.lines, group.counts)
    if fast is not None:
        return fast, 0
    corners: list[tuple[int, int, int]] = []
    bad = 0
    for line, (nv, nt, nn) in zip(group.lines, group.counts, strict=True):
        polygon = _corners(line, nv, nt, nn)
        if polygon is None or len(polygon) < 3:
            bad += 1
            continue
        for i in range(1, len(polygon) - 1):
            corners += (polygon[0], polygon[i], polygon[i + 1])
    return np.asarray(corners, dtype=np.int64).reshape(-1, 3), bad


def _fast_corners(lines: list[str], counts: list[tuple[int, int, int]]) -> np.ndarray | None:
    """`_group_corners` in numpy, when every corner of the group is written the same way
    ("v", "v/vt", "v//vn" or "v/vt/vn"); None sends the group to the line-by-line reader."""
    first = lines[0].split()
    if not first:
        return None
    slashes, double = first[0].count("/"), "//" in first[0]
    sizes = np.fromiter((len(line.split()) for line in lines), dtype=np.int64, count=len(lines))
    total = int(sizes.sum())
    joined = "\n".join(lines)
    if (sizes < 3).any() or joined.count("/") != total * slashes or (
            double and joined.count("//") != total):
        return None
    width = 1 + slashes - double
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = np.fromstring(joined.replace("//", " ").replace("/", " "), dtype=np.int64, sep=" ")
    if len(values) != total * width:
        return None
    values = values.reshape(total, width)
    seen = np.repeat(np.asarray(counts, np.int64), sizes, axis=0)  # v/vt/vn counts per corner

    def zero_based(column: np.ndarray, count: np.ndarray) -> np.ndarray:
        return np.where(column > 0, column - 1, np.where(column < 0, count + column, -2))

    absent = np.full(total, -1, np.int64)
    v = zero_based(values[:, 0], seen[:, 0])
    t = zero_based(values[:, 1], seen[:, 1]) if slashes >= 1 and not double else absent
    n = zero_based(values[:, -1], seen[:, 2]) if slashes == 2 else absent
    rows = np.column_stack([v, t, n])
    # fans: polygon p with k corners gives triangles (0, i, i + 1) for i in 1..k-2
    triangles = sizes - 2
    polygon = np.repeat(np.arange(len(lines)), triangles)
    start = (np.cumsum(sizes) - sizes)[polygon]
    step = np.arange(int(triangles.sum())) - np.repeat(np.cumsum(triangles) - triangles, triangles) + 1
    order = np.column_stack([start, start + step, start + step + 1]).ravel()
    return rows[order]


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(rows, axis=0, return_inverse=True), several times faster through one int key."""
    shifted = rows + 2  # values start at -2 (an invalid 0 index)
    dims = shifted.max(axis=0) + 1
    if float(np.prod(dims.astype(np.float64))) >= 2.0**62:
        unique, inverse = np.unique(rows, axis=0, return_inverse=True)
        return unique, inverse.ravel()
    key = (shifted[:, 0] * dims[1] + shifted[:, 1]) * dims[2] + shifted[:, 2]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return rows[first], inverse.ravel()


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
