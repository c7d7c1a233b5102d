"""Files that are not what their names promise: a clear MeshError (or a warning), never a traceback."""

from __future__ import annotations

import pytest

from automata_desktop.core.scene import MeshError
from automata_desktop.core.scene_io import load_scene
from tests.fixtures import assets


def _message(path) -> str:
    with pytest.raises(MeshError) as caught:
        load_scene(path)
    return str(caught.value)


@pytest.mark.parametrize("name", ["DamagedHelmet.glb", "crate.obj", "bracket.stl"])
def test_a_git_lfs_pointer_says_to_run_git_lfs_pull(tmp_path, name):
    message = _message(assets.lfs_pointer(tmp_path, name))

    assert name in message
    assert "this is a Git LFS pointer, not the model: run `git lfs pull`" in message


def test_an_html_page_saved_as_glb_is_called_a_web_page(tmp_path):
    message = _message(assets.html_page(tmp_path))

    assert "model.glb" in message and "web page" in message and "download the raw file" in message


@pytest.mark.parametrize("name", ["empty.glb", "empty.obj", "empty.ply", "empty.stl"])
def test_an_empty_file_is_called_empty(tmp_path, name):
    assert "the file is empty" in _message(assets.empty(tmp_path, name))


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.99])
def test_a_truncated_glb_says_how_much_of_it_arrived(tmp_path, keep):
    cut = assets.truncated(assets.damaged_helmet(tmp_path).path, keep)

    message = _message(cut)

    assert cut.name in message and "truncated" in message and "fetch it again" in message


def test_a_gltf_whose_bin_was_cut_short_is_truncated(tmp_path):
    truck = assets.milk_truck(tmp_path)
    binary = tmp_path / "CesiumMilkTruck0.bin"
    binary.write_bytes(binary.read_bytes()[:1000])

    assert "truncated" in _message(truck.path)


def test_a_gltf_whose_json_stops_early_is_truncated(tmp_path):
    truck = assets.milk_truck(tmp_path)

    assert "truncated" in _message(assets.truncated(truck.path, 0.6))


def test_a_truncated_binary_stl_opens_its_whole_triangles_with_a_warning(tmp_path):
    cut = assets.truncated(assets.tall_stl(tmp_path).path, 0.5)

    scene = load_scene(cut)

    assert scene.triangle_count == (int(cut.stat().st_size) - 84) // 50
    assert any("truncated" in n and "of the 12 triangles" in n for n in scene.notices)


def test_a_truncated_binary_ply_is_refused_as_truncated(tmp_path):
    cut = assets.truncated(assets.meshlab_ply(tmp_path).path, 0.9)

    message = _message(cut)

    assert "scan" in message and "truncated" in message


def test_an_obj_cut_mid_line_opens_with_a_warning(tmp_path):
    crate = assets.blender_obj(tmp_path)
    cut = assets.truncated(crate.path, 0.99)

    scene = load_scene(cut)

    assert 0 < scene.triangle_count < crate.facts["triangles"]
    assert any("looks truncated" in n for n in scene.notices)


def test_an_obj_cut_before_its_last_objects_faces_says_so(tmp_path):
    crate = assets.blender_obj(tmp_path)
    lines = crate.path.read_text().splitlines()
    lid_faces = next(i for i, line in enumerate(lines) if line == "usemtl Painted Metal")
    crate.path.write_text("\n".join(lines[:lid_faces]) + "\n")

    scene = load_scene(crate.path)

    assert [scene.nodes[i].name for i in scene.objects] == ["Crate"]
    assert any("Lid, has vertices but no faces" in n for n in scene.notices)


def test_obj_faces_pointing_at_vertices_not_in_the_file_are_left_out_with_a_warning(tmp_path):
    crate = assets.blender_obj(tmp_path)
    lines = crate.path.read_text().splitlines()
    # the Lid's last four vertex lines (one side of the box) are lost: that side's faces point
    # past the end of the vertex list
    last_v = max(i for i, line in enumerate(lines) if line.startswith("v "))
    crate.path.write_text("\n".join(lines[: last_v - 3] + lines[last_v + 1:]) + "\n")

    scene = load_scene(crate.path)

    assert scene.triangle_count == 12 + (12 - 2)  # the crate, and the lid's faces that are whole
    [notice] = [n for n in scene.notices if "not in the file" in n]
    assert "2 triangles" in notice and "truncated" in notice


def test_an_obj_whose_every_face_points_past_its_vertices_is_refused(tmp_path):
    path = tmp_path / "shards.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nf 1 2 3\nf 4 5 6\n")

    message = _message(path)

    assert "shards.obj" in message and "not in the file" in message


@pytest.mark.parametrize(("name", "content"), [
    ("noise.glb", b"\x00\x01garbage" * 50),
    ("noise.gltf", b"{\"asset\": {\"version\": \"2.0\"}, \"meshes\": 7}"),
    ("noise.ply", b"ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nend_header\n1\n"),
    ("noise.stl", b"solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0\n"),
    ("noise.obj", b"v 1 2 3\nf 1 2 x\n"),
    ("old.glb", b"glTF\x01\x00\x00\x00\x20\x00\x00\x00" + b"\x00" * 20),
])
def test_damaged_files_raise_mesh_error_naming_the_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)

    assert name in _message(path)
