"""The queue and the library work from the keyboard: ↑/↓ pick a queue row (marked by an orange
edge), Delete cancels it, R retries a finished one; in the library Enter opens the picked row,
Ctrl+F goes to the search from anywhere and Escape clears it; Tab walks the Generate form."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest

from automata_desktop.config import ServerConfig
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.runtime import all_workflows
from automata_desktop.ui.queue_view import QueueList
from automata_desktop.ui.theme import ACCENT
from tests.engine_helpers import save_graph, template
from tests.fakecomfy.harness import FakeComfy
from tests.gui.test_library_and_inspector import generate_locally, listed_ids
from tests.gui.test_polish_queue import start_held_run
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
    bench = open_workbench(qapp, tmp_path_factory.mktemp("keys") / "library", workflows=flows,
                           servers=(ServerConfig(comfy.url, "studio GPU"),))
    yield bench
    bench.window.close()


def key(widget, code: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(widget, code, modifier)


def picked(queue: QueueList) -> str | None:
    row = queue.selected_row()
    return None if row is None else row.generation_id


def marked(queue: QueueList, generation_id: str) -> bool:
    """The left edge of the row is drawn in the accent orange, as the user sees the list (the
    focus frame may tint it a little)."""
    rect = queue.list.visualItemRect(queue._items[generation_id])
    edge = queue.list.viewport().grab().toImage().pixelColor(1, rect.center().y())
    accent = QColor(ACCENT)
    return max(abs(edge.red() - accent.red()), abs(edge.green() - accent.green()),
               abs(edge.blue() - accent.blue())) < 24


def test_arrow_keys_pick_queue_rows_and_delete_cancels_the_picked_running_one(
        qapp, bench, comfy):
    queue = bench.generation.queue
    done = generate_locally(qapp, bench)
    running = start_held_run(qapp, bench, comfy)  # the newest: on top
    cancels: list[str] = []
    queue.cancel_clicked.connect(cancels.append)
    queue.list.setFocus()

    key(queue.list, Qt.Key.Key_Down)
    assert picked(queue) == running.generation_id
    assert marked(queue, running.generation_id)
    key(queue.list, Qt.Key.Key_Down)
    assert picked(queue) == done
    assert marked(queue, done) and not marked(queue, running.generation_id)
    key(queue.list, Qt.Key.Key_Delete)  # a completed row has nothing to cancel
    assert cancels == []

    key(queue.list, Qt.Key.Key_Up)
    assert picked(queue) == running.generation_id
    key(queue.list, Qt.Key.Key_Delete)
    assert cancels == [running.generation_id]
    wait_for(qapp, lambda: running.status is GenerationStatus.CANCELLED, 20, "the cancellation")
    comfy.release("2")

    key(queue.list, Qt.Key.Key_Escape)
    assert picked(queue) is None
    queue.cancel_clicked.disconnect(cancels.append)


def test_r_retries_the_picked_finished_row(qapp, bench):
    queue = bench.generation.queue
    done = generate_locally(qapp, bench)
    retries: list[str] = []
    queue.retry_clicked.connect(retries.append)
    queue.select(done)
    before = set(queue.rows)
    queue.list.setFocus()

    key(queue.list, Qt.Key.Key_R)

    assert retries == [done]
    wait_for(qapp, lambda: set(queue.rows) - before, 20, "the retried generation's row")
    [again] = set(queue.rows) - before
    wait_for(qapp, lambda: queue.rows[again].status.is_final, 60, "the retried generation")
    queue.retry_clicked.disconnect(retries.append)


def test_enter_in_the_library_opens_the_picked_generation(qapp, bench):
    browser = bench.library
    gen_id = generate_locally(qapp, bench)
    wait_for(qapp, lambda: any(g.id == gen_id and g.files and g.status.is_final
                               for g in browser.generations), 20, "the library row")
    opened: list[str] = []
    browser.open_requested.connect(lambda gen: opened.append(gen.id))
    browser.select(gen_id)
    browser.tree.setFocus()

    key(browser.tree, Qt.Key.Key_Return)

    assert opened == [gen_id]
    browser.open_requested.disconnect()
    wait_for(qapp, lambda: not bench.window.busy, 30, "the generation on the mesh")


def test_ctrl_f_goes_to_the_library_search_from_anywhere_and_escape_clears_it(qapp, bench):
    window, browser = bench.window, bench.library
    window.activateWindow()
    wait_for(qapp, lambda: qapp.activeWindow() is window, 10, "the window to be active")
    bench.map_dock.raise_()  # the library tabbed away behind the map view
    # A tabbed-away dock stays "visible" to Qt; what the user sees of it is nothing.
    wait_for(qapp, lambda: browser.visibleRegion().isEmpty(), 10, "the map view in front")
    bench.generation.workflow.setFocus()

    key(bench.generation.workflow, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)

    wait_for(qapp, lambda: not browser.visibleRegion().isEmpty(), 10, "the library in front")
    assert qapp.focusWidget() is browser.search
    QTest.keyClicks(browser.search, "marble")
    key(browser.search, Qt.Key.Key_Escape)
    assert browser.search.text() == ""
    wait_for(qapp, lambda: listed_ids(browser), 20, "the unfiltered list")
    key(browser.search, Qt.Key.Key_Down)  # on to the rows
    assert qapp.focusWidget() is browser.tree and browser.selected() is not None


def test_tab_leaves_the_prompt_for_the_next_field(qapp, bench):
    panel = bench.generation
    panel.select(workflow="text_to_texture_sdxl")
    wait_for(qapp, panel.prompt.isVisible, 10, "the prompt field")
    panel.prompt.setPlainText("weathered oak planks")
    panel.prompt.setFocus()

    key(panel.prompt, Qt.Key.Key_Tab)

    assert panel.prompt.toPlainText() == "weathered oak planks"  # no tab typed into it
    assert qapp.focusWidget() is panel.negative
    key(panel.negative, Qt.Key.Key_Tab)
    assert qapp.focusWidget() is not panel.negative
    panel.select(workflow="pbr_from_image")
    for _ in range(5):  # the form re-lays out on a timer: let it, before the window closes
        qapp.processEvents()
