"""A ComfyUI server (or Comfy Cloud: the same client with an API key) as a `Backend`.

The websocket's quirks stay here: legacy previews carry no prompt id (they belong to the prompt
running now), and a server may ignore the prompt id we chose (the engine re-keys from the handle).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from automata_desktop.backends.base import CancelOutcome, Capabilities, Inputs, JobHandle, JobSpec
from automata_desktop.backends.messages import (
    BackendMessage,
    CheckResult,
    ExecutionStarted,
    OutputRef,
    Preview,
    PromptFinished,
)
from automata_desktop.comfy.client import ComfyClient
from automata_desktop.config import is_loopback_url


class ComfyBackend:
    """One ComfyUI connection, shared by every generation on that server."""

    def __init__(self, client: ComfyClient) -> None:
        self.client = client
        self.url = client.url
        self.capabilities: Capabilities | None = None
        self._running: str | None = None

    @property
    def connected(self) -> bool:
        return self.client.connected

    async def connect(self) -> Capabilities:
        info = await self.client.connect()
        self.capabilities = Capabilities(
            version=info.version, same_machine=is_loopback_url(self.url))
        return self.capabilities

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
            yield event

    async def require(self, class_types: Iterable[str], packs: dict[str, str | None]) -> None:
        await self.client.require_nodes(class_types, packs)

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

    def open_output(self, ref: OutputRef) -> AsyncIterator[bytes]:
        return self.client.open_output(ref)
