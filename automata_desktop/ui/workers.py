"""Running blocking work (mesh parsing, image decoding) off the Qt main thread.

Results come back through a queued signal, so callbacks always run on the main thread, where
widgets and VTK may be touched.
"""

from __future__ import annotations

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
        try:
            result = self.fn()
        except BaseException as exc:  # every failure must reach the UI as a message
            self.signals.failed.emit(self, exc)
        else:
            self.signals.done.emit(self, result)


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
        on_done, _ = self._running.pop(task)
        on_done(value)

    def _failed(self, task: _Task, exc: BaseException) -> None:
        _, on_error = self._running.pop(task)
        on_error(exc)

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        task = _Task(fn)
        self._running[task] = (on_done, on_error)
        # Queued explicitly: the signal is emitted on a pool thread, the slot must run on ours.
        queued = Qt.ConnectionType.QueuedConnection
        task.signals.done.connect(self._done, queued)
        task.signals.failed.connect(self._failed, queued)
        self._pool.start(task)
