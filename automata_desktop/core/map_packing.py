"""The maps each engine's material wants, computed from a decoded texture set.

Engines disagree on two things a name cannot fix:
  - the green channel of a normal map: OpenGL (Y+: glTF, Blender, Godot, Unity) points it up the
    image, DirectX (Y-: Unreal) down; converting is inverting green;
  - which grayscale maps share one texture: glTF/Unreal/Godot pack occlusion-roughness-metallic
    (R, G, B), Unity's metallic workflow wants metallic with smoothness (1 - roughness) in alpha,
    HDRP a mask map (R metallic, G occlusion, B detail mask, A smoothness).
Occlusion, roughness and metallic are read from their own maps, or from an ORM map's channels when
the set has only that. Outputs are uint8 (or the normal map's own depth); pure numpy, no I/O.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from automata_desktop.core import pbr as pbr_math
from automata_desktop.core import png
from automata_desktop.core.maps import MapKind
from automata_desktop.core.pbr import NormalConvention
from automata_desktop.core.texture_set import ORM_DEFAULTS, TextureSet, to_uint8, to_uint16

#: The three grayscale maps an ORM texture holds, in channel order R, G, B.
ORM_KINDS: tuple[MapKind, ...] = (MapKind.AO, MapKind.ROUGHNESS, MapKind.METALLIC)

#: HDRP's detail mask (blue of the mask map): white lets a detail map, once the artist adds one,
#: apply everywhere; with no detail map HDRP ignores it.
HDRP_DETAIL_MASK = 1.0


def normal_convention(value: object) -> NormalConvention:
    """A generation's `normal_convention` parameter ("OpenGL"/"DirectX", any case) as a literal.

    Anything else (absent, unknown) is OpenGL: every bundled workflow defaults to it.
    """
    return "directx" if str(value or "").strip().lower() == "directx" else "opengl"


def convert_normal(pixels: np.ndarray, source: NormalConvention,
                   target: NormalConvention) -> np.ndarray:
    """The normal map in `target`'s convention: green inverted when the two differ.

    Integer maps keep their depth (a 16-bit normal stays 16-bit); alpha is dropped.
    """
    a = np.asarray(pixels)
    rgb = a[..., :3] if a.ndim == 3 and a.shape[2] >= 3 else pbr_math.to_rgb(a)
    if source == target:
        return np.ascontiguousarray(rgb)
    out = np.array(rgb, copy=True)
    if out.dtype in (np.uint8, np.uint16):
        out[..., 1] = np.iinfo(out.dtype).max - out[..., 1]
    else:
        out[..., 1] = 1.0 - out[..., 1]
    return out


def grayscale_planes(textures: TextureSet) -> dict[MapKind, np.ndarray]:
    """Occlusion, roughness and metallic as float32 HxW planes of one size, for those present.

    A separate map wins over the ORM map's channel; the size is the largest among them.
    """
    planes: dict[MapKind, np.ndarray] = {}
    orm = textures.pixels(MapKind.ORM)
    if orm is not None:
        rgb = pbr_math.to_rgb(orm)
        for channel, kind in enumerate(ORM_KINDS):
            planes[kind] = np.ascontiguousarray(rgb[:, :, channel])
    for kind in ORM_KINDS:
        own = textures.pixels(kind)
        if own is not None:
            planes[kind] = pbr_math.to_gray(own)
    if not planes:
        return {}
    height, width = max((p.shape for p in planes.values()), key=lambda s: s[0] * s[1])
    return {kind: _resized(plane, (height, width)) for kind, plane in planes.items()}


def has_grayscale_maps(textures: TextureSet) -> bool:
    return any(kind in textures for kind in (*ORM_KINDS, MapKind.ORM))


def orm(textures: TextureSet) -> np.ndarray | None:
    """HxWx3 uint8 glTF/Unreal/Godot packing: R occlusion, G roughness, B metallic."""
    planes = grayscale_planes(textures)
    if not planes:
        return None
    return _stack(planes, [(MapKind.AO, None), (MapKind.ROUGHNESS, None),
                           (MapKind.METALLIC, None)])


def metallic_smoothness(textures: TextureSet) -> np.ndarray | None:
    """HxWx4 uint8 for Unity's metallic workflow (Built-in Standard, URP Lit).

    Unity reads metallic from red and smoothness from alpha; green and blue repeat metallic so the
    file previews as the metallic map it is.
    """
    planes = grayscale_planes(textures)
    if not planes:
        return None
    metal = (MapKind.METALLIC, None)
    return _stack(planes, [metal, metal, metal, (MapKind.ROUGHNESS, "smoothness")])


def hdrp_mask(textures: TextureSet) -> np.ndarray | None:
    """HxWx4 uint8 HDRP Lit mask map: R metallic, G occlusion, B detail mask, A smoothness."""
    planes = grayscale_planes(textures)
    if not planes:
        return None
    return _stack(planes, [(MapKind.METALLIC, None), (MapKind.AO, None), (None, "detail"),
                           (MapKind.ROUGHNESS, "smoothness")])


def single(textures: TextureSet, kind: MapKind) -> np.ndarray | None:
    """One grayscale map (occlusion, roughness or metallic) as HxW uint8, from its own map or ORM.

    For tools that wire separate maps only (Blender's Node Wrangler knows no ORM texture).
    """
    plane = grayscale_planes(textures).get(kind)
    return None if plane is None else to_uint8(plane)


def _stack(planes: dict[MapKind, np.ndarray],
           channels: list[tuple[MapKind | None, str | None]]) -> np.ndarray:
    shape = next(iter(planes.values())).shape
    out = np.empty((*shape, len(channels)), dtype=np.uint8)
    for index, (kind, how) in enumerate(channels):
        if kind is None:
            plane = np.full(shape, HDRP_DETAIL_MASK, np.float32)
        else:
            plane = planes.get(kind)
            if plane is None:
                plane = np.full(shape, ORM_DEFAULTS[kind], np.float32)
        if how == "smoothness":
            plane = 1.0 - plane
        out[:, :, index] = to_uint8(plane)
    return out


def _resized(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if plane.shape == shape:
        return plane
    image = Image.fromarray(np.ascontiguousarray(plane, np.float32))
    return np.asarray(image.resize((shape[1], shape[0]), Image.Resampling.BILINEAR), np.float32)


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of decoded pixels at their depth: 16-bit maps (height, a 16-bit normal) stay
    16-bit (float ones become 16-bit too: no banding), the rest is 8-bit; the node pack's
    encoder at level 6, so the app's reader takes them back fast."""
    a = np.asarray(pixels)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.dtype == np.uint16 or (a.ndim == 2 and a.dtype != np.uint8):
        return png.encode_png(to_uint16(a), 6)
    return png.encode_png(to_uint8(a), 6)
