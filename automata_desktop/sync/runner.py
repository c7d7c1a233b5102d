"""Sync for a running app: restore the session, push finished generations, pull the others.

The runner exists whenever a Supabase project is configured, signed in or not: generations
finished while signed out wait in the outbox, and signing in (GUI or CLI) starts the background
service without restarting the app.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from automata_desktop.core.generation import Generation, GenerationStatus
from automata_desktop.library.store import Library
from automata_desktop.sync.auth import SESSION_GONE, Account, AuthListener, SyncAuth
from automata_desktop.sync.errors import SyncError, SyncOffline
from automata_desktop.sync.library_mirror import LibraryMirror
from automata_desktop.sync.outbox import Delivery, Outbox
from automata_desktop.sync.pull import Puller
from automata_desktop.sync.rows import RemoteGeneration
from automata_desktop.sync.service import SyncService
from automata_desktop.sync.session_store import SessionStore
from automata_desktop.sync.settings import SupabaseSettings
from automata_desktop.sync.worker import APP_MAX_CONCURRENCY, DrainReport, SyncWorker

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """What the account panel shows."""

    account: Account | None
    pending: int  # generations waiting to be pushed (or deleted) remotely
    failed: int  # of those, how many Supabase refused (they retry with backoff)
    last_sync_at: datetime | None
    last_error: str | None
    offline: bool
    secure_storage: bool  # the refresh token is in the OS keyring, not a 0600 file
    #: Synced generations with a file the project could not take (over its upload limit): the
    #: newest reason, e.g. "height.exr (72 MB) is larger than … it stays on this computer".
    partial: int = 0
    partial_reason: str | None = None


class _ReportingPuller(Puller):
    """A Puller that tells the runner each time a pull went through, even an empty one."""

    def __init__(self, runner: SyncRunner) -> None:
        super().__init__(runner.auth, runner.outbox, runner._remote_arrived)
        self._runner = runner

    def pull(self) -> int:
        try:
            count = super().pull()
        except SyncOffline:
            self._runner._offline = True
            raise
        except SyncError as exc:
            self._runner._note_error(str(exc))
            raise
        self._runner._note_success()
        return count


@dataclass
class SyncRunner:
    """Blocking calls throughout: the GUI and CLI call it from a worker thread."""

    settings: SupabaseSettings
    library: Library
    config_dir: Path
    data_dir: Path
    on_change: AuthListener | None = None
    max_concurrency: int = APP_MAX_CONCURRENCY
    auth: SyncAuth = field(init=False)
    outbox: Outbox = field(init=False)
    mirror: LibraryMirror = field(init=False)
    service: SyncService | None = field(default=None, init=False)
    last_sync_at: datetime | None = field(default=None, init=False)
    last_error: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._listeners: list[AuthListener] = []
        self._lock = threading.Lock()
        self._offline = False
        self._signing_out = False
        store = SessionStore(self.config_dir, self.settings.url)
        self.auth = SyncAuth(self.settings, store, on_change=self._auth_changed)
        self.outbox = Outbox(self.data_dir)
        self.mirror = LibraryMirror(self.library, state=self.outbox)

    @property
    def account(self) -> Account | None:
        return self.auth.account

    def add_listener(self, listener: AuthListener) -> None:
        """Also tell `listener` about auth changes (it may be called from a timer thread)."""
        self._listeners.append(listener)

    def _puller(self) -> Puller:
        puller = _ReportingPuller(self)
        self.mirror.download = puller.fetch
        return puller

    def _worker(self) -> SyncWorker:
        return SyncWorker(self.auth, self.outbox, self.mirror,
                          max_concurrency=self.max_concurrency)

    def start(self) -> Account | None:
        """Resume the stored session (if any) and sync in the background."""
        try:
            account = self.auth.restore()
        except SyncError as exc:
            log.warning("sync paused: %s", exc)
            self.last_error = str(exc)
            return None
        if account is not None:
            self._start_service()
        return account

    def _start_service(self) -> None:
        with self._lock:
            if self.service is None:
                self.service = SyncService(self._worker(), self._puller(),
                                           on_report=self._record)
                self.service.start()

    def _stop_service(self) -> None:
        with self._lock:
            service, self.service = self.service, None
        if service is not None:
            service.stop()

    # ------------------------------------------------------------------ account

    def sign_in(self, email: str, password: str) -> Account:
        """Sign in, queue this device's finished generations and start syncing them."""
        account = self.auth.sign_in(email, password)
        self._signed_in()
        return account

    def sign_up(self, email: str, password: str) -> Account | None:
        """Create an account; None when the email must be confirmed before signing in."""
        account = self.auth.sign_up(email, password)
        if account is not None:
            self._signed_in()
        return account

    def sign_out(self) -> None:
        """Stop syncing and forget the session; the local library stays as it is."""
        self._stop_service()
        self._signing_out = True
        try:
            self.auth.sign_out()
        finally:
            self._signing_out = False
        self.last_error = None

    def _signed_in(self) -> None:
        self.last_error = None
        self.backfill()
        self._start_service()
        assert self.service is not None
        self.service.nudge()

    def _auth_changed(self, event: str, account: Account | None) -> None:
        if event == "SIGNED_OUT" and not self._signing_out:
            # Not asked for: the server revoked the session or it could not be refreshed.
            self.last_error = SESSION_GONE
        for listener in ([self.on_change] if self.on_change else []) + self._listeners:
            try:
                listener(event, account)
            except Exception:  # one listener's bug must not silence the others
                log.exception("sync auth listener failed")

    # ------------------------------------------------------------------ pushing and pulling

    def generation_finished(self, gen: Generation) -> None:
        """Engine hook: completed generations go to the outbox (offline is fine: it waits)."""
        if gen.status is GenerationStatus.COMPLETED:
            self.outbox.enqueue(gen.id, "push")
            if self.service is not None:
                self.service.nudge()

    def generation_deleted(self, generation_id: str) -> None:
        """A local delete becomes a tombstone upstream, so other devices drop it too."""
        self.outbox.enqueue(generation_id, "delete")
        if self.service is not None:
            self.service.nudge()

    def backfill(self) -> int:
        """Queue every completed local generation the cloud does not have yet."""
        gens = self.library.list(status=GenerationStatus.COMPLETED, limit=1_000_000)
        states = self.outbox.delivery(g.id for g in gens)
        todo = [g.id for g in gens if states[g.id] is not Delivery.SYNCED]
        for gen_id in todo:
            self.outbox.enqueue(gen_id, "push")
        return len(todo)

    def sync_now(self) -> tuple[DrainReport, int]:
        """Push what is pending and pull what other devices made, now (the pull raises
        SyncOffline / AuthError when Supabase is unreachable / the session is gone)."""
        self.outbox.retry_now()
        report = self._worker().run_pending()
        self._record(report)
        pulled = self._puller().pull()
        return report, pulled

    def delivery(self, generation_ids: list[str]) -> dict[str, Delivery]:
        """Per generation, which copies exist; signed out, queued work is simply local."""
        states = self.outbox.delivery(generation_ids)
        if self.account is None:
            return {k: Delivery.LOCAL if v is Delivery.PENDING else v for k, v in states.items()}
        return states

    def status(self) -> SyncStatus:
        # The CLI shares this session: notice if it signed out, or the session ended there.
        self.auth.notice_ended_elsewhere()
        service = self.service
        offline = self._offline or (service is not None and service.worker.offline)
        partial = self.outbox.local_only_notes()
        return SyncStatus(self.account, len(self.outbox), self.outbox.failed_count(),
                          self.last_sync_at, self.last_error, offline, self.auth.store.secure,
                          len(partial), partial[-1] if partial else None)

    def _remote_arrived(self, remote: RemoteGeneration) -> None:
        self.mirror.upsert_remote(remote)
        if not remote.deleted:
            self.outbox.mark_synced(remote.generation.id)

    def _record(self, report: DrainReport) -> None:
        self._offline = report.offline
        if report.failed:
            self._note_error(next(iter(report.failed.values())))
        elif report.pushed or report.deleted:
            self._note_success()

    def _note_success(self) -> None:
        self._offline = False
        self.last_sync_at = datetime.now(UTC)
        if self.last_error != SESSION_GONE or self.account is not None:
            self.last_error = None

    def _note_error(self, message: str) -> None:
        self.last_error = message

    def close(self) -> None:
        self._stop_service()
        self.auth.close()
        self.outbox.close()
