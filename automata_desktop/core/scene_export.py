"""A Scene, with a generated material on the materials it targets, as the GLB writer's objects.

`scene_to_gltf(scene, replacements)` keeps what the file had: the node tree with each node's local
transform, meshes shared between nodes, each primitive's vertices, normals, UV sets, colours and
tangents, and every material not replaced, its images copied as encoded (no re-compression). What
glTF 2.0 cannot hold is turned into what it can: an OBJ's separate roughness/metallic maps become
one metallic-roughness image, its opacity map the base colour's alpha, and a height map (glTF has
no slot) is handed back to be written beside the GLB.

`generated_material(textures, ...)` is a texture set as a glTF material: base colour (sRGB),
normal in OpenGL convention (a DirectX set is converted), one ORM image read by both occlusion (R)
and metallic-roughness (G roughness, B metallic), emissive. Pure; decoding is the caller's (the
texture set must be decoded, `TextureSet.loaded()`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from automata_desktop.core import map_packing
from automata_desktop.core import material as scene_material
from automata_desktop.core.gltf_export import (
    JPEG,
    PNG,
    GltfImage,
    GltfMaterial,
    GltfMesh,
    GltfNode,
    GltfPrimitive,
    GltfScene,
    Sampler,
    TextureSlot,
    TextureTransform,
)
from automata_desktop.core.maps import MapKind
from automata_desktop.core.pbr import NormalConvention
from automata_desktop.core.scene import Scene
from automata_desktop.core.texture_set import TextureError, TextureSet, grey_plane, to_uint8

_JPEG_SIGNATURE = b"\xff\xd8\xff"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, eq=False)
class GltfExport:
    """What `scene_to_gltf` made: the scene, height maps to write beside it, and notices."""

    scene: GltfScene
    heights: dict[str, np.ndarray] = field(default_factory=dict)  # material name -> height pixels
    notices: tuple[str, ...] = ()


def generated_material(textures: TextureSet, *, normal_convention: NormalConvention = "opengl",
                       like: scene_material.Material | None = None, name: str = "") -> GltfMaterial:
    """The set as a glTF material, keeping `like`'s name, alpha mode and sidedness.

    A set without metallic information is a dielectric (metallicFactor 0): glTF's default of 1
    would turn an untextured slot into polished metal.
    """
    base = textures.pixels(MapKind.BASE_COLOR)
    normal = textures.pixels(MapKind.NORMAL)
    emissive = textures.pixels(MapKind.EMISSIVE)
    orm = map_packing.orm(textures)
    orm_image = GltfImage.from_pixels(orm, "orm") if orm is not None else None
    has_occlusion = MapKind.AO in textures or MapKind.ORM in textures
    has_metal_rough = any(k in textures for k in (MapKind.ROUGHNESS, MapKind.METALLIC, MapKind.ORM))
    has_metal = MapKind.METALLIC in textures or MapKind.ORM in textures
    return GltfMaterial(
        name=like.name if like is not None and like.name else name,
        base_color=_slot(_colour(base), "base_color"),
        normal=_slot(None if normal is None
                     else to_uint8(map_packing.convert_normal(normal, normal_convention, "opengl")),
                     "normal"),
        metallic_roughness=TextureSlot(orm_image) if orm_image and has_metal_rough else None,
        occlusion=TextureSlot(orm_image) if orm_image and has_occlusion else None,
        metallic_factor=1.0 if has_metal else 0.0,
        emissive=_slot(_colour(emissive), "emissive"),
        emissive_factor=(1.0, 1.0, 1.0) if emissive is not None else (0.0, 0.0, 0.0),
        alpha_mode=like.alpha_mode if like is not None else "OPAQUE",
        alpha_cutoff=like.alpha_cutoff if like is not None else 0.5,
        double_sided=like.double_sided if like is not None else False,
    )


def scene_to_gltf(scene: Scene, replacements: Mapping[int | None, GltfMaterial] | None = None, *,
                  generator: str = "AUTOMATA Desktop") -> GltfExport:
    """The scene as glTF objects; `replacements` maps material indices to what replaces them
    (the key None: primitives that have no material, as in an STL).

    A primitive whose UVs the app generated (the file had none) keeps them only if its material
    reads textures: untextured, it is written as the file had it.
    """
    converter = _Converter(scene, dict(replacements or {}))
    roots = tuple(converter.node(index) for index in scene.roots)
    return GltfExport(GltfScene(roots, name=scene.name, generator=generator),
                      converter.heights, tuple(converter.notices))


class _Converter:
    def __init__(self, scene: Scene, replacements: dict[int | None, GltfMaterial]) -> None:
        self.scene = scene
        self.replacements = replacements
        self.heights: dict[str, np.ndarray] = {}
        self.notices: list[str] = []
        self._materials: dict[int, GltfMaterial] = {}
        self._images: dict[int, GltfImage | None] = {}
        self._meshes: dict[int, GltfMesh] = {}

    def node(self, index: int) -> GltfNode:
        node = self.scene.nodes[index]
        return GltfNode(
            name=node.name,
            mesh=self.mesh(node.mesh) if node.mesh is not None else None,
            matrix=node.matrix,
            children=tuple(self.node(child) for child in node.children),
        )

    def mesh(self, index: int) -> GltfMesh:
        if index not in self._meshes:
            mesh = self.scene.meshes[index]
            primitives = []
            for p in mesh.primitives:
                material = self.material(p.material) if p.material is not None \
                    else self.replacements.get(None)
                uvs = p.uvs
                if p.generated_uvs and (material is None or not any(material.slots())):
                    uvs = uvs[1:]
                primitives.append(GltfPrimitive(
                    positions=p.positions, triangles=p.faces, normals=p.normals, texcoords=uvs,
                    tangents=p.tangents if p.tangents is not None and uvs else None,
                    colors=p.colors, material=material))
            self._meshes[index] = GltfMesh(tuple(primitives), mesh.name)
        return self._meshes[index]

    def material(self, index: int) -> GltfMaterial | None:
        if index >= len(self.scene.materials):
            return None
        if index not in self._materials:
            replaced = self.replacements.get(index)
            self._materials[index] = replaced if replaced is not None \
                else self.convert(self.scene.materials[index])
        return self._materials[index]

    def convert(self, m: scene_material.Material) -> GltfMaterial:
        base = self.slot(m.base_color_texture, m.name, "base colour")
        if m.opacity_texture is not None:
            base = self.with_opacity(m, base)
        metal_rough = self.slot(m.metallic_roughness_texture, m.name, "metallic-roughness")
        if metal_rough is None and (m.roughness_texture or m.metallic_texture):
            metal_rough = self.packed_metal_rough(m)
        if m.height_texture is not None:
            pixels = self.pixels(m.height_texture, m.name, "height")
            if pixels is not None:
                self.heights[m.name or f"material {len(self.heights) + 1}"] = pixels
        return GltfMaterial(
            name=m.name,
            base_color=base,
            base_color_factor=m.base_color_factor,
            metallic_roughness=metal_rough,
            metallic_factor=m.metallic_factor,
            roughness_factor=m.roughness_factor,
            normal=self.slot(m.normal_texture, m.name, "normal"),
            normal_scale=m.normal_scale,
            occlusion=self.slot(m.occlusion_texture, m.name, "occlusion"),
            occlusion_strength=m.occlusion_strength,
            emissive=self.slot(m.emissive_texture, m.name, "emissive"),
            emissive_factor=m.emissive_factor,
            emissive_strength=m.emissive_strength,
            alpha_mode=m.alpha_mode,
            alpha_cutoff=m.alpha_cutoff,
            double_sided=m.double_sided,
        )

    # -- textures

    def slot(self, ref: scene_material.TextureRef | None, material: str,
             what: str) -> TextureSlot | None:
        if ref is None:
            return None
        image = self.image(ref.image, material, what)
        if image is None:
            return None
        return TextureSlot(image, ref.texcoord, _transform(ref.transform), _sampler(ref.sampler))

    def image(self, source: scene_material.ImageSource, material: str,
              what: str) -> GltfImage | None:
        """The image as it is in the file when glTF takes it (PNG, JPEG); else re-encoded PNG."""
        key = id(source)
        if key not in self._images:
            try:
                data = source.read_bytes()
            except TextureError as exc:
                self.notices.append(f"Material {material!r}: its {what} texture was left out "
                                    f"({exc})")
                self._images[key] = None
                return None
            mime = _sniff(data)
            if mime is None:  # TGA, BMP, TIFF from an MTL: glTF core takes PNG and JPEG only
                try:
                    data = map_packing.encode_png(source.decode())
                except TextureError as exc:
                    self.notices.append(f"Material {material!r}: its {what} texture was left "
                                        f"out ({exc})")
                    self._images[key] = None
                    return None
                mime = PNG
            self._images[key] = GltfImage(data, mime, source.name)
        return self._images[key]

    def pixels(self, ref: scene_material.TextureRef, material: str, what: str) -> np.ndarray | None:
        try:
            return ref.image.decode()
        except TextureError as exc:
            self.notices.append(f"Material {material!r}: its {what} texture was left out ({exc})")
            return None

    def packed_metal_rough(self, m: scene_material.Material) -> TextureSlot | None:
        """An MTL's map_Pr / map_Pm as one glTF image (G roughness, B metallic; missing = 1,
        so the material's factor shows through as it did)."""
        refs = [r for r in (m.roughness_texture, m.metallic_texture) if r is not None]
        planes = [None if r is None else self.pixels(r, m.name, what)
                  for r, what in ((m.roughness_texture, "roughness"),
                                  (m.metallic_texture, "metallic"))]
        present = [p for p in planes if p is not None]
        if not present:
            return None
        shape = max((p.shape[:2] for p in present), key=lambda s: s[0] * s[1])
        g, b = (np.full(shape, 255, np.uint8) if p is None else grey_plane(p, shape) for p in planes)
        packed = np.stack([np.zeros(shape, np.uint8), g, b], axis=2)
        ref = refs[0]
        return TextureSlot(GltfImage.from_pixels(packed, f"{m.name} metallic-roughness"),
                           ref.texcoord, _transform(ref.transform), _sampler(ref.sampler))

    def with_opacity(self, m: scene_material.Material, base: TextureSlot | None) -> TextureSlot | None:
        """An MTL's map_d as the base colour's alpha (glTF keeps opacity there)."""
        assert m.opacity_texture is not None
        opacity = self.pixels(m.opacity_texture, m.name, "opacity")
        if opacity is None:
            return base
        colour = None if m.base_color_texture is None \
            else self.pixels(m.base_color_texture, m.name, "base colour")
        shape = colour.shape[:2] if colour is not None else opacity.shape[:2]
        rgb = np.full((*shape, 3), 255, np.uint8) if colour is None \
            else to_uint8(colour)[..., :3] if colour.ndim == 3 \
            else np.repeat(to_uint8(colour)[..., None], 3, axis=2)
        rgba = np.concatenate([rgb, grey_plane(opacity, shape)[..., None]], axis=2)
        ref = m.base_color_texture or m.opacity_texture
        return TextureSlot(GltfImage.from_pixels(rgba, f"{m.name} base colour"), ref.texcoord,
                           _transform(ref.transform), _sampler(ref.sampler))


