"""Brings generations changed on other devices into this one.

Rows come oldest first by `(updated_at, id)`, the server's own stamp (so device clocks do not
matter) with the id to order rows stamped at the same instant. Two things of the real service
shape how the pages are read:

- PostgREST caps every response at `db-max-rows` rows (1000 on Supabase), whatever `limit`
  says, and a bulk update stamps all its rows with one `now()`. So each page continues after
  the last row read, `or=(updated_at.gt.T,and(updated_at.eq.T,id.gt.ID))`: a page of any size,
  capped or not, always moves on, and the pull ends at the first empty page (a short page may
  just be the cap).
- `now()` is the time a transaction began, not when it committed: a push that commits after
  a pull read past its stamp would be skipped for good. So each pull reads again from
  OVERLAP_S before the newest stamp it delivered, and skips rows it already delivered with
  the same `(id, updated_at)`. Supabase ends an `authenticated` statement after 8 s
  (statement_timeout), so no API write can commit later than that after its stamp. A pull
  that starts OVERLAP_S after the one that moved the cursor sees every such late commit;
  after it the window is settled and not read again.

The state (cursor, the rows delivered near it, the settled mark) is kept in the outbox's state
table and saved after every page, so a pull that fails half-way loses nothing and repeats
little. Files are not downloaded here: `download()` fetches one when the library wants it,
checking its sha256.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from storage3.exceptions import StorageApiError

from automata_desktop.sync.auth import SyncAuth
from automata_desktop.sync.errors import SyncError, SyncOffline
from automata_desktop.sync.failures import describe, is_offline
from automata_desktop.sync.outbox import Outbox
from automata_desktop.sync.rows import TABLE, RemoteFile, RemoteGeneration, remote_generation

log = logging.getLogger(__name__)

PAGE_SIZE = 200
#: Seconds before the cursor each pull reads again: above Supabase's 8 s statement_timeout
#: for `authenticated`, the longest a push can take to commit after its row was stamped.
OVERLAP_S = 10.0
_CURSOR_KEY = "pull.cursor"

RemoteSink = Callable[[RemoteGeneration], None]


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass
class _Cursor:
    """How far this device has read one user's rows (all stamps are the server's)."""

    #: The newest `updated_at` delivered.
    newest: datetime | None = None
    #: id -> updated_at (isoformat) of the rows delivered within OVERLAP_S of `newest`.
    seen: dict[str, str] = field(default_factory=dict)
    #: Every row stamped at or before this has been read; the window never goes below it.
    settled: datetime | None = None
    #: This device's clock (seconds) when the row stamped `newest` arrived, so after it had
    #: committed. Only differences of it are used: a clock off by hours does no harm.
    moved_at: float | None = None

    @classmethod
    def load(cls, raw: str | None) -> _Cursor:
        if not raw:
            return cls()
        try:
            data: dict[str, Any] = json.loads(raw)
            newest = _stamp(data["updated_at"]) if data.get("updated_at") else None
            if "seen" not in data:  # written before the overlap window: {"updated_at", "ids"}
                stamp = newest.isoformat() if newest else ""
                return cls(newest, {i: stamp for i in data.get("ids") or []})
            settled = _stamp(data["settled"]) if data.get("settled") else None
            return cls(newest, dict(data["seen"]), settled, data.get("moved_at"))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("pull cursor unreadable (%s); reading all generations again", exc)
            return cls()

    def dump(self) -> str:
        return json.dumps({"updated_at": self.newest.isoformat() if self.newest else None,
                           "seen": self.seen,
                           "settled": self.settled.isoformat() if self.settled else None,
                           "moved_at": self.moved_at}, sort_keys=True)

    def window(self, overlap: timedelta) -> tuple[datetime, bool] | None:
        """Where this pull starts reading: (stamp, inclusive), or None for the beginning."""
        if self.newest is None:
            return None
        start = self.newest - overlap
        if self.settled is not None and self.settled >= start:
            return self.settled, False
        return start, True

    def forget_before(self, overlap: timedelta) -> None:
        """Drop rows that no later pull reads again."""
        if self.newest is None:
            return
        floor = self.newest - overlap
        self.seen = {i: s for i, s in self.seen.items() if _stamp(s) >= floor
                     and (self.settled is None or _stamp(s) > self.settled)}


class Puller:
    def __init__(self, auth: SyncAuth, outbox: Outbox, on_remote: RemoteSink, *,
                 page_size: int = PAGE_SIZE, overlap_s: float = OVERLAP_S,
                 clock: Callable[[], float] = time.time) -> None:
        """`clock` measures how long ago the cursor moved (see OVERLAP_S); tests pass one."""
        self.auth = auth
        self.state = outbox
        self.on_remote = on_remote
        self.page_size = page_size
        self.overlap = timedelta(seconds=overlap_s)
        self.clock = clock

    def pull(self) -> int:
        """Hand every row changed since the last pull to `on_remote`; returns how many.

        Raises SyncOffline when Supabase is unreachable and AuthError when signed out; the
        cursor only moves past rows the callback accepted.
        """
        account = self.auth.access_account()
        key = f"{_CURSOR_KEY}.{account.user_id}"
        cursor = _Cursor.load(self.state.get_state(key))
        # Starting OVERLAP_S after the newest row arrived, this pull sees every late commit
        # stamped before it (they commit within 8 s), so once it is through, that is settled.
        began = self.clock()
        settles_at = cursor.newest if cursor.newest is not None and (
            cursor.moved_at is None or began - cursor.moved_at >= self.overlap.total_seconds()
        ) else None
        window = cursor.window(self.overlap)
        after: tuple[str, str] | None = None  # (updated_at, id) of the last row read
        delivered = 0
        while True:
            rows = self._page(account.user_id, window, after)
            arrived = self.clock()
            if not rows:
                break
            for row in rows:
                stamp = _stamp(row["updated_at"])
                if cursor.seen.get(row["id"]) != stamp.isoformat():
                    self.on_remote(remote_generation(row))
                    delivered += 1
                    cursor.seen[row["id"]] = stamp.isoformat()
                    if cursor.newest is None or stamp > cursor.newest:
                        cursor.newest, cursor.moved_at = stamp, arrived
            after = (rows[-1]["updated_at"], rows[-1]["id"])
            cursor.forget_before(self.overlap)
            self.state.set_state(key, cursor.dump())
        if settles_at is not None and (cursor.settled is None or settles_at > cursor.settled):
            cursor.settled = settles_at
            cursor.forget_before(self.overlap)
            self.state.set_state(key, cursor.dump())
        return delivered

    def _page(self, user_id: str, window: tuple[datetime, bool] | None,
              after: tuple[str, str] | None) -> list[dict[str, Any]]:
        query = self.auth.client.table(TABLE).select("*").eq("user_id", user_id)
        if after is not None:
            stamp, row_id = after
            query = query.or_(f"updated_at.gt.{stamp},and(updated_at.eq.{stamp},id.gt.{row_id})")
        elif window is not None:
            start, inclusive = window
            query = (query.gte if inclusive else query.gt)("updated_at", start.isoformat())
        query = query.order("updated_at").order("id").limit(self.page_size)
        try:
            return query.execute().data
        except Exception as exc:
            if is_offline(exc):
                raise SyncOffline(f"Cannot reach Supabase: {describe(exc)}") from exc
            raise SyncError(f"Could not read your generations: {describe(exc)}") from exc

    def download(self, remote: RemoteFile, dest: Path) -> Path:
        """Fetch one file into `dest` (atomically), refusing content whose sha256 differs."""
        data = self.fetch(remote)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, dest)
        return dest

    def fetch(self, remote: RemoteFile) -> bytes:
        """One file's bytes, refusing content whose sha256 differs (the library ingests them)."""
        bucket = self.auth.client.storage.from_(self.auth.settings.bucket)
        try:
            data = bucket.download(remote.path)
        except Exception as exc:
            if is_offline(exc):
                raise SyncOffline(f"Cannot reach Supabase: {describe(exc)}") from exc
            if isinstance(exc, StorageApiError):
                raise SyncError(f"Could not download {remote.path}: {exc.message}") from exc
            raise
        if remote.sha256 and hashlib.sha256(data).hexdigest() != remote.sha256:
            raise SyncError(f"{remote.path} arrived corrupted (sha256 mismatch); it will be "
                            "fetched again next time")
        return data
