"""glTF 2.0 (.gltf with its buffers, or .glb) read into a Scene from the JSON itself.

Why not trimesh's glTF loader: it merges or renames primitives, keeps only TEXCOORD_0 and the base
colour, forgets which UV set each texture reads and KHR_texture_transform, decodes every image while
loading, and fills zeros where DracoPy is missing. The format is small and fully specified: the JSON
says everything, numpy views the buffers (no Python loop per vertex), DracoPy decodes Draco.

Checks in the order they happen (each failure a MeshError naming the file and the fix):
1. GLB header: magic, version 2, declared length against the file (a cut-off download);
2. the JSON; asset.version 2.x (glTF 1.0 is another format);
3. extensionsRequired: any the app cannot honour is named (EXT_meshopt_compression, KTX2...);
4. buffers: data: URIs, the GLB BIN chunk, external files beside the .gltf (spaces and %20 alike);
5. every accessor's bytes inside its bufferView and buffer; every index inside its vertices.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np

from automata_desktop.core.material import (
    ImageSource,
    Material,
    Sampler,
    TextureRef,
    TextureTransform,
)
from automata_desktop.core.scene import Mesh, MeshError, Node, Primitive, Scene, vertex_normals

GLB_MAGIC = b"glTF"
_CHUNK_JSON = 0x4E4F534A
_CHUNK_BIN = 0x004E4942

#: Extensions a file may require that this reader honours.
SUPPORTED_EXTENSIONS = frozenset({
    "KHR_draco_mesh_compression",
    "KHR_mesh_quantization",  # integer attributes: the accessor reader handles every type
    "KHR_texture_transform",
    "KHR_materials_emissive_strength",
    "EXT_texture_webp",  # Pillow decodes WebP
    "MSFT_texture_dds",  # and DDS (BC1-BC7 and uncompressed)
})

# Why each extension we cannot honour matters, and what the user can do.
_UNSUPPORTED_HINTS = {
    "EXT_meshopt_compression": "meshopt-compressed geometry: export it again without meshopt "
                               "compression (Draco, which AUTOMATA reads, or none)",
    "KHR_meshopt_compression": "meshopt-compressed geometry: export it again without meshopt "
                               "compression (Draco, which AUTOMATA reads, or none)",
    "KHR_texture_basisu": "KTX2/Basis textures: export it with PNG or JPEG textures",
}

_COMPONENT_TYPES = {
    5120: np.dtype("<i1"), 5121: np.dtype("<u1"), 5122: np.dtype("<i2"),
    5123: np.dtype("<u2"), 5125: np.dtype("<u4"), 5126: np.dtype("<f4"),
}
_TYPE_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_TRIANGLES, _TRIANGLE_STRIP, _TRIANGLE_FAN = 4, 5, 6


def is_glb(data: bytes) -> bool:
    return data[:4] == GLB_MAGIC


def read_gltf(path: Path, data: bytes) -> Scene:
    """The scene of a .gltf/.glb file whose bytes are `data` (external files are read beside it)."""
    if is_glb(data):
        doc, binary = _split_glb(path, data)
        file_format = "GLB"
    else:
        doc, binary, file_format = _parse_json(path, data), None, "glTF"
    version = str(doc.get("asset", {}).get("version", ""))
    if not version.startswith("2"):
        raise MeshError(f"Cannot open {path.name}: it is glTF {version or '1.0'}, and AUTOMATA reads "
                        "glTF 2.0 (convert it, e.g. by importing and exporting it in Blender)")
    _check_required_extensions(path, doc)
    return _Reader(path, doc, binary).scene(file_format)


def _split_glb(path: Path, data: bytes) -> tuple[dict[str, Any], memoryview | None]:
    if len(data) < 20:
        raise MeshError(f"Cannot open {path.name}: the GLB is truncated ({len(data)} bytes)")
    _magic, version, length = struct.unpack_from("<4sII", data)
    if version not in (1, 2):
        raise MeshError(f"Cannot open {path.name}: the file is damaged (its GLB header says version "
                        f"{version})")
    if version == 1:
        raise MeshError(f"Cannot open {path.name}: it is a version {version} GLB, and AUTOMATA reads "
                        "glTF 2.0 (convert it, e.g. by importing and exporting it in Blender)")
    if length > len(data):
        raise MeshError(f"Cannot open {path.name}: the file is truncated: it holds {len(data):,} of "
                        f"the {length:,} bytes its header declares (the download or copy was cut "
                        "short: fetch it again)")
    view = memoryview(data)[:length]
    chunks: list[tuple[int, memoryview]] = []
    offset = 12
    while offset + 8 <= length:
        size, kind = struct.unpack_from("<II", view, offset)
        if offset + 8 + size > length:
            raise MeshError(f"Cannot open {path.name}: the file is damaged (a GLB chunk runs past "
                            "the end of the file)")
        chunks.append((kind, view[offset + 8: offset + 8 + size]))
        offset += 8 + size + (-size % 4)
    if not chunks or chunks[0][0] != _CHUNK_JSON:
        raise MeshError(f"Cannot open {path.name}: the file is damaged (its GLB header has no JSON "
                        "chunk)")
    doc = _parse_json(path, bytes(chunks[0][1]))
    binary = next((chunk for kind, chunk in chunks[1:] if kind == _CHUNK_BIN), None)
    return doc, binary


def _parse_json(path: Path, data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8-sig").rstrip(" \x00")
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) - 1:  # the document stops before it is complete
            raise MeshError(f"Cannot open {path.name}: the file is truncated: its JSON ends before "
                            "the document does (fetch it again)") from exc
        raise MeshError(f"Cannot open {path.name}: the file is damaged or not a glTF mesh (its JSON "
                        f"does not parse: {exc})") from exc
    except UnicodeDecodeError as exc:
        raise MeshError(f"Cannot open {path.name}: the file is damaged or not a glTF mesh (its JSON "
                        f"does not parse: {exc})") from exc
    if not isinstance(doc, dict):
        raise MeshError(f"Cannot open {path.name}: the file is damaged or not a glTF mesh")
    return doc


def _check_required_extensions(path: Path, doc: dict[str, Any]) -> None:
    missing = [name for name in doc.get("extensionsRequired", []) if name not in SUPPORTED_EXTENSIONS]
    if missing:
        hints = "; ".join(_UNSUPPORTED_HINTS[name] for name in missing if name in _UNSUPPORTED_HINTS)
        raise MeshError(f"Cannot open {path.name}: it requires the glTF extension"
                        f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}, which AUTOMATA "
                        f"cannot read{f' ({hints})' if hints else ''}")


def _local_matrix(node: dict[str, Any]) -> np.ndarray:
    if "matrix" in node:
        return np.array(node["matrix"], dtype=np.float64).reshape(4, 4).T  # glTF is column-major
    translation = np.eye(4)
    translation[:3, 3] = node.get("translation", (0, 0, 0))
    rotation = np.eye(4)
    rotation[:3, :3] = _quaternion_matrix(node.get("rotation", (0, 0, 0, 1)))
    scale = np.diag([*node.get("scale", (1, 1, 1)), 1.0])
    return translation @ rotation @ scale


def _quaternion_matrix(quaternion: Any) -> np.ndarray:
    x, y, z, w = (float(c) for c in quaternion)
    norm = math.sqrt(x * x + y * y + z * z + w * w) or 1.0
    x, y, z, w = x / norm, y / norm, z / norm, w / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


class _Reader:
    """One file's reading state: buffers and images are read once and shared."""

    def __init__(self, path: Path, doc: dict[str, Any], binary: memoryview | None) -> None:
        self.path, self.doc, self.binary = path, doc, binary
        self.notices: list[str] = []
        self._buffers: dict[int, memoryview] = {}
        self._images: dict[int, ImageSource] = {}
        self._draco_noticed = False

    def fail(self, reason: str) -> MeshError:
        return MeshError(f"Cannot open {self.path.name}: {reason}")

    def get(self, key: str, index: int) -> dict[str, Any]:
        items = self.doc.get(key, [])
        if not isinstance(index, int) or not 0 <= index < len(items):
            raise self.fail(f"the file is damaged ({key}[{index}] does not exist)")
        return items[index]

    # --- the scene -----------------------------------------------------------------------------

    def scene(self, file_format: str) -> Scene:
        meshes = tuple(self.mesh(i, m) for i, m in enumerate(self.doc.get("meshes", [])))
        nodes, roots = self.nodes(meshes)
        materials = tuple(self.material(i, m) for i, m in enumerate(self.doc.get("materials", [])))
        if self.doc.get("skins"):
            self.notices.append("Skinned meshes are shown in their rest pose (skins and animations "
                                "are not played).")
        return Scene(
            nodes=nodes, roots=roots, meshes=meshes, materials=materials, up_axis="Y",
            source=self.path, format=file_format,
            generator=self.doc.get("asset", {}).get("generator"),
            extensions_used=tuple(self.doc.get("extensionsUsed", [])),
            extensions_required=tuple(self.doc.get("extensionsRequired", [])),
            notices=tuple(self.notices),
        )

    def nodes(self, meshes: tuple[Mesh, ...]) -> tuple[tuple[Node, ...], tuple[int, ...]]:
        raw = self.doc.get("nodes", [])
        if not raw:  # legal: meshes without nodes are not drawn by viewers, but show them anyway
            eye = np.eye(4)
            return tuple(Node(m.name, eye, eye, mesh=i) for i, m in enumerate(meshes)), tuple(
                range(len(meshes)))
        parents: dict[int, int] = {}
        for index, node in enumerate(raw):
            for child in node.get("children", []):
                if not isinstance(child, int) or not 0 <= child < len(raw) or child in parents:
                    raise self.fail(f"the file is damaged (node {index} has an invalid child {child})")
                parents[child] = index
        scenes = self.doc.get("scenes", [])
        if scenes:
            chosen = self.doc.get("scene", 0)
            roots = tuple(self.get("scenes", chosen).get("nodes", []))
        else:
            roots = tuple(i for i in range(len(raw)) if i not in parents)
        local = [_local_matrix(node) for node in raw]
        world = list(local)
        seen: set[int] = set()
        stack = [(root, np.eye(4)) for root in roots]
        while stack:
            index, parent_world = stack.pop()
            if not isinstance(index, int) or not 0 <= index < len(raw) or index in seen:
                raise self.fail(f"the file is damaged (node {index} is referenced twice or missing)")
            seen.add(index)
            world[index] = parent_world @ local[index]
            stack.extend((child, world[index]) for child in raw[index].get("children", []))
        nodes = []
        for index, node in enumerate(raw):
            mesh = node.get("mesh")
            if mesh is not None and not (isinstance(mesh, int) and 0 <= mesh < len(meshes)):
                raise self.fail(f"the file is damaged (node {index} draws mesh {mesh}, which does "
                                "not exist)")
            name = node.get("name") or (meshes[mesh].name if mesh is not None else f"node {index}")
            nodes.append(Node(name, local[index], world[index], parents.get(index),
                              tuple(node.get("children", [])), mesh))
        return tuple(nodes), roots

    def mesh(self, index: int, mesh: dict[str, Any]) -> Mesh:
        name = mesh.get("name") or f"mesh {index}"
        raw = mesh.get("primitives", [])
        primitives, skipped = [], 0
        for p, prim in enumerate(raw):
            label = name if len(raw) == 1 else f"{name} #{p}"
            made = self.primitive(label, prim)
            if made is None:
                skipped += 1
            else:
                primitives.append(made)
        if skipped:
            self.notices.append(f"{name}: skipped {skipped} point or line primitive"
                                f"{'s' if skipped > 1 else ''} (only triangles are shown).")
        return Mesh(name, tuple(primitives))

    def primitive(self, label: str, prim: dict[str, Any]) -> Primitive | None:
        mode = prim.get("mode", _TRIANGLES)
        if mode not in (_TRIANGLES, _TRIANGLE_STRIP, _TRIANGLE_FAN):
            return None
        attributes: dict[str, int] = prim.get("attributes", {})
        draco = prim.get("extensions", {}).get("KHR_draco_mesh_compression")
        decoded = self.draco(draco) if draco is not None else None

        def attribute(semantic: str) -> np.ndarray | None:
            if semantic not in attributes:
                return None
            accessor = self.get("accessors", attributes[semantic])
            if decoded is not None and semantic in draco.get("attributes", {}):
                return _draco_attribute(decoded, draco["attributes"][semantic], accessor, self)
            return self.accessor(attributes[semantic])

        positions = attribute("POSITION")
        if positions is None:
            raise self.fail(f"the file is damaged ({label} has no POSITION attribute)")
        positions = positions.astype(np.float32, copy=False)
        if decoded is not None:
            indices = np.asarray(decoded.faces, dtype=np.int64).ravel()
        elif "indices" in prim:
            indices = self.accessor(prim["indices"], normalize=False).astype(np.int64).ravel()
        else:
            indices = np.arange(len(positions), dtype=np.int64)
        faces = _faces(indices, mode)
        if len(faces) and (faces.max() >= len(positions) or faces.min() < 0):
            raise self.fail(f"the file is damaged ({label}: faces point at vertices that are not "
                            "in the file)")
        normals = attribute("NORMAL")
        normals = vertex_normals(positions, faces) if normals is None else \
            normals.astype(np.float32, copy=False)
        uvs = []
        while f"TEXCOORD_{len(uvs)}" in attributes:
            uvs.append(attribute(f"TEXCOORD_{len(uvs)}").astype(np.float32, copy=False))
        colors = attribute("COLOR_0")
        if colors is not None:
            colors = colors.astype(np.float32, copy=False)
            if colors.shape[1] == 3:
                colors = np.column_stack([colors, np.ones(len(colors), np.float32)])
        tangents = attribute("TANGENT")
        for name, array in (("NORMAL", normals), ("COLOR_0", colors), ("TANGENT", tangents), *(
                (f"TEXCOORD_{i}", uv) for i, uv in enumerate(uvs))):
            if array is not None and len(array) != len(positions):
                raise self.fail(f"the file is damaged ({label}: {name} has {len(array)} values for "
                                f"{len(positions)} vertices)")
        if not np.isfinite(positions).all():
            raise self.fail(f"it has vertices at NaN or infinite positions ({label})")
        return Primitive(
            positions=positions, faces=faces, normals=normals, uvs=tuple(uvs),
            material=prim.get("material"), colors=colors,
            tangents=None if tangents is None else tangents.astype(np.float32, copy=False),
            name=label,
        )

    def draco(self, extension: dict[str, Any]) -> Any:
        try:
            import DracoPy
        except ImportError as exc:  # a dependency; only a broken install lacks it
            raise self.fail("its geometry is Draco-compressed (KHR_draco_mesh_compression) and "
                            "DracoPy is not installed: pip install DracoPy") from exc
        raw = self.view_bytes(extension.get("bufferView"))
        try:
            decoded = DracoPy.decode(bytes(raw))
        except Exception as exc:  # DracoPy raises its own and plain errors alike
            raise self.fail(f"the file is damaged (its Draco-compressed geometry does not decode: "
                            f"{exc})") from exc
        if not hasattr(decoded, "faces"):
            raise self.fail("the file is damaged (a Draco primitive holds points, not triangles)")
        if not self._draco_noticed:
            self.notices.append("Decoded Draco-compressed geometry (KHR_draco_mesh_compression).")
            self._draco_noticed = True
        return decoded

    # --- bytes ---------------------------------------------------------------------------------

    def buffer(self, index: int) -> memoryview:
        if index in self._buffers:
            return self._buffers[index]
        buffer = self.get("buffers", index)
        uri = buffer.get("uri")
        if uri is None:
            meshopt = buffer.get("extensions", {}).get("EXT_meshopt_compression", {})
            if meshopt.get("fallback"):
                hint = _UNSUPPORTED_HINTS["EXT_meshopt_compression"]
                raise self.fail("its geometry is meshopt-compressed (EXT_meshopt_compression), "
                                f"which AUTOMATA cannot read ({hint})")
            if index != 0 or self.binary is None:
                raise self.fail(f"the file is damaged (buffer {index} has no data)")
            data = self.binary
        elif uri.startswith("data:"):
            data = memoryview(_data_uri(uri, self))
        else:
            target = resolve_uri(self.path.parent, uri)
            if not target.is_file():
                raise self.fail(f"its geometry is in {unquote(uri)}, which is not beside it "
                                f"(looked for {target}): copy the .bin file next to the .gltf")
            data = memoryview(target.read_bytes())
        if len(data) < buffer.get("byteLength", 0):
            raise self.fail(f"the file is truncated: buffer {index} holds {len(data):,} of its "
                            f"{buffer['byteLength']:,} bytes (fetch the file again)")
        self._buffers[index] = data
        return data

    def view_bytes(self, index: int | None) -> memoryview:
        if index is None:
            raise self.fail("the file is damaged (a bufferView reference is missing)")
        view = self.get("bufferViews", index)
        data = self.buffer(view.get("buffer", 0))
        start, length = view.get("byteOffset", 0), view.get("byteLength", 0)
        if start + length > len(data):
            raise self.fail(f"the file is truncated: bufferView {index} runs past the end of its "
                            "buffer (fetch the file again)")
        return data[start: start + length]

    def accessor(self, index: int, *, normalize: bool = True) -> np.ndarray:
        """(count, components) array; normalized integers become floats in [0, 1] / [-1, 1]."""
        accessor = self.get("accessors", index)
        dtype = _COMPONENT_TYPES.get(accessor.get("componentType"))
        width = _TYPE_SIZES.get(accessor.get("type"))
        count = accessor.get("count", 0)
        if dtype is None or width is None:
            raise self.fail(f"the file is damaged (accessor {index} has an unknown type)")
        if "bufferView" in accessor:
            view_index = accessor["bufferView"]
            view = self.view_bytes(view_index)
            stride = self.get("bufferViews", view_index).get("byteStride") or dtype.itemsize * width
            start = accessor.get("byteOffset", 0)
            if count and start + stride * (count - 1) + dtype.itemsize * width > len(view):
                raise self.fail(f"the file is truncated or damaged (accessor {index} runs past the "
                                "end of its data)")
            array = np.ndarray((count, width), dtype=dtype, buffer=view, offset=start,
                               strides=(stride, dtype.itemsize)).copy()
        else:
            array = np.zeros((count, width), dtype=dtype)
        sparse = accessor.get("sparse")
        if sparse:
            array = self._apply_sparse(index, array, sparse, dtype, width)
        if normalize and accessor.get("normalized") and dtype.kind in "iu":
            return _normalized(array)
        return array

    def _apply_sparse(self, index: int, array: np.ndarray, sparse: dict[str, Any],
                      dtype: np.dtype, width: int) -> np.ndarray:
        count = sparse.get("count", 0)
        spec = sparse.get("indices", {})
        index_type = _COMPONENT_TYPES.get(spec.get("componentType"))
        if index_type is None:
            raise self.fail(f"the file is damaged (accessor {index}: bad sparse indices)")
        where = np.frombuffer(self.view_bytes(spec.get("bufferView")), dtype=index_type,
                              count=count, offset=spec.get("byteOffset", 0)).astype(np.int64)
        values_spec = sparse.get("values", {})
        values = np.frombuffer(self.view_bytes(values_spec.get("bufferView")), dtype=dtype,
                               count=count * width, offset=values_spec.get("byteOffset", 0))
        if len(where) and where.max() >= len(array):
            raise self.fail(f"the file is damaged (accessor {index}: sparse index out of range)")
        array = array.copy()
        array[where] = values.reshape(count, width)
        return array

    # --- materials -----------------------------------------------------------------------------

    def material(self, index: int, material: dict[str, Any]) -> Material:
        pbr = material.get("pbrMetallicRoughness", {})
        extensions = material.get("extensions", {})
        normal = material.get("normalTexture") or {}
        occlusion = material.get("occlusionTexture") or {}
        return Material(
            name=material.get("name") or f"material {index}",
            base_color_factor=tuple(float(c) for c in pbr.get("baseColorFactor", (1, 1, 1, 1))),
            base_color_texture=self.texture(pbr.get("baseColorTexture")),
            metallic_factor=float(pbr.get("metallicFactor", 1.0)),
            roughness_factor=float(pbr.get("roughnessFactor", 1.0)),
            metallic_roughness_texture=self.texture(pbr.get("metallicRoughnessTexture")),
            normal_texture=self.texture(normal),
            normal_scale=float(normal.get("scale", 1.0)),
            occlusion_texture=self.texture(occlusion),
            occlusion_strength=float(occlusion.get("strength", 1.0)),
            emissive_factor=tuple(float(c) for c in material.get("emissiveFactor", (0, 0, 0))),
            emissive_texture=self.texture(material.get("emissiveTexture")),
            emissive_strength=float(extensions.get("KHR_materials_emissive_strength", {}).get(
                "emissiveStrength", 1.0)),
            alpha_mode=material.get("alphaMode", "OPAQUE"),
            alpha_cutoff=float(material.get("alphaCutoff", 0.5)),
            double_sided=bool(material.get("doubleSided", False)),
            extensions=tuple(extensions),
        )

    def texture(self, info: dict[str, Any] | None) -> TextureRef | None:
        if not info or "index" not in info:
            return None
        texture = self.get("textures", info["index"])
        source = texture.get("source")
        extensions = texture.get("extensions", {})
        # WebP over the fallback (it is what the author meant); a DDS only without one (a PNG or
        # JPEG fallback is the better copy); KTX2/Basis needs a transcoder the app does not have.
        source = extensions.get("EXT_texture_webp", {}).get("source", source)
        if source is None:
            source = extensions.get("MSFT_texture_dds", {}).get("source")
        if source is None:
            self.notices.append(f"Texture {info['index']} has no image AUTOMATA can decode "
                                "(KTX2/Basis only); that slot is left empty.")
            return None
        texcoord = int(info.get("texCoord", 0))
        transform = None
        raw = info.get("extensions", {}).get("KHR_texture_transform")
        if raw is not None:
            transform = TextureTransform(
                offset=tuple(raw.get("offset", (0.0, 0.0))), rotation=float(raw.get("rotation", 0.0)),
                scale=tuple(raw.get("scale", (1.0, 1.0))))
            texcoord = int(raw.get("texCoord", texcoord))  # the extension overrides (its spec)
        sampler = Sampler()
        if "sampler" in texture:
            spec = self.get("samplers", texture["sampler"])
            sampler = Sampler(spec.get("magFilter"), spec.get("minFilter"),
                              spec.get("wrapS", 10497), spec.get("wrapT", 10497))
        return TextureRef(self.image(source), texcoord, transform, sampler)

    def image(self, index: int) -> ImageSource:
        if index in self._images:
            return self._images[index]
        image = self.get("images", index)
        mime = image.get("mimeType")
        uri = image.get("uri")
        if "bufferView" in image:
            source = ImageSource(image.get("name") or f"image {index}", "embedded",
                                 data=bytes(self.view_bytes(image["bufferView"])), mime_type=mime)
        elif uri and uri.startswith("data:"):
            source = ImageSource(image.get("name") or f"image {index}", "embedded",
                                 data=_data_uri(uri, self), mime_type=mime or _data_uri_mime(uri))
        elif uri:
            target = resolve_uri(self.path.parent, uri)
            source = ImageSource(Path(unquote(uri)).name, "external", path=target, mime_type=mime,
                                 uri=uri)
            if not target.is_file():
                self.notices.append(f"Texture {source.name} is missing (looked for {target}); "
                                    "its slot shows no image.")
        else:
            raise self.fail(f"the file is damaged (image {index} has neither data nor a file)")
        self._images[index] = source
        return source


