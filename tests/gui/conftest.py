"""GUI tests need a real X display: pytest-xvfb provides one (`-p no:xvfb` runs skip them)."""

from __future__ import annotations

import gc
import os

import pytest

from automata_desktop.ui.main_window import MainWindow


def pytest_collection_modifyitems(config, items):
    if os.environ.get("DISPLAY"):
        return
    skip = pytest.mark.skip(reason="needs an X display: run under pytest-xvfb or xvfb-run")
    for item in items:
        if "tests/gui" in str(item.path).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _qt_torn_down_before_python_exits(qapp):
    """Delete every window while QApplication and VTK still exist.

    Left to interpreter shutdown, windows holding VTK render windows are destroyed in arbitrary
    order after Qt's own teardown, which crashed the process after all tests had passed.
    """
    yield
    from PySide6.QtCore import QCoreApplication, QEvent

    for widget in qapp.topLevelWidgets():
        widget.close()  # MainWindow.closeEvent closes its VTK viewport
        widget.deleteLater()
    for _ in range(3):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        qapp.processEvents()
    gc.collect()


@pytest.fixture(scope="module")
def sample_window(qapp):
    """One window per module showing the bundled sample (a window + IBL costs ~1-2 s to build)."""
    window = MainWindow(interactive=False)
    window.resize(1100, 700)
    window.show()
    shown = {"mesh": False, "textures": False}
    window.mesh_shown.connect(lambda _: shown.__setitem__("mesh", True))
    window.textures_shown.connect(lambda _: shown.__setitem__("textures", True))
    window.open_sample()
    deadline = 60.0
    import time

    start = time.monotonic()
    while not all(shown.values()) and time.monotonic() - start < deadline:
        qapp.processEvents()
        time.sleep(0.01)
    assert all(shown.values()), "the sample did not load within a minute"
    yield window
    window.close()
