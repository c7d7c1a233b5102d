"""Telling "wait and try again" (a normal state) apart from "Supabase said no".

Waiting comes in two kinds, both retried with backoff and neither shown as a failure:
- unreachable: no network, or a gateway that cannot reach the project (502, 520-524);
- busy: the service answered and asked to come back later: 429 (rate limits of Storage, the
  Data API and Auth), 503 and 504. Such answers may carry `Retry-After`, which is honoured.

Where the wire shows it: storage-api renders its errors with HTTP 400 and the real status in
the body's `statusCode` (so 503 DatabaseConnectionLimit and 413 EntityTooLarge arrive as 400);
PostgREST names its 503/504 only by code (PGRST000-PGRST003), and postgrest-py keeps neither
the HTTP status nor the headers of a JSON error. `watch_responses` therefore remembers, per
thread, the status and `Retry-After` of the last error response the client received, which is
the one behind an APIError raised in that thread.
"""

from __future__ import annotations

import email.utils
import threading
from datetime import UTC, datetime

import httpx
from postgrest.exceptions import APIError
from storage3.exceptions import StorageApiError
from supabase_auth.errors import AuthApiError, AuthRetryableError

from automata_desktop.sync.errors import SyncOffline

# Gateway errors in front of Supabase, and SQLSTATE classes that pass by themselves
# (08 connection, 53 out of resources, 57 operator intervention such as a restart).
_GATEWAY = frozenset({"502", "520", "521", "522", "523", "524", "530"})
_BUSY = frozenset({"429", "503", "504", "544"})  # 544: storage-api's DatabaseTimeout
_TRANSIENT_SQLSTATE = ("08", "53", "57")
# PostgREST: 000 cannot connect, 001 connection being retried, 002 schema cache not ready
# (all 503), 003 no pool connection in time (504).
_POSTGREST_BUSY = frozenset({"PGRST000", "PGRST001", "PGRST002", "PGRST003"})
#: The longest Retry-After taken at its word; a larger one is cut to this.
MAX_RETRY_AFTER_S = 3600.0

_last = threading.local()


def _remember(response: httpx.Response) -> None:
    _last.error = (response.status_code, response.headers.get("Retry-After")) if (
        response.status_code >= 400) else None


def watch_responses(http: httpx.Client | None) -> None:
    """Let APIErrors raised on this client be classified by their HTTP status (idempotent)."""
    if http is None:
        return
    hooks = http.event_hooks
    if _remember not in hooks["response"]:
        hooks["response"] = [*hooks["response"], _remember]
        http.event_hooks = hooks


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what it was raised from, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _response(exc: BaseException) -> httpx.Response | None:
    """The HTTP response an exception came from, if it is in its chain."""
    return next((e.response for e in _chain(exc) if isinstance(e, httpx.HTTPStatusError)), None)


def _status_and_retry(exc: BaseException) -> tuple[str | None, str | None]:
    response = _response(exc)
    header = response.headers.get("Retry-After") if response is not None else None
    if isinstance(exc, StorageApiError):
        return str(exc.status), header
    if isinstance(exc, AuthApiError):
        return str(exc.status), header
    if isinstance(exc, APIError):
        last = getattr(_last, "error", None)
        if last is not None:
            return str(last[0]), last[1]
        return str(exc.code or "") or None, None
    if response is not None:
        return str(response.status_code), header
    return None, None


def is_unreachable(exc: BaseException) -> bool:
    """No network, or a gateway that cannot reach the project."""
    if isinstance(exc, httpx.TransportError | AuthRetryableError | SyncOffline):
        return True
    if isinstance(exc, APIError) and str(exc.code or "").startswith(_TRANSIENT_SQLSTATE):
        return True
    status, _ = _status_and_retry(exc)
    return status in _GATEWAY


def is_busy(exc: BaseException) -> bool:
    """The service answered "not now" (rate limit, overload): wait, then try again. Also
    when that answer is the cause of another error (a token refresh refused with 429)."""
    for error in _chain(exc):
        if isinstance(error, APIError) and error.code in _POSTGREST_BUSY:
            return True
        if isinstance(error, AuthApiError) and error.code == "over_request_rate_limit":
            return True
        if _status_and_retry(error)[0] in _BUSY:
            return True
    return False


def is_offline(exc: BaseException) -> bool:
    """True for trouble that waiting cures; such failures back off without alarming anyone."""
    return is_unreachable(exc) or is_busy(exc)


def is_too_large(exc: BaseException) -> bool:
    """Storage refused the object for its size (storage-api's 413 in a 400, or a proxy's)."""
    if isinstance(exc, StorageApiError):
        return str(exc.status) == "413" or exc.code in {"EntityTooLarge", "Payload too large"}
    status, _ = _status_and_retry(exc)
    return status == "413"


def retry_after(exc: BaseException, *, now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait (`Retry-After`: seconds or an HTTP date)."""
    _, header = _status_and_retry(exc)
    if not header:
        return None
    header = header.strip()
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


def describe(exc: BaseException) -> str:
    if is_busy(exc):
        status, _ = _status_and_retry(exc)
        what = "is rate limiting this device" if status == "429" else "is overloaded"
        code = f"HTTP {status}" if status and status.isdigit() else (
            getattr(exc, "code", None) or exc.__class__.__name__)
        return f"Supabase {what} ({code}); trying again later"
    if isinstance(exc, APIError):
        return f"Supabase rejected the row: {exc.message} ({exc.code})"
    if isinstance(exc, StorageApiError):
        return f"Supabase Storage rejected a file: {exc.message} ({exc.status})"
    if isinstance(exc, httpx.TransportError):
        return f"network error: {exc.__class__.__name__}: {exc}"
    return str(exc) or exc.__class__.__name__
