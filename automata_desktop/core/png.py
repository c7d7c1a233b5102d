"""PNG pixels without Pillow where Pillow is slow: the maps the node pack writes.

A map reaches the viewer as soon as it is decoded, and a 2K map is mostly inflate time: the
system zlib that Pillow and the standard library use inflates a 2K RGB map of fine detail at
about 130 MB/s; libdeflate (`deflate`, a dependency of the app; zlib without it), which inflates
a whole buffer into one of a size known beforehand (a PNG's is), at two to three times that.
The rest of a PNG decode is undoing the row filters, which numpy does a whole row (or all the
Sub rows of the image) at a time for the filters None, Sub and Up: the ones the node pack's
encoder uses.

`decode_png` gives exactly the array Pillow gives the app for the files it takes (non-interlaced,
8 or 16 bits, grey/RGB with or without alpha but not 16-bit grey+alpha, no tRNS, rows filtered
None, Sub or Up) and None for the others (Average and Paeth rows, which libpng-style adaptive
encoders pick, need a per-byte loop: Pillow is the faster there). `read_png16` keeps a 16-bit
file's full depth, which Pillow cannot for colour (it reads 16-bit RGB as 8-bit), for a
re-encoded export.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from comfy_nodes.images import encode_png

try:
    import deflate as _libdeflate
except ImportError:  # pragma: no cover - a platform without the wheel: zlib, slower
    _libdeflate = None

__all__ = ["decode_png", "encode_png", "read_png16"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> channels (grey, RGB, grey+alpha, RGBA)


@dataclass(frozen=True)
class _Png:
    width: int
    height: int
    depth: int
    channels: int
    rows: np.ndarray  # height x stride raw bytes, filters undone


def decode_png(data: bytes | memoryview) -> np.ndarray | None:
    """The pixels `texture_set.image_pixels` makes of Pillow's decode of `data`, or None when
    this reader leaves the file to Pillow. Raises ValueError for a damaged PNG."""
    png = _read(data)
    if png is None or (png.depth == 16 and png.channels == 2):  # Pillow: grey+alpha as RGBA
        return None
    h, w, c = png.height, png.width, png.channels
    if png.depth == 8:
        pixels = png.rows.reshape(h, w, c)
    elif c == 1:  # 16-bit grey keeps its depth (Pillow's "I;16")
        return png.rows.view(">u2").reshape(h, w).astype(np.uint16)
    else:  # 16-bit colour: Pillow keeps the high byte of each sample
        pixels = png.rows.reshape(h, w, c, 2)[..., 0]
    if c <= 2:  # grey, or grey + alpha: the app's pixels are the grey (Pillow's LA -> L)
        return np.ascontiguousarray(pixels[..., 0])
    return np.ascontiguousarray(pixels)


def read_png16(path: str | Path) -> np.ndarray | None:
    """HxWxC uint16 pixels of a 16-bit PNG, or None when it is not one this reader takes (8-bit,
    palette, interlaced, Average/Paeth rows). Raises ValueError for a damaged file."""
    try:
        png = _read(Path(path).read_bytes())
    except ValueError as exc:
        raise ValueError(f"{Path(path).name}: {exc}") from None
    if png is None or png.depth != 16:
        return None
    return png.rows.view(">u2").reshape(png.height, png.width, png.channels).astype(np.uint16)


def _read(data: bytes | memoryview) -> _Png | None:
    view = memoryview(data)
    if bytes(view[:8]) != _SIGNATURE:
        return None
    header, idat, pos = None, [], len(_SIGNATURE)
    while pos + 8 <= len(view):
        length, kind = struct.unpack(">I4s", view[pos:pos + 8])
        body = view[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise ValueError(f"truncated PNG chunk {kind!r}")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind in (b"tRNS", b"PLTE"):  # a transparent colour or a palette: Pillow's job
            return None
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise ValueError("no PNG header")
    width, height, depth, colour, _, _, interlace = header
    if depth not in (8, 16) or colour not in _CHANNELS or interlace or not idat:
        return None
    if width * height > (Image.MAX_IMAGE_PIXELS or 2**62):
        return None  # Pillow's decompression-bomb check and message
    channels = _CHANNELS[colour]
    bpp = channels * depth // 8
    stride = width * bpp
    expected = height * (stride + 1)
    raw = _inflated(idat[0] if len(idat) == 1 else b"".join(idat), expected)
    if len(raw) != expected:
        raise ValueError("damaged PNG data (it does not inflate to the image's size)")
    rows = _unfiltered(np.frombuffer(raw, np.uint8).reshape(height, stride + 1), width, bpp)
    if rows is None:
        return None
    return _Png(width, height, depth, channels, rows)


def _inflated(stream: bytes | memoryview, size: int) -> bytes:
    """The image data, at most `size` bytes plus one: a stream that inflates past the image's
    size is not this image (and must not fill the memory)."""
    try:
        if _libdeflate is not None:
            return _libdeflate.zlib_decompress(stream, size)
        return zlib.decompressobj().decompress(stream, size + 1)
    except (zlib.error, getattr(_libdeflate, "DeflateError", zlib.error)):
        # libdeflate says only "Decompression failed", also for a stream longer than the image
        raise ValueError("damaged PNG data (it does not inflate to the image's size)") from None


def _unfiltered(rows: np.ndarray, width: int, bpp: int) -> np.ndarray | None:
    """The filters undone, or None for a row filtered Average or Paeth (or not a PNG filter).

    None and Sub rows depend on no other row, so they are undone first, all at once; each Up
    row then adds the finished row above it, in order. Each output byte is written once."""
    height = len(rows)
    filters, body = rows[:, 0], rows[:, 1:]
    if int(filters.max()) > 2:
        return None
    sub = np.flatnonzero(filters == 1)
    if sub.size == height:
        return np.cumsum(body.reshape(height, width, bpp), axis=1,
                         dtype=np.uint8).reshape(height, width * bpp)
    out = np.empty_like(body)
    plain = filters == 0
    out[plain] = body[plain]
    if sub.size:
        out[sub] = np.cumsum(body[sub].reshape(sub.size, width, bpp), axis=1,
                             dtype=np.uint8).reshape(sub.size, width * bpp)
    up = np.flatnonzero(filters == 2)
    if up.size and up[0] == 0:  # the row above the first is zeros
        out[0] = body[0]
        up = up[1:]
    for y in up:
        np.add(body[y], out[y - 1], out=out[y])
    return out
