"""The local library: generations in SQLite, their files in folders beside it.

    <root>/library.sqlite3          generations, files, webhook ids (WAL mode)
    <root>/files/<generation id>/   the files of one generation, paths in the DB relative to <root>

One SQLite connection is shared by every thread behind a lock. Each call is one short transaction,
so the GUI thread, the asyncio worker and the thread pool never wait long on each other, and the
lock also makes "pick a free file name, rename into place, insert the row" one atomic step.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from automata_desktop.core.generation import Generation, GenerationStatus, OutputFile, utcnow
from automata_desktop.core.map_packing import normal_convention
from automata_desktop.core.maps import MapKind
from automata_desktop.errors import LibraryError
from automata_desktop.library.export import export_files
from automata_desktop.library.files import (
    TempWriter,
    Written,
    describe_os_error,
    hash_file,
    image_size,
    iter_file,
    iter_path,
    numbered,
    safe_filename,
    storage_error,
    sweep_partials,
    write_temp,
    write_temp_async,
)
from automata_desktop.library.migrations import check_supported, migrate

log = logging.getLogger(__name__)

DB_NAME = "library.sqlite3"
FILES_DIR = "files"
BUSY_TIMEOUT_MS = 10_000
#: Temp files older than this at start-up were left by a crash; younger ones may be another
#: running instance's download in progress.
STALE_PARTIAL_AGE_S = 3600.0
TRASH_PREFIX = ".deleted-"
SOURCE_KINDS = frozenset({"generated", "derived", "imported"})
#: How long a webhook id stays taken: a signature is accepted ±5 min around its timestamp, so
#: twice that plus a margin (as the listener's in-memory default).
WEBHOOK_ID_WINDOW_S = 2 * 300.0 + 60.0

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_UPDATABLE = frozenset(
    {"status", "prompt", "parameters", "workflow", "server", "prompt_id", "error",
     "started_at", "finished_at"}
)
_GEN_COLUMNS = ("id, created_at, updated_at, status, prompt, parameters, workflow, server, "
                "prompt_id, started_at, finished_at, error")
_FILE_COLUMNS = "generation_id, kind, path, sha256, size, width, height, source"


@dataclass(frozen=True, slots=True, eq=False)
class Staged:
    """Bytes streamed into a generation's folder under a hidden temp name and verified, but not
    yet recorded: `Library.ingest` it (one rename to its visible name, no copy, no second hash),
    or `discard` it when the run they came from did not complete."""

    gen_id: str
    writer: TempWriter
    written: Written

    def discard(self) -> None:
        self.writer.discard()


class SeenWebhookIds:
    """The listener's `SeenIds` in the library (ids only), with the database off the event loop."""

    def __init__(self, library: Library, window_s: float) -> None:
        self._library = library
        self._window_s = window_s

    async def remember(self, msg_id: str) -> bool:
        return await asyncio.to_thread(self._library.remember_webhook_id, msg_id,
                                       window_s=self._window_s)

    async def forget(self, msg_id: str) -> None:
        await asyncio.to_thread(self._library.forget_webhook_id, msg_id)


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # naive times are taken to be UTC, as everything we write is
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _remove_tree(folder: Path) -> None:
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        pass
    except OSError as exc:  # a file held open elsewhere (Windows); retried at the next start
        log.warning("could not delete %s: %s", folder, describe_os_error(exc))


def _check_id(gen_id: str) -> str:
    # Ids become folder names; one from a webhook body must not be able to name "../..".
    if not isinstance(gen_id, str) or not _ID.match(gen_id) or ".." in gen_id:
        raise LibraryError(f"Invalid generation id {gen_id!r}")
    return gen_id


