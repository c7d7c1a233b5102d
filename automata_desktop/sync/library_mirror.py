"""The local library as sync sees it: what to push, and where pulled generations land.

Pulled rows are written as they are; their files are downloaded into the library folder and
adopted (sha256-checked), so the library browser shows them like local results. A file whose
download fails stays remote and is fetched on the next pull.
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
        if local is None:
            self.library.add(gen)
        elif remote.updated_at > local.updated_at:
            self.library.update(gen.id, status=gen.status, error=gen.error, prompt_id=gen.prompt_id,
                                started_at=gen.started_at, finished_at=gen.finished_at)
        if self.download is None:
            return
        for remote_file in remote.files:
            if self.library.find_file(gen.id, remote_file.kind, remote_file.sha256):
                continue
            name = Path(remote_file.path).name
            temp = self.library.files_dir(gen.id) / f".sync-{uuid.uuid4().hex[:8]}-{name}"
            try:
                self.download(remote_file, temp)
                self.library.adopt_file(gen.id, remote_file.kind, temp, sha256=remote_file.sha256,
                                        filename=name)
            except (SyncError, LibraryError) as exc:
                temp.unlink(missing_ok=True)
                log.info("file %s of %s stays remote for now: %s", name, gen.id, exc)
