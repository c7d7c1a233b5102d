"""The local library: generations in SQLite, their files in folders beside it.

    <root>/library.sqlite3          generations, files, webhook ids (WAL mode)
    <root>/files/<generation id>/   the files of one generation, paths in the DB relative to <root>

One SQLite connection, opened on and used by one database thread that the `Library` owns. Every
public method may be called from any thread: it runs on that thread and waits for it (the GUI's
thread pool, the sync thread and the CLI call it so); `AsyncLibrary` awaits the same thread from the
event loop instead. Each call is one short transaction, and because one thread runs them in turn,
"pick a free file name, rename into place, insert the row" is one atomic step without a lock.
Writing and hashing a file's bytes happen before, on the caller's side, so a 4K map being written
never holds up a list refresh or a status update.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Concatenate, ParamSpec, TypeVar

from automata_desktop.core.generation import Generation, GenerationStatus, OutputFile, utcnow
from automata_desktop.core.map_packing import normal_convention
from automata_desktop.core.maps import MapKind
from automata_desktop.errors import LibraryError
from automata_desktop.library.export import export_files
from automata_desktop.library.files import (
    Digested,
    TempWriter,
    Written,
    describe_os_error,
    image_size,
    iter_file,
    iter_path,
    numbered,
    safe_filename,
    storage_error,
    sweep_partials,
    write_temp,
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

P = ParamSpec("P")
R = TypeVar("R")
#: What `Library.ingest` takes from a thread: bytes (`Digested` when their sha256 is known), a
#: file, a binary stream, chunks, or a `Staged` file (`AsyncLibrary.stage`).
Source = bytes | Digested | Path | BinaryIO | Iterable[bytes]


@dataclass(frozen=True, slots=True, eq=False)
class Staged:
    """Bytes streamed into a generation's folder under a hidden temp name and verified, but not
    yet recorded: `ingest` it (one rename to its visible name, no copy, no second hash),
    or `discard` it when the run they came from did not complete."""

    gen_id: str
    writer: TempWriter
    written: Written

    def discard(self) -> None:
        self.writer.discard()


@dataclass(frozen=True, slots=True)
class Submission:
    """What was sent for a generation, kept so it can be sent again when the server loses it.

    `graph` is the bound prompt as queued (never a secret in it: the webhook node signs with a
    key of its own); `inputs` maps an input parameter (`image`, `mesh`) to the local file it was
    uploaded from, since a restarted server may have lost its input folder too; `lost` lists the
    prompt ids the server lost so far, oldest first (the generation's row holds the current one).
    """

    graph: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)
    lost: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PoolRequest:
    """What a generation for several servers was asked with, kept until it ends: its servers
    (one when the workflow is pinned), the local files to upload wherever it lands, whether it
    went ahead of the queue, and its own timeout (None: the app's)."""

    servers: tuple[str, ...]
    inputs: dict[str, str] = field(default_factory=dict)
    front: bool = False
    timeout_s: float | None = None


class SeenWebhookIds:
    """The listener's `SeenIds` in the library (ids only), awaited on the database thread."""

    def __init__(self, library: Library, window_s: float) -> None:
        self._library = library
        self._window_s = window_s

    async def remember(self, msg_id: str) -> bool:
        return await asyncio.wrap_future(self._library.submit(
            self._library.remember_webhook_id, msg_id, window_s=self._window_s))

    async def forget(self, msg_id: str) -> None:
        await asyncio.wrap_future(self._library.submit(self._library.forget_webhook_id, msg_id))


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


def _on_db_thread(
    method: Callable[Concatenate[Library, P], R],
) -> Callable[Concatenate[Library, P], R]:
    """Run the method on the library's database thread and wait (inline when already there)."""

    @functools.wraps(method)
    def run(self: Library, *args: P.args, **kwargs: P.kwargs) -> R:
        if threading.get_ident() == self._db_ident:
            return method(self, *args, **kwargs)
        return self.submit(method, self, *args, **kwargs).result()

    return run


def _check_id(gen_id: str) -> str:
    # Ids become folder names; one from a webhook body must not be able to name "../..".
    if not isinstance(gen_id, str) or not _ID.match(gen_id) or ".." in gen_id:
        raise LibraryError(f"Invalid generation id {gen_id!r}")
    return gen_id


class Library:
    """Generations and their files on this computer. Safe to call from any thread; each call runs
    on the library's own database thread and waits for it, so from the event loop use
    `AsyncLibrary`, which awaits instead."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._files_root = self.root / FILES_DIR
        try:
            self._files_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error("create the library folder", self.root, exc) from exc
        self._db_path = self.root / DB_NAME
        # One worker, kept for the library's lifetime: the connection is opened on it and
        # `check_same_thread` stays on, so SQLite itself refuses any other thread.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="library-db")
        self._db_ident = self._executor.submit(threading.get_ident).result()
        try:
            self._conn: sqlite3.Connection | None = self._executor.submit(self._open).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            raise
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
                self._db_path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
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

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        """Run `fn` on the database thread, after every call submitted before it."""
        try:
            return self._executor.submit(fn, *args, **kwargs)
        except RuntimeError:  # the executor is shut down
            raise LibraryError(f"The library at {self.root} is closed") from None

    @contextlib.contextmanager
    def _tx(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One short transaction on the database thread; SQLite errors become LibraryErrors."""
        assert threading.get_ident() == self._db_ident, "SQLite runs on the database thread only"
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

    @_on_db_thread
    def add(self, gen: Generation, *, submission: Submission | None = None,
            pool_request: PoolRequest | None = None) -> None:
        """Record a generation before any work starts, so a crash cannot lose track of it; with
        what is sent for it (or, for several servers, what it was asked with), in the same
        transaction, so it can be resubmitted, or queued again, after a restart."""
        _check_id(gen.id)
        try:
            params = json.dumps(gen.parameters, sort_keys=True)
            sent = None if submission is None else (
                json.dumps(submission.graph, sort_keys=True),
                json.dumps(submission.inputs, sort_keys=True), json.dumps([*submission.lost]))
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
                if sent is not None:
                    conn.execute("INSERT INTO submissions (generation_id, graph, inputs, "
                                 "lost_prompt_ids) VALUES (?,?,?,?)", (gen.id, *sent))
                if pool_request is not None:
                    conn.execute(
                        "INSERT INTO pool_requests (generation_id, servers, inputs, front, "
                        "timeout_s) VALUES (?,?,?,?,?)",
                        (gen.id, json.dumps([*pool_request.servers]),
                         json.dumps(pool_request.inputs, sort_keys=True),
                         int(pool_request.front), pool_request.timeout_s))
        except LibraryError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise LibraryError(f"Generation {gen.id} is already in the library") from exc
            raise

    @_on_db_thread
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

    @_on_db_thread
    def submission(self, gen_id: str) -> Submission | None:
        """What was sent for a generation (None for one recorded without it, or pulled)."""
        with self._tx(write=False) as conn:
            row = conn.execute("SELECT graph, inputs, lost_prompt_ids FROM submissions "
                               "WHERE generation_id = ?", (gen_id,)).fetchone()
        if row is None:
            return None
        return Submission(json.loads(row["graph"]), json.loads(row["inputs"]),
                          tuple(json.loads(row["lost_prompt_ids"])))

    @_on_db_thread
    def pool_request(self, gen_id: str) -> PoolRequest | None:
        """What a generation for several servers was asked with (None for any other)."""
        with self._tx(write=False) as conn:
            row = conn.execute("SELECT servers, inputs, front, timeout_s FROM pool_requests "
                               "WHERE generation_id = ?", (gen_id,)).fetchone()
        if row is None:
            return None
        return PoolRequest(tuple(json.loads(row["servers"])), json.loads(row["inputs"]),
                           bool(row["front"]), row["timeout_s"])

    @_on_db_thread
    def record_run_time(self, server: str, workflow: str, seconds: float) -> None:
        """How long a run of `workflow` takes on `server`, as the router now reckons it."""
        with self._tx() as conn:
            conn.execute("INSERT INTO run_times (server, workflow, seconds) VALUES (?, ?, ?) "
                         "ON CONFLICT (server, workflow) DO UPDATE SET seconds = excluded.seconds",
                         (server, workflow, float(seconds)))

    @_on_db_thread
    def run_times(self) -> dict[str, dict[str, float]]:
        """server -> workflow -> seconds, as `record_run_time` left them."""
        out: dict[str, dict[str, float]] = {}
        with self._tx(write=False) as conn:
            for row in conn.execute("SELECT server, workflow, seconds FROM run_times"):
                out.setdefault(row["server"], {})[row["workflow"]] = row["seconds"]
        return out

    @_on_db_thread
    def place(self, gen_id: str, server: str, prompt_id: str | None,
              submission: Submission | None = None) -> Generation:
        """A waiting generation goes to `server` as `prompt_id` (or back to waiting, both None),
        with what is sent for it: one transaction, so a crash leaves one or the other."""
        now = _ts(utcnow())
        with self._tx() as conn:
            conn.execute("UPDATE generations SET server = ?, prompt_id = ?, status = ?, "
                         "updated_at = ? WHERE id = ?",
                         (server, prompt_id, GenerationStatus.QUEUED.value, now, gen_id))
            if submission is not None:
                conn.execute(
                    "INSERT INTO submissions (generation_id, graph, inputs) VALUES (?, ?, ?) "
                    "ON CONFLICT (generation_id) DO UPDATE SET graph = excluded.graph, "
                    "inputs = excluded.inputs",
                    (gen_id, json.dumps(submission.graph), json.dumps(submission.inputs)))
            gen = self._get(conn, gen_id)
        if gen is None:
            raise LibraryError(f"No generation {gen_id} in the library")
        return gen

    @_on_db_thread
    def record_resubmission(self, gen_id: str, lost_prompt_id: str, prompt_id: str) -> Generation:
        """The server lost `lost_prompt_id`; the generation is queued again as `prompt_id`. One
        transaction: a crash leaves either the old prompt id or the new one with its history.
        A generation that has ended meanwhile (cancelled) is left as it is."""
        now = _ts(utcnow())
        with self._tx() as conn:
            row = conn.execute(
                "SELECT s.lost_prompt_ids, g.status FROM submissions s JOIN generations g "
                "ON g.id = s.generation_id WHERE s.generation_id = ?", (gen_id,)).fetchone()
            if row is None:
                raise LibraryError(f"No submission of generation {gen_id} in the library")
            if not GenerationStatus(row["status"]).is_final:
                lost = [*json.loads(row["lost_prompt_ids"]), lost_prompt_id]
                conn.execute("UPDATE submissions SET lost_prompt_ids = ? WHERE generation_id = ?",
                             (json.dumps(lost), gen_id))
                conn.execute("UPDATE generations SET prompt_id = ?, status = ?, updated_at = ? "
                             "WHERE id = ?",
                             (prompt_id, GenerationStatus.QUEUED.value, now, gen_id))
            gen = self._get(conn, gen_id)
        assert gen is not None
        return gen

    @_on_db_thread
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

    @_on_db_thread
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

    @_on_db_thread
    def count(self, *, status: GenerationStatus | None = None, search: str | None = None) -> int:
        where, args = self._where(status, search)
        with self._tx(write=False) as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM generations{where}", args).fetchone()[0])

    @_on_db_thread
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
        doomed = self._forget(gen_id, files)
        if doomed is not None:  # the slow part, on the caller's thread
            _remove_tree(doomed)

    @_on_db_thread
    def _forget(self, gen_id: str, files: bool) -> Path | None:
        """Drop the row and move the folder aside in one step: no ingest can put a file into it
        meanwhile. Returns the moved folder, to be deleted off the database thread."""
        _check_id(gen_id)
        doomed: Path | None = None
        with self._tx() as conn:
            conn.execute("DELETE FROM generations WHERE id = ?", (gen_id,))
            folder = self._files_root / gen_id
            if files and folder.exists():
                doomed = self._files_root / f"{TRASH_PREFIX}{gen_id}.{uuid.uuid4().hex[:8]}"
                try:
                    folder.rename(doomed)
                except OSError as exc:
                    raise storage_error(f"delete the files of {gen_id}", folder, exc) from exc
        return doomed

    # --- files --------------------------------------------------------------------------------

    def files_dir(self, gen_id: str) -> Path:
        """The folder of a generation's files (created on demand)."""
        folder = self._files_root / _check_id(gen_id)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error("create a folder", self._files_root, exc) from exc
        return folder

    @_on_db_thread
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

    @_on_db_thread
    def _prepare(self, gen_id: str, kind: MapKind, source_kind: str) -> Path:
        if source_kind not in SOURCE_KINDS:
            raise LibraryError(
                f"Unknown file source {source_kind!r}; use one of {', '.join(sorted(SOURCE_KINDS))}"
            )
        MapKind(kind)
        with self._tx(write=False) as conn:
            self._require(conn, gen_id)
        return self.files_dir(gen_id)

    def ingest(
        self,
        gen_id: str,
        kind: MapKind,
        source: str,
        data: Source | Staged,
        filename: str,
        *,
        expected_size: int | None = None,
        expected_sha256: str | None = None,
    ) -> OutputFile:
        """The one way a file enters the library: verified, renamed once, recorded.

        `source` is the file's origin kind (`generated`, `derived`, `imported`); `data` bytes
        (`Digested` when their sha256 is already known), a `Path` to copy, a binary stream, an
        iterable of chunks, or a `Staged` file. The bytes are written and hashed on the calling
        thread; only the rename and the row go to the database thread. Bytes already stored for
        this (generation, kind) — the websocket and the webhook both reporting a completion —
        return the first file and write nothing. From the event loop, `AsyncLibrary.ingest`.
        """
        kind = MapKind(kind)
        if isinstance(data, Staged):
            if data.gen_id != gen_id:
                data.discard()
                raise LibraryError(f"{data.writer.name} was staged for {data.gen_id}, not {gen_id}")
            try:
                self._prepare(gen_id, kind, source)
            except BaseException:
                data.discard()
                raise
            return self._settle(gen_id, kind, data.writer, data.written, source)
        folder = self._prepare(gen_id, kind, source)
        if expected_sha256 and (known := self.find_file(gen_id, kind, expected_sha256)):
            return known
        writer, written = _write(folder, filename, data, expected_sha256=expected_sha256,
                                 expected_size=expected_size)
        return self._settle(gen_id, kind, writer, written, source)

    def _settle(self, gen_id: str, kind: MapKind, writer: TempWriter, written: Written,
                source_kind: str) -> OutputFile:
        """Read the image header here (Pillow may load), then rename and record on the DB thread."""
        size_wh = None if kind is MapKind.MESH else image_size(writer.temp)
        return self._place(gen_id, kind, writer, written, source_kind, size_wh)

    @_on_db_thread
    def _place(
        self, gen_id: str, kind: MapKind, writer: TempWriter, written: Written, source_kind: str,
        size_wh: tuple[int, int] | None,
    ) -> OutputFile:
        """Rename a verified temp file to a free name and insert its row, or drop a duplicate."""
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
                twin = self._twin(conn, written.sha256, written.size)
                if twin is not None and _hard_link(twin, final):
                    writer.discard()  # the same bytes are on disk already: one copy, two names
                else:
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

    def _twin(self, conn: sqlite3.Connection, sha256: str, size: int) -> Path | None:
        """A stored file with exactly these bytes (any generation), if one is still on disk."""
        for (rel,) in conn.execute("SELECT path FROM files WHERE sha256 = ? AND size = ?",
                                   (sha256, size)):
            path = self.root / rel
            if path.is_file():
                return path
        return None

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

    # --- webhooks -----------------------------------------------------------------------------

    @_on_db_thread
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

    @_on_db_thread
    def forget_webhook_id(self, webhook_id: str) -> None:
        """Give an id back: its delivery was not stored, so the sender's resend must be taken."""
        with self._tx() as conn:
            conn.execute("DELETE FROM webhook_ids WHERE webhook_id = ?", (webhook_id,))

    @_on_db_thread
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
        """Close the connection on its thread, then end the thread; calls after this raise."""
        with contextlib.suppress(LibraryError):  # already closed
            self.submit(self._close_connection).result()
        self._executor.shutdown(wait=True)

    def _close_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA optimize")
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write(folder: Path, filename: str, data: Source, *, expected_sha256: str | None,
           expected_size: int | None) -> tuple[TempWriter, Written]:
    """Stream any `Source` into a verified temp file in `folder` (on the calling thread)."""
    known: str | None = None
    if isinstance(data, Digested):
        data, known = data.data, data.sha256
    chunks: Iterable[bytes]
    if isinstance(data, (bytes, bytearray, memoryview)):
        chunks = (bytes(data),)
    elif isinstance(data, Path):
        chunks = iter_path(data)
    elif isinstance(data, str):
        raise LibraryError(f"ingest needs a Path, bytes or a stream, not the text {data!r}")
    elif hasattr(data, "read"):
        chunks = iter_file(data)
    else:
        chunks = data
    try:
        return write_temp(folder, safe_filename(filename), chunks, expected_sha256=expected_sha256,
                          expected_size=expected_size, known_sha256=known)
    except FileNotFoundError as exc:
        raise LibraryError(f"Cannot store {filename}: {exc.filename} does not exist") from exc


def _hard_link(existing: Path, new: Path) -> bool:
    """Give `existing`'s bytes a second name; False where the file system cannot (FAT, another
    volume), and the caller writes its own copy. Deleting either name leaves the other whole,
    and every writer replaces files by rename, so a linked file is never changed in place."""
    try:
        os.link(existing, new)
    except OSError:
        return False
    return True
