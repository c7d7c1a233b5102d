"""16-bit colour PNGs at full depth, which Pillow reads only as 8-bit RGB and cannot write.

Exporting a 16-bit normal map for an engine that wants the other convention (Unreal: DirectX)
means decoding it, flipping green and encoding it again; through Pillow that silently drops it
to 8 bits, banding the shading the 16 bits were there for. Writing uses the node pack's encoder
(the one that made the map). Reading handles what that encoder and most 16-bit writers that
favour speed emit: no interlacing and rows filtered None, Sub or Up, each undone with whole-row
numpy operations. Rows filtered Average or Paeth (libpng's adaptive choice) need a per-byte
loop that would take minutes in Python: `read_png16` returns None for those and the caller
falls back to Pillow's 8 bits.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from comfy_nodes.images import encode_png16

__all__ = ["encode_png16", "read_png16"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> channels (grey, RGB, grey+alpha, RGBA)


def read_png16(path: str | Path) -> np.ndarray | None:
    """HxWxC uint16 pixels of a 16-bit PNG, or None when it is not one this reader takes (8-bit,
    palette, interlaced, Average/Paeth rows). Raises ValueError for a damaged file."""
    data = Path(path).read_bytes()
    if not data.startswith(_SIGNATURE):
        return None
    header, idat, pos = None, [], len(_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise ValueError(f"{Path(path).name}: truncated PNG chunk {kind!r}")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise ValueError(f"{Path(path).name}: no PNG header")
    width, height, depth, colour, _, _, interlace = header
    if depth != 16 or colour not in _CHANNELS or interlace:
        return None
    channels = _CHANNELS[colour]
    stride = width * channels * 2
    raw = zlib.decompress(b"".join(idat))
    if len(raw) != height * (stride + 1):
        raise ValueError(f"{Path(path).name}: PNG data of the wrong size")
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    filters = rows[:, 0]
    if np.any(filters > 2):
        return None
    out = np.empty((height, stride), np.uint8)
    above = np.zeros(stride, np.uint8)
    bpp = channels * 2
    for y in range(height):  # each row depends on the one above: rows in turn, bytes at once
        row = rows[y, 1:]
        if filters[y] == 1:  # Sub: a running sum per byte position of the pixel, mod 256
            row = np.cumsum(row.reshape(width, bpp), axis=0, dtype=np.uint8).reshape(stride)
        elif filters[y] == 2:  # Up
            row = row + above
        out[y] = row
        above = out[y]
    return out.view(">u2").reshape(height, width, channels).astype(np.uint16)
