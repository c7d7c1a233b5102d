"""Generating against a ComfyUI that speaks the real protocol (the fake server, a separate process):
live preview frames appear in the queue row, the status dot shows the version, the maps land."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from automata_desktop.config import ServerConfig
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.runtime import all_workflows
from automata_desktop.ui.queue_view import QueueRow
from tests.engine_helpers import slow_graph, template
from tests.fakecomfy.harness import FakeComfy
from tests.gui.workbench_helpers import albedo_pixels, open_workbench, wait_for

pytestmark = pytest.mark.gui
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def comfy(tmp_path):
    server = FakeComfy(tmp_path / "comfy", version="0.3.64")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def shown_rows(monkeypatch) -> list[tuple[GenerationStatus, str, bool]]:
    """What each queue row showed after every update: (status, progress text, with a preview).

    Read afterwards, so a run that finishes before the test looks cannot hide a state it showed.
    """
    shown: list[tuple[GenerationStatus, str, bool]] = []
    real_apply = QueueRow.apply

    def apply(row: QueueRow, update, preview=None) -> None:
        real_apply(row, update, preview)
        shown.append((row.status, row.progress.format(), preview is not None))

    monkeypatch.setattr(QueueRow, "apply", apply)
    return shown


def test_a_server_generation_shows_live_previews_then_its_maps(
    qapp, qtbot, comfy, tmp_path, shown_rows
):
    slow = template(slow_graph(steps=8, delay_s=0.12, color=0x3366CC), name="slow_probe",
                    title="Slow probe")
    bench = open_workbench(qapp, tmp_path / "library", servers=(ServerConfig(comfy.url, "fake"),),
                           workflows={**all_workflows(), "slow_probe": slow})
    scene_updates = []
    bench.controller.scene_update.connect(scene_updates.append)
    try:
        panel, window = bench.generation, bench.window
        panel.select(server=comfy.url, workflow="slow_probe")
        wait_for(qapp, lambda: panel.readiness.text().startswith("✓"), 20, "the node check")
        panel.refresh_status()
        wait_for(qapp, lambda: comfy.url in panel.statuses, 20, "the status dot")
        assert panel.server_info.text() == "ComfyUI 0.3.64"

        qtbot.mouseClick(panel.generate, Qt.MouseButton.LeftButton)
        wait_for(qapp, lambda: panel.queue.rows, 20, "a queue row")
        [row] = panel.queue.rows.values()
        wait_for(qapp, lambda: row.preview.pixmap() is not None and not row.preview.pixmap().isNull(),
                 30, "a live preview frame")
        wait_for(qapp, lambda: row.status is GenerationStatus.COMPLETED, 30, "completion")
        # While previews arrived, the row said running and which node was working.
        with_preview = [(status, text) for status, text, preview in shown_rows if preview]
        assert with_preview, shown_rows
        assert any(status is GenerationStatus.RUNNING and "ProbeSlowProgress" in text
                   for status, text in with_preview), with_preview
        wait_for(qapp, lambda: window.texture_set is not None
                 and row.generation_id in str(window.texture_set.get(MapKind.BASE_COLOR).path),
                 30, "the maps on the mesh")
        bound = albedo_pixels(window)
        assert tuple(bound[0, 0, :3]) == (0x33, 0x66, 0xCC)
        # The map came to the window decoded while it was being stored, not read back after.
        [landed] = [u for u in scene_updates if u.generation_id == row.generation_id]
        assert landed.textures.get(MapKind.BASE_COLOR).is_loaded
    finally:
        bench.window.close()


def two_server_workbench(qapp, comfy, tmp_path):
    """The app with two test ComfyUIs, "one" and "two", and a workflow whose seed is its colour."""
    from tests.engine_helpers import save_graph

    other = FakeComfy(tmp_path / "comfy2", version="0.3.64")
    other.start()
    seeded = template(save_graph(), name="seeded", title="Seeded",
                      parameters={"seed": {"type": "int", "bind": ["1.color"]}})
    return open_workbench(qapp, tmp_path / "library",
                          servers=(ServerConfig(comfy.url, "one"), ServerConfig(other.url, "two")),
                          workflows={**all_workflows(), "seeded": seeded}), other


def test_all_servers_spreads_a_batch_and_each_row_names_its_server(qapp, qtbot, comfy, tmp_path):
    from automata_desktop.ui.generation_panel import ALL_SERVERS

    bench, other = two_server_workbench(qapp, comfy, tmp_path)
    try:
        panel = bench.generation
        panel.select(server=ALL_SERVERS, workflow="seeded")
        panel.random_seed.setChecked(False)
        panel.seed.setValue(100)
        panel.batch.setValue(4)
        qtbot.mouseClick(panel.generate, Qt.MouseButton.LeftButton)
        wait_for(qapp, lambda: len(panel.queue.rows) == 4, 20, "four queue rows")
        wait_for(qapp, lambda: all(r.status is GenerationStatus.COMPLETED
                                   for r in panel.queue.rows.values()), 60, "the batch")
        shown = sorted(row.server.toolTip() for row in panel.queue.rows.values())
        assert shown == sorted([comfy.url, comfy.url, other.url, other.url])
        rows = bench.controller.runtime.library.list()
        assert sorted(g.server for g in rows) == shown
        # The server list: both up, each with everything this workflow needs.
        view = panel.pool_view
        assert view.isVisible()
        one, two = view._items[comfy.url], view._items[other.url]
        wait_for(qapp, lambda: view.fits(comfy.url) and view.fits(other.url), 20,
                 "what each server has")
        assert view.fits(comfy.url) == view.fits(other.url) == "✓ has everything"
        assert "lacks" not in one.text(1)
        wait_for(qapp, lambda: one.text(1).startswith("up · ComfyUI"), 20, "the pool health")
        two.setCheckState(0, Qt.CheckState.Checked)  # pause "two"
        wait_for(qapp, lambda: two.text(1).startswith("paused"), 20, "the pause")
        from automata_desktop.config import load_settings
        assert load_settings(env={}).server(other.url).paused  # remembered for next time
        before = len(panel.queue.rows)
        qtbot.mouseClick(panel.generate, Qt.MouseButton.LeftButton)
        wait_for(qapp, lambda: len(panel.queue.rows) == before + 4, 20, "four more rows")
        wait_for(qapp, lambda: all(r.status is GenerationStatus.COMPLETED
                                   for r in panel.queue.rows.values()), 60, "the second batch")
        newest = bench.controller.runtime.library.list(limit=4)
        assert {g.server for g in newest} == {comfy.url}  # nothing went to the paused one
        wait_for(qapp, lambda: len(bench.library.generations) == 8, 20, "the library list")
        bench.window.save_screenshot(SCREENSHOTS / "all-servers.png")
    finally:
        bench.window.close()
        other.stop()


def test_a_workflow_pinned_to_one_server_runs_there_only(qapp, comfy, tmp_path):
    from automata_desktop.config import load_settings
    from automata_desktop.ui.generation_panel import ALL_SERVERS

    bench, other = two_server_workbench(qapp, comfy, tmp_path)
    try:
        panel = bench.generation
        panel.select(server=ALL_SERVERS, workflow="seeded")
        assert panel.pin.isVisible() and panel.pin.currentText() == "any capable server"
        panel.pin.setCurrentIndex(panel.pin.findText("two only"))
        assert load_settings(env={}).workflow_pins == {"seeded": other.url}  # kept
        panel.random_seed.setChecked(False)
        panel.seed.setValue(100)  # the seed is the fake's colour: keep it in range
        panel.batch.setValue(3)
        panel.submit()
        wait_for(qapp, lambda: len(panel.queue.rows) == 3 and all(
            r.status is GenerationStatus.COMPLETED for r in panel.queue.rows.values()), 60,
            "the pinned batch")
        assert {g.server for g in bench.controller.runtime.library.list()} == {other.url}
        panel.select(workflow="pbr_from_image")  # another workflow: not pinned
        assert panel.pin.currentText() == "any capable server"
        panel.select(workflow="seeded")
        assert panel.pin.currentText() == "two only"
    finally:
        bench.window.close()
        other.stop()


def test_retry_of_one_generation_of_a_batch_runs_that_one_again_with_its_seed(qapp, comfy,
                                                                             tmp_path):
    from tests.engine_helpers import save_graph

    seeded = template(save_graph(), name="seeded", title="Seeded",
                      parameters={"seed": {"type": "int", "bind": ["1.color"]}})
    bench = open_workbench(qapp, tmp_path / "library", servers=(ServerConfig(comfy.url, "one"),),
                           workflows={**all_workflows(), "seeded": seeded})
    try:
        panel = bench.generation
        panel.select(server=comfy.url, workflow="seeded")
        panel.random_seed.setChecked(False)
        panel.seed.setValue(100)
        panel.batch.setValue(3)
        panel.submit()
        wait_for(qapp, lambda: len(panel.queue.rows) == 3 and all(
            r.status is GenerationStatus.COMPLETED for r in panel.queue.rows.values()), 60,
            "the batch")
        library = bench.controller.runtime.library
        second = next(g for g in library.list() if g.parameters["seed"] == 101)
        panel.retry(second.id)
        wait_for(qapp, lambda: len(panel.queue.rows) == 4, 20, "the retry's row")
        [again] = set(panel.queue.rows) - {g.id for g in library.list()[1:]}
        wait_for(qapp, lambda: panel.queue.rows[again].status is GenerationStatus.COMPLETED, 30,
                 "the retry")
        assert library.get(again).parameters["seed"] == 101  # that one, not the whole batch
        assert library.count() == 4
    finally:
        bench.window.close()
