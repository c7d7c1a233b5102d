"""A textured model out of the app: a scene (a generation's mesh, a file, the open scene) with the
generated material on its target material, written as one GLB, the height map beside it as PNG.

Which mesh a generation exports onto, first that exists:
  1. the mesh the user names (`--mesh FILE`, the open scene in the GUI);
  2. a mesh the generation produced (a MESH file: Hunyuan3D-Paint returns the textured mesh, whose
     UVs the generated maps were painted for);
  3. the mesh the generation was made for (its `mesh` parameter, a path on this computer);
  4. the bundled sample (a UV-mapped rounded cube): a material made without a mesh (text to
     texture, PBR from a photo) is tileable and is previewed on it. A notice says so.

Which material gets the generated maps: the one the caller names (by name or index); else, for a
scene with one material, that one; with none (STL, PLY), every primitive; with several, the first,
and a notice names it and how to choose another. Every other material is written as the file had it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automata_desktop import __version__
from automata_desktop.core import map_packing
from automata_desktop.core.generation import Generation, OutputFile
from automata_desktop.core.gltf_export import GltfExportError, GltfMaterial, encode_glb
from automata_desktop.core.maps import MapKind
from automata_desktop.core.pbr import NormalConvention
from automata_desktop.core.scene import MeshError, Scene
from automata_desktop.core.scene_export import generated_material, scene_to_gltf
from automata_desktop.core.scene_io import load_scene
from automata_desktop.core.texture_set import TextureMap, TextureSet
from automata_desktop.errors import LibraryError
from automata_desktop.library.export import decoded, preset_named, publish
from automata_desktop.library.files import hash_file, safe_filename, storage_error
from automata_desktop.paths import resources_dir

GENERATOR = f"AUTOMATA Desktop {__version__}"
_MAP_KINDS = (MapKind.BASE_COLOR, MapKind.NORMAL, MapKind.ROUGHNESS, MapKind.METALLIC, MapKind.AO,
              MapKind.ORM, MapKind.EMISSIVE)


@dataclass(frozen=True, slots=True)
class GlbExport:
    paths: list[Path]  # the GLB first, then height maps beside it
    mesh: Path | None  # the mesh file the model was made from (None: the open scene)
    notices: tuple[str, ...] = ()


def sample_mesh() -> Path:
    return resources_dir() / "samples" / "sample.glb"


def export_name(gen: Generation) -> str:
    """The first words of the prompt, or the id's start: as `Library.export` names maps."""
    words = re.findall(r"[A-Za-z0-9]+", gen.prompt)[:4]
    return "_".join(words) if words else f"automata_{gen.id[:8]}"


def generation_mesh(gen: Generation, mesh: Path | None = None) -> tuple[Path, str | None]:
    """The mesh a generation exports onto (see the module docstring) and a notice, if any."""
    if mesh is not None:
        return Path(mesh), None
    produced = next((f for f in reversed(gen.files) if f.kind is MapKind.MESH), None)
    if produced is not None:
        _verified(produced)
        return produced.path, None
    made_for = gen.parameters.get("mesh")
    if isinstance(made_for, str) and Path(made_for).is_absolute() and Path(made_for).is_file():
        return Path(made_for), None
    return sample_mesh(), ("The generation has no mesh of its own, so its material is on the "
                           "sample cube; pass --mesh FILE (or open your mesh) to put it on yours.")


def export_generation_glb(gen: Generation, dest: Path, *, preset: str = "generic",
                          name: str | None = None, mesh: Path | None = None,
                          material: str | None = None) -> GlbExport:
    """The generation's maps on its mesh (or `mesh`) as `dest/<name>.glb`. Blocking."""
    chosen = preset_named(preset)
    name = name or export_name(gen)
    maps = [f for f in gen.files if f.kind in _MAP_KINDS]
    if not maps:
        raise LibraryError(f"Generation {gen.id[:8]} has no texture maps to put on a model")
    mesh_path, notice = generation_mesh(gen, mesh)
    try:
        scene = load_scene(mesh_path)
    except MeshError as exc:
        raise LibraryError(str(exc)) from exc
    textures = _decoded_set(gen.files, _MAP_KINDS)
    heights: dict[str, np.ndarray] = {}
    height = _newest(gen.files, MapKind.HEIGHT)
    notices = [notice] if notice else []
    if height is not None:
        try:
            heights[""] = decoded(height)
        except LibraryError as exc:  # an EXR Pillow cannot read: the model is still worth having
            notices.append(f"The height map was not written beside the model: {exc}")
    convention = map_packing.normal_convention(gen.parameters.get("normal_convention"))
    glb = Path(dest) / safe_filename(chosen.stem(name, MapKind.MESH, "") + ".glb")
    target, chosen_notices = target_material(scene, material)
    notices += chosen_notices
    result = write_scene_glb(scene, glb, {target: textures},
                             normal_convention=convention, heights=heights,
                             height_stem=chosen.stem(name, MapKind.HEIGHT, ""))
    return GlbExport(result.paths, mesh_path, (*notices, *result.notices))


