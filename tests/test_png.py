"""The app's PNG reader: what the node pack writes reads back bit for bit, at full depth for
16-bit files (`read_png16`) and as the very array Pillow gives the app (`decode_png`); a file the
reader does not take (palette, transparency key, Paeth-filtered) says so with None and goes to
Pillow, a damaged one raises."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automata_desktop.core.png import decode_png, encode_png, read_png16
from automata_desktop.core.texture_set import decode_image, image_pixels, load_image

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_what_the_encoder_writes_reads_back_bit_for_bit(tmp_path: Path, channels: int) -> None:
    pixels = RNG.integers(0, 65536, (37, 53, channels), dtype=np.uint16)
    path = tmp_path / "map.png"
    path.write_bytes(encode_png(pixels))
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
    data = encode_png(RNG.integers(0, 65536, (16, 16, 3), dtype=np.uint16))
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


def _pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image_pixels(image)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_the_fast_reader_gives_the_array_pillow_gives(dtype: type, channels: int) -> None:
    # Smooth ramps (Sub and Up rows win) with noisy bands (None rows win): every filter it writes.
    top = np.iinfo(dtype).max
    y, x = np.mgrid[0:48, 0:40]
    smooth = (x * 7 + y * 3)[:, :, None] * np.arange(1, channels + 1)
    pixels = (smooth % (top + 1)).astype(dtype)
    pixels[20:28] = RNG.integers(0, top + 1, pixels[20:28].shape, dtype=dtype)
    data = encode_png(pixels)
    assert set(_filters(data)) == {0, 1, 2}
    if channels == 2 and dtype == np.uint16:  # Pillow makes RGBA of it: Pillow reads it
        assert decode_png(data) is None
        assert np.array_equal(decode_image(data), _pillow(data))
        return
    decoded = decode_png(data)
    assert decoded is not None
    assert decoded.dtype == _pillow(data).dtype
    assert np.array_equal(decoded, _pillow(data))


def test_a_map_the_node_writes_loads_through_the_fast_reader(tmp_path: Path) -> None:
    from comfy_nodes.images import png_bytes

    image = RNG.random((64, 64, 3)).astype(np.float32)
    path = tmp_path / "albedo.png"
    path.write_bytes(png_bytes(image))
    assert decode_png(path.read_bytes()) is not None
    assert np.array_equal(load_image(path), _pillow(path.read_bytes()))


def test_pngs_it_leaves_to_pillow_still_load(tmp_path: Path) -> None:
    rgb = RNG.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    keyed = io.BytesIO()
    Image.fromarray(rgb).save(keyed, format="PNG", transparency=(1, 2, 3))
    palette = io.BytesIO()
    Image.fromarray(rgb).convert("P").save(palette, format="PNG")
    interlaced = io.BytesIO()
    Image.fromarray(rgb).save(interlaced, format="PNG", interlace=1)
    for data in (keyed.getvalue(), palette.getvalue(), interlaced.getvalue()):
        assert decode_png(data) is None
        assert np.array_equal(decode_image(data), _pillow(data))


def test_a_stream_that_inflates_past_the_image_is_refused() -> None:
    import struct

    header = struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)
    rows = bytes(5 * 4) + bytes(10_000)  # 4 rows of 1 + 4 bytes, then far more than that
    data = _png_with(header, rows)
    with pytest.raises(ValueError, match="does not inflate to the image's size"):
        decode_png(data)


def test_damaged_data_is_an_error_not_pixels(tmp_path: Path) -> None:
    data = bytearray(encode_png(RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)))
    data[60:70] = b"\xff" * 10  # inside the compressed stream
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(data))
    from automata_desktop.core.texture_set import TextureError

    with pytest.raises(TextureError, match=r"damaged\.png"):
        load_image(path)


def _filters(data: bytes) -> list[int]:
    import struct

    pos, idat = 8, b""
    width = height = channels = depth = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    stride = width * channels * depth // 8 + 1
    raw = zlib.decompress(idat)
    return [raw[y * stride] for y in range(height)]


def _png_with(header: bytes, rows: bytes) -> bytes:
    import struct

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))
