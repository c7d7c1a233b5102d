"""Queue rows read like the work: the server as host:port, a cancelled row that looks over,
"no preview" when none comes, and a way to clear the finished rows."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette

from automata_desktop.config import ServerConfig
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.runtime import all_workflows
from automata_desktop.ui.queue_view import STATUS_COLORS, QueueRow
from tests.engine_helpers import save_graph, template
from tests.fakecomfy.harness import FakeComfy
from tests.gui.test_library_and_inspector import generate_locally
from tests.gui.workbench_helpers import open_workbench, wait_for

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    server = FakeComfy(tmp_path_factory.mktemp("comfy"), version="0.3.64")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bench(qapp, tmp_path_factory, comfy):
    flows = {**all_workflows(),
             "held": template(save_graph(), name="held", title="Held probe")}
    bench = open_workbench(qapp, tmp_path_factory.mktemp("queue") / "library", workflows=flows,
                           servers=(ServerConfig(comfy.url, "studio GPU"),))
    yield bench
    bench.window.close()


def start_held_run(qapp, bench, comfy) -> QueueRow:
    """A run on the fake ComfyUI whose SaveImage waits: it stays running until released."""
    panel = bench.generation
    comfy.hold("2")
    panel.select(server=comfy.url, workflow="held")
    before = set(panel.queue.rows)
    panel.submit()
    wait_for(qapp, lambda: set(panel.queue.rows) - before, 20, "the queue row")
    [gen_id] = set(panel.queue.rows) - before
    row = panel.queue.rows[gen_id]
    wait_for(qapp, lambda: row.status is GenerationStatus.RUNNING, 20, "the run to start")
    return row


def bar_colour(row: QueueRow) -> str:
    return row.progress.palette().color(QPalette.ColorRole.Highlight).name()


def test_a_cancelled_row_looks_over_names_its_server_and_says_no_preview(
        qapp, qtbot, bench, comfy):
    row = start_held_run(qapp, bench, comfy)
    wait_for(qapp, lambda: row.progress.value() > 0, 20, "the first node to finish")
    assert row.check.isEnabled() and not row.retry.isEnabled()

    qtbot.mouseClick(row.cancel, Qt.MouseButton.LeftButton)
    wait_for(qapp, lambda: row.status is GenerationStatus.CANCELLED, 20, "the cancellation")
    comfy.release("2")

    # Before: an orange bar at 50 % and an enabled "Check now", as if still running.
    assert row.progress.value() == row.progress.maximum()
    assert bar_colour(row) == QColor(STATUS_COLORS[GenerationStatus.CANCELLED]).name()
    assert row.progress.format().startswith("cancelled")
    assert not row.check.isEnabled() and not row.cancel.isEnabled() and row.retry.isEnabled()
    # The server: host:port on its own line (was "…· http://127.0.0." cut), the URL as tooltip.
    assert row.title.full_text() == "Held probe"
    assert row.server.full_text() == comfy.url.split("://", 1)[1].rstrip("/")
    assert row.server.toolTip() == comfy.url
    assert row.preview.text() == "no preview"  # this workflow sends no live frames


def test_clear_finished_removes_the_final_rows_and_keeps_the_running_one(
        qapp, qtbot, bench, comfy):
    queue = bench.generation.queue
    generate_locally(qapp, bench)  # a completed row besides the cancelled one above
    running = start_held_run(qapp, bench, comfy)
    finished = {g for g, row in queue.rows.items() if row.status.is_final}
    assert len(finished) >= 2 and queue.clear_button.isEnabled()

    qtbot.mouseClick(queue.clear_button, Qt.MouseButton.LeftButton)

    assert list(queue.rows) == [running.generation_id]
    assert queue.list.count() == 1 and queue.list.itemWidget(queue.list.item(0)) is running
    assert not queue.clear_button.isEnabled()
    bench.controller.cancel(running.generation_id)
    wait_for(qapp, lambda: running.status.is_final, 20, "the cancellation")
    comfy.release("2")
