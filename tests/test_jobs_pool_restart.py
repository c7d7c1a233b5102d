"""The app's queue over several servers across an app restart, and what it keeps of each
generation as it moves: generations still waiting when the app quit wait again (same seed,
inputs, servers); the run times learnt before a restart route the first batch after it; a
generation's timeout runs from its first server, not from each move; a pinned workflow waits
for its server and never moves to another."""

from __future__ import annotations

import asyncio

import pytest

from automata_desktop.core.generation import GenerationStatus
from tests.engine_helpers import (
    UpdateLog,
    request,
    running_engine,
    save_graph,
    slow_graph,
    template,
    until,
)
from tests.test_jobs_pool import SAVE, posted

pytestmark = pytest.mark.asyncio
DEAD = "http://127.0.0.1:9"  # a configured server that never answers


async def test_generations_waiting_in_the_apps_queue_at_quit_wait_again_after_a_restart(
        fake_comfy_factory, tmp_path):
    a = fake_comfy_factory()
    a.hold(SAVE)
    flow = template(save_graph())
    async with running_engine(tmp_path / "lib", poll_interval_s=60, max_in_flight=1) as engine:
        gens = await engine.submit(request(flow, a.url, servers=(a.url, DEAD), count=3))
        await until(lambda: posted(a) == 1)
    # The app quit: one generation runs on a, two never left the app. (The new app has a new
    # websocket client id: it hears of the running one through /history.)
    async with running_engine(tmp_path / "lib", poll_interval_s=0.5, max_in_flight=1,
                              workflows={flow.name: flow}.get) as engine:
        log = UpdateLog(engine)
        waiting = {g.id for g in await engine.library.list() if not g.server}
        assert len(waiting) == 2 and all(not g.status.is_final
                                         for g in await engine.library.list())
        a.release(SAVE)
        done = await engine.wait([g.id for g in gens], timeout=30)
    assert [g.status for g in done] == [GenerationStatus.COMPLETED] * 3
    assert posted(a) == 3 and all(len(g.files) == 1 for g in done)  # each run and stored once
    assert {u.generation_id for u in log.items if u.message.startswith("queued on")} == waiting


async def test_a_waiting_generation_whose_workflow_is_gone_fails_with_a_reason(
        fake_comfy_factory, tmp_path):
    a = fake_comfy_factory()
    a.hold(SAVE)
    async with running_engine(tmp_path / "lib", poll_interval_s=60, max_in_flight=1) as engine:
        await engine.submit(request(template(save_graph()), a.url, servers=(a.url, DEAD),
                                    count=2))
        await until(lambda: posted(a) == 1)
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:  # none installed
        rows = [g for g in await engine.library.list() if not g.server]
    assert [g.status for g in rows] == [GenerationStatus.FAILED]
    assert "retry it" in (rows[0].error or "")
    a.release(SAVE)


async def test_run_times_learnt_before_a_restart_route_the_first_batch_after_it(
        fake_comfy_factory, tmp_path):
    slow, fast = fake_comfy_factory(), fake_comfy_factory()
    slow.control("config", {"time_scale": 4})
    flow = template(slow_graph(steps=4, delay_s=0.1))
    servers = (slow.url, fast.url)  # the slow one first: without timings, order decides
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        gens = await engine.submit(request(flow, slow.url, servers=servers, count=2))
        done = await engine.wait([g.id for g in gens], timeout=30)
        assert {g.server for g in done} == set(servers)  # one each: both are timed now
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        [gen] = await engine.submit(request(flow, slow.url, servers=servers))
        [done] = await engine.wait([gen.id], timeout=30)
    assert done.status is GenerationStatus.COMPLETED
    assert done.server == fast.url


async def test_a_generation_moved_from_server_to_server_still_times_out(fake_comfy_factory,
                                                                       tmp_path):
    a, b = fake_comfy_factory(), fake_comfy_factory()
    a.hold(SAVE)
    b.hold(SAVE)
    flow = template(save_graph())
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        log = UpdateLog(engine)
        blockers = await engine.submit(request(flow, a.url, servers=(a.url, b.url), count=2))
        await until(lambda: posted(a) == 1 and posted(b) == 1)  # one running on each
        [target] = await engine.submit(request(flow, a.url, servers=(a.url, b.url),
                                               timeout_s=2.0))
        await until(lambda: posted(a) + posted(b) == 3)  # waiting behind a blocker
        # Pause whichever server holds it: it moves (it has not started) to the other, again
        # and again, each move quicker than its timeout.
        for flip in range(60):
            await asyncio.sleep(0.2)  # each stay far shorter than the timeout
            row = await engine.library.get(target.id)
            if row.status.is_final:
                break
            here, there = (a, b) if row.server == a.url else (b, a)
            engine.pause_server(there.url, False)
            engine.pause_server(here.url, True)
            # Sent there (in its queue, so it can be taken back again), or ended.
            await until(lambda n=flip: sum(u.generation_id == target.id and u.message.startswith(
                "queued on") for u in log.items) > n + 1
                or any(u.generation_id == target.id and u.status.is_final for u in log.items),
                timeout=20)
        row = await engine.library.get(target.id)
        for gen in blockers:
            await engine.cancel(gen.id)
    assert row.status is GenerationStatus.TIMED_OUT, f"still {row.status} after {flip} moves"
    assert "no result after 2 s" in (row.error or "")


async def test_a_pinned_workflow_waits_for_its_server_and_never_moves(fake_comfy_factory,
                                                                     tmp_path):
    a, b = fake_comfy_factory(), fake_comfy_factory()
    a.hold(SAVE)
    flow = template(save_graph())
    async with running_engine(tmp_path / "lib", poll_interval_s=60, failover_grace_s=0.3,
                              running_grace_s=0.6) as engine:
        log = UpdateLog(engine)
        gens = await engine.submit(request(flow, a.url, servers=(a.url, b.url), pin=a.url,
                                           count=3))
        await until(lambda: posted(a) == 2)
        rows = await engine.library.list()
        assert sorted(g.server for g in rows) == ["", a.url, a.url]  # b idles: it is not a's
        a.kill()
        await until(lambda: sum("moved from" in u.message for u in log.items) == 2)
        await asyncio.to_thread(a.start)
        done = await engine.wait([g.id for g in gens], timeout=60)
    assert [g.status for g in done] == [GenerationStatus.COMPLETED] * 3
    assert {g.server for g in done} == {a.url} and posted(b) == 0


async def test_a_generation_whose_server_stays_down_after_a_restart_moves_to_another(
        fake_comfy_factory, tmp_path):
    a, b = fake_comfy_factory(), fake_comfy_factory()
    a.hold(SAVE)
    flow = template(save_graph())
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        [gen] = await engine.submit(request(flow, a.url, servers=(a.url, b.url)))
        await until(lambda: posted(a) == 1)
    a.kill()  # the app quit while a ran it, and a died meanwhile
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=0.2,
                              running_grace_s=0.5, workflows={flow.name: flow}.get) as engine:
        log = UpdateLog(engine)
        [done] = await engine.wait([gen.id], timeout=30)
    assert done.status is GenerationStatus.COMPLETED and done.server == b.url
    assert len(done.files) == 1 and posted(b) == 1
    assert any(u.message.startswith(f"queued on {b.url}; moved from {a.url} ({a.url} down")
               for u in log.items)
