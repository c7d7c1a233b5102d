"""Telling "Supabase is unreachable" (a normal state) apart from "Supabase said no"."""

from __future__ import annotations

import httpx
from postgrest.exceptions import APIError
from storage3.exceptions import StorageApiError
from supabase_auth.errors import AuthRetryableError

from automata_desktop.sync.errors import SyncOffline

# Gateway errors in front of Supabase, and SQLSTATE classes that pass by themselves
# (08 connection, 53 out of resources, 57 operator intervention such as a restart).
_GATEWAY = frozenset({"502", "503", "504", "520", "521", "522", "523", "524"})
_TRANSIENT_SQLSTATE = ("08", "53", "57")


def is_offline(exc: BaseException) -> bool:
    """True for trouble that waiting cures; such failures back off without alarming anyone."""
    if isinstance(exc, httpx.TransportError | AuthRetryableError | SyncOffline):
        return True
    if isinstance(exc, StorageApiError):
        return str(exc.status) in _GATEWAY
    if isinstance(exc, APIError):
        code = str(exc.code or "")
        return code in _GATEWAY or code.startswith(_TRANSIENT_SQLSTATE)
    return False


def describe(exc: BaseException) -> str:
    if isinstance(exc, APIError):
        return f"Supabase rejected the row: {exc.message} ({exc.code})"
    if isinstance(exc, StorageApiError):
        return f"Supabase Storage rejected a file: {exc.message} ({exc.status})"
    if isinstance(exc, httpx.TransportError):
        return f"network error: {exc.__class__.__name__}: {exc}"
    return str(exc) or exc.__class__.__name__
