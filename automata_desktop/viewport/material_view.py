"""The adapter from our model (MeshData + TextureSet) to one PBR-shaded pyvista actor.

Two VTK pitfalls shape it:
- `add_mesh(pbr=True, texture=...)` puts the texture in the legacy slot that PBR shading ignores;
  textures must go through the property's PBR slots (SetBaseColorTexture, SetORMTexture, ...).
- A normal map needs per-vertex tangents (a "Tangents" point array), or it is silently ignored.
`prepare_textures` and `mesh_to_polydata` do the heavy copies and are safe to run in a worker
thread; the adapter itself must be used from the thread that renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import pyvista as pv
from vtkmodules.vtkCommonDataModel import vtkDataObject
from vtkmodules.vtkRenderingCore import vtkProperty
from vtkmodules.vtkRenderingOpenGL2 import vtkOpenGLPolyDataMapper, vtkOpenGLTexture

from automata_desktop.core.maps import MapKind
from automata_desktop.core.mesh import MeshData
from automata_desktop.core.texture_set import TextureMap, TextureSet, to_uint8
from automata_desktop.viewport.memory import map_large_blocks_apart
from automata_desktop.viewport.tangents import vertex_tangents
from automata_desktop.viewport.textures import (
    GpuOnlyTextures,
    Reload,
    make_texture,
    normalized_gray,
    uv_checker,
)

#: Albedo used when a set has no base colour map: light grey, so lighting still reads.
DEFAULT_BASE_COLOR = (0.8, 0.8, 0.8)
#: Scalar roughness/metallic when there is no ORM data (with ORM data they are multipliers: 1).
DEFAULT_ROUGHNESS, DEFAULT_METALLIC = 0.5, 0.0


class ViewMode(StrEnum):
    LIT = "lit"
    BASE_COLOR = "base_color"
    NORMAL = "normal"
    ROUGHNESS = "roughness"
    METALLIC = "metallic"
    AO = "ao"
    HEIGHT = "height"
    UV_CHECKER = "uv_checker"

    @property
    def label(self) -> str:
        return {"ao": "Ambient occlusion", "uv_checker": "UV checker"}.get(
            self.value, self.value.replace("_", " ").capitalize()
        )


#: An sRGB-format texture is linearised when sampled; shown unlit it must be encoded back.
#: ({s}: the texture read VTK writes into the fragment shader of an unlit view.)
_SRGB_ENCODED = ("vec4(mix(1.055 * pow({s}.rgb, vec3(1.0 / 2.4)) - 0.055, "
                 "12.92 * {s}.rgb, vec3(lessThan({s}.rgb, vec3(0.0031308)))), 1.0)")


@dataclass(frozen=True)
class DebugView:
    """A map shown unlit: its texture, and the GLSL that turns a sample into the shown colour
    (None: as sampled). The views read the lit view's own textures, so no copy is made."""

    texture: vtkOpenGLTexture
    reload: Reload
    read: str | None = None
    slot: str | None = None  # the PreparedTextures slot shown (None: made for the view)

    def shader_replacements(self, coords: str = "tcoord") -> dict[str, str]:
        """`coords`: the texture attribute VTK samples it with (see MaterialView)."""
        sample = f"texture(actortexture, {coords}VCVSOutput)"
        return {} if self.read is None else {sample: self.read.format(s=sample)}


