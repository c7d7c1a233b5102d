"""The local library as sync sees it: what to push, and where pulled generations land.

Conflicts: the last writer wins, and both sides are judged by the server's clock. The device
keeps, per generation, the `updated_at` the server stamped on the version it last took in
(in the sync state, beside the outbox). A pulled row replaces the local generation only if
its stamp is newer than that, and only while no local change waits in the outbox: such an
edit is the newer one, goes up with the next push and then wins on the other devices too.
The local `updated_at` is this device's clock and never decides, so a clock that is hours
off cannot pick the wrong winner.

Files are addressed by content (sha256): a pull never overwrites or deletes a local file; it
adds the remote bytes next to the local ones when the row wins, or when this device has no
file of that kind yet (an earlier download failed). Such a download stays remote until the
next pull. A tombstone (deleted on another device) removes the local generation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from automata_desktop.core.generation import Generation
from automata_desktop.errors import LibraryError
from automata_desktop.library.store import Library
from automata_desktop.sync.errors import SyncError
from automata_desktop.sync.outbox import Delivery, Outbox
from automata_desktop.sync.rows import RemoteFile, RemoteGeneration

log = logging.getLogger(__name__)

Downloader = Callable[[RemoteFile], bytes]

_STAMP_KEY = "server.updated_at"
_QUEUED = frozenset({Delivery.PENDING, Delivery.FAILED})


class LibraryMirror:
    def __init__(self, library: Library, download: Downloader | None = None, *,
                 state: Outbox | None = None) -> None:
        """`state`: the device's outbox, which says what waits to be pushed and keeps the
        server stamps. Without it (a read-only mirror) stamps last as long as this object and
        no local edit counts as pending."""
        self.library = library
        self.download = download  # Puller.fetch; set once the puller exists
        self.state = state
        self._stamps: dict[str, datetime] = {}

    def server_stamp(self, generation_id: str) -> datetime | None:
        """The server's `updated_at` of the version of this generation this device holds."""
        if self.state is None:
            return self._stamps.get(generation_id)
        raw = self.state.get_state(f"{_STAMP_KEY}.{generation_id}")
        return datetime.fromisoformat(raw) if raw else None

    def _keep_stamp(self, generation_id: str, stamp: datetime | None) -> None:
        if self.state is None:
            if stamp is None:
                self._stamps.pop(generation_id, None)
            else:
                self._stamps[generation_id] = stamp
        elif stamp is None:
            self.state.clear_state(f"{_STAMP_KEY}.{generation_id}")
        else:
            self.state.set_state(f"{_STAMP_KEY}.{generation_id}", stamp.isoformat())

    def _pending(self, generation_id: str) -> bool:
        """A local change of this generation waits in the outbox (queued or retrying)."""
        return self.state is not None and self.state.delivery(
            [generation_id])[generation_id] in _QUEUED

    def get_generation(self, generation_id: str) -> Generation | None:
        return self.library.get(generation_id)

    def upsert_remote(self, remote: RemoteGeneration) -> None:
        gen = remote.generation
        local = self.library.get(gen.id)
        if remote.deleted:
            if local is not None:
                self.library.delete(gen.id, files=True)
            self._keep_stamp(gen.id, None)
            return
        known = self.server_stamp(gen.id)
        newer = known is None or remote.updated_at > known
        # A local change still in the outbox is newer than anything pulled: it goes up next.
        remote_wins = local is None or (newer and not self._pending(gen.id))
        if local is None:
            self.library.add(gen)
        elif remote_wins:
            self.library.update(gen.id, status=gen.status, error=gen.error, prompt=gen.prompt,
                                parameters=gen.parameters, workflow=gen.workflow,
                                server=gen.server, prompt_id=gen.prompt_id,
                                started_at=gen.started_at, finished_at=gen.finished_at)
        if newer:  # taken in (or seen and outranked by a pending edit): not judged again
            self._keep_stamp(gen.id, remote.updated_at)
        if self.download is None:
            return
        local_kinds = {f.kind for f in local.files} if local is not None else set()
        for remote_file in remote.files:
            if not remote_wins and remote_file.kind in local_kinds:
                continue  # the local edit is newer: its file of this kind stays the one used
            if self.library.find_file(gen.id, remote_file.kind, remote_file.sha256):
                continue
            name = remote_file.filename  # `normal.png`, not the key's hashed name
            try:
                data = self.download(remote_file)
                # Blocking `Library.ingest`: this runs in the sync thread.
                self.library.ingest(gen.id, remote_file.kind, "generated", data, name,
                                    expected_sha256=remote_file.sha256 or None)
            except (SyncError, LibraryError) as exc:
                log.info("file %s of %s stays remote for now: %s", name, gen.id, exc)
