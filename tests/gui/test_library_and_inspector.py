"""The library browser lists what was generated and deletes it for good; the material inspector
replaces a map from a dropped file and re-derives the derived ones."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from automata_desktop.core.generation import GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.core.texture_set import MapSource
from automata_desktop.paths import resources_dir
from tests.gui.workbench_helpers import albedo_pixels, open_workbench, wait_for

pytestmark = pytest.mark.gui
SAMPLE_IMAGE = resources_dir() / "samples" / "sample_basecolor.png"


@pytest.fixture(scope="module")
def bench(qapp, tmp_path_factory):
    bench = open_workbench(qapp, tmp_path_factory.mktemp("lib") / "library", with_maps=True)
    yield bench
    bench.window.close()


def generate_locally(qapp, bench) -> str:
    panel = bench.generation
    before = set(panel.queue.rows)
    panel.select(server="local", workflow="pbr_from_image")
    panel.image_path.setText(str(SAMPLE_IMAGE))
    panel.submit()
    wait_for(qapp, lambda: set(panel.queue.rows) - before, 20, "a queue row")
    [gen_id] = set(panel.queue.rows) - before
    wait_for(qapp, lambda: panel.queue.rows[gen_id].status.is_final, 60, "the generation")
    assert panel.queue.rows[gen_id].status is GenerationStatus.COMPLETED
    return gen_id


def listed_ids(browser) -> list[str]:
    return [browser.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)
            for i in range(browser.tree.topLevelItemCount())]


def test_the_library_lists_a_new_generation_and_delete_removes_it_with_its_files(qapp, bench):
    browser = bench.library
    gen_id = generate_locally(qapp, bench)
    # files land before the completion is recorded: wait for both, as the browser refreshes on each
    wait_for(qapp, lambda: any(g.id == gen_id and g.files and g.status is GenerationStatus.COMPLETED
                               for g in browser.generations), 20, "the completed library row")
    gen = next(g for g in browser.generations if g.id == gen_id)
    folder = gen.files[0].path.parent
    assert folder.is_dir()
    item = browser.tree.topLevelItem(listed_ids(browser).index(gen_id))
    assert item.text(1) == "completed" and item.text(2) == "local"
    assert item.text(4).endswith("s")  # a duration

    browser.search.setText("no-such-words-anywhere")
    wait_for(qapp, lambda: gen_id not in listed_ids(browser), 10, "search to filter it out")
    browser.search.clear()
    wait_for(qapp, lambda: gen_id in listed_ids(browser), 10, "search to clear")

    browser.select(gen_id)

    def confirm() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox) and "deleted from disk" in box.text()
        box.button(QMessageBox.StandardButton.Yes).click()

    QTimer.singleShot(200, confirm)
    browser.delete_button.click()  # the confirmation dialog runs its own loop until confirm()
    wait_for(qapp, lambda: gen_id not in listed_ids(browser), 20, "the row to go")
    assert not folder.exists()
    assert bench.controller.runtime.library.get(gen_id) is None


def test_rerun_from_the_library_repeats_the_generation_with_the_same_parameters(qapp, bench):
    browser, panel = bench.library, bench.generation
    first = generate_locally(qapp, bench)
    wait_for(qapp, lambda: any(g.id == first and g.files for g in browser.generations), 20,
             "the finished row")
    browser.select(first)
    before = set(panel.queue.rows)
    browser.rerun_button.click()
    wait_for(qapp, lambda: set(panel.queue.rows) - before, 20, "the re-run's queue row")
    [again] = set(panel.queue.rows) - before
    wait_for(qapp, lambda: panel.queue.rows[again].status is GenerationStatus.COMPLETED, 60,
             "the re-run")
    library = bench.controller.runtime.library
    assert library.get(again).parameters == library.get(first).parameters
    assert library.get(again).workflow == "pbr_from_image"


def test_dropping_an_image_on_a_map_card_replaces_that_map(qapp, bench, tmp_path):
    window, card = bench.window, bench.inspector.cards[MapKind.BASE_COLOR]
    wait_for(qapp, lambda: window.texture_set is not None and not window.busy, 30, "the sample maps")
    orange = tmp_path / "orange.png"
    Image.new("RGB", (32, 32), (230, 120, 20)).save(orange)

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(orange))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    card.dropEvent(drop)

    wait_for(qapp, lambda: window.texture_set.get(MapKind.BASE_COLOR).path == orange, 30,
             "the replaced map")
    assert window.texture_set.get(MapKind.BASE_COLOR).source is MapSource.IMPORTED
    bound = albedo_pixels(window)
    assert bound.shape[:2] == (32, 32)
    assert np.all(bound[..., :3] == (230, 120, 20))
    assert card.detail.text() == "32×32 · imported"


def test_rederiving_recomputes_the_derived_maps_with_the_chosen_strength(qapp, bench, tmp_path):
    window, inspector = bench.window, bench.inspector
    colour = tmp_path / "bumpy_basecolor.png"
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(colour)
    window.open_maps_folder(tmp_path)  # base colour only: the rest is derived
    wait_for(qapp, lambda: window.texture_set.get(MapKind.BASE_COLOR).path == colour
             and not window.busy, 30, "the derived set")
    assert window.texture_set.get(MapKind.NORMAL).source is MapSource.DERIVED
    gentle = window.texture_set.pixels(MapKind.NORMAL)

    inspector.normal_strength.setValue(8.0)
    inspector.derive.click()
    wait_for(qapp, lambda: window.texture_set.pixels(MapKind.NORMAL) is not gentle
             and not window.busy, 30, "the re-derived set")
    strong = window.texture_set.pixels(MapKind.NORMAL)
    flatness = lambda n: float(np.mean(np.asarray(n, np.float32)[..., 2]))  # noqa: E731
    assert flatness(strong) < flatness(gentle)  # steeper normals tilt away from +Z


def test_material_sliders_set_the_pbr_factors(qapp, bench):
    bench.inspector.metallic.set_value(0.4)
    bench.inspector.normal_scale.set_value(2.5)
    prop = bench.window.material_view.vtk_property
    assert prop.GetMetallic() == pytest.approx(0.4)
    assert prop.GetNormalScale() == pytest.approx(2.5)