@dataclass(eq=False)
class PreparedTextures:
    """The GPU-ready textures of a set; the unlit debug views sample the same textures.

    No decoded pixels are kept once a view has drawn them (see `GpuOnlyTextures`): `reloads`
    gives each slot's pixels again from the set's files (or the file's embedded images), and the
    height map, which nothing else binds, is read again from `height` when its mode is picked.
    """

    base_color: vtkOpenGLTexture | None = None
    normal: vtkOpenGLTexture | None = None
    orm: vtkOpenGLTexture | None = None
    emissive: vtkOpenGLTexture | None = None
    #: Which ORM channels hold real data (a missing map shows as flat grey, not its default).
    orm_channels: frozenset[ViewMode] = frozenset()
    height: TextureMap | None = None
    #: Slot name ("base_color", "normal", "orm", "emissive") → its pixels again.
    reloads: dict[str, Reload] = field(default_factory=dict, repr=False)
    _mode_cache: dict[ViewMode, DebugView] = field(default_factory=dict)

    def lit(self) -> list[tuple[vtkOpenGLTexture, Reload]]:
        """The textures the lit view binds, each with the way to get its pixels back."""
        return [(texture, self.reloads[slot]) for slot in SLOTS
                if (texture := getattr(self, slot)) is not None]

    def for_mode(self, mode: ViewMode) -> DebugView | None:
        """What is shown unlit in a debug `mode` (None: the set lacks that map)."""
        if mode not in self._mode_cache:
            view = self._make_for_mode(mode)
            if view is None:
                return None
            self._mode_cache[mode] = view
        return self._mode_cache[mode]

    def _make_for_mode(self, mode: ViewMode) -> DebugView | None:
        if mode == ViewMode.UV_CHECKER:
            return DebugView(make_texture(uv_checker()), uv_checker)
        if mode == ViewMode.BASE_COLOR and self.base_color is not None:
            return DebugView(self.base_color, self.reloads["base_color"], _SRGB_ENCODED,
                             "base_color")
        if mode == ViewMode.NORMAL and self.normal is not None:
            return DebugView(self.normal, self.reloads["normal"], slot="normal")
        if mode in self.orm_channels and self.orm is not None:
            channel = "rgb"[ORM_INDEX[mode]] * 3
            return DebugView(self.orm, self.reloads["orm"], f"vec4({{s}}.{channel}, 1.0)", "orm")
        if mode == ViewMode.HEIGHT and self.height is not None:
            height = self.height
            def gray() -> np.ndarray:
                return normalized_gray(height.load().pixels)
            return DebugView(make_texture(gray()), gray)
        return None


SLOTS = ("base_color", "normal", "orm", "emissive")
ORM_INDEX = {ViewMode.AO: 0, ViewMode.ROUGHNESS: 1, ViewMode.METALLIC: 2}


def _sources(textures: TextureSet, kinds: tuple[MapKind, ...]) -> TextureSet:
    """The maps of `kinds` without the decoded pixels a file or reader gives back (derived maps,
    which have neither, keep theirs: they are all there is)."""
    return TextureSet({k: replace(t, pixels=None) if t.path or t.reader else t
                       for k, t in textures.maps.items() if k in kinds}, textures.name)


def prepare_textures(
    textures: TextureSet, embedded_base_color: np.ndarray | None = None, *, opaque: bool = True,
    alpha_cutoff: float | None = None,
) -> PreparedTextures:
    """Build VTK textures from a decoded set (blocking: a worker thread is the place for it).

    `opaque` drops a base colour's alpha: VTK sorts an actor with an RGBA texture as translucent,
    and an opaque glTF material must ignore alpha anyway (glTF 2.0 §3.9.4). `alpha_cutoff`
    (glTF's MASK) makes alpha all or nothing: VTK has no alpha test, so a mask is drawn as a
    blend whose alpha is only 0 or 1, which looks the same and sorts without artefacts.
    """
    def base_of(maps: TextureSet) -> np.ndarray | None:
        base = maps.pixels(MapKind.BASE_COLOR)
        if base is None:
            base = embedded_base_color
        has_alpha = base is not None and base.ndim == 3 and base.shape[2] == 4
        if has_alpha and opaque:
            return base[..., :3]
        if has_alpha and alpha_cutoff is not None:
            base = to_uint8(base).copy()
            base[..., 3] = np.where(base[..., 3] >= round(alpha_cutoff * 255), 255, 0)
        return base

    def normal_of(maps: TextureSet) -> np.ndarray | None:
        normal = maps.pixels(MapKind.NORMAL)
        return None if normal is None else normal[..., :3]

    def orm_of(maps: TextureSet) -> np.ndarray | None:
        return maps.loaded().orm()

    def emissive_of(maps: TextureSet) -> np.ndarray | None:
        return maps.pixels(MapKind.EMISSIVE)

    makers = {"base_color": (base_of, (MapKind.BASE_COLOR,), True),
              "normal": (normal_of, (MapKind.NORMAL,), False),
              "orm": (orm_of, (MapKind.ORM, MapKind.AO, MapKind.ROUGHNESS, MapKind.METALLIC),
                      False),
              "emissive": (emissive_of, (MapKind.EMISSIVE,), True)}
    built: dict[str, vtkOpenGLTexture | None] = {}
    reloads: dict[str, Reload] = {}
    for slot, (pixels_of, kinds, srgb) in makers.items():
        pixels = pixels_of(textures)
        built[slot] = None if pixels is None else make_texture(pixels, srgb=srgb)
        del pixels
        if built[slot] is not None:
            sources = _sources(textures, kinds)
            reloads[slot] = lambda f=pixels_of, m=sources: f(m)
    present = set(textures.kinds)
    orm_channels = frozenset(
        mode for mode, kind in ((ViewMode.AO, MapKind.AO), (ViewMode.ROUGHNESS, MapKind.ROUGHNESS),
                                (ViewMode.METALLIC, MapKind.METALLIC))
        if built["orm"] is not None and (MapKind.ORM in present or kind in present)
    )
    return PreparedTextures(**built, orm_channels=orm_channels,
                            height=textures.get(MapKind.HEIGHT), reloads=reloads)


