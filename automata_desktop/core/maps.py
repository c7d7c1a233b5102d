"""Kinds of files a generation produces, and how to tell them apart by name."""

from __future__ import annotations

import re
from enum import StrEnum


class MapKind(StrEnum):
    BASE_COLOR = "base_color"
    NORMAL = "normal"
    HEIGHT = "height"
    ROUGHNESS = "roughness"
    METALLIC = "metallic"
    AO = "ao"
    ORM = "orm"
    EMISSIVE = "emissive"
    MESH = "mesh"
    PREVIEW = "preview"
    OTHER = "other"


#: The texture maps of a PBR material, in the order artists list them.
PBR_MAPS: tuple[MapKind, ...] = (
    MapKind.BASE_COLOR,
    MapKind.NORMAL,
    MapKind.HEIGHT,
    MapKind.ROUGHNESS,
    MapKind.METALLIC,
    MapKind.AO,
    MapKind.ORM,
    MapKind.EMISSIVE,
)

MESH_SUFFIXES = frozenset({".glb", ".gltf", ".obj", ".ply", ".stl", ".off", ".fbx", ".3mf", ".dae"})

# Name fragments used by texturing tools and node packs, most specific first: "orm" must win over
# "rough"/"metal", "basecolor" over "color". Matched against the file stem split at _-. and spaces.
_NAME_HINTS: tuple[tuple[MapKind, tuple[str, ...]], ...] = (
    (MapKind.ORM, ("orm", "occlusionroughnessmetallic", "arm", "mr", "metallicroughness")),
    (MapKind.BASE_COLOR, ("basecolor", "base_color", "albedo", "diffuse", "diff", "color", "col",
                          "basecolour", "colour", "texture", "tex")),
    (MapKind.NORMAL, ("normal", "normals", "nrm", "nor", "norm", "normalgl", "normaldx")),
    (MapKind.HEIGHT, ("height", "disp", "displacement", "bump", "depth")),
    (MapKind.ROUGHNESS, ("rough", "roughness", "rgh")),
    (MapKind.METALLIC, ("metal", "metallic", "metalness", "mtl")),
    (MapKind.AO, ("ao", "occlusion", "ambientocclusion", "ambient_occlusion")),
    (MapKind.EMISSIVE, ("emissive", "emission", "emit")),
    (MapKind.PREVIEW, ("preview", "thumb", "thumbnail")),
)
_SPLIT = re.compile(r"[_\-. ]+")


def infer_map_kind(filename: str, hint: str | None = None) -> MapKind:
    """Guess what a file is from its name (and an optional hint such as the output slot's name).

    ComfyUI appends counters (`name_00001_.png`), so the last meaningful token is not always the
    kind; every token is tried and the first kind whose fragment matches wins.
    """
    if hint:
        try:
            return MapKind(hint)
        except ValueError:
            pass
    lowered = filename.lower()
    suffix = "." + lowered.rsplit(".", 1)[-1] if "." in lowered else ""
    if suffix in MESH_SUFFIXES:
        return MapKind.MESH
    stem = lowered[: -len(suffix)] if suffix else lowered
    tokens = [t for t in _SPLIT.split(stem) if t and not t.isdigit()]
    squashed = stem.replace("_", "").replace("-", "").replace(" ", "")
    for kind, fragments in _NAME_HINTS:
        for fragment in fragments:
            if fragment in tokens:
                return kind
    # Compound names without separators ("BrickBaseColor", "rock_normalGL") fall back to substrings
    # for the longer, unambiguous fragments only.
    for kind, fragments in _NAME_HINTS:
        for fragment in fragments:
            if len(fragment) >= 5 and fragment in squashed:
                return kind
    return MapKind.OTHER
