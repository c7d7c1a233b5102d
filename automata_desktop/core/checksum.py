"""One checksum for every file the app compares: sha256, lowercase hex, read in 1 MiB chunks.

The library's ingest and exports, the sync upload, the node pack installer and the webhook's
inline files all name bytes by this digest, so they compute it one way; a 4K 16-bit map is read
in chunks, never held whole in memory.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Digest:
    sha256: str
    size: int


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> Digest:
    """The digest and size of a file as it is on disk now (raises OSError as `open` does)."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return Digest(digest.hexdigest(), size)
