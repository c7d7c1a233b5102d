"""The engine's less travelled paths against the test ComfyUI: failed runs, timeouts, "check now",
messages that beat the prompt id, and what a remote server is (not) told."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest

from automata_desktop.config import generate_webhook_secret
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.paths import resources_dir
from automata_desktop.runtime import load_workflow_named
from automata_desktop.webhook import WebhookListener
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

SAMPLE = resources_dir() / "samples" / "sample_basecolor.png"


def failing_graph(message: str = "the sampler ran out of memory") -> dict:
    return {
        "1": {"class_type": "EmptyImage",
              "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 1}},
        "2": {"class_type": "ProbeRaise", "inputs": {"images": ["1", 0], "message": message}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
    }


@pytest.mark.parametrize("websocket", [True, False], ids=["over the websocket", "over history"])
async def test_a_node_that_raises_fails_the_generation_naming_node_and_error(fake_comfy, tmp_path,
                                                                             websocket):
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=0.2,
                              backend_factory=backend_factory(websocket=websocket)) as engine:
        log = UpdateLog(engine)
        [gen] = await engine.submit(request(template(failing_graph()), fake_comfy.url))
        [done] = await engine.wait([gen.id], timeout=15)
        log.close()
    assert done.status is GenerationStatus.FAILED and done.files == []
    assert done.error == "ProbeRaise (node 2): RuntimeError: the sampler ran out of memory"
    final = [u for u in log.for_(gen.id) if u.status.is_final]
    assert [u.message for u in final] == [done.error]


async def test_a_generation_that_takes_too_long_is_stopped_on_the_server(fake_comfy, tmp_path):
    fake_comfy.hold("2")  # nothing finishes on its own
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        tpl = template(slow_graph(steps=1, delay_s=0.0, color=11))
        [running] = await engine.submit(request(tpl, fake_comfy.url, timeout_s=1.0))
        await fake_comfy.until(lambda state: "2" in state["waiting"])
        [queued] = await engine.submit(request(template(save_graph(color=12)), fake_comfy.url,
                                               timeout_s=1.0))
        done = await engine.wait([running.id, queued.id], timeout=10)
    # The app has closed, as the CLI does once it has its answer: the server must already know.
    assert [g.status for g in done] == [GenerationStatus.TIMED_OUT] * 2
    assert "no result after 1 s" in done[0].error
    state = await fake_comfy.until(lambda s: running.prompt_id in s["history"] and queued.prompt_id
                                   not in s["queue_pending"] + s["queue_running"])
    history = await _history(fake_comfy, running.prompt_id)
    assert [m[0] for m in history["status"]["messages"]][-1] == "execution_interrupted"
    if queued.prompt_id in state["history"]:  # the worker took it before its delete arrived
        queued_history = await _history(fake_comfy, queued.prompt_id)
        assert queued_history["status"]["messages"][-1][0] == "execution_interrupted"


async def test_check_now_completes_a_generation_nothing_else_reported(fake_comfy, tmp_path):
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=60,
                              backend_factory=backend_factory(websocket=False)) as engine:
        log = UpdateLog(engine)
        [gen] = await engine.submit(request(template(save_graph(color=0x0F0F0F)), fake_comfy.url))
        await fake_comfy.until(lambda state: gen.prompt_id in state["history"])
        assert (await engine.library.get(gen.id)).status is GenerationStatus.QUEUED  # nobody told us
        checked = await engine.check_now(gen.id)
        log.close()
    assert checked.status is GenerationStatus.COMPLETED and len(checked.files) == 1
    assert [u.completed_by for u in log.for_(gen.id) if u.status.is_final] == ["check"]


async def test_check_now_leaves_a_completed_generation_as_it_is(fake_comfy, tmp_path):
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        [gen] = await engine.submit(request(template(save_graph(color=0x1E1E1E)), fake_comfy.url))
        [done] = await engine.wait([gen.id], timeout=15)
        [file] = done.files
        views = _views(fake_comfy, file.path.name)
        again = await engine.check_now(gen.id)
        # Anything check_now set going has fetched by the time a whole other run is through.
        [other] = await engine.submit(request(template(save_graph(color=0x2E2E2E)),
                                              fake_comfy.url))
        await engine.wait([other.id], timeout=15)
        assert _views(fake_comfy, file.path.name) == views == 1  # not fetched a second time
    assert again.status is GenerationStatus.COMPLETED
    assert [f.path for f in again.files] == [f.path for f in done.files]


async def test_messages_before_the_prompt_id_are_kept_after_hundreds_of_failed_prompts(
        fake_comfy, tmp_path):
    # A server that picks its own prompt ids (as ComfyUI did before it accepted ours): a run's
    # messages can arrive before POST /prompt tells us its id, and must wait for it. Every
    # failed prompt leaves its end marker behind for an id nobody follows any more.
    fake_comfy.control("config", {"server_prompt_ids": True})
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=60) as engine:
        failed = await engine.submit(request(template(failing_graph("refused")), fake_comfy.url,
                                             count=260))
        assert {g.status for g in await engine.wait([g.id for g in failed], timeout=120)} == {
            GenerationStatus.FAILED}
        session = await engine.session(fake_comfy.url)
        heard = session.backend.client.events()
        fake_comfy.hold("prompt_reply")
        submitting = asyncio.create_task(
            engine.submit(request(template(save_graph(color=0x2D2D2D)), fake_comfy.url)))
        async for event in heard:  # the whole run, before its id is known
            if type(event).__name__ == "PromptFinished" and event.prompt_id not in {
                    g.prompt_id for g in failed}:
                break
        fake_comfy.release("prompt_reply")
        [gen] = await submitting
        log = UpdateLog(engine)
        [done] = await engine.wait([gen.id], timeout=10)
        log.close()
    assert done.status is GenerationStatus.COMPLETED and len(done.files) == 1


def _lan_address() -> str | None:
    """This machine's address on its network, so the test ComfyUI can be a "remote" server."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


