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
    """
    data = to_uint8(pixels)
    if data.ndim == 2:
        data = data[:, :, None]
    height, width, channels = data.shape
    flipped = np.ascontiguousarray(data[::-1]).reshape(-1, channels)
    image = vtkImageData()
    image.SetDimensions(width, height, 1)
    scalars = numpy_to_vtk(flipped, deep=True)
    scalars.SetName("pixels")
    image.GetPointData().SetScalars(scalars)
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
    """Stretch a single-channel map to the full 0..255 range for display (height maps are faint)."""
    gray = pixels if pixels.ndim == 2 else pixels[..., 0]
    gray = gray.astype(np.float32)
    low, high = float(gray.min()), float(gray.max())
    if high - low < 1e-6:
        return np.full(gray.shape, 128, np.uint8)
    return to_uint8((gray - low) / (high - low))
