"""What callers hand the job engine, and what it reports back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automata_desktop.core.generation import GenerationStatus, OutputFile
from automata_desktop.core.workflow import WorkflowTemplate


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationRequest:
    workflow: WorkflowTemplate
    server: str  # a ComfyUI base URL, or config.LOCAL_SERVER (the in-process backend)
    #: several servers to spread the batch over (each generation to a capable, least loaded
    #: one, see jobs/routing); empty: `server` alone
    servers: tuple[str, ...] = ()
    #: with several servers: ahead of what already waits in the app's queue
    front: bool = False
    #: with several servers: the one of them this workflow is pinned to (it waits for that
    #: one, never moves to another); empty: any capable one
    pin: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    image: Path | None = None  # uploaded to ComfyUI and bound to the workflow's `image` parameter
    mesh: Path | None = None
    count: int = 1
    seed: int | None = None  # None: random per generation when the workflow takes a seed
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class JobUpdate:
    """A snapshot of one generation, emitted on every change worth showing."""

    generation_id: str
    status: GenerationStatus
    fraction: float = 0.0
    eta_s: float | None = None
    current_node: str | None = None
    message: str = ""
    preview: bytes | None = None
    preview_mime: str | None = None
    files: tuple[OutputFile, ...] = ()  # typed (kind, path, size, source) as the library stored
    completed_by: str | None = None  # websocket | webhook | history | check | local
    workflow: str = ""  # the workflow's name, so a row refused at once is titled by it
    server: str = ""
