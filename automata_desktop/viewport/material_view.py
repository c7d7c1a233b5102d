"""The adapter from our model (MeshData + TextureSet) to one PBR-shaded pyvista actor.

Two VTK pitfalls shape it:
- `add_mesh(pbr=True, texture=...)` puts the texture in the legacy slot that PBR shading ignores;
  textures must go through the property's PBR slots (SetBaseColorTexture, SetORMTexture, ...).
- A normal map needs per-vertex tangents (a "Tangents" point array), or it is silently ignored.
`prepare_textures` and `mesh_to_polydata` do the heavy copies and are safe to run in a worker
thread; the adapter itself must be used from the thread that renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pyvista as pv
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkImagingCore import vtkImageExtractComponents
from vtkmodules.vtkRenderingCore import vtkProperty, vtkTexture

from automata_desktop.core.maps import MapKind
from automata_desktop.core.mesh import MeshData
from automata_desktop.core.texture_set import TextureMap, TextureSet, to_uint8
from automata_desktop.viewport.tangents import vertex_tangents
from automata_desktop.viewport.textures import (
    make_texture,
    normalized_gray,
    texture_of_image,
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


@dataclass(eq=False)
class PreparedTextures:
    """The GPU-ready textures of a set; the unlit debug views are made from the same VTK images.

    No decoded pixels are kept: a view mode shares its map's vtkImageData (or extracts one channel
    of the ORM image when first shown), and the height map, which nothing else binds, is read
    again from `height` when its mode is picked.
    """

    base_color: vtkTexture | None = None
    normal: vtkTexture | None = None
    orm: vtkTexture | None = None
    emissive: vtkTexture | None = None
    #: Which ORM channels hold real data (a missing map shows as flat grey, not its default).
    orm_channels: frozenset[ViewMode] = frozenset()
    height: TextureMap | None = None
    _mode_cache: dict[ViewMode, vtkTexture] = field(default_factory=dict)

    def for_mode(self, mode: ViewMode) -> vtkTexture | None:
        """The texture shown unlit in a debug `mode` (None: the set lacks that map)."""
        if mode not in self._mode_cache:
            texture = self._make_for_mode(mode)
            if texture is None:
                return None
            self._mode_cache[mode] = texture
        return self._mode_cache[mode]

    def _make_for_mode(self, mode: ViewMode) -> vtkTexture | None:
        if mode == ViewMode.UV_CHECKER:
            return make_texture(uv_checker())
        if mode == ViewMode.BASE_COLOR and self.base_color is not None:
            # A linear twin on the same image: shown unlit, an sRGB-flagged texture would be
            # linearised and never re-encoded, so it would look too dark.
            return texture_of_image(self.base_color.GetInput())
        if mode == ViewMode.NORMAL:
            return self.normal
        if mode in self.orm_channels and self.orm is not None:
            return texture_of_image(_channel(self.orm.GetInput(), ORM_INDEX[mode]))
        if mode == ViewMode.HEIGHT and self.height is not None:
            return make_texture(normalized_gray(self.height.load().pixels))
        return None


ORM_INDEX = {ViewMode.AO: 0, ViewMode.ROUGHNESS: 1, ViewMode.METALLIC: 2}


def _channel(image: vtkImageData, index: int) -> vtkImageData:
    extract = vtkImageExtractComponents()
    extract.SetInputData(image)
    extract.SetComponents(index)
    extract.Update()
    return extract.GetOutput()


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
    base = textures.pixels(MapKind.BASE_COLOR)
    if base is None:
        base = embedded_base_color
    has_alpha = base is not None and base.ndim == 3 and base.shape[2] == 4
    if has_alpha and opaque:
        base = base[..., :3]
    elif has_alpha and alpha_cutoff is not None:
        base = to_uint8(base).copy()
        base[..., 3] = np.where(base[..., 3] >= round(alpha_cutoff * 255), 255, 0)
    normal = textures.pixels(MapKind.NORMAL)
    emissive = textures.pixels(MapKind.EMISSIVE)
    orm = textures.orm()
    present = set(textures.kinds)
    orm_channels = frozenset(
        mode for mode, kind in ((ViewMode.AO, MapKind.AO), (ViewMode.ROUGHNESS, MapKind.ROUGHNESS),
                                (ViewMode.METALLIC, MapKind.METALLIC))
        if orm is not None and (MapKind.ORM in present or kind in present)
    )
    return PreparedTextures(
        base_color=None if base is None else make_texture(base, srgb=True),
        normal=None if normal is None else make_texture(normal[..., :3]),
        orm=None if orm is None else make_texture(orm),
        emissive=None if emissive is None else make_texture(emissive, srgb=True),
        orm_channels=orm_channels,
        height=textures.get(MapKind.HEIGHT),
    )


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


class MaterialView:
    """One mesh actor in a plotter, shaded from a texture set, switchable between view modes.

    `look` (a scene_view.MaterialLook) carries the file's factors, alpha and sidedness; None draws
    with the app's defaults. Slider factors multiply the look's roughness and metallic.
    """

    def __init__(self, plotter: pv.Plotter, *, name: str = "automata-mesh") -> None:
        self._plotter = plotter
        self._name = name  # pyvista replaces an actor of the same name: one per part
        self.look = None
        self._actor: pv.Actor | None = None
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
        """Replace the shown mesh (textures and mode carry over)."""
        if self._actor is not None:
            self._plotter.remove_actor(self._actor, render=False)
        self._actor = self._plotter.add_mesh(
            polydata, pbr=True, color="white", smooth_shading=True, name=self._name,
            reset_camera=False, render=False,
        )
        self._apply()

    def remove(self) -> None:
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
        if self._mode == ViewMode.LIT:
            self._apply_pbr(prop)
        else:
            self._apply_unlit(prop, self._textures.for_mode(self._mode))

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

    def _apply_unlit(self, prop: vtkProperty, texture: vtkTexture | None) -> None:
        # Debug modes show a map's raw values: no lighting, no PBR (whose slots would reinterpret
        # the texture); a missing map shows as flat mid grey.
        prop.SetInterpolationToGouraud()
        prop.LightingOff()
        prop.SetOpacity(1.0)
        self._actor.SetForceTranslucent(False)
        if texture is None:
            prop.SetColor(0.5, 0.5, 0.5)
            return
        prop.SetColor(1.0, 1.0, 1.0)
        self._actor.SetTexture(texture)
