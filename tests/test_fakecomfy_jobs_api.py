"""The fake's Jobs API: a newer ComfyUI lists queue and history as jobs at ``GET /api/jobs``;
the recorded 0.3.64 has no such route."""

from __future__ import annotations

import uuid

import httpx

from tests.engine_helpers import save_graph
from tests.fakecomfy.recorder import Recorder


async def test_a_newer_server_lists_finished_prompts_as_jobs_and_the_recorded_one_has_none(
        fake_comfy_factory):
    recorded = fake_comfy_factory()
    async with httpx.AsyncClient(base_url=recorded.url) as http:
        assert (await http.get("/api/jobs")).status_code == 404
        assert (await http.get("/api/queue")).status_code == 200  # its other routes are there
    comfy = fake_comfy_factory(version="0.46.0")
    client_id = uuid.uuid4().hex
    owner = await Recorder.open(comfy.ws_url, client_id)
    async with httpx.AsyncClient(base_url=comfy.url) as http:
        ids = []
        for color in (1, 2):
            body = {"prompt": save_graph(color=color), "client_id": client_id,
                    "prompt_id": str(uuid.uuid4())}
            ids.append((await http.post("/prompt", json=body)).json()["prompt_id"])
            await owner.wait_done(ids[-1])
        listing = (await http.get("/api/jobs")).json()
        page = (await http.get("/api/jobs", params={"limit": "1", "status": "completed"})).json()
        refused = await http.get("/api/jobs", params={"status": "done"})
    await owner.ws.close()
    assert [job["id"] for job in listing["jobs"]] == ids[::-1]  # newest first
    assert all(job["status"] == "completed" and job["outputs_count"] == 1
               and isinstance(job["create_time"], int) for job in listing["jobs"])
    assert listing["pagination"] == {"offset": 0, "limit": None, "total": 2, "has_more": False}
    assert [job["id"] for job in page["jobs"]] == [ids[1]]
    assert page["pagination"] == {"offset": 0, "limit": 1, "total": 2, "has_more": True}
    assert refused.status_code == 400 and "Invalid status value(s): done" in refused.json()["error"]
