"""The local library as sync sees it: what to push, and where pulled generations land.

Conflicts: the last writer wins, judged on `updated_at`. A pulled row replaces the local one
only if it is newer; a local edit newer than the pulled row is kept (and goes out with its next
push). Files are addressed by content (sha256): a pull never overwrites or deletes a local
file; it adds the remote bytes next to the local ones when the row is newer, or when this
device has no file of that kind yet (an earlier download failed). Such a download stays remote
until the next pull. A tombstone (deleted on another device) removes the local generation.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path

from automata_desktop.core.generation import Generation
from automata_desktop.errors import LibraryError
from automata_desktop.library.store import Library
from automata_desktop.sync.errors import SyncError
from automata_desktop.sync.rows import RemoteFile, RemoteGeneration

log = logging.getLogger(__name__)

Downloader = Callable[[RemoteFile, Path], Path]


class LibraryMirror:
    def __init__(self, library: Library, download: Downloader | None = None) -> None:
        self.library = library
        self.download = download  # Puller.download; set once the puller exists

    def get_generation(self, generation_id: str) -> Generation | None:
        return self.library.get(generation_id)

    def upsert_remote(self, remote: RemoteGeneration) -> None:
        gen = remote.generation
        local = self.library.get(gen.id)
        if remote.deleted:
            if local is not None:
                self.library.delete(gen.id, files=True)
            return
        remote_wins = local is None or remote.updated_at > local.updated_at
        if local is None:
            self.library.add(gen)
        elif remote_wins:
            self.library.update(gen.id, status=gen.status, error=gen.error, prompt=gen.prompt,
                                parameters=gen.parameters, workflow=gen.workflow,
                                server=gen.server, prompt_id=gen.prompt_id,
                                started_at=gen.started_at, finished_at=gen.finished_at)
        if self.download is None:
            return
        local_kinds = {f.kind for f in local.files} if local is not None else set()
        for remote_file in remote.files:
            if not remote_wins and remote_file.kind in local_kinds:
                continue  # the local edit is newer: its file of this kind stays the one used
            if self.library.find_file(gen.id, remote_file.kind, remote_file.sha256):
                continue
            name = remote_file.filename  # `normal.png`, not the key's hashed name
            temp = self.library.files_dir(gen.id) / f".sync-{uuid.uuid4().hex[:8]}-{name}"
            try:
                self.download(remote_file, temp)
                self.library.adopt_file(gen.id, remote_file.kind, temp, sha256=remote_file.sha256,
                                        filename=name)
            except (SyncError, LibraryError) as exc:
                temp.unlink(missing_ok=True)
                log.info("file %s of %s stays remote for now: %s", name, gen.id, exc)
