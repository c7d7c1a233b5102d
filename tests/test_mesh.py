"""Opening meshes: every supported file becomes one UV-mapped mesh, or a message saying why not."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from PIL import Image

from automata_desktop.core.mesh import MeshError, load_mesh, spherical_uvs
from automata_desktop.errors import AutomataError
from automata_desktop.paths import resources_dir
from tests.fixtures import assets

SAMPLE = resources_dir() / "samples" / "sample.glb"


def test_the_bundled_sample_opens_with_its_own_uvs_and_normals():
    mesh = load_mesh(SAMPLE)
    assert 5_000 <= mesh.triangle_count <= 20_000
    assert mesh.uvs is not None and mesh.uvs.shape == (mesh.vertex_count, 2)
    assert mesh.uvs.min() >= 0.0 and mesh.uvs.max() <= 1.0
    assert np.allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, atol=1e-4)
    assert mesh.notices == ()  # nothing to tell the user
    assert mesh.base_color_image is None


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".stl", ".off", ".glb"])
def test_a_mesh_without_uvs_gets_generated_ones_and_a_notice(tmp_path, suffix):
    path = tmp_path / f"box{suffix}"
    trimesh.creation.box(extents=(2, 1, 1)).export(path)

    mesh = load_mesh(path)

    assert mesh.triangle_count == 12
    assert mesh.uvs is not None and len(mesh.uvs) == mesh.vertex_count
    assert mesh.uvs.min() >= 0.0 and mesh.uvs.max() <= 1.0
    assert mesh.faces.max() < mesh.vertex_count
    assert any("no UVs" in notice for notice in mesh.notices)
    assert np.allclose(mesh.bounds[1] - mesh.bounds[0], (2, 1, 1))


def test_uv_generation_can_be_left_to_the_caller(tmp_path):
    path = tmp_path / "box.stl"
    trimesh.creation.box().export(path)
    assert load_mesh(path, generate_uvs=False).uvs is None


def test_a_scene_of_several_objects_is_merged_in_world_space(tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(), transform=trimesh.transformations.translation_matrix(
        [5, 0, 0]))
    scene.add_geometry(trimesh.creation.icosphere(subdivisions=1))
    path = tmp_path / "scene.glb"
    scene.export(path)

    mesh = load_mesh(path)

    assert mesh.triangle_count == 12 + 80
    assert mesh.bounds[1][0] == pytest.approx(5.5)  # the box kept its node translation
    assert any("Merged 2 objects" in notice for notice in mesh.notices)


def test_a_base_color_texture_embedded_in_a_glb_comes_along(tmp_path):
    box = trimesh.creation.box()
    uv = (box.vertices[:, :2] + 0.5).clip(0, 1)
    image = Image.new("RGB", (16, 8), (200, 30, 40))
    box.visual = trimesh.visual.TextureVisuals(
        uv=uv, material=trimesh.visual.material.PBRMaterial(baseColorTexture=image))
    path = tmp_path / "painted.glb"
    box.export(path)

    mesh = load_mesh(path)

    assert mesh.base_color_image is not None
    assert mesh.base_color_image.shape[:2] == (8, 16)
    assert tuple(mesh.base_color_image[0, 0, :3]) == (200, 30, 40)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.glb", b"glTF" + b"\x00\xff" * 40, "damaged"),
        ("broken.obj", b"this is not a mesh\n", "no triangles"),
        ("empty.stl", b"", "empty"),
        ("points.ply", None, "no triangles"),
        ("notes.txt", b"hello", "not a supported mesh format"),
    ],
)
def test_a_bad_file_gives_a_clear_error_naming_it(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is None:
        trimesh.PointCloud(np.random.default_rng(0).random((20, 3))).export(path)
    else:
        path.write_bytes(content)

    with pytest.raises(MeshError) as caught:
        load_mesh(path)

    assert name in str(caught.value) and reason in str(caught.value)
    assert isinstance(caught.value, AutomataError)


def test_a_missing_file_is_reported_as_missing(tmp_path):
    with pytest.raises(MeshError, match="does not exist"):
        load_mesh(tmp_path / "gone.obj")


def test_spherical_fallback_uvs_wrap_around_the_mesh():
    octahedron = np.array(
        [[0, 1, 0], [0, -1, 0], [1, 0, 0], [0, 0, 1], [-1, 0, 0], [0, 0, -1]], np.float32)
    uvs = spherical_uvs(octahedron)
    assert uvs[0, 1] == pytest.approx(1.0) and uvs[1, 1] == pytest.approx(0.0)  # poles: top/bottom
    around = uvs[2:, 0]
    assert around.min() >= 0.0 and around.max() <= 1.0
    assert len(np.unique(np.round(around, 3))) == 4  # the equator spreads across u


# --- The merged mesh the current viewport draws, from files other tools wrote ---------------------

def test_a_truck_whose_glass_has_no_uvs_keeps_its_bodys_own_uvs(tmp_path):
    truck = assets.milk_truck(tmp_path)

    mesh = load_mesh(truck.path)

    body = truck.facts["uvs"]["truck"]
    np.testing.assert_allclose(mesh.uvs[: len(body)], np.column_stack([body[:, 0], 1 - body[:, 1]]))
    assert any("glass" in notice and "no UVs" in notice for notice in mesh.notices)


def test_a_draco_glb_is_not_an_empty_view(tmp_path):
    mesh = load_mesh(assets.draco_box(tmp_path).path)

    assert mesh.triangle_count == 12
    assert np.allclose(mesh.bounds[1] - mesh.bounds[0], (1, 3, 1), atol=1e-3)  # not zeros


def test_an_obj_brings_its_mtl_base_colour_texture(tmp_path):
    mesh = load_mesh(assets.blender_obj(tmp_path).path)

    assert mesh.base_color_image is not None and mesh.base_color_image.shape[:2] == (16, 32)


def test_an_obj_with_faces_past_its_vertices_is_not_opened_silently(tmp_path):
    crate = assets.blender_obj(tmp_path)
    lines = crate.path.read_text().splitlines()
    last_v = max(i for i, line in enumerate(lines) if line.startswith("v "))
    crate.path.write_text("\n".join(lines[: last_v - 3] + lines[last_v + 1:]) + "\n")

    mesh = load_mesh(crate.path)

    assert any("truncated" in notice for notice in mesh.notices)
