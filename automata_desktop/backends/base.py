"""What the job engine needs of a place that runs workflows: the `Backend` protocol.

    caps = await backend.connect()              # version, node classes, feature flags
    params = await backend.prepare(inputs)      # input files put where the backend reads them
    handle = await backend.submit(spec)         # the app made spec.prompt_id
    async for message in backend.messages(): …  # typed: started, progress, output, finished, …
    await backend.cancel(handle)
    async for chunk in backend.open_output(ref): …

A failed job arrives as a message (`ExecutionFailed`, `PromptLost`); only connecting, preparing
and submitting raise. The engine knows no transport: a ComfyUI server, Comfy Cloud and the
in-process runner are three configurations of two implementations of this protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from automata_desktop.backends.messages import BackendMessage, CheckResult, OutputRef

#: What a cancel did: taken off the queue, stopped while running, or the job was not there.
CancelOutcome = Literal["removed", "interrupted", "not_found"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """What a backend said about itself when it connected."""

    version: str = ""
    node_classes: frozenset[str] = frozenset()
    #: a loader's model input (`CheckpointLoaderSimple.ckpt_name`) -> the files it lists
    models: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: the server's feature flags that are on (`supports_preview_metadata`, …)
    features: frozenset[str] = frozenset()
    #: the server has ComfyUI's Jobs API (`/api/jobs`), not only `/queue` + `/history`
    jobs_api: bool = False
    #: False for a backend without models: only workflows marked `local` run there
    runs_models: bool = True
    #: its jobs outlive the app (a server's queue): an unfinished one is asked about on resume
    outlives_app: bool = True
    #: it runs on this computer: file paths and a loopback webhook reach it
    same_machine: bool = False
    #: a finished job must be asked about (`check`): the live stream alone may miss an output
    pollable: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    """A request's parameters and the files it names, before the backend has placed them."""

    parameters: dict[str, Any]
    image: Path | None = None
    mesh: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """One job to run: the bound graph, and what a backend without a graph runs instead."""

    prompt_id: str  # made by the app, so messages that beat the submit reply still find the job
    generation_id: str
    workflow: str
    graph: dict[str, Any]
    parameters: dict[str, Any]
    image: Path | None = None


@dataclass(frozen=True, slots=True)
class JobHandle:
    prompt_id: str


@runtime_checkable
class Backend(Protocol):
    """One place that runs workflows. `url` is what a generation records as its server."""

    url: str

    @property
    def connected(self) -> bool:
        """True while live messages flow (a job can still be followed by `check` otherwise)."""
        ...

    async def connect(self) -> Capabilities: ...

    async def close(self) -> None: ...

    def messages(self) -> AsyncIterator[BackendMessage]:
        """Every message from now on, in order; subscribe before submitting."""
        ...

    async def require(self, class_types: Iterable[str], packs: dict[str, str | None]) -> None:
        """Raise `MissingNodes` (naming the packs to install) unless every class is there."""
        ...

    async def prepare(self, inputs: Inputs) -> dict[str, Any]:
        """The parameters with input files placed where the backend reads them."""
        ...

    async def submit(self, spec: JobSpec) -> JobHandle: ...

    def follow(self, handle: JobHandle) -> None:
        """Keep this job's messages coming (and resync it after a reconnect) until `forget`."""
        ...

    def forget(self, handle: JobHandle) -> None: ...

    async def check(self, handle: JobHandle) -> CheckResult | None:
        """Where a job stands now: its outcome, lost, or None while it waits or runs."""
        ...

    async def cancel(self, handle: JobHandle) -> CancelOutcome: ...

    async def dequeue(self, handle: JobHandle) -> bool:
        """Take a job back that has not started (to run it elsewhere); False if it has."""
        ...

    def open_output(self, ref: OutputRef) -> AsyncIterator[bytes]:
        """The bytes of one output, streamed; raises `DownloadError` when they cannot be had."""
        ...

