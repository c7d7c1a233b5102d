"""The Material panel with a real workbench: the scene's materials listed, each map's source, maps
the user replaced by hand kept through a later generation, images dropped onto the window used
as maps by their names."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automata_desktop.controller.app_controller import SceneUpdate, texture_set_of
from automata_desktop.core.generation import Generation, GenerationStatus, OutputFile
from automata_desktop.core.maps import MapKind
from automata_desktop.core.texture_set import MapSource
from automata_desktop.ui.main_window import sample_paths
from automata_desktop.viewport.textures import texture_pixels
from tests.fixtures.assets import milk_truck
from tests.gui.test_workflow_import_gui import drop
from tests.gui.workbench_helpers import open_workbench, wait_for

pytestmark = pytest.mark.gui
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def bench(qapp, tmp_path):
    bench = open_workbench(qapp, tmp_path / "library", with_maps=True)
    wait_for(qapp, lambda: bench.window.texture_set is not None
             and MapKind.NORMAL in bench.window.texture_set and not bench.window.busy, 60,
             "the sample maps")
    yield bench
    bench.window.close()


def image(path: Path, colour: tuple[int, int, int], size: int = 64) -> Path:
    Image.new("RGB", (size, size), colour).save(path)
    return path


def generation_of(folder: Path, **maps: Path) -> Generation:
    """A finished generation as the library returns it, with files of the given kinds."""
    files = []
    for kind, path in maps.items():
        data = path.read_bytes()
        files.append(OutputFile(MapKind(kind), path, hashlib.sha256(data).hexdigest(), len(data)))
    return Generation(id="gen-1", workflow="pbr_from_image", server="local",
                      status=GenerationStatus.COMPLETED, files=files)


def test_the_material_panel_lists_the_files_materials_and_shows_each_ones_maps(qapp, bench,
                                                                             tmp_path):
    window, inspector = bench.window, bench.inspector
    truck = milk_truck(tmp_path)
    window.open_mesh(truck.path)
    wait_for(qapp, lambda: window.scene is not None and window.scene.source == truck.path
             and not window.busy, 60, "the truck")

    assert inspector.material_names() == ["truck", "glass", "window_trim", "wheels"]
    assert inspector.cards[MapKind.BASE_COLOR].source == "embedded"
    assert inspector.cards[MapKind.NORMAL].source is None  # the sample's normal map is gone
    inspector.materials.setCurrentRow(3)  # the wheels: the same texture, their own material
    assert window.selected_material == 3
    assert inspector.cards[MapKind.BASE_COLOR].source == "embedded"
    wait_for(qapp, lambda: not inspector.busy, 30, "the thumbnails")
    window.save_screenshot(SCREENSHOTS / "scene-materials.png")
    inspector.materials.setCurrentRow(1)  # the user picks "glass"
    assert window.selected_material == 1
    assert inspector.cards[MapKind.BASE_COLOR].source is None  # glass has a colour, no texture


def test_a_hand_replaced_map_survives_a_later_generation_until_the_user_applies_it(
        qapp, bench, tmp_path):
    window, inspector = bench.window, bench.inspector
    mine = image(tmp_path / "my_basecolor.png", (250, 120, 0))
    inspector.replace_requested.emit(MapKind.BASE_COLOR, mine)
    wait_for(qapp, lambda: window.texture_set.get(MapKind.BASE_COLOR).path == mine
             and not window.busy, 30, "the replaced colour")

    out = tmp_path / "gen"
    out.mkdir()
    generated = generation_of(out, base_color=image(out / "ai_basecolor.png", (0, 90, 200)),
                              normal=shutil.copy(sample_paths()[1] / "sample_normal.png",
                                                 out / "ai_normal.png"))
    bench.show_generation(SceneUpdate(generated.id, texture_set_of(generated), None,
                                      keep_replaced=True))  # what a finished run does
    wait_for(qapp, lambda: window.texture_set.get(MapKind.NORMAL).path == out / "ai_normal.png"
             and not window.busy, 30, "the generated maps")

    base = window.texture_set.get(MapKind.BASE_COLOR)
    assert base.path == mine and base.source is MapSource.IMPORTED
    albedo = texture_pixels(window.material_view.vtk_property.GetTexture("albedoTex"))
    assert albedo.shape[:2] == (64, 64)
    assert window.texture_set.get(MapKind.NORMAL).source is MapSource.GENERATED

    bench.show_generation(SceneUpdate(generated.id, texture_set_of(generated), None,
                                      keep_replaced=False))  # the user opens it
    wait_for(qapp, lambda: window.texture_set.get(MapKind.BASE_COLOR).path
             == out / "ai_basecolor.png" and not window.busy, 60, "the applied generation")


def test_images_dropped_onto_the_window_become_maps_by_their_names(qapp, bench, tmp_path):
    window = bench.window
    normal = image(tmp_path / "rock_normal.png", (128, 128, 255), size=32)

    drop(window, normal)

    wait_for(qapp, lambda: window.texture_set.get(MapKind.NORMAL).path == normal
             and not window.busy, 30, "the dropped normal map")
    assert window.texture_set.get(MapKind.NORMAL).source is MapSource.IMPORTED
    bound = texture_pixels(window.material_view.vtk_property.GetTexture("normalTex"))
    assert bound.shape[:2] == (32, 32)
    # the other maps of the material stay
    assert window.texture_set.get(MapKind.BASE_COLOR).path == sample_paths()[1] / \
        "sample_basecolor.png"
    assert np.all(window.texture_set.pixels(MapKind.NORMAL)[..., 2] == 255)


def test_a_mesh_and_a_maps_folder_dropped_together_open_as_one(qapp, bench, tmp_path):
    window = bench.window
    truck = milk_truck(tmp_path)
    maps = tmp_path / "maps"
    maps.mkdir()
    shutil.copy(sample_paths()[1] / "sample_normal.png", maps / "truck_normal.png")

    drop(window, maps, truck.path)  # in any order

    wait_for(qapp, lambda: window.scene is not None and window.scene.source == truck.path
             and window.texture_set is not None and MapKind.NORMAL in window.texture_set
             and not window.busy, 60, "the truck with the dropped maps")
    # the folder's map went onto the new file's material, over its own base colour
    assert window.texture_set.get(MapKind.BASE_COLOR).source is MapSource.EMBEDDED
    assert window.texture_set.get(MapKind.NORMAL).path == maps / "truck_normal.png"
