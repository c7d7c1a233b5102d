"""The shape of a generation in Supabase: the `generations` row and its storage keys."""

from __future__ import annotations

import mimetypes
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from automata_desktop.core.generation import Generation, GenerationStatus, OutputFile
from automata_desktop.core.maps import MapKind
from automata_desktop.sync.errors import SyncError

TABLE = "generations"
#: Hex digits of the sha256 in an object key.
KEY_DIGEST_LENGTH = 16
_KEY_DIGEST = re.compile(f"[0-9a-f]{{{KEY_DIGEST_LENGTH}}}")

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


#: `local_only` of a file too large for the project's upload limit (see SyncWorker).
TOO_LARGE = "too_large"


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file of a generation as stored in the bucket (`path` is the object key).

    A file the cloud cannot hold (`local_only` says why, e.g. TOO_LARGE) is still listed in the
    row, so other devices know it exists, but with `"path": null`: a reader that only takes
    entries with a path (every version of this app) skips it instead of downloading nothing.
    Its `path` here is then "".
    """

    kind: MapKind
    path: str
    sha256: str
    size: int
    width: int | None
    height: int | None
    content_type: str
    local_only: str | None = None

    @property
    def filename(self) -> str:
        """The name a downloaded copy gets: the key's last part without its content hash
        (`normal.3f2a…9c01.png` -> `normal.png`; keys of older versions have none)."""
        name = PurePosixPath(self.path).name
        stem, dot, rest = name.partition(".")
        digest, dot2, suffix = rest.partition(".")
        if dot and _KEY_DIGEST.fullmatch(digest):
            return f"{stem}.{suffix}" if dot2 else stem
        return name

    def as_json(self) -> dict[str, Any]:
        data = {"kind": self.kind.value, "path": self.path or None, "sha256": self.sha256,
                "size": self.size, "width": self.width, "height": self.height,
                "content_type": self.content_type}
        if self.local_only:
            data["path"] = None
            data["local_only"] = self.local_only
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RemoteFile:
        try:
            kind = MapKind(data.get("kind"))
        except ValueError:
            kind = MapKind.OTHER
        local_only = data.get("local_only") or (None if data.get("path") else "unknown")
        return cls(kind, str(data.get("path") or ""), str(data.get("sha256") or ""),
                   int(data.get("size") or 0), data.get("width"), data.get("height"),
                   str(data.get("content_type") or "application/octet-stream"),
                   str(local_only) if local_only else None)


@dataclass(frozen=True, slots=True)
class RemoteGeneration:
    """A generation as another device pushed it. `generation.files` is empty: the files are in
    `files` (bucket keys) until downloaded."""

    generation: Generation
    files: tuple[RemoteFile, ...]
    updated_at: datetime
    deleted_at: datetime | None
    #: Files the pushing device kept to itself (too large for the bucket): not downloadable.
    local_only: tuple[RemoteFile, ...] = ()

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


def check_generation_id(generation_id: str) -> str:
    try:
        return str(uuid.UUID(generation_id))
    except ValueError as exc:
        raise SyncError(f"Generation id {generation_id!r} is not a UUID; it cannot be synced"
                        ) from exc


def object_keys(user_id: str, generation: Generation, sha256s: Sequence[str]
                ) -> list[tuple[OutputFile, str]]:
    """`<user id>/<generation id>/<map>.<sha256[:16]>.<ext>`; a second file of the same kind
    gets `-2` after the map name.

    The content hash in the name makes a changed map a new object: Supabase's CDN caches an
    object under its key for about a minute, so overwriting a key could serve the old bytes
    to another device. 16 hex digits (64 bits) tell one map's versions apart; the row keeps
    the full sha256, which downloads are checked against. Hex and dots are within Storage's
    key rules. Rows written by older versions (`<map>.<ext>`) keep their keys.
    """
    if len(sha256s) != len(generation.files):
        raise ValueError("one sha256 per file of the generation")
    seen: dict[str, int] = {}
    keys = []
    for output, sha in zip(generation.files, sha256s, strict=True):
        suffix = Path(output.path).suffix.lower()
        base = MapKind(output.kind).value
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base}-{seen[base]}"
        digest = sha.lower()[:KEY_DIGEST_LENGTH]
        if not _KEY_DIGEST.fullmatch(digest):
            raise SyncError(f"{output.path} has no valid sha256 ({sha!r}); it cannot be synced")
        keys.append((output, f"{user_id}/{generation.id}/{name}.{digest}{suffix}"))
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
    entries = [f for f in row.get("files") or [] if isinstance(f, dict)]
    files = tuple(RemoteFile.from_json(f) for f in entries if f.get("path"))
    local_only = tuple(RemoteFile.from_json(f) for f in entries if not f.get("path"))
    return RemoteGeneration(generation, files, updated_at, _ts(row.get("deleted_at")),
                            local_only)