async def test_a_remote_server_never_gets_the_webhook_secret_or_a_loopback_url(
        fake_comfy_factory, tmp_path):
    lan = _lan_address()
    if lan is None:
        pytest.skip("no network address besides loopback: a remote server cannot be simulated")
    secret = generate_webhook_secret()
    comfy = fake_comfy_factory(host="0.0.0.0", env={"AUTOMATA_WEBHOOK_SECRET": secret})
    remote, local = f"http://{lan}:{comfy.port}", comfy.url
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        listener = WebhookListener(secret=secret, on_event=engine.handle_webhook)
        await listener.start()
        engine.webhook_url = listener.url
        try:
            tpl = load_workflow_named("pbr_from_image")
            [far] = await engine.submit(request(tpl, remote, image=SAMPLE))
            [near] = await engine.submit(request(tpl, local, image=SAMPLE,
                                                 parameters={"normal_strength": 2.5}))
            done = await engine.wait([far.id, near.id], timeout=30)
        finally:
            await listener.stop()
    assert [g.status for g in done] == [GenerationStatus.COMPLETED] * 2
    bodies = {body["prompt_id"]: body for body in comfy.requests()["prompts"]}
    far_body, near_body = bodies[far.prompt_id], bodies[near.prompt_id]
    far_history = await _history(comfy, far.prompt_id)
    for seen in (json.dumps(far_body), json.dumps(far_history)):
        assert secret not in seen and secret.removeprefix("whsec_") not in seen
        assert listener.url not in seen and "127.0.0.1" not in seen and "localhost" not in seen
    hook = near_body["prompt"]["4"]["inputs"]
    assert hook["webhook_url"] == listener.url  # this machine's ComfyUI can call back ...
    near_history = await _history(comfy, near.prompt_id)
    for seen in (json.dumps(near_body), json.dumps(near_history)):  # ... and still sees no secret
        assert secret not in seen and secret.removeprefix("whsec_") not in seen


async def _history(comfy, prompt_id: str) -> dict:
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        return (await client.get(f"/history/{prompt_id}")).json()[prompt_id]


def _views(comfy, filename: str) -> int:
    return sum(1 for r in comfy.requests()["requests"]
               if r["path"] == "/view" and r["query"].get("filename") == filename)


async def test_check_now_of_a_generation_that_failed_answers_that_it_still_failed(fake_comfy,
                                                                                   tmp_path):
    """"Check now" on a failed row asks the server, which still says failed: the answer comes
    back (it used to wait for ever, the row already holding that very status)."""
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        [gen] = await engine.submit(request(template(failing_graph()), fake_comfy.url))
        [done] = await engine.wait([gen.id], timeout=15)
        again = await asyncio.wait_for(engine.check_now(gen.id), 15)  # a hang guard, not a bound
    assert done.status is again.status is GenerationStatus.FAILED
    assert again.error == done.error
