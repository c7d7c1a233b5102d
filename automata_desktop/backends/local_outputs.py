"""Outputs of a ComfyUI on this machine, read from its output folder instead of through `/view`.

The server already wrote the file where we can read it: copying it through its HTTP server costs
the server's CPU (aiohttp serving tens of MB) and ours (httpx receiving them) for bytes that are an
`open()` away. A file is only taken when it is the one announced: it lies inside the folder (no
`..` or symlink out of it), is a regular file, and has the size and SHA-256 the output's node
reported, when it reported them (the AUTOMATA nodes do). Anything else, or a file that cannot be
opened, goes through `/view` as for a remote server, so a wrong folder setting costs speed,
never a wrong or missing file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from automata_desktop.backends.messages import OutputRef
from automata_desktop.comfy.client import DEFAULT_MAX_DOWNLOAD
from automata_desktop.core.checksum import sha256_file
from automata_desktop.errors import DownloadError

#: Read size of a large file (a mesh): few thread hops, never all of it in memory.
CHUNK = 4 * 1024 * 1024
#: A file up to this size (any map) is read whole, checked in memory and handed on as checked:
#: one read and one hash, and no window for the file to change between the check and the read.
WHOLE = 128 * 1024 * 1024


def local_output(folder: Path, ref: OutputRef, *, max_bytes: int = DEFAULT_MAX_DOWNLOAD
                 ) -> Path | None:
    """The file `ref` names in the output `folder`, if it is there and is what was announced.

    Blocking (a stat, and a hash when the ref carries one): call it off the event loop.
    """
    path = _located(folder, ref, max_bytes)
    try:
        if path is None or (ref.sha256 is not None and sha256_file(path).sha256 != ref.sha256):
            return None
    except OSError:
        return None
    return path


def local_read(folder: Path, ref: OutputRef) -> bytes | Path | None:
    """What `local_or_view` reads of the file `ref` names: a file up to `WHOLE` bytes (any map)
    read whole and checked, a larger one's checked path (`local_output`), or None (then
    `/view`). Each file is read and hashed once. Blocking: call it off the event loop."""
    path = _located(folder, ref, DEFAULT_MAX_DOWNLOAD)
    try:
        if path is None or path.stat().st_size > WHOLE:
            return local_output(folder, ref) if path is not None else None
        data = path.read_bytes()
    except OSError:
        return None
    if ref.size is not None and len(data) != ref.size:
        return None
    if ref.sha256 is not None and hashlib.sha256(data).hexdigest() != ref.sha256:
        return None
    return data


def _located(folder: Path, ref: OutputRef, max_bytes: int) -> Path | None:
    """The regular file inside `folder` that `ref` names, of its announced size and at most
    `max_bytes`; its content is not checked here."""
    if ref.type != "output":  # temp and input live in other folders of the server
        return None
    try:
        root = folder.resolve(strict=True)
        path = (root / ref.subfolder / ref.filename).resolve(strict=True)
        if not path.is_relative_to(root) or not path.is_file():
            return None
        size = path.stat().st_size
    except (OSError, ValueError):
        return None
    if size > max_bytes or (ref.size is not None and size != ref.size):
        return None
    return path


async def local_or_view(folder: Path, ref: OutputRef,
                        view: Callable[[OutputRef], AsyncIterator[bytes]]) -> AsyncIterator[bytes]:
    """`ref`'s bytes from `folder` when `local_output` takes the file, else from `view(ref)`."""
    found = await asyncio.to_thread(local_read, folder, ref)
    if isinstance(found, bytes):
        yield found
        return
    path, handle = found, None
    if path is not None:
        with contextlib.suppress(OSError):
            handle = await asyncio.to_thread(path.open, "rb")
    if handle is None:
        source = view(ref)
        try:
            async for chunk in source:
                yield chunk
        finally:
            await source.aclose()  # type: ignore[attr-defined]
        return
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    except OSError as exc:
        raise DownloadError(f"reading {ref.filename} from {path.parent} failed: "
                            f"{exc.strerror or exc}") from exc
    finally:
        handle.close()