def write_scene_glb(scene: Scene, path: Path, materials: dict[int | None, TextureSet], *,
                    normal_convention: NormalConvention = "opengl",
                    heights: dict[str, np.ndarray] | None = None,
                    height_stem: str | None = None) -> GlbExport:
    """`scene` with each texture set on its material index (None: primitives without one).

    Height maps (the sets' own under "", a source material's under its name) go beside `path`
    as 16-bit PNGs. Blocking; every file follows the umask (see library.export).
    """
    replacements: dict[int | None, GltfMaterial] = {}
    heights = dict(heights or {})
    for index, textures in materials.items():
        like = scene.materials[index] if index is not None and index < len(scene.materials) \
            else None
        replacements[index] = generated_material(textures, normal_convention=normal_convention,
                                                 like=like, name=path.stem)
        pixels = textures.pixels(MapKind.HEIGHT)
        if pixels is not None:
            heights.setdefault("", pixels)
    converted = scene_to_gltf(scene, replacements, generator=GENERATOR)
    try:
        data = encode_glb(converted.scene)
    except GltfExportError as exc:
        raise LibraryError(f"Cannot export {scene.name} as GLB: {exc}") from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error("create the export folder", path.parent, exc) from exc
    publish(path, [data])
    written = [path]
    stem = height_stem or f"{path.stem}_height"
    for material, pixels in {**converted.heights, **heights}.items():
        suffix = f"_{safe_filename(material)}" if material else ""
        target = path.with_name(safe_filename(f"{stem}{suffix}.png"))
        publish(target, [map_packing.encode_png(pixels)])
        written.append(target)
    return GlbExport(written, scene.source, converted.notices)


def target_material(scene: Scene, material: str | None = None) -> tuple[int | None, list[str]]:
    """Which material gets the generated maps (see the module docstring), and notices.

    `material` is a name or an index; None (the result) means the primitives without one.
    """
    notices: list[str] = []
    used = sorted({p.material for m in scene.meshes for p in m.primitives
                   if p.material is not None and p.material < len(scene.materials)})
    if material is not None:
        for index, m in enumerate(scene.materials):
            if m.name == material:
                return index, notices
        if material.isdigit() and int(material) < len(scene.materials):
            return int(material), notices
        names = ", ".join(repr(m.name) for m in scene.materials) or "none"
        raise LibraryError(f"{scene.name} has no material {material!r}; its materials: {names}")
    if not used:
        return None, notices
    if len(used) > 1:
        first = scene.materials[used[0]].name or f"material {used[0]}"
        notices.append(f"{scene.name} has {len(used)} materials; the generated maps went onto "
                       f"{first!r}; the others kept their own.")
    return used[0], notices


def _newest(files: Sequence[OutputFile], kind: MapKind) -> OutputFile | None:
    return next((f for f in reversed(files) if f.kind is kind), None)


def _decoded_set(files: Sequence[OutputFile], kinds: Iterable[MapKind]) -> TextureSet:
    maps = {}
    for kind in kinds:
        f = _newest(files, kind)
        if f is not None:
            maps[kind] = TextureMap(kind, path=f.path, pixels=decoded(f))
    return TextureSet(maps)


def _verified(f: OutputFile) -> None:
    try:
        digest = hash_file(f.path).sha256
    except FileNotFoundError:
        raise LibraryError(f"{f.path} is missing from the library folder") from None
    if f.sha256 and digest != f.sha256.lower():
        raise LibraryError(f"{f.path.name}: checksum mismatch: the library file changed on disk")
