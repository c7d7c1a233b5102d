"""Rate limits and overloads, answered the way Supabase's services answer them.

    stack.faults.fail_next("rest", 2, 503, retry_after=30)   # the next 2 /rest/v1 requests
    stack.faults.fail_next("tus", 1, 429, method="PATCH", after=1)  # the second PATCH

Routes: "auth" (/auth/v1), "rest" (/rest/v1), "storage" (/storage/v1 except resumable uploads)
and "tus" (/storage/v1/upload/resumable); `method` narrows it (e.g. only "POST"). The shapes:

- auth 429: GoTrue's `{"code": "over_request_rate_limit", ...}` (API version 2024-01-01).
- rest 503/504: PostgREST's own errors, PGRST001 (the database connection is being retried) and
  PGRST003 (no pool connection in time), with `Retry-After` as PostgREST sends it.
- storage 503: storage-api's DatabaseConnectionLimit, rendered like all its errors with HTTP 400
  and the real status in the body's `statusCode`.
- 429 from rest, storage and tus, and 504 from storage: the API gateway in front of the service
  (`{"message": "API rate limit exceeded"}` / an HTML gateway page), not the service itself.
- tus 503: tus' plain-text body.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

_ROUTES = (("tus", "/storage/v1/upload/resumable"), ("auth", "/auth/v1/"),
           ("rest", "/rest/v1/"), ("storage", "/storage/v1/"))


@dataclass
class _Fault:
    route: str
    method: str | None
    status: int
    remaining: int
    retry_after: int | None
    let_through: int


def _route(path: str) -> str | None:
    return next((name for name, prefix in _ROUTES if path.startswith(prefix)), None)


def _body(route: str, status: int) -> tuple[int, str, str]:
    """(HTTP status, content type, body) of `status` as `route` really sends it."""
    if route == "auth" and status == 429:
        return 429, "application/json", json.dumps(
            {"code": "over_request_rate_limit", "message": "Request rate limit reached"})
    if route == "rest" and status == 503:
        return 503, "application/json", json.dumps(
            {"code": "PGRST001", "details": "no connection to the server", "hint": None,
             "message": "Database client error. Retrying the connection."})
    if route == "rest" and status == 504:
        return 504, "application/json", json.dumps(
            {"code": "PGRST003", "details": None, "hint": None,
             "message": "Timed out acquiring connection from connection pool."})
    if route == "storage" and status == 503:
        return 400, "application/json", json.dumps(
            {"statusCode": "503", "code": "DatabaseConnectionLimit",
             "error": "DatabaseConnectionLimit",
             "message": "The database has reached its maximum number of connections. "
                        "Please try again later."})
    if route == "tus" and status == 503:
        return 503, "text/plain", "Service Unavailable\n"
    if status == 429:
        return 429, "application/json", json.dumps({"message": "API rate limit exceeded"})
    return status, "text/html", f"<html><body><h1>{status}</h1>upstream unavailable</body></html>"


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[_Fault] = []
        #: (route, method, HTTP status) of every answer given in place of the service.
        self.answered: list[tuple[str, str, int]] = []

    def fail_next(self, route: str, count: int = 1, status: int = 429, *,
                  retry_after: int | None = None, method: str | None = None,
                  after: int = 0) -> None:
        """Answer `count` requests of `route` (and `method`) with `status`, once `after` more
        of them have been served normally."""
        if route not in {name for name, _ in _ROUTES}:
            raise ValueError(f"unknown route {route!r}")
        with self._lock:
            self._pending.append(_Fault(route, method, status, count, retry_after, after))

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()
            self.answered.clear()

    def _take(self, route: str, method: str) -> _Fault | None:
        with self._lock:
            for fault in self._pending:
                if fault.route == route and fault.method in (None, method):
                    if fault.let_through > 0:
                        fault.let_through -= 1
                        return None
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._pending.remove(fault)
                    self.answered.append((route, method, fault.status))
                    return fault
        return None

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        route = _route(request.path)
        fault = self._take(route, request.method) if route else None
        if fault is None:
            return await handler(request)
        assert route is not None
        status, content_type, body = _body(route, fault.status)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if route == "auth":
            headers["X-Supabase-Api-Version"] = "2024-01-01"
        if request.can_read_body:
            await request.read()  # the gateway reads the request before answering
        return web.Response(status=status, body=body.encode(), content_type=content_type,
                            headers=headers)
