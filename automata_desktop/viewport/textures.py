"""Pixels → vtkTexture, and the procedural images the viewport needs (UV checker)."""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkRenderingCore import vtkTexture

from automata_desktop.core.texture_set import to_uint8


def make_texture(pixels: np.ndarray, *, srgb: bool = False, mipmap: bool = True) -> vtkTexture:
    """A repeating, filtered texture from HxW or HxWxC pixels (row 0 = top of the image).

    VTK images start at the bottom row, as UVs do (v = 0 at the bottom), so rows are flipped here;
    forgetting it shows every texture upside down. `srgb` marks colour maps (base colour,
    emissive) so the shader linearises them; data maps (normal, ORM) must stay linear.

    The flipped copy is the only one made: VTK reads it in place (no deep copy, which would hold
    the GIL for tens of milliseconds at 4K and keep a second copy), and it lives as long as VTK's
    array does, so the caller may drop `pixels` right away.
    """
    data = to_uint8(pixels)
    if data.ndim == 2:
        data = data[:, :, None]
    return texture_of_image(image_of_rows(np.ascontiguousarray(data[::-1])), srgb=srgb,
                            mipmap=mipmap)


def image_of_rows(rows: np.ndarray) -> vtkImageData:
    """A vtkImageData viewing HxWxC uint8 `rows`, bottom row first (no copy: VTK keeps them)."""
    height, width, channels = rows.shape
    scalars = numpy_to_vtk(rows.reshape(-1, channels), deep=False)
    scalars.SetName("pixels")
    image = vtkImageData()
    image.SetDimensions(width, height, 1)
    image.GetPointData().SetScalars(scalars)
    return image


def texture_of_image(image: vtkImageData, *, srgb: bool = False, mipmap: bool = True) -> vtkTexture:
    """A repeating, filtered texture reading `image` (textures may share one image)."""
    texture = vtkTexture()
    texture.SetInputData(image)
    texture.InterpolateOn()
    texture.RepeatOn()
    texture.SetMipmap(mipmap)
    texture.SetUseSRGBColorSpace(srgb)
    texture.SetColorModeToDirectScalars()
    return texture


def uv_checker(size: int = 512, cells: int = 8) -> np.ndarray:
    """An RGB checker whose colour drifts with u (red) and v (green), so flips and stretches show."""
    coords = (np.arange(size) + 0.5) / size
    u, v = np.meshgrid(coords, 1.0 - coords, indexing="xy")  # row 0 = top = v near 1
    checker = ((np.floor(u * cells) + np.floor(v * cells)) % 2).astype(np.float32)
    rgb = np.empty((size, size, 3), np.float32)
    rgb[..., 0] = 0.35 + 0.55 * u
    rgb[..., 1] = 0.35 + 0.55 * v
    rgb[..., 2] = 0.55
    rgb *= (0.55 + 0.45 * checker)[..., None]
    line = np.minimum((u * cells) % 1.0, (v * cells) % 1.0) < 0.03
    rgb[line] = 0.1
    return to_uint8(rgb)


def normalized_gray(pixels: np.ndarray) -> np.ndarray:
    """Stretch a single-channel map to the full 0..255 range for display (height maps are faint).

    Integer maps go through a lookup table: at 4K a float copy would be 64 MB for a 16 MB result.
    """
    gray = pixels if pixels.ndim == 2 else pixels[..., 0]
    low, high = gray.min(), gray.max()
    if float(high) - float(low) < 1e-6:
        return np.full(gray.shape, 128, np.uint8)
    if gray.dtype in (np.uint8, np.uint16):
        levels = np.arange(int(high) + 1, dtype=np.float64)
        table = np.clip(np.round((levels - int(low)) * 255 / (int(high) - int(low))), 0, 255)
        return table.astype(np.uint8)[gray]
    return to_uint8((gray.astype(np.float32) - float(low)) / (float(high) - float(low)))
