"""Backends behind one protocol: a ComfyUI server and the in-process runner give the engine the
same kind of messages, and the engine needs no branch per transport."""

from __future__ import annotations

import asyncio

import pytest

from automata_desktop.backends import Backend, JobSpec, open_backend
from automata_desktop.backends import messages as ev
from automata_desktop.backends.comfyui import ComfyBackend
from automata_desktop.backends.inprocess import InProcessBackend
from automata_desktop.config import LOCAL_SERVER
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.errors import ParameterError, WorkflowError
from automata_desktop.paths import resources_dir
from automata_desktop.runtime import load_workflow_named
from tests.engine_helpers import request, running_engine, save_graph, template

pytestmark = pytest.mark.asyncio

SAMPLE = resources_dir() / "samples" / "sample_basecolor.png"


async def test_the_server_name_picks_the_implementation_and_both_are_backends():
    local, comfy = open_backend(LOCAL_SERVER), open_backend("http://127.0.0.1:8188")
    try:
        assert isinstance(local, InProcessBackend) and isinstance(comfy, ComfyBackend)
        assert isinstance(local, Backend) and isinstance(comfy, Backend)
        caps = await local.connect()
        assert not caps.runs_models and not caps.outlives_app  # model-free, dies with the app
    finally:
        await local.close()
        await comfy.close()


async def test_the_in_process_backend_reports_typed_outputs_in_messages():
    backend = InProcessBackend()
    messages = backend.messages()
    spec = JobSpec(prompt_id="p-1", generation_id="g-1", workflow="pbr_from_image", graph={},
                   parameters={}, image=SAMPLE)
    await backend.submit(spec)
    seen: list[ev.BackendMessage] = []

    async def collect() -> None:
        async for message in messages:
            seen.append(message)
            if isinstance(message, ev.JobCompleted | ev.ExecutionFailed):
                return

    await asyncio.wait_for(collect(), 60)
    await backend.close()
    assert isinstance(seen[0], ev.ExecutionStarted) and isinstance(seen[-1], ev.JobCompleted)
    assert any(isinstance(m, ev.StepProgress) for m in seen)
    ready = [m for m in seen if isinstance(m, ev.OutputReady)]
    assert {m.kind for m in ready} >= {MapKind.BASE_COLOR, MapKind.NORMAL, MapKind.ORM}
    assert all(m.data[:4] == b"\x89PNG" and m.prompt_id == "p-1" for m in ready)


async def test_a_submission_refused_for_a_missing_parameter_leaves_no_queued_row(fake_comfy,
                                                                                 tmp_path):
    tpl = template(save_graph(), parameters={
        "size": {"type": "int", "bind": ["1.width"], "required": True}})
    async with running_engine(tmp_path / "lib") as engine:
        with pytest.raises(ParameterError, match="needs parameter 'size'"):
            await engine.submit(request(tpl, fake_comfy.url))
        assert await engine.library.list() == []
    assert fake_comfy.requests()["prompts"] == []  # nothing was sent either


async def test_an_in_process_generation_runs_through_the_engine_like_any_other(tmp_path):
    stored: list[MapKind] = []
    async with running_engine(tmp_path / "lib") as engine:
        engine.outputs.on_stored.append(lambda _gen, f: stored.append(f.kind))
        [gen] = await engine.submit(request(load_workflow_named("pbr_from_image"), LOCAL_SERVER,
                                            image=SAMPLE))
        [done] = await engine.wait([gen.id], timeout=60)
    assert done.status is GenerationStatus.COMPLETED and done.server == LOCAL_SERVER
    assert stored[0] is MapKind.BASE_COLOR  # each file announced as it landed, in order
    assert {f.kind for f in done.files} == set(stored)


async def test_a_model_workflow_is_refused_by_the_in_process_backend_before_any_row(tmp_path):
    async with running_engine(tmp_path / "lib") as engine:
        with pytest.raises(WorkflowError, match="needs a ComfyUI server"):
            await engine.submit(request(load_workflow_named("text_to_texture_sdxl"),
                                        LOCAL_SERVER, parameters={"prompt": "moss"}))
        assert await engine.library.list() == []
