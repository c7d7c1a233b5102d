"""OBJ+MTL, PLY and STL open with the materials, UVs and up axis their files say."""

from __future__ import annotations

import numpy as np
import pytest

from automata_desktop.core.mesh import load_mesh
from automata_desktop.core.scene import default_up_axis
from automata_desktop.core.scene_io import load_scene
from tests.fixtures import assets


def test_a_blender_obj_opens_as_its_objects_each_with_its_mtl_material(tmp_path):
    crate = assets.blender_obj(tmp_path)

    scene = load_scene(crate.path)

    assert [scene.nodes[i].name for i in scene.objects] == ["Crate", "Lid"]
    assert [scene.material_of(scene.primitive(i)).name for i in scene.instances()] == [
        "Wood", "Painted Metal"]
    assert scene.up_axis == "Y"
    assert scene.bounds == pytest.approx(np.array(crate.facts["bounds"]), abs=1e-5)
    metal = scene.materials[[m.name for m in scene.materials].index("Painted Metal")]
    assert metal.base_color_factor == pytest.approx((0.1, 0.3, 0.8, 1.0))
    assert (metal.metallic_factor, metal.roughness_factor) == pytest.approx((1.0, 0.4))
    assert metal.maps() == {}
    assert scene.notices == ()  # every map found, every vertex in the file


def test_mtl_maps_with_spaces_in_their_names_land_in_their_slots(tmp_path):
    crate = assets.blender_obj(tmp_path)

    wood = next(m for m in load_scene(crate.path).materials if m.name == "Wood")

    files = {kind: texture.image.path.relative_to(tmp_path).as_posix()
             for kind, texture in wood.maps().items()}
    assert files == {
        "base_color": "wood planks diffuse.png", "normal": "wood planks normal.png",
        "roughness": "textures/wood planks rough.png", "metallic": "wood planks metal.png",
        "emissive": "wood planks glow.png", "opacity": "wood planks alpha.png",
    }
    for kind, texture in wood.maps().items():
        assert texture.image.size() == crate.facts["maps"][files[kind]]
    assert wood.normal_scale == 1.0  # map_Bump -bm 1.000000
    assert wood.emissive_factor == (1.0, 1.0, 1.0)  # Ke 0 with a map_Ke: the map shows
    assert wood.alpha_mode == "BLEND"  # map_d


def test_obj_uvs_are_kept_exactly_and_flipped_only_into_gltfs_convention(tmp_path):
    crate = assets.blender_obj(tmp_path)

    scene = load_scene(crate.path)
    mesh = load_mesh(crate.path)

    for index in scene.instances():
        primitive = scene.primitive(index)
        expected = crate.facts["uvs"][scene.nodes[index.node].name]
        # every corner's UV is one the file wrote (order may differ after de-duplication)
        assert not primitive.generated_uvs
        nearest = np.abs(primitive.uvs[0][:, None, :] - expected[None, :, :]).max(axis=2)
        assert nearest.min(axis=1).max() < 1e-6 and nearest.min(axis=0).max() < 1e-6
    # the merged mesh gives VTK the file's own vt values back
    file_vt = np.array([[float(x) for x in line.split()[1:3]]
                        for line in crate.path.read_text().splitlines() if line.startswith("vt ")])
    nearest = np.abs(mesh.uvs[:, None, :] - file_vt[None, :, :]).max(axis=2).min(axis=1)
    assert nearest.max() < 1e-6 and len(np.unique(mesh.uvs, axis=0)) == len(np.unique(file_vt, axis=0))


def test_a_missing_mtl_texture_is_named_and_the_obj_still_opens(tmp_path):
    crate = assets.blender_obj(tmp_path)
    (tmp_path / "wood planks diffuse.png").unlink()

    scene = load_scene(crate.path)

    assert scene.triangle_count == crate.facts["triangles"]
    assert any("wood planks diffuse.png is missing" in n for n in scene.notices)


