"""GUI tests need a real X display: pytest-xvfb provides one when Xvfb is installed.

Without a display they are skipped on a developer's machine (`-p no:xvfb` runs skip them), but
in CI (`CI` set, as GitHub Actions and .ci/run do) they fail: a CI image that lost Xvfb must not
turn every GUI test into a silent skip.
"""

from __future__ import annotations

import gc
import os

import pytest

from automata_desktop.ui.main_window import MainWindow

NO_DISPLAY = "needs an X display: run under pytest-xvfb (apt install xvfb) or xvfb-run"
NO_DISPLAY_IN_CI = (
    "CI is set but there is no X display, so the GUI tests cannot run: install Xvfb "
    "(apt install xvfb) for pytest-xvfb to start one, or run under xvfb-run"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _is_gui_test(item: pytest.Item) -> bool:
    return "tests/gui" in str(item.path).replace(os.sep, "/")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("DISPLAY") or in_ci():
        return  # in CI, pytest_runtest_setup below fails them instead
    skip = pytest.mark.skip(reason=NO_DISPLAY)
    for item in items:
        if _is_gui_test(item):
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # Before any fixture: creating the QApplication without a display aborts the whole process.
    if _is_gui_test(item) and not os.environ.get("DISPLAY") and in_ci():
        pytest.fail(NO_DISPLAY_IN_CI, pytrace=False)


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


def open_sample_window(qapp) -> MainWindow:
    """A shown window that has finished loading the bundled sample mesh and maps."""
    import time

    window = MainWindow(interactive=False)
    window.resize(1100, 700)
    window.show()
    shown = {"mesh": False, "textures": False}
    window.mesh_shown.connect(lambda _: shown.__setitem__("mesh", True))
    window.textures_shown.connect(lambda _: shown.__setitem__("textures", True))
    window.open_sample()
    start = time.monotonic()
    while not all(shown.values()) and time.monotonic() - start < 120:  # a hang guard, no bound
        qapp.processEvents()
        time.sleep(0.01)
    assert all(shown.values()), "the sample did not load within two minutes"
    return window


@pytest.fixture(scope="module")
def sample_window(qapp):
    """One window per module showing the bundled sample (a window + IBL costs ~1-2 s to build).

    Shared, so only for tests that leave it as they found it: a test that opens another mesh or
    other maps, or switches the view mode, takes `own_sample_window` instead.
    """
    window = open_sample_window(qapp)
    yield window
    window.close()


@pytest.fixture
def own_sample_window(qapp):
    """A window showing the sample for one test alone, which may change what it shows."""
    window = open_sample_window(qapp)
    yield window
    window.close()
