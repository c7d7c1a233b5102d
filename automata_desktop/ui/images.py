"""Pixels and image files → small QImages for thumbnails. Blocking: call from a worker thread.

QImage (unlike QPixmap) may be built off the GUI thread; the Qt thread only turns it into a pixmap
with `thumbnail_pixmap`, at the widget's device pixel ratio: on a 4K display (ratio 2) a 64 px box
is 128 pixels, and a 64-pixel pixmap is stretched to fill it, blurred.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap

from automata_desktop.core.texture_set import to_uint8

THUMB_SIZE = 96
#: Thumbnails are decoded at this many pixels per logical pixel: sharp up to a ratio of 2.
DECODE_SCALE = 2


def qimage_view(pixels: np.ndarray) -> tuple[QImage, np.ndarray]:
    """HxW (grey) or HxWxC (RGB/RGBA) pixels of any depth as a QImage reading an 8-bit array,
    and that array: the pixels themselves when they are 8-bit (no copy of a 4K map), else one
    8-bit copy. The image is valid as long as the array lives."""
    data = to_uint8(pixels)
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[..., 0]
    if data.ndim == 3 and data.shape[2] not in (3, 4):
        data = data[..., :3]
    data = np.ascontiguousarray(data)
    height, width = data.shape[:2]
    fmt = (QImage.Format.Format_Grayscale8 if data.ndim == 2 else
           QImage.Format.Format_RGBA8888 if data.shape[2] == 4 else QImage.Format.Format_RGB888)
    return QImage(data.data, width, height, data.strides[0], fmt), data


def array_to_qimage(pixels: np.ndarray) -> QImage:
    """`qimage_view`'s image with a copy of its own (to outlive the pixels)."""
    image, _data = qimage_view(pixels)
    return image.copy()


def thumbnail_of_pixels(pixels: np.ndarray, size: int = THUMB_SIZE) -> QImage:
    data = to_uint8(pixels)
    height, width = data.shape[:2]
    step = max(1, max(height, width) // (size * 2))  # cheap decimation first, then a smooth resize
    small = np.ascontiguousarray(data[::step, ::step])
    mode = "L" if small.ndim == 2 else ("RGBA" if small.shape[2] == 4 else "RGB")
    if small.ndim == 3 and small.shape[2] not in (3, 4):
        small, mode = np.ascontiguousarray(small[..., 0]), "L"
    image = Image.fromarray(small, mode)
    image.thumbnail((size, size), Image.Resampling.BILINEAR)
    return array_to_qimage(np.asarray(image))


def thumbnail_of_file(path: Path, size: int = THUMB_SIZE) -> QImage | None:
    """A thumbnail, or None if the file is gone or unreadable (a thumbnail is never worth an error)."""
    try:
        with Image.open(path) as image:
            if image.mode.startswith("I") or image.mode == "F":  # 16-bit height maps
                return thumbnail_of_pixels(np.asarray(image).astype(np.uint16, copy=False), size)
            image.draft("RGB", (size * 2, size * 2))  # JPEG: decode at reduced scale
            image.thumbnail((size, size), Image.Resampling.BILINEAR)
            if image.mode not in ("L", "RGB", "RGBA"):
                image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            return array_to_qimage(np.asarray(image))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def thumbnail_pixmap(image: QImage, size: int, dpr: float) -> QPixmap:
    """`image` fitted into a `size`×`size` logical box at `dpr` device pixels per logical pixel
    (pass `widget.devicePixelRatioF()`): size·dpr pixels, drawn at its logical size."""
    pixels = max(1, round(size * dpr))
    pixmap = QPixmap.fromImage(image).scaled(
        pixels, pixels, Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation)
    pixmap.setDevicePixelRatio(dpr)
    return pixmap
