"""Exporting a generation's maps under the names Blender, Unity, Unreal and Godot expect."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automata_desktop.core.generation import Generation
from automata_desktop.core.maps import MapKind
from automata_desktop.errors import LibraryError
from automata_desktop.library import PRESETS, Library


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


RNG = np.random.default_rng(3)
MAPS = [
    (MapKind.BASE_COLOR, "ComfyUI_albedo_00001_.png", png(RNG.integers(0, 256, (8, 8, 3), np.uint8))),
    (MapKind.NORMAL, "ComfyUI_normal_00001_.png", png(RNG.integers(0, 256, (8, 8, 3), np.uint8))),
    (MapKind.ROUGHNESS, "rough.png", png(RNG.integers(0, 256, (8, 8), np.uint8))),
    (MapKind.METALLIC, "metal.png", png(RNG.integers(0, 256, (8, 8), np.uint8))),
    (MapKind.AO, "ao.png", png(RNG.integers(0, 256, (8, 8), np.uint8))),
    (MapKind.HEIGHT, "height.exr", b"height-bytes"),
    (MapKind.EMISSIVE, "emit.png", png(RNG.integers(0, 256, (8, 8, 3), np.uint8))),
    (MapKind.MESH, "textured_mesh.glb", b"mesh-bytes"),
]

# Maps an engine reads as they are keep their bytes; packed maps take the place of the first map
# they hold (Unreal's and Godot's ORM, Unity's metallic-smoothness, HDRP's mask map).
EXPECTED = {
    "generic": ["mossy_brick_wall_base_color.png", "mossy_brick_wall_normal.png",
                "mossy_brick_wall_roughness.png", "mossy_brick_wall_metallic.png",
                "mossy_brick_wall_ao.png", "mossy_brick_wall_height.exr",
                "mossy_brick_wall_emissive.png", "mossy_brick_wall.glb"],
    "blender": ["mossy_brick_wall_BaseColor.png", "mossy_brick_wall_Normal.png",
                "mossy_brick_wall_Roughness.png", "mossy_brick_wall_Metallic.png",
                "mossy_brick_wall_AO.png", "mossy_brick_wall_Displacement.exr",
                "mossy_brick_wall_Emission.png", "mossy_brick_wall.glb"],
    "unity": ["MossyBrickWall_BaseMap.png", "MossyBrickWall_Normal.png",
              "MossyBrickWall_MetallicSmoothness.png", "MossyBrickWall_Occlusion.png",
              "MossyBrickWall_Height.exr", "MossyBrickWall_Emission.png", "MossyBrickWall.glb"],
    "unity_hdrp": ["MossyBrickWall_BaseColorMap.png", "MossyBrickWall_NormalMap.png",
                   "MossyBrickWall_MaskMap.png", "MossyBrickWall_HeightMap.exr",
                   "MossyBrickWall_EmissiveColorMap.png", "MossyBrickWall.glb"],
    "unreal": ["T_MossyBrickWall_BC.png", "T_MossyBrickWall_N.png", "T_MossyBrickWall_ORM.png",
               "T_MossyBrickWall_H.exr", "T_MossyBrickWall_E.png", "SM_MossyBrickWall.glb"],
    "godot": ["mossy_brick_wall_albedo.png", "mossy_brick_wall_normal.png",
              "mossy_brick_wall_orm.png", "mossy_brick_wall_height.exr",
              "mossy_brick_wall_emission.png", "mossy_brick_wall.glb"],
}
# Which exported files are the library's bytes unchanged (the rest are converted or packed).
COPIED = {
    "generic": 8, "blender": 8, "unity": 6, "unity_hdrp": 5,
    "unreal": 4,  # base colour, height, emissive, mesh: the normal map is converted to DirectX
    "godot": 5,
}


@pytest.fixture
def lib(tmp_path: Path):
    library = Library(tmp_path / "library")
    library.add(Generation(id="g1", workflow="wf", server="s", prompt="Mossy brick wall, 4k PBR",
                           parameters={"normal_convention": "OpenGL"}))
    for kind, filename, data in MAPS:
        library.ingest("g1", kind, "generated", data, filename)
    yield library
    library.close()


def test_every_preset_is_covered() -> None:
    assert set(PRESETS) == set(EXPECTED)


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_a_preset_names_every_map_the_way_its_tool_expects(lib: Library, tmp_path: Path,
                                                           preset: str) -> None:
    dest = tmp_path / "export" / preset
    written = lib.export("g1", dest, preset=preset, name="Mossy brick wall")

    assert [p.name for p in written] == EXPECTED[preset]
    assert sorted(p.name for p in dest.iterdir()) == sorted(EXPECTED[preset])  # nothing else
    sources = {data for _, _, data in MAPS}
    assert sum(p.read_bytes() in sources for p in written) == COPIED[preset]


def test_the_material_name_defaults_to_the_prompt(lib: Library, tmp_path: Path) -> None:
    written = lib.export("g1", tmp_path / "out", preset="unreal")
    assert written[0].name == "T_MossyBrickWall4k_BC.png"


def test_two_maps_of_one_kind_do_not_overwrite_each_other(lib: Library, tmp_path: Path) -> None:
    lib.ingest("g1", MapKind.BASE_COLOR, "generated", b"variant", "albedo_b.png")
    names = [p.name for p in lib.export("g1", tmp_path / "out", name="wall")]
    assert names[0] == "wall_base_color.png" and "wall_base_color-2.png" in names


def test_exporting_again_replaces_the_earlier_export(lib: Library, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    first = lib.export("g1", dest, name="wall", preset="unreal")
    second = lib.export("g1", dest, name="wall", preset="unreal")
    assert first == second and len(list(dest.iterdir())) == len(EXPECTED["unreal"])


def test_an_unknown_preset_lists_the_choices(lib: Library, tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match=r"Unknown export preset 'maya'.*unreal"):
        lib.export("g1", tmp_path / "out", preset="maya")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("preset", ["generic", "unreal"])
def test_a_library_file_changed_on_disk_is_not_exported_silently(lib: Library, tmp_path: Path,
                                                                 preset: str) -> None:
    # Copied (generic) or decoded to be packed (Unreal's ORM): either way the checksum is checked.
    rough = next(f for f in lib.get("g1").files if f.kind is MapKind.ROUGHNESS)  # type: ignore[union-attr]
    rough.path.write_bytes(png(np.zeros((8, 8), np.uint8)))
    with pytest.raises(LibraryError, match="checksum mismatch"):
        lib.export("g1", tmp_path / "out", name="wall", preset=preset)
    assert not any(p.name.startswith(("wall", "T_Wall")) and "rough" in p.name.lower()
                   for p in (tmp_path / "out").glob("*"))


def test_exporting_nothing_says_why(lib: Library, tmp_path: Path) -> None:
    lib.add(Generation(id="empty", workflow="wf", server="s"))
    with pytest.raises(LibraryError, match="has no files"):
        lib.export("empty", tmp_path / "out")
    with pytest.raises(LibraryError, match="No generation nope"):
        lib.export("nope", tmp_path / "out")


def test_the_cli_offers_every_preset() -> None:
    from automata_desktop.cli import EXPORT_PRESETS

    assert list(PRESETS) == EXPORT_PRESETS
