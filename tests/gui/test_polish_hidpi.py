"""On a 4K laptop (device pixel ratio 2) thumbnails are drawn from twice their pixels, not a
stretched low-resolution copy; at 1280×720 every dock shows its buttons whole.

A running QApplication's scale factor is fixed, so the 4K case runs in a process of its own
with QT_SCALE_FACTOR=2, as a user with a 200 % display has it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QAbstractButton, QAbstractScrollArea, QDockWidget, QWidget

from automata_desktop.ui.images import array_to_qimage, thumbnail_pixmap
from tests.gui.test_library_and_inspector import generate_locally
from tests.gui.workbench_helpers import open_workbench, wait_for

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]

# Builds a queue row and a map card at the scale factor of its environment, gives each a
# 128-pixel image (what the app decodes for a 64 px box) and reports the pixmap each shows.
AT_SCALE = """
import json, sys
import numpy as np
from PySide6.QtWidgets import QApplication
app = QApplication([])
from automata_desktop.core.maps import MapKind
from automata_desktop.ui.images import array_to_qimage
from automata_desktop.ui.material_inspector import MapCard
from automata_desktop.ui.queue_view import QueueRow
image = array_to_qimage(np.random.default_rng(1).integers(0, 255, (128, 128, 3), np.uint8))
row, card = QueueRow("g1", "Probe"), MapCard(MapKind.BASE_COLOR)
row.show(); card.show()
app.processEvents()
row.set_preview(image); card.set_thumbnail(image)
report = {"screen": app.primaryScreen().devicePixelRatio()}
for name, label in (("queue", row.preview), ("card", card.thumb)):
    pixmap = label.pixmap()
    report[name] = [pixmap.devicePixelRatio(), pixmap.width(), pixmap.height(),
                    label.width(), label.devicePixelRatioF()]
print(json.dumps(report))
"""


def test_a_thumbnail_for_a_ratio_2_widget_carries_twice_the_pixels_at_the_same_size(qapp):
    image = array_to_qimage(np.zeros((256, 128, 3), np.uint8))  # portrait: fits by height

    pixmap = thumbnail_pixmap(image, 64, 2.0)

    assert pixmap.devicePixelRatio() == 2.0
    assert (pixmap.width(), pixmap.height()) == (64, 128)  # device pixels
    assert pixmap.deviceIndependentSize().toSize().height() == 64  # what the layout sees
    plain = thumbnail_pixmap(image, 64, 1.0)
    assert (plain.devicePixelRatio(), plain.height()) == (1.0, 64)


def test_on_a_200_percent_display_queue_previews_and_map_cards_are_sharp(qapp):
    env = {**os.environ, "QT_SCALE_FACTOR": "2", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", AT_SCALE], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["screen"] == 2.0
    for name in ("queue", "card"):
        ratio, width, height, box, widget_ratio = report[name]
        assert widget_ratio == 2.0
        # Before: a 64-pixel pixmap at ratio 1, stretched over the 128 pixels of its 64 px box.
        assert (ratio, width, height) == (2.0, box * 2, box * 2), name


def rect_in(widget: QWidget, container: QWidget) -> QRect:
    return QRect(widget.mapTo(container, QPoint(0, 0)), widget.size())


def clipping_area(widget: QWidget, dock: QDockWidget) -> QWidget:
    """What shows `widget`: the innermost scroll area's viewport (it may scroll up and down,
    never sideways), else the dock itself."""
    parent = widget.parentWidget()
    while parent is not None and parent is not dock:
        if isinstance(parent, QAbstractScrollArea):
            return parent.viewport()
        parent = parent.parentWidget()
    return dock


def cut_buttons(dock: QDockWidget) -> list[str]:
    """The dock's visible buttons that are not drawn whole where the user can reach them."""
    cut = []
    for button in dock.findChildren(QAbstractButton):
        if not button.isVisible() or button.parentWidget() is dock:  # the title bar's own
            continue
        area = clipping_area(button, dock)
        rect = rect_in(button, area)
        inside = rect.left() >= 0 and rect.right() < area.width()
        if area is dock:
            inside = inside and rect.top() >= 0 and rect.bottom() < dock.height()
        if not inside:
            cut.append(f"{button.text() or button.toolTip()!r} at {rect} in {area.size()}")
    return cut


def test_at_1280x720_every_dock_shows_its_buttons_whole(qapp, tmp_path):
    bench = open_workbench(qapp, tmp_path / "library", with_maps=True)
    try:
        generate_locally(qapp, bench)
        window = bench.window
        window.resize(1280, 720)
        bench._size_docks()
        wait_for(qapp, lambda: window.width() == 1280 and not window.busy, 20, "the new size")
        for _ in range(5):
            qapp.processEvents()
        bench.library.select(bench.library.generations[0].id)  # its buttons enabled
        fronts = [(None, (window.left_dock, window.right_dock, bench.library_dock)),
                  (window.display_dock, (window.display_dock,)),
                  (bench.map_dock, (bench.map_dock,))]
        for front, docks in fronts:
            if front is not None:
                front.raise_()
                for _ in range(5):
                    qapp.processEvents()
            for dock in docks:
                assert cut_buttons(dock) == [], dock.windowTitle()
    finally:
        bench.window.close()
