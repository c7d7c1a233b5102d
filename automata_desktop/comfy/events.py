"""Typed events a ComfyUI connection yields. Nothing above `comfy/` sees raw websocket JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class OutputRef:
    """A file a node produced, fetched through `GET /view`."""

    filename: str
    subfolder: str = ""
    type: str = "output"
    node: str | None = None
    slot: str = "images"  # the ui key it came from: images, gifs, audio, 3d, …
    kind: str | None = None  # a map kind the node declared (AUTOMATA nodes do), else None
    #: what the node said the file is (AUTOMATA nodes do), to check a copy read another way
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Connected:
    reconnected: bool = False


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str
    retry_in_s: float


@dataclass(frozen=True, slots=True)
class QueueStatus:
    queue_remaining: int


@dataclass(frozen=True, slots=True)
class ExecutionStarted:
    prompt_id: str


@dataclass(frozen=True, slots=True)
class NodesCached:
    prompt_id: str
    nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NodeExecuting:
    prompt_id: str
    node: str
    display_node: str | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    prompt_id: str
    node: str | None
    value: float
    max: float


@dataclass(frozen=True, slots=True)
class NodeProgress:
    node: str
    value: float
    max: float
    state: str  # running | finished | …


@dataclass(frozen=True, slots=True)
class ProgressState:
    prompt_id: str
    nodes: tuple[NodeProgress, ...]


@dataclass(frozen=True, slots=True)
class Preview:
    """A live preview frame (binary event 1 or 4). prompt/node are known only with metadata (4)."""

    image: bytes
    mime: str
    prompt_id: str | None = None
    node: str | None = None


@dataclass(frozen=True, slots=True)
class ProgressText:
    node: str
    text: str


@dataclass(frozen=True, slots=True)
class NodeOutput:
    prompt_id: str
    node: str
    output: dict[str, Any]
    files: tuple[OutputRef, ...] = ()


@dataclass(frozen=True, slots=True)
class ExecutionSucceeded:
    prompt_id: str


@dataclass(frozen=True, slots=True)
class ExecutionFailed:
    prompt_id: str
    message: str
    node_id: str | None = None
    node_type: str | None = None
    exception_type: str | None = None
    traceback: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExecutionInterrupted:
    prompt_id: str
    node_id: str | None = None


@dataclass(frozen=True, slots=True)
class PromptFinished:
    """`executing` with `node: null`: the server is done with this prompt, whatever the outcome."""

    prompt_id: str


@dataclass(frozen=True, slots=True)
class HistoryResult:
    """A prompt's outcome as read from `/history` (after a reconnect, by polling, or on demand)."""

    prompt_id: str
    status: str  # success | error
    completed: bool
    files: tuple[OutputRef, ...] = ()
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    interrupted: bool = False
    cached_nodes: tuple[str, ...] = ()
    executed_nodes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PromptLost:
    """The server no longer knows a prompt we queued (it restarted): neither queued nor in history."""

    prompt_id: str
    reason: str


ComfyEvent = (
    Connected | Disconnected | QueueStatus | ExecutionStarted | NodesCached | NodeExecuting
    | Progress | ProgressState | Preview | ProgressText | NodeOutput | ExecutionSucceeded
    | ExecutionFailed | ExecutionInterrupted | PromptFinished | HistoryResult | PromptLost
)
