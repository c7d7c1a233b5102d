"""What a user sees when opening other tools' files: each material on its own actor with its own
maps and factors, the model upright and seen from the front, named views on Blender's keys, and
a new file that shows its own material, never the previous one's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from vtkmodules.util.numpy_support import vtk_to_numpy

from automata_desktop.core.maps import MapKind
from automata_desktop.core.scene_io import load_scene
from automata_desktop.core.texture_set import MapSource, load_image
from automata_desktop.ui.main_window import MainWindow, sample_paths
from automata_desktop.viewport import ViewMode
from automata_desktop.viewport.textures import texture_pixels
from tests.fixtures.assets import damaged_helmet, draco_box, milk_truck, tall_stl
from tests.gui.workbench_helpers import wait_for

pytestmark = pytest.mark.gui


def texture_rows(texture) -> np.ndarray:
    """A bound vtkTexture's pixels as HxWxC rows, top first (as in the image file)."""
    return texture_pixels(texture)  # once drawn, read back from the GPU (the only copy)


@pytest.fixture
def window(qapp, tmp_path):
    window = MainWindow(interactive=False, prefs_path=tmp_path / "view.json")
    window.resize(1300, 760)
    window.show()
    window.activateWindow()  # shortcuts only reach an active window
    QTest.qWaitForWindowActive(window, 5000)
    yield window
    window.close()


def open_and_wait(qapp, window: MainWindow, path: Path) -> None:
    shown = []
    window.mesh_shown.connect(shown.append)
    window.open_mesh(path)
    wait_for(qapp, lambda: shown and not window.busy, 60, f"{path.name} shown")
    window.mesh_shown.disconnect(shown.append)


def silhouette(window: MainWindow) -> tuple[int, int]:
    """(width, height) in pixels of what the viewport draws over its background."""
    window.viewport.render()
    image = window.viewport.screenshot(return_img=True).astype(int)
    background = image[:, 2:3]  # the backdrop is a vertical gradient: compare within each row
    rows, cols = np.nonzero(np.abs(image - background).sum(axis=2) > 40)
    return int(cols.max() - cols.min()), int(rows.max() - rows.min())


def test_each_material_of_a_multi_material_file_has_its_own_actor_and_colour(qapp, window,
                                                                              tmp_path):
    truck = milk_truck(tmp_path)
    open_and_wait(qapp, window, truck.path)

    views = window.scene_view.views
    assert [part.name for part in window.parts.values()] == ["truck", "glass", "window_trim",
                                                           "wheels"]
    actors = {key: view.actor for key, view in views.items()}
    assert len(set(map(id, actors.values()))) == 4
    props = {window.parts[key].name: view.vtk_property for key, view in views.items()}
    assert props["glass"].GetColor() == pytest.approx((0.0, 0.0405, 0.0212))
    assert props["window_trim"].GetColor() == pytest.approx((0.064, 0.064, 0.064))
    assert props["glass"].GetTexture("albedoTex") is None
    image = load_image(tmp_path / "Cesium Milk Truck.png")
    for textured in ("truck", "wheels"):  # the wheels keep their texture (issue 9)
        albedo = texture_rows(props[textured].GetTexture("albedoTex"))
        assert np.array_equal(albedo, image)
    # the truck's own UVs, not a generated atlas, reach VTK (v flipped to VTK's origin)
    body = views[0].actor.GetMapper().GetInput()
    uvs = vtk_to_numpy(body.GetPointData().GetTCoords())
    expected = truck.facts["uvs"]["truck"].copy()
    expected[:, 1] = 1 - expected[:, 1]
    assert np.allclose(uvs, expected, atol=1e-6)


