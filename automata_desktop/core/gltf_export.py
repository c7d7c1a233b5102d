"""A scene written as binary glTF 2.0 (GLB): node tree, meshes, metallic-roughness materials, images.

`encode_glb(scene) -> bytes` is pure (no I/O); the library writes the bytes. The value types here
are the writer's own, one per glTF object, so any reader's scene maps onto them one to one and an
object used twice (a material on five primitives, one ORM image behind occlusion and
metallic-roughness) is written once: identity, not equality, decides sharing.

What the Khronos validator checks and this module takes care of (0 errors, 0 warnings is the bar):
  - POSITION carries min/max; NORMAL and TANGENT xyz are unit length, TANGENT w is ±1; a primitive
    with a normal map gets TANGENT (else: MESH_PRIMITIVE_GENERATED_TANGENT_SPACE);
  - every texture's texCoord set exists on every primitive using the material;
  - index values below the primitive-restart value of their type; buffer views 4-byte aligned,
    the BIN chunk padded by at most 3 bytes;
  - alphaCutoff only with MASK; emissive strength only with a non-zero emissive factor;
  - embedded PNGs carry no colour-space chunks (glTF defines the colour space per slot):
    IMAGE_FEATURES_UNSUPPORTED otherwise.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from automata_desktop.core.tangents import any_orthogonal, vertex_tangents

PNG = "image/png"
JPEG = "image/jpeg"

# glTF enums
_FLOAT, _UINT16, _UINT32, _UINT8 = 5126, 5123, 5125, 5121
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_TRIANGLES = 4
_LINEAR, _LINEAR_MIPMAP_LINEAR, _REPEAT = 9729, 9987, 10497

_GLB_MAGIC, _GLB_VERSION = b"glTF", 2
_CHUNK_JSON, _CHUNK_BIN = 0x4E4F534A, 0x004E4942
# PNG chunks that only describe colour space or pixel aspect: glTF fixes the colour space per
# slot (sRGB base colour/emissive, linear data elsewhere) and the validator warns about them.
_PNG_DROPPED_CHUNKS = frozenset({b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"pHYs"})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class GltfExportError(ValueError):
    """The scene cannot be written as valid glTF (the message names the object and the fix)."""


@dataclass(frozen=True, eq=False)
class GltfImage:
    """An encoded image (PNG or JPEG bytes) as it goes into the file, not re-encoded."""

    data: bytes
    mime_type: str = PNG
    name: str = ""

    @classmethod
    def from_pixels(cls, pixels: np.ndarray, name: str = "") -> GltfImage:
        """PNG of uint8 HxW / HxWx3 / HxWx4 pixels (8-bit: glTF viewers expect no more)."""
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG", compress_level=6)
        return cls(buffer.getvalue(), PNG, name)


@dataclass(frozen=True, slots=True)
class Sampler:
    mag_filter: int | None = _LINEAR
    min_filter: int | None = _LINEAR_MIPMAP_LINEAR
    wrap_s: int = _REPEAT
    wrap_t: int = _REPEAT


@dataclass(frozen=True, slots=True)
class TextureTransform:
    """KHR_texture_transform, as glTF defines it (offset, rotation in radians, scale)."""

    offset: tuple[float, float] = (0.0, 0.0)
    rotation: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    texcoord: int | None = None


@dataclass(frozen=True, slots=True)
class TextureSlot:
    image: GltfImage
    texcoord: int = 0
    transform: TextureTransform | None = None
    sampler: Sampler = field(default_factory=Sampler)

    @property
    def texcoords_read(self) -> int:
        """The texcoord set actually sampled (a transform may override the slot's)."""
        if self.transform is not None and self.transform.texcoord is not None:
            return self.transform.texcoord
        return self.texcoord


@dataclass(frozen=True, eq=False)
class GltfMaterial:
    """glTF 2.0 metallic-roughness material; the defaults are glTF's."""

    name: str = ""
    base_color: TextureSlot | None = None
    base_color_factor: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    metallic_roughness: TextureSlot | None = None  # G roughness, B metallic
    metallic_factor: float = 1.0
    roughness_factor: float = 1.0
    normal: TextureSlot | None = None  # tangent space, OpenGL (+Y up)
    normal_scale: float = 1.0
    occlusion: TextureSlot | None = None  # R
    occlusion_strength: float = 1.0
    emissive: TextureSlot | None = None
    emissive_factor: tuple[float, float, float] = (0.0, 0.0, 0.0)
    emissive_strength: float = 1.0  # KHR_materials_emissive_strength
    alpha_mode: str = "OPAQUE"  # OPAQUE | MASK | BLEND
    alpha_cutoff: float = 0.5
    double_sided: bool = False

    def slots(self) -> Iterator[tuple[str, TextureSlot]]:
        for name in ("base_color", "metallic_roughness", "normal", "occlusion", "emissive"):
            slot = getattr(self, name)
            if slot is not None:
                yield name, slot


@dataclass(frozen=True, eq=False)
class GltfPrimitive:
    """A triangle list. Texcoords are in glTF's convention: v = 0 is the top of the image."""

    positions: np.ndarray  # (n, 3)
    triangles: np.ndarray  # (m, 3) vertex indices
    normals: np.ndarray | None = None  # (n, 3)
    texcoords: tuple[np.ndarray, ...] = ()  # TEXCOORD_0, TEXCOORD_1, ... each (n, 2)
    tangents: np.ndarray | None = None  # (n, 4); computed when None and the material needs them
    colors: np.ndarray | None = None  # (n, 3|4) float 0..1, COLOR_0
    material: GltfMaterial | None = None


@dataclass(frozen=True, eq=False)
class GltfMesh:
    primitives: tuple[GltfPrimitive, ...]
    name: str = ""


@dataclass(frozen=True, eq=False)
class GltfNode:
    """A node with its local transform (4x4, row-major maths convention; None = identity)."""

    name: str = ""
    mesh: GltfMesh | None = None
    matrix: np.ndarray | None = None
    children: tuple[GltfNode, ...] = ()


@dataclass(frozen=True, eq=False)
class GltfScene:
    roots: tuple[GltfNode, ...]
    name: str = ""
    generator: str = "AUTOMATA Desktop"


def encode_glb(scene: GltfScene) -> bytes:
    """The scene as GLB bytes. Raises GltfExportError for what glTF cannot hold."""
    builder = _Builder(scene.generator)
    roots = [builder.node(node) for node in scene.roots]
    if not roots:
        raise GltfExportError("The scene has no objects to export")
    scene_json: dict = {"nodes": roots}
    if scene.name:
        scene_json["name"] = scene.name
    builder.doc["scenes"] = [scene_json]
    builder.doc["scene"] = 0
    return builder.glb()


def png_without_colour_chunks(data: bytes) -> bytes:
    """A PNG with the chunks glTF ignores (ICC profile, gamma, chromaticities, aspect) removed.

    Not a PNG (JPEG, damaged data) is returned unchanged.
    """
    if not data.startswith(_PNG_SIGNATURE):
        return data
    out = bytearray(_PNG_SIGNATURE)
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return data  # truncated: leave it for the validator to report
        if kind not in _PNG_DROPPED_CHUNKS:
            out += data[pos:end]
        pos = end
        if kind == b"IEND":
            break
    return bytes(out)


# ------------------------------------------------------------------------------------------ writer


class _Builder:
    def __init__(self, generator: str) -> None:
        self.doc: dict = {"asset": {"version": "2.0", "generator": generator}}
        self.bin = bytearray()
        self._images: dict[int, int] = {}
        self._samplers: dict[Sampler, int] = {}
        self._textures: dict[tuple[int, Sampler], int] = {}
        self._materials: dict[int, int] = {}
        self._meshes: dict[int, int] = {}
        self._extensions: set[str] = set()
        self._keep: list[object] = []  # holds keyed objects alive so their ids stay unique

    def _list(self, key: str) -> list:
        return self.doc.setdefault(key, [])

    # -- buffers

    def view(self, data: bytes, target: int | None = None) -> int:
        offset = len(self.bin)
        self.bin += data
        self.bin += b"\0" * (-len(self.bin) % 4)
        view: dict = {"buffer": 0, "byteOffset": offset, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        views = self._list("bufferViews")
        views.append(view)
        return len(views) - 1

    def accessor(self, array: np.ndarray, kind: str, *, target: int | None = _ARRAY_BUFFER,
                 bounds: bool = False) -> int:
        component = {np.dtype(np.float32): _FLOAT, np.dtype(np.uint16): _UINT16,
                     np.dtype(np.uint32): _UINT32, np.dtype(np.uint8): _UINT8}[array.dtype]
        data = np.ascontiguousarray(array)
        accessor: dict = {"bufferView": self.view(data.tobytes(), target), "componentType": component,
                          "count": len(data), "type": kind}
        if bounds:
            flat = data.reshape(len(data), -1)
            accessor["min"] = [_number(v) for v in flat.min(axis=0)]
            accessor["max"] = [_number(v) for v in flat.max(axis=0)]
        accessors = self._list("accessors")
        accessors.append(accessor)
        return len(accessors) - 1

    # -- materials

    def image(self, image: GltfImage) -> int:
        index = self._images.get(id(image))
        if index is None:
            data = png_without_colour_chunks(image.data) if image.mime_type == PNG else image.data
            entry: dict = {"bufferView": self.view(data), "mimeType": image.mime_type}
            if image.name:
                entry["name"] = image.name
            images = self._list("images")
            images.append(entry)
            index = self._images[id(image)] = len(images) - 1
            self._keep.append(image)
        return index

    def sampler(self, sampler: Sampler) -> int:
        index = self._samplers.get(sampler)
        if index is None:
            entry = {"wrapS": sampler.wrap_s, "wrapT": sampler.wrap_t}
            if sampler.mag_filter is not None:
                entry["magFilter"] = sampler.mag_filter
            if sampler.min_filter is not None:
                entry["minFilter"] = sampler.min_filter
            samplers = self._list("samplers")
            samplers.append(entry)
            index = self._samplers[sampler] = len(samplers) - 1
        return index

    def texture_info(self, slot: TextureSlot) -> dict:
        key = (id(slot.image), slot.sampler)
        index = self._textures.get(key)
        if index is None:
            textures = self._list("textures")
            textures.append({"sampler": self.sampler(slot.sampler), "source": self.image(slot.image)})
            index = self._textures[key] = len(textures) - 1
        info: dict = {"index": index}
        if slot.texcoord:
            info["texCoord"] = slot.texcoord
        t = slot.transform
        if t is not None:
            ext: dict = {}
            if tuple(t.offset) != (0.0, 0.0):
                ext["offset"] = [float(v) for v in t.offset]
            if t.rotation:
                ext["rotation"] = float(t.rotation)
            if tuple(t.scale) != (1.0, 1.0):
                ext["scale"] = [float(v) for v in t.scale]
            if t.texcoord is not None:
                ext["texCoord"] = t.texcoord
            info["extensions"] = {"KHR_texture_transform": ext}
            self._extensions.add("KHR_texture_transform")
        return info

    def material(self, material: GltfMaterial) -> int:
        index = self._materials.get(id(material))
        if index is not None:
            return index
        m = material
        pbr: dict = {}
        if tuple(m.base_color_factor) != (1.0, 1.0, 1.0, 1.0):
            pbr["baseColorFactor"] = [_unit_float(v) for v in m.base_color_factor]
        if m.base_color is not None:
            pbr["baseColorTexture"] = self.texture_info(m.base_color)
        if m.metallic_factor != 1.0:
            pbr["metallicFactor"] = _unit_float(m.metallic_factor)
        if m.roughness_factor != 1.0:
            pbr["roughnessFactor"] = _unit_float(m.roughness_factor)
        if m.metallic_roughness is not None:
            pbr["metallicRoughnessTexture"] = self.texture_info(m.metallic_roughness)
        entry: dict = {}
        if m.name:
            entry["name"] = m.name
        if pbr:
            entry["pbrMetallicRoughness"] = pbr
        if m.normal is not None:
            entry["normalTexture"] = self.texture_info(m.normal)
            if m.normal_scale != 1.0:
                entry["normalTexture"]["scale"] = float(m.normal_scale)
        if m.occlusion is not None:
            entry["occlusionTexture"] = self.texture_info(m.occlusion)
            if m.occlusion_strength != 1.0:
                entry["occlusionTexture"]["strength"] = _unit_float(m.occlusion_strength)
        if m.emissive is not None:
            entry["emissiveTexture"] = self.texture_info(m.emissive)
        emissive = [_unit_float(v) for v in m.emissive_factor]
        if any(emissive):
            entry["emissiveFactor"] = emissive
            if m.emissive_strength != 1.0:
                entry["extensions"] = {"KHR_materials_emissive_strength":
                                       {"emissiveStrength": float(m.emissive_strength)}}
                self._extensions.add("KHR_materials_emissive_strength")
        if m.alpha_mode not in ("OPAQUE", "MASK", "BLEND"):
            raise GltfExportError(f"Material {m.name!r}: alpha mode {m.alpha_mode!r} is not "
                                  "one of OPAQUE, MASK, BLEND")
        if m.alpha_mode != "OPAQUE":
            entry["alphaMode"] = m.alpha_mode
        if m.alpha_mode == "MASK" and m.alpha_cutoff != 0.5:
            entry["alphaCutoff"] = float(m.alpha_cutoff)
        if m.double_sided:
            entry["doubleSided"] = True
        materials = self._list("materials")
        materials.append(entry)
        self._keep.append(material)
        index = self._materials[id(material)] = len(materials) - 1
        return index

    # -- geometry

    def mesh(self, mesh: GltfMesh) -> int:
        index = self._meshes.get(id(mesh))
        if index is not None:
            return index
        if not mesh.primitives:
            raise GltfExportError(f"Mesh {mesh.name!r} has no primitives")
        entry: dict = {"primitives": [self.primitive(p, mesh.name) for p in mesh.primitives]}
        if mesh.name:
            entry["name"] = mesh.name
        meshes = self._list("meshes")
        meshes.append(entry)
        self._keep.append(mesh)
        index = self._meshes[id(mesh)] = len(meshes) - 1
        return index

    def primitive(self, p: GltfPrimitive, mesh_name: str) -> dict:
        label = f"mesh {mesh_name!r}" if mesh_name else "a mesh"
        positions = np.asarray(p.positions, np.float32).reshape(-1, 3)
        triangles = np.asarray(p.triangles, np.int64).reshape(-1, 3)
        count = len(positions)
        if count == 0 or len(triangles) == 0:
            raise GltfExportError(f"A primitive of {label} has no triangles")
        if not np.isfinite(positions).all():
            raise GltfExportError(f"A primitive of {label} has vertices at NaN or infinity")
        if triangles.min() < 0 or triangles.max() >= count:
            raise GltfExportError(f"A primitive of {label} has faces pointing at vertices "
                                  f"that do not exist (it has {count})")
        attributes = {"POSITION": self.accessor(positions, "VEC3", bounds=True)}
        material = p.material
        needed = {slot.texcoords_read for _, slot in material.slots()} if material else set()
        if needed and max(needed) >= len(p.texcoords):
            raise GltfExportError(
                f"Material {material.name!r} reads texture coordinates set {max(needed)}, but a "
                f"primitive of {label} has {len(p.texcoords)}: give it UVs before exporting")
        normals = None
        if p.normals is not None:
            normals = _valid_normals(np.asarray(p.normals, np.float64).reshape(-1, 3), positions,
                                     triangles)
            attributes["NORMAL"] = self.accessor(normals.astype(np.float32), "VEC3")
        texcoords = [np.asarray(uv, np.float32).reshape(-1, 2) for uv in p.texcoords]
        if material is not None and material.normal is not None:
            if normals is None:  # TANGENT needs NORMAL; flat normals are what a viewer would use
                normals = _valid_normals(np.zeros((count, 3)), positions, triangles)
                attributes["NORMAL"] = self.accessor(normals.astype(np.float32), "VEC3")
            tangents = p.tangents
            if tangents is None:
                tangents = vertex_tangents(positions, normals,
                                           texcoords[material.normal.texcoords_read], triangles)
            attributes["TANGENT"] = self.accessor(_valid_tangents(tangents, normals), "VEC4")
        for index, uv in enumerate(texcoords):
            if uv.shape[0] != count or not np.isfinite(uv).all():
                raise GltfExportError(f"Texture coordinates set {index} of {label} do not match "
                                      "its vertices (wrong count or NaN)")
            attributes[f"TEXCOORD_{index}"] = self.accessor(uv, "VEC2")
        if p.colors is not None:
            colors = np.clip(np.asarray(p.colors, np.float32), 0.0, 1.0)
            attributes["COLOR_0"] = self.accessor(colors, "VEC4" if colors.shape[1] == 4 else "VEC3")
        # 0xFFFF / 0xFFFFFFFF are primitive-restart values, forbidden as indices.
        index_type = np.uint16 if count < 0xFFFF else np.uint32
        indices = self.accessor(triangles.astype(index_type).reshape(-1), "SCALAR",
                                target=_ELEMENT_ARRAY_BUFFER)
        entry: dict = {"attributes": attributes, "indices": indices, "mode": _TRIANGLES}
        if material is not None:
            entry["material"] = self.material(material)
        return entry

    def node(self, node: GltfNode) -> int:
        nodes = self._list("nodes")
        entry: dict = {}
        index = len(nodes)
        nodes.append(entry)  # reserve the index: children come after their parent
        if node.name:
            entry["name"] = node.name
        if node.matrix is not None:
            matrix = np.asarray(node.matrix, np.float64).reshape(4, 4)
            if not np.isfinite(matrix).all():
                raise GltfExportError(f"Object {node.name!r} has a transform with NaN or infinity")
            if not np.allclose(matrix, np.eye(4), atol=0, rtol=0):
                entry["matrix"] = [_number(v) for v in matrix.T.reshape(-1)]  # column-major
        if node.mesh is not None:
            entry["mesh"] = self.mesh(node.mesh)
        if node.children:
            entry["children"] = [self.node(child) for child in node.children]
        return index

    # -- container

    def glb(self) -> bytes:
        if self.bin:
            self.doc["buffers"] = [{"byteLength": len(self.bin)}]
        if self._extensions:
            self.doc["extensionsUsed"] = sorted(self._extensions)
        text = json.dumps(self.doc, separators=(",", ":"), allow_nan=False).encode("utf-8")
        text += b" " * (-len(text) % 4)
        chunks = struct.pack("<II", len(text), _CHUNK_JSON) + text
        if self.bin:
            chunks += struct.pack("<II", len(self.bin), _CHUNK_BIN) + bytes(self.bin)
        header = struct.pack("<4sII", _GLB_MAGIC, _GLB_VERSION, 12 + len(chunks))
        return header + chunks


def _number(value: float) -> float | int:
    as_float = float(value)
    return int(as_float) if as_float.is_integer() and abs(as_float) < 2**53 else as_float


def _unit_float(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _valid_normals(normals: np.ndarray, positions: np.ndarray,
                   triangles: np.ndarray) -> np.ndarray:
    """Unit normals; zero or NaN ones replaced by the area-weighted normal of their faces."""
    normals = np.where(np.isfinite(normals), normals, 0.0)
    length = np.linalg.norm(normals, axis=1)
    bad = length < 1e-8
    if bad.any():
        p = positions.astype(np.float64)
        face = np.cross(p[triangles[:, 1]] - p[triangles[:, 0]],
                        p[triangles[:, 2]] - p[triangles[:, 0]])
        summed = np.empty_like(p)
        corners = triangles.ravel()
        for axis in range(3):
            summed[:, axis] = np.bincount(corners, weights=np.repeat(face[:, axis], 3),
                                          minlength=len(p))
        normals = normals.copy()
        normals[bad] = summed[bad]
        length = np.linalg.norm(normals, axis=1)
        still = length < 1e-12
        normals[still] = (0.0, 0.0, 1.0)  # unreferenced or degenerate: any unit vector is valid
        length[still] = 1.0
    return normals / length[:, None]


def _valid_tangents(tangents: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """xyz unit and orthogonal to the normal, w exactly ±1 (what the validator checks)."""
    t = np.asarray(tangents, np.float64).reshape(-1, 4)
    xyz = np.where(np.isfinite(t[:, :3]), t[:, :3], 0.0)
    xyz = xyz - normals * np.sum(normals * xyz, axis=1, keepdims=True)
    length = np.linalg.norm(xyz, axis=1)
    lost = length < 1e-8
    if lost.any():
        xyz[lost] = any_orthogonal(normals[lost])
        length[lost] = 1.0
    w = np.where(t[:, 3] < 0.0, -1.0, 1.0)
    return np.column_stack([xyz / length[:, None], w]).astype(np.float32)
