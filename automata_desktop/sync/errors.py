"""Sync's exceptions, under automata_desktop.errors.AutomataError:

    AutomataError
    └── SyncError           cloud sync failed (the message says why and what to do)
        ├── AuthError       sign-up/sign-in/session problems (`code` = GoTrue's error code)
        └── SyncOffline     Supabase unreachable; a normal state, work stays queued
"""

from __future__ import annotations

from automata_desktop.errors import AutomataError


class SyncError(AutomataError):
    pass


class AuthError(SyncError):
    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class SyncOffline(SyncError):
    pass
