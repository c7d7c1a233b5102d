"""Supabase sync: the signed-in account, a durable outbox, pushes and pulls.

Wiring (all blocking calls; run them on a worker thread, never the Qt thread):

    settings = SupabaseSettings(url, anon_key)
    auth = SyncAuth(settings, SessionStore(config_dir(), settings.url), on_change=cb)
    auth.restore()                                  # resume last session (may raise AuthError)
    outbox = Outbox(data_dir())                     # sync.sqlite3
    outbox.enqueue(gen_id, "push")                  # after a generation finishes / is deleted
    SyncWorker(auth, outbox, library).run_pending() # -> DrainReport, never raises for offline
    Puller(auth, outbox, library.upsert_remote).pull()
    SyncService(worker, puller).start(); .nudge() after enqueue; .stop() at exit
    SyncRunner(settings, library, config_dir, data_dir)  # all of the above, as the app uses it

Conflict rule (see library_mirror.py): last writer wins, judged on the server's clock only: a
pulled row replaces the local copy when its `updated_at` is newer than the server stamp of the
version this device holds (kept in the outbox's state), unless a local change still waits in
the outbox. Device clocks never take part. Files are addressed by their sha256, so a pull never
overwrites a local file. Local files always stay: if an upload fails, or a file is over the
project's upload limit, the generation keeps working from them (Outbox.delivery says which
copies exist).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automata_desktop.sync.auth import Account, AuthListener, SyncAuth
    from automata_desktop.sync.errors import AuthError, SyncError, SyncOffline
    from automata_desktop.sync.outbox import Outbox, OutboxItem, OutboxKind, backoff_delay
    from automata_desktop.sync.pull import Puller, RemoteSink
    from automata_desktop.sync.rows import RemoteFile, RemoteGeneration
    from automata_desktop.sync.service import SyncService
    from automata_desktop.sync.session_store import SessionStore
    from automata_desktop.sync.settings import SupabaseSettings
    from automata_desktop.sync.worker import DrainReport, GenerationSource, SyncWorker

#: Where each public name lives. Resolved on first use (PEP 562): the app imports
#: `sync.errors` or `sync.outbox` at start-up, and the package must not pull in the whole
#: Supabase client (~0.4 s) before anyone signs in.
_HOME = {
    "Account": "auth", "AuthListener": "auth", "SyncAuth": "auth",
    "AuthError": "errors", "SyncError": "errors", "SyncOffline": "errors",
    "Outbox": "outbox", "OutboxItem": "outbox", "OutboxKind": "outbox",
    "backoff_delay": "outbox", "Puller": "pull", "RemoteSink": "pull",
    "RemoteFile": "rows", "RemoteGeneration": "rows", "SyncService": "service",
    "SessionStore": "session_store", "SupabaseSettings": "settings",
    "DrainReport": "worker", "GenerationSource": "worker", "SyncWorker": "worker",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "Account",
    "AuthError",
    "AuthListener",
    "DrainReport",
    "GenerationSource",
    "Outbox",
    "OutboxItem",
    "OutboxKind",
    "Puller",
    "RemoteFile",
    "RemoteGeneration",
    "RemoteSink",
    "SessionStore",
    "SupabaseSettings",
    "SyncAuth",
    "SyncError",
    "SyncOffline",
    "SyncService",
    "SyncWorker",
    "backoff_delay",
]
