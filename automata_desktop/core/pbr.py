"""PBR map math for the app. One implementation, shared with the ComfyUI node pack: the pack must
run inside ComfyUI without our dependencies, so the math lives there (numpy only)."""

from comfy_nodes.pbr_math import (
    NormalConvention,
    PBRMaps,
    PBRSettings,
    ambient_occlusion,
    derive_pbr,
    flip_normal_convention,
    gaussian_blur,
    height_from_color,
    metallic_from_color,
    normal_from_height,
    pack_orm,
    roughness_from_color,
    split_channels,
    to_float_image,
    to_gray,
    to_rgb,
)

__all__ = [
    "NormalConvention",
    "PBRMaps",
    "PBRSettings",
    "ambient_occlusion",
    "derive_pbr",
    "flip_normal_convention",
    "gaussian_blur",
    "height_from_color",
    "metallic_from_color",
    "normal_from_height",
    "pack_orm",
    "roughness_from_color",
    "split_channels",
    "to_float_image",
    "to_gray",
    "to_rgb",
]
