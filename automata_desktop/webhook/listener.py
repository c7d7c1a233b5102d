"""The HTTP endpoint the AUTOMATA Webhook node POSTs to when a generation is done.

Runs inside the app's asyncio loop (aiohttp `AppRunner` + `TCPSite`). Checks run cheapest and
least revealing first, so a forged request learns nothing about the payload schema:

    content type (415) → size (413) → headers (400) → signature (401) → timestamp (400)
    → replay (409) → JSON (400) → schema and inline bytes (422) → on_event → 200 or 503

A 200 means `on_event` returned, i.e. the delivery is stored (the engine returns only once its
files are); the sender may forget it. When `on_event` raises, the answer is 503 and the id is
given back, so the sender's resend is taken, not refused as a replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.http import HttpVersion11
from aiohttp.http_exceptions import HttpProcessingError

from automata_desktop.config import WEBHOOK_PATH, is_loopback_host
from automata_desktop.errors import AutomataError, WebhookError
from automata_desktop.webhook.payload import WebhookPayload
from automata_desktop.webhook.refusal import Refusal
from automata_desktop.webhook.replay import MemorySeenIds, SeenIds
from automata_desktop.webhook.signing import (
    check_signature,
    check_timestamp,
    parse_secret,
    read_headers,
)
from automata_desktop.webhook.validation import parse_payload

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PATH = WEBHOOK_PATH
HEALTH_PATH = "/hooks/health"
#: Inline delivery carries base64 PNGs (4/3 of their size); four 4K 16-bit maps fit comfortably.
DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024
DEFAULT_TOLERANCE_S = 300
#: Bodies above this are verified and parsed in a worker thread so the loop keeps serving.
_OFFLOAD_BYTES = 1024 * 1024
_RETRY_AFTER_S = "5"
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One verified, validated delivery, handed to `on_event` to be recorded."""

    webhook_id: str
    payload: WebhookPayload
    raw_body: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class WebhookRejection:
    """A refused delivery, for the UI ("a webhook was refused: bad signature from 1.2.3.4")."""

    status: int
    code: str
    message: str
    remote: str | None
    webhook_id: str | None
    at: datetime

    def __str__(self) -> str:
        return f"{self.status} {self.code} from {self.remote or 'unknown'}: {self.message}"


OnEvent = Callable[[WebhookEvent], Awaitable[None]]
OnRejected = Callable[[WebhookRejection], Awaitable[None] | None]


