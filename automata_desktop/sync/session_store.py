"""Where the signed-in session survives restarts.

supabase-py persists its session (access token, refresh token, user) as JSON through a storage
object. This one keeps the long-lived secret, the refresh token, in the OS keyring (Keychain,
Windows Credential Manager, Secret Service) and the rest in `session.json` (mode 0600) in the
given folder; the access token there expires within the hour. When no keyring backend works
(headless Linux without Secret Service), the refresh token goes into that 0600 file too and
`secure` is False so the UI can say so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import fail
from supabase_auth import SyncSupportedStorage

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

    def set_item(self, key: str, value: str) -> None:
        with self._lock:
            data = self._read()
            try:
                session = json.loads(value)
            except json.JSONDecodeError:
                session = None
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
