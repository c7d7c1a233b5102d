"""A PBR texture set: which map kinds a material has, where each came from, and their pixels.

Maps start as paths and are decoded on demand with `TextureSet.loaded()`, a pure function meant
for a worker thread (inflating releases the GIL, so a small thread pool decodes maps in
parallel; the node pack's PNGs go through the faster reader of `core.png`, everything else
through Pillow). Pixels keep their stored depth: 8-bit maps stay uint8, 16-bit grayscale (height
maps, usually) stays uint16 so derivations do not band; `to_uint8` converts for display.

A 4K map is 16-64 MB decoded. Once the viewport holds its own copy, `TextureSet.released()` drops
the decoded pixels of maps that have a file (keeping their size and a small thumbnail); they are
read again when needed (`loaded()`, `pixels()`).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

import numpy as np
from PIL import Image, UnidentifiedImageError

from automata_desktop.core import pbr as pbr_math
from automata_desktop.core import png
from automata_desktop.core.maps import PBR_MAPS, MapKind, infer_map_kind
from automata_desktop.errors import AutomataError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tga", ".tif", ".tiff", ".bmp", ".webp"})

#: Longest side of the thumbnail a released map keeps for the UI.
THUMBNAIL_SIZE = 128

#: What a missing channel of an ORM texture means (glTF: no AO = unoccluded, no metal = dielectric).
ORM_DEFAULTS = {MapKind.AO: 1.0, MapKind.ROUGHNESS: 1.0, MapKind.METALLIC: 0.0}


class TextureError(AutomataError):
    """A texture file could not be read, or a folder holds no recognisable maps."""


class MapSource(StrEnum):
    GENERATED = "generated"  # produced by a ComfyUI workflow
    DERIVED = "derived"  # computed from another map of the set (PBR math)
    IMPORTED = "imported"  # a file the user brought
    EMBEDDED = "embedded"  # the mesh file's own material (a GLB's image, an MTL's texture)


@dataclass(frozen=True, eq=False)
class TextureMap:
    """One map of a set. `pixels` is None until decoded; `path` is None for in-memory maps.

    A released map (see `released`) has no pixels but remembers its `size` and a `thumbnail`.
    """

    kind: MapKind
    source: MapSource = MapSource.IMPORTED
    path: Path | None = None
    pixels: np.ndarray | None = None
    thumbnail: np.ndarray | None = None  # small uint8 preview, at most THUMBNAIL_SIZE a side
    known_size: tuple[int, int] | None = None  # (width, height) of released pixels
    # Decodes the pixels again for a map with no file of its own (an image inside a GLB), so a
    # released embedded map need not keep its 4K pixels beside the viewport's copy.
    reader: Callable[[], np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.path is None and self.pixels is None and self.reader is None:
            raise ValueError(f"a {self.kind} map needs a path, pixels or a reader")

    @property
    def is_loaded(self) -> bool:
        return self.pixels is not None

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) once decoded (or decoded once, then released)."""
        if self.pixels is None:
            return self.known_size
        return self.pixels.shape[1], self.pixels.shape[0]

    def released(self) -> TextureMap:
        """This map without its decoded pixels if its file can give them back (else itself)."""
        if self.pixels is None or (self.path is None and self.reader is None):
            return self
        thumb = self.thumbnail if self.thumbnail is not None else thumbnail_pixels(self.pixels)
        return replace(self, pixels=None, thumbnail=thumb, known_size=self.size)

    def load(self) -> TextureMap:
        """This map with pixels decoded (itself if already decoded)."""
        if self.pixels is not None:
            return self
        if self.path is None:
            assert self.reader is not None
            return replace(self, pixels=self.reader())
        return replace(self, pixels=load_image(self.path))


