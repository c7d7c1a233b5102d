"""The library for coroutines: the event loop awaits the library's database thread, never the disk.

    event loop ── await ──► AsyncLibrary ── submit ──┐
    GUI thread pool, sync thread, CLI ── Library ────┴──► the database thread (one SQLite connection)

The thread is the `Library`'s own, so every caller shares it whichever door it comes through, and
statements run in the order they were submitted. What is slow but not SQLite stays off that thread:
bytes are written and hashed in a worker thread, a streamed download on the loop chunk by chunk
(its fsync in a worker), a deleted folder is removed in a worker. The database thread only checks,
renames and records, so a 4K map being written never holds up a status update or a list refresh.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterable, Callable
from typing import Any, ParamSpec, TypeVar

from automata_desktop.core.generation import Generation, GenerationStatus, OutputFile
from automata_desktop.core.maps import MapKind
from automata_desktop.library.files import Digested, safe_filename, write_temp_async
from automata_desktop.library.store import (
    WEBHOOK_ID_WINDOW_S,
    Library,
    PoolRequest,
    SeenWebhookIds,
    Staged,
    Submission,
    _remove_tree,
)

P = ParamSpec("P")
R = TypeVar("R")


class AsyncLibrary:
    """`Library`'s operations as coroutines, for the engine and the runtime on the event loop."""

    def __init__(self, library: Library) -> None:
        #: the blocking library behind this facade, for code on other threads
        self.sync = library
        self.root = library.root

    async def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Any callable (a `Library` method, usually) on the database thread, awaited."""
        return await asyncio.wrap_future(self.sync.submit(fn, *args, **kwargs))

    # --- generations --------------------------------------------------------------------------

    async def add(self, gen: Generation, *, submission: Submission | None = None,
                  pool_request: PoolRequest | None = None) -> None:
        await self.call(self.sync.add, gen, submission=submission, pool_request=pool_request)

    async def pool_request(self, gen_id: str) -> PoolRequest | None:
        return await self.call(self.sync.pool_request, gen_id)

    async def record_run_time(self, server: str, workflow: str, seconds: float) -> None:
        await self.call(self.sync.record_run_time, server, workflow, seconds)

    async def run_times(self) -> dict[str, dict[str, float]]:
        return await self.call(self.sync.run_times)

    async def submission(self, gen_id: str) -> Submission | None:
        return await self.call(self.sync.submission, gen_id)

    async def record_resubmission(self, gen_id: str, lost_prompt_id: str,
                                  prompt_id: str) -> Generation:
        return await self.call(self.sync.record_resubmission, gen_id, lost_prompt_id, prompt_id)

    async def update(self, gen_id: str, **fields: Any) -> Generation:
        return await self.call(self.sync.update, gen_id, **fields)

    async def place(self, gen_id: str, server: str, prompt_id: str | None,
                    submission: Submission | None = None) -> Generation:
        return await self.call(self.sync.place, gen_id, server, prompt_id, submission)

    async def get(self, gen_id: str) -> Generation | None:
        return await self.call(self.sync.get, gen_id)

    async def list(self, *, status: GenerationStatus | None = None, search: str | None = None,
                   limit: int = 100, offset: int = 0) -> builtins.list[Generation]:
        return await self.call(self.sync.list, status=status, search=search, limit=limit,
                               offset=offset)

    async def count(self, *, status: GenerationStatus | None = None,
                    search: str | None = None) -> int:
        return await self.call(self.sync.count, status=status, search=search)

    async def unfinished(self) -> builtins.list[Generation]:
        return await self.call(self.sync.unfinished)

    async def delete(self, gen_id: str, *, files: bool = True) -> None:
        doomed = await self.call(self.sync._forget, gen_id, files)
        if doomed is not None:
            await asyncio.to_thread(_remove_tree, doomed)

    # --- files --------------------------------------------------------------------------------

    async def find_file(self, gen_id: str, kind: MapKind, sha256: str) -> OutputFile | None:
        return await self.call(self.sync.find_file, gen_id, kind, sha256)

    async def ingest(
        self,
        gen_id: str,
        kind: MapKind,
        source: str,
        data: AsyncIterable[bytes] | bytes | Digested | Staged,
        filename: str,
        *,
        expected_size: int | None = None,
        expected_sha256: str | None = None,
    ) -> OutputFile:
        """`Library.ingest` from the loop. A byte stream is written as it comes (never all in
        memory); bytes and a staged file go to a worker thread, which writes them and leaves only
        the rename and the row to the database thread."""
        if isinstance(data, bytes | bytearray | memoryview | Digested | Staged):
            return await asyncio.to_thread(
                self.sync.ingest, gen_id, kind, source, data, filename,
                expected_size=expected_size, expected_sha256=expected_sha256)
        kind = MapKind(kind)
        folder = await self.call(self.sync._prepare, gen_id, kind, source)
        if expected_sha256 and (known := await self.find_file(gen_id, kind, expected_sha256)):
            return known
        writer, written = await write_temp_async(
            folder, safe_filename(filename), data,
            expected_sha256=expected_sha256, expected_size=expected_size,
        )
        return await asyncio.to_thread(self.sync._settle, gen_id, kind, writer, written, source)

    async def stage(self, gen_id: str, data: AsyncIterable[bytes], filename: str, *,
                    expected_size: int | None = None,
                    expected_sha256: str | None = None) -> Staged:
        """Stream an output into the generation's folder before its run is known to complete
        (a prefetch): nothing is recorded until it is `ingest`ed; a crash leaves a temp file
        that the start-up sweep removes."""
        folder = await asyncio.to_thread(self.sync.files_dir, gen_id)
        writer, written = await write_temp_async(
            folder, safe_filename(filename), data,
            expected_sha256=expected_sha256, expected_size=expected_size,
        )
        return Staged(gen_id, writer, written)

    # --- webhooks and lifetime ----------------------------------------------------------------

    def seen_webhook_ids(self, window_s: float = WEBHOOK_ID_WINDOW_S) -> SeenWebhookIds:
        """The webhook listener's replay set, in the library so that it survives a restart."""
        return self.sync.seen_webhook_ids(window_s)

    async def close(self) -> None:
        await asyncio.to_thread(self.sync.close)
