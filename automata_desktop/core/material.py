"""A material as glTF 2.0 defines it, with the textures it points at, decodable on demand.

`Material` holds the metallic-roughness PBR slots of glTF 2.0 (base colour, metallic-roughness with
G = roughness and B = metallic, normal + scale, occlusion in R + strength, emissive + factor and
`KHR_materials_emissive_strength`, alpha mode/cutoff, double-sided) plus the maps other formats
carry that glTF has no slot for (an MTL's separate roughness, metallic, opacity and height maps).

A `TextureRef` is one slot's use of an image: which UV set (`texcoord`, already overridden by
`KHR_texture_transform` when that says so), the transform, and the sampler. The `ImageSource` behind
it is lazy: it keeps the encoded bytes (an embedded GLB bufferView or a data: URI) or the path of an
external file, and decodes only when asked, so opening a GLB with 4K maps costs no decoding until the
viewport (in a worker thread) wants the pixels. One ImageSource object per image of the file: two
slots reading the same image (an ORM texture) hold the same object.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from automata_desktop.core.texture_set import TextureError, image_pixels

#: Map kinds `Material.maps()` reports, in the order artists list them (`automata inspect` uses them).
MAP_KINDS: tuple[str, ...] = (
    "base_color", "normal", "height", "roughness", "metallic", "metallic_roughness", "orm", "ao",
    "emissive", "opacity",
)

AlphaMode = Literal["OPAQUE", "MASK", "BLEND"]

# glTF sampler constants (WebGL enums).
REPEAT = 10497


@dataclass(frozen=True, eq=False)
class ImageSource:
    """An image a material uses: encoded bytes in the file, or a file beside it.

    `origin` is "embedded" (a GLB bufferView or a data: URI) or "external" (a file on disk, which
    may be missing: `exists` says so, and the scene's notices name it).
    """

    name: str  # what the user recognises: the file name, or the glTF image's name / "image 2"
    origin: Literal["embedded", "external"]
    data: bytes | None = None
    path: Path | None = None
    mime_type: str | None = None
    uri: str | None = None  # as written in the file (external files, before %-decoding)
    _cache: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    @property
    def exists(self) -> bool:
        return self.data is not None or (self.path is not None and self.path.is_file())

    def read_bytes(self) -> bytes:
        """The encoded image (PNG, JPEG...), for an exporter that copies it unchanged."""
        if self.data is not None:
            return self.data
        if self.path is None or not self.path.is_file():
            raise TextureError(f"Cannot read texture {self.name}: the file {self.path} does not exist")
        return self.path.read_bytes()

    def size(self) -> tuple[int, int] | None:
        """(width, height) read from the image header only; None if it cannot be read."""
        if "size" not in self._cache:
            try:
                with Image.open(self._stream()) as image:
                    self._cache["size"] = image.size
            except (TextureError, UnidentifiedImageError, OSError, ValueError):
                self._cache["size"] = None
        return self._cache["size"]  # type: ignore[return-value]

    def decode(self) -> np.ndarray:
        """HxW (grey, uint8 or uint16) or HxWxC (C = 3, 4; uint8) pixels, cached. Blocking.

        Raises TextureError naming the image if it is missing or not a readable image.
        """
        cached = self._cache.get("pixels")
        if cached is not None:
            return cached  # type: ignore[return-value]
        try:
            with Image.open(self._stream()) as image:
                image.load()
                pixels = image_pixels(image)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise TextureError(f"Cannot read texture {self.name}: not a readable image ({exc})") from exc
        pixels.setflags(write=False)  # shared by every slot that uses this image
        self._cache["pixels"] = pixels
        return pixels

    def release(self) -> None:
        """Forget the decoded pixels (the viewport has its own copy); `decode` reads them again."""
        self._cache.pop("pixels", None)

    def _stream(self) -> io.BytesIO | Path:
        if self.data is not None:
            return io.BytesIO(self.data)
        if self.path is None or not self.path.is_file():
            raise TextureError(f"Cannot read texture {self.name}: the file {self.path} does not exist")
        return self.path


@dataclass(frozen=True)
class TextureTransform:
    """KHR_texture_transform: uv' = T(offset) · R(rotation) · S(scale) · uv, in glTF UV space."""

    offset: tuple[float, float] = (0.0, 0.0)
    rotation: float = 0.0  # radians, counter-clockwise in UV space
    scale: tuple[float, float] = (1.0, 1.0)

    def matrix(self) -> np.ndarray:
        """The 3x3 matrix the extension's specification writes down."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        translation = np.array([[1, 0, self.offset[0]], [0, 1, self.offset[1]], [0, 0, 1]])
        rotation = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]])
        scale = np.array([[self.scale[0], 0, 0], [0, self.scale[1], 0], [0, 0, 1]])
        return translation @ rotation @ scale

    def apply(self, uvs: np.ndarray) -> np.ndarray:
        m = self.matrix()
        return (uvs @ m[:2, :2].T + m[:2, 2]).astype(np.float32)


@dataclass(frozen=True)
class Sampler:
    """glTF sampler (WebGL enums); None filters mean "the renderer's choice"."""

    mag_filter: int | None = None
    min_filter: int | None = None
    wrap_s: int = REPEAT
    wrap_t: int = REPEAT


@dataclass(frozen=True, eq=False)
class TextureRef:
    """One slot's use of an image: UV set, transform and sampler."""

    image: ImageSource
    texcoord: int = 0  # TEXCOORD_n; KHR_texture_transform's texCoord already applied
    transform: TextureTransform | None = None
    sampler: Sampler = field(default_factory=Sampler)


@dataclass(frozen=True, eq=False)
class Material:
    """glTF 2.0 metallic-roughness material (defaults are glTF's), plus the non-glTF map slots."""

    name: str = ""
    base_color_factor: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    base_color_texture: TextureRef | None = None
    metallic_factor: float = 1.0
    roughness_factor: float = 1.0
    metallic_roughness_texture: TextureRef | None = None  # G = roughness, B = metallic
    normal_texture: TextureRef | None = None  # tangent space, OpenGL (+Y) convention
    normal_scale: float = 1.0
    occlusion_texture: TextureRef | None = None  # R channel
    occlusion_strength: float = 1.0
    emissive_factor: tuple[float, float, float] = (0.0, 0.0, 0.0)
    emissive_texture: TextureRef | None = None
    emissive_strength: float = 1.0  # KHR_materials_emissive_strength
    alpha_mode: AlphaMode = "OPAQUE"
    alpha_cutoff: float = 0.5
    double_sided: bool = False
    # Maps an OBJ/MTL (or PLY) gives that glTF has no slot for: single-channel roughness (map_Pr),
    # metallic (map_Pm), opacity (map_d) and height (disp / bump used as height).
    roughness_texture: TextureRef | None = None
    metallic_texture: TextureRef | None = None
    opacity_texture: TextureRef | None = None
    height_texture: TextureRef | None = None
    extensions: tuple[str, ...] = ()  # glTF material extensions the file gave this material

    def maps(self) -> dict[str, TextureRef]:
        """Map kind → texture, with kinds from MAP_KINDS.

        An occlusion texture that is the metallic-roughness image itself is one "orm" map; else the
        two are "metallic_roughness" and "ao".
        """
        found: dict[str, TextureRef | None] = {
            "base_color": self.base_color_texture,
            "normal": self.normal_texture,
            "height": self.height_texture,
            "roughness": self.roughness_texture,
            "metallic": self.metallic_texture,
            "emissive": self.emissive_texture,
            "opacity": self.opacity_texture,
        }
        mr, occlusion = self.metallic_roughness_texture, self.occlusion_texture
        if mr is not None and occlusion is not None and mr.image is occlusion.image:
            found["orm"] = mr
        else:
            found["metallic_roughness"], found["ao"] = mr, occlusion
        return {kind: found[kind] for kind in MAP_KINDS if found.get(kind) is not None}  # type: ignore[misc]

    def factors(self) -> dict[str, object]:
        """The scalar and colour parameters, keyed by their glTF names (for `automata inspect`)."""
        return {
            "baseColorFactor": list(self.base_color_factor),
            "metallicFactor": self.metallic_factor,
            "roughnessFactor": self.roughness_factor,
            "normalScale": self.normal_scale,
            "occlusionStrength": self.occlusion_strength,
            "emissiveFactor": list(self.emissive_factor),
            "emissiveStrength": self.emissive_strength,
            "alphaMode": self.alpha_mode,
            "alphaCutoff": self.alpha_cutoff,
            "doubleSided": self.double_sided,
        }


#: What a primitive without a material is drawn with (glTF 2.0 §3.9.6: white, metal 1, rough 1).
DEFAULT_MATERIAL = Material(name="(default)")
