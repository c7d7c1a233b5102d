"""Copy a generation's files out of the library under the names a target tool expects.

Names only: the bytes are copied as they are. Engines that want packed or converted maps (Unity's
HDRP mask map, smoothness instead of roughness, DirectX normals for Unity/Unreal) need a PBR
conversion step first; that math lives in core, not here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from automata_desktop.core.generation import OutputFile
from automata_desktop.core.maps import MapKind
from automata_desktop.errors import LibraryError
from automata_desktop.library.files import (
    atomic_write_stream,
    iter_path,
    numbered,
    safe_filename,
    storage_error,
)


@dataclass(frozen=True, slots=True)
class Preset:
    label: str
    # (material name, map kind, original stem) -> file stem, extension added by the exporter
    stem: Callable[[str, MapKind, str], str]


def _snake(name: str) -> str:
    return "_".join(re.findall(r"[A-Za-z0-9]+", name)).lower() or "material"


def _pascal(name: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.findall(r"[A-Za-z0-9]+", name)) or "Material"


def _suffixed(table: dict[MapKind, str], *, case: Callable[[str], str], sep: str = "_",
              prefix: str = "", mesh_prefix: str = "") -> Callable[[str, MapKind, str], str]:
    def stem(name: str, kind: MapKind, original: str) -> str:
        base = case(name)
        if kind is MapKind.MESH:
            return f"{mesh_prefix}{base}"
        if kind is MapKind.OTHER:
            return f"{prefix}{base}{sep}{case(original)}"
        return f"{prefix}{base}{sep}{table.get(kind, kind.value)}"

    return stem


# Suffixes each tool's auto-setup recognises: Blender's Node Wrangler (Ctrl+Shift+T), Unity's Lit
# shader slot names, Unreal's texture naming convention (T_ prefix, SM_ for meshes), Godot's
# StandardMaterial3D slots.
PRESETS: dict[str, Preset] = {
    "generic": Preset("Generic", _suffixed({}, case=_snake)),
    "blender": Preset("Blender", _suffixed({
        MapKind.BASE_COLOR: "BaseColor", MapKind.NORMAL: "Normal", MapKind.HEIGHT: "Displacement",
        MapKind.ROUGHNESS: "Roughness", MapKind.METALLIC: "Metallic", MapKind.AO: "AO",
        MapKind.ORM: "ARM", MapKind.EMISSIVE: "Emission", MapKind.PREVIEW: "Preview",
    }, case=_snake)),
    "unity": Preset("Unity (URP/HDRP)", _suffixed({
        MapKind.BASE_COLOR: "BaseMap", MapKind.NORMAL: "Normal", MapKind.HEIGHT: "Height",
        MapKind.ROUGHNESS: "Roughness", MapKind.METALLIC: "Metallic", MapKind.AO: "Occlusion",
        MapKind.ORM: "ORM", MapKind.EMISSIVE: "Emission", MapKind.PREVIEW: "Preview",
    }, case=_pascal)),
    "unreal": Preset("Unreal Engine", _suffixed({
        MapKind.BASE_COLOR: "BC", MapKind.NORMAL: "N", MapKind.HEIGHT: "H",
        MapKind.ROUGHNESS: "R", MapKind.METALLIC: "M", MapKind.AO: "AO", MapKind.ORM: "ORM",
        MapKind.EMISSIVE: "E", MapKind.PREVIEW: "Preview",
    }, case=_pascal, prefix="T_", mesh_prefix="SM_")),
    "godot": Preset("Godot", _suffixed({
        MapKind.BASE_COLOR: "albedo", MapKind.NORMAL: "normal", MapKind.HEIGHT: "height",
        MapKind.ROUGHNESS: "roughness", MapKind.METALLIC: "metallic", MapKind.AO: "ao",
        MapKind.ORM: "orm", MapKind.EMISSIVE: "emission", MapKind.PREVIEW: "preview",
    }, case=_snake)),
}


def export_names(files: Sequence[OutputFile], name: str, preset: str) -> list[str]:
    """The file names `export_files` would write, in the order of `files`."""
    try:
        chosen = PRESETS[preset]
    except KeyError:
        raise LibraryError(
            f"Unknown export preset {preset!r}; choose one of: {', '.join(PRESETS)}"
        ) from None
    taken: set[str] = set()
    names: list[str] = []
    for f in files:
        suffix = f.path.suffix.lower()
        stem = chosen.stem(name, f.kind, f.path.stem)
        candidate = safe_filename(stem + suffix)
        n = 1
        # Two files of one kind (two base colours) must not overwrite each other.
        while numbered(candidate, n).lower() in taken:
            n += 1
        candidate = numbered(candidate, n)
        taken.add(candidate.lower())
        names.append(candidate)
    return names


def export_files(files: Sequence[OutputFile], dest: Path, name: str, preset: str) -> list[Path]:
    """Copy `files` into `dest` (created if missing), replacing same-named files atomically."""
    names = export_names(files, name, preset)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error("create the export folder", dest, exc) from exc
    written: list[Path] = []
    for f, filename in zip(files, names, strict=True):
        target = dest / filename
        try:
            atomic_write_stream(target, iter_path(f.path), expected_sha256=f.sha256)
        except FileNotFoundError:
            raise LibraryError(
                f"{f.path} is missing from the library folder; it cannot be exported"
            ) from None
        except LibraryError as exc:
            raise LibraryError(f"Export to {dest} stopped after {len(written)} files: {exc}") \
                from exc
        written.append(target)
    return written
