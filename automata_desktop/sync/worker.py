"""Pushes outbox items to Supabase: files to Storage first, then the row (idempotent on id).

Files go to `<bucket>/<user id>/<generation id>/<map>.<ext>` with their sha256 in the object's
user metadata; a file whose remote sha256 already matches is not sent again, so re-pushing, or
resuming a push that died after some files, uploads only what is missing. (The very first push
of a generation skips that check: the outbox knows nothing of it can be remote yet.) The row is written
last, so another device never sees a row whose files are not there yet.
Deletes become tombstones (`deleted_at`) so other devices learn of them; the files are removed.
Being offline is a normal state: the item backs off and the drain stops quietly.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from postgrest.types import ReturnMethod
from storage3.exceptions import StorageApiError

from automata_desktop.core.generation import Generation, OutputFile
from automata_desktop.sync.auth import SyncAuth
from automata_desktop.sync.errors import AuthError, SyncError
from automata_desktop.sync.failures import describe, is_offline
from automata_desktop.sync.outbox import OFFLINE_PREFIX, Outbox, OutboxItem, OutboxKind
from automata_desktop.sync.rows import (
    TABLE,
    RemoteFile,
    check_generation_id,
    content_type,
    generation_row,
    object_keys,
)

log = logging.getLogger(__name__)

#: Files of one generation uploading at once. The worker alone sends one at a time; the app
#: (SyncRunner) uses APP_MAX_CONCURRENCY, measured in bench/sync.py.
DEFAULT_MAX_CONCURRENCY = 1
APP_MAX_CONCURRENCY = 4


class GenerationSource(Protocol):
    """What the worker needs from the local library."""

    def get_generation(self, generation_id: str) -> Generation | None: ...


@dataclass
class DrainReport:
    pushed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    uploaded: int = 0
    skipped_files: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    offline: bool = False
    signed_out: bool = False


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class SyncWorker:
    def __init__(self, auth: SyncAuth, outbox: Outbox, library: GenerationSource, *,
                 max_concurrency: int = DEFAULT_MAX_CONCURRENCY) -> None:
        """`max_concurrency`: how many files of one generation upload at once."""
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.auth = auth
        self.outbox = outbox
        self.library = library
        self.max_concurrency = max_concurrency
        self._offline = False

    @property
    def offline(self) -> bool:
        return self._offline

    def run_pending(self) -> DrainReport:
        """Work through every due item; never raises for network or server trouble."""
        report = DrainReport()
        while (item := self.outbox.claim()) is not None:
            try:
                account = self.auth.access_account()
                if item.kind is OutboxKind.DELETE:
                    self._delete(account.user_id, item.generation_id)
                    report.deleted.append(item.generation_id)
                else:
                    self._push(account.user_id, item.generation_id, report)
                    report.pushed.append(item.generation_id)
            except AuthError as exc:
                # Not an item problem: keep it as it is until someone signs in.
                self.outbox.release(item)
                report.signed_out = True
                log.info("Sync paused: %s", exc)
                return report
            except Exception as exc:
                if is_offline(exc):
                    self._mark_offline(item, exc)
                    report.offline = True
                    return report
                report.failed[item.generation_id] = self._fail(item, exc)
                continue
            self.outbox.ack(item)
            self._mark_online()
        return report

    # push / delete

    def _push(self, user_id: str, generation_id: str, report: DrainReport) -> None:
        generation = self.library.get_generation(generation_id)
        if generation is None:
            log.info("Generation %s is no longer in the library; nothing to push", generation_id)
            return
        check_generation_id(generation.id)
        bucket = self.auth.client.storage.from_(self.auth.settings.bucket)
        planned: list[tuple[OutputFile, str, Path]] = []
        for output, key in object_keys(user_id, generation):
            path = Path(output.path)
            if not path.is_file():
                raise SyncError(f"{path} of generation {generation.id} is missing on disk")
            planned.append((output, key, path))
        # A generation never pushed before has nothing in Storage: one request per file saved.
        fresh = self.outbox.begin_push(generation.id)

        def send(output: OutputFile, key: str, path: Path) -> tuple[RemoteFile, bool]:
            sha = output.sha256 or sha256_file(path)
            ctype = content_type(path)
            sent = fresh or self._remote_sha(bucket, key) != sha
            if sent:
                bucket.upload(key, path, {"content-type": ctype, "upsert": "true",
                                          "metadata": {"sha256": sha}})
            return RemoteFile(output.kind, key, sha, output.size or path.stat().st_size,
                              output.width, output.height, ctype), sent

        workers = min(self.max_concurrency, len(planned))
        if workers <= 1:
            results = [send(*plan) for plan in planned]
        else:
            # Bounded: a whole texture set at once would saturate a slow uplink and the
            # server; the first failure (offline or refused) is raised after all settle.
            with ThreadPoolExecutor(workers, thread_name_prefix="supabase-upload") as pool:
                futures = [pool.submit(send, *plan) for plan in planned]
                wait(futures)
            results = [f.result() for f in futures]
        for _, sent in results:
            if sent:
                report.uploaded += 1
            else:
                report.skipped_files += 1
        row = generation_row(generation, user_id, [remote for remote, _ in results])
        self.auth.client.table(TABLE).upsert(row, on_conflict="id",
                                             returning=ReturnMethod.minimal).execute()

    @staticmethod
    def _remote_sha(bucket: object, key: str) -> str | None:
        try:
            info = bucket.info(key)  # type: ignore[attr-defined]
        except StorageApiError as exc:
            if str(exc.status) in {"404", "400"} and exc.code in {"not_found", "NoSuchKey"}:
                return None
            raise
        metadata = info.get("metadata") if isinstance(info, dict) else None
        return metadata.get("sha256") if isinstance(metadata, dict) else None

    def _delete(self, user_id: str, generation_id: str) -> None:
        generation_id = check_generation_id(generation_id)
        now = datetime.now(UTC).isoformat()
        self.auth.client.table(TABLE).update({"deleted_at": now, "files": []}).eq(
            "id", generation_id).execute()
        bucket = self.auth.client.storage.from_(self.auth.settings.bucket)
        folder = f"{user_id}/{generation_id}"
        names = [e["name"] for e in bucket.list(folder) if e.get("id")]
        if names:
            bucket.remove([f"{folder}/{name}" for name in names])

    # bookkeeping

    def _fail(self, item: OutboxItem, exc: Exception) -> str:
        message = describe(exc)
        delay = self.outbox.fail(item, message)
        log.warning("Sync of generation %s failed (attempt %d, retry in %.0f s): %s",
                    item.generation_id, item.attempts + 1, delay, message)
        return message

    def _mark_offline(self, item: OutboxItem, exc: Exception) -> None:
        delay = self.outbox.fail(item, f"{OFFLINE_PREFIX}{describe(exc)}")
        self.outbox.postpone_all(delay)
        if not self._offline:
            log.info("Supabase unreachable (%s); sync resumes when it is back (next try in "
                     "%.0f s)", describe(exc), delay)
        self._offline = True

    def _mark_online(self) -> None:
        if self._offline:
            log.info("Supabase reachable again; sync resumed")
        self._offline = False
