"""Pixels → vtkTexture, textures kept on the GPU only, and the viewport's procedural images.

VTK keeps a texture's input image for as long as the texture lives, and the GL driver keeps its
own copy (llvmpipe: four bytes a texel plus a third for mipmaps), so a shown 4K set was held
twice. `GpuOnlyTextures` drops the input once a frame has uploaded it and gives it back from the
map's source when the GL copy is lost (see its docstring).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkCommand
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkRenderingCore import vtkRenderWindow
from vtkmodules.vtkRenderingOpenGL2 import vtkOpenGLTexture

from automata_desktop.core.texture_set import to_uint8
from automata_desktop.errors import AutomataError
from automata_desktop.viewport.memory import return_freed_memory

log = logging.getLogger(__name__)

#: Gives a texture's pixels again (HxW or HxWxC, row 0 = top), e.g. re-read from the map's file.
Reload = Callable[[], np.ndarray]


def make_texture(pixels: np.ndarray, *, srgb: bool = False,
                 mipmap: bool = True) -> vtkOpenGLTexture:
    """A repeating, filtered texture from HxW or HxWxC pixels (row 0 = top of the image).

    VTK images start at the bottom row, as UVs do (v = 0 at the bottom), so rows are flipped here;
    forgetting it shows every texture upside down. `srgb` marks colour maps (base colour,
    emissive) so the shader linearises them; data maps (normal, ORM) must stay linear.

    The flipped copy is the only one made: VTK reads it in place (no deep copy, which would hold
    the GIL for tens of milliseconds at 4K and keep a second copy), and it lives as long as VTK's
    array does, so the caller may drop `pixels` right away.
    """
    return texture_of_image(image_of_pixels(pixels), srgb=srgb, mipmap=mipmap)


def image_of_pixels(pixels: np.ndarray) -> vtkImageData:
    """The vtkImageData a texture uploads, bottom row first.

    Grey becomes RGB: VTK maps one-channel scalars to an RGBA copy it keeps beside the input,
    and the driver stores either as four bytes a texel anyway.
    """
    data = to_uint8(pixels)
    flipped = data[::-1]
    return image_of_rows(np.repeat(flipped[..., None], 3, axis=2) if data.ndim == 2
                         else np.ascontiguousarray(flipped))


def image_of_rows(rows: np.ndarray) -> vtkImageData:
    """A vtkImageData viewing HxWxC uint8 `rows`, bottom row first (no copy: VTK keeps them)."""
    height, width, channels = rows.shape
    scalars = numpy_to_vtk(rows.reshape(-1, channels), deep=False)
    scalars.SetName("pixels")
    image = vtkImageData()
    image.SetDimensions(width, height, 1)
    image.GetPointData().SetScalars(scalars)
    return image


def texture_of_image(image: vtkImageData, *, srgb: bool = False,
                     mipmap: bool = True) -> vtkOpenGLTexture:
    """A repeating, filtered texture reading `image` (textures may share one image)."""
    texture = vtkOpenGLTexture()  # (not the factory's vtkTexture: its texture object is used)
    texture.SetInputData(image)
    texture.InterpolateOn()
    texture.RepeatOn()
    texture.SetMipmap(mipmap)
    texture.SetUseSRGBColorSpace(srgb)
    texture.SetColorModeToDirectScalars()
    return texture


def on_gpu_only(texture: vtkOpenGLTexture) -> bool:
    """Whether `texture` holds no pixels of its own any more, only its GL texture object."""
    return texture.GetInput() is None and texture.GetTextureObject() is not None


def texture_pixels(texture: vtkOpenGLTexture) -> np.ndarray:
    """What `texture` draws, as HxWxC uint8 rows top first (as in the image file).

    Its input until a frame uploads it; then the GL texture's own texels, read back from the
    driver (the only copy left), in the render window's context.
    """
    image = texture.GetInput()
    if image is not None:
        width, height, _ = image.GetDimensions()
        return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)[::-1]
    handle = texture.GetTextureObject()
    handle.GetContext().MakeCurrent()
    width, height, channels = handle.GetWidth(), handle.GetHeight(), handle.GetComponents()
    rows = np.empty((height, width, channels), np.uint8)
    if not handle.Download().Download2D(handle.GetVTKDataType(), rows, [width, height],
                                        channels, [0, 0]):
        raise RuntimeError("the GL texture could not be read back")
    return rows[::-1]


class GpuOnlyTextures:
    """Keeps the textures a view binds in one render window on the GPU only.

    After each frame, a texture VTK has uploaded is switched to an external texture object (its
    own: `SetTextureObject`), so VTK never reads its input again, and the input is dropped. The
    GL texture goes when the context does (the window re-created, or the actor removed from its
    renderer, which releases its graphics resources): before the next frame such a texture gets
    its pixels back from its `Reload` and is uploaded again, so nothing turns black. That reload
    decodes on the rendering thread; it happens only on those rare events, and VTK re-uploads and
    recompiles everything on that thread then anyway.
    """

    def __init__(self, render_window: vtkRenderWindow) -> None:
        self._window = render_window
        self._bound: list[tuple[vtkOpenGLTexture, Reload]] = []
        self._observers = [
            render_window.AddObserver(vtkCommand.StartEvent, self._restore_lost),
            render_window.AddObserver(vtkCommand.EndEvent, self._drop_uploaded),
        ]

    def bind(self, textures: Iterable[tuple[vtkOpenGLTexture, Reload]]) -> None:
        """The textures the view draws with now (the previous ones are left as they are)."""
        self._bound = list(textures)

    def close(self) -> None:
        for tag in self._observers:
            self._window.RemoveObserver(tag)
        self._observers, self._bound = [], []

    def _restore_lost(self, *_: object) -> None:
        for texture, reload in self._bound:
            if texture.GetInput() is not None:
                continue
            handle = texture.GetTextureObject()
            if handle is not None and handle.GetHandle() != 0:
                continue
            try:
                image = image_of_pixels(reload())
            except AutomataError as exc:  # the map's file went away meanwhile: it draws black
                log.warning("A texture could not be uploaded again: %s", exc)
                continue
            texture.SetTextureObject(None)  # VTK makes a new one from the input
            texture.SetInputData(image)

    def _drop_uploaded(self, *_: object) -> None:
        dropped = False
        for texture, _reload in self._bound:
            handle = texture.GetTextureObject()
            if texture.GetInput() is None or handle is None or handle.GetHandle() == 0:
                continue
            # Setting the same object again is a no-op in VTK: unset it first to mark it external.
            texture.SetTextureObject(None)
            texture.SetTextureObject(handle)
            texture.SetInputData(None)
            dropped = True
        if dropped:  # the driver's upload and mipmap scratch is freed by now, as are the pixels
            return_freed_memory()


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
