"""A generation: one request to texture a mesh (or make a PBR set), and what came of it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from automata_desktop.core.maps import MapKind


class GenerationStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset(
    {GenerationStatus.COMPLETED, GenerationStatus.FAILED, GenerationStatus.CANCELLED,
     GenerationStatus.TIMED_OUT}
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_generation_id() -> str:
    return str(uuid.uuid4())


@dataclass(slots=True)
class OutputFile:
    """One file of a generation as stored in the library."""

    kind: MapKind
    path: Path
    sha256: str
    size: int
    width: int | None = None
    height: int | None = None
    source: str = "generated"  # generated | derived | imported


@dataclass(slots=True)
class Generation:
    id: str
    workflow: str
    server: str
    status: GenerationStatus = GenerationStatus.QUEUED
    prompt: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    prompt_id: str | None = None
    error: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    files: list[OutputFile] = field(default_factory=list)

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
