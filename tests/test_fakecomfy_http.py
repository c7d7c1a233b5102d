"""The fake's HTTP answers are the real server's bytes (scenarios 08 and 13)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fakecomfy import FakeComfy
from tests.fakecomfy.recorder import load_transcript, recorded_http


@pytest.fixture(scope="module")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeComfy]:
    server = FakeComfy(tmp_path_factory.mktemp("comfy"))
    server.start()
    yield server
    server.stop()


async def wait_history(client: httpx.AsyncClient, prompt_id: str) -> dict:
    for _ in range(500):
        entry = (await client.get(f"/history/{prompt_id}")).json()
        if entry:
            return entry[prompt_id]
        await asyncio.sleep(0.01)
    raise AssertionError(f"{prompt_id} never reached the history")


async def test_08_every_rejected_prompt_gets_the_recorded_400_body(comfy):
    recording = load_transcript("08")
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        for exchange in recording["http"]:
            request, expected = exchange["request"], exchange["response"]
            if request["path"] != "/prompt" or "json" not in request:
                continue
            ours = await client.post("/prompt", json=request["json"])
            assert ours.status_code == expected["status"], exchange["note"]
            assert ours.headers["content-type"] == "application/json; charset=utf-8"
            if expected["status"] == 400:
                # Byte for byte: same keys, order, separators and messages.
                assert ours.text == json.dumps(expected["json"]), exchange["note"]
                assert ours.headers["content-length"] == expected["headers"]["content-length"]
            else:
                assert ours.json()["node_errors"] == expected["json"]["node_errors"]
                entry = await wait_history(client, ours.json()["prompt_id"])
                assert entry["prompt"][4] == ["2"]  # the broken output was dropped


async def test_08_non_json_body_is_a_plain_text_500(comfy):
    expected = recorded_http(load_transcript("08"), "body is not JSON")["response"]
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        ours = await client.post(
            "/prompt", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert ours.status_code == 500
    assert ours.headers["content-type"] == expected["headers"]["content-type"]
    assert ours.text == expected["text"]


async def test_08_number_counts_every_post_including_rejected_ones(tmp_path):
    with FakeComfy(tmp_path) as fresh:
        async with httpx.AsyncClient(base_url=fresh.url) as client:
            rejected = await client.post("/prompt", json={"prompt": {}})
            assert rejected.status_code == 400
            workflow = load_transcript("02")["workflow"]
            accepted = await client.post("/prompt", json={"prompt": workflow})
            front = await client.post("/prompt", json={"prompt": workflow, "front": True})
            chosen = await client.post(
                "/prompt", json={"prompt": workflow, "number": -100, "prompt_id": "my-own-prompt-id-1"}
            )
    assert accepted.json()["number"] == 1
    assert front.json()["number"] == -2
    assert chosen.text == ('{"prompt_id": "my-own-prompt-id-1", "number": -100.0, "node_errors": {}}')


async def test_13_misc_endpoints_answer_like_the_recording(comfy):
    recording = load_transcript("13")
    same_bytes = [
        "single class",
        "unknown class",
        "/api prefix alias",
        "features",
        "embeddings",
        "model folder types",
        "checkpoints (none)",
        "idle queue",
        "unknown prompt id",
    ]
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        for note in same_bytes:
            exchange = recorded_http(recording, note)
            ours = await client.get(exchange["request"]["path"])
            assert ours.status_code == 200, note
            assert ours.text == json.dumps(exchange["response"]["json"]), note

        stats = (await client.get("/system_stats")).json()
        recorded_stats = recorded_http(recording, "system stats")["response"]["json"]
        assert list(stats) == list(recorded_stats)
        assert list(stats["system"]) == list(recorded_stats["system"])
        assert stats["system"]["comfyui_version"] == "0.3.64"

        full = (await client.get("/object_info")).json()
        assert len(full) >= 483 and full["SaveImage"]["output_node"] is True

        for method, path, body in (
            ("POST", "/free", {"unload_models": True}),
            ("POST", "/interrupt", None),
            ("POST", "/history", {"clear": True}),
        ):
            ours = await client.request(method, path, json=body)
            assert (ours.status_code, ours.content) == (200, b"")
            assert "content-type" not in ours.headers


async def test_13_foreign_origin_gets_a_bare_403(comfy):
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        same = await client.get("/prompt", headers={"Origin": comfy.url})
        foreign = await client.get("/prompt", headers={"Origin": "http://evil.example"})
        localhost = await client.get("/prompt", headers={"Origin": f"http://localhost:{comfy.port}"})
    assert same.text == '{"exec_info": {"queue_remaining": 0}}'
    assert (foreign.status_code, foreign.content) == (403, b"")
    assert localhost.status_code == 403


async def test_13_history_paging_and_delete(comfy):
    workflow = load_transcript("02")["workflow"]
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        await client.post("/history", json={"clear": True})
        ids = []
        for color in (1, 2, 3):
            body = {
                "prompt": {
                    **workflow,
                    "1": {**workflow["1"], "inputs": {**workflow["1"]["inputs"], "color": color}},
                }
            }
            ids.append((await client.post("/prompt", json=body)).json()["prompt_id"])
        await wait_history(client, ids[-1])
        assert list((await client.get("/history", params={"max_items": 2})).json()) == ids[1:]
        first = await client.get("/history", params={"max_items": 1, "offset": 0})
        assert list(first.json()) == ids[:1]
        await client.post("/history", json={"delete": [ids[0]]})
        assert (await client.get(f"/history/{ids[0]}")).text == "{}"
        entry = (await client.get(f"/history/{ids[1]}")).json()[ids[1]]
    recorded = recorded_http(load_transcript("02"), "history for changed prompt")["response"]
    recorded_entry = next(iter(recorded["json"].values()))
    assert list(entry) == list(recorded_entry) == ["prompt", "outputs", "status", "meta"]
    assert [m[0] for m in entry["status"]["messages"]] == [m[0] for m in recorded_entry["status"]["messages"]]
