"""ComfyUI IMAGE batches ↔ numpy, image files → IMAGE, and PNG files at 8 or 16 bits per channel.

A ComfyUI IMAGE is a torch float32 tensor [B, H, W, C] in 0..1 (C = 3, sometimes 1 or 4), an
inference tensor on CPU or GPU. torch is ComfyUI's, never ours: tensors are recognised by duck
typing and results go back as torch only when torch came in.

The app's in-process runner reads its input with `load_image_file` and writes its maps with
`png_bytes`, so a workflow run there and one run on a ComfyUI give the same files.
"""

from __future__ import annotations

import struct
import zlib
from os import PathLike
from typing import Any

import numpy as np
from PIL import Image, ImageOps, ImageSequence

#: Modes Pillow gives 16-bit grayscale files ("I" on older versions).
_SIXTEEN_BIT_GRAY = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


def is_torch(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "torch"


def to_numpy_batch(image: Any) -> np.ndarray:
    """[B, H, W, C] float32 numpy from a torch tensor or an array ([H, W, C] gains a batch axis)."""
    if image is None:
        raise ValueError("no image connected")
    if hasattr(image, "cpu") and hasattr(image, "numpy"):
        image = image.detach().cpu().float().numpy()
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[None, :, :, None]
    elif a.ndim == 3:
        a = a[None] if a.shape[2] <= 4 else a[:, :, :, None]
    if a.ndim != 4 or not 1 <= a.shape[3] <= 4:
        raise ValueError(f"expected an IMAGE batch [B, H, W, C], got shape {tuple(a.shape)}")
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32) / np.float32(np.iinfo(a.dtype).max)
    return a.astype(np.float32, copy=False)


def like_input(batch: np.ndarray, template: Any) -> Any:
    """Return `batch` as a torch tensor when `template` was one, else unchanged."""
    if not is_torch(template):
        return batch
    import torch  # ComfyUI's own; only reached when a tensor came in

    return torch.from_numpy(np.ascontiguousarray(batch))


def as_image(channels: np.ndarray) -> np.ndarray:
    """An HxW or HxWxC map as a 3-channel HxWx3 image, which every ComfyUI node understands."""
    if channels.ndim == 2:
        return np.repeat(channels[:, :, None], 3, axis=2)
    if channels.shape[2] == 1:
        return np.repeat(channels, 3, axis=2)
    return channels[:, :, :3]


def load_image_file(path: str | PathLike[str]) -> np.ndarray:
    """The IMAGE batch [B, H, W, 3] that ComfyUI's core LoadImage makes of an image file.

    As LoadImage does: EXIF orientation applied, alpha dropped, every frame of the first frame's
    size (only the first of an MPO), and `uint8 / 255.0` in float32, so an 8-bit file gives
    bit-identical floats. One deliberate difference: LoadImage turns 16-bit grayscale into
    white (its RGB conversion clips at 255); here it keeps its 16 bits. Raises what Pillow raises
    (OSError, ValueError) for a missing or unreadable file.
    """
    frames: list[np.ndarray] = []
    with Image.open(path) as img:
        for frame in ImageSequence.Iterator(img):
            frame = ImageOps.exif_transpose(frame)
            if frame.mode in _SIXTEEN_BIT_GRAY:
                gray = np.clip(np.asarray(frame), 0, 65535).astype(np.float32) / 65535.0
                rgb = np.repeat(gray[:, :, None], 3, axis=2)
            else:
                rgb = np.asarray(frame.convert("RGB")).astype(np.float32) / 255.0
            if frames and rgb.shape != frames[0].shape:
                continue
            frames.append(rgb)
            if img.format == "MPO":  # its second frame is the other eye, not a batch member
                break
    return np.stack(frames)


def png_bytes(image: np.ndarray, *, bits: int = 8, gray: bool = False, level: int = 4) -> bytes:
    """Encode an HxWxC float 0..1 image as PNG. `gray` stores one channel (the first).

    Level 4 is what ComfyUI's SaveImage uses; the rows are filtered as `encode_png` says."""
    a = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    if a.ndim == 2:
        a = a[:, :, None]
    if gray:
        a = a[:, :, :1]
    elif a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if bits == 8:
        return encode_png((a * 255.0 + 0.5).astype(np.uint8), level)
    if bits != 16:
        raise ValueError(f"bit depth must be 8 or 16, not {bits}")
    return encode_png((a * 65535.0 + 0.5).astype(np.uint16), level)


def encode_png(pixels: np.ndarray, level: int = 4) -> bytes:
    """A PNG of HxW or HxWxC (C = 1..4) pixels: 8-bit for uint8, else 16-bit (0..65535).

    Pillow cannot write 16-bit colour, and its adaptive filtering often picks Paeth, whose
    undoing needs a per-byte loop; each row here takes whichever of None, Sub and Up gives the
    smallest sum of (signed) bytes, the heuristic libpng uses, so the app's reader undoes every
    row with whole-row operations (`automata_desktop.core.png`). Also the app's writer for
    re-encoded maps (an exported 16-bit normal map)."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    h, w, c = pixels.shape
    depth = 8 if pixels.dtype == np.uint8 else 16
    if depth == 8:
        raw = np.ascontiguousarray(pixels).reshape(h, w * c)
    else:
        big_endian = np.ascontiguousarray(pixels.astype(">u2", copy=False))
        raw = big_endian.reshape(h, w * c).view(np.uint8)
    bpp = c * depth // 8
    sub = raw.copy()
    sub[:, bpp:] -= raw[:, :-bpp]  # each byte minus the same byte of the pixel before
    up = raw.copy()
    up[1:] -= raw[:-1]  # each byte minus the one above
    choice = np.argmin([_cost(raw), _cost(sub), _cost(up)], axis=0)
    rows = np.empty((h, raw.shape[1] + 1), dtype=np.uint8)
    rows[:, 0] = choice
    rows[:, 1:] = up
    rows[choice == 0, 1:] = raw[choice == 0]
    rows[choice == 1, 1:] = sub[choice == 1]
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", ihdr),
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)),
            _chunk(b"IEND", b""),
        )
    )


def _cost(filtered: np.ndarray) -> np.ndarray:
    """Per row, the sum of the bytes read as signed (|-3| = 253 as uint8 -> 3)."""
    return np.minimum(filtered, np.negative(filtered)).sum(axis=1, dtype=np.int64)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
