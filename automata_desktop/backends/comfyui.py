"""A ComfyUI server (or Comfy Cloud: the same client with an API key) as a `Backend`.

The websocket's quirks stay here: legacy previews carry no prompt id (they belong to the prompt
running now), and a server may ignore the prompt id we chose (the engine re-keys from the handle).
What the server has is read once per `connect` (one `/object_info`, megabytes on a server with
many packs) and kept: `require` answers from it and asks again only when a class is missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from automata_desktop.backends.base import CancelOutcome, Capabilities, Inputs, JobHandle, JobSpec
from automata_desktop.backends.local_outputs import local_or_view
from automata_desktop.backends.messages import (
    BackendMessage,
    CheckResult,
    ExecutionStarted,
    NodeOutput,
    OutputRef,
    Preview,
    PromptFinished,
)
from automata_desktop.comfy.client import ComfyClient, ServerInfo
from automata_desktop.config import is_loopback_url
from automata_desktop.core.ui_workflow import input_type, ordered_inputs
from automata_desktop.core.workflow_params import model_folder
from automata_desktop.errors import MissingNodes


class ComfyBackend:
    """One ComfyUI connection, shared by every generation on that server."""

    def __init__(self, client: ComfyClient) -> None:
        self.client = client
        self.url = client.url
        self.capabilities: Capabilities | None = None
        self.info: ServerInfo | None = None
        #: the server's `/object_info` as of `connect` (loader choices, input specs)
        self.object_info: Mapping[str, Any] = {}
        self._running: str | None = None

    @property
    def connected(self) -> bool:
        return self.client.connected

    async def connect(self, *, listen: bool = True, inventory: bool = True) -> Capabilities:
        """What the server is and has: its version, then (with `inventory`) node classes and
        model files from one `/object_info`, its feature flags and whether it has the Jobs API.

        `listen=False` opens no websocket (a probe that only asks); `inventory=False` asks for
        the version alone (a status dot refreshed every few seconds).
        """
        self.info = await (self.client.connect() if listen else self.client.system_stats())
        caps = Capabilities(version=self.info.version, same_machine=is_loopback_url(self.url))
        if inventory:
            object_info, flags, jobs_api = await asyncio.gather(
                self.client.object_info(), self.client.feature_flags(),
                self.client.has_jobs_api())
            caps = replace(_with_nodes(caps, object_info), jobs_api=jobs_api,
                           features=frozenset(k for k, v in flags.items() if v is True))
            self.object_info = object_info
        self.capabilities = caps
        return caps

    async def close(self) -> None:
        await self.client.close()

    def messages(self) -> AsyncIterator[BackendMessage]:
        events = self.client.events()  # subscribed now, not at the first `anext`
        return self._stamped(events)

    async def _stamped(self, events: AsyncIterator[Any]) -> AsyncIterator[BackendMessage]:
        async for event in events:
            if isinstance(event, ExecutionStarted):
                self._running = event.prompt_id
            elif isinstance(event, Preview) and event.prompt_id is None:
                if self._running is None:
                    continue
                event = Preview(event.image, event.mime, self._running, event.node)
            elif isinstance(event, PromptFinished) and self._running == event.prompt_id:
                self._running = None
            elif isinstance(event, NodeOutput) and self.output_dir is None:
                self._learn_output_dir(event.output)
            yield event

    def _learn_output_dir(self, output: Mapping[str, Any]) -> None:
        """The AUTOMATA nodes name the server's output folder in their `ui` (`output_dir`): on
        this machine, later outputs are read from it (each still checked against its size and
        SHA-256, see local_outputs)."""
        named = output.get("output_dir")
        if not (self.capabilities and self.capabilities.same_machine and isinstance(named, list)
                and named and isinstance(named[0], str)):
            return
        folder = Path(named[0])
        if folder.is_absolute() and folder.is_dir():
            self.output_dir = folder

    async def require(self, class_types: Iterable[str], packs: dict[str, str | None]) -> None:
        wanted = set(class_types)
        missing = wanted - self._node_classes()
        if missing:  # a pack may have been installed (and ComfyUI restarted) since we connected
            await self._refresh_nodes()
            missing = wanted - self._node_classes()
        if missing:
            raise MissingNodes(self.url, {c: packs.get(c) for c in missing})

    def _node_classes(self) -> frozenset[str]:
        return self.capabilities.node_classes if self.capabilities else frozenset()

    async def _refresh_nodes(self) -> None:
        object_info = await self.client.object_info()
        base = self.capabilities or Capabilities(same_machine=is_loopback_url(self.url))
        self.capabilities, self.object_info = _with_nodes(base, object_info), object_info

    async def prepare(self, inputs: Inputs) -> dict[str, Any]:
        params = dict(inputs.parameters)
        if inputs.image is not None:
            params["image"] = await self.client.upload_image(inputs.image)
        if inputs.mesh is not None:
            if is_loopback_url(self.url):  # same machine: 3D loader nodes read the path directly
                params["mesh"] = str(inputs.mesh.resolve())
            else:  # the upload endpoint stores any bytes; mesh loaders take paths under input/
                params["mesh"] = await self.client.upload_image(inputs.mesh, subfolder="automata")
        return params

    async def submit(self, spec: JobSpec) -> JobHandle:
        queued = await self.client.queue_prompt(spec.graph, prompt_id=spec.prompt_id)
        return JobHandle(queued.prompt_id)

    def follow(self, handle: JobHandle) -> None:
        self.client.track(handle.prompt_id)

    def forget(self, handle: JobHandle) -> None:
        self.client.untrack(handle.prompt_id)

    async def check(self, handle: JobHandle) -> CheckResult | None:
        return await self.client.check(handle.prompt_id)

    async def cancel(self, handle: JobHandle) -> CancelOutcome:
        return await self.client.cancel(handle.prompt_id)  # type: ignore[return-value]

    async def dequeue(self, handle: JobHandle) -> bool:
        return await self.client.dequeue(handle.prompt_id)

    #: ComfyUI's output folder, when the server runs on this machine and the folder is known:
    #: outputs are then read from it (checked against what the node announced), not via `/view`.
    output_dir: Path | None = None

    def open_output(self, ref: OutputRef) -> AsyncIterator[bytes]:
        same_machine = self.capabilities is not None and self.capabilities.same_machine
        if self.output_dir is None or not same_machine:
            return self.client.open_output(ref)
        return local_or_view(self.output_dir, ref, self.client.open_output)


def _with_nodes(caps: Capabilities, object_info: Mapping[str, Any]) -> Capabilities:
    return replace(caps, node_classes=frozenset(object_info), models=model_choices(object_info))


def model_choices(object_info: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """`Loader.input` -> the files the server lists for that model input, e.g.
    `{"CheckpointLoaderSimple.ckpt_name": ("sd_xl_base_1.0.safetensors", …)}`: per input, not
    per folder, since a loader may list only the files it can read."""
    out: dict[str, tuple[str, ...]] = {}
    for class_type, spec in object_info.items():
        if not isinstance(spec, Mapping):
            continue
        for name, entry in ordered_inputs(spec):
            choices = input_type(entry)[0]
            if isinstance(choices, list) and model_folder(class_type, name):
                out[f"{class_type}.{name}"] = tuple(str(c) for c in choices)
    return out
