"""Webhooks that end, or cannot change, a generation: the real listener on loopback, real signing,
the real engine and library, generations queued on the test ComfyUI.

- `generation.failed` ends a running generation failed, showing the node's message;
- a webhook for a generation this library does not know, or for one that already finished, is
  answered 200 (so the node stops retrying) and ignored: no row, file or status changes.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import json
import sqlite3
import threading
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from automata_desktop.core.generation import GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.errors import PromptRejected
from automata_desktop.jobs.engine import JobEngine
from automata_desktop.library.files import TempWriter, storage_error
from automata_desktop.webhook import WebhookListener, generate_secret, sign_headers
from tests.engine_helpers import UpdateLog, request, running_engine, save_graph, slow_graph, template

pytestmark = pytest.mark.asyncio

SECRET = generate_secret()


class App:
    """The app's side: an engine whose webhook listener is on loopback, and a signing sender."""

    def __init__(self, engine: JobEngine, listener: WebhookListener, http: httpx.AsyncClient):
        self.engine, self.listener, self.http = engine, listener, http

    async def webhook(self, kind: str, generation_id: str, **data: object) -> httpx.Response:
        payload = {"type": kind, "timestamp": "2025-01-01T12:00:00Z",
                   "data": {"generation_id": generation_id, **data}}
        body = json.dumps(payload).encode()
        headers = {"content-type": "application/json", **sign_headers(SECRET, body)}
        return await self.http.post(self.listener.url, content=body, headers=headers)

    def files_on_disk(self) -> set[str]:
        root = self.engine.library.root
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                and not p.name.startswith("library.sqlite3")}


@pytest.fixture
async def app(tmp_path) -> AsyncIterator[App]:
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        listener = WebhookListener(secret=SECRET, on_event=engine.handle_webhook)
        await listener.start()
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                yield App(engine, listener, http)
        finally:
            await listener.stop()


def inline_png(color: tuple[int, int, int] = (10, 200, 30)) -> dict:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(out, format="PNG")
    raw = out.getvalue()
    return {"kind": "base_color", "filename": "automata_albedo_00001_.png", "subfolder": "automata",
            "data": base64.b64encode(raw).decode(), "size": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest()}


async def test_a_failed_webhook_ends_the_running_generation_with_the_nodes_message(
    app, fake_comfy
):
    log = UpdateLog(app.engine)
    graph = slow_graph(steps=400, delay_s=0.05, color=0x0A0B0C)  # still running when the hook comes
    [gen] = await app.engine.submit(request(template(graph), fake_comfy.url))
    await log.wait_for(lambda u: u.generation_id == gen.id and u.status is GenerationStatus.RUNNING)

    response = await app.webhook("generation.failed", gen.id, prompt_id=gen.prompt_id,
                                 error="Hy3DPaint: torch.OutOfMemoryError: CUDA out of memory")

    assert response.status_code == 200, response.text
    [done] = await app.engine.wait([gen.id], timeout=30)
    log.close()
    assert done.status is GenerationStatus.FAILED
    assert done.error == "Hy3DPaint: torch.OutOfMemoryError: CUDA out of memory"
    assert done.files == []
    assert (await app.engine.library.get(gen.id)).status is GenerationStatus.FAILED  # the row says so
    final = [u for u in log.for_(gen.id) if u.status.is_final]
    assert final and "CUDA out of memory" in final[-1].message


async def test_a_failed_webhook_without_a_message_still_says_the_workflow_failed(app, fake_comfy):
    log = UpdateLog(app.engine)
    [gen] = await app.engine.submit(request(template(slow_graph(steps=400, delay_s=0.05)),
                                            fake_comfy.url))
    await log.wait_for(lambda u: u.generation_id == gen.id and u.status is GenerationStatus.RUNNING)
    log.close()
    assert (await app.webhook("generation.failed", gen.id)).status_code == 200
    [done] = await app.engine.wait([gen.id], timeout=30)
    assert done.status is GenerationStatus.FAILED and "failed" in done.error


@pytest.mark.parametrize("kind", ["generation.completed", "generation.failed"])
async def test_a_webhook_for_an_unknown_generation_is_acknowledged_and_changes_nothing(app, kind):
    before = app.files_on_disk()
    response = await app.webhook(kind, "gen-from-another-install", delivery="inline",
                                 files=[inline_png()], error="boom")
    assert response.status_code == 200, response.text  # acknowledged: the node stops retrying
    assert await app.engine.library.list() == []
    assert await app.engine.library.get("gen-from-another-install") is None
    assert app.files_on_disk() == before