def mesh_to_polydata(mesh: MeshData) -> pv.PolyData:
    """Triangles with normals, UVs and (when UVs exist) the tangents normal mapping needs.

    Built from numpy without per-element Python or long VTK calls (VTK holds the GIL, and
    vtkPolyDataTangents on a million triangles would freeze the UI thread for ~80 ms): the
    connectivity is shared with VTK as is, the tangents come from `vertex_tangents`.
    """
    poly = pv.PolyData.from_regular_faces(mesh.vertices.astype(np.float32, copy=False),
                                          mesh.faces)
    poly.point_data.active_normals = mesh.normals
    if mesh.uvs is None:
        return poly
    poly.active_texture_coordinates = mesh.uvs
    poly.point_data.set_array(vertex_tangents(mesh), "Tangents")
    poly.GetPointData().SetActiveTangents("Tangents")
    return poly


#: VTK's PBR sampler of each PreparedTextures slot.
SLOT_SAMPLERS = {"base_color": "albedoTex", "normal": "normalTex", "orm": "materialTex",
                 "emissive": "emissiveTex"}


def slot_uvs_name(slot: str) -> str:
    """The point array of the UVs a slot's map reads when they are not the actor's own."""
    return f"{slot}_uv"


def add_slot_uvs(poly: pv.PolyData, mesh: MeshData, slot: str, uvs: np.ndarray) -> None:
    """Give `slot`'s map UVs of its own (VTK convention); a normal map's also get its tangents
    (`Tangents` follows the actor's UVs, which a map on another UV set does not)."""
    poly.point_data.set_array(uvs, slot_uvs_name(slot))
    if slot == "normal":
        tangents = vertex_tangents(MeshData(mesh.vertices, mesh.faces, mesh.normals, uvs))
        poly.point_data.set_array(tangents, f"{slot_uvs_name(slot)}_tangents")


