"""Running blocking work (mesh parsing, image decoding) off the Qt main thread.

Results come back through a queued signal, so callbacks always run on the main thread, where
widgets and VTK may be touched.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal


class _Signals(QObject):
    done = Signal(object, object)  # task, result
    failed = Signal(object, object)  # task, exception


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.signals = _Signals()
        self.setAutoDelete(False)  # the caller keeps a reference until a signal arrived

    def run(self) -> None:
        _lower_thread_priority()
        fn, self.fn = self.fn, None  # drop the closure's inputs (pixels, paths) once run
        try:
            result = fn()
        except BaseException as exc:  # every failure must reach the UI as a message
            outcome: tuple[Signal, Any] = (self.signals.failed, exc)
        else:
            outcome = (self.signals.done, result)
        with contextlib.suppress(RuntimeError):  # the window closed meanwhile: nobody to tell
            outcome[0].emit(self, outcome[1])


#: Tasks in flight: a task must outlive a runner whose window closed while it ran (its QRunnable
#: must not be freed under the pool thread). Released on the main thread when its result arrives;
#: tasks of a closed window stay here, emptied of their inputs.
_RUNNING: set[_Task] = set()


#: Worker threads yield the CPU to the UI thread: on a 2-core machine, decoders and mesh parsing at
#: equal priority starve the Qt thread, and the window stutters although nothing blocks it.
WORKER_NICENESS = 10
_reniced: set[int] = set()


def _lower_thread_priority() -> None:
    """Renice the calling pool thread once (Linux: niceness is per thread and inherited)."""
    tid = threading.get_native_id()
    if tid in _reniced or not hasattr(os, "setpriority"):
        return
    _reniced.add(tid)
    with contextlib.suppress(OSError):
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + WORKER_NICENESS))


class BackgroundRunner(QObject):
    """Submit callables to a thread pool; `on_done`/`on_error` run on the main thread."""

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._running: dict[_Task, tuple[Callable[[Any], None], Callable[[BaseException], None]]]
        self._running = {}

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def _done(self, task: _Task, value: Any) -> None:
        _RUNNING.discard(task)
        on_done, _ = self._running.pop(task)
        on_done(value)

    def _failed(self, task: _Task, exc: BaseException) -> None:
        _RUNNING.discard(task)
        _, on_error = self._running.pop(task)
        on_error(exc)

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        task = _Task(fn)
        _RUNNING.add(task)
        self._running[task] = (on_done, on_error)
        # Queued explicitly: the signal is emitted on a pool thread, the slot must run on ours.
        queued = Qt.ConnectionType.QueuedConnection
        task.signals.done.connect(self._done, queued)
        task.signals.failed.connect(self._failed, queued)
        self._pool.start(task)
