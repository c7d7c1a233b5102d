"""The messages a backend sends the engine: ComfyUI's typed events, plus those of a runner in
this process. A backend without a websocket speaks the same vocabulary, so the engine has one
`match` over messages and no branch per transport."""

from __future__ import annotations

from dataclasses import dataclass

from automata_desktop.comfy.events import (
    Connected,
    Disconnected,
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionStarted,
    ExecutionSucceeded,
    HistoryResult,
    NodeExecuting,
    NodeOutput,
    NodesCached,
    OutputRef,
    Preview,
    Progress,
    ProgressState,
    ProgressText,
    PromptFinished,
    PromptLost,
    QueueStatus,
)
from automata_desktop.core.maps import MapKind


@dataclass(frozen=True, slots=True)
class StepProgress:
    """Progress of a job without a graph: a fraction and what it is doing."""

    prompt_id: str
    fraction: float
    label: str


@dataclass(frozen=True, slots=True, eq=False)
class OutputReady:
    """A finished output the backend holds in memory, with the map kind it knows for sure."""

    prompt_id: str
    kind: MapKind
    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class JobCompleted:
    """A backend that reports its own outputs (`OutputReady`) says here that all were sent."""

    prompt_id: str
    completed_by: str


CheckResult = HistoryResult | PromptLost

BackendMessage = (
    Connected | Disconnected | QueueStatus | ExecutionStarted | NodesCached | NodeExecuting
    | Progress | ProgressState | Preview | ProgressText | NodeOutput | ExecutionSucceeded
    | ExecutionFailed | ExecutionInterrupted | PromptFinished | HistoryResult | PromptLost
    | StepProgress | OutputReady | JobCompleted
)

__all__ = [
    "BackendMessage", "CheckResult", "Connected", "Disconnected", "ExecutionFailed",
    "ExecutionInterrupted", "ExecutionStarted", "ExecutionSucceeded", "HistoryResult",
    "JobCompleted", "NodeExecuting", "NodeOutput", "NodesCached", "OutputReady", "OutputRef",
    "Preview", "Progress", "ProgressState", "ProgressText", "PromptFinished", "PromptLost",
    "QueueStatus", "StepProgress",
]