def resolve_uri(folder: Path, uri: str) -> Path:
    """A relative URI as a path in `folder`. URIs should be %-encoded ("Milk%20Truck.png"), but
    exporters also write raw spaces, and a name may contain a literal "%20": try both."""
    decoded = folder / unquote(uri)
    if decoded.is_file():
        return decoded
    literal = folder / uri
    return literal if literal.is_file() else decoded


def _data_uri(uri: str, reader: _Reader) -> bytes:
    header, _, payload = uri.partition(",")
    try:
        return base64.b64decode(payload, validate=False) if header.endswith(";base64") \
            else unquote(payload).encode("latin-1")
    except (binascii.Error, ValueError) as exc:
        raise reader.fail(f"the file is damaged (a data: URI does not decode: {exc})") from exc


def _data_uri_mime(uri: str) -> str | None:
    mime = uri[5:].split(";", 1)[0].split(",", 1)[0]
    return mime or None


def _faces(indices: np.ndarray, mode: int) -> np.ndarray:
    if mode == _TRIANGLES:
        usable = len(indices) - len(indices) % 3
        return indices[:usable].reshape(-1, 3)
    count = max(len(indices) - 2, 0)
    i = np.arange(count)
    if mode == _TRIANGLE_FAN:
        return np.column_stack([np.full(count, indices[0]) if count else i, indices[i + 1],
                                indices[i + 2]]).astype(np.int64)
    # A strip flips every other triangle to keep one winding (glTF §3.7.2.1).
    odd = (i % 2).astype(bool)
    first = np.where(odd, indices[i + 1], indices[i]) if count else i
    second = np.where(odd, indices[i], indices[i + 1]) if count else i
    return np.column_stack([first, second, indices[i + 2]]).astype(np.int64)


def _normalized(array: np.ndarray) -> np.ndarray:
    info = np.iinfo(array.dtype)
    scaled = array.astype(np.float32) / info.max
    return np.maximum(scaled, -1.0) if info.min < 0 else scaled


def _draco_attribute(decoded: Any, unique_id: int, accessor: dict[str, Any],
                     reader: _Reader) -> np.ndarray:
    attribute = decoded.get_attribute_by_unique_id(unique_id)
    if attribute is None:
        raise reader.fail(f"the file is damaged (its Draco data has no attribute {unique_id})")
    width = _TYPE_SIZES.get(accessor.get("type"), attribute["num_components"])
    data = np.asarray(attribute["data"]).reshape(-1, width)
    if accessor.get("normalized") and data.dtype.kind in "iu":
        return _normalized(data)
    return data
