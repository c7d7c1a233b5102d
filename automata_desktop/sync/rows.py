"""The shape of a generation in Supabase: the `generations` row and its storage keys."""

from __future__ import annotations

import mimetypes
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from automata_desktop.core.generation import Generation, GenerationStatus, OutputFile
from automata_desktop.core.maps import MapKind
from automata_desktop.sync.errors import SyncError

TABLE = "generations"

_CONTENT_TYPES = {
    ".exr": "image/x-exr",
    ".hdr": "image/vnd.radiance",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".obj": "model/obj",
    ".stl": "model/stl",
    ".ply": "application/ply",
    ".fbx": "application/octet-stream",
}


def content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    return _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or (
        "application/octet-stream")


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file of a generation as stored in the bucket (`path` is the object key)."""

    kind: MapKind
    path: str
    sha256: str
    size: int
    width: int | None
    height: int | None
    content_type: str

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "path": self.path, "sha256": self.sha256,
                "size": self.size, "width": self.width, "height": self.height,
                "content_type": self.content_type}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RemoteFile:
        try:
            kind = MapKind(data.get("kind"))
        except ValueError:
            kind = MapKind.OTHER
        return cls(kind, str(data["path"]), str(data.get("sha256") or ""),
                   int(data.get("size") or 0), data.get("width"), data.get("height"),
                   str(data.get("content_type") or "application/octet-stream"))


@dataclass(frozen=True, slots=True)
class RemoteGeneration:
    """A generation as another device pushed it. `generation.files` is empty: the files are in
    `files` (bucket keys) until downloaded."""

    generation: Generation
    files: tuple[RemoteFile, ...]
    updated_at: datetime
    deleted_at: datetime | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


def check_generation_id(generation_id: str) -> str:
    try:
        return str(uuid.UUID(generation_id))
    except ValueError as exc:
        raise SyncError(f"Generation id {generation_id!r} is not a UUID; it cannot be synced"
                        ) from exc


def object_keys(user_id: str, generation: Generation) -> list[tuple[OutputFile, str]]:
    """`<user id>/<generation id>/<map>.<ext>`; a second file of the same kind gets `-2`."""
    seen: dict[str, int] = {}
    keys = []
    for output in generation.files:
        suffix = Path(output.path).suffix.lower()
        base = MapKind(output.kind).value
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base}-{seen[base]}"
        keys.append((output, f"{user_id}/{generation.id}/{name}{suffix}"))
    return keys


def generation_row(generation: Generation, user_id: str, files: list[RemoteFile]
                   ) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": check_generation_id(generation.id),
        "user_id": user_id,
        "status": GenerationStatus(generation.status).value,
        "prompt": generation.prompt,
        "parameters": generation.parameters,
        "workflow": generation.workflow,
        "server": generation.server,
        "error": generation.error,
        "started_at": iso(generation.started_at),
        "finished_at": iso(generation.finished_at),
        "files": [f.as_json() for f in files],
        "created_at": iso(generation.created_at),
    }


def _ts(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def remote_generation(row: dict[str, Any]) -> RemoteGeneration:
    try:
        status = GenerationStatus(row.get("status"))
    except ValueError:
        status = GenerationStatus.FAILED
    updated_at = _ts(row["updated_at"])
    assert updated_at is not None
    generation = Generation(
        id=str(row["id"]),
        workflow=row.get("workflow") or "",
        server=row.get("server") or "",
        status=status,
        prompt=row.get("prompt") or "",
        parameters=row.get("parameters") or {},
        error=row.get("error"),
        created_at=_ts(row.get("created_at")) or updated_at,
        updated_at=updated_at,
        started_at=_ts(row.get("started_at")),
        finished_at=_ts(row.get("finished_at")),
    )
    files = tuple(RemoteFile.from_json(f) for f in row.get("files") or []
                  if isinstance(f, dict) and f.get("path"))
    return RemoteGeneration(generation, files, updated_at, _ts(row.get("deleted_at")))