@dataclass(frozen=True, eq=False)
class TextureSet:
    """An immutable map kind → TextureMap collection; `with_map` returns a changed copy."""

    maps: Mapping[MapKind, TextureMap] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        for kind, texture in self.maps.items():
            if texture.kind != kind:
                raise ValueError(f"{texture.kind} map filed under {kind}")
        object.__setattr__(self, "maps", MappingProxyType(dict(self.maps)))

    def __contains__(self, kind: object) -> bool:
        return kind in self.maps

    def __iter__(self) -> Iterator[TextureMap]:
        return iter(self.maps.values())

    def __len__(self) -> int:
        return len(self.maps)

    def get(self, kind: MapKind) -> TextureMap | None:
        return self.maps.get(kind)

    def pixels(self, kind: MapKind) -> np.ndarray | None:
        """A map's pixels; a released map is decoded again from its file (blocking, not cached)."""
        texture = self.maps.get(kind)
        if texture is None:
            return None
        return texture.pixels if texture.pixels is not None else texture.load().pixels

    def released(self) -> TextureSet:
        """A copy holding no decoded pixels that can be read again from a file (see module doc)."""
        return TextureSet({k: t.released() for k, t in self.maps.items()}, self.name)

    @property
    def kinds(self) -> tuple[MapKind, ...]:
        """Kinds present, in the order artists list them."""
        return tuple(k for k in PBR_MAPS if k in self.maps)

    def with_map(self, texture: TextureMap) -> TextureSet:
        return TextureSet({**self.maps, texture.kind: texture}, self.name)

    def without(self, kind: MapKind) -> TextureSet:
        return TextureSet({k: v for k, v in self.maps.items() if k != kind}, self.name)

    @classmethod
    def from_files(
        cls, paths: Iterable[str | Path], source: MapSource = MapSource.IMPORTED, name: str = ""
    ) -> TextureSet:
        """Sort image files into map kinds by their names; unknown names are skipped.

        When two files claim one kind, the first in name order wins (a log line says so).
        """
        maps: dict[MapKind, TextureMap] = {}
        for path in sorted(Path(p) for p in paths):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            kind = infer_map_kind(path.name)
            if kind not in PBR_MAPS:
                continue
            if kind in maps:
                log.info("ignoring %s: %s already provides the %s map", path, maps[kind].path, kind)
                continue
            maps[kind] = TextureMap(kind, source, path=path)
        return cls(maps, name)

    @classmethod
    def from_folder(
        cls, folder: str | Path, source: MapSource = MapSource.IMPORTED
    ) -> TextureSet:
        """The maps in `folder`, recognised by name (`*_basecolor.png`, `*_normal.png`, ...)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise TextureError(f"Cannot open maps folder {folder}: it does not exist")
        found = cls.from_files(folder.iterdir(), source, name=folder.name)
        if not found:
            raise TextureError(
                f"No texture maps found in {folder}: name files like brick_basecolor.png, "
                "brick_normal.png, brick_roughness.png"
            )
        return found

    def loaded(self, executor: Executor | None = None) -> TextureSet:
        """A copy with every map decoded. Blocking: run it off the UI thread.

        The first unreadable file raises TextureError naming it.
        """
        pending = [t for t in self.maps.values() if not t.is_loaded]
        if not pending:
            return self
        if executor is None:
            with ThreadPoolExecutor(max_workers=min(4, len(pending))) as pool:
                decoded = list(pool.map(TextureMap.load, pending))
        else:
            decoded = list(executor.map(TextureMap.load, pending))
        return TextureSet({**self.maps, **{t.kind: t for t in decoded}}, self.name)

    def with_derived_maps(self, settings: pbr_math.PBRSettings | None = None) -> TextureSet:
        """Fill the maps the set lacks (normal, height, roughness, AO) from its base colour.

        AI texturing models deliver a base colour only; derived maps are marked DERIVED so the UI
        can say so. Metallic is never guessed. Needs a decoded base colour, else returns self.
        """
        wanted = [MapKind.NORMAL, MapKind.HEIGHT, MapKind.ROUGHNESS, MapKind.AO]
        if MapKind.ORM in self.maps:
            wanted = [MapKind.NORMAL, MapKind.HEIGHT]
        missing = [k for k in wanted if k not in self.maps]
        base = self.pixels(MapKind.BASE_COLOR)
        if base is None or not missing:
            return self
        derived = pbr_math.derive_pbr(base, settings)
        # Stored at file depth, as if saved and read back: float32 would hold 4-12 bytes a pixel
        # for as long as the set is shown (derived maps have no file to re-read them from).
        arrays = {MapKind.NORMAL: (derived.normal, to_uint8),
                  MapKind.HEIGHT: (derived.height, to_uint16),
                  MapKind.ROUGHNESS: (derived.roughness, to_uint8),
                  MapKind.AO: (derived.ao, to_uint8)}
        maps = dict(self.maps)
        for kind in missing:
            array, stored = arrays[kind]
            maps[kind] = TextureMap(kind, MapSource.DERIVED, pixels=stored(array))
        return TextureSet(maps, self.name)

    def orm(self) -> np.ndarray | None:
        """Occlusion-roughness-metallic as HxWx3 uint8 (glTF packing), or None if the set has none.

        An ORM map is used as is; otherwise AO, roughness and metallic are packed at the largest of
        their sizes, a missing one filled with its ORM_DEFAULTS value. Maps must be decoded.
        """
        orm = self.maps.get(MapKind.ORM)
        if orm is not None:
            return to_uint8(_rgb(_pixels_of(orm)))
        parts = {k: _pixels_of(self.maps[k]) for k in ORM_DEFAULTS if k in self.maps}
        if not parts:
            return None
        height, width = max((p.shape[:2] for p in parts.values()), key=lambda s: s[0] * s[1])
        if all(p.dtype == np.uint8 and p.ndim == 2 and p.shape == (height, width)
               for p in parts.values()):
            # The common case (8-bit gray maps of one size): stack bytes, no float round trip.
            return np.stack([parts[kind] if kind in parts
                             else np.full((height, width), round(value * 255), np.uint8)
                             for kind, value in ORM_DEFAULTS.items()], axis=2)
        planes = {
            kind: _resized_gray(parts[kind], (height, width))
            if kind in parts else np.full((height, width), value, np.float32)
            for kind, value in ORM_DEFAULTS.items()
        }
        packed = pbr_math.pack_orm(planes[MapKind.AO], planes[MapKind.ROUGHNESS],
                                   planes[MapKind.METALLIC])
        return to_uint8(packed)


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image file to HxW or HxWxC (C = 3 or 4) pixels.

    uint8 for 8-bit files, uint16 for 16-bit grayscale, float32 for float TIFFs. Palette, CMYK
    and bilevel images become RGB(A)/L. Raises TextureError with the file name on failure.
    """
    path = Path(path)
    try:
        return decode_image(path.read_bytes())
    except FileNotFoundError as exc:
        raise TextureError(f"Cannot read texture {path}: the file does not exist") from exc
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise TextureError(f"Cannot read texture {path.name}: not a readable image ({exc})") from exc


