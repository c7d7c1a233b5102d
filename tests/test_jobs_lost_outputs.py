"""No output is lost when messages are: ComfyUI never resends an `executed` sent while the socket
was down, and a restart empties its history, so completion takes the outputs from `/history`
merged with those heard live, and only trusts the live ones alone when none can have been missed."""

from __future__ import annotations

import asyncio

import pytest

from automata_desktop.core.generation import GenerationStatus
from tests.engine_helpers import (
    UpdateLog,
    request,
    running_engine,
    template,
    two_outputs_graph,
    until,
)

pytestmark = pytest.mark.asyncio


async def test_an_output_saved_while_the_socket_was_down_still_lands(fake_comfy, tmp_path):
    # The socket is cut just as the first SaveImage reports its file, and is back before the
    # second one runs: the websocket tells of one file, the server's history of both.
    fake_comfy.control("config", {"drop_at_executed": ["2"]})
    fake_comfy.hold("3")
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=0.3) as engine:
        log = UpdateLog(engine)
        [gen] = await engine.submit(request(template(two_outputs_graph()), fake_comfy.url))
        await fake_comfy.until(lambda state: "3" in state["waiting"])
        await log.message(gen.id, "reconnected to ComfyUI")
        fake_comfy.release("3")
        [done] = await engine.wait([gen.id], timeout=15)
        log.close()
    assert done.status is GenerationStatus.COMPLETED
    names = sorted(f.path.name for f in done.files)
    assert len(names) == 2, names
    assert names[0].startswith("first_basecolor") and names[1].startswith("second_basecolor")
    assert all(f.path.read_bytes()[:4] == b"\x89PNG" for f in done.files)
    assert any("connection to ComfyUI lost" in u.message for u in log.for_(gen.id))


async def test_a_run_heard_in_full_completes_though_the_server_died_before_recording_it(
        fake_comfy, tmp_path):
    # The server finishes the run, then dies before writing /history (its files stay on disk);
    # after the restart it knows nothing. Every `executed` was heard on an unbroken socket, so
    # those outputs are the whole run.
    fake_comfy.hold("history")
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=0.3) as engine:
        log = UpdateLog(engine)
        [gen] = await engine.submit(request(template(two_outputs_graph(0x224466)), fake_comfy.url))
        await log.message(gen.id, "finished on ComfyUI")
        await fake_comfy.until(lambda state: "history" in state["waiting"])
        await asyncio.to_thread(fake_comfy.restart, down_s=0.5)
        [done] = await engine.wait([gen.id], timeout=20)
        log.close()
    assert done.status is GenerationStatus.COMPLETED, done.error
    assert sorted(f.path.name.split("_0")[0] for f in done.files) == ["first_basecolor",
                                                                      "second_basecolor"]


async def test_a_run_with_a_gap_fails_as_forgotten_and_keeps_what_it_fetched(fake_comfy, tmp_path):
    # As above, but the socket dropped during the run, so an `executed` may be missing (here
    # the first output's is): the generation cannot be accounted for and must not complete
    # with a partial set. The file it did fetch stays in the library (with resubmission off:
    # on, the run is sent again and makes the whole set, test_jobs_resubmission.py).
    fake_comfy.control("config", {"drop_at_executed": ["2"]})
    fake_comfy.hold("3", "history")
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=0.3,
                              resubmit_attempts=0) as engine:
        log = UpdateLog(engine)
        [gen] = await engine.submit(request(template(two_outputs_graph(0x446688)), fake_comfy.url))
        await fake_comfy.until(lambda state: "3" in state["waiting"])
        await log.message(gen.id, "reconnected to ComfyUI")
        fake_comfy.release("3")
        await fake_comfy.until(lambda state: "history" in state["waiting"])
        folder = engine.library.sync.files_dir(gen.id)
        await until(lambda: any(folder.glob("*second_basecolor*.p*")))  # fetched (.part) or kept
        await asyncio.to_thread(fake_comfy.restart, down_s=0.5)
        [done] = await engine.wait([gen.id], timeout=20)
        log.close()
    assert done.status is GenerationStatus.FAILED
    assert "restarted and no longer knows this prompt" in done.error and "resubmit" in done.error
    assert "1 file fetched before that is kept" in done.error
    [kept] = done.files
    assert kept.path.name.startswith("second_basecolor") and kept.path.is_file()
