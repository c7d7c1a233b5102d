"""The app's own queue over several ComfyUI servers (each its own process): at most two of our
jobs per server, the rest wait in the app; a killed server's jobs move to a live one; a job
waiting behind another is taken back for an idle server; nothing runs or is stored twice."""

from __future__ import annotations

import asyncio

import pytest

from automata_desktop.core.generation import GenerationStatus
from tests.engine_helpers import UpdateLog, request, running_engine, save_graph, template

pytestmark = pytest.mark.asyncio
SAVE = "2"  # the SaveImage node of save_graph: holding it holds the run there


def posted(comfy) -> int:
    return sum(1 for r in comfy.requests()["requests"]
               if r["method"] == "POST" and r["path"] in ("/prompt", "/api/prompt"))


def ran(comfy) -> int:
    """Prompts sent there minus those taken back off its queue (work stealing)."""
    taken = sum(1 for r in comfy.requests()["requests"]
                if r["method"] == "POST" and r["path"] in ("/queue", "/api/queue"))
    return posted(comfy) - taken


async def until(predicate, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_at_most_two_jobs_go_to_a_server_and_the_rest_wait_in_the_app(fake_comfy_factory,
                                                                            tmp_path):
    a, b = fake_comfy_factory(), fake_comfy_factory()
    a.hold(SAVE)
    b.hold(SAVE)
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        gens = await engine.submit(request(template(save_graph()), a.url, servers=(a.url, b.url),
                                           count=6))
        await until(lambda: posted(a) + posted(b) == 4)
        rows = await engine.library.list()
        assert sorted(r.server for r in rows) == sorted(["", "", a.url, a.url, b.url, b.url])
        a.release(SAVE)
        b.release(SAVE)
        done = await engine.wait([g.id for g in gens], timeout=30)
    assert [g.status for g in done] == [GenerationStatus.COMPLETED] * 6
    assert ran(a) + ran(b) == 6  # each run once (a job may be taken back for an idle server)
    assert all(len(g.files) == 1 for g in done)


async def test_the_jobs_of_a_killed_server_move_to_a_live_one_and_finish_once(fake_comfy_factory,
                                                                             tmp_path):
    a, b = fake_comfy_factory(), fake_comfy_factory()
    a.hold(SAVE)  # on each: the first job runs and stays, the second waits behind it
    b.hold(SAVE)  # (b busy too: no idle server steals a's waiting job before the kill)
    async with running_engine(tmp_path / "lib", poll_interval_s=60, failover_grace_s=0.5,
                              running_grace_s=2.0) as engine:
        log = UpdateLog(engine)
        gens = await engine.submit(request(template(save_graph()), a.url, servers=(a.url, b.url),
                                           count=4))
        await until(lambda: posted(a) == 2 and posted(b) == 2)
        on_a = {r.id for r in await engine.library.list() if r.server == a.url}
        a.kill()
        await until(lambda: sum(u.message.startswith("moved from") for u in log.items) == 2)
        b.release(SAVE)
        done = await engine.wait([g.id for g in gens], timeout=60)
    assert [g.status for g in done] == [GenerationStatus.COMPLETED] * 4
    assert {g.server for g in done} == {b.url}
    assert posted(b) == 4
    assert all(len(g.files) == 1 for g in done)
    moved = [u for u in log.items if u.generation_id in on_a
             and u.message.startswith("moved from")]
    assert {u.generation_id for u in moved} == on_a
    reasons = {u.message.split(";")[0] for u in moved}
    assert reasons == {f"moved from {a.url} ({a.url} down)",  # the one that had not started
                       f"moved from {a.url} ({a.url} down for 2 s)"}  # the running one


async def test_a_job_waiting_behind_another_is_taken_back_for_an_idle_server(fake_comfy_factory,
                                                                            tmp_path):
    slow, fast = fake_comfy_factory(), fake_comfy_factory()
    slow.hold(SAVE)
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        log = UpdateLog(engine)
        gens = await engine.submit(request(template(save_graph()), slow.url,
                                           servers=(slow.url, fast.url), count=3))
        # slow takes the 1st and 3rd (least loaded, then configured order), fast the 2nd;
        # fast finishes and idles while the 3rd waits on slow behind the held 1st.
        third = gens[2].id
        await until(lambda: any(u.generation_id == third and "waiting behind" in u.message
                                for u in log.items))
        finished_third = await engine.wait([third], timeout=30)
        slow.release(SAVE)
        done = await engine.wait([g.id for g in gens], timeout=30)
    assert finished_third[0].server == fast.url
    assert [g.status for g in done] == [GenerationStatus.COMPLETED] * 3
    assert [g.server for g in done] == [slow.url, fast.url, fast.url]
    deletes = [r for r in slow.requests()["requests"]
               if r["method"] == "POST" and r["path"].endswith("/queue")]
    assert deletes, "the stolen prompt was not taken off the slow server's queue"
    assert all(len(g.files) == 1 for g in done)


async def test_a_generation_still_in_the_apps_queue_can_be_cancelled(fake_comfy_factory,
                                                                    tmp_path):
    a, b = fake_comfy_factory(), fake_comfy_factory()
    a.hold(SAVE)
    b.hold(SAVE)
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        gens = await engine.submit(request(template(save_graph()), a.url, servers=(a.url, b.url),
                                           count=5))
        await until(lambda: posted(a) + posted(b) == 4)
        [waiting] = [r for r in await engine.library.list() if r.server == ""]
        await engine.cancel(waiting.id)
        a.release(SAVE)
        b.release(SAVE)
        done = await engine.wait([g.id for g in gens], timeout=30)
    by_id = {g.id: g for g in done}
    assert by_id[waiting.id].status is GenerationStatus.CANCELLED
    assert sum(g.status is GenerationStatus.COMPLETED for g in done) == 4
    assert ran(a) + ran(b) == 4  # the cancelled one was never sent


async def test_pausing_a_server_moves_its_waiting_job_and_sends_it_nothing_new(
        fake_comfy_factory, tmp_path):
    a, b = fake_comfy_factory(), fake_comfy_factory()
    a.hold(SAVE)
    b.hold(SAVE)
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        log = UpdateLog(engine)
        gens = await engine.submit(request(template(save_graph()), a.url, servers=(a.url, b.url),
                                           count=4))
        await until(lambda: posted(a) == 2 and posted(b) == 2)
        engine.pause_server(a.url, True)
        await until(lambda: any(f"({a.url} paused)" in u.message for u in log.items))
        a.release(SAVE)
        b.release(SAVE)
        done = await engine.wait([g.id for g in gens], timeout=30)
    assert [g.status for g in done] == [GenerationStatus.COMPLETED] * 4
    assert sorted(g.server for g in done).count(a.url) == 1  # only the one already running
    assert ran(a) == 1 and posted(a) == 2  # the waiting one was taken off a's queue


async def test_a_moved_generation_can_be_cancelled_where_it_went(fake_comfy_factory, tmp_path):
    a, b = fake_comfy_factory(), fake_comfy_factory()
    a.hold(SAVE)
    b.hold(SAVE)
    async with running_engine(tmp_path / "lib", poll_interval_s=60, failover_grace_s=0.3,
                              running_grace_s=0.6) as engine:
        log = UpdateLog(engine)
        gens = await engine.submit(request(template(save_graph()), a.url, servers=(a.url, b.url),
                                           count=2))
        await until(lambda: posted(a) == 1 and posted(b) == 1)
        [moving] = [r.id for r in await engine.library.list() if r.server == a.url]
        a.kill()
        await until(lambda: any(u.generation_id == moving
                                and u.message.startswith(f"queued on {b.url}; moved from")
                                for u in log.items))
        await engine.cancel(moving)
        b.release(SAVE)
        done = {g.id: g for g in await engine.wait([g.id for g in gens], timeout=30)}
    assert done[moving].status is GenerationStatus.CANCELLED
    assert done[moving].server == b.url and not done[moving].files
    assert sum(g.status is GenerationStatus.COMPLETED for g in done.values()) == 1


async def test_a_batch_put_first_goes_ahead_of_the_generations_already_waiting(
        fake_comfy_factory, tmp_path):
    a = fake_comfy_factory()
    a.hold(SAVE)
    dead = "http://127.0.0.1:9"  # a pool of one live server: one job at a time, in order
    async with running_engine(tmp_path / "lib", poll_interval_s=60, max_in_flight=1) as engine:
        log = UpdateLog(engine)
        flow = template(save_graph())
        first = await engine.submit(request(flow, a.url, servers=(a.url, dead), count=3))
        await until(lambda: posted(a) == 1)
        urgent = await engine.submit(request(flow, a.url, servers=(a.url, dead), count=2,
                                             front=True))
        a.release(SAVE)
        await engine.wait([g.id for g in first + urgent], timeout=30)
    placed = [u.generation_id for u in log.items if u.message.startswith("queued on")]
    assert placed == [first[0].id, urgent[0].id, urgent[1].id, first[1].id, first[2].id]


async def test_a_server_paused_in_the_settings_gets_nothing_after_a_restart(fake_comfy_factory,
                                                                           tmp_path):
    from automata_desktop.config import ServerConfig, Settings, load_settings, save_settings
    from automata_desktop.runtime import Runtime

    a, b = fake_comfy_factory(), fake_comfy_factory()
    path = tmp_path / "settings.json"
    save_settings(Settings(servers=(ServerConfig(a.url, "a"), ServerConfig(b.url, "b", None, True)),
                           webhook_port=0, library_dir=str(tmp_path / "lib")), path)
    settings = load_settings(path, env={})
    assert [s.paused for s in settings.servers] == [False, True]  # kept in the file
    async with Runtime(settings, listen=False) as rt:
        gens = await rt.engine.submit(request(template(save_graph()), a.url,
                                              servers=(a.url, b.url), count=3))
        done = await rt.engine.wait([g.id for g in gens], timeout=30)
    assert {g.server for g in done} == {a.url} and posted(b) == 0
