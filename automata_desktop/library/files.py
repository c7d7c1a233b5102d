"""Crash-safe file writes: stream into a hidden temp file, hash while copying, fsync, rename.

A reader never sees a half-written file under its final name: the bytes land in
`.<name>.<random>.part` in the destination folder (same filesystem, so the rename is atomic) and
only a complete, verified file is moved into place. Storage failures (disk full, permission,
read-only) become `LibraryError`s that name the folder and the cause; the temp file is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import struct
import tempfile
from collections.abc import AsyncIterable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from automata_desktop.core.checksum import sha256_file
from automata_desktop.errors import LibraryError

CHUNK_SIZE = 1 << 20
PARTIAL_SUFFIX = ".part"

# Errnos that describe the destination, not the source. An OSError with one of these raised by the
# chunk source (a file being read, a stream that failed while spilling to disk) is still reported
# as a storage problem; any other source error propagates unchanged for its owner to map.
_STORAGE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
)
_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EFBIG: "the file is too large for this disk or limit",
    errno.EROFS: "the disk is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "the folder no longer exists",
}


class Written(NamedTuple):
    sha256: str
    size: int


class Digested(NamedTuple):
    """Bytes and the sha256 already computed over exactly them (the webhook validation checks an
    inline file against its declared checksum): stored without being hashed a second time."""

    data: bytes
    sha256: str


class IntegrityError(LibraryError):
    """The bytes received do not match the size or checksum announced for them."""


def describe_os_error(exc: OSError) -> str:
    cause = _CAUSES.get(exc.errno or 0)
    detail = exc.strerror or str(exc)
    return f"{cause} ({detail})" if cause else detail


def storage_error(action: str, folder: Path, exc: OSError) -> LibraryError:
    return LibraryError(f"Cannot {action} in {folder}: {describe_os_error(exc)}")


# --- file names -----------------------------------------------------------------------------------

_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)} | {f"lpt{i}" for i in range(1, 10)}
)
MAX_NAME_LENGTH = 120


def safe_filename(name: str, default: str = "file") -> str:
    """A name that stays inside its folder on every OS: the last path component, no `..`, no
    characters Windows rejects, no leading dot (so it can never pose as one of our temp files)."""
    base = re.split(r"[/\\]", name)[-1]
    base = _UNSAFE_CHARS.sub("_", base).strip().lstrip(".").rstrip(". ")
    if not base:
        return default
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    if stem.lower() in _WINDOWS_RESERVED or base.lower() in _WINDOWS_RESERVED:
        base = "_" + base
    if len(base) > MAX_NAME_LENGTH:
        keep = f".{suffix[:16]}" if dot else ""
        base = base[: MAX_NAME_LENGTH - len(keep)].rstrip(". ") + keep
    return base


def numbered(name: str, n: int) -> str:
    """`albedo.png` -> `albedo-2.png`: the n-th candidate when a name is already taken."""
    if n <= 1:
        return name
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}-{n}.{suffix}" if dot and stem else f"{name}-{n}"


# --- writing --------------------------------------------------------------------------------------


class TempWriter:
    """Writes chunks into a temp file beside `dest`, hashing as it goes; `publish` or `discard`.

    `known_sha256` is the digest a caller already computed over exactly these bytes: the writer
    then only counts them.
    """

    def __init__(
        self,
        folder: Path,
        name: str,
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
        known_sha256: str | None = None,
    ) -> None:
        self.folder = folder
        self.name = name
        self.expected_sha256 = expected_sha256.lower() if expected_sha256 else None
        self.expected_size = expected_size
        self._known = known_sha256.lower() if known_sha256 else None
        self._hash = None if self._known else hashlib.sha256()
        self.size = 0
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{name[:60]}.", suffix=PARTIAL_SUFFIX, dir=folder)
        except OSError as exc:
            raise storage_error(f"create {name}", folder, exc) from exc
        self.temp = Path(tmp)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        assert self._file is not None
        self.size += len(chunk)
        if self.expected_size is not None and self.size > self.expected_size:
            # Stop early: a stream that overruns its announced size must not fill the disk.
            raise IntegrityError(
                f"{self.name}: received more than the announced {self.expected_size} bytes"
            )
        if self._hash is not None:
            self._hash.update(chunk)
        try:
            self._file.write(chunk)
        except OSError as exc:
            raise storage_error(f"write {self.name}", self.folder, exc) from exc

    def finish(self) -> Written:
        """Flush to disk and check size and checksum; the file is still under its temp name."""
        assert self._file is not None
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        except OSError as exc:
            raise storage_error(f"write {self.name}", self.folder, exc) from exc
        finally:
            self._file = None
        digest = self._known or self._hash.hexdigest()  # type: ignore[union-attr]
        if self.expected_size is not None and self.size != self.expected_size:
            raise IntegrityError(
                f"{self.name}: received {self.size} bytes, expected {self.expected_size}"
            )
        if self.expected_sha256 is not None and digest != self.expected_sha256:
            raise IntegrityError(
                f"{self.name}: checksum mismatch (got sha256 {digest[:12]}…, "
                f"expected {self.expected_sha256[:12]}…)"
            )
        return Written(digest, self.size)

    def publish(self, dest: Path) -> None:
        """Rename the finished temp file to `dest` (replacing it) and make the rename durable."""
        try:
            os.replace(self.temp, dest)
        except OSError as exc:
            raise storage_error(f"save {dest.name}", dest.parent, exc) from exc
        fsync_dir(dest.parent)

    def discard(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        with contextlib.suppress(OSError):
            self.temp.unlink(missing_ok=True)

    def source_failed(self, exc: BaseException) -> BaseException:
        """What to raise when the chunk source itself failed (see `_STORAGE_ERRNOS`)."""
        if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
            return storage_error(f"write {self.name}", self.folder, exc)
        return exc


def fsync_dir(folder: Path) -> None:
    """Persist a rename on POSIX; Windows has no directory handles to sync, and needs none."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_temp(
    folder: Path,
    name: str,
    chunks: Iterable[bytes],
    *,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    known_sha256: str | None = None,
) -> tuple[TempWriter, Written]:
    """Stream `chunks` into a verified temp file in `folder`; the caller publishes or discards."""
    writer = TempWriter(folder, name, expected_sha256=expected_sha256, expected_size=expected_size,
                        known_sha256=known_sha256)
    try:
        iterator = iter(chunks)
        while True:
            try:
                chunk = next(iterator)
            except StopIteration:
                break
            except BaseException as exc:
                raise writer.source_failed(exc) from exc
            writer.write(chunk)
        return writer, writer.finish()
    except BaseException:
        writer.discard()
        raise


