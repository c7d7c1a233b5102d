"""16-bit PNGs at full depth: what the node pack writes reads back bit for bit; a file this
reader does not take (8-bit, Paeth-filtered) says so with None, a damaged one raises."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automata_desktop.core.png16 import encode_png16, read_png16

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_what_the_encoder_writes_reads_back_bit_for_bit(tmp_path: Path, channels: int) -> None:
    pixels = RNG.integers(0, 65536, (37, 53, channels), dtype=np.uint16)
    path = tmp_path / "map.png"
    path.write_bytes(encode_png16(pixels))
    assert np.array_equal(read_png16(path), pixels)


def test_rows_filtered_up_are_read_too(tmp_path: Path) -> None:
    pixels = RNG.integers(0, 65536, (9, 7, 3), dtype=np.uint16)
    raw = pixels.astype(">u2").reshape(9, -1).view(np.uint8)
    up = raw.copy()
    up[1:] -= raw[:-1]  # filter 2: each byte minus the one above
    body = np.concatenate([np.full((9, 1), 2, np.uint8), up], axis=1).tobytes()
    path = tmp_path / "up.png"
    path.write_bytes(_png(7, 9, 2, body))
    assert np.array_equal(read_png16(path), pixels)


def test_files_it_does_not_take_are_left_to_pillow(tmp_path: Path) -> None:
    eight = tmp_path / "eight.png"
    Image.fromarray(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(eight)
    assert read_png16(eight) is None
    paeth = tmp_path / "paeth.png"
    paeth.write_bytes(_png(2, 2, 2, bytes([4] + [0] * 12) * 2))
    assert read_png16(paeth) is None


def test_a_truncated_file_is_an_error(tmp_path: Path) -> None:
    data = encode_png16(RNG.integers(0, 65536, (16, 16, 3), dtype=np.uint16))
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        read_png16(path)


def _png(width: int, height: int, colour: int, rows: bytes) -> bytes:
    import struct

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0)
    out = io.BytesIO()
    out.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
              + chunk(b"IEND", b""))
    return out.getvalue()
