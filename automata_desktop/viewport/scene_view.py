"""The adapter from a Scene to pyvista actors: one actor per material, each with its own PBR look.

A scene is drawn as the file made it: the primitives of each material are placed in world space and
merged into one polydata (one actor per material keeps a 1M-triangle scene to a handful of draw
calls), shaded from that material's own maps and factors (`MaterialLook`). The maps of a material
start as its embedded ones (`embedded_textures`, decoded lazily); a generation or the user replaces
them per material, and the view binds each material's set to its actor only.

glTF's metallic-roughness texture (G = roughness, B = metallic) and occlusion (R) map onto VTK's
ORM texture as they are: the same image when the file packs them, a packed copy when they are two,
and an occlusion strength of 0 when there is no occlusion (R of a bare MR image means nothing).

A VTK actor has one UV set: the material's first map's (TEXCOORD_n with its KHR_texture_transform
baked in). A map on another set or transform gets a UV array of its own (`own_uv_slots`), bound
to its sampler by MaterialView; VTK's PBR shader ignores such bindings, so MaterialView points
the sampling at them. ORM is one texture, so an occlusion on another UV set or transform than
its metallic-roughness image (AO baked on TEXCOORD_1) is resampled onto the latter's UVs through
the material's triangles (`core.uv_bake`, in the texture reader, off the Qt thread), and the scene
says so (`uv_bake_notices`).
`scene_parts` and `embedded_textures(...).loaded()` are heavy and safe in a worker thread; the
`SceneView` itself must be used from the rendering thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import pyvista as pv

from automata_desktop.core.maps import MapKind
from automata_desktop.core.material import (
    DEFAULT_MATERIAL,
    ImageSource,
    Material,
    TextureRef,
    TextureTransform,
)
from automata_desktop.core.mesh import MeshData
from automata_desktop.core.scene import Scene, mirrors, unit, world_normals, world_positions
from automata_desktop.core.texture_set import MapSource, TextureMap, TextureSet, grey_plane
from automata_desktop.core.uv_bake import bake_to_uvs
from automata_desktop.viewport.material_view import (
    DEFAULT_BASE_COLOR,
    MaterialView,
    PreparedTextures,
    ViewMode,
    add_slot_uvs,
    mesh_to_polydata,
)

MaterialKey = int | None  # an index into Scene.materials; None: primitives without a material


@dataclass(frozen=True)
class MaterialLook:
    """The non-texture part of a material as VTK's PBR properties take it.

    `roughness`/`metallic` None: the app's defaults (no file said anything). The file's factors
    only hold while the slot's map is the file's own: see `MaterialLook.over`.
    """

    base_color: tuple[float, float, float, float] = (*DEFAULT_BASE_COLOR, 1.0)
    roughness: float | None = None
    metallic: float | None = None
    normal_scale: float = 1.0
    occlusion_strength: float = 1.0
    emissive: tuple[float, float, float] = (1.0, 1.0, 1.0)  # factor × KHR strength
    alpha_mode: str = "OPAQUE"
    alpha_cutoff: float = 0.5
    double_sided: bool = True  # culling only where a glTF says single-sided
    # Slots whose map reads UVs of its own (see `own_uv_slots`): only while it is the file's map.
    own_uvs: frozenset[str] = frozenset()

    @classmethod
    def of(cls, material: Material, *, cull: bool = True) -> MaterialLook:
        if material is DEFAULT_MATERIAL:
            return cls()
        strength = material.emissive_strength
        return cls(
            base_color=tuple(material.base_color_factor),  # type: ignore[arg-type]
            roughness=material.roughness_factor, metallic=material.metallic_factor,
            normal_scale=material.normal_scale,
            occlusion_strength=material.occlusion_strength
            if material.occlusion_texture is not None else 0.0,
            emissive=tuple(c * strength for c in material.emissive_factor),  # type: ignore[arg-type]
            alpha_mode=material.alpha_mode, alpha_cutoff=material.alpha_cutoff,
            double_sided=material.double_sided or not cull,
            own_uvs=frozenset(own_uv_slots(material)),
        )

    def over(self, textures: TextureSet) -> MaterialLook:
        """This look with the file's factors dropped where the map is not the file's any more.

        A generated base colour is not tinted by the old factor; a generated roughness map is not
        scaled by the file's roughness factor; a new ORM has its own occlusion.
        """
        def replaced(*kinds: MapKind) -> bool:
            return any(textures.get(k) is not None and textures.get(k).source is not
                       MapSource.EMBEDDED for k in kinds)

        look = self
        # A map made for the model (generated, imported) is laid out on the actor's UVs.
        own = set(look.own_uvs)
        if replaced(MapKind.BASE_COLOR):
            look = replace(look, base_color=(1.0, 1.0, 1.0, look.base_color[3]))
            own.discard("base_color")
        if replaced(MapKind.ORM, MapKind.ROUGHNESS, MapKind.METALLIC, MapKind.AO):
            look = replace(look, roughness=None, metallic=None, occlusion_strength=1.0)
            own.discard("orm")
        if replaced(MapKind.EMISSIVE):
            look = replace(look, emissive=(1.0, 1.0, 1.0))
            own.discard("emissive")
        if replaced(MapKind.NORMAL):
            look = replace(look, normal_scale=1.0)
            own.discard("normal")
        return replace(look, own_uvs=frozenset(own))


@dataclass(frozen=True, eq=False)
class OcclusionBake:
    """A material's triangles in the UV spaces of its occlusion and of its metallic-roughness
    map (glTF convention, transforms applied), to resample the one into the other."""

    faces: np.ndarray  # (F, 3) int32
    occlusion_uv: np.ndarray  # (V, 2) float32
    mr_uv: np.ndarray  # (V, 2) float32
    texcoord: int  # the occlusion's TEXCOORD_n, for the notice
    transformed: bool  # the occlusion has a KHR_texture_transform of its own


@dataclass(frozen=True, eq=False)
class ScenePart:
    """The primitives of one material, in world space, ready for VTK."""

    material: MaterialKey
    name: str
    polydata: pv.PolyData
    uv_set: int  # the TEXCOORD the material's textures read
    triangles: int
    # (mesh index, TEXCOORD) of the file's own UV layouts this part draws with: two parts that
    # share one are laid out in one texture space (a model split into materials over one atlas).
    # Generated UVs are each primitive's own, so they share with nothing.
    uv_layouts: frozenset[tuple[int, int]] = frozenset()
    # Set when the material's occlusion reads other UVs than its metallic-roughness map.
    occlusion_bake: OcclusionBake | None = None

    def shares_uvs_with(self, other: ScenePart) -> bool:
        return bool(self.uv_layouts & other.uv_layouts)


def material_name(scene: Scene, key: MaterialKey) -> str:
    if key is None or key >= len(scene.materials):
        return "(no material)"
    return scene.materials[key].name or f"material {key}"


def texcoord_of(material: Material) -> int:
    """The UV set the material's maps read (its base colour's, else its first map's)."""
    ref = _primary_ref(material)
    return 0 if ref is None else ref.texcoord


