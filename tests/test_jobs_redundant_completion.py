"""pbr_from_image on the test ComfyUI (running the real node pack): every completion path, once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from automata_desktop.comfy import events as ev
from automata_desktop.config import generate_webhook_secret
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.paths import resources_dir
from automata_desktop.runtime import load_workflow_named
from automata_desktop.webhook import WebhookEvent, WebhookListener
from tests.engine_helpers import UpdateLog, backend_factory, request, running_engine, until

pytestmark = pytest.mark.asyncio

SAMPLE = resources_dir() / "samples" / "sample_basecolor.png"
ALL_MAPS = {MapKind.BASE_COLOR, MapKind.NORMAL, MapKind.HEIGHT, MapKind.ROUGHNESS,
            MapKind.METALLIC, MapKind.AO, MapKind.ORM}


@pytest.fixture
def secret() -> str:
    return generate_webhook_secret()


@pytest.fixture
def fake_comfy(fake_comfy_factory, secret):
    """A ComfyUI whose AUTOMATA nodes sign with the app's secret from their own environment, as
    a remote box does; nothing secret is ever in the prompt."""
    return fake_comfy_factory(env={"AUTOMATA_WEBHOOK_SECRET": secret})


async def _run(fake_comfy, tmp_path, *, websocket: bool, poll_s: float, webhook: bool,
               seed: float = 2.0):
    secret = fake_comfy.env["AUTOMATA_WEBHOOK_SECRET"]
    async with running_engine(tmp_path / "lib", poll_interval_s=poll_s, fast_poll_s=poll_s,
                              backend_factory=backend_factory(websocket=websocket)) as engine:
        listener = None
        if webhook:
            listener = WebhookListener(secret=secret, on_event=engine.handle_webhook)
            await listener.start()
            engine.webhook_url = listener.url
        log = UpdateLog(engine)
        tpl = load_workflow_named("pbr_from_image")
        [gen] = await engine.submit(request(tpl, fake_comfy.url, image=SAMPLE,
                                            parameters={"normal_strength": seed}))
        [done] = await engine.wait([gen.id], timeout=30)
        log.close()
        if listener:
            await listener.stop()
    finals = [u for u in log.for_(gen.id) if u.status.is_final]
    return done, finals


async def test_websocket_only(fake_comfy, tmp_path):
    done, finals = await _run(fake_comfy, tmp_path, websocket=True, poll_s=60, webhook=False)
    assert done.status is GenerationStatus.COMPLETED
    assert {f.kind for f in done.files} == ALL_MAPS
    assert [u.completed_by for u in finals] == ["websocket"]


async def test_webhook_only(fake_comfy, tmp_path):
    done, finals = await _run(fake_comfy, tmp_path, websocket=False, poll_s=60, webhook=True,
                                 seed=2.5)
    assert done.status is GenerationStatus.COMPLETED
    assert {f.kind for f in done.files} == ALL_MAPS
    assert [u.completed_by for u in finals] == ["webhook"]


async def test_polling_only(fake_comfy, tmp_path):
    done, finals = await _run(fake_comfy, tmp_path, websocket=False, poll_s=0.3, webhook=False,
                                 seed=3.0)
    assert done.status is GenerationStatus.COMPLETED
    assert {f.kind for f in done.files} == ALL_MAPS
    assert [u.completed_by for u in finals] == ["history"]


async def test_all_three_at_once_complete_exactly_once(fake_comfy, secret, tmp_path):
    fake_comfy.hold("1")  # the run waits at its first node until the poller has asked about it
    async with running_engine(tmp_path / "lib", poll_interval_s=0.1, fast_poll_s=0.1) as engine:
        webhooks: list[WebhookEvent] = []

        async def on_event(event: WebhookEvent) -> None:
            webhooks.append(event)
            await engine.handle_webhook(event)

        listener = WebhookListener(secret=secret, on_event=on_event)
        await listener.start()
        engine.webhook_url = listener.url
        heard: list[object] = []
        stream = (await engine.session(fake_comfy.url)).backend.client.events()
        listening = asyncio.create_task(_collect(stream, heard))
        log = UpdateLog(engine)
        [gen] = await engine.submit(request(load_workflow_named("pbr_from_image"), fake_comfy.url,
                                            image=SAMPLE, parameters={"normal_strength": 3.5}))
        await fake_comfy.until(lambda state: "1" in state["waiting"])
        await until(lambda: _polled(fake_comfy, gen.prompt_id))  # signal 1: polling asked
        fake_comfy.release("1")
        [done] = await engine.wait([gen.id], timeout=30)
        # signal 2: the webhook, signed and accepted; signal 3: the websocket's verdict
        await until(lambda: any(e.payload.data.generation_id == gen.id for e in webhooks))
        await until(lambda: any(isinstance(e, ev.ExecutionSucceeded) and e.prompt_id
                                == gen.prompt_id for e in heard))
        await listener.stop()
        listening.cancel()
        log.close()
    assert [e.payload.type for e in webhooks] == ["generation.completed"]
    finals = [u for u in log.for_(gen.id) if u.status.is_final]
    assert done.status is GenerationStatus.COMPLETED
    assert len(finals) == 1  # one completion
    assert sorted(f.kind for f in done.files) == sorted(ALL_MAPS)  # one set of files
    assert len({f.path for f in done.files}) == len(ALL_MAPS)
    files_on_disk = list(done.files[0].path.parent.iterdir())  # no stray partial downloads either
    assert len(files_on_disk) == len(ALL_MAPS)
    # The webhook was signed, yet no prompt this (same-machine) server received holds the secret.
    sent = json.dumps(fake_comfy.requests()["prompts"])
    assert '"webhook_url"' in sent and secret.removeprefix("whsec_") not in sent


async def _collect(stream: AsyncIterator[object], into: list[object]) -> None:
    async for event in stream:
        into.append(event)


def _polled(comfy, prompt_id: str | None) -> bool:
    """The fake answered GET /history/<id> while the run was held: only the poller asks then."""
    return any(r["path"] == f"/history/{prompt_id}" for r in comfy.requests()["requests"])
