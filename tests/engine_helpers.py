"""Graphs and a runner shared by the job-engine tests (all against the test ComfyUI server)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from automata_desktop.backends import Backend, open_backend
from automata_desktop.comfy.client import Backoff, ComfyClient, Timeouts
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


def two_outputs_graph(color: int = 0x336699) -> dict[str, Any]:
    """Two SaveImage outputs; ComfyUI runs node 2 before 3 and 4 (outputs go first, graph.py).

    Holding node 3 in the fake stops the run between the first output and the second.
    """
    return {
        "1": {"class_type": "EmptyImage",
              "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImage",
              "inputs": {"images": ["1", 0], "filename_prefix": "automata/first_basecolor"}},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "4": {"class_type": "SaveImage",
              "inputs": {"images": ["3", 0], "filename_prefix": "automata/second_basecolor"}},
    }


def template(graph: dict[str, Any], name: str = "test", **manifest: Any) -> WorkflowTemplate:
    params = manifest.pop("parameters", {})
    if "color" not in params and "1" in graph and graph["1"]["class_type"] == "EmptyImage":
        params["color"] = {"type": "int", "bind": ["1.color"]}
    return parse_workflow(graph, name=name, manifest={"parameters": params, **manifest})


def request(tpl: WorkflowTemplate, server: str, **kwargs: Any) -> GenerationRequest:
    return GenerationRequest(workflow=tpl, server=server, **kwargs)


def backend_factory(*, websocket: bool = True, silence_s: float = 30.0,
                    api_key: str | None = None) -> Callable[[str], Backend]:
    """Backends whose ComfyUI clients reconnect quickly; `websocket=False` points the socket at a
    closed port; `silence_s` is how long a socket may say nothing while prompts are pending."""

    def make(url: str) -> ComfyClient:
        client = ComfyClient(url, backoff=FAST_BACKOFF, api_key=api_key,
                             timeouts=Timeouts(silence=silence_s))
        if not websocket:
            client._ws_url = lambda: "ws://127.0.0.1:9/ws"  # type: ignore[method-assign]
        return client

    return lambda server: open_backend(server, client=make)


@contextlib.asynccontextmanager
async def running_engine(library_root: Path, **kwargs: Any) -> AsyncIterator[JobEngine]:
    kwargs.setdefault("backend_factory", backend_factory())
    library = Library(library_root)
    engine = JobEngine(library, **kwargs)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()
        library.close()


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for a condition the test cannot await directly (polling, not a fixed sleep)."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


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

    async def message(self, gen_id: str, text: str, timeout: float = 15) -> JobUpdate:
        """Wait for an update of `gen_id` whose message contains `text`."""
        return await self.wait_for(lambda u: u.generation_id == gen_id and text in u.message,
                                   timeout)

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