async def test_a_webhook_for_a_completed_generation_changes_nothing(app, fake_comfy):
    [gen] = await app.engine.submit(request(template(save_graph(color=0x204060)), fake_comfy.url))
    [done] = await app.engine.wait([gen.id], timeout=30)
    assert done.status is GenerationStatus.COMPLETED and len(done.files) == 1
    kept = [(f.kind, f.path, f.sha256) for f in done.files]
    before = app.files_on_disk()
    log = UpdateLog(app.engine)

    late_failure = await app.webhook("generation.failed", gen.id, error="late and wrong")
    other_maps = await app.webhook("generation.completed", gen.id, delivery="inline",
                                   files=[inline_png((1, 2, 3))])

    assert (late_failure.status_code, other_maps.status_code) == (200, 200)
    await app.engine.wait([gen.id], timeout=5)
    after = await app.engine.library.get(gen.id)
    log.close()
    assert after.status is GenerationStatus.COMPLETED and after.error is None
    assert [(f.kind, f.path, f.sha256) for f in after.files] == kept
    assert app.files_on_disk() == before
    assert log.for_(gen.id) == []  # nothing to redraw either


async def test_a_webhook_for_a_failed_generation_does_not_bring_it_back(app, fake_comfy):
    graph = save_graph()
    del graph["2"]["inputs"]["images"]
    with pytest.raises(PromptRejected):
        await app.engine.submit(request(template(graph), fake_comfy.url))
    [failed] = await app.engine.library.list()
    assert failed.status is GenerationStatus.FAILED
    before = app.files_on_disk()

    response = await app.webhook("generation.completed", failed.id, delivery="inline",
                                 files=[inline_png()])

    assert response.status_code == 200
    after = await app.engine.library.get(failed.id)
    assert after.status is GenerationStatus.FAILED and after.error == failed.error
    assert after.files == [] and app.files_on_disk() == before


async def test_a_resend_after_a_failed_store_is_taken_and_completes_the_generation(
    app, fake_comfy, monkeypatch
):
    """The listener answers 2xx only once the files are stored. A store that fails (here the disk
    is full once) is answered 503, the generation stays open, and the node's resend of the same
    delivery is taken and stored, not refused as a replay."""
    log = UpdateLog(app.engine)
    [gen] = await app.engine.submit(request(template(slow_graph(steps=400, delay_s=0.05)),
                                            fake_comfy.url))
    await log.wait_for(lambda u: u.generation_id == gen.id and u.status is GenerationStatus.RUNNING)
    log.close()
    library = app.engine.library
    real_write = TempWriter.write
    failed: list[str] = []

    def full_disk_once(writer: TempWriter, chunk: bytes) -> None:
        if not failed:  # what the real write raises when the disk is full
            failed.append("once")
            raise storage_error(f"write {writer.name}", writer.folder,
                                OSError(errno.ENOSPC, "No space left on device"))
        real_write(writer, chunk)

    monkeypatch.setattr(TempWriter, "write", full_disk_once)
    body = json.dumps({"type": "generation.completed", "timestamp": "2025-01-01T12:00:00Z",
                       "data": {"generation_id": gen.id, "delivery": "inline",
                                "files": [inline_png()]}}).encode()
    headers = {"content-type": "application/json", **sign_headers(SECRET, body)}

    first = await app.http.post(app.listener.url, content=body, headers=headers)
    assert first.status_code == 503 and "disk is full" in first.text
    assert (await library.get(gen.id)).status is GenerationStatus.RUNNING  # a resend may store

    resend = await app.http.post(app.listener.url, content=body, headers=headers)
    assert resend.status_code == 200, resend.text
    done = await library.get(gen.id)
    assert done.status is GenerationStatus.COMPLETED
    assert [f.kind for f in done.files] == [MapKind.BASE_COLOR] and done.files[0].path.is_file()
    again = await app.http.post(app.listener.url, content=body, headers=headers)
    assert again.status_code == 409  # stored now: this one is a replay


async def test_a_replay_after_the_app_restarts_is_refused_by_ids_kept_in_the_library(
    app, fake_comfy
):
    library = app.engine.library
    body = json.dumps({"type": "generation.failed", "timestamp": "2025-01-01T12:00:00Z",
                       "data": {"generation_id": "not-here", "error": "x"}}).encode()
    headers = {"content-type": "application/json", **sign_headers(SECRET, body)}
    for attempt in ("first run", "after a restart"):
        listener = WebhookListener(secret=SECRET, on_event=app.engine.handle_webhook,
                                   seen_ids=library.seen_webhook_ids())
        await listener.start()
        try:
            response = await app.http.post(listener.url, content=body, headers=headers)
        finally:
            await listener.stop()
        assert response.status_code == (200 if attempt == "first run" else 409), attempt
    rows = sqlite3.connect(library.root / "library.sqlite3").execute(
        "SELECT * FROM webhook_ids").fetchall()
    assert [row[0] for row in rows] == [headers["webhook-id"]]  # the id, and no body


