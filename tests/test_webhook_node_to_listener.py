"""The AUTOMATA Webhook node delivers to the app's own listener: signed, recorded, stored."""

from __future__ import annotations

import asyncio
import logging
import threading

import numpy as np
import pytest

from automata_desktop.backends import open_backend
from automata_desktop.config import generate_webhook_secret
from automata_desktop.core.generation import Generation, GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.jobs.engine import JobEngine
from automata_desktop.library.store import Library
from automata_desktop.webhook import WebhookListener
from comfy_nodes.webhook_node import AutomataWebhook
from tests.ports import reserved_port

pytestmark = pytest.mark.asyncio


def _maps() -> dict[str, np.ndarray]:
    ramp = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(1, 32, 32, 1)
    color = np.concatenate([ramp, 1 - ramp, np.full_like(ramp, 0.5)], axis=3)
    return {"base_color": color, "height": np.repeat(ramp, 3, axis=3)}


@pytest.fixture
def comfy_output(tmp_path, monkeypatch):
    out = tmp_path / "comfy-output"
    out.mkdir()
    monkeypatch.setenv("AUTOMATA_COMFY_OUTPUT", str(out))
    monkeypatch.setenv("AUTOMATA_WEBHOOK_MAX_SECONDS", "5")
    return out


async def _run_node(**inputs):
    return await asyncio.to_thread(lambda: AutomataWebhook().send(**inputs))


async def test_inline_delivery_completes_the_generation_with_its_maps(tmp_path, comfy_output):
    secret = generate_webhook_secret()
    library = Library(tmp_path / "lib")
    engine = JobEngine(library, backend_factory=open_backend)
    gen = Generation(id="0b8a5a4e-0c55-4f4e-9a8e-7d1f1f0a0001", workflow="pbr_from_image",
                     server="http://127.0.0.1:9", status=GenerationStatus.RUNNING)
    library.add(gen)
    listener = WebhookListener(secret=secret, on_event=engine.handle_webhook)
    await listener.start()
    try:
        result = await _run_node(webhook_url=listener.url, generation_id=gen.id, delivery="inline",
                                 secret=secret, sixteen_bit=True, **_maps())
        [done] = await engine.wait([gen.id], timeout=10)
    finally:
        await listener.stop()
        await engine.close()
    assert result["ui"]["webhook"][0]["delivered"] is True
    assert done.status is GenerationStatus.COMPLETED
    kinds = {f.kind: f for f in done.files}
    assert set(kinds) == {MapKind.BASE_COLOR, MapKind.HEIGHT}
    # the library holds exactly the bytes ComfyUI saved
    saved = {p.name: p.read_bytes() for p in comfy_output.rglob("*.png")}
    assert sorted(f.path.read_bytes() for f in done.files) == sorted(saved.values())
    library.close()


async def test_a_delivery_signed_with_another_secret_is_refused_and_nothing_recorded(
        tmp_path, comfy_output):
    library = Library(tmp_path / "lib")
    engine = JobEngine(library, backend_factory=open_backend)
    gen = Generation(id="0b8a5a4e-0c55-4f4e-9a8e-7d1f1f0a0002", workflow="w", server="x")
    library.add(gen)
    listener = WebhookListener(secret=generate_webhook_secret(), on_event=engine.handle_webhook)
    await listener.start()
    try:
        result = await _run_node(webhook_url=listener.url, generation_id=gen.id, delivery="inline",
                                 secret=generate_webhook_secret(), **_maps())
    finally:
        await listener.stop()
        await engine.close()
    delivery = result["ui"]["webhook"][0]
    assert delivery["delivered"] is False and delivery["status"] == 401
    assert library.get(gen.id).status is GenerationStatus.QUEUED
    assert library.get(gen.id).files == []
    library.close()


async def test_the_node_retries_until_the_listener_comes_up(tmp_path, comfy_output):
    secret = generate_webhook_secret()
    received = []

    async def record(event):
        received.append(event)

    refused = threading.Event()

    class FirstRefusal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "retry in" in record.getMessage():
                refused.set()

    node_log = logging.getLogger("automata_nodes.webhook")
    handler, level = FirstRefusal(), node_log.level
    node_log.addHandler(handler)
    node_log.setLevel(logging.INFO)
    try:
        with reserved_port() as port:  # held, not listening: the first attempts are refused
            listener = WebhookListener(secret=secret, on_event=record, port=port)
            node = asyncio.create_task(_run_node(
                webhook_url=f"http://127.0.0.1:{port}/hooks/comfyui",
                generation_id="late-listener", delivery="reference", secret=secret, **_maps()))
            assert await asyncio.to_thread(refused.wait, 30), "the node never tried"
            await listener.start()
        result = await asyncio.wait_for(node, 30)
    finally:
        node_log.removeHandler(handler)
        node_log.setLevel(level)
        await listener.stop()
    delivery = result["ui"]["webhook"][0]
    assert delivery["delivered"] is True and delivery["attempts"] > 1
    assert len(received) == 1
    refs = received[0].payload.data.files
    assert {r.kind for r in refs} == {MapKind.BASE_COLOR, MapKind.HEIGHT}
    assert all(r.data is None for r in refs)  # reference mode: names only
