"""At 1024×700 and at 1600×1000 nothing in the queue, Material or Display docks is cut off: a queue
row's buttons lie inside the row and the dock, map cards show their View buttons, and slider
values are drawn whole."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QScrollArea, QWidget

from tests.gui.test_library_and_inspector import generate_locally
from tests.gui.workbench_helpers import open_workbench, wait_for

pytestmark = pytest.mark.gui


def rect_in(widget: QWidget, container: QWidget) -> QRect:
    return QRect(widget.mapTo(container, QPoint(0, 0)), widget.size())


def within_width(widget: QWidget, container: QWidget) -> bool:
    """Drawn whole from left to right inside `container` (a dock's visible area)."""
    rect = rect_in(widget, container)
    return rect.left() >= 0 and rect.right() < container.width() and widget.width() > 0


@pytest.fixture(scope="module")
def bench(qapp, tmp_path_factory):
    bench = open_workbench(qapp, tmp_path_factory.mktemp("layout") / "library", with_maps=True)
    generate_locally(qapp, bench)
    yield bench
    bench.window.close()


def at_size(qapp, bench, width: int, height: int) -> None:
    bench.window.resize(width, height)
    bench._size_docks()
    wait_for(qapp, lambda: bench.window.width() == width and not bench.window.busy, 20,
             "the new size")
    for _ in range(5):
        qapp.processEvents()


@pytest.mark.parametrize("size", [(1024, 700), (1600, 1000)])
def test_queue_rows_fit_the_generate_dock(qapp, bench, size):
    at_size(qapp, bench, *size)
    queue = bench.generation.queue
    viewport = queue.list.viewport()
    [row] = queue.rows.values()
    assert within_width(row, viewport), (rect_in(row, viewport), viewport.size())
    for button in (row.cancel, row.retry, row.check):
        assert button.isVisible() and row.rect().contains(rect_in(button, row)), button.text()
        assert within_width(button, viewport), button.text()
    assert within_width(queue.clear_button, queue)


@pytest.mark.parametrize("size", [(1024, 700), (1600, 1000)])
def test_material_and_display_docks_show_their_buttons_and_whole_values(qapp, bench, size):
    at_size(qapp, bench, *size)
    inspector = bench.inspector
    viewport = inspector.findChild(QScrollArea).viewport()  # what the dock shows of the panel
    for card in inspector.cards.values():
        assert within_width(card.replace, viewport) and within_width(card.view, viewport), \
            card.kind
    for factor in (inspector.roughness, inspector.metallic, inspector.normal_scale):
        assert factor.readout.width() >= factor.readout.sizeHint().width()
        assert within_width(factor.readout, viewport)
    assert within_width(inspector.derive, viewport)

    window = bench.window
    window.display_dock.raise_()
    panel = window.display_panel
    wait_for(qapp, panel.isVisible, 10, "the Display dock")
    qapp.processEvents()
    for row in (panel.rotation_row, panel.exposure_row, panel.displacement_row):
        assert row.readout.width() >= row.readout.sizeHint().width()
        assert within_width(row.readout, panel.scroll.viewport())
    assert within_width(panel.browse, panel.scroll.viewport())
    window.right_dock.raise_()