def _primary_ref(material: Material) -> TextureRef | None:
    refs = [material.base_color_texture, *material.maps().values()]
    return next((r for r in refs if r is not None), None)


UvKey = tuple[int, TextureTransform | None]  # (TEXCOORD_n, KHR_texture_transform)


def _slot_refs(material: Material) -> dict[str, TextureRef]:
    """The texture each VTK slot draws (PreparedTextures' names), as the file gives it."""
    refs = {"base_color": material.base_color_texture, "normal": material.normal_texture,
            "orm": material.metallic_roughness_texture or material.occlusion_texture,
            "emissive": material.emissive_texture}
    return {slot: ref for slot, ref in refs.items() if ref is not None}


def own_uv_slots(material: Material) -> dict[str, UvKey]:
    """Slots whose map reads another UV set or transform than the actor's texture coordinates.

    VTK's actor has one UV set, which the primary map's (texcoord, transform) fills; each of
    these slots gets a point array `f"{slot}_uv"` of its own, which MaterialView binds to it
    (glTF's DamagedHelmet reads its emissive map from TEXCOORD_1, say).
    """
    primary = _primary_ref(material)
    if primary is None:
        return {}
    key = (primary.texcoord, primary.transform)
    return {slot: (ref.texcoord, ref.transform) for slot, ref in _slot_refs(material).items()
            if (ref.texcoord, ref.transform) != key}


