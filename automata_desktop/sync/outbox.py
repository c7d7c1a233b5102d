"""A durable queue of generations to push to (or delete from) Supabase.

It lives in its own `sync.sqlite3` so it never collides with the library's migrations, and
survives crashes: an item is only removed once the work is acknowledged, and claims left by a
killed process are released when the outbox is opened again. One row per generation: a newer
request replaces an older one, a delete wins over a push, and a change arriving while the item is
being worked on is kept (the `version` check in `ack`).
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

DB_NAME = "sync.sqlite3"
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 300.0
CLAIM_LEASE_S = 300.0

_SCHEMA = """
create table if not exists outbox (
    generation_id   text primary key,
    kind            text not null check (kind in ('push', 'delete')),
    version         integer not null default 1,
    attempts        integer not null default 0,
    next_attempt_at real not null,
    claimed_until   real,
    last_error      text,
    created_at      real not null
);
create index if not exists outbox_due on outbox (next_attempt_at);
create table if not exists sync_state (key text primary key, value text not null);
create table if not exists synced (generation_id text primary key, synced_at real not null);
"""


class OutboxKind(StrEnum):
    PUSH = "push"
    DELETE = "delete"


class Delivery(StrEnum):
    """Which copy of a generation exists: its local files always stay; this says whether the
    cloud has them too (shown per row in the library)."""

    LOCAL = "local only"
    PENDING = "upload pending"
    FAILED = "upload failed"
    SYNCED = "synced"
    #: In the cloud except files it cannot hold (too large); those stay on this computer.
    PARTIAL = "partly synced"


#: `last_error` of an item that waits for the network rather than failed (see SyncWorker).
OFFLINE_PREFIX = "offline: "
#: `last_error` of an item that waits because Supabase asked to (429, 503, 504): not a failure.
BUSY_PREFIX = "busy: "
_WAITING = (OFFLINE_PREFIX, BUSY_PREFIX)
_LOCAL_ONLY_KEY = "local_only."


@dataclass(frozen=True, slots=True)
class OutboxItem:
    generation_id: str
    kind: OutboxKind
    version: int
    attempts: int
    next_attempt_at: float
    last_error: str | None


def backoff_delay(attempts: int, *, rng: Callable[[], float] = random.random,
                  base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """Seconds to wait after the `attempts`-th failure: capped exponential, with jitter
    (between half and all of it) so many devices coming back online do not retry in step."""
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    return ceiling * (0.5 + 0.5 * rng())


class Outbox:
    def __init__(self, folder: Path, *, clock: Callable[[], float] = time.time,
                 rng: Callable[[], float] = random.random) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / DB_NAME
        self._clock = clock
        self.clock = clock
        self._rng = rng
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("pragma journal_mode = wal")
        self._db.execute("pragma busy_timeout = 5000")
        self._db.executescript(_SCHEMA)
        # Whoever held these claims is gone (we are the only process using this folder).
        self._db.execute("update outbox set claimed_until = null where claimed_until is not null")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def enqueue(self, generation_id: str, kind: OutboxKind | str = OutboxKind.PUSH) -> None:
        kind = OutboxKind(kind)
        now = self._clock()
        with self._lock:
            self._db.execute(
                """insert into outbox (generation_id, kind, next_attempt_at, created_at)
                   values (?, ?, ?, ?)
                   on conflict (generation_id) do update set
                       kind = case when outbox.kind = 'delete' then 'delete' else excluded.kind end,
                       version = outbox.version + 1,
                       attempts = 0,
                       next_attempt_at = excluded.next_attempt_at,
                       last_error = null""",
                (generation_id, kind.value, now, now),
            )

    def claim(self) -> OutboxItem | None:
        """The next due item, leased to the caller until ack/fail (or CLAIM_LEASE_S)."""
        now = self._clock()
        with self._lock:
            row = self._db.execute(
                """update outbox set claimed_until = ?
                   where generation_id = (
                       select generation_id from outbox
                       where next_attempt_at <= ? and (claimed_until is null or claimed_until < ?)
                       order by next_attempt_at, created_at limit 1)
                   returning generation_id, kind, version, attempts, next_attempt_at, last_error""",
                (now + CLAIM_LEASE_S, now, now),
            ).fetchone()
        return _item(row) if row else None

    def ack(self, item: OutboxItem, *, local_only: str | None = None) -> None:
        """Done. A request that arrived meanwhile (newer version) stays queued.

        `local_only`: what of the pushed generation the cloud could not take and why (shown
        with its PARTIAL delivery until a later push takes everything)."""
        with self._lock:
            self._db.execute("delete from sync_state where key = ?",
                             (f"{_LOCAL_ONLY_KEY}{item.generation_id}",))
            if local_only and item.kind is OutboxKind.PUSH:
                self._db.execute("insert into sync_state (key, value) values (?, ?)",
                                 (f"{_LOCAL_ONLY_KEY}{item.generation_id}", local_only))
            self._db.execute(
                "delete from outbox where generation_id = ? and version = ?",
                (item.generation_id, item.version))
            if item.kind is OutboxKind.PUSH:
                self._db.execute(
                    "insert or replace into synced (generation_id, synced_at) values (?, ?)",
                    (item.generation_id, self._clock()))
                self._db.execute("delete from sync_state where key = ?",
                                 (f"push.started.{item.generation_id}",))
            else:
                self._db.execute("delete from synced where generation_id = ?",
                                 (item.generation_id,))
            self._db.execute(
                "update outbox set claimed_until = null where generation_id = ?",
                (item.generation_id,))

    def fail(self, item: OutboxItem, error: str) -> float:
        """Back off and keep the item; returns the delay in seconds."""
        attempts = item.attempts + 1
        delay = backoff_delay(attempts, rng=self._rng)
        with self._lock:
            self._db.execute(
                """update outbox set attempts = ?, next_attempt_at = ?, claimed_until = null,
                   last_error = ? where generation_id = ? and version = ?""",
                (attempts, self._clock() + delay, error, item.generation_id, item.version))
            self._db.execute(
                "update outbox set claimed_until = null where generation_id = ?",
                (item.generation_id,))
        return delay

    def postpone_all(self, delay: float) -> None:
        """Nothing is tried for `delay` seconds (the server is unreachable for everyone)."""
        with self._lock:
            self._db.execute("update outbox set next_attempt_at = max(next_attempt_at, ?)",
                             (self._clock() + delay,))

    def retry_now(self) -> None:
        """Make every waiting item due at once (the user pressed "Sync now")."""
        with self._lock:
            self._db.execute("update outbox set next_attempt_at = min(next_attempt_at, ?)",
                             (self._clock(),))

    def release(self, item: OutboxItem) -> None:
        """Give an item back untouched (e.g. nobody is signed in)."""
        with self._lock:
            self._db.execute("update outbox set claimed_until = null where generation_id = ?",
                             (item.generation_id,))

    def items(self) -> list[OutboxItem]:
        with self._lock:
            rows = self._db.execute(
                """select generation_id, kind, version, attempts, next_attempt_at, last_error
                   from outbox order by next_attempt_at, created_at""").fetchall()
        return [_item(r) for r in rows]

    def begin_push(self, generation_id: str) -> bool:
        """Record that files of this generation may now reach Storage. True the first time for
        a generation the cloud never had: nothing of it can be there yet, so the per-file
        "already uploaded?" checks can be skipped (a resumed or repeated push still checks)."""
        key = f"push.started.{generation_id}"
        with self._lock:
            known = self._db.execute(
                "select 1 from synced where generation_id = ? union all "
                "select 1 from sync_state where key = ?", (generation_id, key)).fetchone()
            if known is None:
                self._db.execute("insert into sync_state (key, value) values (?, '1')", (key,))
        return known is None

    def mark_synced(self, generation_id: str) -> None:
        """The cloud holds this generation as we have it (e.g. it was just pulled)."""
        with self._lock:
            self._db.execute(
                "insert or replace into synced (generation_id, synced_at) values (?, ?)",
                (generation_id, self._clock()))

    def delivery(self, generation_ids: Iterable[str]) -> dict[str, Delivery]:
        """Per generation: queued (pending, or failed if Supabase refused it), synced, or
        local only. Waiting for the network counts as pending, not failed."""
        ids = list(dict.fromkeys(generation_ids))
        queued: dict[str, tuple[int, str | None]] = {}
        synced: set[str] = set()
        partial = set(self.local_only(ids))
        with self._lock:
            for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for gen_id, attempts, error in self._db.execute(
                        f"select generation_id, attempts, last_error from outbox "
                        f"where generation_id in ({marks})", chunk):
                    queued[gen_id] = (attempts, error)
                synced.update(r[0] for r in self._db.execute(
                    f"select generation_id from synced where generation_id in ({marks})", chunk))
        out: dict[str, Delivery] = {}
        for gen_id in ids:
            if gen_id in queued:
                attempts, error = queued[gen_id]
                failed = attempts > 0 and error is not None and not error.startswith(_WAITING)
                out[gen_id] = Delivery.FAILED if failed else Delivery.PENDING
            elif gen_id in synced:
                out[gen_id] = Delivery.PARTIAL if gen_id in partial else Delivery.SYNCED
            else:
                out[gen_id] = Delivery.LOCAL
        return out

    def local_only(self, generation_ids: Iterable[str]) -> dict[str, str]:
        """Per pushed generation whose files the cloud could not all take: which and why."""
        keys = [f"{_LOCAL_ONLY_KEY}{gen_id}" for gen_id in dict.fromkeys(generation_ids)]
        notes: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                for key, value in self._db.execute(
                        f"select key, value from sync_state where key in "
                        f"({','.join('?' * len(chunk))})", chunk):
                    notes[key.removeprefix(_LOCAL_ONLY_KEY)] = value
        return notes

    def local_only_notes(self) -> list[str]:
        """Every "this file stays here, and why" of pushed generations, oldest first."""
        with self._lock:
            return [value for (value,) in self._db.execute(
                "select value from sync_state where key like ? order by rowid",
                (f"{_LOCAL_ONLY_KEY}%",))]

    def failed_count(self) -> int:
        with self._lock:
            return self._db.execute(
                "select count(*) from outbox where attempts > 0 and last_error is not null"
                " and last_error not like ? and last_error not like ?",
                tuple(prefix + "%" for prefix in _WAITING)).fetchone()[0]

    def next_due_at(self) -> float | None:
        with self._lock:
            row = self._db.execute("select min(next_attempt_at) from outbox").fetchone()
        return row[0]

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("select count(*) from outbox").fetchone()[0]

    # Small key/value state for the puller's cursor, in the same file.

    def get_state(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("select value from sync_state where key = ?",
                                   (key,)).fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "insert into sync_state (key, value) values (?, ?)"
                " on conflict (key) do update set value = excluded.value", (key, value))

    def clear_state(self, key: str) -> None:
        with self._lock:
            self._db.execute("delete from sync_state where key = ?", (key,))


def _item(row: tuple) -> OutboxItem:
    return OutboxItem(row[0], OutboxKind(row[1]), row[2], row[3], row[4], row[5])
