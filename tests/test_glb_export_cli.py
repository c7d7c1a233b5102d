"""`automata library export ID DIR --glb`: a generation as a textured model, the way a pipeline
script uses it, from a real in-process generation to a file the Khronos validator passes and the
app reopens with the same material."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from automata_desktop.cli import main
from automata_desktop.core.maps import MapKind
from automata_desktop.core.scene_io import load_scene
from automata_desktop.core.texture_set import load_image
from automata_desktop.library.store import Library
from automata_desktop.paths import data_dir
from tests.fixtures import assets
from tests.gltf_validator import assert_valid


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def generation(capsys) -> dict:
    """A real PBR set made by the in-process backend (base colour, normal, height, ORM...)."""
    code, out, err = run(capsys, "generate", "--workflow", "pbr_from_image", "--server", "local",
                         "--json")
    assert code == 0, err
    [gen] = json.loads(out)
    return gen


def files_of(gen: dict) -> dict[str, Path]:
    return {f["kind"]: Path(f["path"]) for f in gen["files"]}


def assert_material_is_the_generations(material, gen: dict) -> None:
    files = files_of(gen)
    assert np.array_equal(material.base_color_texture.image.decode(),
                          load_image(files["base_color"]))
    assert np.array_equal(material.normal_texture.image.decode(), load_image(files["normal"]))
    orm = material.metallic_roughness_texture.image.decode()
    assert material.occlusion_texture.image is material.metallic_roughness_texture.image
    assert np.array_equal(orm[..., 0], load_image(files["ao"]))
    assert np.array_equal(orm[..., 1], load_image(files["roughness"]))
    assert np.array_equal(orm[..., 2], load_image(files["metallic"]))


def test_a_generation_without_a_mesh_goes_onto_the_sample_cube_and_says_so(capsys, tmp_path,
                                                                          generation) -> None:
    code, out, err = run(capsys, "library", "export", generation["id"][:8], str(tmp_path / "ue"),
                         "--glb", "--preset", "unreal", "--json")

    assert code == 0, err
    result = json.loads(out)
    glb, height = (Path(p) for p in result["files"])
    assert glb.name.startswith("SM_") and glb.suffix == ".glb"
    assert height.name.startswith("T_") and height.name.endswith("_H.png")
    assert any("sample cube" in n and "--mesh" in n for n in result["notices"])
    assert_valid(glb)
    # The GLB holds glTF's conventions whatever the preset: OpenGL normal, ORM packing.
    assert_material_is_the_generations(load_scene(glb).materials[0], generation)
    assert np.array_equal(load_image(height), load_image(files_of(generation)["height"]))


def test_with_mesh_the_material_goes_onto_the_named_material_of_the_users_file(
        capsys, tmp_path, generation) -> None:
    truck = assets.milk_truck(tmp_path)
    code, out, err = run(capsys, "library", "export", generation["id"][:8], str(tmp_path / "out"),
                         "--glb", "--mesh", str(truck.path), "--material", "wheels")

    assert code == 0, err
    glb = Path(out.splitlines()[0])
    assert_valid(glb)
    back = load_scene(glb)
    by_name = {m.name: m for m in back.materials}
    assert_material_is_the_generations(by_name["wheels"], generation)
    assert np.array_equal(by_name["truck"].base_color_texture.image.decode(),
                          load_image(tmp_path / "Cesium Milk Truck.png"))


def test_a_mesh_the_generation_produced_is_the_one_it_is_exported_on(capsys, tmp_path,
                                                                    generation) -> None:
    helmet = assets.damaged_helmet(tmp_path)
    with Library(data_dir() / "library") as library:
        library.ingest(generation["id"], MapKind.MESH, "generated", helmet.path.read_bytes(),
                           "textured_mesh.glb")
    code, out, err = run(capsys, "library", "export", generation["id"][:8], str(tmp_path / "out"),
                         "--glb", "--json")

    assert code == 0, err
    result = json.loads(out)
    assert result["notices"] == []
    back = load_scene(Path(result["files"][0]))
    assert back.triangle_count == helmet.facts["triangles"]
    assert_material_is_the_generations(back.materials[0], generation)


def test_mesh_problems_are_one_line_errors_naming_the_fix(capsys, tmp_path, generation) -> None:
    truck = assets.milk_truck(tmp_path)
    code, _, err = run(capsys, "library", "export", generation["id"][:8], str(tmp_path / "out"),
                       "--glb", "--mesh", str(truck.path), "--material", "paint")
    assert code == 3 and "has no material 'paint'" in err and "'wheels'" in err

    pointer = assets.lfs_pointer(tmp_path)
    code, _, err = run(capsys, "library", "export", generation["id"][:8], str(tmp_path / "out"),
                       "--glb", "--mesh", str(pointer))
    assert code == 3 and "git lfs pull" in err

    code, _, err = run(capsys, "library", "export", generation["id"][:8], str(tmp_path / "out"),
                       "--mesh", str(truck.path))
    assert code == 2 and "--glb" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_the_model_and_its_height_map_follow_the_umask(capsys, tmp_path, generation) -> None:
    previous = os.umask(0o022)
    try:
        code, out, err = run(capsys, "library", "export", generation["id"][:8],
                             str(tmp_path / "out"), "--glb", "--json")
    finally:
        os.umask(previous)
    assert code == 0, err
    modes = {Path(p).name: oct(Path(p).stat().st_mode & 0o777) for p in json.loads(out)["files"]}
    assert set(modes.values()) == {"0o644"}, modes