def test_the_helmets_five_embedded_maps_are_bound_to_the_pbr_slots(qapp, window, tmp_path):
    helmet = damaged_helmet(tmp_path)
    open_and_wait(qapp, window, helmet.path)

    prop = window.material_view.vtk_property
    colours = helmet.facts["colours"]
    material = load_scene(helmet.path).materials[0]
    albedo = texture_rows(prop.GetTexture("albedoTex"))
    assert np.array_equal(albedo, material.base_color_texture.image.decode())
    assert prop.GetTexture("normalTex") is not None and prop.GetNormalScale() == pytest.approx(0.8)
    orm = texture_rows(prop.GetTexture("materialTex"))
    # occlusion (R) from the occlusion image, roughness G and metallic B from the MR image
    assert orm.shape[:2] == (32, 32)
    assert abs(int(orm[4, 4, 0]) - colours["ao"][0]) < 20  # the 16² occlusion (JPEG) at 32²
    assert abs(int(orm[4, 4, 1]) - colours["metallic_roughness"][1]) < 8
    assert abs(int(orm[4, 4, 2]) - colours["metallic_roughness"][2]) < 8
    assert prop.GetOcclusionStrength() == pytest.approx(0.9)
    assert prop.GetTexture("emissiveTex") is not None
    assert prop.GetEmissiveFactor() == pytest.approx((4.0, 4.0, 4.0))  # factor × strength
    assert prop.GetRoughness() == pytest.approx(1.0) and prop.GetMetallic() == pytest.approx(1.0)
    # the Material panel says where each map came from
    sources = {window.maps_list.topLevelItem(i).text(0): window.maps_list.topLevelItem(i).text(2)
               for i in range(window.maps_list.topLevelItemCount())}
    assert sources == {"base color": "embedded", "normal": "embedded", "orm": "embedded",
                       "emissive": "embedded"}


def test_a_tall_y_up_gltf_stands_upright_seen_from_the_front(qapp, window, tmp_path):
    box = draco_box(tmp_path)  # 1 wide, 3 tall along +Y
    open_and_wait(qapp, window, box.path)

    camera = window.viewport.renderer.GetActiveCamera()
    assert np.allclose(camera.GetViewUp(), (0, 1, 0), atol=1e-6)
    direction = np.subtract(camera.GetPosition(), camera.GetFocalPoint())
    assert np.allclose(direction / np.linalg.norm(direction), (0, 0, 1), atol=1e-6)
    width, height = silhouette(window)
    assert height > 2 * width, (width, height)


def test_a_tall_z_up_stl_stands_upright_too(qapp, window, tmp_path):
    part = tall_stl(tmp_path)  # 1 wide, 3 tall along +Z
    open_and_wait(qapp, window, part.path)

    camera = window.viewport.renderer.GetActiveCamera()
    assert np.allclose(camera.GetViewUp(), (0, 0, 1), atol=1e-6)
    assert np.allclose(window.lighting_view.environment_up, (0, 0, 1))  # the sky above it too
    width, height = silhouette(window)
    assert height > 2 * width, (width, height)


def test_numpad_views_as_in_blender_and_the_digit_keys_still_switch_view_modes(qapp, window,
                                                                                 tmp_path):
    open_and_wait(qapp, window, draco_box(tmp_path).path)
    camera = window.viewport.renderer.GetActiveCamera()

    def looking_from() -> np.ndarray:
        direction = np.subtract(camera.GetPosition(), camera.GetFocalPoint())
        return np.round(direction / np.linalg.norm(direction), 6)

    window.viewport.interactor.setFocus()
    QTest.keyClick(window.viewport.interactor, Qt.Key.Key_7, Qt.KeyboardModifier.KeypadModifier)
    assert tuple(looking_from()) == (0, 1, 0)  # Top: from +Y for a Y-up file
    assert np.allclose(camera.GetViewUp(), (0, 0, -1), atol=1e-6)
    QTest.keyClick(window.viewport.interactor, Qt.Key.Key_3, Qt.KeyboardModifier.KeypadModifier)
    assert tuple(looking_from()) == (1, 0, 0)  # Right
    QTest.keyClick(window.viewport.interactor, Qt.Key.Key_1,
                   Qt.KeyboardModifier.KeypadModifier | Qt.KeyboardModifier.ControlModifier)
    assert tuple(looking_from()) == (0, 0, -1)  # Ctrl+numpad 1: Back
    QTest.keyClick(window.viewport.interactor, Qt.Key.Key_Home)
    assert tuple(looking_from()) == (0, 0, 1)  # Reset: Front
    QTest.keyClick(window.viewport.interactor, Qt.Key.Key_2)  # the row's digit: a view mode
    assert window.scene_view.mode is ViewMode.BASE_COLOR
    assert tuple(looking_from()) == (0, 0, 1)
    view_menu = window.menuBar().actions()[1].menu()
    texts = [a.text() for a in view_menu.actions()]
    assert {"Front", "Back", "Right", "Left", "Top", "Bottom", "&Reset view"} <= set(texts)


