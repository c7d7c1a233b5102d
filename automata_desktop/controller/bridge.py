"""The one door between Qt and asyncio: a worker thread runs an event loop holding the Runtime.

Only the controller uses it: it hands in coroutine factories with `call(...)` (run through
`run_coroutine_threadsafe`); results, errors and every JobUpdate come back as queued Qt signals,
so callbacks always run on the Qt main thread. Preview frames are decoded to QImage on the loop's
thread, never on Qt's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage

from automata_desktop.config import Settings
from automata_desktop.errors import AutomataError
from automata_desktop.jobs.models import JobUpdate
from automata_desktop.runtime import Runtime

log = logging.getLogger(__name__)

Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]


class EngineNotRunning(AutomataError):
    """A call made before the runtime is up (or after it stopped)."""


class RuntimeBridge(QObject):
    started = Signal(list)  # notices from the runtime (webhook port taken, ...)
    start_failed = Signal(str)
    update = Signal(object, object)  # JobUpdate, decoded preview QImage or None
    _result = Signal(object, object, object)  # callback, value, is_error

    def __init__(self, settings: Settings, *, listen: bool = True,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._listen = listen
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.runtime: Runtime | None = None
        self._calls: set[asyncio.Task[Any]] = set()  # `call`s still running, ended before exit
        self._result.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="automata-asyncio", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Block until the runtime is up (or failed); for tests and the screenshot mode."""
        return self._ready.wait(timeout)

    @property
    def running(self) -> bool:
        return self.runtime is not None and self._loop is not None and self._loop.is_running()

    def stop(self, timeout: float = 15.0) -> None:
        """Close the runtime (engine, listener, library) and end the thread."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if thread is None:
            return
        if loop is not None and stop is not None and loop.is_running():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            _cancel_leftovers(loop)
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._ready.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            runtime = Runtime(self.settings, listen=self._listen, shows_results=True)
            await runtime.__aenter__()
        except Exception as exc:  # a broken library folder must not kill the app silently
            log.exception("the runtime did not start")
            self.start_failed.emit(f"Could not start the generation engine: {exc}")
            return
        self.runtime = runtime
        pump = asyncio.create_task(self._pump(runtime))
        self._ready.set()
        self.started.emit(list(runtime.notices))
        try:
            await self._stop.wait()
        finally:
            self.runtime = None  # no new calls; those still running end before the runtime
            leftovers = [pump, *self._calls]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)
            await runtime.__aexit__(None, None, None)

    async def _pump(self, runtime: Runtime) -> None:
        async for update in runtime.engine.updates():
            self.update.emit(update, _decode_preview(update))

    # ------------------------------------------------------------------ calls

    def call(self, factory: Callable[[Runtime], Awaitable[Any]], on_done: Done | None = None,
             on_error: Failed | None = None) -> concurrent.futures.Future[Any] | None:
        """Run `factory(runtime)` on the loop; `on_done`/`on_error` run later on the Qt thread.

        Returns None (after calling `on_error`) when the runtime is not running.
        """
        loop, runtime = self._loop, self.runtime
        if loop is None or runtime is None or not loop.is_running():
            if on_error is not None:
                on_error(EngineNotRunning("The generation engine is not running (yet): try again "
                                          "in a moment, or restart the app if this stays."))
            return None

        async def run() -> Any:
            task = asyncio.current_task()
            assert task is not None
            self._calls.add(task)
            try:
                return await factory(runtime)
            finally:
                self._calls.discard(task)

        future = asyncio.run_coroutine_threadsafe(run(), loop)

        def finished(fut: concurrent.futures.Future[Any]) -> None:
            if fut.cancelled():
                return
            exc = fut.exception()
            if exc is not None:
                if on_error is not None:
                    self._result.emit(on_error, exc, True)
                else:
                    log.warning("background call failed: %s", exc)
            elif on_done is not None:
                self._result.emit(on_done, fut.result(), False)

        future.add_done_callback(finished)
        return future

    def _deliver(self, callback: Callable[[Any], None], value: Any, _is_error: bool) -> None:
        callback(value)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what still runs and let it unwind, as `asyncio.run` does before closing a loop.

    Otherwise `shutdown_asyncgens` closes an async generator a pending task is still inside (an
    `updates()` subscription, a download's byte stream) and logs "aclose(): asynchronous
    generator is already running", and the task is destroyed pending on a closed loop.
    """
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def _decode_preview(update: JobUpdate) -> QImage | None:
    if not update.preview:
        return None
    image = QImage.fromData(update.preview)
    return None if image.isNull() else image
