"""Scrolling the Material and Display panels with the wheel scrolls them; it does not change the
slider or spin box that happens to pass under the pointer (Metallic went 1.00 → 0.55 so)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollArea, QWidget

from tests.gui.workbench_helpers import open_workbench, wait_for

pytestmark = pytest.mark.gui


def wheel_down(widget: QWidget, notches: int = 3) -> None:
    """What a mouse wheel turned `notches` down over the middle of `widget` sends it."""
    centre = QPointF(widget.rect().center())
    for _ in range(notches):
        event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                            QPoint(0, -120), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(widget, event)


@pytest.fixture(scope="module")
def bench(qapp, tmp_path_factory):
    bench = open_workbench(qapp, tmp_path_factory.mktemp("wheel") / "library", with_maps=True)
    bench.window.resize(1024, 700)
    bench._size_docks()
    wait_for(qapp, lambda: not bench.window.busy and not bench.inspector.busy, 30, "the maps")
    yield bench
    bench.window.close()


def test_the_wheel_over_an_unfocused_material_slider_scrolls_the_panel_not_the_value(qapp, bench):
    inspector = bench.inspector
    slider = inspector.metallic.slider
    scrollbar = inspector.findChild(QScrollArea).verticalScrollBar()
    assert scrollbar.maximum() > 0, "the panel should be taller than its dock at 1024×700"
    scrollbar.setValue(scrollbar.maximum() // 2)
    before, offset = slider.value(), scrollbar.value()
    factors: list = []
    inspector.factors_changed.connect(lambda *values: factors.append(values))

    wheel_down(slider)
    wheel_down(inspector.normal_strength)  # a spin box of the Derive group
    qapp.processEvents()

    assert slider.value() == before and inspector.metallic.readout.text() == "1.00"
    assert inspector.normal_strength.value() == 2.0
    assert factors == []  # nothing reached the material
    assert scrollbar.value() > offset  # the wheel scrolled the panel instead


def test_a_focused_slider_still_takes_the_wheel(qapp, bench):
    slider = bench.inspector.roughness.slider
    bench.window.activateWindow()
    slider.setFocus(Qt.FocusReason.MouseFocusReason)
    wait_for(qapp, slider.hasFocus, 10, "the slider's focus")
    before = slider.value()
    wheel_down(slider, 1)
    assert slider.value() != before  # clicked on, it is the user's to turn


def test_the_wheel_over_the_display_dock_leaves_exposure_hdri_and_tiling(qapp, bench):
    panel = bench.window.display_panel
    bench.window.display_dock.raise_()
    wait_for(qapp, panel.isVisible, 10, "the Display dock")
    lighting, tiling = panel.lighting(), (panel.tile_u.value(), panel.tile_v.value())
    sent: list = []
    panel.lighting_changed.connect(sent.append)
    for widget in (panel.exposure, panel.rotation, panel.hdri, panel.tile_u, panel.displacement):
        wheel_down(widget)
    qapp.processEvents()
    assert panel.lighting() == lighting and sent == []
    assert (panel.tile_u.value(), panel.tile_v.value()) == tiling
    assert panel.displacement.value() == 0
    bench.window.right_dock.raise_()