def test_the_up_axis_override_is_remembered_for_that_file(qapp, tmp_path):
    stl = tall_stl(tmp_path).path
    prefs = tmp_path / "prefs.json"
    first = MainWindow(interactive=False, prefs_path=prefs)
    first.show()
    try:
        open_and_wait(qapp, first, stl)
        assert first.scene.up_axis == "Z"
        first.set_up_axis("Y")
        assert np.allclose(first.viewport.renderer.GetActiveCamera().GetViewUp(), (0, 1, 0))
    finally:
        first.close()
    second = MainWindow(interactive=False, prefs_path=prefs)
    second.show()
    try:
        open_and_wait(qapp, second, stl)
        assert second.scene.up_axis == "Y"
        recent = second.menuBar().actions()[0].menu().actions()
        menu = next(a.menu() for a in recent if a.menu() is not None)
        assert [a.text() for a in menu.actions()] == ["bracket.stl"]
    finally:
        second.close()


def test_opening_a_second_file_clears_the_first_files_maps(qapp, window, tmp_path):
    mesh, maps = sample_paths()
    open_and_wait(qapp, window, mesh)
    window.open_maps_folder(maps)
    wait_for(qapp, lambda: window.texture_set is not None
             and window.texture_set.get(MapKind.NORMAL) is not None
             and not window.busy, 60, "the sample maps")
    assert window.texture_set.get(MapKind.NORMAL).source is MapSource.IMPORTED

    truck = milk_truck(tmp_path)
    open_and_wait(qapp, window, truck.path)

    for textures in window.materials.values():
        assert all(t.source is MapSource.EMBEDDED for t in textures)
    prop = window.material_view.vtk_property
    assert prop.GetTexture("normalTex") is None and prop.GetTexture("materialTex") is None
    assert np.array_equal(texture_rows(prop.GetTexture("albedoTex")),
                          load_image(tmp_path / "Cesium Milk Truck.png"))


def test_maps_go_onto_the_selected_material_only(qapp, window, tmp_path):
    truck = milk_truck(tmp_path)
    open_and_wait(qapp, window, truck.path)
    _, maps = sample_paths()
    wheels = next(k for k, p in window.parts.items() if p.name == "wheels")
    window.select_material(wheels)

    window.open_maps_folder(maps)
    wait_for(qapp, lambda: MapKind.NORMAL in window.materials[wheels] and not window.busy, 60,
             "the maps on the wheels")

    assert window.scene_view.views[wheels].vtk_property.GetTexture("normalTex") is not None
    body = window.scene_view.views[0].vtk_property
    assert body.GetTexture("normalTex") is None
    assert np.array_equal(texture_rows(body.GetTexture("albedoTex")),
                          load_image(tmp_path / "Cesium Milk Truck.png"))


