"""Graphs and a runner shared by the job-engine tests (all against the test ComfyUI server)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from automata_desktop.comfy.client import Backoff, ComfyClient
from automata_desktop.core.workflow import WorkflowTemplate, parse_workflow
from automata_desktop.jobs.engine import JobEngine
from automata_desktop.jobs.models import GenerationRequest, JobUpdate
from automata_desktop.library.store import Library

FAST_BACKOFF = Backoff(initial=0.05, maximum=0.3)


def save_graph(color: int = 0xFF8000, prefix: str = "automata/test_basecolor") -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage",
              "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def slow_graph(steps: int = 6, delay_s: float = 0.1, color: int = 0x112233,
               prefix: str = "automata/slow_basecolor") -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage",
              "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": color}},
        "2": {"class_type": "ProbeSlowProgress",
              "inputs": {"images": ["1", 0], "steps": steps, "delay_s": delay_s,
                         "send_preview": True}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


def template(graph: dict[str, Any], name: str = "test", **manifest: Any) -> WorkflowTemplate:
    params = manifest.pop("parameters", {})
    if "color" not in params and "1" in graph and graph["1"]["class_type"] == "EmptyImage":
        params["color"] = {"type": "int", "bind": ["1.color"]}
    return parse_workflow(graph, name=name, manifest={"parameters": params, **manifest})


def request(tpl: WorkflowTemplate, server: str, **kwargs: Any) -> GenerationRequest:
    return GenerationRequest(workflow=tpl, server=server, **kwargs)


def client_factory(*, websocket: bool = True) -> Callable[[str], ComfyClient]:
    """Clients with quick reconnects; `websocket=False` points the socket at a closed port."""

    def make(url: str) -> ComfyClient:
        client = ComfyClient(url, backoff=FAST_BACKOFF)
        if not websocket:
            client._ws_url = lambda: "ws://127.0.0.1:9/ws"  # type: ignore[method-assign]
        return client

    return make


@contextlib.asynccontextmanager
async def running_engine(library_root: Path, **kwargs: Any) -> AsyncIterator[JobEngine]:
    kwargs.setdefault("client_factory", client_factory())
    library = Library(library_root)
    engine = JobEngine(library, **kwargs)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()
        library.close()


class UpdateLog:
    """Collects every JobUpdate while a test runs."""

    def __init__(self, engine: JobEngine) -> None:
        self.items: list[JobUpdate] = []
        self._stream = engine.updates()
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for update in self._stream:
            self.items.append(update)

    def for_(self, gen_id: str) -> list[JobUpdate]:
        return [u for u in self.items if u.generation_id == gen_id]

    async def wait_for(self, predicate: Callable[[JobUpdate], bool], timeout: float = 10) -> JobUpdate:
        async def poll() -> JobUpdate:
            while True:
                for update in self.items:
                    if predicate(update):
                        return update
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(poll(), timeout)

    def close(self) -> None:
        self._task.cancel()