class Library:
    """Generations and their files on this computer. Safe to call from any thread."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._files_root = self.root / FILES_DIR
        self._lock = threading.RLock()
        try:
            self._files_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error("create the library folder", self.root, exc) from exc
        self._db_path = self.root / DB_NAME
        self._conn: sqlite3.Connection | None = self._open()
        removed = sweep_partials(self._files_root, STALE_PARTIAL_AGE_S, time.time())
        if removed:
            log.info("removed %d unfinished file(s) left by an earlier crash", removed)
        for leftover in self._files_root.glob(f"{TRASH_PREFIX}*"):
            _remove_tree(leftover)

    def _open(self) -> sqlite3.Connection:
        where = str(self._db_path)
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(
                self._db_path, isolation_level=None, check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            check_supported(conn, where)  # before WAL: switching modes would rewrite the file
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("library at %s runs in %s journal mode, not WAL", where, mode)
            # In WAL mode NORMAL never corrupts; a power cut may lose only the last few commits.
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn, where)
            return conn
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise LibraryError(f"Cannot open the library at {where}: {exc}") from exc
        except LibraryError:
            if conn is not None:
                conn.close()
            raise

    # --- plumbing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _tx(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One short transaction under the lock; SQLite errors become LibraryErrors."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise LibraryError(f"The library at {self.root} is closed")
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self._db_error(exc) from exc
                raise

    def _db_error(self, exc: sqlite3.Error) -> LibraryError:
        text = str(exc)
        if "full" in text.lower():
            text = f"the disk is full ({text})"
        return LibraryError(f"Library database {self._db_path}: {text}")

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _file_from_row(self, row: sqlite3.Row) -> OutputFile:
        return OutputFile(
            kind=MapKind(row["kind"]), path=self.root / row["path"], sha256=row["sha256"],
            size=row["size"], width=row["width"], height=row["height"], source=row["source"],
        )

    def _files_of(self, conn: sqlite3.Connection, ids: list[str]) -> dict[str, list[OutputFile]]:
        found: dict[str, list[OutputFile]] = {i: [] for i in ids}
        for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            part = ids[start:start + 500]
            rows = conn.execute(
                f"SELECT {_FILE_COLUMNS} FROM files WHERE generation_id IN "
                f"({','.join('?' * len(part))}) ORDER BY id",
                part,
            )
            for row in rows:
                found[row["generation_id"]].append(self._file_from_row(row))
        return found

    def _gens_from_rows(self, conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[Generation]:
        files = self._files_of(conn, [r["id"] for r in rows])
        return [
            Generation(
                id=r["id"], workflow=r["workflow"], server=r["server"],
                status=GenerationStatus(r["status"]), prompt=r["prompt"],
                parameters=json.loads(r["parameters"]), prompt_id=r["prompt_id"],
                error=r["error"], created_at=_dt(r["created_at"]) or utcnow(),
                updated_at=_dt(r["updated_at"]) or utcnow(), started_at=_dt(r["started_at"]),
                finished_at=_dt(r["finished_at"]), files=files[r["id"]],
            )
            for r in rows
        ]

    def _get(self, conn: sqlite3.Connection, gen_id: str) -> Generation | None:
        rows = conn.execute(
            f"SELECT {_GEN_COLUMNS} FROM generations WHERE id = ?", (gen_id,)
        ).fetchall()
        return self._gens_from_rows(conn, rows)[0] if rows else None

    def _require(self, conn: sqlite3.Connection, gen_id: str) -> None:
        if conn.execute("SELECT 1 FROM generations WHERE id = ?", (gen_id,)).fetchone() is None:
            raise LibraryError(f"No generation {gen_id} in the library")

    # --- generations --------------------------------------------------------------------------

    def add(self, gen: Generation) -> None:
        """Record a generation before any work starts, so a crash cannot lose track of it."""
        _check_id(gen.id)
        try:
            params = json.dumps(gen.parameters, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise LibraryError(f"Generation {gen.id}: parameters are not JSON: {exc}") from exc
        try:
            with self._tx() as conn:
                conn.execute(
                    f"INSERT INTO generations ({_GEN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (gen.id, _ts(gen.created_at), _ts(gen.updated_at),
                     GenerationStatus(gen.status).value, gen.prompt, params, gen.workflow,
                     gen.server, gen.prompt_id, _ts(gen.started_at), _ts(gen.finished_at),
                     gen.error),
                )
        except LibraryError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise LibraryError(f"Generation {gen.id} is already in the library") from exc
            raise

    def update(self, gen_id: str, **fields: Any) -> Generation:
        """Change some fields and bump `updated_at`.

        Moving to RUNNING stamps `started_at`, and to a final status stamps `finished_at`, unless
        given or already set.
        """
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise LibraryError(
                f"Cannot update {', '.join(sorted(unknown))} of a generation; "
                f"updatable fields: {', '.join(sorted(_UPDATABLE))}"
            )
        values: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "status":
                try:
                    value = GenerationStatus(value).value
                except ValueError:
                    raise LibraryError(f"Unknown generation status {value!r}") from None
            elif key == "parameters":
                try:
                    value = json.dumps(value, sort_keys=True)
                except (TypeError, ValueError) as exc:
                    raise LibraryError(f"Generation {gen_id}: parameters are not JSON: {exc}") \
                        from exc
            elif key in ("started_at", "finished_at"):
                value = _ts(value)
            values[key] = value
        now = _ts(utcnow())
        with self._tx() as conn:
            row = conn.execute(
                "SELECT started_at, finished_at FROM generations WHERE id = ?", (gen_id,)
            ).fetchone()
            if row is None:
                raise LibraryError(f"No generation {gen_id} in the library")
            status = GenerationStatus(values["status"]) if "status" in values else None
            if status is GenerationStatus.RUNNING and "started_at" not in values \
                    and row["started_at"] is None:
                values["started_at"] = now
            if status is not None and status.is_final and "finished_at" not in values \
                    and row["finished_at"] is None:
                values["finished_at"] = now
            values["updated_at"] = now
            assignments = ", ".join(f"{key} = ?" for key in values)
            conn.execute(
                f"UPDATE generations SET {assignments} WHERE id = ?", (*values.values(), gen_id)
            )
            gen = self._get(conn, gen_id)
        assert gen is not None
        return gen

    def get(self, gen_id: str) -> Generation | None:
        with self._tx(write=False) as conn:
            return self._get(conn, gen_id)

    @staticmethod
    def _where(status: GenerationStatus | None, search: str | None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if status is not None:
            clauses.append("status = ?")
            args.append(GenerationStatus(status).value)
        # Every word must appear somewhere: "brick moss" finds "mossy brick wall".
        for word in (search or "").split():
            pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            clauses.append(
                "(" + " OR ".join(f"{col} LIKE ? ESCAPE '\\'" for col in
                                  ("prompt", "workflow", "server", "id")) + ")"
            )
            args.extend([pattern] * 4)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def list(
        self,
        *,
        status: GenerationStatus | None = None,
        search: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Generation]:
        """Newest first. `search` matches words in the prompt, workflow, server or id."""
        where, args = self._where(status, search)
        with self._tx(write=False) as conn:
            rows = conn.execute(
                f"SELECT {_GEN_COLUMNS} FROM generations{where} "
                "ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
                (*args, max(0, limit), max(0, offset)),
            ).fetchall()
            return self._gens_from_rows(conn, rows)

    def count(self, *, status: GenerationStatus | None = None, search: str | None = None) -> int:
        where, args = self._where(status, search)
        with self._tx(write=False) as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM generations{where}", args).fetchone()[0])

    def unfinished(self) -> builtins.list[Generation]:
        """Queued and running generations, oldest first: the order to resume them after a restart."""
        with self._tx(write=False) as conn:
            rows = conn.execute(
                f"SELECT {_GEN_COLUMNS} FROM generations WHERE status IN (?, ?) "
                "ORDER BY created_at, rowid",
                (GenerationStatus.QUEUED.value, GenerationStatus.RUNNING.value),
            ).fetchall()
            return self._gens_from_rows(conn, rows)

    def delete(self, gen_id: str, *, files: bool = True) -> None:
        """Forget a generation (its file rows go with it) and, by default, delete its folder."""
        _check_id(gen_id)
        doomed: Path | None = None
        with self._tx() as conn:
            conn.execute("DELETE FROM generations WHERE id = ?", (gen_id,))
            folder = self._files_root / gen_id
            if files and folder.exists():
                # Renamed under the lock, so no store_file can put a file into it meanwhile; the
                # slow part, deleting the contents, happens after the lock is released.
                doomed = self._files_root / f"{TRASH_PREFIX}{gen_id}.{uuid.uuid4().hex[:8]}"
                try:
                    folder.rename(doomed)
                except OSError as exc:
                    raise storage_error(f"delete the files of {gen_id}", folder, exc) from exc
        if doomed is not None:
            _remove_tree(doomed)

    # --- files --------------------------------------------------------------------------------

    def files_dir(self, gen_id: str) -> Path:
        """The folder of a generation's files (created on demand)."""
        folder = self._files_root / _check_id(gen_id)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error("create a folder", self._files_root, exc) from exc
        return folder

    def find_file(self, gen_id: str, kind: MapKind, sha256: str) -> OutputFile | None:
        """The stored file with these bytes, if its file is still on disk."""
        with self._tx(write=False) as conn:
            found = self._stored(conn, gen_id, kind, sha256.lower())
        return found if found is not None and found.path.is_file() else None

    def _stored(self, conn: sqlite3.Connection, gen_id: str, kind: MapKind,
                sha256: str) -> OutputFile | None:
        """The row for these bytes of this kind, whether or not its file is still on disk."""
        row = conn.execute(
            f"SELECT {_FILE_COLUMNS} FROM files WHERE generation_id = ? AND kind = ? AND sha256 = ?",
            (gen_id, MapKind(kind).value, sha256),
        ).fetchone()
        return None if row is None else self._file_from_row(row)

    def _prepare(self, gen_id: str, kind: MapKind, source_kind: str) -> Path:
        if source_kind not in SOURCE_KINDS:
            raise LibraryError(
                f"Unknown file source {source_kind!r}; use one of {', '.join(sorted(SOURCE_KINDS))}"
            )
        MapKind(kind)
        with self._tx(write=False) as conn:
            self._require(conn, gen_id)
        return self.files_dir(gen_id)

    def store_file(
        self,
        gen_id: str,
        kind: MapKind,
        source: Path | bytes | BinaryIO | Iterable[bytes],
        filename: str,
        *,
        source_kind: str = "generated",
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> OutputFile:
        """Copy bytes into the generation's folder atomically and record them.

        Storing the same bytes twice for one (generation, kind) — the websocket and the webhook
        both reporting a completion — returns the first file and writes nothing.
        """
        folder = self._prepare(gen_id, kind, source_kind)
        if expected_sha256 and (known := self.find_file(gen_id, kind, expected_sha256)):
            return known
        name = safe_filename(filename)
        chunks: Iterable[bytes]
        if isinstance(source, (bytes, bytearray, memoryview)):
            chunks = (bytes(source),)
        elif isinstance(source, Path):
            chunks = iter_path(source)
        elif isinstance(source, str):
            raise LibraryError(f"store_file needs a Path, bytes or a stream, not the text {source!r}")
        elif hasattr(source, "read"):
            chunks = iter_file(source)  # type: ignore[arg-type]
        else:
            chunks = source
        try:
            writer, written = write_temp(
                folder, name, chunks, expected_sha256=expected_sha256, expected_size=expected_size
            )
        except FileNotFoundError as exc:
            raise LibraryError(f"Cannot store {filename}: {exc.filename} does not exist") from exc
        return self._place(gen_id, kind, writer, written, source_kind)

    async def ingest(
        self,
        gen_id: str,
        kind: MapKind,
        source: str,
        data: AsyncIterable[bytes] | bytes | Staged,
        filename: str,
        *,
        expected_size: int | None = None,
        expected_sha256: str | None = None,
    ) -> OutputFile:
        """The way a file enters the library from a run: verified, renamed once, recorded.

        `source` is the file's origin kind (`generated`, `derived`, `imported`); `data` a byte
        stream (written as it comes, never all in memory), bytes (written in a worker thread),
        or a `stage`d file. The database steps and the image header read run off the event loop.
        Bytes already stored for this (generation, kind) return the first file and write nothing.
        """
        if isinstance(data, Staged):
            if data.gen_id != gen_id:
                data.discard()
                raise LibraryError(f"{data.writer.name} was staged for {data.gen_id}, not {gen_id}")
            await asyncio.to_thread(self._prepare, gen_id, kind, source)
            return await asyncio.to_thread(self._place, gen_id, kind, data.writer, data.written,
                                           source)
        if isinstance(data, (bytes, bytearray, memoryview)):
            return await asyncio.to_thread(
                self.store_file, gen_id, kind, bytes(data), filename, source_kind=source,
                expected_sha256=expected_sha256, expected_size=expected_size)
        folder = await asyncio.to_thread(self._prepare, gen_id, kind, source)
        if expected_sha256 and (known := await asyncio.to_thread(
                self.find_file, gen_id, kind, expected_sha256)):
            return known
        writer, written = await write_temp_async(
            folder, safe_filename(filename), data,
            expected_sha256=expected_sha256, expected_size=expected_size,
        )
        return await asyncio.to_thread(self._place, gen_id, kind, writer, written, source)

    async def stage(self, gen_id: str, data: AsyncIterable[bytes], filename: str, *,
                    expected_size: int | None = None,
                    expected_sha256: str | None = None) -> Staged:
        """Stream an output into the generation's folder before its run is known to complete
        (a prefetch): nothing is recorded until it is `ingest`ed; a crash leaves a temp file
        that the start-up sweep removes."""
        folder = await asyncio.to_thread(self.files_dir, gen_id)
        writer, written = await write_temp_async(
            folder, safe_filename(filename), data,
            expected_sha256=expected_sha256, expected_size=expected_size,
        )
        return Staged(gen_id, writer, written)

    def _place(
        self, gen_id: str, kind: MapKind, writer: TempWriter, written: Written, source_kind: str
    ) -> OutputFile:
        """Rename a verified temp file to a free name and insert its row, or drop a duplicate."""
        size_wh = None if kind is MapKind.MESH else image_size(writer.temp)
        final: Path | None = None
        try:
            with self._tx() as conn:
                existing = self._stored(conn, gen_id, kind, written.sha256)
                if existing is not None:
                    if existing.path.is_file():
                        writer.discard()
                        return existing
                    # The row outlived its file (deleted by hand): put the bytes back.
                    writer.publish(existing.path)
                    return existing
                self._require(conn, gen_id)
                final = self._free_name(conn, writer.temp.parent, writer.name)
                writer.publish(final)
                conn.execute(
                    "INSERT INTO files (generation_id, kind, path, sha256, size, width, height, "
                    "source, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (gen_id, MapKind(kind).value, self._rel(final), written.sha256, written.size,
                     size_wh[0] if size_wh else None, size_wh[1] if size_wh else None,
                     source_kind, _ts(utcnow())),
                )
        except BaseException:
            writer.discard()
            if final is not None:  # the rename happened but the row did not: undo the rename
                final.unlink(missing_ok=True)
            raise
        return OutputFile(
            kind=MapKind(kind), path=final, sha256=written.sha256, size=written.size,
            width=size_wh[0] if size_wh else None, height=size_wh[1] if size_wh else None,
            source=source_kind,
        )

    def _free_name(self, conn: sqlite3.Connection, folder: Path, name: str) -> Path:
        n = 1
        while True:
            candidate = folder / numbered(name, n)
            taken_in_db = conn.execute(
                "SELECT 1 FROM files WHERE path = ?", (self._rel(candidate),)
            ).fetchone()
            if not candidate.exists() and taken_in_db is None:
                return candidate
            n += 1

    def adopt_file(
        self,
        gen_id: str,
        kind: MapKind,
        path: Path,
        *,
        source_kind: str = "generated",
        sha256: str | None = None,
        filename: str | None = None,
    ) -> OutputFile:
        """Record a file the caller already wrote atomically into `files_dir(gen_id)`.

        `sha256` (computed while streaming) saves re-reading the file. With `filename`, the file
        (e.g. a download's temp name) is renamed to that name, numbered if taken, in the same
        step as the row is written. If the same bytes are already stored for this kind, the
        adopted copy is deleted and the existing file returned.
        """
        folder = self._prepare(gen_id, kind, source_kind)
        path = Path(path)
        if path.resolve().parent != folder.resolve():
            raise LibraryError(f"{path} is not in {folder}; write it there first or use store_file")
        try:
            measured = hash_file(path) if sha256 is None else Written(sha256.lower(),
                                                                      path.stat().st_size)
        except FileNotFoundError:
            raise LibraryError(f"Cannot adopt {path}: it does not exist") from None
        except OSError as exc:
            raise storage_error(f"read {path.name}", folder, exc) from exc
        size_wh = None if kind is MapKind.MESH else image_size(path)
        path = folder / path.name
        final = path
        try:
            with self._tx() as conn:
                existing = self._stored(conn, gen_id, kind, measured.sha256)
                if existing is not None:
                    if existing.path != path:
                        path.unlink(missing_ok=True)
                    return existing
                wanted = safe_filename(filename) if filename else path.name
                if wanted != path.name:
                    final = self._free_name(conn, folder, wanted)
                    try:
                        os.replace(path, final)
                    except OSError as exc:
                        final = path
                        raise storage_error(f"rename {path.name}", folder, exc) from exc
                conn.execute(
                    "INSERT INTO files (generation_id, kind, path, sha256, size, width, height, "
                    "source, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (gen_id, MapKind(kind).value, self._rel(final), measured.sha256,
                     measured.size, size_wh[0] if size_wh else None,
                     size_wh[1] if size_wh else None, source_kind, _ts(utcnow())),
                )
        except BaseException:
            if final != path:  # renamed but not recorded: give the caller its file back
                with contextlib.suppress(OSError):
                    os.replace(final, path)
            raise
        return OutputFile(
            kind=MapKind(kind), path=final, sha256=measured.sha256, size=measured.size,
            width=size_wh[0] if size_wh else None, height=size_wh[1] if size_wh else None,
            source=source_kind,
        )

    # --- webhooks -----------------------------------------------------------------------------

    def remember_webhook_id(self, webhook_id: str, *,
                            window_s: float = WEBHOOK_ID_WINDOW_S) -> bool:
        """Take a delivery's id; False if it was taken within `window_s` (a replay or a resend of
        a delivery already stored). Ids older than the window are dropped in the same step."""
        now = utcnow()
        with self._tx() as conn:
            conn.execute("DELETE FROM webhook_ids WHERE received_at < ?",
                         (_ts(now - timedelta(seconds=window_s)),))
            cursor = conn.execute(
                "INSERT OR IGNORE INTO webhook_ids (webhook_id, received_at) VALUES (?,?)",
                (webhook_id, _ts(now)))
            return cursor.rowcount == 1

    def forget_webhook_id(self, webhook_id: str) -> None:
        """Give an id back: its delivery was not stored, so the sender's resend must be taken."""
        with self._tx() as conn:
            conn.execute("DELETE FROM webhook_ids WHERE webhook_id = ?", (webhook_id,))

    def prune_webhook_ids(self, before: datetime) -> int:
        """Drop ids taken before `before`; returns how many."""
        with self._tx() as conn:
            return conn.execute(
                "DELETE FROM webhook_ids WHERE received_at < ?", (_ts(before),)
            ).rowcount

    def seen_webhook_ids(self, window_s: float = WEBHOOK_ID_WINDOW_S) -> SeenWebhookIds:
        """The webhook listener's replay set, kept here so that it survives a restart."""
        return SeenWebhookIds(self, window_s)

    # --- export and lifetime ------------------------------------------------------------------

    def export(
        self, gen_id: str, dest: Path, *, preset: str = "generic", name: str | None = None
    ) -> builtins.list[Path]:
        """Copy a generation's files into `dest` named for a tool (see `export.PRESETS`).

        `name` defaults to the first words of the prompt, or the id's start if there is none.
        """
        gen = self.get(gen_id)
        if gen is None:
            raise LibraryError(f"No generation {gen_id} in the library")
        if not gen.files:
            raise LibraryError(f"Generation {gen_id} has no files to export")
        if not name:
            words = re.findall(r"[A-Za-z0-9]+", gen.prompt)[:4]
            name = "_".join(words) if words else f"automata_{gen_id[:8]}"
        return export_files(gen.files, Path(dest), name, preset,
                            normal_convention=normal_convention(gen.parameters.get("normal_convention")))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA optimize")
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
