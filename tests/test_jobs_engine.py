"""Generations against the test ComfyUI server: every way a result can (or cannot) come back."""

from __future__ import annotations

import asyncio

import pytest

from automata_desktop.core.generation import GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.errors import MissingNodes, PromptRejected
from tests.engine_helpers import (
    UpdateLog,
    backend_factory,
    request,
    running_engine,
    save_graph,
    slow_graph,
    template,
)

pytestmark = pytest.mark.asyncio


async def test_happy_path_files_land_in_the_library(fake_comfy, tmp_path):
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        log = UpdateLog(engine)
        [gen] = await engine.submit(request(template(save_graph()), fake_comfy.url))
        [done] = await engine.wait([gen.id], timeout=15)
        log.close()
    assert done.status is GenerationStatus.COMPLETED
    assert done.prompt_id and done.started_at and done.finished_at
    [file] = done.files
    assert file.kind is MapKind.BASE_COLOR and (file.width, file.height) == (64, 48)
    assert file.path.read_bytes()[:4] == b"\x89PNG"
    assert file.path.is_relative_to(tmp_path / "lib")
    final = [u for u in log.for_(gen.id) if u.status.is_final]
    assert final[-1].completed_by == "websocket"
    assert final[-1].fraction == 1.0


async def test_progress_and_live_previews_are_reported_while_running(fake_comfy, tmp_path):
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        log = UpdateLog(engine)
        [gen] = await engine.submit(request(template(slow_graph(steps=6, delay_s=0.1)), fake_comfy.url))
        await engine.wait([gen.id], timeout=20)
        log.close()
    updates = log.for_(gen.id)
    running = [u for u in updates if u.status is GenerationStatus.RUNNING]
    assert any(u.current_node and "ProbeSlowProgress" in u.current_node for u in running)
    fractions = [u.fraction for u in running]
    assert fractions == sorted(fractions) and max(fractions) < 1.0
    previews = [u for u in updates if u.preview]
    assert previews and previews[0].preview_mime in ("image/jpeg", "image/png")


async def test_polling_alone_completes_when_the_websocket_never_connects(fake_comfy, tmp_path):
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=0.2,
                              backend_factory=backend_factory(websocket=False)) as engine:
        log = UpdateLog(engine)
        [gen] = await engine.submit(request(template(save_graph(color=7)), fake_comfy.url))
        [done] = await engine.wait([gen.id], timeout=15)
        log.close()
    assert done.status is GenerationStatus.COMPLETED and len(done.files) == 1
    assert [u for u in log.for_(gen.id) if u.status.is_final][-1].completed_by == "history"


async def test_polling_keeps_its_pace_while_the_socket_keeps_failing_to_reconnect(
        fake_comfy, tmp_path):
    """Each failed reconnect (every 0.05-0.3 s here) used to restart the poll's 1 s timer, so a
    server whose websocket stays unreachable was never polled: the run never completed."""
    async with running_engine(tmp_path / "lib", poll_interval_s=1.0, fast_poll_s=1.0,
                              backend_factory=backend_factory(websocket=False)) as engine:
        [gen] = await engine.submit(request(template(save_graph(color=9)), fake_comfy.url))
        [done] = await engine.wait([gen.id], timeout=15)
    assert done.status is GenerationStatus.COMPLETED and len(done.files) == 1


async def test_a_websocket_dropped_mid_run_still_completes(fake_comfy, tmp_path):
    # The socket is cut just as the only output reports its file: that `executed`, and the rest
    # of the run's messages, are never received; the file comes from the history.
    fake_comfy.control("config", {"drop_at_executed": ["3"]})
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=0.3) as engine:
        log = UpdateLog(engine)
        graph = slow_graph(steps=3, delay_s=0.05, color=0x445566)
        [gen] = await engine.submit(request(template(graph), fake_comfy.url))
        [done] = await engine.wait([gen.id], timeout=20)
        log.close()
    assert done.status is GenerationStatus.COMPLETED
    [file] = done.files
    assert file.path.name.startswith("slow_basecolor") and file.path.read_bytes()[:4] == b"\x89PNG"
    assert any("connection to ComfyUI lost" in u.message for u in log.for_(gen.id))
    assert [u for u in log.for_(gen.id) if u.status.is_final][-1].completed_by == "history"


async def test_a_server_restart_that_lost_the_queue_fails_with_a_reason(fake_comfy, tmp_path):
    # With automatic resubmission off (test_jobs_resubmission.py has it on).
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=0.3,
                              resubmit_attempts=0) as engine:
        log = UpdateLog(engine)
        graph = slow_graph(steps=40, delay_s=0.25, color=0x010203)
        [gen] = await engine.submit(request(template(graph), fake_comfy.url))
        await log.wait_for(lambda u: u.generation_id == gen.id and u.status is GenerationStatus.RUNNING)
        await asyncio.to_thread(fake_comfy.restart, down_s=0.3)
        [done] = await engine.wait([gen.id], timeout=20)
        log.close()
    assert done.status is GenerationStatus.FAILED
    assert "restarted" in done.error and "resubmit" in done.error


