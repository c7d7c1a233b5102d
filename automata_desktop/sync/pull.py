"""Brings generations changed on other devices into this one.

Pages through "my rows with updated_at >= cursor" (the server sets updated_at, so device clocks
do not matter), oldest first, and hands each to a callback that writes it to the local library.
The cursor and the ids seen at exactly that instant are kept in the outbox's state table, so a
page boundary between rows with the same timestamp loses nothing and nothing repeats. Files are
not downloaded here: `download()` fetches one when the library wants it, checking its sha256.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from storage3.exceptions import StorageApiError

from automata_desktop.sync.auth import SyncAuth
from automata_desktop.sync.errors import SyncError, SyncOffline
from automata_desktop.sync.failures import describe, is_offline
from automata_desktop.sync.outbox import Outbox
from automata_desktop.sync.rows import TABLE, RemoteFile, RemoteGeneration, remote_generation

log = logging.getLogger(__name__)

PAGE_SIZE = 200
_CURSOR_KEY = "pull.cursor"

RemoteSink = Callable[[RemoteGeneration], None]


class Puller:
    def __init__(self, auth: SyncAuth, outbox: Outbox, on_remote: RemoteSink, *,
                 page_size: int = PAGE_SIZE) -> None:
        self.auth = auth
        self.state = outbox
        self.on_remote = on_remote
        self.page_size = page_size

    def pull(self) -> int:
        """Hand every row changed since the last pull to `on_remote`; returns how many.

        Raises SyncOffline when Supabase is unreachable and AuthError when signed out; the
        cursor only moves past rows the callback accepted.
        """
        account = self.auth.access_account()
        cursor, seen = self._load_cursor(account.user_id)
        delivered = 0
        while True:
            query = self.auth.client.table(TABLE).select("*").eq("user_id", account.user_id)
            if cursor:
                query = query.gte("updated_at", cursor)
            query = query.order("updated_at").order("id").limit(self.page_size)
            try:
                rows = query.execute().data
            except Exception as exc:
                if is_offline(exc):
                    raise SyncOffline(f"Cannot reach Supabase: {describe(exc)}") from exc
                raise SyncError(f"Could not read your generations: {describe(exc)}") from exc
            fresh = [r for r in rows if not (r["updated_at"] == cursor and r["id"] in seen)]
            for row in fresh:
                self.on_remote(remote_generation(row))
                delivered += 1
                if row["updated_at"] != cursor:
                    cursor, seen = row["updated_at"], set()
                seen.add(row["id"])
                self._save_cursor(account.user_id, cursor, seen)
            if len(rows) < self.page_size:
                return delivered
            if not fresh:
                # A full page of rows all at the cursor instant: widen the page and retry.
                self.page_size *= 2

    def download(self, remote: RemoteFile, dest: Path) -> Path:
        """Fetch one file into `dest` (atomically), refusing content whose sha256 differs."""
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
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, dest)
        return dest

    def _load_cursor(self, user_id: str) -> tuple[str | None, set[str]]:
        raw = self.state.get_state(f"{_CURSOR_KEY}.{user_id}")
        if not raw:
            return None, set()
        data = json.loads(raw)
        return data.get("updated_at"), set(data.get("ids") or [])

    def _save_cursor(self, user_id: str, cursor: str | None, seen: set[str]) -> None:
        self.state.set_state(f"{_CURSOR_KEY}.{user_id}",
                             json.dumps({"updated_at": cursor, "ids": sorted(seen)}))
