"""Generating from the window: the queue follows the job, the maps land on the mesh by themselves,
and every failure is a message in the panel, not a dialog or a traceback."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from automata_desktop.core.generation import GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.core.texture_set import MapSource
from automata_desktop.paths import resources_dir
from tests.gui.workbench_helpers import DEAD_SERVER, albedo_pixels, open_workbench, wait_for

pytestmark = pytest.mark.gui
SAMPLE_IMAGE = resources_dir() / "samples" / "sample_basecolor.png"


@pytest.fixture(scope="module")
def bench(qapp, tmp_path_factory):
    bench = open_workbench(qapp, tmp_path_factory.mktemp("gen") / "library")
    yield bench
    bench.window.close()


def generate(qapp, qtbot, bench, *, server: str, workflow: str, image=SAMPLE_IMAGE) -> None:
    panel = bench.generation
    panel.select(server=server, workflow=workflow)
    panel.image_path.setText(str(image) if image else "")
    qtbot.mouseClick(panel.generate, Qt.MouseButton.LeftButton)


def test_generating_locally_completes_and_puts_the_new_maps_on_the_mesh(qapp, qtbot, bench):
    window, panel = bench.window, bench.generation
    assert albedo_pixels(window) is None  # the sample mesh alone: no base colour yet
    before = set(panel.queue.rows)

    generate(qapp, qtbot, bench, server="local", workflow="pbr_from_image")
    wait_for(qapp, lambda: set(panel.queue.rows) - before, 20, "a queue row")
    [gen_id] = set(panel.queue.rows) - before
    row = panel.queue.rows[gen_id]
    wait_for(qapp, lambda: row.status is GenerationStatus.COMPLETED, 60, "completion")
    assert row.progress.value() == row.progress.maximum()
    assert not row.cancel.isEnabled() and row.retry.isEnabled()

    # No click: the finished maps are decoded and bound to the mesh on their own.
    wait_for(qapp, lambda: window.texture_set is not None
             and MapKind.BASE_COLOR in window.texture_set
             and window.texture_set.get(MapKind.BASE_COLOR).path is not None
             and gen_id in str(window.texture_set.get(MapKind.BASE_COLOR).path), 60, "new maps")
    base = window.texture_set.get(MapKind.BASE_COLOR)
    assert base.source is MapSource.GENERATED
    generated = np.asarray(Image.open(base.path).convert("RGB"))
    bound = albedo_pixels(window)
    assert bound is not None and bound.shape[:2] == generated.shape[:2]
    assert np.array_equal(bound[..., :3], generated)
    assert window.material_view.vtk_property.GetTexture("normalTex") is not None
    assert bench.inspector.cards[MapKind.BASE_COLOR].detail.text().endswith("generated")


def test_an_unreachable_server_is_explained_in_the_panel(qapp, qtbot, bench):
    panel = bench.generation
    failures: list[str] = []
    bench.window.failed.connect(failures.append)
    generate(qapp, qtbot, bench, server=DEAD_SERVER, workflow="text_to_texture_sdxl", image=None)
    wait_for(qapp, lambda: panel.message.isVisible() and "127.0.0.1:9" in panel.message.text(),
             20, "the unreachable message")
    text = panel.message.text()
    assert "not reachable" in text and "Traceback" not in text
    assert panel.generate.isEnabled()  # ready for another try
    assert not failures  # no error dialog path: the panel owns the message
    # The status dot finds out on its own as well.
    panel.refresh_status()
    wait_for(qapp, lambda: DEAD_SERVER in panel.statuses, 20, "the status probe")
    assert not panel.statuses[DEAD_SERVER].reachable
    assert "not reachable" in panel.server_info.toolTip()


def test_a_workflow_that_needs_models_says_so_on_the_local_backend(qapp, qtbot, bench):
    panel = bench.generation
    generate(qapp, qtbot, bench, server="local", workflow="hunyuan3d2_paint")
    assert panel.message.isVisible()
    assert "needs a ComfyUI server with models" in panel.message.text()
    assert "hunyuan3d-paint-v2-0" in panel.message.text()
    wait_for(qapp, lambda: panel.readiness.text().startswith("⚠"), 10, "the readiness note")


def test_a_missing_reference_image_is_asked_for_before_anything_is_sent(qapp, qtbot, bench):
    panel = bench.generation
    rows = len(panel.queue.rows)
    generate(qapp, qtbot, bench, server="local", workflow="pbr_from_image", image=None)
    assert "needs a reference image" in panel.message.text()
    assert len(panel.queue.rows) == rows


def test_an_error_banner_clears_once_its_cause_is_fixed(qapp, qtbot, bench):
    panel = bench.generation
    generate(qapp, qtbot, bench, server="local", workflow="pbr_from_image", image=None)
    assert panel.message.isVisible() and "needs a reference image" in panel.message.text()

    panel.image_path.setText(str(SAMPLE_IMAGE))  # the user picks one

    assert not panel.message.isVisible() and panel.message.text() == ""


def test_the_unreachable_error_goes_when_the_user_switches_to_another_server(qapp, qtbot, bench):
    panel = bench.generation
    generate(qapp, qtbot, bench, server=DEAD_SERVER, workflow="text_to_texture_sdxl", image=None)
    wait_for(qapp, lambda: panel.message.isVisible() and "127.0.0.1:9" in panel.message.text(),
             20, "the unreachable message")

    panel.select(server="local", workflow="pbr_from_image")

    assert not panel.message.isVisible()


def test_the_example_prompt_is_text_the_user_sees_and_an_empty_one_is_refused(qapp, qtbot, bench):
    panel = bench.generation
    panel.select(server=DEAD_SERVER, workflow="text_to_texture_sdxl")
    example = panel.template.parameters["prompt"].default
    assert panel.prompt.toPlainText() == example  # what will be sent, not a grey hint
    rows = len(panel.queue.rows)

    panel.prompt.setPlainText("   ")
    qtbot.mouseClick(panel.generate, Qt.MouseButton.LeftButton)

    assert "needs a prompt" in panel.message.text()
    assert len(panel.queue.rows) == rows
    panel.prompt.setPlainText("mossy cobblestones")
    panel.select(workflow="pbr_from_image")
    panel.select(workflow="text_to_texture_sdxl")
    assert panel.prompt.toPlainText() == "mossy cobblestones"  # the user's words are kept


def test_the_picked_reference_image_shows_as_a_thumbnail(qapp, qtbot, bench):
    panel = bench.generation
    panel.select(server="local", workflow="pbr_from_image")
    panel.set_image_path(SAMPLE_IMAGE)
    wait_for(qapp, lambda: panel.image_thumb.isVisible(), 10, "the thumbnail")
    assert not panel.image_thumb.pixmap().isNull()
    panel.set_image_path("")
    wait_for(qapp, lambda: not panel.image_thumb.isVisible(), 10, "the thumbnail to go")


def test_file_dialogs_open_in_the_folder_the_user_last_picked_from(qapp, bench, tmp_path,
                                                                   monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    picks = tmp_path / "references"
    picks.mkdir()
    chosen = picks / "rust.png"
    Image.new("RGB", (8, 8)).save(chosen)
    opened_in: list[str] = []

    def fake_dialog(parent, title, folder, filters):
        opened_in.append(folder)
        return str(chosen), filters

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake_dialog))
    panel = bench.generation
    panel._ask_image()
    panel._ask_image()
    assert panel.image_path.text() == str(chosen)
    assert opened_in[1] == str(picks)  # the second dialog starts where the first pick was
    assert opened_in[0] != str(picks)


def test_a_workflow_without_a_seed_offers_no_batch_and_a_batch_of_it_is_refused(qapp, bench):
    panel = bench.generation
    panel.select(server="local", workflow="pbr_from_image")  # deterministic: no seed
    assert not panel.batch.isEnabled() and panel.batch.value() == 1
    panel.set_image_path(SAMPLE_IMAGE)
    request = panel.build_request()
    refused: list[str] = []
    rows = len(panel.queue.rows)
    bench.controller.submit(type(request)(workflow=request.workflow, server="local",
                                          image=SAMPLE_IMAGE, count=4), None, refused.append)
    assert refused and "identical" in refused[0]
    qapp.processEvents()
    assert len(panel.queue.rows) == rows


def test_the_generate_form_fits_a_1024_by_700_window_and_leaves_the_queue_room(qapp, bench):
    from PySide6.QtCore import QPoint

    window, panel = bench.window, bench.generation
    window.resize(1024, 700)
    panel.select(server="local", workflow="hunyuan3d2_paint")  # the longest texts
    for _ in range(20):
        qapp.processEvents()
    viewport = panel._splitter.widget(0).viewport()
    for label in (panel.readiness, panel.workflow_info, panel.server_info, panel.workflow):
        right = label.mapTo(viewport, QPoint(label.width(), 0)).x()
        assert right <= viewport.width(), f"{label.text()[:30]!r} runs out of the panel"
    form, queue = panel._splitter.sizes()
    assert queue >= 0.3 * (form + queue)
    window.resize(1300, 820)
