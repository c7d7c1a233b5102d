"""Sync for a running app: restore the session, push finished generations, pull the others."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from automata_desktop.core.generation import Generation, GenerationStatus
from automata_desktop.library.store import Library
from automata_desktop.sync.auth import Account, AuthListener, SyncAuth
from automata_desktop.sync.errors import SyncError
from automata_desktop.sync.library_mirror import LibraryMirror
from automata_desktop.sync.outbox import Outbox
from automata_desktop.sync.pull import Puller
from automata_desktop.sync.service import SyncService
from automata_desktop.sync.session_store import SessionStore
from automata_desktop.sync.settings import SupabaseSettings
from automata_desktop.sync.worker import DrainReport, SyncWorker

log = logging.getLogger(__name__)


@dataclass
class SyncRunner:
    """Blocking calls throughout: the GUI and CLI call it from a worker thread."""

    settings: SupabaseSettings
    library: Library
    config_dir: Path
    data_dir: Path
    on_change: AuthListener | None = None
    auth: SyncAuth = field(init=False)
    outbox: Outbox = field(init=False)
    mirror: LibraryMirror = field(init=False)
    service: SyncService | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        store = SessionStore(self.config_dir, self.settings.url)
        self.auth = SyncAuth(self.settings, store, on_change=self.on_change)
        self.outbox = Outbox(self.data_dir)
        self.mirror = LibraryMirror(self.library)

    @property
    def account(self) -> Account | None:
        return self.auth.account

    def _puller(self) -> Puller:
        puller = Puller(self.auth, self.outbox, self.mirror.upsert_remote)
        self.mirror.download = puller.download
        return puller

    def start(self) -> Account | None:
        """Resume the stored session (if any) and sync in the background."""
        try:
            account = self.auth.restore()
        except SyncError as exc:
            log.warning("sync paused: %s", exc)
            return None
        if account is not None:
            self.service = SyncService(SyncWorker(self.auth, self.outbox, self.mirror), self._puller())
            self.service.start()
        return account

    def generation_finished(self, gen: Generation) -> None:
        """Engine hook: completed generations go to the outbox (offline is fine: it waits)."""
        if gen.status is GenerationStatus.COMPLETED:
            self.outbox.enqueue(gen.id, "push")
            if self.service is not None:
                self.service.nudge()

    def backfill(self) -> int:
        """Queue every completed local generation (after the first sign-in on this device)."""
        gens = self.library.list(status=GenerationStatus.COMPLETED, limit=1_000_000)
        for gen in gens:
            self.outbox.enqueue(gen.id, "push")
        return len(gens)

    def sync_now(self) -> tuple[DrainReport, int]:
        """Push what is pending and pull what other devices made, now."""
        report = SyncWorker(self.auth, self.outbox, self.mirror).run_pending()
        pulled = self._puller().pull()
        return report, pulled

    def close(self) -> None:
        if self.service is not None:
            self.service.stop()
        self.auth.close()
        self.outbox.close()
