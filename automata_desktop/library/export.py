"""Copy a generation's files out of the library as a target tool expects them: names and pixels.

A name is not enough for most engines (core/map_packing.py says why): Unreal reads DirectX normals,
Unity's metallic workflow wants smoothness in the metallic map's alpha, HDRP a mask map, Unreal and
Godot one ORM texture, Blender's Node Wrangler separate grey maps. A preset says which, and the
export converts: files an engine takes as they are are copied byte for byte (checksum verified);
converted and packed maps are written as new PNGs.

Exported files get the user's normal permissions (0666 minus the umask), not the 0600 the library
gives its own files: an export is meant to be shared with other tools and people.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automata_desktop.core import map_packing
from automata_desktop.core.generation import OutputFile
from automata_desktop.core.map_packing import NormalConvention
from automata_desktop.core.maps import PBR_MAPS, MapKind
from automata_desktop.core.png import read_png16
from automata_desktop.core.texture_set import TextureError, TextureMap, TextureSet, load_image
from automata_desktop.errors import LibraryError
from automata_desktop.library.files import (
    hash_file,
    iter_path,
    numbered,
    safe_filename,
    storage_error,
    write_temp,
)

_GREY_KINDS = frozenset({MapKind.AO, MapKind.ROUGHNESS, MapKind.METALLIC, MapKind.ORM})


@dataclass(frozen=True, slots=True)
class Packed:
    """A map an engine wants that the export makes from the set's maps.

    `replaces`: source kinds not copied when this map is written (they are inside it).
    `unless`: made only when the set has no map of that kind of its own (unpacking an ORM).
    """

    key: str  # the name table's key for this map ("mask", "metallic_smoothness", "ao", ...)
    make: Callable[[TextureSet], np.ndarray | None]
    replaces: frozenset[MapKind] = frozenset()
    unless: MapKind | None = None


@dataclass(frozen=True, slots=True)
class Preset:
    label: str
    # (material name, map kind or packed key, original stem) -> file stem, extension added later
    stem: Callable[[str, str, str], str]
    normal: NormalConvention = "opengl"  # what the tool's normal maps are
    packed: tuple[Packed, ...] = ()


def _words(name: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", name)


def _snake(name: str) -> str:
    return "_".join(_words(name)).lower() or "material"


def _pascal(name: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in _words(name)) or "Material"


# Blender's Node Wrangler (Ctrl+Shift+T, "Principled Texture Setup") splits a file name into words
# (separators, CamelCase, digits dropped) and wires a file to the first socket one of whose tags is
# among them: "rusty_metal_BaseColor.png" would land on Metallic. Its default tags, Blender 4.x:
_NODE_WRANGLER_TAGS = frozenset(" ".join((
    "diffuse diff albedo base col color basecolor sss subsurface metallic metalness metal mtl "
    "specularity specular spec spc normal nor nrm nrml norm bump bmp roughness rough rgh gloss "
    "glossy glossiness displacement displace disp dsp height heightmap transmission transparency "
    "emission emissive emit alpha opacity ao ambient occlusion",
)).split())


def _blender_name(name: str) -> str:
    """The material name without words Node Wrangler would mistake for a map kind."""
    kept = [w for w in _words(re.sub(r"([a-z])([A-Z])", r"\1 \2", name))
            if re.sub(r"\d", "", w).lower() not in _NODE_WRANGLER_TAGS]
    return _snake(" ".join(kept)) if kept else "material"


def _suffixed(table: dict[str, str], *, case: Callable[[str], str], sep: str = "_",
              prefix: str = "", mesh_prefix: str = "") -> Callable[[str, str, str], str]:
    def stem(name: str, kind: str, original: str) -> str:
        base = case(name)
        if kind == MapKind.MESH:
            return f"{mesh_prefix}{base}"
        if kind == MapKind.OTHER:
            return f"{prefix}{base}{sep}{case(original)}"
        return f"{prefix}{base}{sep}{table.get(kind, kind)}"

    return stem


def _single(kind: MapKind) -> Callable[[TextureSet], np.ndarray | None]:
    return lambda textures: map_packing.single(textures, kind)


_PACKED_GREYS = _GREY_KINDS

# Suffixes each tool's auto-setup recognises: Blender's Node Wrangler tags, Unity's Lit shader
# slot names, Unreal's texture naming convention (T_ prefix, SM_ for meshes), Godot's
# StandardMaterial3D / ORMMaterial3D slots.
PRESETS: dict[str, Preset] = {
    "generic": Preset("Generic", _suffixed({}, case=_snake)),
    # Node Wrangler wires separate grey maps only (no ORM socket): an ORM-only set is unpacked.
    "blender": Preset("Blender", _suffixed({
        MapKind.BASE_COLOR: "BaseColor", MapKind.NORMAL: "Normal", MapKind.HEIGHT: "Displacement",
        MapKind.ROUGHNESS: "Roughness", MapKind.METALLIC: "Metallic", MapKind.AO: "AO",
        MapKind.ORM: "ARM", MapKind.EMISSIVE: "Emission", MapKind.PREVIEW: "Preview",
    }, case=_blender_name), packed=(
        Packed(MapKind.AO, _single(MapKind.AO), unless=MapKind.AO),
        Packed(MapKind.ROUGHNESS, _single(MapKind.ROUGHNESS), unless=MapKind.ROUGHNESS),
        Packed(MapKind.METALLIC, _single(MapKind.METALLIC), unless=MapKind.METALLIC),
    )),
    # Built-in Standard and URP Lit, metallic workflow: "Metallic Alpha" smoothness source.
    "unity": Preset("Unity (Built-in/URP)", _suffixed({
        MapKind.BASE_COLOR: "BaseMap", MapKind.NORMAL: "Normal", MapKind.HEIGHT: "Height",
        "metallic_smoothness": "MetallicSmoothness", MapKind.AO: "Occlusion",
        MapKind.EMISSIVE: "Emission", MapKind.PREVIEW: "Preview",
    }, case=_pascal), packed=(
        Packed("metallic_smoothness", map_packing.metallic_smoothness,
               replaces=frozenset({MapKind.ROUGHNESS, MapKind.METALLIC, MapKind.ORM})),
        Packed(MapKind.AO, _single(MapKind.AO), unless=MapKind.AO),
    )),
    "unity_hdrp": Preset("Unity HDRP", _suffixed({
        MapKind.BASE_COLOR: "BaseColorMap", MapKind.NORMAL: "NormalMap", MapKind.HEIGHT: "HeightMap",
        "mask": "MaskMap", MapKind.EMISSIVE: "EmissiveColorMap", MapKind.PREVIEW: "Preview",
    }, case=_pascal), packed=(
        Packed("mask", map_packing.hdrp_mask, replaces=_PACKED_GREYS),
    )),
    "unreal": Preset("Unreal Engine", _suffixed({
        MapKind.BASE_COLOR: "BC", MapKind.NORMAL: "N", MapKind.HEIGHT: "H", MapKind.ORM: "ORM",
        MapKind.EMISSIVE: "E", MapKind.PREVIEW: "Preview",
    }, case=_pascal, prefix="T_", mesh_prefix="SM_"), normal="directx", packed=(
        Packed(MapKind.ORM, map_packing.orm, replaces=_PACKED_GREYS),
    )),
    # ORMMaterial3D takes the glTF packing; Godot's normal maps are OpenGL (Y+).
    "godot": Preset("Godot", _suffixed({
        MapKind.BASE_COLOR: "albedo", MapKind.NORMAL: "normal", MapKind.HEIGHT: "height",
        MapKind.ORM: "orm", MapKind.EMISSIVE: "emission", MapKind.PREVIEW: "preview",
    }, case=_snake), packed=(
        Packed(MapKind.ORM, map_packing.orm, replaces=_PACKED_GREYS),
    )),
}


def preset_named(preset: str) -> Preset:
    try:
        return PRESETS[preset]
    except KeyError:
        raise LibraryError(
            f"Unknown export preset {preset!r}; choose one of: {', '.join(PRESETS)}"
        ) from None


# --- planning: what goes out under which name -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Output:
    key: str  # map kind or packed key, for the name
    original: str  # the source file's stem
    suffix: str
    copy: OutputFile | None = None  # copied byte for byte
    make: Callable[[TextureSet], np.ndarray | None] | None = None  # or made from the set


def _plan(files: Sequence[OutputFile], preset: Preset,
          source_normal: NormalConvention) -> list[_Output]:
    kinds = {f.kind for f in files}
    packed = [p for p in preset.packed if _applies(p, kinds)]
    replaced = {kind for p in packed for kind in p.replaces}
    outputs: list[_Output] = []
    placed: set[str] = set()
    for f in files:
        if f.kind in replaced:
            # The packed map takes the place of the first file it replaces.
            for p in packed:
                if f.kind in p.replaces and p.key not in placed:
                    placed.add(p.key)
                    outputs.append(_Output(p.key, p.key, ".png", make=p.make))
            continue
        if f.kind is MapKind.NORMAL and source_normal != preset.normal:
            outputs.append(_Output(f.kind, f.path.stem, ".png",
                                   make=_converted_normal(f, source_normal, preset.normal)))
            continue
        outputs.append(_Output(f.kind, f.path.stem, f.path.suffix.lower(), copy=f))
    for p in packed:
        if p.key not in placed:
            outputs.append(_Output(p.key, p.key, ".png", make=p.make))
    return outputs


def _applies(packed: Packed, kinds: set[MapKind]) -> bool:
    if packed.unless is not None:  # unpacking: only from an ORM, only what the set lacks
        return packed.unless not in kinds and MapKind.ORM in kinds
    return bool(kinds & _GREY_KINDS)


def _converted_normal(f: OutputFile, source: NormalConvention,
                      target: NormalConvention) -> Callable[[TextureSet], np.ndarray | None]:
    return lambda _: map_packing.convert_normal(decoded(f, deep=True), source, target)


def _names(outputs: Sequence[_Output], name: str, preset: Preset) -> list[str]:
    taken: set[str] = set()
    names: list[str] = []
    for out in outputs:
        candidate = safe_filename(preset.stem(name, out.key, out.original) + out.suffix)
        n = 1
        # Two files of one kind (two base colours) must not overwrite each other.
        while numbered(candidate, n).lower() in taken:
            n += 1
        candidate = numbered(candidate, n)
        taken.add(candidate.lower())
        names.append(candidate)
    return names


def export_names(files: Sequence[OutputFile], name: str, preset: str,
                 normal_convention: NormalConvention = "opengl") -> list[str]:
    """The file names `export_files` would write, in the order it writes them."""
    chosen = preset_named(preset)
    return _names(_plan(files, chosen, normal_convention), name, chosen)


# --- writing ---------------------------------------------------------------------------------------


def export_files(files: Sequence[OutputFile], dest: Path, name: str, preset: str, *,
                 normal_convention: NormalConvention = "opengl") -> list[Path]:
    """Write `files` into `dest` (created if missing) as `preset` wants them; returns the paths.

    `normal_convention` is the set's own (a generation's `normal_convention` parameter). Same-named
    files are replaced atomically.
    """
    chosen = preset_named(preset)
    outputs = _plan(files, chosen, normal_convention)
    names = _names(outputs, name, chosen)
    # Only the grey maps are decoded for packing; a normal map is decoded when converted.
    textures = source_textures(files, _GREY_KINDS) if any(o.make for o in outputs) \
        else TextureSet()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error("create the export folder", dest, exc) from exc
    written: list[Path] = []
    for out, filename in zip(outputs, names, strict=True):
        target = dest / filename
        try:
            if out.copy is not None:
                publish(target, iter_path(out.copy.path), expected_sha256=out.copy.sha256)
            else:
                assert out.make is not None
                pixels = out.make(textures)
                if pixels is None:
                    continue
                publish(target, [map_packing.encode_png(pixels)])
        except FileNotFoundError:
            raise LibraryError(
                f"{out.copy.path if out.copy else filename} is missing from the library folder; "
                "it cannot be exported"
            ) from None
        except LibraryError as exc:
            raise LibraryError(f"Export to {dest} stopped after {len(written)} files: {exc}") \
                from exc
        written.append(target)
    return written


def source_textures(files: Iterable[OutputFile],
                    kinds: Iterable[MapKind] = PBR_MAPS) -> TextureSet:
    """The newest map of each of `kinds` (the one the app shows: a map replaced later is stored
    after the old one), checked against its checksum and decoded (blocking)."""
    wanted = frozenset(kinds)
    maps: dict[MapKind, TextureMap] = {}
    for f in reversed(list(files)):
        if f.kind in wanted and f.kind not in maps:
            maps[f.kind] = TextureMap(f.kind, path=f.path, pixels=decoded(f))
    return TextureSet(maps)


def decoded(f: OutputFile, *, deep: bool = False) -> np.ndarray:
    """A library image's pixels, refused if the file no longer matches its checksum. `deep`:
    a 16-bit colour PNG keeps its 16 bits (a normal map converted for another engine)."""
    try:
        digest = hash_file(f.path).sha256
    except FileNotFoundError:
        raise LibraryError(
            f"{f.path} is missing from the library folder; it cannot be exported") from None
    if f.sha256 and digest != f.sha256.lower():
        raise LibraryError(f"{f.path.name}: checksum mismatch (got sha256 {digest[:12]}…, "
                           f"expected {f.sha256[:12]}…): the library file changed on disk")
    try:
        if deep and f.path.suffix.lower() == ".png" and (full := read_png16(f.path)) is not None:
            return full
        return load_image(f.path)
    except (TextureError, ValueError) as exc:
        raise LibraryError(f"Cannot convert the {f.kind} map for export: {exc}") from exc


def publish(target: Path, chunks: Iterable[bytes], *, expected_sha256: str | None = None) -> None:
    """Write `target` atomically with the user's default permissions (see the module docstring)."""
    writer, _ = write_temp(target.parent, target.name, chunks, expected_sha256=expected_sha256)
    try:
        try:
            # The temp file is created 0600 (mkstemp); set the final mode before it is visible.
            os.chmod(writer.temp, 0o666 & ~current_umask())
        except OSError as exc:
            raise storage_error(f"save {target.name}", target.parent, exc) from exc
        writer.publish(target)
    except BaseException:
        writer.discard()
        raise


def current_umask() -> int:
    """The process umask. Linux shows it in /proc; elsewhere set-and-restore (a brief race only
    with threads creating files at that same instant, which an export does not share)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
