"""Named gates a test closes and opens through ``/_fake/hold`` and ``/_fake/release``.

They let a test stop the fake at an exact point of a run instead of guessing with sleeps:

- a node id (``"3"``): the worker stops after sending that node's ``executing``, before the node
  runs -- a node that takes as long as the test wants;
- ``"history"``: the worker stops after the run (``execution_success`` / ``execution_error`` sent)
  and before ``task_done`` writes ``/history`` -- the moment a real server can die in, leaving
  files on disk and no record of them;
- ``"prompt_reply"``: ``POST /prompt`` queues the prompt but holds its HTTP answer, so the run's
  messages reach the socket before the client learns the prompt id (§0.4, made deterministic).

``waiting`` says which gates something is blocked on right now, so a test can wait for the
fake to *reach* a point, then act.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterable

_TICK_S = 0.01


class Holds:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._closed: set[str] = set()
        self._waiting: Counter[str] = Counter()

    def hold(self, names: Iterable[str]) -> None:
        with self._lock:
            self._closed.update(names)

    def release(self, names: Iterable[str]) -> None:
        with self._lock:
            self._closed.difference_update(names)
            self._lock.notify_all()

    @property
    def closed(self) -> list[str]:
        with self._lock:
            return sorted(self._closed)

    @property
    def waiting(self) -> list[str]:
        with self._lock:
            return sorted(name for name, count in self._waiting.items() if count > 0)

    def wait(self, name: str, check: Callable[[], None] | None = None) -> None:
        """Block the calling thread while `name` is held; `check` may raise (an interrupt)."""
        with self._lock:
            if name not in self._closed:
                return
            self._waiting[name] += 1
            try:
                while name in self._closed:
                    if check is not None:
                        check()
                    self._lock.wait(_TICK_S)
            finally:
                self._waiting[name] -= 1

    async def wait_async(self, name: str) -> None:
        """The same for handlers on the server's event loop."""
        with self._lock:
            if name not in self._closed:
                return
            self._waiting[name] += 1
        try:
            while True:
                with self._lock:
                    if name not in self._closed:
                        return
                await asyncio.sleep(_TICK_S)
        finally:
            with self._lock:
                self._waiting[name] -= 1
