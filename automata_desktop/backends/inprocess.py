"""The in-process backend: model-free workflows (`pbr_from_image`) run here with the node pack.

It gives offline users and fresh machines the same lifecycle as a ComfyUI server — queued, running
with progress, completed with library files — without any server, and the same files: the input
is read as ComfyUI's LoadImage reads it, the maps come from the AUTOMATA nodes themselves (called
with the bound graph's inputs), and they are encoded and named by the Webhook node's own
`encode_maps`. Nothing here decodes, encodes or maps a parameter on its own. Decoding and math
run in a worker thread so neither the asyncio loop nor the UI stalls on a 4K image.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from automata_desktop import __version__
from automata_desktop.backends.base import CancelOutcome, Capabilities, Inputs, JobHandle, JobSpec
from automata_desktop.backends.messages import (
    BackendMessage,
    CheckResult,
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionStarted,
    JobCompleted,
    OutputReady,
    OutputRef,
    PromptLost,
    StepProgress,
)
from automata_desktop.config import LOCAL_SERVER
from automata_desktop.core.maps import MapKind
from automata_desktop.errors import AutomataError, DownloadError, WorkflowError
from automata_desktop.fanout import Fanout
from comfy_nodes import NODE_CLASS_MAPPINGS
from comfy_nodes.images import load_image_file
from comfy_nodes.output import png_name, prefix_name
from comfy_nodes.webhook_node import MAP_ORDER, encode_maps

#: A runner: the job, a progress callback (fraction, label) → the outputs (kind, file name, bytes).
Runner = Callable[[JobSpec, Callable[[float, str], None]],
                  Awaitable[list[tuple[MapKind, str, bytes]]]]


def _node_inputs(graph: dict[str, Any], class_type: str) -> dict[str, Any]:
    """What ComfyUI would call the graph's `class_type` node with, links aside: the node's own
    defaults, overlaid by the graph's values for the inputs the node declares (ComfyUI passes
    no others). A graph without such a node gets the defaults."""
    schema = NODE_CLASS_MAPPINGS[class_type].INPUT_TYPES()
    declared = {**schema.get("required", {}), **schema.get("optional", {})}
    values = {name: spec[1]["default"] for name, spec in declared.items()
              if len(spec) > 1 and "default" in spec[1]}
    node = next((n for n in graph.values()
                 if isinstance(n, dict) and n.get("class_type") == class_type), {})
    values.update({name: value for name, value in node.get("inputs", {}).items()
                   if name in declared and not isinstance(value, list)})  # a list is a link
    return values


async def run_pbr_from_image(spec: JobSpec, report: Callable[[float, str], None]
                             ) -> list[tuple[MapKind, str, bytes]]:
    """The shipped `pbr_from_image` graph — LoadImage → PBR From Image → Pack ORM → Webhook —
    run with the node pack's code; returns the maps the Webhook node would have saved."""
    if spec.image is None:
        raise WorkflowError("pbr_from_image needs an image: pass --image FILE")
    image_path = spec.image
    derive = NODE_CLASS_MAPPINGS["AutomataPBRFromImage"]
    controls = {k: v for k, v in _node_inputs(spec.graph, "AutomataPBRFromImage").items()
                if k != "image"}
    save = _node_inputs(spec.graph, "AutomataWebhook")
    loop = asyncio.get_running_loop()

    def progress(fraction: float, label: str) -> None:
        loop.call_soon_threadsafe(report, fraction, label)

    def work() -> list[tuple[MapKind, str, bytes]]:
        progress(0.05, "Load image")
        try:
            image = load_image_file(image_path)
        except FileNotFoundError:
            raise WorkflowError(f"image not found: {image_path}") from None
        except (OSError, ValueError) as exc:  # Pillow's UnidentifiedImageError is an OSError
            raise WorkflowError(f"{image_path} is not a readable image ({exc})") from exc
        progress(0.25, "Derive PBR maps")
        try:
            maps = dict(zip(derive.RETURN_NAMES, derive().derive(image, **controls), strict=True))
            (maps["orm"],) = NODE_CLASS_MAPPINGS["AutomataPackORM"]().pack(
                maps["roughness"], ao=maps["ao"], metallic=maps["metallic"])
        except (TypeError, ValueError) as exc:  # a control of the wrong type or value
            raise WorkflowError(f"pbr_from_image cannot run with these settings: {exc}") from exc
        generation_id = str(save.get("generation_id") or "").strip() or spec.generation_id
        counters: Counter[str] = Counter()
        out = []
        for encoded in encode_maps(maps, filename_prefix=str(save["filename_prefix"]),
                                   generation_id=generation_id,
                                   sixteen_bit=bool(save["sixteen_bit"])):
            counters[encoded.prefix] += 1  # SaveImage numbers a batch's frames 1, 2, …
            name = png_name(prefix_name(encoded.prefix), counters[encoded.prefix])
            out.append((MapKind(encoded.kind), name, encoded.data))
            progress(0.6 + 0.35 * MAP_ORDER.index(encoded.kind) / len(MAP_ORDER),
                     f"Encoded {encoded.kind}")
        return out

    outputs = await asyncio.to_thread(work)
    report(1.0, "Done")
    return outputs


