"""Where the signed-in session survives restarts.

supabase-py persists its session (access token, refresh token, user) as JSON through a storage
object. This one keeps the long-lived secret, the refresh token, in the OS keyring (Keychain,
Windows Credential Manager, Secret Service) and the rest in `session.json` (mode 0600) in the
given folder; the access token there expires within the hour. When no keyring backend works
(headless Linux without Secret Service), the refresh token goes into that 0600 file too and
`secure` is False so the UI can say so.

The GUI and the CLI share this one session, and GoTrue rotates its refresh token on every
refresh: a process that refreshes with a token another one already rotated away counts, once the
reuse window (10 s) has passed, as a thief, and the session ends for both. So:
- `exclusive()` is a lock across processes (a lock file beside session.json) for the
  read-refresh-write of a refresh, so two processes never refresh the same token;
- a write never replaces a session with an older rotation of itself (a process that read the
  store before another refreshed would otherwise put a spent refresh token back).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import fail
from supabase_auth import SyncSupportedStorage
from supabase_auth.errors import AuthInvalidJwtError
from supabase_auth.helpers import decode_jwt

if os.name == "nt":
    import msvcrt

    def _try_lock(handle: IO[bytes]) -> bool:
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock_file(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(handle: IO[bytes]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock_file(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

#: How long to wait for another process's refresh (its HTTP timeout is 30 s). A process stopped
#: while holding the lock (Ctrl+Z) must not stall the other for good: past this, go ahead.
LOCK_WAIT_S = 40.0
_LOCK_POLL_S = 0.02

log = logging.getLogger(__name__)

KEYRING_SERVICE = "automata-desktop"
_IN_KEYRING = "<keyring>"


class SessionStore(SyncSupportedStorage):
    def __init__(self, folder: Path, account: str, *,
                 keyring_backend: KeyringBackend | None = None) -> None:
        """`account` names this session in the keyring (use the project URL)."""
        self.path = folder / "session.json"
        self._account = account
        self._lock = threading.Lock()
        self._exclusive = threading.RLock()
        self._exclusive_depth = 0
        backend = keyring_backend if keyring_backend is not None else keyring.get_keyring()
        self._keyring: KeyringBackend | None = (
            None if isinstance(backend, fail.Keyring) else backend)
        if self._keyring is None:
            log.info("No OS keyring available: the Supabase refresh token is kept in %s (0600)",
                     self.path)

    @property
    def secure(self) -> bool:
        """True while the refresh token is kept in the OS keyring rather than a file."""
        return self._keyring is not None

    def get_item(self, key: str) -> str | None:
        with self._lock:
            value = self._read().get(key)
            if not isinstance(value, str):
                return None
            try:
                session = json.loads(value)
            except json.JSONDecodeError:
                return value
            if isinstance(session, dict) and session.get("refresh_token") == _IN_KEYRING:
                token = self._keyring_get(key)
                if token is None:
                    return None
                session["refresh_token"] = token
                return json.dumps(session)
            return value

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the session against every other process and thread until the block ends
        (re-entrant): for reading the session, refreshing it and storing the result."""
        with self._exclusive:
            self._exclusive_depth += 1
            handle: IO[bytes] | None = None
            try:
                if self._exclusive_depth == 1:
                    handle = self._lock_across_processes()
                yield
            finally:
                self._exclusive_depth -= 1
                if handle is not None:
                    with contextlib.suppress(OSError):
                        _unlock_file(handle)
                    handle.close()

    def _lock_across_processes(self) -> IO[bytes] | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path.with_suffix(".lock"), "a+b")  # noqa: SIM115 (held past here)
        deadline = time.monotonic() + LOCK_WAIT_S
        while not _try_lock(handle):
            if time.monotonic() > deadline:
                log.warning("Another process has held %s for %.0f s; going ahead without it",
                            handle.name, LOCK_WAIT_S)
                handle.close()
                return None
            time.sleep(_LOCK_POLL_S)
        return handle

    def set_item(self, key: str, value: str) -> None:
        with self._lock:
            data = self._read()
            try:
                session = json.loads(value)
            except json.JSONDecodeError:
                session = None
            if _older_rotation(session, data.get(key)):
                log.debug("Not storing an older rotation of the session over a newer one")
                return
            token = session.get("refresh_token") if isinstance(session, dict) else None
            if isinstance(token, str) and self._keyring_set(key, token):
                session["refresh_token"] = _IN_KEYRING
                value = json.dumps(session)
            data[key] = value
            self._write(data)

    def remove_item(self, key: str) -> None:
        with self._lock:
            data = self._read()
            if data.pop(key, None) is not None:
                self._write(data)
            if self._keyring is not None:
                with contextlib.suppress(Exception):
                    self._keyring.delete_password(KEYRING_SERVICE, self._name(key))

    def _name(self, key: str) -> str:
        return f"{self._account}|{key}"

    def _keyring_get(self, key: str) -> str | None:
        if self._keyring is None:
            return None
        try:
            return self._keyring.get_password(KEYRING_SERVICE, self._name(key))
        except Exception as exc:  # backends raise their own types (dbus, secretstorage)
            log.warning("Could not read the session from the OS keyring: %s", exc)
            return None

    def _keyring_set(self, key: str, token: str) -> bool:
        if self._keyring is None:
            return False
        try:
            self._keyring.set_password(KEYRING_SERVICE, self._name(key), token)
            return True
        except Exception as exc:  # backends raise their own types (dbus, secretstorage)
            log.warning("OS keyring refused the session (%s); keeping it in %s (0600) instead",
                        exc, self.path)
            self._keyring = None
            return False

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, self.path)


def _token_claims(session: Any) -> dict[str, Any] | None:
    token = session.get("access_token") if isinstance(session, dict) else None
    if not isinstance(token, str):
        return None
    try:
        return dict(decode_jwt(token)["payload"])
    except AuthInvalidJwtError:
        return None


def _older_rotation(new: Any, stored_raw: Any) -> bool:
    """True when `new` is the same GoTrue session as the stored one but issued before it."""
    if not isinstance(stored_raw, str):
        return False
    try:
        stored = json.loads(stored_raw)
    except json.JSONDecodeError:
        return False
    new_claims, stored_claims = _token_claims(new), _token_claims(stored)
    if not new_claims or not stored_claims:
        return False
    same_session = (new_claims.get("session_id") is not None
                    and new_claims.get("session_id") == stored_claims.get("session_id"))
    new_iat, stored_iat = new_claims.get("iat"), stored_claims.get("iat")
    return (same_session and isinstance(new_iat, int | float)
            and isinstance(stored_iat, int | float) and new_iat < stored_iat)
