"""How a run's files get into the library: every path ends in `Library.ingest`.

An output node's files are fetched as soon as its `executed` message names them (they are final,
and the rest of the run overlaps with the transfer), staged in the generation's folder and
ingested (renamed once, recorded with its kind) when the run completes; an output a backend hands
over with its bytes (in-process) is stored in the order it came; a webhook's inline bytes, decoded
and hashed once by the listener, are stored without a second hash. What a run that did not
complete fetched is removed. With a window to show the results (`ahead`), each map's bytes are
also handed to its decoder as soon as they are all here, while they are being stored.

The engine decides when a job ends; this module only moves bytes and says what it stored.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automata_desktop.backends import messages as ev
from automata_desktop.backends.base import Backend
from automata_desktop.core.decode_ahead import DecodeAhead
from automata_desktop.core.generation import OutputFile
from automata_desktop.core.maps import PBR_MAPS, MapKind, infer_map_kind
from automata_desktop.core.texture_set import IMAGE_SUFFIXES
from automata_desktop.core.workflow_params import node_output_kind
from automata_desktop.errors import AutomataError, DownloadError, LibraryError
from automata_desktop.library.async_library import AsyncLibrary
from automata_desktop.library.files import Digested
from automata_desktop.library.store import Staged

if TYPE_CHECKING:
    from automata_desktop.jobs.session import Job
    from automata_desktop.webhook.payload import FileRef

log = logging.getLogger(__name__)

OutputKey = tuple[str, str, str]  # filename, subfolder, type: one output of one run


def key_of(ref: ev.OutputRef) -> OutputKey:
    return ref.filename, ref.subfolder, ref.type


def unique(refs: Iterable[ev.OutputRef]) -> list[ev.OutputRef]:
    """One ref per file (a run may name a file in several messages); a ref that names its map
    kind wins over a bare duplicate."""
    best: dict[OutputKey, ev.OutputRef] = {}
    for ref in refs:
        key = key_of(ref)
        if key not in best or (ref.kind and not best[key].kind):
            best[key] = ref
    return list(best.values())


class OutputStore:
    def __init__(self, library: AsyncLibrary) -> None:
        self.library = library
        #: called with (generation id, file) as each result file lands, before the generation
        #: completes, so a viewer can start decoding early
        self.on_stored: list[Callable[[str, OutputFile], None]] = []
        #: decodes each map as its bytes arrive, for the window that will show it (None: no
        #: window, as in the CLI: nothing decoded)
        self.ahead: DecodeAhead | None = None

    def prefetch(self, backend: Backend, job: Job, refs: Iterable[ev.OutputRef]) -> None:
        """Start fetching outputs now; `collect` awaits them when the run is done."""
        for ref in refs:
            key = key_of(ref)
            if key not in job.downloads:
                job.downloads[key] = asyncio.ensure_future(self._fetch(backend, job, ref))

    async def collect(self, backend: Backend, job: Job,
                      refs: Iterable[ev.OutputRef]) -> list[OutputFile]:
        """Fetch (or await the prefetch of) every output and ingest each as it lands."""
        refs = unique(refs)
        self.prefetch(backend, job, refs)

        async def landed(ref: ev.OutputRef) -> tuple[ev.OutputRef, Staged]:
            key = key_of(ref)
            try:
                return ref, await job.downloads[key]
            except DownloadError:  # an early fetch cut short: one fresh try now the run is done
                job.downloads[key] = asyncio.ensure_future(self._fetch(backend, job, ref))
                return ref, await job.downloads[key]

        stored = []
        for finished in asyncio.as_completed([landed(r) for r in refs]):  # as each lands
            stored.append(await self._adopt(job, *await finished))
        return stored

    async def keep_landed(self, job: Job) -> int:
        """Ingest what already landed of a run that will not complete; how many files."""
        refs = {key_of(r): r for r in unique(job.heard_files())}
        kept = 0
        for key, task in list(job.downloads.items()):
            if key in refs and task.done() and not task.cancelled() and task.exception() is None:
                try:
                    await self._adopt(job, refs[key], task.result())
                except AutomataError as exc:
                    log.warning("could not keep %s: %s", key[0], exc)
                    continue
                del job.downloads[key]
                kept += 1
        return kept

    def drop(self, job: Job) -> None:
        """A run that did not complete: stop its transfers and remove what they left."""
        for task in job.downloads.values():
            if not task.done():
                task.cancel()
            elif not task.cancelled() and task.exception() is None:
                task.result().discard()  # a no-op for one already ingested (renamed away)
        job.downloads.clear()
        for decoding in job.decoding.values():
            decoding.cancel()
        job.decoding.clear()

    async def store_ready(self, job: Job, ready: ev.OutputReady,
                          earlier: tuple[asyncio.Task[OutputFile], ...]) -> OutputFile:
        """An output that came with its bytes: stored in order, its kind as the backend said."""
        for task in earlier:  # keep the backend's order: the first map is shown first
            with contextlib.suppress(Exception):
                await task
        return await self._ingest(job, ready.kind, ready.data, ready.filename,
                                  self._decode(ready.kind, ready.filename, ready.data))

    async def store_inline(self, job: Job, files: Iterable[FileRef]) -> None:
        """A webhook's files that came with their bytes; raises LibraryError when one cannot be
        stored (the listener then answers 503 and takes the resend)."""
        try:
            for ref in files:
                if ref.data is None:
                    continue
                data: bytes | Digested
                if ref.raw is not None and ref.sha256:
                    # The listener's validation decoded these bytes and hashed them to this
                    # sha256 (else it refused the delivery 422): stored without a second hash.
                    data = Digested(ref.raw, ref.sha256)
                else:  # not validated by a listener, or no checksum given: ingest hashes them
                    data = ref.raw or await asyncio.to_thread(base64.b64decode, ref.data,
                                                              validate=True)
                decoding = self._decode(ref.kind, ref.filename,
                                        data.data if isinstance(data, Digested) else data)
                await self._ingest(job, ref.kind, data, ref.filename, decoding,
                                   expected_sha256=ref.sha256, expected_size=ref.size)
        except (AutomataError, ValueError) as exc:
            raise LibraryError(f"results could not be saved: {exc}") from exc

    async def _fetch(self, backend: Backend, job: Job, ref: ev.OutputRef) -> Staged:
        # Staged in the generation's folder under a hidden temp name (swept at start-up if a
        # crash leaves it); ingesting it renames it once and writes its row in one locked step.
        stream = backend.open_output(ref)
        ahead = self.ahead if self._decodable(self._kind_of(job, ref), ref.filename) else None
        parts: list[bytes] = []

        async def chunks() -> AsyncIterator[bytes]:
            # One chunk ahead of the writer, so the decode starts as soon as the last byte is
            # here, before that chunk's hashing and writing, the fsync and the rename.
            held = first
            async for chunk in stream:
                if ahead is not None:
                    parts.append(held)
                yield held
                held = chunk
            if ahead is not None:
                job.decoding[key_of(ref)] = ahead.start(b"".join([*parts, held]))
            yield held

        try:
            # The first chunk before any file: an output the server refuses leaves nothing behind.
            first = await anext(stream, b"")
            return await self.library.stage(job.id, chunks(), Path(ref.filename).name)
        except DownloadError:
            raise
        except AutomataError as exc:  # a cut connection, a checksum mismatch, a full disk
            raise DownloadError(f"download of {ref.filename} failed: {exc}") from exc
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]

    async def _adopt(self, job: Job, ref: ev.OutputRef, staged: Staged) -> OutputFile:
        return await self._ingest(job, self._kind_of(job, ref), staged, Path(ref.filename).name,
                                  job.decoding.pop(key_of(ref), None))

    async def _ingest(self, job: Job, kind: MapKind, data: bytes | Digested | Staged,
                      filename: str, decoding: Future[Any] | None, *,
                      expected_sha256: str | None = None,
                      expected_size: int | None = None) -> OutputFile:
        """Store one file and say so; its early decode is kept only if it was stored."""
        try:
            stored = await self.library.ingest(job.id, kind, "generated", data, filename,
                                               expected_sha256=expected_sha256,
                                               expected_size=expected_size)
        except BaseException:
            if decoding is not None:
                decoding.cancel()
            raise
        if decoding is not None and self.ahead is not None:
            self.ahead.remember(stored.path, decoding)
        for callback in self.on_stored:
            callback(job.id, stored)
        return stored

    @staticmethod
    def _kind_of(job: Job, ref: ev.OutputRef) -> MapKind:
        kind = infer_map_kind(ref.filename, hint=ref.kind)
        if kind is MapKind.OTHER and isinstance(job.graph.get(ref.node or ""), dict):
            kind = node_output_kind(job.graph[ref.node or ""])
        if ref.type == "temp" and kind is MapKind.OTHER:
            kind = MapKind.PREVIEW
        return kind

    @staticmethod
    def _decodable(kind: MapKind, filename: str) -> bool:
        return kind in PBR_MAPS and Path(filename).suffix.lower() in IMAGE_SUFFIXES

    def _decode(self, kind: MapKind, filename: str, data: bytes) -> Future[Any] | None:
        if self.ahead is None or not self._decodable(kind, filename):
            return None
        return self.ahead.start(data)
