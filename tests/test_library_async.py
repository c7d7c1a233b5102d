"""The library behind its database thread: the event loop never waits on SQLite, and only that one
thread ever touches the connection, whoever calls (the engine on the loop, the GUI's thread pool,
the sync thread). Real engine, real listener, the test ComfyUI, real SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from automata_desktop.core.generation import Generation, GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.library import store
from automata_desktop.webhook import WebhookListener, generate_secret, sign_headers
from tests.engine_helpers import request, running_engine, save_graph, template, until

pytestmark = pytest.mark.asyncio

SECRET = generate_secret()


async def test_the_loop_answers_the_listener_while_the_database_thread_is_busy(
    fake_comfy, tmp_path
):
    """A slow disk holds the library's database thread (here a call the test releases). The
    engine's submit waits for its row; the event loop meanwhile answers the webhook listener,
    and once the disk catches up the generation runs to the end."""
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        listener = WebhookListener(secret=SECRET, on_event=engine.handle_webhook)
        await listener.start()
        library = engine.library.sync
        entered, release = threading.Event(), threading.Event()

        def slow_disk() -> None:
            entered.set()
            release.wait(30)

        library.submit(slow_disk)
        await asyncio.to_thread(entered.wait, 10)
        submit = asyncio.create_task(
            engine.submit(request(template(save_graph(color=0x445566)), fake_comfy.url)))
        try:
            # The submit's first library call is queued behind the slow one (a test-only peek).
            await until(lambda: library._executor._work_queue.qsize() > 0)
            async with httpx.AsyncClient(timeout=10) as http:
                health = await http.get(listener.health_url)
            assert health.status_code == 200
            assert not submit.done()
            assert fake_comfy.requests()["prompts"] == []  # nothing sent before its row exists
        finally:
            release.set()
        [gen] = await submit
        [done] = await engine.wait([gen.id], timeout=30)
        await listener.stop()
    assert done.status is GenerationStatus.COMPLETED and len(done.files) == 1


async def test_every_sqlite_statement_runs_on_the_one_database_thread(
    fake_comfy, tmp_path, monkeypatch
):
    """The engine on the loop, a webhook delivery, the GUI's thread pool listing and counting,
    the sync thread storing a pulled file: every statement on the library's connection is
    executed by the same thread, which is none of theirs."""
    statements: list[tuple[int, str]] = []
    real_connect = sqlite3.connect

    def traced_connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)  # type: ignore[arg-type]
        conn.set_trace_callback(lambda sql: statements.append((threading.get_ident(), sql)))
        return conn

    monkeypatch.setattr(store.sqlite3, "connect", traced_connect)
    callers = {threading.get_ident()}
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        listener = WebhookListener(secret=SECRET, on_event=engine.handle_webhook,
                                   seen_ids=engine.library.seen_webhook_ids())
        await listener.start()
        [gen] = await engine.submit(request(template(save_graph(color=0x102030)), fake_comfy.url))
        [done] = await engine.wait([gen.id], timeout=30)
        body = (b'{"type": "generation.failed", "timestamp": "2025-01-01T12:00:00Z", '
                b'"data": {"generation_id": "not-here"}}')
        async with httpx.AsyncClient(timeout=10) as http:
            hook = await http.post(listener.url, content=body, headers={
                "content-type": "application/json", **sign_headers(SECRET, body)})
        await listener.stop()
        library = engine.library.sync

        def gui_refresh() -> tuple[int, int]:
            callers.add(threading.get_ident())
            return len(library.list(search="")), library.count()

        def sync_pull(n: int) -> None:
            callers.add(threading.get_ident())
            library.add(Generation(id=f"pulled-{n}", workflow="w", server="x"))
            library.ingest(f"pulled-{n}", MapKind.BASE_COLOR, "generated", b"png %d" % n, "a.png")
            library.update(f"pulled-{n}", status=GenerationStatus.COMPLETED)

        with ThreadPoolExecutor(4) as pool:
            refreshed = list(pool.map(lambda _: gui_refresh(), range(8)))
            list(pool.map(sync_pull, range(4)))
    assert done.status is GenerationStatus.COMPLETED and hook.status_code == 200
    assert all(count >= 1 for _, count in refreshed)

    threads = {ident for ident, _ in statements}
    kinds = " ".join(sql.split()[0].upper() for _, sql in statements)
    assert all(word in kinds for word in ("INSERT", "UPDATE", "SELECT", "DELETE", "PRAGMA"))
    assert len(threads) == 1 and not threads & callers