class MaterialView:
    """One mesh actor in a plotter, shaded from a texture set, switchable between view modes.

    `look` (a scene_view.MaterialLook) carries the file's factors, alpha and sidedness; None draws
    with the app's defaults. Slider factors multiply the look's roughness and metallic.
    """

    def __init__(self, plotter: pv.Plotter, *, name: str = "automata-mesh") -> None:
        map_large_blocks_apart()  # before any set is decoded for a view (see viewport.memory)
        self._plotter = plotter
        self._name = name  # pyvista replaces an actor of the same name: one per part
        self.look = None
        self._actor: pv.Actor | None = None
        self._gpu: GpuOnlyTextures | None = None
        self._replacements: dict[str, str] = {}
        self._uv_arrays: dict[str, str] = {}  # sampler → point array it reads (mapped now)
        self._textures = PreparedTextures()
        self._mode = ViewMode.LIT
        self._wireframe = False
        self.roughness_factor: float | None = None  # None: the defaults above
        self.metallic_factor: float | None = None
        self.normal_scale = 1.0

    @property
    def actor(self) -> pv.Actor | None:
        return self._actor

    @property
    def vtk_property(self) -> vtkProperty | None:
        return None if self._actor is None else self._actor.GetProperty()

    @property
    def mode(self) -> ViewMode:
        return self._mode

    @property
    def textures(self) -> PreparedTextures:
        return self._textures

    def set_mesh(self, polydata: pv.PolyData) -> None:
        """Replace the shown mesh (textures and mode carry over).

        The actor stays and reads the new mesh: removing it from the renderer would release its
        textures' GL copies, the only ones kept (they would have to be decoded again).
        """
        if self._actor is not None:
            self._actor.GetMapper().SetInputData(polydata)
            self._uv_arrays = {}  # a new mesh: its arrays are mapped again
            self._apply()
            return
        self._actor = self._plotter.add_mesh(
            polydata, pbr=True, color="white", smooth_shading=True, name=self._name,
            reset_camera=False, render=False,
        )
        # pyvista's vtkDataSetMapper cannot give a texture its own UVs; the polydata mapper it
        # delegates to can (MapDataArrayToMultiTextureAttribute), so draw with one directly.
        mapper = vtkOpenGLPolyDataMapper()
        mapper.ShallowCopy(self._actor.GetMapper())
        mapper.SetInputData(polydata)
        self._actor.SetMapper(mapper)
        self._gpu = GpuOnlyTextures(self._plotter.ren_win)
        self._replacements, self._uv_arrays = {}, {}
        self._apply()

    def remove(self) -> None:
        if self._gpu is not None:
            self._gpu.close()
            self._gpu = None
        if self._actor is not None:
            self._plotter.remove_actor(self._actor, render=False)
            self._actor = None

    def set_textures(self, textures: PreparedTextures) -> None:
        self._textures = textures
        self._apply()

    def set_mode(self, mode: ViewMode) -> None:
        self._mode = ViewMode(mode)
        self._apply()

    def set_wireframe(self, visible: bool) -> None:
        self._wireframe = visible
        self._apply()

    @property
    def wireframe(self) -> bool:
        return self._wireframe

    def set_factors(
        self, *, roughness: float | None = None, metallic: float | None = None,
        normal_scale: float | None = None,
    ) -> None:
        if roughness is not None:
            self.roughness_factor = roughness
        if metallic is not None:
            self.metallic_factor = metallic
        if normal_scale is not None:
            self.normal_scale = normal_scale
        self._apply()

    def _apply(self) -> None:
        if self._actor is None:
            return
        prop = self._actor.GetProperty()
        prop.RemoveAllTextures()
        self._actor.SetTexture(None)
        prop.SetEdgeVisibility(self._wireframe)
        prop.SetEdgeColor(0.05, 0.05, 0.05)
        own = self._own_uv_slots()
        if self._mode == ViewMode.LIT:
            self._apply_pbr(prop)
            bound, replacements = self._textures.lit(), {}
            arrays = {SLOT_SAMPLERS[slot]: slot_uvs_name(slot) for slot in own}
            for slot in own:
                # VTK's PBR code samples every map at the actor's UVs ("tcoord"), whatever
                # texture attribute is mapped: point it at the slot's own.
                sampler = SLOT_SAMPLERS[slot]
                replacements[f"texture({sampler}, tcoordVCVSOutput)"] = \
                    f"texture({sampler}, {sampler}_coordVCVSOutput)"
        else:
            view = self._textures.for_mode(self._mode)
            self._apply_unlit(prop, view)
            bound = [] if view is None else [(view.texture, view.reload)]
            # The legacy texture honours a mapped attribute as it is ("<sampler>_coord").
            arrays = {"actortexture": slot_uvs_name(view.slot)} \
                if view is not None and view.slot in own else {}
            replacements = {} if view is None else view.shader_replacements(
                "actortexture_coord" if arrays else "tcoord")
        if self._gpu is not None:
            self._gpu.bind(bound)
        self._set_uv_arrays(arrays, tangents="normal" in own and self._mode == ViewMode.LIT)
        self._set_shader_replacements(replacements)

    def _own_uv_slots(self) -> set[str]:
        """Slots with a map bound that reads its own UV array (the file's map, on its UVs)."""
        poly = self._actor.GetMapper().GetInput()
        wanted = set() if self.look is None else set(self.look.own_uvs)
        return {slot for slot in wanted if getattr(self._textures, slot) is not None
                and poly.GetPointData().GetArray(slot_uvs_name(slot)) is not None}

    def _set_uv_arrays(self, arrays: dict[str, str], *, tangents: bool) -> None:
        """Map samplers to point arrays (only on a change: each rebuilds the vertex buffers), and
        make active the tangents of the UVs the normal map reads."""
        poly = self._actor.GetMapper().GetInput()
        own_tangents = f"{slot_uvs_name('normal')}_tangents"
        name = own_tangents if tangents and poly.GetPointData().GetArray(own_tangents) \
            else "Tangents"
        if poly.GetPointData().GetArray(name) is not None:
            active = poly.GetPointData().GetTangents()
            if active is None or active.GetName() != name:
                poly.GetPointData().SetActiveTangents(name)
        if arrays == self._uv_arrays:
            return
        mapper = self._actor.GetMapper()
        mapper.RemoveAllVertexAttributeMappings()
        for sampler, array in arrays.items():
            mapper.MapDataArrayToMultiTextureAttribute(
                sampler, array, vtkDataObject.FIELD_ASSOCIATION_POINTS)
        self._uv_arrays = dict(arrays)

    def _set_shader_replacements(self, replacements: dict[str, str]) -> None:
        """Fragment shader edits made after VTK's own (only on a change: each is a recompile)."""
        if replacements == self._replacements or self._actor is None:
            return
        shader = self._actor.GetShaderProperty()
        shader.ClearAllFragmentShaderReplacements()
        for original, replacement in replacements.items():
            shader.AddFragmentShaderReplacement(original, False, replacement, True)
        self._replacements = dict(replacements)

    def _apply_pbr(self, prop: vtkProperty) -> None:
        tex, look = self._textures, self.look
        prop.SetInterpolationToPBR()
        prop.LightingOn()
        if look is None:
            color = (1.0, 1.0, 1.0) if tex.base_color else DEFAULT_BASE_COLOR
            alpha, normal_scale, occlusion, emissive = 1.0, 1.0, 1.0, (1.0, 1.0, 1.0)
            file_rough = file_metal = None
        else:
            color = look.base_color[:3]
            if tex.base_color is None and look.base_color == (1.0, 1.0, 1.0, 1.0):
                color = DEFAULT_BASE_COLOR  # glTF's white default reads as a blank; grey shades
            alpha, normal_scale = look.base_color[3], look.normal_scale
            occlusion, emissive = look.occlusion_strength, look.emissive
            file_rough, file_metal = look.roughness, look.metallic
            # glTF: single-sided faces are culled from behind; BLEND draws see-through.
            prop.SetBackfaceCulling(not look.double_sided)
        prop.SetColor(*color)
        see_through = look is not None and look.alpha_mode in ("MASK", "BLEND")
        prop.SetOpacity(alpha if look is not None and look.alpha_mode == "BLEND" else 1.0)
        # VTK takes an RGBA base colour texture's alpha as opacity, but only sorts the actor into
        # the translucent pass for the property's opacity or the legacy texture: ask for it.
        self._actor.SetForceTranslucent(see_through)
        if tex.base_color is not None:
            prop.SetBaseColorTexture(tex.base_color)
        if tex.normal is not None:
            prop.SetNormalTexture(tex.normal)
            prop.SetNormalScale(self.normal_scale * normal_scale)
        if tex.orm is not None:
            prop.SetORMTexture(tex.orm)
            prop.SetOcclusionStrength(occlusion)
        if tex.emissive is not None:
            prop.SetEmissiveTexture(tex.emissive)
            prop.SetEmissiveFactor(*emissive)
        else:
            prop.SetEmissiveFactor(0.0, 0.0, 0.0)
        with_orm = tex.orm is not None
        rough = file_rough if file_rough is not None else 1.0 if with_orm else DEFAULT_ROUGHNESS
        metal = file_metal if file_metal is not None else 1.0 if with_orm else DEFAULT_METALLIC
        if self.roughness_factor is not None:
            rough = min(1.0, rough * self.roughness_factor) if file_rough is not None or with_orm \
                else self.roughness_factor
        if self.metallic_factor is not None:
            metal = min(1.0, metal * self.metallic_factor) if file_metal is not None or with_orm \
                else self.metallic_factor
        prop.SetRoughness(rough)
        prop.SetMetallic(metal)

    def _apply_unlit(self, prop: vtkProperty, view: DebugView | None) -> None:
        # Debug modes show a map's raw values: no lighting, no PBR (whose slots would reinterpret
        # the texture); a missing map shows as flat mid grey.
        prop.SetInterpolationToGouraud()
        prop.LightingOff()
        prop.SetOpacity(1.0)
        self._actor.SetForceTranslucent(False)
        if view is None:
            prop.SetColor(0.5, 0.5, 0.5)
            return
        prop.SetColor(1.0, 1.0, 1.0)
        self._actor.SetTexture(view.texture)