async def test_inline_bytes_are_decoded_once_on_their_way_into_the_library(
    app, fake_comfy, monkeypatch
):
    """The listener's validation decodes the base64 to check it; the engine stores those bytes
    instead of decoding hundreds of MiB of text a second time."""
    log = UpdateLog(app.engine)
    [gen] = await app.engine.submit(request(template(slow_graph(steps=400, delay_s=0.05)),
                                            fake_comfy.url))
    await log.wait_for(lambda u: u.generation_id == gen.id and u.status is GenerationStatus.RUNNING)
    log.close()
    decodes: list[int] = []
    real_decode = base64.b64decode

    def counted(data: object, *args: object, **kwargs: object) -> bytes:
        decodes.append(len(data))  # type: ignore[arg-type]
        return real_decode(data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(base64, "b64decode", counted)
    png = inline_png()
    response = await app.webhook("generation.completed", gen.id, delivery="inline", files=[png])

    assert response.status_code == 200, response.text
    done = await app.engine.library.get(gen.id)
    assert done.status is GenerationStatus.COMPLETED and done.files[0].sha256 == png["sha256"]
    assert decodes.count(len(png["data"])) == 1  # (the signature check decodes short keys too)


async def test_inline_bytes_are_hashed_once_on_their_way_into_the_library(
    app, fake_comfy, monkeypatch
):
    """The listener's validation hashes an inline map to check its declared sha256; the library
    stores it under that digest rather than hashing hundreds of MiB a second time."""
    log = UpdateLog(app.engine)
    [gen] = await app.engine.submit(request(template(slow_graph(steps=400, delay_s=0.05)),
                                            fake_comfy.url))
    await log.wait_for(lambda u: u.generation_id == gen.id and u.status is GenerationStatus.RUNNING)
    log.close()
    png = inline_png((90, 60, 30))
    raw = base64.b64decode(png["data"])
    hashed: list[str] = []
    real_sha256 = hashlib.sha256

    class Counted:
        """sha256 that notes each digest taken over exactly the map's bytes."""

        def __init__(self, data: bytes = b"", **kwargs: object) -> None:
            self._hash, self._seen = real_sha256(data, **kwargs), bytearray(data)

        def update(self, data: bytes) -> None:
            self._seen += data
            self._hash.update(data)

        def hexdigest(self) -> str:
            if self._seen == raw:
                hashed.append(threading.current_thread().name)
            return self._hash.hexdigest()

        def __getattr__(self, name: str) -> object:
            return getattr(self._hash, name)

    monkeypatch.setattr(hashlib, "sha256", Counted)
    response = await app.webhook("generation.completed", gen.id, delivery="inline", files=[png])
    monkeypatch.undo()

    assert response.status_code == 200, response.text
    done = await app.engine.library.get(gen.id)
    assert done.status is GenerationStatus.COMPLETED
    assert [(f.sha256, f.path.read_bytes()) for f in done.files] == [(png["sha256"], raw)]
    assert len(hashed) == 1


async def test_an_inline_delivery_with_a_wrong_checksum_is_refused_and_nothing_lands(
    app, fake_comfy
):
    """Two maps inline, the second's sha256 wrong: refused as broken (422, not "retry"), the
    first map is not stored either, and the generation stays open for a correct delivery."""
    log = UpdateLog(app.engine)
    [gen] = await app.engine.submit(request(template(slow_graph(steps=400, delay_s=0.05)),
                                            fake_comfy.url))
    await log.wait_for(lambda u: u.generation_id == gen.id and u.status is GenerationStatus.RUNNING)
    log.close()
    before = app.files_on_disk()
    good, bad = inline_png((1, 1, 1)), inline_png((2, 2, 2))
    bad.update(kind="normal", filename="automata_normal_00001_.png", sha256=good["sha256"])

    response = await app.webhook("generation.completed", gen.id, delivery="inline",
                                 files=[good, bad])

    assert response.status_code == 422 and "sha256" in response.text
    after = await app.engine.library.get(gen.id)
    assert after.status is GenerationStatus.RUNNING and after.files == []
    assert app.files_on_disk() == before
    fixed = await app.webhook("generation.completed", gen.id, delivery="inline",
                              files=[good, inline_png((2, 2, 2)) | {"kind": "normal"}])
    assert fixed.status_code == 200, fixed.text
    done = await app.engine.library.get(gen.id)
    assert {f.kind for f in done.files} == {MapKind.BASE_COLOR, MapKind.NORMAL}
