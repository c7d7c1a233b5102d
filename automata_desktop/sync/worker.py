"""Pushes outbox items to Supabase: files to Storage first, then the row (idempotent on id).

Files go to `<bucket>/<user id>/<generation id>/<map>.<sha256[:16]>.<ext>` (rows.object_keys):
a changed map is a new object, so Supabase's CDN never serves a stale copy of it, and the
object the row pointed at before is removed once the row points at the new one. The sha256 is
also in the object's user metadata; a file whose object already holds those bytes is not sent
again, so re-pushing, or resuming a push that died after some files, uploads only what is
missing. (The very first push of a generation skips that check: the outbox knows nothing of it
can be remote yet; a re-push trusts the row it replaces for the files it already lists.)
Files over 6 MB go up resumably (resumable.py). The row is written last, so another device
never sees a row whose files are not there yet.

A file larger than the project's upload limit (the setting, or what a 413 taught: the limit
is below the size it refused) stays on this computer: the row lists it without a path
(rows.RemoteFile), the other files go up, and the delivery says which file and why.
Deletes become tombstones (`deleted_at`) so other devices learn of them; the files are removed.
Being offline, or Supabase asking to wait (429, 503, 504; `Retry-After` honoured), is a normal
state: the item backs off, nothing counts as failed, and the drain stops quietly.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from postgrest.types import ReturnMethod
from storage3.exceptions import StorageApiError

from automata_desktop.core.checksum import sha256_file
from automata_desktop.core.generation import Generation, OutputFile
from automata_desktop.sync.auth import SyncAuth
from automata_desktop.sync.errors import AuthError, SyncError
from automata_desktop.sync.failures import (
    describe,
    is_busy,
    is_too_large,
    is_unreachable,
    retry_after,
    watch_responses,
)
from automata_desktop.sync.outbox import BUSY_PREFIX, OFFLINE_PREFIX, Outbox, OutboxItem, OutboxKind
from automata_desktop.sync.resumable import TUS_THRESHOLD, ResumableUploader
from automata_desktop.sync.rows import (
    TABLE,
    TOO_LARGE,
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
#: Outbox state: the smallest size Storage refused as too large, under which upload limit.
_REFUSED_KEY = "storage.refused_size"


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
    #: Pushed generations with files that stay on this computer: which and why.
    local_only: dict[str, str] = field(default_factory=dict)
    offline: bool = False
    #: Supabase asked to wait (rate limit, overload); the rest waits with it.
    busy: bool = False
    signed_out: bool = False


def _mb(size: int) -> str:
    mb = size / (1024 * 1024)
    return f"{mb:.1f} MB" if mb < 10 else f"{mb:.0f} MB"


@dataclass(frozen=True, slots=True)
class _Plan:
    output: OutputFile
    key: str
    path: Path
    sha256: str
    size: int
    content_type: str

    def remote(self, *, local_only: str | None = None) -> RemoteFile:
        return RemoteFile(self.output.kind, "" if local_only else self.key, self.sha256,
                          self.size, self.output.width, self.output.height, self.content_type,
                          local_only)


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
        self._busy = False
        http = auth.client.options.httpx_client
        if http is None:  # SyncAuth always hands the client one
            raise SyncError("The Supabase client was built without an httpx client")
        watch_responses(http)  # PostgREST's 429/503 are known only by their HTTP status
        self._resumable = ResumableUploader(http, str(auth.client.storage_url),
                                            self._auth_headers, outbox)

    @property
    def offline(self) -> bool:
        return self._offline

    def run_pending(self) -> DrainReport:
        """Work through every due item; never raises for network or server trouble."""
        report = DrainReport()
        while (item := self.outbox.claim()) is not None:
            local_only: str | None = None
            try:
                account = self.auth.access_account()
                if item.kind is OutboxKind.DELETE:
                    self._delete(account.user_id, item.generation_id)
                    report.deleted.append(item.generation_id)
                else:
                    local_only = self._push(account.user_id, item.generation_id, report)
                    report.pushed.append(item.generation_id)
            except AuthError as exc:
                # Not an item problem: keep it as it is until someone signs in.
                self.outbox.release(item)
                report.signed_out = True
                log.info("Sync paused: %s", exc)
                return report
            except Exception as exc:
                if is_busy(exc):
                    self._mark_busy(item, exc)
                    report.busy = True
                    return report
                if is_unreachable(exc):
                    self._mark_offline(item, exc)
                    report.offline = True
                    return report
                report.failed[item.generation_id] = self._fail(item, exc)
                continue
            if local_only:
                report.local_only[item.generation_id] = local_only
            self.outbox.ack(item, local_only=local_only)
            self._mark_online()
        return report

    # push / delete

    def _push(self, user_id: str, generation_id: str, report: DrainReport) -> str | None:
        """Push one generation; returns what of it stays local only (None: everything went)."""
        generation = self.library.get_generation(generation_id)
        if generation is None:
            log.info("Generation %s is no longer in the library; nothing to push", generation_id)
            return None
        check_generation_id(generation.id)
        bucket = self.auth.client.storage.from_(self.auth.settings.bucket)
        for output in generation.files:
            if not Path(output.path).is_file():
                raise SyncError(f"{output.path} of generation {generation.id} is missing on disk")
        digests = [output.sha256 or sha256_file(Path(output.path)).sha256 for output in generation.files]
        planned = [_Plan(output, key, Path(output.path), sha, Path(output.path).stat().st_size,
                         content_type(Path(output.path)))
                   for (output, key), sha in zip(object_keys(user_id, generation, digests),
                                                 digests, strict=True)]
        # A generation never pushed before has nothing in Storage: one request per file saved.
        fresh = self.outbox.begin_push(generation.id)
        previous = {} if fresh else self._remote_files(generation.id)

        def send(plan: _Plan) -> tuple[RemoteFile, str, str | None]:
            """(what the row lists, "sent" / "skipped" / "kept", why it is kept)."""
            too_large = self._too_large(plan)
            if too_large:
                return plan.remote(local_only=TOO_LARGE), "kept", too_large
            known = previous.get(plan.key)
            if not fresh and ((known is not None and known.sha256 == plan.sha256)
                              or self._remote_sha(bucket, plan.key) == plan.sha256):
                return plan.remote(), "skipped", None
            try:
                self._upload(bucket, plan)
            except Exception as exc:
                if not is_too_large(exc):
                    raise
                return plan.remote(local_only=TOO_LARGE), "kept", self._refused(plan)
            return plan.remote(), "sent", None

        workers = min(self.max_concurrency, len(planned))
        if workers <= 1:
            results = [send(plan) for plan in planned]
        else:
            # Bounded: a whole texture set at once would saturate a slow uplink and the
            # server; the first failure (offline or refused) is raised after all settle.
            with ThreadPoolExecutor(workers, thread_name_prefix="supabase-upload") as pool:
                futures = [pool.submit(send, plan) for plan in planned]
                wait(futures)
            results = [f.result() for f in futures]
        for _, outcome, _ in results:
            if outcome == "sent":
                report.uploaded += 1
            elif outcome == "skipped":
                report.skipped_files += 1
        remotes = [remote for remote, _, _ in results]
        row = generation_row(generation, user_id, remotes)
        self.auth.client.table(TABLE).upsert(row, on_conflict="id",
                                             returning=ReturnMethod.minimal).execute()
        self._remove_replaced(bucket, previous, {r.path for r in remotes if r.path})
        kept = [why for _, _, why in results if why]
        for why in kept:
            log.warning("Generation %s: %s", generation.id, why)
        return "; ".join(kept) or None

    def _upload(self, bucket: object, plan: _Plan) -> None:
        if plan.size > TUS_THRESHOLD:
            self._resumable.upload(self.auth.settings.bucket, plan.key, plan.path,
                                   size=plan.size, sha256=plan.sha256,
                                   content_type=plan.content_type)
            return
        bucket.upload(plan.key, plan.path, {  # type: ignore[attr-defined]
            "content-type": plan.content_type, "upsert": "true",
            "metadata": {"sha256": plan.sha256}})

    def _auth_headers(self) -> dict[str, str]:
        session = self.auth.client.auth.get_session()  # refreshes a token about to expire
        if session is None:
            raise AuthError("Not signed in to Supabase; sign in to sync your library")
        return {"Authorization": f"Bearer {session.access_token}",
                "apikey": self.auth.settings.anon_key}

    # the upload limit

    def _too_large(self, plan: _Plan) -> str | None:
        """Why `plan` cannot go up (None if it may): over the setting, or at least as large
        as a file Storage refused under this setting."""
        limit = self.auth.settings.upload_limit
        if plan.size > limit:
            return self._kept_message(plan, _mb(limit))
        refused = self._refused_size()
        if refused is not None and plan.size >= refused:
            return self._kept_message(plan, f"under {_mb(refused)}")
        return None

    def _refused(self, plan: _Plan) -> str:
        """Storage said 413: its limit is below this size; remember it for the next files."""
        refused = self._refused_size()
        if refused is None or plan.size < refused:
            self.outbox.set_state(_REFUSED_KEY, json.dumps(
                {"setting": self.auth.settings.upload_limit, "size": plan.size}))
        return self._kept_message(plan, f"under {_mb(plan.size)}")

    def _refused_size(self) -> int | None:
        raw = self.outbox.get_state(_REFUSED_KEY)
        if not raw:
            return None
        learned = json.loads(raw)
        # Learned under another setting: the user raised (or lowered) the limit since.
        if learned.get("setting") != self.auth.settings.upload_limit:
            return None
        return int(learned["size"])

    @staticmethod
    def _kept_message(plan: _Plan, limit: str) -> str:
        return (f"{plan.path.name} ({_mb(plan.size)}) is larger than your Supabase project's "
                f"upload limit ({limit}); it stays on this computer")

    # what is in the cloud already

    def _remote_files(self, generation_id: str) -> dict[str, RemoteFile]:
        """The files the row in Supabase lists now, by key (none if there is no row)."""
        rows = self.auth.client.table(TABLE).select("files").eq("id", generation_id).execute()
        files = rows.data[0].get("files") if rows.data else None
        return {f.path: f for f in (RemoteFile.from_json(e) for e in files or []
                                    if isinstance(e, dict) and e.get("path"))}

    def _remove_replaced(self, bucket: object, previous: dict[str, RemoteFile],
                         current: set[str]) -> None:
        """Delete the objects the row pointed at before and no longer does (older versions
        of a map, keys of the old format). Best effort: the row is already right, and a left
        over object costs only space."""
        stale = sorted(set(previous) - current)
        if not stale:
            return
        try:
            bucket.remove(stale)  # type: ignore[attr-defined]
        except Exception as exc:
            log.info("Could not remove %d replaced file(s) from Storage: %s", len(stale),
                     describe(exc))

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

    def _mark_busy(self, item: OutboxItem, exc: Exception) -> None:
        """Supabase answered "not now": everything waits the backoff, or longer if it said
        how long (a rate limit or an overload is the project's, not this item's)."""
        delay = max(self.outbox.fail(item, f"{BUSY_PREFIX}{describe(exc)}"),
                    retry_after(exc) or 0.0)
        self.outbox.postpone_all(delay)
        if not self._busy:
            log.info("%s; next try in %.0f s", describe(exc), delay)
        self._busy = True

    def _mark_online(self) -> None:
        if self._offline:
            log.info("Supabase reachable again; sync resumed")
        self._offline = False
        self._busy = False