def decode_image(data: bytes) -> np.ndarray:
    """`load_image` of a file's bytes: the PNGs the node pack writes by the fast reader (the same
    array), anything else by Pillow. Raises what Pillow raises, or ValueError."""
    pixels = png.decode_png(data)
    if pixels is not None:
        return pixels
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image_pixels(image)


def image_pixels(image: Image.Image) -> np.ndarray:
    """A decoded image as an array: 16-bit greys stay uint16, float greys float32, others 8-bit
    L/RGB/RGBA (palette and odd modes converted, keeping alpha when the image has any)."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(image, dtype=np.uint16)
    if mode == "I":  # Pillow widens 16-bit grayscale PNGs to 32-bit ints on some versions
        return np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
    if mode == "F":
        return np.asarray(image, dtype=np.float32)
    if mode in ("L", "RGB", "RGBA"):
        return np.asarray(image)
    has_alpha = "A" in mode or "transparency" in image.info
    if mode in ("LA", "La"):
        return np.asarray(image.convert("L"))
    return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Any decoded or derived pixels as uint8 (16-bit scaled down, float 0..1 scaled up)."""
    a = np.asarray(pixels)
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:
        return ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return np.round(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8)


def to_uint16(pixels: np.ndarray) -> np.ndarray:
    """Float 0..1 pixels as uint16 (for derived height maps: no banding, half float32's size)."""
    a = np.asarray(pixels)
    if a.dtype == np.uint16:
        return a
    if a.dtype == np.uint8:
        return a.astype(np.uint16) * 257
    return np.round(np.clip(a, 0.0, 1.0) * 65535).astype(np.uint16)


def thumbnail_pixels(pixels: np.ndarray, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """A uint8 preview at most `size` pixels a side (decimated first: no full-size copy)."""
    height, width = pixels.shape[:2]
    step = max(1, max(height, width) // (size * 2))
    small = to_uint8(np.ascontiguousarray(pixels[::step, ::step]))
    if small.ndim == 3 and small.shape[2] not in (3, 4):
        small = np.ascontiguousarray(small[..., 0])
    image = Image.fromarray(small)
    image.thumbnail((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image)


def _pixels_of(texture: TextureMap) -> np.ndarray:
    if texture.pixels is None:
        raise ValueError(f"the {texture.kind} map is not decoded yet: call TextureSet.loaded()")
    return texture.pixels


def _rgb(pixels: np.ndarray) -> np.ndarray:
    return pbr_math.to_rgb(pixels)


def grey_plane(pixels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A map's first channel as uint8 at `shape` (height, width), resampled bilinearly when its
    size differs (an occlusion or opacity image smaller than the map it is packed with)."""
    grey = to_uint8(pixels if pixels.ndim == 2 else pixels[..., 0])
    if grey.shape != tuple(shape):
        grey = np.asarray(Image.fromarray(np.ascontiguousarray(grey)).resize(
            (shape[1], shape[0]), Image.Resampling.BILINEAR))
    return grey


def _resized_gray(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    gray = pbr_math.to_gray(pixels)
    if gray.shape == shape:
        return gray
    resized = Image.fromarray(gray).resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)