def _slot(pixels: np.ndarray | None, name: str) -> TextureSlot | None:
    return None if pixels is None else TextureSlot(GltfImage.from_pixels(pixels, name))


def _colour(pixels: np.ndarray | None) -> np.ndarray | None:
    """uint8 grey, RGB or RGBA (a grey+alpha or 16-bit map made displayable)."""
    if pixels is None:
        return None
    a = to_uint8(pixels)
    if a.ndim == 3 and a.shape[2] == 2:
        a = np.concatenate([np.repeat(a[..., :1], 3, axis=2), a[..., 1:]], axis=2)
    return np.ascontiguousarray(a)


def _sniff(data: bytes) -> str | None:
    if data.startswith(_PNG_SIGNATURE):
        return PNG
    if data.startswith(_JPEG_SIGNATURE):
        return JPEG
    return None


def _transform(t: scene_material.TextureTransform | None) -> TextureTransform | None:
    if t is None:
        return None
    return TextureTransform(offset=tuple(t.offset), rotation=t.rotation, scale=tuple(t.scale))


def _sampler(s: scene_material.Sampler) -> Sampler:
    return Sampler(mag_filter=s.mag_filter, min_filter=s.min_filter, wrap_s=s.wrap_s,
                   wrap_t=s.wrap_t)