def _occlusion_apart(material: Material) -> bool:
    """The occlusion reads another UV set or transform than the metallic-roughness map."""
    mr, occlusion = material.metallic_roughness_texture, material.occlusion_texture
    return mr is not None and occlusion is not None and \
        (mr.texcoord, mr.transform) != (occlusion.texcoord, occlusion.transform)


def _gltf_uvs(primitive, texcoord: int, transform: TextureTransform | None) -> np.ndarray:
    """A primitive's TEXCOORD_n (TEXCOORD_0 if it lacks it, zeros if it has none), transformed,
    in glTF's convention (v = 0 at the image's top)."""
    uv = primitive.uv(texcoord)
    uv = primitive.uv(0) if uv is None else uv
    return np.zeros((primitive.vertex_count, 2), np.float32) if uv is None \
        else transform.apply(uv) if transform is not None \
        else uv.astype(np.float32, copy=True)


def _vtk_uvs(primitive, texcoord: int, transform: TextureTransform | None) -> np.ndarray:
    """`_gltf_uvs` flipped into VTK's convention."""
    uv = _gltf_uvs(primitive, texcoord, transform)
    uv[:, 1] = 1.0 - uv[:, 1]  # glTF's top-left origin → VTK's bottom-left
    return uv


def _occlusion_bake(material: Material, primitives: list) -> OcclusionBake | None:
    """The triangles of `primitives` (each once, however many nodes place it) for the bake."""
    mr, occlusion = material.metallic_roughness_texture, material.occlusion_texture
    unique = list({id(p): p for p in primitives if p.uv(0) is not None}.values())
    if mr is None or occlusion is None or not unique or \
            not (mr.image.exists and occlusion.image.exists):
        return None
    offsets = np.cumsum([0] + [p.vertex_count for p in unique])[:-1]
    return OcclusionBake(
        faces=np.concatenate([p.faces + o for p, o in zip(unique, offsets, strict=True)])
        .astype(np.int32),
        occlusion_uv=np.concatenate([_gltf_uvs(p, occlusion.texcoord, occlusion.transform)
                                     for p in unique]),
        mr_uv=np.concatenate([_gltf_uvs(p, mr.texcoord, mr.transform) for p in unique]),
        texcoord=occlusion.texcoord, transformed=occlusion.transform != mr.transform)


def scene_parts(scene: Scene) -> list[ScenePart]:
    """One merged, world-space polydata per material, in the order the file first uses them."""
    groups: dict[MaterialKey, list] = {}
    for instance in scene.instances():
        primitive = scene.primitive(instance)
        key = primitive.material if primitive.material is not None and \
            primitive.material < len(scene.materials) else None
        groups.setdefault(key, []).append((primitive, instance.world, instance.mesh))
    parts = []
    for key, members in groups.items():
        material = scene.material_of(members[0][0])
        primary = _primary_ref(material)
        uv_set = 0 if primary is None else primary.texcoord
        transform = None if primary is None else primary.transform
        own = own_uv_slots(material)
        vertices, faces, normals, uvs = [], [], [], []
        slot_uvs: dict[str, list[np.ndarray]] = {slot: [] for slot in own}
        offset = 0
        with_uvs = any(p.uv(uv_set) is not None or p.uv(0) is not None for p, _, _ in members)
        layouts = frozenset((mesh, uv_set) for p, _, mesh in members
                            if p.uv(uv_set) is not None and not p.generated_uvs)
        for primitive, world, _ in members:
            vertices.append(world_positions(primitive.positions, world))
            normals.append(world_normals(primitive.normals, world))
            corners = primitive.faces[:, ::-1] if mirrors(world) else primitive.faces
            faces.append(corners + offset)
            if with_uvs:
                uvs.append(_vtk_uvs(primitive, uv_set, transform))
                for slot, (texcoord, slot_transform) in own.items():
                    slot_uvs[slot].append(_vtk_uvs(primitive, texcoord, slot_transform))
            offset += primitive.vertex_count
        mesh = MeshData(
            vertices=np.concatenate(vertices).astype(np.float32, copy=False),
            faces=np.concatenate(faces).astype(np.int64, copy=False),
            normals=unit(np.concatenate(normals)),
            uvs=np.concatenate(uvs) if with_uvs else None,
        )
        polydata = mesh_to_polydata(mesh)
        if with_uvs:
            for slot, arrays in slot_uvs.items():
                add_slot_uvs(polydata, mesh, slot, np.concatenate(arrays))
        bake = _occlusion_bake(material, [p for p, _, _ in members]) \
            if _occlusion_apart(material) else None
        parts.append(ScenePart(key, material_name(scene, key), polydata, uv_set,
                               mesh.triangle_count, layouts, bake))
    return parts


