"""Comfy Cloud: the API key goes in `X-API-Key` on HTTP and `?token=` on the websocket, and never
to the storage host `/view` redirects to (a signed URL that needs no credentials)."""

from __future__ import annotations

import json

import pytest

from automata_desktop.comfy.client import ComfyClient
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.errors import ServerResponseError
from tests.engine_helpers import backend_factory, request, running_engine, save_graph, template

pytestmark = pytest.mark.asyncio

KEY = "comfyui-0123456789abcdef-test-key"


async def test_the_api_key_reaches_the_cloud_and_not_its_storage_host(fake_comfy_factory,
                                                                      tmp_path):
    cloud = fake_comfy_factory(api_key=KEY)
    async with running_engine(tmp_path / "lib", poll_interval_s=60,
                              backend_factory=backend_factory(api_key=KEY)) as engine:
        [gen] = await engine.submit(request(template(save_graph(color=0x3C3C3C)), cloud.url))
        [done] = await engine.wait([gen.id], timeout=15)
    assert done.status is GenerationStatus.COMPLETED
    [file] = done.files
    assert file.path.read_bytes()[:4] == b"\x89PNG"

    seen = cloud.requests()
    sockets = [r for r in seen["requests"] if r["path"].endswith("/ws")]
    calls = [r for r in seen["requests"] if r not in sockets]
    assert sockets and all(r["query"].get("token") == KEY for r in sockets)
    assert {"/system_stats", "/prompt", "/history/" + gen.prompt_id, "/view"} <= {
        r["path"] for r in calls}
    assert all(r["headers"].get("x-api-key") == KEY for r in calls)
    assert all("token" not in r["query"] for r in calls)  # keys in URLs end up in logs
    [fetch] = seen["storage"]  # the redirected download: the file, and no credentials
    assert fetch["query"]["filename"] == file.path.name
    assert fetch["headers"] == {}
    assert KEY not in json.dumps(fetch)


async def test_a_wrong_api_key_is_refused_with_a_message_naming_it(fake_comfy_factory):
    cloud = fake_comfy_factory(api_key=KEY)
    with pytest.raises(ServerResponseError, match="API key is missing or wrong"):
        async with ComfyClient(cloud.url, api_key="not-the-key"):
            pass


async def test_the_app_sends_the_api_key_its_settings_give_that_server(fake_comfy_factory,
                                                                       tmp_path):
    from automata_desktop.config import ServerConfig, Settings
    from automata_desktop.runtime import Runtime

    cloud = fake_comfy_factory(api_key=KEY)
    settings = Settings(servers=(ServerConfig(cloud.url, "cloud", KEY),), webhook_port=0,
                        library_dir=str(tmp_path / "lib"), poll_interval_s=60)
    async with Runtime(settings, listen=False) as rt:
        [gen] = await rt.engine.submit(request(template(save_graph()), cloud.url))
        [done] = await rt.engine.wait([gen.id], timeout=15)
    assert done.status is GenerationStatus.COMPLETED  # a missing key is refused with 401