class WebhookListener:
    """Receives signed generation webhooks and hands each one to `on_event` exactly once.

    `host` is 127.0.0.1 by default so only this computer can reach it; see `public_url` for a
    ComfyUI on another machine. `port=0` picks a free port: read `port`/`url` after `start()`.
    """

    def __init__(
        self,
        *,
        secret: str,
        on_event: OnEvent,
        host: str = DEFAULT_HOST,
        port: int = 0,
        path: str = DEFAULT_PATH,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        seen_ids: SeenIds | None = None,
        on_rejected: OnRejected | None = None,
    ) -> None:
        if not path.startswith("/") or path == HEALTH_PATH:
            raise WebhookError(f"webhook path must start with '/' and not be {HEALTH_PATH}")
        if not 0 <= port <= 65535:
            raise WebhookError(f"webhook port must be 0-65535 (0 picks a free one), not {port}")
        if max_body_bytes < 1 or tolerance_s <= 0:
            raise WebhookError("max_body_bytes and tolerance_s must be positive")
        self._key = parse_secret(secret)
        self._on_event = on_event
        # "localhost" may resolve to ::1 and 127.0.0.1, and with port 0 each would get its own port.
        self._host = DEFAULT_HOST if host == "localhost" else host
        self._port = port
        self._path = path
        self._max_body = max_body_bytes
        self._tolerance = tolerance_s
        self._seen: SeenIds = seen_ids or MemorySeenIds(ttl_s=2 * tolerance_s + 60)
        self._on_rejected = on_rejected
        self._inflight: set[str] = set()
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen; raises WebhookError saying what to change if the address cannot be used."""
        if self._runner is not None:
            return
        app = web.Application(middlewares=[self._errors_as_json], client_max_size=self._max_body)
        app.router.add_post(self._path, self._receive, expect_handler=self._expect)
        app.router.add_get(HEALTH_PATH, self._health)
        # Compressed bodies are refused rather than inflated: no decompression bombs, and aiohttp
        # never decodes the unread rest of a refused body.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0, auto_decompress=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except OSError as exc:
            await runner.cleanup()
            raise WebhookError(self._bind_failure(exc)) from exc
        self._runner = runner
        self._bound_port = runner.addresses[0][1]
        log.info("webhook listener on %s", self.url)

    async def stop(self) -> None:
        """Stop listening; deliveries in progress get a few seconds to finish. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("webhook listener stopped")

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise WebhookError("the webhook listener has not been started")
        return self._bound_port

    @property
    def url(self) -> str:
        """The URL for a ComfyUI on this computer (loopback when bound to every interface)."""
        host = DEFAULT_HOST if self._host in _WILDCARD_HOSTS else self._host
        return _http_url(host, self.port, self._path)

    @property
    def health_url(self) -> str:
        return self.url.removesuffix(self._path) + HEALTH_PATH

    def public_url(self, host_for_remote: str | None = None) -> str:
        """The URL to paste into the AUTOMATA Webhook node on *another* machine.

        `host_for_remote` is how that machine reaches this one (a LAN IP, a hostname, a VPN
        address); when omitted and the listener is bound to every interface (0.0.0.0), the LAN
        address of the default route is guessed. A listener bound to loopback cannot be reached
        from elsewhere, so asking for its remote URL without a host raises WebhookError.
        """
        port = self.port
        if host_for_remote:
            return _http_url(host_for_remote, port, self._path)
        if self._host in _WILDCARD_HOSTS:
            lan = lan_address()
            if lan is None:
                raise WebhookError(
                    "could not work out this computer's LAN address; use the address other "
                    "machines know it by (e.g. from `ip addr` or `ipconfig`)"
                )
            return _http_url(lan, port, self._path)
        if is_loopback_host(self._host):
            raise WebhookError(
                f"the webhook listener only accepts connections from this computer (bound to "
                f"{self._host}); to receive webhooks from ComfyUI on another machine, set the "
                "listen address to 0.0.0.0 in Settings → Webhook and allow port "
                f"{port} through the firewall"
            )
        return _http_url(self._host, port, self._path)

    def _bind_failure(self, exc: OSError) -> str:
        where = f"{self._host}:{self._port}"
        if exc.errno == errno.EADDRINUSE:
            return (
                f"port {self._port} is taken by another program on {self._host} (perhaps another "
                "AUTOMATA window); choose another port in Settings → Webhook, or 0 to pick a "
                "free one"
            )
        if exc.errno == errno.EACCES:
            return f"not allowed to listen on {where}; choose a port above 1024"
        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            return (
                f"cannot listen on {self._host}: this computer has no such address; use "
                "127.0.0.1 (this computer only) or 0.0.0.0 (every network)"
            )
        return f"cannot listen on {where}: {exc.strerror or exc}"

    # -- HTTP --------------------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "app": "automata-desktop"})

    async def _expect(self, request: web.Request) -> web.StreamResponse | None:
        """Answer `Expect: 100-continue` with the refusal itself, before the body is sent."""
        if request.headers.get("Expect", "").lower() != "100-continue":
            return _error(417, "expectation_failed", "only 'Expect: 100-continue' is understood")
        try:
            self._check_envelope(request)
        except Refusal as refusal:
            await self._notify(request, refusal, None)
            response = _error(refusal.status, refusal.code, refusal.message)
            response.force_close()  # the body was never sent
            return response
        if request.version == HttpVersion11:
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # the interim response is not part of the reply
        return None

    async def _receive(self, request: web.Request) -> web.Response:
        received_at = datetime.now(UTC)
        msg_id: str | None = None
        try:
            self._check_envelope(request)
            body = await self._read_body(request)
            offload = len(body) > _OFFLOAD_BYTES
            headers = read_headers(dict(request.headers))
            msg_id = headers.msg_id
            await _maybe_in_thread(offload, check_signature, self._key, headers, body)
            check_timestamp(headers, self._tolerance)
            payload = await self._record_once(headers.msg_id, body, received_at, offload)
        except Refusal as refusal:
            await self._notify(request, refusal, msg_id)
            response = _error(refusal.status, refusal.code, refusal.message)
            if refusal.status == 503:
                response.headers["Retry-After"] = _RETRY_AFTER_S
            if not request.content.is_eof():
                # Refused before the whole body was read: aiohttp drains the rest for a few
                # seconds so the sender can read this answer, but the connection is not reused.
                response.force_close()
            return response
        log.info(
            "webhook %s accepted: %s %s (%d bytes)",
            msg_id,
            payload.type,
            payload.data.generation_id,
            len(body),
        )
        return web.json_response({"ok": True, "generation_id": payload.data.generation_id})

    async def _record_once(
        self, msg_id: str, body: bytes, received_at: datetime, offload: bool
    ) -> WebhookPayload:
        """Replay check, parse, `on_event`; the id stays taken only if the event was recorded."""
        # A retry racing the first attempt must not be told "already delivered" while the first
        # may still fail; it is asked to come back instead.
        if msg_id in self._inflight:
            raise Refusal(503, "in_progress", "this webhook-id is being recorded; retry shortly")
        self._inflight.add(msg_id)
        try:
            if not await self._seen.remember(msg_id):
                raise Refusal(409, "duplicate", "this webhook-id was already received")
            recorded = False
            try:
                payload = await _maybe_in_thread(offload, parse_payload, body)
                await self._deliver(WebhookEvent(msg_id, payload, body, received_at))
                recorded = True
            finally:
                if not recorded:
                    # Invalid payloads get the same answer when retried, not a misleading 409.
                    await self._seen.forget(msg_id)
            return payload
        finally:
            self._inflight.discard(msg_id)

    async def _deliver(self, event: WebhookEvent) -> None:
        try:
            await self._on_event(event)
        except Exception as exc:
            log.exception("recording webhook %s failed", event.webhook_id)
            reason = str(exc) if isinstance(exc, AutomataError) else "an internal error"
            raise Refusal(
                503, "unavailable", f"AUTOMATA could not record the generation ({reason}); retry"
            ) from exc

    def _check_envelope(self, request: web.Request) -> None:
        """What can be refused from the request line and headers alone."""
        mime = request.content_type
        is_json = mime == "application/json" or (
            mime.startswith("application/") and mime.endswith("+json")
        )
        if not is_json:
            raise Refusal(
                415, "unsupported_media_type", f"expected application/json, got {mime[:80]}"
            )
        if request.charset and request.charset.lower() not in ("utf-8", "utf8"):
            raise Refusal(415, "unsupported_media_type", "JSON bodies must be UTF-8")
        if request.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
            raise Refusal(415, "unsupported_encoding", "send the body uncompressed")
        length = request.content_length
        if length is not None and length > self._max_body:
            raise Refusal(
                413,
                "too_large",
                f"the body is {length} bytes; this app accepts at most {self._max_body} "
                "(send large outputs with delivery 'reference')",
            )

    async def _read_body(self, request: web.Request) -> bytes:
        """The body, refused as soon as it grows past the limit (chunked bodies have no length).

        aiohttp undoes Content-Encoding while reading, so the limit bounds the decoded bytes too.
        """
        buffer = bytearray()
        try:
            while chunk := await request.content.readany():
                if len(buffer) + len(chunk) > self._max_body:
                    raise Refusal(
                        413,
                        "too_large",
                        f"the body is larger than this app accepts ({self._max_body} bytes); "
                        "send large outputs with delivery 'reference'",
                    )
                buffer += chunk
        except (ConnectionError, HttpProcessingError, web.RequestPayloadError) as exc:
            # The sender hung up, or a chunked/compressed body was malformed or cut short.
            raise Refusal(400, "incomplete_body", "the body did not arrive whole") from exc
        return bytes(buffer)

    async def _notify(self, request: web.Request, refusal: Refusal, msg_id: str | None) -> None:
        rejection = WebhookRejection(
            refusal.status,
            refusal.code,
            refusal.message,
            request.remote,
            msg_id,
            datetime.now(UTC),
        )
        log.warning("webhook refused: %s", rejection)
        if self._on_rejected is None:
            return
        try:
            result = self._on_rejected(rejection)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("the on_rejected callback failed")

    @web.middleware
    async def _errors_as_json(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Every error leaves as a JSON body; only our own bugs become a 500, and get logged."""
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = _error(exc.status, _HTTP_CODES.get(exc.status, "http_error"), exc.reason)
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        except Exception:
            log.exception("webhook listener bug handling %s %s", request.method, request.path)
            return _error(500, "internal", "AUTOMATA hit an internal error; see its log")


def lan_address() -> str | None:
    """This computer's address on the network of its default route, or None if there is none."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        # A UDP "connect" sends nothing; it only makes the kernel choose a route and source address.
        probe.connect(("192.0.2.1", 9))
        address = probe.getsockname()[0]
        if not is_loopback_host(address) and address != "0.0.0.0":
            return address
    return None


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def _maybe_in_thread(offload: bool, fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args) if offload else fn(*args)


def _http_url(host: str, port: int, path: str) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    return f"http://{host}:{port}{path}"