def test_a_meshlab_ply_brings_its_texture_file_and_wedge_uvs(tmp_path):
    scan = assets.meshlab_ply(tmp_path)

    scene = load_scene(scan.path)

    [material] = scene.materials
    texture = material.base_color_texture
    assert texture.image.name == "scan texture.png" and texture.image.size() == scan.facts["size"]
    primitive = scene.primitive(next(scene.instances()))
    assert not primitive.generated_uvs and primitive.triangle_count == 4
    # MeshLab's texcoords are OpenGL's (v up): flipped once into glTF's convention
    wedges = scan.facts["wedges"].reshape(-1, 2) * (1, -1) + (0, 1)
    nearest = np.abs(primitive.uvs[0][:, None, :] - wedges[None, :, :]).max(axis=2)
    assert nearest.min(axis=1).max() < 1e-6 and nearest.min(axis=0).max() < 1e-6
    assert load_mesh(scan.path).base_color_image.shape[:2] == (12, 24)


def test_a_cad_stl_is_z_up_and_a_blender_obj_y_up_unless_the_user_says_otherwise(tmp_path):
    part = assets.tall_stl(tmp_path)
    crate = assets.blender_obj(tmp_path)

    assert load_scene(part.path).up_axis == "Z"
    assert load_scene(part.path).up_vector == (0.0, 0.0, 1.0)
    assert load_scene(part.path, up_axis="Y").up_axis == "Y"
    assert load_scene(crate.path).up_axis == "Y"
    assert load_scene(crate.path, up_axis="Z").front_vector == (0.0, -1.0, 0.0)
    height = np.diff(load_scene(part.path).bounds, axis=0)[0]
    assert height[2] == pytest.approx(3.0)  # coordinates untouched: the camera turns, not the mesh


@pytest.mark.parametrize(("name", "axis"), [("a.glb", "Y"), ("a.GLTF", "Y"), ("a.obj", "Y"),
                                            ("a.stl", "Z"), ("a.ply", "Z"), ("a.off", "Z")])
def test_each_format_has_a_documented_default_up_axis(name, axis):
    assert default_up_axis(name) == axis


def test_an_override_keeps_the_rest_of_the_scene(tmp_path):
    truck = assets.milk_truck(tmp_path)
    scene = load_scene(truck.path)

    turned = scene.with_up_axis("Z")

    assert turned.up_axis == "Z" and scene.up_axis == "Y"
    assert turned.meshes is scene.meshes and turned.notices == scene.notices
    with pytest.raises(ValueError):
        scene.with_up_axis("X")  # type: ignore[arg-type]


@pytest.mark.parametrize(("corner", "has_uvs"), [
    ("{v}", False), ("{v}/{v}", True), ("{v}//{v}", False), ("{v}/{v}/{v}", True),
    ("{r}/{r}/{r}", True), ("MIXED", False)])
def test_obj_quads_in_every_index_style_become_the_same_two_triangles_each(tmp_path, corner,
                                                                           has_uvs):
    # a 2 x 1 strip of quads; "{r}" writes relative (negative) indices, as some exporters do
    lines = ["o Strip"]
    for x, y in ((0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)):
        lines += [f"v {x} {y} 0", f"vt {x / 2} {y}", "vn 0 0 1"]
    for quad in ((1, 2, 5, 4), (2, 3, 6, 5)):
        styles = ["{v}/{v}/{v}", "{v}//{v}", "{v}", "{r}/{r}/{r}"] if corner == "MIXED" else [corner] * 4
        lines.append("f " + " ".join(style.format(v=i, r=i - 7) for style, i in zip(
            styles, quad, strict=True)))
    path = tmp_path / "strip.obj"
    path.write_text("\n".join(lines) + "\n")

    scene = load_scene(path, generate_uvs=False)

    primitive = scene.primitive(next(scene.instances()))
    assert primitive.triangle_count == 4
    corners = primitive.positions[primitive.faces]
    assert sorted(map(tuple, corners[:, :, :2].reshape(-1, 2).tolist())) == sorted(
        [(0, 0), (1, 0), (1, 1), (0, 0), (1, 1), (0, 1), (1, 0), (2, 0), (2, 1), (1, 0), (2, 1),
         (1, 1)])
    assert bool(primitive.uvs) == has_uvs
