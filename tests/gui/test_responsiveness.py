"""The window keeps drawing while a 4096² five-map set loads and a 1M-triangle mesh opens: parsing,
decoding and texture preparation run on the thread pool, the Qt thread only binds and renders.

What is asserted is where the work runs, which cannot flake; how long the Qt thread stalled is
measured and printed (`-s`) but not bounded: on a loaded CI machine any bound is a coin toss.
"""

from __future__ import annotations

import gc
import threading
import time

import pytest
from PySide6.QtCore import QTimer

from automata_desktop.core.texture_set import TextureSet
from automata_desktop.ui import main_window as main_window_module
from automata_desktop.ui.main_window import MainWindow
from tests.gui.big_assets import grid_mesh, map_set
from tests.gui.workbench_helpers import wait_for

pytestmark = pytest.mark.gui
TICK_MS = 10
#: The goal the printed figure is read against: the Qt thread held up by anything but drawing for
#: at most 100 ms (parsing this mesh takes ~1 s, decoding the maps ~0.3 s, preparing the textures
#: ~0.15 s, so any of them on the Qt thread shows; so does a worker holding the GIL in one long
#: VTK call). Drawing runs on the Qt thread: with llvmpipe one 1M-triangle frame is ~250 ms.
GOAL_STALL_MS = 100
#: The heavy steps of opening a mesh and showing a texture set, as MainWindow calls them.
HEAVY_STEPS = ("load_scene", "scene_parts", "prepare_textures")


class StallMeter:
    """A 10 ms timer; the longest gap between its ticks is the longest the UI froze.

    VTK's render window reports when it draws, so each gap splits into drawing and the rest.
    """

    def __init__(self, render_window) -> None:
        self.gaps: list[tuple[float, float]] = []  # (gap ms, of which drawing ms)
        self.frames: list[float] = []  # ms of each render
        self._last = time.perf_counter()
        self._drawing = 0.0
        self._render_started = 0.0
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        render_window.AddObserver("StartEvent", self._render_start)
        render_window.AddObserver("EndEvent", self._render_end)

    def _render_start(self, *_: object) -> None:
        self._render_started = time.perf_counter()

    def _render_end(self, *_: object) -> None:
        frame = time.perf_counter() - self._render_started
        self.frames.append(frame * 1000)
        self._drawing += frame

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(((now - self._last) * 1000, self._drawing * 1000))
        self._last, self._drawing = now, 0.0

    def start(self) -> None:
        self._last, self._drawing = time.perf_counter(), 0.0
        self.timer.start()

    @property
    def worst_ms(self) -> float:
        return max((gap for gap, _ in self.gaps), default=0.0)

    @property
    def worst_without_drawing_ms(self) -> float:
        return max((gap - drawing for gap, drawing in self.gaps), default=0.0)


@pytest.fixture
def heavy_step_threads(monkeypatch) -> list[tuple[str, threading.Thread]]:
    """Each heavy step as it runs, with the thread it ran on."""
    ran: list[tuple[str, threading.Thread]] = []

    def spy(name: str, real):
        def step(*args, **kwargs):
            ran.append((name, threading.current_thread()))
            return real(*args, **kwargs)

        return step

    for name in HEAVY_STEPS:
        monkeypatch.setattr(main_window_module, name, spy(name, getattr(main_window_module, name)))
    real_loaded = TextureSet.loaded
    monkeypatch.setattr(TextureSet, "loaded", spy("decode_maps", real_loaded))
    return ran


def test_loading_a_4k_set_and_a_million_triangles_never_freezes_the_window(
    qapp, tmp_path, heavy_step_threads
):
    mesh = grid_mesh(tmp_path / "million.glb")
    textures = TextureSet.from_folder(map_set(tmp_path / "maps"))
    window = MainWindow(interactive=False)
    window.resize(1000, 700)
    window.show()
    wait_for(qapp, lambda: window.isVisible(), 10)
    qapp.processEvents()
    gc.collect()  # earlier tests' garbage: a full collection here would be theirs, not ours
    meter = StallMeter(window.viewport.ren_win)
    meter.start()
    try:
        started = time.perf_counter()
        window.open_mesh(mesh)
        window.show_texture_set(textures, derive_missing=False)
        wait_for(qapp, lambda: window.mesh is not None and window.texture_set is not None
                 and not window.busy, 120, "the big mesh and maps")
        loaded_s = time.perf_counter() - started
        for _ in range(3):  # and it still renders interactively afterwards
            window.viewport.render()
            qapp.processEvents()
    finally:
        meter.timer.stop()
        window.close()
    assert window.mesh.triangle_count >= 1_000_000
    assert window.texture_set.get(next(iter(window.texture_set.kinds))).size == (4096, 4096)
    print(f"\nloaded in {loaded_s:.1f} s; {len(meter.gaps)} ticks; worst stall outside drawing "
          f"{meter.worst_without_drawing_ms:.0f} ms (goal {GOAL_STALL_MS}); worst gap "
          f"{meter.worst_ms:.0f} ms; render frames (ms): {[round(f) for f in meter.frames]}; "
          f"gaps > 50 ms (total, drawing): "
          f"{[(round(g), round(d)) for g, d in meter.gaps if g > 50]}")
    steps = [name for name, _ in heavy_step_threads]
    assert sorted(set(steps)) == sorted({*HEAVY_STEPS, "decode_maps"}), steps
    on_qt_thread = [name for name, thread in heavy_step_threads
                    if thread is threading.main_thread()]
    assert on_qt_thread == [], f"run on the Qt thread: {on_qt_thread}"
    assert meter.gaps, "the Qt event loop never ran while loading"
