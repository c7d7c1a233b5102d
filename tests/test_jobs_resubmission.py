"""A ComfyUI that restarts mid-run loses its queue; the app holds the bound graph, the inputs and
the seed, so it sends the generation again by itself (`resubmit_attempts` times) under a new
prompt id on the same library row, and fails only when that is used up, saying what happened."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from automata_desktop.config import load_settings
from automata_desktop.core.generation import Generation, GenerationStatus, new_generation_id
from automata_desktop.jobs.engine import JobEngine
from automata_desktop.library.store import Library, Submission
from automata_desktop.paths import resources_dir
from tests.engine_helpers import (
    UpdateLog,
    backend_factory,
    request,
    running_engine,
    slow_graph,
    template,
    two_outputs_graph,
    until,
)

SAMPLE = resources_dir() / "samples" / "sample_basecolor.png"
SEEDED = {"seed": {"type": "int", "bind": ["1.color"]}}


def _prompts(fake_comfy) -> list[dict]:
    """The POST /prompt bodies this server process received (a restart starts a new list)."""
    return fake_comfy.requests()["prompts"]


@pytest.mark.asyncio
async def test_a_generation_lost_by_a_restart_is_resubmitted_with_its_seed_and_completes(
        fake_comfy, tmp_path):
    tpl = template(slow_graph(steps=2, delay_s=0.0), parameters=SEEDED)
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=0.3) as engine:
        log = UpdateLog(engine)
        fake_comfy.hold("2")  # the run stays in its slow node until the server goes down
        [gen] = await engine.submit(request(tpl, fake_comfy.url, seed=4242))
        await fake_comfy.until(lambda state: "2" in state["waiting"])
        [first] = _prompts(fake_comfy)
        await asyncio.to_thread(fake_comfy.restart, down_s=0.3)  # the queue is gone
        [done] = await engine.wait([gen.id], timeout=30)
        log.close()
        sent = await engine.library.submission(gen.id)
    [again] = _prompts(fake_comfy)  # the restarted server was sent it once
    assert done.status is GenerationStatus.COMPLETED, done.error
    assert len(done.files) == 1 and done.files[0].path.read_bytes()[:4] == b"\x89PNG"
    assert again["prompt"] == first["prompt"] and again["prompt"]["1"]["inputs"]["color"] == 4242
    assert again["prompt_id"] != first["prompt_id"] == gen.prompt_id
    assert done.prompt_id == again["prompt_id"]  # the row follows the new prompt
    assert sent is not None and sent.lost == (gen.prompt_id,)
    messages = [u.message for u in log.for_(gen.id)]
    assert "resubmitted after ComfyUI restarted" in messages, messages


@pytest.mark.asyncio
async def test_with_resubmission_off_a_lost_generation_fails_at_once(fake_comfy, tmp_path):
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=0.3,
                              resubmit_attempts=0) as engine:
        fake_comfy.hold("2")
        [gen] = await engine.submit(request(template(slow_graph()), fake_comfy.url))
        await fake_comfy.until(lambda state: "2" in state["waiting"])
        await asyncio.to_thread(fake_comfy.restart, down_s=0.3)
        [done] = await engine.wait([gen.id], timeout=30)
    assert done.status is GenerationStatus.FAILED
    assert "restarted and no longer knows this prompt" in done.error
    assert _prompts(fake_comfy) == []  # nothing was sent to the restarted server


@pytest.mark.asyncio
async def test_a_generation_lost_again_after_its_resubmission_fails_with_that_history(
        fake_comfy, tmp_path):
    # Slow enough (40 × 0.25 s) that the resubmitted run is still going at the second restart.
    tpl = template(slow_graph(steps=40, delay_s=0.25), parameters=SEEDED)
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=0.3) as engine:
        log = UpdateLog(engine)
        [gen] = await engine.submit(request(tpl, fake_comfy.url, seed=77))
        await fake_comfy.until(lambda state: gen.prompt_id in state["queue_running"])
        await asyncio.to_thread(fake_comfy.restart, down_s=0.3)
        await log.message(gen.id, "resubmitted after ComfyUI restarted", timeout=20)
        state = await fake_comfy.until(lambda state: bool(state["queue_running"]))
        [second_id] = state["queue_running"]
        await asyncio.to_thread(fake_comfy.restart, down_s=0.3)
        [done] = await engine.wait([gen.id], timeout=30)
        log.close()
    assert done.status is GenerationStatus.FAILED
    assert done.error == (
        f"ComfyUI at {fake_comfy.url} restarted and lost this prompt twice; resubmitted once "
        f"(prompt id {second_id}), then gave up; check ComfyUI, then retry it")
    assert _prompts(fake_comfy) == []  # the second loss was not sent a third time
    assert done.files == []


@pytest.mark.asyncio
async def test_after_an_app_restart_too_a_lost_generation_is_resubmitted_with_its_image(
        fake_comfy, tmp_path):
    # The user quits the app mid-run, ComfyUI restarts with an empty input folder, the app
    # starts again: the generation is sent from the graph in the library, its image uploaded anew.
    image = tmp_path / "marble.png"
    shutil.copy(SAMPLE, image)
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage",
              "inputs": {"images": ["2", 0], "filename_prefix": "automata/marble_basecolor"}},
    }
    tpl = template(graph, parameters={"image": {"type": "image", "bind": ["1.image"]}})
    root = tmp_path / "lib"
    fake_comfy.hold("2")
    async with running_engine(root, poll_interval_s=60) as first_app:
        [gen] = await first_app.submit(request(tpl, fake_comfy.url, image=image))
        await fake_comfy.until(lambda state: "2" in state["waiting"])
    fake_comfy.kill()
    shutil.rmtree(fake_comfy.input_dir)  # uploads live there; a reinstall or cleanup drops them
    fake_comfy.start()
    library = Library(root)
    engine = JobEngine(library, poll_interval_s=60, fast_poll_s=0.3,
                       backend_factory=backend_factory())
    log = UpdateLog(engine)
    try:
        assert [g.id for g in await engine.start()] == [gen.id]
        [done] = await engine.wait([gen.id], timeout=30)
    finally:
        log.close()
        await engine.close()
        library.close()
    assert done.status is GenerationStatus.COMPLETED, done.error
    [file] = done.files
    assert file.path.name.startswith("marble_basecolor")
    paths = [r["path"] for r in fake_comfy.requests()["requests"]]
    assert "/upload/image" in paths  # uploaded to the restarted server
    [again] = _prompts(fake_comfy)
    assert again["prompt_id"] == done.prompt_id != gen.prompt_id
    assert "resubmitted after ComfyUI restarted" in [u.message for u in log.for_(gen.id)]


@pytest.mark.asyncio
async def test_a_resubmitted_generation_stores_one_set_of_files(fake_comfy, tmp_path):
    # The first output of the lost run was announced and fetched before the restart; the new
    # run makes both outputs again. The library keeps those two, not the lost run's as a third.
    fake_comfy.hold("3")
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=0.3) as engine:
        [gen] = await engine.submit(request(template(two_outputs_graph(0x5A6B7C)),
                                            fake_comfy.url))
        await fake_comfy.until(lambda state: "3" in state["waiting"])
        folder = engine.library.sync.files_dir(gen.id)
        await until(lambda: any(folder.glob("*first_basecolor*")))  # fetched, not yet stored
        await asyncio.to_thread(fake_comfy.restart, down_s=0.3)
        [done] = await engine.wait([gen.id], timeout=30)
        rows = await engine.library.list()
    assert done.status is GenerationStatus.COMPLETED, done.error
    assert [r.id for r in rows] == [gen.id]
    names = sorted(f.path.name for f in done.files)
    assert len(names) == 2 and names[0].startswith("first_") and names[1].startswith("second_")
    assert sorted(p.name for p in folder.iterdir()) == names  # nothing else left on disk


def test_the_attempts_are_a_setting_with_an_environment_variable(tmp_path):
    assert load_settings(tmp_path / "settings.json", env={}).resubmit_attempts == 1
    settings = load_settings(tmp_path / "settings.json", env={"AUTOMATA_RESUBMIT_ATTEMPTS": "3"})
    assert settings.resubmit_attempts == 3


def test_deleting_a_generation_deletes_what_was_sent_for_it(tmp_path):
    library = Library(tmp_path / "lib")
    try:
        gen = Generation(id=new_generation_id(), workflow="test", server="http://gpu:8188",
                         prompt_id="p1")
        library.add(gen, submission=Submission({"1": {"class_type": "EmptyImage"}},
                                               {"image": "/home/me/marble.png"}))
        assert library.submission(gen.id) == Submission({"1": {"class_type": "EmptyImage"}},
                                                        {"image": "/home/me/marble.png"})
        library.delete(gen.id)
        assert library.submission(gen.id) is None
    finally:
        library.close()
