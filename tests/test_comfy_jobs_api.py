"""Newer ComfyUI (0.46) is followed through its Jobs API, the recorded 0.3.64 through /history and
/queue: completion, a forgotten prompt, a run that saved nothing, cancel, and what a socket
missed while it was down, reconciled when it is back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from automata_desktop.comfy import events as ev
from automata_desktop.comfy.client import ComfyClient, Timeouts
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.jobs.progress import DurationBook, ProgressTracker
from tests.engine_helpers import (
    FAST_BACKOFF,
    request,
    running_engine,
    save_graph,
    template,
)
from tests.fakecomfy.harness import FakeComfy
from tests.fakecomfy.proxy import TcpProxy

VERSIONS = ["0.46.0", "0.3.64"]


def asked(comfy: FakeComfy, method: str, path: str) -> int:
    """How many times clients sent `method path` to the server."""
    return sum(1 for r in comfy.requests()["requests"]
               if r["method"] == method and r["path"] == path)


def asked_about(comfy: FakeComfy, prompt_id: str) -> dict[str, int]:
    return {"jobs": asked(comfy, "GET", f"/api/jobs/{prompt_id}"),
            "history": asked(comfy, "GET", f"/history/{prompt_id}")}


async def connected_client(comfy_url: str, **kwargs: Any) -> ComfyClient:
    """A client as ComfyBackend.connect leaves it: the Jobs API probed."""
    client = ComfyClient(comfy_url, backoff=FAST_BACKOFF, **kwargs)
    await client.connect()
    await client.has_jobs_api()
    return client


async def _until(events, predicate, timeout=15.0) -> list[Any]:
    seen = []

    async def collect():
        async for event in events:
            seen.append(event)
            if predicate(event):
                return

    await asyncio.wait_for(collect(), timeout)
    return seen


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_generation_completes_through_the_jobs_api_where_the_server_has_it(
        fake_comfy_factory, tmp_path, version):
    comfy = fake_comfy_factory(version=version)
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        [gen] = await engine.submit(request(template(save_graph(color=0x224466)), comfy.url))
        [done] = await engine.wait([gen.id], timeout=15)
    assert done.status is GenerationStatus.COMPLETED
    [file] = done.files
    assert file.path.read_bytes()[:4] == b"\x89PNG"
    calls = asked_about(comfy, done.prompt_id)
    if version == "0.46.0":
        assert calls["jobs"] >= 1 and calls["history"] == 0, calls
    else:
        assert calls["jobs"] == 0 and calls["history"] >= 1, calls


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_finished_prompt_the_server_dropped_from_its_history_is_lost(
        fake_comfy_factory, version):
    comfy = fake_comfy_factory(version=version)
    client = await connected_client(comfy.url)
    try:
        events = client.events()
        queued = await client.queue_prompt(save_graph(color=0x335577))
        await _until(events, lambda e: isinstance(e, ev.PromptFinished))
        finished = await client.check(queued.prompt_id)
        # Evicted, as a full history drops its oldest entry (a restart forgets it the same way).
        await client._request("POST", "/history", json={"delete": [queued.prompt_id]})
        verdict = await client.check(queued.prompt_id)
    finally:
        await client.close()
    assert isinstance(finished, ev.HistoryResult) and finished.status == "success"
    assert [f.node for f in finished.files] == ["2"]
    assert isinstance(verdict, ev.PromptLost)
    assert "no longer knows this prompt" in verdict.reason and "resubmit" in verdict.reason
    calls = asked_about(comfy, queued.prompt_id)
    if version == "0.46.0":
        assert calls == {"jobs": 2, "history": 0}  # one call per verdict, no /queue round trip
        assert asked(comfy, "GET", "/queue") == 0
    else:
        assert calls["jobs"] == 0 and calls["history"] >= 2


def _saves_nothing(color: int) -> dict[str, Any]:
    """A run that ends well and writes no file: SaveImageWebsocket only streams its images."""
    return {
        "1": {"class_type": "EmptyImage",
              "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}},
    }


async def test_a_completed_job_with_no_outputs_is_a_failure_not_a_success(fake_comfy_factory,
                                                                          tmp_path):
    comfy = fake_comfy_factory(version="0.46.0")
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        [gen] = await engine.submit(request(template(_saves_nothing(0x010203)), comfy.url))
        [done] = await engine.wait([gen.id], timeout=15)
    assert done.status is GenerationStatus.FAILED, done
    assert "reports the prompt completed, but it produced no output files" in done.error
    assert done.files == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_cancel_stops_only_that_job_through_the_jobs_api_or_the_queue(
        fake_comfy_factory, version):
    comfy = fake_comfy_factory(version=version)
    client = await connected_client(comfy.url)
    try:
        events = client.events()
        comfy.hold("2")
        running = await client.queue_prompt(save_graph(color=0x0A0A0A))
        waiting = await client.queue_prompt(save_graph(color=0x0B0B0B))
        after = await client.queue_prompt(save_graph(color=0x0C0C0C))
        await comfy.until(lambda s: "2" in s["waiting"] and running.prompt_id in s["queue_running"])
        removed = await client.cancel(waiting.prompt_id)
        interrupted = await client.cancel(running.prompt_id)
        comfy.release("2")
        await _until(events, lambda e: isinstance(e, ev.PromptFinished)
                     and e.prompt_id == after.prompt_id)
        verdicts = {p.prompt_id: await client.check(p.prompt_id)
                    for p in (running, waiting, after)}
    finally:
        await client.close()
    assert (removed, interrupted) == ("removed", "interrupted")
    assert verdicts[running.prompt_id].interrupted
    assert isinstance(verdicts[waiting.prompt_id], ev.PromptLost)  # never ran, never recorded
    assert verdicts[after.prompt_id].status == "success"  # the next prompt was not hit
    jobs_cancels = sum(asked(comfy, "POST", f"/api/jobs/{p.prompt_id}/cancel")
                       for p in (running, waiting))
    legacy = asked(comfy, "POST", "/queue") + asked(comfy, "POST", "/interrupt")
    if version == "0.46.0":
        assert (jobs_cancels, legacy) == (2, 0)
    else:
        assert jobs_cancels == 0 and asked(comfy, "POST", "/queue") == 1
        assert asked(comfy, "POST", "/interrupt") == 1


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_prompt_that_finished_while_the_socket_was_down_is_reconciled_on_reconnect(
        fake_comfy_factory, version):
    comfy = fake_comfy_factory(version=version)
    async with TcpProxy(comfy.port) as proxy:
        client = await connected_client(proxy.url)
        try:
            events = client.events()
            comfy.hold("2")
            queued = await client.queue_prompt(save_graph(color=0x445566))
            await comfy.until(lambda s: "2" in s["waiting"])
            proxy.cut()
            await proxy.block()  # the machine is off the network: nothing reaches us
            comfy.release("2")  # ... while the run ends there
            await comfy.until(lambda s: queued.prompt_id in s["history"])
            before = asked_about(comfy, queued.prompt_id)
            await proxy.unblock()
            seen = await _until(events, lambda e: isinstance(e, ev.HistoryResult))
        finally:
            await client.close()
    assert any(isinstance(e, ev.Connected) and e.reconnected for e in seen)
    [result] = [e for e in seen if isinstance(e, ev.HistoryResult)]
    assert result.prompt_id == queued.prompt_id and result.status == "success"
    [ref] = result.files
    assert ref.node == "2" and ref.filename.startswith("test_basecolor")
    assert not any(isinstance(e, ev.NodeOutput) for e in seen)  # the socket never heard it
    calls = asked_about(comfy, queued.prompt_id)
    delta = {k: calls[k] - before[k] for k in calls}
    assert delta == ({"jobs": 1, "history": 0} if version == "0.46.0"
                     else {"jobs": 0, "history": 1})


async def test_a_deaf_socket_is_closed_before_the_next_one_opens_so_that_one_stays_registered(
        fake_comfy_factory):
    """ComfyUI #16010: when a socket with our clientId ends, the server forgets whichever socket
    holds that id now; the client reopens a deaf socket only after closing it."""
    comfy = fake_comfy_factory(version="0.46.0")
    async with TcpProxy(comfy.port) as proxy:
        client = await connected_client(proxy.url, timeouts=Timeouts(silence=1.0))
        cid = client.client_id
        try:
            events = client.events()
            comfy.hold("2")
            queued = await client.queue_prompt(save_graph(color=0x565656))
            await comfy.until(lambda s: "2" in s["waiting"])
            proxy.half_open()  # our side dies, the server's stays: we reconnect, same id
            await comfy.until(lambda s: s["connections"].get(cid) == 2)
            proxy.close_stale()  # ...and the stale one's cleanup leaves the new socket deaf
            await comfy.until(lambda s: cid not in s["sockets"])
            comfy.release("2")
            seen = await _until(events, lambda e: isinstance(e, ev.HistoryResult)
                                and e.prompt_id == queued.prompt_id)
            state = await comfy.until(lambda s: cid in s["sockets"])
            second = await client.queue_prompt(save_graph(color=0x575757))
            heard = await _until(events, lambda e: isinstance(e, ev.NodeOutput)
                                 and e.prompt_id == second.prompt_id)
        finally:
            await client.close()
    assert any(isinstance(e, ev.Disconnected) and "no message for 1 s" in e.reason for e in seen)
    assert state["connections"][cid] == 3 and state["sockets"].count(cid) == 1
    assert heard[-1].files  # the reopened socket hears the next run


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _hunyuan_like() -> dict[str, Any]:
    return {
        "1": {"class_type": "LoadMesh", "inputs": {}},
        "2": {"class_type": "Hy3DRender", "inputs": {}},
        "3": {"class_type": "Hy3DBake", "inputs": {}},
        "4": {"class_type": "SaveTexture", "inputs": {}},
    }


def _run(tracker: ProgressTracker, clock: _Clock, seconds: dict[str, float]) -> list[float]:
    """Nodes run one after another as progress_state reports them; the fraction as each
    node starts."""
    fractions = []
    for node, took in seconds.items():
        tracker.node_states([ev.NodeProgress(node, 0.0, 1.0, "running")])
        fractions.append(tracker.fraction)
        clock.now += took
        tracker.node_states([ev.NodeProgress(node, 1.0, 1.0, "finished")])
    return fractions


def test_a_workflow_run_again_is_weighted_by_how_long_its_stages_took():
    """A Hunyuan-like pipeline spends most of its time baking: once a run has shown that, the
    next run's bar is not at three quarters when the bake starts, and its ETA says so."""
    book, clock = DurationBook(), _Clock()
    took = {"1": 1.0, "2": 2.0, "3": 60.0, "4": 1.0}
    first = ProgressTracker.for_graph(_hunyuan_like(), book=book, clock=clock)
    assert _run(first, clock, took)[2] == pytest.approx(0.5)  # counted by nodes: 2 of 4 done
    second = ProgressTracker.for_graph(_hunyuan_like(), book=book, clock=clock)
    _run(second, clock, {"1": 1.0, "2": 2.0})
    second.node_states([ev.NodeProgress("3", 0.0, 1.0, "running")])
    assert second.fraction == pytest.approx(3 / 64)  # 3 s of 64 s done
    assert second.eta_s() == pytest.approx(61.0)  # this run's pace over what is left
    clock.now += 30.0  # the bake reports no steps: half its usual time has passed
    assert second.fraction == pytest.approx(33 / 64)
