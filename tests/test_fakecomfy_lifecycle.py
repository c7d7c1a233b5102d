"""Errors, queue control, reconnects, missing client_id and restarts behave as recorded
(scenarios 09, 10, 11, 12, 15, 17), plus the test-only network drop."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.fakecomfy import FakeComfy
from tests.fakecomfy.proxy import TcpProxy
from tests.fakecomfy.recorder import Recorder, load_transcript, recorded_client, recorded_types

NOISE = {"progress", "progress_state"}


@pytest.fixture(scope="module")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeComfy]:
    server = FakeComfy(tmp_path_factory.mktemp("comfy"))
    server.start()
    yield server
    server.stop()


def cid() -> str:
    return uuid.uuid4().hex


def slow(color: int, steps: int = 400, delay: float = 0.02, preview: bool = False) -> dict:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": color},
        },
        "2": {
            "class_type": "ProbeSlowProgress",
            "inputs": {"images": ["1", 0], "steps": steps, "delay_s": delay, "send_preview": preview},
        },
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


def quick(color: int, prefix: str = "probe/q") -> dict:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def without(types: list[str], noise: set[str] = NOISE) -> list[str]:
    return [t for t in types if t not in noise]


async def post(
    client: httpx.AsyncClient, prompt: dict, client_id: str | None = None, **extra: object
) -> dict:
    body: dict = {"prompt": prompt, **extra}
    if client_id is not None:
        body["client_id"] = client_id
    response = await client.post("/prompt", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def running_node(socket: Recorder, prompt_id: str, node: str = "2") -> None:
    await socket.wait_for(
        lambda f: (
            not f.is_binary
            and f.type == "executing"
            and f.json["data"].get("prompt_id") == prompt_id
            and f.json["data"]["node"] == node
        )
    )


async def test_09_execution_errors_and_cached_reruns_match_the_recording(comfy):
    recording = load_transcript("09")
    owner_id = cid()
    owner = await Recorder.open(comfy.ws_url, owner_id)
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        for prompt in (
            recording["workflow_custom"],
            recording["workflow_core"],
            recording["workflow_custom"],
            recording["workflow_custom"],
        ):
            prompt_id = (await post(client, prompt, owner_id))["prompt_id"]
            await owner.wait_done(prompt_id)
        history = (await client.get(f"/history/{prompt_id}")).json()[prompt_id]

    # The first three runs are the recorded sequence, frame type for frame type.
    recorded = recorded_types(recorded_client(recording, "owner"))
    assert owner.types()[: len(recorded)] == recorded
    errors = [m["data"] for m in owner.texts("execution_error")]
    recorded_error = next(
        m["json"]["data"]
        for m in recorded_client(recording, "owner")["messages"]
        if m.get("json", {}).get("type") == "execution_error"
    )
    assert list(errors[0]) == list(recorded_error)
    assert errors[0]["exception_message"] == "probe: deliberate failure\n"
    assert (errors[0]["exception_type"], errors[0]["executed"]) == ("RuntimeError", ["1"])
    assert list(errors[0]["current_inputs"]) == ["images", "message"]
    assert errors[1]["node_type"] == "SaveImage" and errors[1]["exception_message"].startswith(
        "**** ERROR: Saving image outside the output folder is not allowed."
    )
    # Queued twice in a row, the node that completed before the failure is cached.
    assert owner.texts("execution_cached")[-1]["data"]["nodes"] == ["1"]
    assert errors[-1]["executed"] == []
    assert (history["status"]["status_str"], history["status"]["completed"]) == ("error", False)
    assert history["outputs"] == {} and history["meta"] == {}
    await owner.close()


async def test_10_queue_priority_delete_clear_and_interrupts(comfy):
    recording = load_transcript("10")
    owner_id = cid()
    owner = await Recorder.open(comfy.ws_url, owner_id)
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        p1 = (await post(client, slow(65793), owner_id))["prompt_id"]
        await running_node(owner, p1)
        p2 = (await post(client, slow(131586), owner_id))["prompt_id"]
        p3 = (await post(client, quick(197379, "probe/q3"), owner_id))["prompt_id"]
        p4 = await post(client, quick(263172, "probe/q4"), owner_id, front=True)
        p5 = await post(
            client, quick(328965, "probe/q5"), owner_id, number=-100, prompt_id="my-own-prompt-id-1"
        )
        assert p4["number"] < 0 and p5["number"] == -100.0

        queue = (await client.get("/queue")).json()
        recorded_queue = next(h for h in recording["http"] if h["note"].startswith("queue while P1"))[
            "response"
        ]["json"]
        assert [item[1] for item in queue["queue_running"]] == [p1]
        # The raw heap array, not a sorted list: same order as recorded (P5, P4, P2, P3).
        assert [item[1] for item in queue["queue_pending"]] == ["my-own-prompt-id-1", p4["prompt_id"], p2, p3]
        assert [len(item) for item in queue["queue_pending"]] == [
            len(item) for item in recorded_queue["queue_pending"]
        ]
        assert (await client.get("/prompt")).json() == {"exec_info": {"queue_remaining": 5}}

        for body in ({"delete": [p3]}, {"delete": ["no-such-id"]}):
            assert (await client.post("/queue", json=body)).content == b""
        await client.post("/interrupt", json={"prompt_id": p2})  # not running: no effect
        await owner.wait_for(lambda f: f.type == "progress", start=len(owner.frames))
        await client.post("/interrupt")
        await owner.wait_done(p1)
        await running_node(owner, p2)
        await client.post("/interrupt", json={"prompt_id": p2})
        await owner.wait_done(p2)

        p6 = (await post(client, slow(394758), owner_id))["prompt_id"]
        await running_node(owner, p6)
        await post(client, slow(460551), owner_id)
        await post(client, slow(526344), owner_id)
        await client.post("/queue", json={"clear": True})
        await client.post("/interrupt", json={})
        await owner.wait_done(p6)
        assert (await client.get("/queue")).text == '{"queue_running": [], "queue_pending": []}'

        interrupted = (await client.get(f"/history/{p1}")).json()[p1]
        assert [m[0] for m in interrupted["status"]["messages"]] == [
            "execution_start",
            "execution_cached",
            "execution_interrupted",
        ]
        assert (await client.get(f"/history/{p3}")).text == "{}"

    expected = without(recorded_types(recorded_client(recording, "owner")))
    assert without(owner.types()) == expected
    stops = owner.texts("execution_interrupted")
    assert [(m["data"]["node_id"], m["data"]["executed"]) for m in stops] == [(("2"), ["1"])] * 3
    await owner.close()


async def test_11_reconnecting_owner_gets_executing_without_prompt_id(comfy):
    client_id = cid()
    first = await Recorder.open(comfy.ws_url, client_id)
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        prompt_id = (await post(client, slow(657930, steps=30, delay=0.03), client_id))["prompt_id"]
        await first.wait_for(lambda f: f.type == "progress")
        await first.close()
        again = await Recorder.open(comfy.ws_url, client_id)
        assert again.frames[0].raw == (
            '{"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 1}}, '
            f'"sid": "{client_id}"}}}}'
        )
        await again.wait_for(lambda f: f.type == "executing")
        assert again.frames[1].raw == '{"type": "executing", "data": {"node": "2"}}'
        await again.wait_done(prompt_id)
    assert without(again.types()[2:]) == ["executing", "executed", "execution_success", "status", "executing"]
    await again.close()


async def test_11_second_socket_with_same_client_id_detaches_then_goes_deaf(comfy):
    client_id = cid()
    dup_first = await Recorder.open(comfy.ws_url, client_id)
    dup_second = await Recorder.open(comfy.ws_url, client_id)
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        prompt_id = (await post(client, quick(723723, "probe/dup"), client_id))["prompt_id"]
        await dup_second.wait_done(prompt_id)
        assert dup_first.types() == ["status"]
        await dup_first.close()
        deaf_id = (await post(client, quick(789516, "probe/dup"), client_id))["prompt_id"]
        for _ in range(300):
            if (await client.get(f"/history/{deaf_id}")).json():
                break
            await asyncio.sleep(0.01)
        assert (await client.get(f"/history/{deaf_id}")).json()[deaf_id]["status"]["completed"] is True
    recording = load_transcript("11")
    assert dup_second.types() == recorded_types(recorded_client(recording, "dup_second_same_id"))
    await dup_second.close()


async def test_a_half_open_drop_then_reconnect_leaves_the_new_socket_deaf(comfy):
    # ComfyUI #16010: the network kills our side of the socket, ComfyUI's side lingers; we
    # reconnect with the same clientId; when ComfyUI finally closes the old socket, its cleanup
    # unregisters the new one, which stays open and hears nothing, while HTTP works.
    client_id = cid()
    async with TcpProxy(comfy.port) as proxy:
        ws_url = f"ws://127.0.0.1:{proxy.port}/ws"
        first = await Recorder.open(ws_url, client_id)
        proxy.half_open()
        assert await first.wait_closed() == 1006
        second = await Recorder.open(ws_url, client_id)
        await comfy.until(lambda state: state["connections"][client_id] == 2)
        assert client_id in comfy.control("state")["sockets"]
        proxy.close_stale()
        await comfy.until(lambda state: client_id not in state["sockets"])
        async with httpx.AsyncClient(base_url=proxy.url) as client:
            prompt_id = (await post(client, quick(3355443, "probe/deaf"), client_id))["prompt_id"]
            for _ in range(300):
                if (await client.get(f"/history/{prompt_id}")).json():
                    break
                await asyncio.sleep(0.01)
            assert (await client.get(f"/history/{prompt_id}")).json()[prompt_id]["status"]["completed"]
        assert second.types() == ["status"]  # only the greeting: nothing of the run
        await second.close()


async def test_12_and_17_prompts_without_client_id_broadcast_progress_only(comfy):
    recording = load_transcript("12")
    plain = await Recorder.open(comfy.ws_url, cid())
    flagged = await Recorder.open(comfy.ws_url, cid(), feature_flags={"supports_preview_metadata": True})
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        failing = {
            **slow(15658734, steps=1, delay=0.0),
            "2": {"class_type": "ProbeRaise", "inputs": {"images": ["1", 0], "message": "no client_id"}},
        }
        for prompt in (slow(855309, steps=3, delay=0.01, preview=True), failing):
            prompt_id = (await post(client, prompt))["prompt_id"]
            for _ in range(500):  # no completion message without client_id: poll
                if (await client.get(f"/history/{prompt_id}")).json():
                    break
                await asyncio.sleep(0.01)
            for socket in (plain, flagged):
                await socket.wait_for(
                    lambda f: (
                        f.type == "status" and f.json["data"]["status"]["exec_info"]["queue_remaining"] == 0
                    ),
                    start=len(socket.frames) - 1,
                )

        for socket, name in ((plain, "observer1"), (flagged, "observer2_with_flags")):
            ours = socket.types()
            assert ours == recorded_types(recorded_client(recording, name))
            assert "BINARY1" in ours and "BINARY4" not in ours
            assert not {"execution_start", "executing", "execution_error"} & set(ours)

        # Scenario 17: interrupting such a prompt tells every socket.
        long_id = (await post(client, slow(1250067)))["prompt_id"]
        await plain.wait_for(lambda f: f.type == "progress" and f.json["data"]["prompt_id"] == long_id)
        await client.post("/interrupt")
        for socket in (plain, flagged):
            stop = await socket.wait_for(lambda f: f.type == "execution_interrupted")
            assert stop.json["data"]["prompt_id"] == long_id
    await plain.close()
    await flagged.close()


async def test_drop_sockets_cuts_connections_like_a_network_failure(comfy):
    socket = await Recorder.open(comfy.ws_url, cid())
    assert comfy.control("drop_sockets", {})["dropped"] >= 1
    assert await socket.wait_closed() == 1006
    again = await Recorder.open(comfy.ws_url, cid())  # the server itself is fine
    await again.close()


async def test_15_killed_server_drops_sockets_and_restarts_empty(tmp_path):
    comfy = FakeComfy(tmp_path)
    comfy.start()
    try:
        busy_id = cid()
        idle = await Recorder.open(comfy.ws_url, cid())
        busy = await Recorder.open(comfy.ws_url, busy_id)
        async with httpx.AsyncClient(base_url=comfy.url) as client:
            preview = {
                "1": quick(65280)["1"],
                "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
            }
            done = (await post(client, preview, busy_id))["prompt_id"]
            await busy.wait_done(done)
            temp = busy.texts("executed")[0]["data"]["output"]["images"][0]
            saved = (await post(client, quick(986895, "probe/pending"), busy_id))["prompt_id"]
            await busy.wait_done(saved)
            running = (await post(client, slow(921102), busy_id))["prompt_id"]
            await running_node(busy, running)
            await post(client, quick(1, "probe/lost"), busy_id)

        port = comfy.port
        comfy.kill()
        assert await idle.wait_closed() == 1006
        assert await busy.wait_closed() == 1006
        with pytest.raises(OSError):
            await websockets.connect(comfy.ws_url, open_timeout=2)

        comfy.restart(down_s=0)
        assert comfy.port == port
        async with httpx.AsyncClient(base_url=comfy.url) as client:
            assert (await client.get("/history")).text == "{}"
            assert (await client.get(f"/history/{running}")).text == "{}"
            assert (await client.get("/queue")).text == ('{"queue_running": [], "queue_pending": []}')
            view = await client.get("/view", params={**temp, "type": "temp"})
            assert view.status_code == 404  # temp is wiped at start
            kept = await client.get(
                "/view", params={"filename": "pending_00001_.png", "subfolder": "probe", "type": "output"}
            )
            assert kept.status_code == 200  # outputs survive
            assert (await post(client, quick(1052688, "probe/after_restart")))["number"] == 0
    finally:
        comfy.stop()