def uv_bake_notices(parts: Iterable[ScenePart]) -> tuple[str, ...]:
    """What the user should know of the occlusion maps resampled onto other UVs."""
    notices = []
    for part in parts:
        bake = part.occlusion_bake
        if bake is not None:
            how = f"TEXCOORD_{bake.texcoord}" + (" with its own texture transform"
                                                  if bake.transformed else "")
            notices.append(f'"{part.name}": occlusion on {how} baked onto the '
                           "metallic-roughness UVs.")
    return tuple(notices)


def _reader(source: ImageSource):
    """Decode `source` when asked and forget its cached copy (the viewport keeps its own)."""
    def read() -> np.ndarray:
        pixels = source.decode()
        source.release()
        return pixels
    return read


def _orm_reader(occlusion: TextureRef, mr: TextureRef, bake: OcclusionBake | None = None):
    """glTF's occlusion (R) and metallic-roughness (G, B) packed as one ORM; with `bake`, the
    occlusion is first resampled from its own UVs onto the metallic-roughness map's."""
    def read() -> np.ndarray:
        occ, rough_metal = occlusion.image.decode(), mr.image.decode()
        occlusion.image.release()
        mr.image.release()
        rgb = rough_metal if rough_metal.ndim == 3 else np.repeat(rough_metal[..., None], 3, 2)
        orm = np.array(rgb[..., :3], dtype=np.uint8)
        occ_r = occ if occ.ndim == 2 else occ[..., 0]
        if bake is not None:
            sampler = occlusion.sampler
            occ_r = bake_to_uvs(occ_r, bake.faces, bake.occlusion_uv, bake.mr_uv,
                                (orm.shape[1], orm.shape[0]),
                                wrap=(sampler.wrap_s, sampler.wrap_t))
        orm[..., 0] = grey_plane(occ_r, orm.shape[:2])  # exporters often halve AO
        return orm
    return read


def _full_orm_reader(occlusion: ImageSource):
    """Occlusion alone: R from the image, G and B 1 so the file's factors apply as they are."""
    def read() -> np.ndarray:
        occ = occlusion.decode()
        occlusion.release()
        occ_r = occ if occ.ndim == 2 else occ[..., 0]
        orm = np.full((*occ_r.shape[:2], 3), 255, np.uint8)
        orm[..., 0] = occ_r if occ_r.dtype == np.uint8 else (occ_r >> 8).astype(np.uint8)
        return orm
    return read


def _with_opacity_reader(base: ImageSource, opacity: ImageSource):
    """A base colour with a separate opacity map (an MTL's map_d) as its alpha, as VTK reads it."""
    def read() -> np.ndarray:

        colour, alpha = base.decode(), opacity.decode()
        base.release()
        opacity.release()
        rgb = colour if colour.ndim == 3 else np.repeat(colour[..., None], 3, 2)
        return np.dstack([rgb[..., :3], grey_plane(alpha, rgb.shape[:2])])
    return read


