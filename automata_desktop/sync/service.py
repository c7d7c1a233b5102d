"""Runs sync on one background thread: pushes whenever work is due, pulls every so often.

supabase-py is blocking, so it gets its own thread rather than the app's asyncio loop; results
reach the GUI through the callbacks, which run on this thread (marshal them to Qt).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from automata_desktop.sync.errors import AuthError, SyncError, SyncOffline
from automata_desktop.sync.pull import Puller
from automata_desktop.sync.worker import DrainReport, SyncWorker

log = logging.getLogger(__name__)

DEFAULT_PULL_INTERVAL_S = 60.0
IDLE_WAIT_S = 30.0


class SyncService:
    def __init__(self, worker: SyncWorker, puller: Puller | None = None, *,
                 pull_interval: float = DEFAULT_PULL_INTERVAL_S,
                 on_report: Callable[[DrainReport], None] | None = None) -> None:
        self.worker = worker
        self.puller = puller
        self.pull_interval = pull_interval
        self.on_report = on_report
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_pull = 0.0

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="supabase-sync", daemon=True)
            self._thread.start()

    def nudge(self) -> None:
        """Look at the outbox now (call after enqueueing, or when the network comes back)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._once()
            except Exception:  # keep syncing whatever one round did
                log.exception("sync round failed")
            self._wake.wait(self._wait_time())

    def _once(self) -> None:
        report = self.worker.run_pending()
        if self.on_report is not None and (report.pushed or report.deleted or report.failed):
            self.on_report(report)
        if self.puller is None or time.monotonic() < self._next_pull:
            return
        self._next_pull = time.monotonic() + self.pull_interval
        try:
            self.puller.pull()
        except (SyncOffline, AuthError) as exc:
            log.debug("pull skipped: %s", exc)
        except SyncError as exc:
            log.warning("%s", exc)

    def _wait_time(self) -> float:
        waits = [IDLE_WAIT_S]
        due = self.worker.outbox.next_due_at()
        if due is not None:
            waits.append(due - self.worker.outbox.clock())
        if self.puller is not None:
            waits.append(self._next_pull - time.monotonic())
        return max(0.05, min(waits))
