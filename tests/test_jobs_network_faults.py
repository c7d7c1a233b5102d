"""Generations survive what the network and a restarting server do to them: a socket ComfyUI
leaves deaf (#16010), a restart that takes as long as the real one, and a server that is
unreachable while the app starts."""

from __future__ import annotations

import asyncio

import pytest

from automata_desktop.core.generation import GenerationStatus
from automata_desktop.jobs.engine import JobEngine
from automata_desktop.library.store import Library
from tests.engine_helpers import (
    UpdateLog,
    backend_factory,
    request,
    running_engine,
    save_graph,
    slow_graph,
    template,
)
from tests.fakecomfy.proxy import TcpProxy

pytestmark = pytest.mark.asyncio


async def test_a_socket_left_deaf_after_a_reconnect_still_finishes_the_generation(fake_comfy,
                                                                                  tmp_path):
    async with TcpProxy(fake_comfy.port) as proxy, running_engine(
            tmp_path / "lib", poll_interval_s=60, fast_poll_s=0.3,
            backend_factory=backend_factory(silence_s=1.0)) as engine:
        log = UpdateLog(engine)
        fake_comfy.hold("2")
        [gen] = await engine.submit(request(template(save_graph(color=0x101010)), proxy.url))
        await fake_comfy.until(lambda state: "2" in state["waiting"])
        proxy.half_open()  # our side of the socket dies; ComfyUI's stays open
        client_id = (await engine.session(proxy.url)).backend.client.client_id
        await fake_comfy.until(lambda state: state["connections"].get(client_id) == 2)
        proxy.close_stale()  # ComfyUI notices the old socket, and its cleanup drops the new one
        await fake_comfy.until(lambda state: client_id not in state["sockets"])
        fake_comfy.release("2")  # the run ends, and ComfyUI tells nobody
        [done] = await engine.wait([gen.id], timeout=15)
        log.close()
    assert done.status is GenerationStatus.COMPLETED
    [file] = done.files
    assert file.path.read_bytes()[:4] == b"\x89PNG"
    messages = [u.message for u in log.for_(gen.id)]
    assert any("no message for 1 s while prompts are pending" in m for m in messages), messages


async def test_a_restart_as_slow_as_the_real_one_is_waited_out(fake_comfy, tmp_path):
    # Resubmission off: the verdict on the lost prompt is what this test reads.
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=0.3,
                              resubmit_attempts=0) as engine:
        log = UpdateLog(engine)
        fake_comfy.hold("2")
        graph = slow_graph(steps=1, delay_s=0.0, color=0x0A0B0C)
        [lost] = await engine.submit(request(template(graph), fake_comfy.url))
        await fake_comfy.until(lambda state: "2" in state["waiting"])
        # Connections are refused for 2 s (the real server takes ~6 s; FakeComfy's default).
        await asyncio.to_thread(fake_comfy.restart, down_s=2.0)
        [failed] = await engine.wait([lost.id], timeout=30)
        [after] = await engine.submit(request(template(save_graph(color=0x0D0E0F)), fake_comfy.url))
        [done] = await engine.wait([after.id], timeout=15)
        log.close()
    messages = [u.message for u in log.for_(lost.id)]
    assert any("reconnect failed" in m for m in messages), messages  # it was refused meanwhile
    # The verdict is the restarted server's answer (the prompt is gone), not the outage's.
    assert failed.status is GenerationStatus.FAILED
    assert "restarted and no longer knows this prompt" in failed.error
    assert done.status is GenerationStatus.COMPLETED and len(done.files) == 1


async def test_a_generation_resumes_when_comfyui_is_reachable_again_after_an_app_restart(
        fake_comfy, tmp_path):
    root = tmp_path / "lib"
    async with TcpProxy(fake_comfy.port) as proxy:
        fake_comfy.hold("2")
        async with running_engine(root, poll_interval_s=60) as first_app:
            [gen] = await first_app.submit(request(template(save_graph(color=0x121314)),
                                                   proxy.url))
            await fake_comfy.until(lambda state: "2" in state["waiting"])
        # The app quits mid-run; then ComfyUI's machine drops off the network (it keeps running).
        proxy.cut()
        await proxy.block()
        library = Library(root)
        engine = JobEngine(library, poll_interval_s=60, fast_poll_s=0.2,
                           backend_factory=backend_factory())
        log = UpdateLog(engine)
        try:
            assert [g.id for g in await engine.start()] == [gen.id]
            await log.message(gen.id, "waiting for")
            fake_comfy.release("2")  # the run finishes on the server meanwhile
            await proxy.unblock()
            [done] = await engine.wait([gen.id], timeout=20)
        finally:
            log.close()
            await engine.close()
            library.close()
    assert done.status is GenerationStatus.COMPLETED
    [file] = done.files
    assert file.path.read_bytes()[:4] == b"\x89PNG"