def test_clicking_a_part_in_the_viewport_selects_its_material(qapp, window, tmp_path):
    truck = milk_truck(tmp_path)
    open_and_wait(qapp, window, truck.path)
    window.viewport.render()
    width, height = window.viewport.renderer.GetSize()
    # the front view looks at the truck's side: the body fills the middle of the view
    assert window.pick_material(width // 2, height // 2) == 0
    window.select_material(3)
    assert window.selected_material == 3
    window.pick_material(width // 2, height // 2)
    assert window.selected_material == 0
    assert window.materials_list.currentItem().text() == "truck"


def alpha_glb(folder: Path) -> Path:
    """Three boxes: an alpha-MASK leaf texture, a BLEND glass, an OPAQUE one whose image has alpha."""
    from tests.fixtures.assets import ELEMENT_ARRAY_BUFFER, GltfWriter, box, image_bytes

    w = GltfWriter("Khronos glTF Blender I/O v4.1.63")
    rgba = np.zeros((16, 32, 4), np.uint8)
    rgba[..., :3] = (40, 160, 60)
    rgba[:, :16, 3], rgba[:, 16:, 3] = 40, 220  # half below, half above the 0.5 cutoff
    import io

    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(rgba).save(out, "PNG")
    leaf = w.embedded_image(out.getvalue(), "image/png", "leaf")
    w.add("textures", {"source": leaf})
    plain = w.embedded_image(image_bytes((8, 8), (90, 90, 90, 10)), "image/png", "plain")
    w.add("textures", {"source": plain})
    w.doc["materials"] = [
        {"name": "leaves", "alphaMode": "MASK", "alphaCutoff": 0.5, "doubleSided": True,
         "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}},
        {"name": "glass", "alphaMode": "BLEND",
         "pbrMetallicRoughness": {"baseColorFactor": [0.8, 0.9, 1.0, 0.3]}},
        {"name": "painted", "pbrMetallicRoughness": {"baseColorTexture": {"index": 1}}},
    ]
    primitives = []
    for index in range(3):
        part = box((1.0, 1.0, 1.0), (index * 1.5, 0.0, 0.0))
        primitives.append({"attributes": {
            "POSITION": w.accessor(part["positions"], bounds=True),
            "NORMAL": w.accessor(part["normals"]), "TEXCOORD_0": w.accessor(part["uvs"])},
            "indices": w.accessor(part["faces"].ravel(), target=ELEMENT_ARRAY_BUFFER),
            "material": index})
    w.doc["meshes"] = [{"name": "boxes", "primitives": primitives}]
    w.doc["nodes"] = [{"mesh": 0}]
    w.doc["scenes"] = [{"nodes": [0]}]
    w.doc["scene"] = 0
    return w.glb(folder / "alpha.glb")


def test_alpha_mask_blend_and_opaque_are_drawn_as_gltf_says(qapp, window, tmp_path):
    open_and_wait(qapp, window, alpha_glb(tmp_path))
    views = {window.parts[key].name: view for key, view in window.scene_view.views.items()}

    leaves = views["leaves"]
    alpha = texture_rows(leaves.vtk_property.GetTexture("albedoTex"))[..., 3]
    assert set(np.unique(alpha)) == {0, 255}  # cut at 0.5, nothing half-transparent
    assert leaves.actor.HasTranslucentPolygonalGeometry()
    assert not leaves.vtk_property.GetBackfaceCulling()  # double-sided
    glass = views["glass"]
    assert glass.vtk_property.GetOpacity() == pytest.approx(0.3)
    painted = views["painted"]
    assert texture_rows(painted.vtk_property.GetTexture("albedoTex")).shape[2] == 3  # alpha ignored
    assert not painted.actor.HasTranslucentPolygonalGeometry()
    assert painted.vtk_property.GetBackfaceCulling()  # single-sided glTF faces are culled


def one_atlas_two_materials(folder: Path) -> Path:
    """A mesh split into "body" and "trim" over one UV atlas, plus a separate "stand" mesh."""
    from tests.fixtures.assets import ELEMENT_ARRAY_BUFFER, GltfWriter, box

    w = GltfWriter("Khronos glTF Blender I/O v4.1.63")

    def primitive(centre: tuple[float, float, float], material: int) -> dict:
        part = box((1.0, 1.0, 1.0), centre)
        return {"attributes": {
            "POSITION": w.accessor(part["positions"], bounds=True),
            "NORMAL": w.accessor(part["normals"]), "TEXCOORD_0": w.accessor(part["uvs"])},
            "indices": w.accessor(part["faces"].ravel(), target=ELEMENT_ARRAY_BUFFER),
            "material": material}

    w.doc["materials"] = [{"name": "body"}, {"name": "trim"}, {"name": "stand"}]
    w.doc["meshes"] = [{"name": "car", "primitives": [primitive((0, 0, 0), 0),
                                                      primitive((1.5, 0, 0), 1)]},
                       {"name": "stand", "primitives": [primitive((0, -1.5, 0), 2)]}]
    w.doc["nodes"] = [{"mesh": 0}, {"mesh": 1}]
    w.doc["scenes"] = [{"nodes": [0, 1]}]
    w.doc["scene"] = 0
    return w.glb(folder / "car.glb")


@pytest.mark.parametrize("share", [False, True])
def test_maps_go_onto_the_materials_sharing_the_uv_layout_when_the_user_asks(qapp, window,
                                                                              tmp_path, share):
    open_and_wait(qapp, window, one_atlas_two_materials(tmp_path))
    window.share_uv_set = share
    window.select_material(0)
    window.open_maps_folder(sample_paths()[1])
    wait_for(qapp, lambda: MapKind.NORMAL in window.materials[0] and not window.busy, 60,
             "the maps")
    with_maps = {window.parts[k].name for k, view in window.scene_view.views.items()
                 if view.vtk_property.GetTexture("normalTex") is not None}
    assert with_maps == ({"body", "trim"} if share else {"body"})


def test_an_obj_shows_its_mtl_maps_and_factors_on_each_object(qapp, window, tmp_path):
    from tests.fixtures.assets import blender_obj

    crate = blender_obj(tmp_path)
    open_and_wait(qapp, window, crate.path)
    views = {window.parts[key].name: view for key, view in window.scene_view.views.items()}

    wood = views["Wood"].vtk_property
    albedo = texture_rows(wood.GetTexture("albedoTex"))
    assert albedo.shape == (16, 32, 4)  # map_Kd, with map_d as its alpha
    assert np.array_equal(albedo[..., :3], load_image(tmp_path / "wood planks diffuse.png"))
    assert views["Wood"].actor.HasTranslucentPolygonalGeometry()
    assert wood.GetTexture("normalTex") is not None
    orm = texture_rows(wood.GetTexture("materialTex"))
    assert orm.shape[:2] == (8, 8)  # map_Pr's size; its gradient along u in the G channel
    assert np.all(np.diff(orm[0, :, 1].astype(int)) >= 0) and orm[0, -1, 1] > orm[0, 0, 1]
    assert wood.GetTexture("emissiveTex") is not None
    metal = views["Painted Metal"].vtk_property
    assert metal.GetTexture("albedoTex") is None
    assert metal.GetColor() == pytest.approx((0.1, 0.3, 0.8))
    assert metal.GetRoughness() == pytest.approx(0.4) and metal.GetMetallic() == pytest.approx(1.0)


def test_export_writes_each_materials_shown_maps_and_keeps_the_others(qapp, window, tmp_path):
    from tests.gltf_validator import assert_valid

    truck = milk_truck(tmp_path)
    open_and_wait(qapp, window, truck.path)
    wheels = next(k for k, p in window.parts.items() if p.name == "wheels")
    window.select_material(wheels)
    window.open_maps_folder(sample_paths()[1])
    wait_for(qapp, lambda: MapKind.NORMAL in window.materials[wheels] and not window.busy, 60,
             "the maps on the wheels")
    results = []
    window.scene_exported.connect(results.append)

    window.export_scene_glb(tmp_path / "out" / "truck.glb")

    wait_for(qapp, lambda: results and not window.busy, 60, "the export")
    glb = results[0].paths[0]
    assert_valid(glb)
    materials = {m.name: m for m in load_scene(glb).materials}
    assert np.array_equal(materials["wheels"].normal_texture.image.decode(),
                          load_image(sample_paths()[1] / "sample_normal.png"))
    assert materials["truck"].normal_texture is None
    assert np.array_equal(materials["truck"].base_color_texture.image.decode(),
                          load_image(tmp_path / "Cesium Milk Truck.png"))
    assert materials["glass"].base_color_factor[:3] == pytest.approx((0.0, 0.0405, 0.0212))


def test_a_texture_transform_shared_by_a_materials_maps_tiles_its_uvs(qapp, window, tmp_path):
    from tests.fixtures.assets import ELEMENT_ARRAY_BUFFER, GltfWriter, box, image_bytes

    w = GltfWriter("Khronos glTF Blender I/O v4.1.63")
    part = box((1.0, 1.0, 1.0))
    image = w.embedded_image(image_bytes((8, 8), (200, 80, 40)), "image/png", "tiles")
    w.add("textures", {"source": image})
    tiled = {"index": 0, "extensions": {"KHR_texture_transform": {"scale": [3.0, 2.0]}}}
    w.doc["materials"] = [{"name": "tiles", "pbrMetallicRoughness": {"baseColorTexture": tiled}}]
    w.doc["meshes"] = [{"primitives": [{"attributes": {
        "POSITION": w.accessor(part["positions"], bounds=True),
        "NORMAL": w.accessor(part["normals"]), "TEXCOORD_0": w.accessor(part["uvs"])},
        "indices": w.accessor(part["faces"].ravel(), target=ELEMENT_ARRAY_BUFFER),
        "material": 0}]}]
    w.doc["nodes"] = [{"mesh": 0}]
    w.doc["scenes"] = [{"nodes": [0]}]
    w.doc["scene"] = 0
    w.doc["extensionsUsed"] = ["KHR_texture_transform"]
    open_and_wait(qapp, window, w.glb(tmp_path / "tiles.glb"))

    coords = vtk_to_numpy(window.material_view.actor.GetMapper().GetInput()
                          .GetPointData().GetTCoords())
    expected = part["uvs"] * [3.0, 2.0]
    expected[:, 1] = 1 - expected[:, 1]
    assert np.allclose(coords, expected, atol=1e-6)


def test_a_load_that_takes_a_while_shows_a_busy_bar_that_goes_when_done(qapp, window, tmp_path):
    window._progress_timer.setInterval(0)  # "a while": any load still running at the next tick
    seen: list[bool] = []
    window.open_mesh(damaged_helmet(tmp_path).path)
    wait_for(qapp, lambda: seen.append(window.load_progress.isVisible()) or (not window.busy
             and window.mesh is not None), 60, "the helmet")
    qapp.processEvents()
    assert any(seen), "no busy bar while the helmet loaded"
    assert "Loading" in window.load_progress.toolTip()
    assert not window.load_progress.isVisible()
