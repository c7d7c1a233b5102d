"""glTF files open as the scene their author made: objects, transforms, a material per primitive."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from automata_desktop.core.mesh import load_mesh
from automata_desktop.core.scene import MeshError
from automata_desktop.core.scene_io import load_scene
from tests.fixtures import assets
from tests.fixtures.assets import GltfWriter


def _by_name(scene):
    return {scene.material_of(scene.primitive(i)).name: scene.primitive(i) for i in scene.instances()}


def test_the_milk_truck_keeps_a_material_per_primitive_and_its_hierarchy(tmp_path):
    truck = assets.milk_truck(tmp_path)

    scene = load_scene(truck.path)

    assert scene.up_axis == "Y" and scene.generator == "COLLADA2GLTF"
    drawn = [(scene.nodes[i.node].name, scene.material_of(scene.primitive(i)).name)
             for i in scene.instances()]
    assert drawn == [("Cesium_Milk_Truck", "truck"), ("Cesium_Milk_Truck", "glass"),
                     ("Cesium_Milk_Truck", "window_trim"), ("Wheels", "wheels"),
                     ("Wheels", "wheels")]
    wheels = [i for i in scene.instances() if scene.nodes[i.node].name == "Wheels"]
    assert [scene.nodes[scene.nodes[i.node].parent].parent for i in wheels] == [0, 0]
    assert scene.triangle_count == truck.facts["triangles"]  # the wheel mesh is drawn twice
    texture = scene.materials[0].base_color_texture
    assert texture is not None and texture.image.exists  # "Cesium%20Milk%20Truck.png" found
    assert texture.image.decode().shape[:2] == (32, 64)
    assert scene.materials[3].base_color_texture.image is texture.image  # one image, two slots
    assert scene.materials[1].base_color_factor == pytest.approx((0.0, 0.0405, 0.0212, 1.0))
    assert scene.materials[1].base_color_texture is None


def test_bounds_are_in_world_space_after_every_parent_transform(tmp_path):
    truck = assets.milk_truck(tmp_path)

    low, high = load_scene(truck.path).bounds

    # The rear wheel sticks out behind the body and the wheels reach the ground only once their
    # parents' matrices are applied; in local space they sit around the origin.
    assert low == pytest.approx(truck.facts["bounds_min"], abs=0.01)
    assert high == pytest.approx(truck.facts["bounds_max"], abs=0.01)


def test_only_the_primitives_without_uvs_get_generated_ones_the_others_keep_theirs(tmp_path):
    truck = assets.milk_truck(tmp_path)

    scene = load_scene(truck.path)

    parts = _by_name(scene)
    np.testing.assert_array_equal(parts["truck"].uvs[0], truck.facts["uvs"]["truck"])
    np.testing.assert_array_equal(parts["wheels"].uvs[0], truck.facts["uvs"]["wheels"])
    assert not parts["truck"].generated_uvs and not parts["wheels"].generated_uvs
    assert parts["glass"].generated_uvs and parts["window_trim"].generated_uvs
    [notice] = [n for n in scene.notices if "no UVs" in n]
    assert '"Cesium_Milk_Truck #1" (material "glass")' in notice and "window_trim" in notice
    assert "wheels" not in notice and '(material "truck")' not in notice


def test_the_merged_mesh_for_the_viewport_keeps_each_parts_own_uvs(tmp_path):
    truck = assets.milk_truck(tmp_path)

    mesh = load_mesh(truck.path)

    body = truck.facts["uvs"]["truck"]
    # VTK's v grows upwards: the merged mesh flips glTF's v, and changes nothing else
    np.testing.assert_allclose(mesh.uvs[: len(body)], np.column_stack([body[:, 0], 1 - body[:, 1]]))
    assert mesh.triangle_count == truck.facts["triangles"]
    assert mesh.base_color_image is not None and mesh.base_color_image.shape[:2] == (32, 64)
    assert mesh.scene is not None and len(mesh.scene.materials) == 4


def test_the_helmet_binds_its_five_embedded_maps_to_their_slots(tmp_path):
    helmet = assets.damaged_helmet(tmp_path)

    [material] = load_scene(helmet.path).materials

    slots = {"base_color": material.base_color_texture, "normal": material.normal_texture,
             "metallic_roughness": material.metallic_roughness_texture,
             "ao": material.occlusion_texture, "emissive": material.emissive_texture}
    for kind, texture in slots.items():
        assert texture.image.origin == "embedded"
        pixels = texture.image.decode()
        assert (pixels.shape[1], pixels.shape[0]) == helmet.facts["maps"][kind]
        centre = pixels[pixels.shape[0] // 2, pixels.shape[1] // 2, 1:3].astype(int)
        assert np.abs(centre - helmet.facts["colours"][kind][1:3]).max() < 12, kind  # JPEG
    assert set(material.maps()) == set(slots)
    assert material.normal_scale == pytest.approx(0.8)
    assert material.occlusion_strength == pytest.approx(0.9)
    assert material.emissive_factor == (1.0, 1.0, 1.0) and material.emissive_strength == 4.0


def test_a_texture_transform_and_its_texcoord_override_are_kept(tmp_path):
    helmet = assets.damaged_helmet(tmp_path)

    scene = load_scene(helmet.path)

    emissive = scene.materials[0].emissive_texture
    assert emissive.texcoord == 1  # KHR_texture_transform.texCoord overrides the texture info's
    assert emissive.transform.offset == (0.5, 0.0) and emissive.transform.scale == (0.5, 0.5)
    primitive = scene.primitive(next(scene.instances()))
    np.testing.assert_array_equal(primitive.uv(1), helmet.facts["uvs1"])
    np.testing.assert_allclose(emissive.transform.apply(np.array([[1.0, 1.0]])), [[1.0, 0.5]])


def test_a_z_up_mesh_turned_upright_by_its_node_is_tall_along_y(tmp_path):
    helmet = assets.damaged_helmet(tmp_path)

    scene = load_scene(helmet.path)

    size = scene.bounds[1] - scene.bounds[0]
    assert scene.up_axis == "Y" and scene.up_vector == (0.0, 1.0, 0.0)
    assert size == pytest.approx((2.0, 2.0, 1.0), abs=1e-3)  # local y (0.5 thick) became depth


def test_a_draco_compressed_glb_decodes_with_its_uvs_and_says_so(tmp_path):
    box = assets.draco_box(tmp_path)

    scene = load_scene(box.path)

    assert scene.triangle_count == 12
    assert scene.bounds == pytest.approx(np.array(box.facts["bounds"]), abs=1e-3)
    primitive = scene.primitive(next(scene.instances()))
    assert not primitive.generated_uvs
    np.testing.assert_allclose(primitive.uvs[0], box.facts["uvs"], atol=1e-3)  # 16-bit quantised
    assert any("Draco" in n for n in scene.notices)
    assert scene.extensions_required == ("KHR_draco_mesh_compression",)


def _glb_requiring(tmp_path, extension: str):
    writer = GltfWriter("gltfpack 0.21")
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    writer.doc["meshes"] = [{"primitives": [{"attributes": {
        "POSITION": writer.accessor(points, bounds=True)}}]}]
    writer.doc["nodes"] = [{"mesh": 0}]
    writer.doc["extensionsUsed"] = writer.doc["extensionsRequired"] = [extension]
    return writer.glb(tmp_path / "packed.glb")


def test_a_dds_only_texture_is_decoded_and_a_ktx2_only_one_is_named(tmp_path):
    import io

    from PIL import Image

    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 0] = 200
    dds = io.BytesIO()
    Image.fromarray(colour).save(dds, format="DDS", pixel_format="DXT1")
    writer = GltfWriter("Babylon.js glTF exporter")
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    uvs = np.array([[0, 0], [1, 0], [0, 1]], np.float32)
    writer.doc["meshes"] = [{"primitives": [{"attributes": {
        "POSITION": writer.accessor(points, bounds=True), "TEXCOORD_0": writer.accessor(uvs)},
        "material": 0}]}]
    writer.doc["nodes"] = [{"mesh": 0}]
    dds_image = writer.embedded_image(dds.getvalue(), "image/vnd-ms.dds", "wall_dds")
    ktx_image = writer.embedded_image(b"\xabKTX 20\xbb\r\n\x1a\n" + bytes(64), "image/ktx2", "k")
    writer.doc["textures"] = [
        {"extensions": {"MSFT_texture_dds": {"source": dds_image}}},
        {"extensions": {"KHR_texture_basisu": {"source": ktx_image}}}]
    writer.doc["materials"] = [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}},
                                "emissiveTexture": {"index": 1}}]
    writer.doc["extensionsUsed"] = ["MSFT_texture_dds", "KHR_texture_basisu"]
    writer.doc["extensionsRequired"] = ["MSFT_texture_dds"]
    scene = load_scene(writer.glb(tmp_path / "dds.glb"))

    pixels = scene.materials[0].base_color_texture.image.decode()
    assert pixels.shape[:2] == (8, 8) and abs(int(pixels[4, 4, 0]) - 200) <= 8  # 5-bit red
    assert scene.materials[0].emissive_texture is None
    assert any("KTX2/Basis" in notice for notice in scene.notices)


def test_a_meshopt_compressed_glb_is_refused_naming_the_extension(tmp_path):
    with pytest.raises(MeshError) as caught:
        load_scene(_glb_requiring(tmp_path, "EXT_meshopt_compression"))

    assert "packed.glb" in str(caught.value) and "EXT_meshopt_compression" in str(caught.value)
    assert "Draco" in str(caught.value)  # the way out


def test_any_required_extension_the_app_cannot_honour_is_named(tmp_path):
    with pytest.raises(MeshError, match="KHR_materials_exotic"):
        load_scene(_glb_requiring(tmp_path, "KHR_materials_exotic"))


def test_a_meshopt_fallback_buffer_without_data_is_refused_naming_the_extension(tmp_path):
    path = _glb_requiring(tmp_path, "EXT_meshopt_compression")
    data = bytearray(path.read_bytes())
    length = int.from_bytes(data[12:16], "little")
    doc = json.loads(data[20:20 + length])
    del doc["extensionsRequired"]  # "used" only: readers are meant to use the fallback buffer
    doc["buffers"].append({"byteLength": 12, "extensions": {"EXT_meshopt_compression": {
        "fallback": True}}})
    doc["bufferViews"][0]["buffer"] = 1
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    rest = data[20 + length:]
    path.write_bytes(b"glTF" + (2).to_bytes(4, "little") + (20 + len(text) + len(rest)).to_bytes(
        4, "little") + len(text).to_bytes(4, "little") + b"JSON" + text + rest)

    with pytest.raises(MeshError, match="EXT_meshopt_compression"):
        load_scene(path)


def test_a_gltf_whose_bin_is_not_beside_it_says_which_file_to_copy(tmp_path):
    truck = assets.milk_truck(tmp_path)
    (tmp_path / "CesiumMilkTruck0.bin").unlink()

    with pytest.raises(MeshError, match=r"CesiumMilkTruck0\.bin"):
        load_scene(truck.path)


def test_a_missing_texture_is_a_notice_and_the_mesh_still_opens(tmp_path):
    truck = assets.milk_truck(tmp_path)
    (tmp_path / "Cesium Milk Truck.png").unlink()

    scene = load_scene(truck.path)

    assert not scene.materials[0].base_color_texture.image.exists
    assert any("Cesium Milk Truck.png is missing" in n for n in scene.notices)
    assert load_mesh(truck.path).base_color_image is None


def test_without_dracopy_a_draco_glb_is_refused_by_name_never_shown_empty(tmp_path, monkeypatch):
    box = assets.draco_box(tmp_path)  # encoding needs DracoPy; reading is what is tested
    monkeypatch.setitem(sys.modules, "DracoPy", None)

    with pytest.raises(MeshError) as caught:
        load_mesh(box.path)

    assert "KHR_draco_mesh_compression" in str(caught.value)
    assert "pip install DracoPy" in str(caught.value)