def embedded_textures(material: Material, part: ScenePart | None = None) -> TextureSet:
    """The maps a file's material brings, as a lazy set marked EMBEDDED (nothing decoded yet).

    Missing external files are left out (the scene's notices name them). `part`: the material's
    scene part, whose triangles resample an occlusion on other UVs (without it, the occlusion is
    read at the metallic-roughness map's UVs).
    """
    def usable(ref: TextureRef | None) -> bool:
        return ref is not None and ref.image.exists

    def embedded(kind: MapKind, read) -> TextureMap:
        return TextureMap(kind, MapSource.EMBEDDED, reader=read)

    maps: dict[MapKind, TextureMap] = {}
    slots = ((MapKind.BASE_COLOR, material.base_color_texture),
             (MapKind.NORMAL, material.normal_texture),
             (MapKind.EMISSIVE, material.emissive_texture),
             (MapKind.HEIGHT, material.height_texture),
             (MapKind.ROUGHNESS, material.roughness_texture),
             (MapKind.METALLIC, material.metallic_texture))
    for kind, ref in slots:
        if usable(ref):
            maps[kind] = embedded(kind, _reader(ref.image))
    base, opacity = material.base_color_texture, material.opacity_texture
    if usable(base) and usable(opacity):
        maps[MapKind.BASE_COLOR] = embedded(MapKind.BASE_COLOR,
                                            _with_opacity_reader(base.image, opacity.image))
    mr, occlusion = material.metallic_roughness_texture, material.occlusion_texture
    bake = part.occlusion_bake if part is not None else None
    if usable(mr) and usable(occlusion) and (mr.image is not occlusion.image or bake is not None):
        maps[MapKind.ORM] = embedded(MapKind.ORM, _orm_reader(occlusion, mr, bake))
    elif usable(mr):
        maps[MapKind.ORM] = embedded(MapKind.ORM, _reader(mr.image))
    elif usable(occlusion):
        maps[MapKind.ORM] = embedded(MapKind.ORM, _full_orm_reader(occlusion.image))
    if MapKind.ORM in maps:  # the packed map wins over separate MTL maps (one ORM texture in VTK)
        maps.pop(MapKind.ROUGHNESS, None)
        maps.pop(MapKind.METALLIC, None)
    return TextureSet(maps, name=material.name)


def uses_alpha(look: MaterialLook) -> bool:
    return look.alpha_mode in ("MASK", "BLEND")


class SceneView:
    """Actors for a scene's parts in one plotter; view mode, wireframe and sliders apply to all."""

    def __init__(self, plotter: pv.Plotter) -> None:
        self._plotter = plotter
        self.views: dict[MaterialKey, MaterialView] = {}
        self._mode = ViewMode.LIT
        self._wireframe = False
        self._factors: dict[str, float] = {}

    @property
    def mode(self) -> ViewMode:
        return self._mode

    def set_parts(self, parts: Iterable[ScenePart]) -> None:
        """Replace every actor with the parts of a new scene (textures come per material)."""
        for view in self.views.values():
            view.remove()
        self.views = {}
        for number, part in enumerate(parts):
            view = MaterialView(self._plotter, name=f"automata-part-{number}")
            view.set_mode(self._mode)
            view.set_wireframe(self._wireframe)
            if self._factors:
                view.set_factors(**self._factors)
            view.set_mesh(part.polydata)
            self.views[part.material] = view

    def set_material(self, key: MaterialKey, prepared: PreparedTextures,
                     look: MaterialLook) -> None:
        view = self.views.get(key)
        if view is not None:
            view.look = look
            view.set_textures(prepared)

    def material_of_actor(self, actor: object) -> MaterialKey | None:
        for key, view in self.views.items():
            if view.actor is actor:
                return key
        return None

    def set_mode(self, mode: ViewMode) -> None:
        self._mode = ViewMode(mode)
        for view in self.views.values():
            view.set_mode(mode)

    def set_wireframe(self, visible: bool) -> None:
        self._wireframe = visible
        for view in self.views.values():
            view.set_wireframe(visible)

    @property
    def wireframe(self) -> bool:
        return self._wireframe

    def set_factors(self, **factors: float) -> None:
        self._factors.update({k: v for k, v in factors.items() if v is not None})
        for view in self.views.values():
            view.set_factors(**factors)