async def test_a_fully_cached_rerun_completes_and_says_so(fake_comfy, tmp_path):
    tpl = template(save_graph(color=0xABCDEF))
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        log = UpdateLog(engine)
        [first] = await engine.submit(request(tpl, fake_comfy.url))
        await engine.wait([first.id], timeout=15)
        [second] = await engine.submit(request(tpl, fake_comfy.url))
        [done] = await engine.wait([second.id], timeout=15)
        log.close()
    assert done.status is GenerationStatus.COMPLETED
    assert len(done.files) == 1  # the old file, fetched again
    final = [u for u in log.for_(second.id) if u.status.is_final][-1]
    assert "cache" in final.message


async def test_an_invalid_workflow_is_rejected_with_per_input_reasons(fake_comfy, tmp_path):
    graph = save_graph()
    del graph["2"]["inputs"]["images"]
    async with running_engine(tmp_path / "lib") as engine:
        with pytest.raises(PromptRejected) as caught:
            await engine.submit(request(template(graph), fake_comfy.url))
        [gen] = await engine.library.list()
    assert "node 2 (SaveImage): input 'images' is not connected" in str(caught.value)
    assert gen.status is GenerationStatus.FAILED and "'images' is not connected" in gen.error


async def test_missing_nodes_are_named_with_the_pack_that_provides_them(fake_comfy, tmp_path):
    graph = save_graph()
    graph["3"] = {"class_type": "Hy3DSampleMultiView", "inputs": {}}
    tpl = template(graph, node_packs=[{"name": "ComfyUI-Hunyuan3DWrapper",
                                       "url": "https://github.com/kijai/ComfyUI-Hunyuan3DWrapper",
                                       "nodes": ["Hy3DSampleMultiView"]}])
    async with running_engine(tmp_path / "lib") as engine:
        with pytest.raises(MissingNodes) as caught:
            await engine.submit(request(tpl, fake_comfy.url))
        assert await engine.library.list() == []  # nothing queued, nothing recorded
    assert "Hy3DSampleMultiView" in str(caught.value)
    assert "ComfyUI-Hunyuan3DWrapper" in str(caught.value)


async def test_cancel_while_queued_removes_it_from_the_server_queue(fake_comfy, tmp_path):
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        log = UpdateLog(engine)
        # Long enough to be still running when cancelled; the worker is paused once it runs, so
        # the second prompt stays pending however slow the machine is.
        [busy] = await engine.submit(request(template(slow_graph(steps=600, delay_s=0.05, color=5)),
                                             fake_comfy.url))
        await log.wait_for(lambda u: u.generation_id == busy.id
                           and u.status is GenerationStatus.RUNNING)
        await asyncio.to_thread(fake_comfy.control, "config", {"paused": True})
        [waiting] = await engine.submit(request(template(save_graph(color=6)), fake_comfy.url))
        await engine.cancel(waiting.id)
        [cancelled] = await engine.wait([waiting.id], timeout=5)
        session = await engine.session(fake_comfy.url)
        queue = await session.backend.client.get_queue()
        await engine.cancel(busy.id)
        [interrupted] = await engine.wait([busy.id], timeout=10)
        log.close()
    assert cancelled.status is GenerationStatus.CANCELLED and cancelled.files == []
    assert waiting.prompt_id not in queue
    assert interrupted.status is GenerationStatus.CANCELLED


async def test_an_unfinished_generation_resumes_after_an_app_restart(fake_comfy, tmp_path):
    root = tmp_path / "lib"
    async with running_engine(root, poll_interval_s=60) as engine:
        [gen] = await engine.submit(request(template(slow_graph(steps=8, delay_s=0.15, color=9)),
                                            fake_comfy.url))
    # the app was closed mid-run; the server carries on. A new app instance picks it up.
    async with running_engine(root, poll_interval_s=0.5) as engine:
        assert [g.id for g in await engine.library.unfinished()] == [gen.id]
        [done] = await engine.wait([gen.id], timeout=20)
    assert done.status is GenerationStatus.COMPLETED and len(done.files) == 1


async def test_a_batch_queues_one_generation_per_seed(fake_comfy, tmp_path):
    graph = save_graph()
    tpl = template(graph, parameters={"seed": {"type": "int", "bind": ["1.color"]}})
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        gens = await engine.submit(request(tpl, fake_comfy.url, count=3, seed=100))
        done = await engine.wait([g.id for g in gens], timeout=20)
    assert [g.parameters["seed"] for g in gens] == [100, 101, 102]
    assert all(g.status is GenerationStatus.COMPLETED for g in done)
    assert len({g.files[0].sha256 for g in done}) == 3  # three different images
