"""The map-making nodes (V1 dict API): PBR From Image, Normal From Height, Pack ORM, Split Channels.

Maps leave as 3-channel IMAGEs (gray maps replicated) so any ComfyUI node can take them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import pbr_math
from .images import as_image, like_input, to_numpy_batch

CATEGORY = "AUTOMATA"
CONVENTIONS = ["OpenGL", "DirectX"]


def _float(default: float, lo: float, hi: float, step: float, tooltip: str) -> tuple:
    return ("FLOAT", {"default": default, "min": lo, "max": hi, "step": step, "tooltip": tooltip})


def _bool(default: bool, tooltip: str) -> tuple:
    return ("BOOLEAN", {"default": default, "tooltip": tooltip})


SEAMLESS = _bool(False, "Treat the image as a tile: filters wrap around the borders.")
NORMAL_STRENGTH = _float(2.0, 0.0, 100.0, 0.05, "Steepness of the normal map.")
CONVENTION = (CONVENTIONS, {"default": "OpenGL", "tooltip": "OpenGL (Y+, glTF/Blender) or "
                            "DirectX (Y-, Unreal): they differ only in the green channel."})


def _stack(maps: list[np.ndarray], template: Any) -> Any:
    return like_input(np.stack([as_image(m) for m in maps]), template)


class AutomataPBRFromImage:
    """Base color → a full PBR set: normal, height, roughness, metallic (estimate), AO."""

    CATEGORY = CATEGORY
    FUNCTION = "derive"
    RETURN_TYPES = ("IMAGE", "IMAGE", "IMAGE", "IMAGE", "IMAGE", "IMAGE")
    RETURN_NAMES = ("base_color", "normal", "height", "roughness", "metallic", "ao")
    DESCRIPTION = "Derives height, normal, roughness, metallic and ambient occlusion from a color."

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "Base color (albedo) texture or photo."}),
                "normal_strength": NORMAL_STRENGTH,
                "normal_convention": CONVENTION,
                "height_blur": _float(1.0, 0.0, 64.0, 0.1, "Smooths pixel noise (σ, pixels)."),
                "height_detail": _float(0.6, 0.0, 1.0, 0.01,
                                        "How much large-scale shading is removed from height."),
                "invert_height": _bool(False, "Dark is high (e.g. for grout that is bright)."),
                "roughness": _float(0.6, 0.0, 1.0, 0.01, "Average roughness."),
                "roughness_contrast": _float(0.6, 0.0, 4.0, 0.01,
                                             "How much darker areas are rougher."),
                "invert_roughness": _bool(False, "Brighter areas are rougher."),
                "metallic_strength": _float(0.0, 0.0, 1.0, 0.01,
                                            "0 = non-metal; above 0 estimates metal from color."),
                "ao_strength": _float(1.0, 0.0, 10.0, 0.05, "Darkness of ambient occlusion."),
                "ao_radius": _float(8.0, 0.5, 256.0, 0.5, "Occlusion reach (σ, pixels)."),
                "seamless": SEAMLESS,
            }
        }

    def derive(self, image: Any, **controls: Any) -> tuple:
        settings = pbr_math.PBRSettings(
            **{k: v for k, v in controls.items() if k != "normal_convention"},
            normal_convention=str(controls.get("normal_convention", "OpenGL")).lower(),
        )
        batch = to_numpy_batch(image)
        sets = [pbr_math.derive_pbr(frame, settings) for frame in batch]
        return tuple(_stack([getattr(s, name) for s in sets], image) for name in self.RETURN_NAMES)


class AutomataNormalFromHeight:
    """Height (white = high) → tangent-space normal map."""

    CATEGORY = CATEGORY
    FUNCTION = "convert"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("normal",)

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "height": ("IMAGE", {"tooltip": "Height map; color images use their luminance."}),
                "strength": NORMAL_STRENGTH,
                "convention": CONVENTION,
                "invert": _bool(False, "Dark is high."),
                "seamless": SEAMLESS,
            }
        }

    def convert(
        self, height: Any, strength: float, convention: str, invert: bool, seamless: bool
    ) -> tuple:
        normals = [
            pbr_math.normal_from_height(
                frame, strength=strength, convention=convention.lower(), seamless=seamless,
                invert=invert,
            )
            for frame in to_numpy_batch(height)
        ]
        return (_stack(normals, height),)


class AutomataPackORM:
    """AO, roughness, metallic → one glTF ORM texture (R = occlusion, G = roughness, B = metallic)."""

    CATEGORY = CATEGORY
    FUNCTION = "pack"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("orm",)

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {"roughness": ("IMAGE",)},
            "optional": {
                "ao": ("IMAGE", {"tooltip": "Missing = 1 (unoccluded)."}),
                "metallic": ("IMAGE", {"tooltip": "Missing = 0 (non-metal)."}),
            },
        }

    def pack(self, roughness: Any, ao: Any = None, metallic: Any = None) -> tuple:
        rough = to_numpy_batch(roughness)
        ao_b = to_numpy_batch(ao) if ao is not None else None
        metal_b = to_numpy_batch(metallic) if metallic is not None else None
        count = max(len(b) for b in (rough, ao_b, metal_b) if b is not None)

        def frame(b: np.ndarray | None, i: int) -> np.ndarray | None:
            if b is None:
                return None
            if len(b) not in (1, count):
                raise ValueError(f"ORM inputs have batch sizes that do not match ({len(b)} vs {count})")
            return b[min(i, len(b) - 1)]

        packed = [
            pbr_math.pack_orm(frame(ao_b, i), frame(rough, i), frame(metal_b, i))
            for i in range(count)
        ]
        return (like_input(np.stack(packed), roughness),)


class AutomataSplitChannels:
    """Image → its red, green, blue and alpha channels as gray images (alpha 1 if absent)."""

    CATEGORY = CATEGORY
    FUNCTION = "split"
    RETURN_TYPES = ("IMAGE", "IMAGE", "IMAGE", "IMAGE")
    RETURN_NAMES = ("red", "green", "blue", "alpha")

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {"required": {"image": ("IMAGE",)}}

    def split(self, image: Any) -> tuple:
        per_frame = [pbr_math.split_channels(frame) for frame in to_numpy_batch(image)]
        return tuple(_stack([f[c] for f in per_frame], image) for c in range(4))