class InProcessBackend:
    """Model-free workflows run in this process; their outputs arrive as `OutputReady` messages.

    Its jobs die with the app (`outlives_app=False`) and have nothing to poll; a cancel stops the
    task, which reports `ExecutionInterrupted` like a ComfyUI server does.
    """

    def __init__(self, runner: Runner = run_pbr_from_image, *, url: str = LOCAL_SERVER) -> None:
        self.url = url
        self._runner = runner
        self._messages: Fanout[BackendMessage] = Fanout()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.capabilities = Capabilities(version=__version__, runs_models=False,
                                         outlives_app=False, same_machine=True, pollable=False)

    @property
    def connected(self) -> bool:
        return True

    async def connect(self) -> Capabilities:
        return self.capabilities

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def messages(self) -> AsyncIterator[BackendMessage]:
        return self._messages.subscribe()

    async def require(self, class_types: Iterable[str], packs: dict[str, str | None]) -> None:
        return None  # what runs here is decided by the workflow's `local` flag, not node classes

    async def prepare(self, inputs: Inputs) -> dict[str, Any]:
        params = dict(inputs.parameters)
        if inputs.image is not None:
            params["image"] = str(inputs.image)
        return params

    async def submit(self, spec: JobSpec) -> JobHandle:
        task = asyncio.create_task(self._run(spec), name=f"in-process {spec.generation_id}")
        self._tasks[spec.prompt_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(spec.prompt_id, None))
        return JobHandle(spec.prompt_id)

    async def _run(self, spec: JobSpec) -> None:
        prompt_id = spec.prompt_id
        publish = self._messages.publish
        publish(ExecutionStarted(prompt_id))

        def report(fraction: float, label: str) -> None:
            publish(StepProgress(prompt_id, fraction, label))

        try:
            outputs = await self._runner(spec, report)
        except asyncio.CancelledError:
            publish(ExecutionInterrupted(prompt_id))
            raise
        except AutomataError as exc:
            publish(ExecutionFailed(prompt_id, str(exc)))
            return
        for kind, filename, data in outputs:
            publish(OutputReady(prompt_id, kind, filename, data))
        publish(JobCompleted(prompt_id, completed_by=self.url))

    def follow(self, handle: JobHandle) -> None:
        return None

    def forget(self, handle: JobHandle) -> None:
        return None

    async def check(self, handle: JobHandle) -> CheckResult | None:
        if handle.prompt_id in self._tasks:
            return None
        return PromptLost(handle.prompt_id, "the app closed while this in-process generation "
                                            "ran; retry it")

    async def dequeue(self, handle: JobHandle) -> bool:
        return False  # a job here starts the moment it is submitted

    async def cancel(self, handle: JobHandle) -> CancelOutcome:
        task = self._tasks.get(handle.prompt_id)
        if task is None:
            return "not_found"
        task.cancel()
        return "interrupted"

    async def open_output(self, ref: OutputRef) -> AsyncIterator[bytes]:
        raise DownloadError(f"{ref.filename}: in-process outputs arrive with their message")
        yield b""  # pragma: no cover - makes this an async generator