async def write_temp_async(
    folder: Path,
    name: str,
    chunks: AsyncIterable[bytes],
    *,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
) -> tuple[TempWriter, Written]:
    """`write_temp` for an async source (a streaming HTTP body)."""
    writer = TempWriter(folder, name, expected_sha256=expected_sha256, expected_size=expected_size)
    try:
        iterator = aiter(chunks)
        while True:
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                break
            except BaseException as exc:
                raise writer.source_failed(exc) from exc
            # Writes into the page cache are quick and stay on the loop; the fsync can stall for
            # a while on a slow disk, so it alone goes to a thread.
            writer.write(chunk)
        return writer, await asyncio.to_thread(writer.finish)
    except BaseException:
        writer.discard()
        raise


def atomic_write_stream(
    dest: Path,
    chunks: Iterable[bytes],
    *,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
) -> Written:
    """Write `chunks` to `dest` atomically (replacing it); returns (sha256, size).

    Raises `IntegrityError` on a size/checksum mismatch and `LibraryError` on storage failures;
    in both cases nothing is left behind. Errors of the source itself propagate unchanged.
    """
    writer, written = write_temp(
        dest.parent, dest.name, chunks, expected_sha256=expected_sha256, expected_size=expected_size
    )
    try:
        writer.publish(dest)
    except BaseException:
        writer.discard()
        raise
    return written


async def atomic_write_stream_async(
    dest: Path,
    chunks: AsyncIterable[bytes],
    *,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
) -> Written:
    """`atomic_write_stream` for an async iterator of chunks (e.g. `response.aiter_bytes()`)."""
    writer, written = await write_temp_async(
        dest.parent, dest.name, chunks, expected_sha256=expected_sha256, expected_size=expected_size
    )
    try:
        writer.publish(dest)
    except BaseException:
        writer.discard()
        raise
    return written


def iter_file(f: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    while chunk := f.read(chunk_size):
        yield chunk


def iter_path(path: Path, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    with open(path, "rb") as f:
        yield from iter_file(f, chunk_size)


def hash_file(path: Path) -> Written:
    digest = sha256_file(path)
    return Written(digest.sha256, digest.size)


# --- image headers --------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def image_size(path: Path) -> tuple[int, int] | None:
    """Width and height from the file header, without decoding pixels; None if not an image."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    # PNG is by far the common case and its IHDR sits at a fixed offset; reading it directly also
    # sidesteps Pillow's decompression-bomb refusal for very large (16K) maps.
    if head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return (width, height) if width and height else None
    try:
        from PIL import Image

        with Image.open(path) as image:  # lazy: reads the header only
            return image.size
    except Exception:  # Pillow raises many types for "not an image I know"; all mean "no size"
        return None


def sweep_partials(folder: Path, older_than_s: float, now: float) -> int:
    """Remove temp files left by a crash mid-write; recent ones may belong to a live writer."""
    removed = 0
    if not folder.is_dir():
        return 0
    for partial in folder.glob(f"*/.*{PARTIAL_SUFFIX}"):
        try:
            if now - partial.stat().st_mtime >= older_than_s:
                partial.unlink()
                removed += 1
        except OSError:
            continue
    return removed
