"""pbr_from_image on the test ComfyUI (running the real node pack): every completion path, once."""

from __future__ import annotations

import pytest

from automata_desktop.config import generate_webhook_secret
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.paths import resources_dir
from automata_desktop.runtime import load_workflow_named
from automata_desktop.webhook import WebhookListener
from tests.engine_helpers import UpdateLog, client_factory, request, running_engine

pytestmark = pytest.mark.asyncio

SAMPLE = resources_dir() / "samples" / "sample_basecolor.png"
ALL_MAPS = {MapKind.BASE_COLOR, MapKind.NORMAL, MapKind.HEIGHT, MapKind.ROUGHNESS,
            MapKind.METALLIC, MapKind.AO, MapKind.ORM}


async def _run(fake_comfy, tmp_path, *, websocket: bool, poll_s: float, webhook: bool,
               seed: float = 2.0):
    secret = generate_webhook_secret()
    async with running_engine(tmp_path / "lib", poll_interval_s=poll_s, fast_poll_s=poll_s,
                              webhook_secret=secret,
                              client_factory=client_factory(websocket=websocket)) as engine:
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


async def test_all_three_at_once_complete_exactly_once(fake_comfy, tmp_path):
    done, finals = await _run(fake_comfy, tmp_path, websocket=True, poll_s=0.1, webhook=True,
                                 seed=3.5)
    assert done.status is GenerationStatus.COMPLETED
    assert len(finals) == 1  # one completion
    assert sorted(f.kind for f in done.files) == sorted(ALL_MAPS)  # one set of files
    assert len({f.path for f in done.files}) == len(ALL_MAPS)
    files_on_disk = list(done.files[0].path.parent.iterdir())  # no stray partial downloads either
    assert len(files_on_disk) == len(ALL_MAPS)
