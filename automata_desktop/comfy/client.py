"""One connection to one ComfyUI server: HTTP calls plus a reconnecting websocket, as typed events.

    async with ComfyClient("http://127.0.0.1:8188") as comfy:
        events = comfy.events()
        queued = await comfy.queue_prompt(graph)
        async for event in events: ...

The websocket loop reconnects with capped exponential backoff and jitter, keeping its clientId so
messages of prompts already queued keep coming. ComfyUI replays nothing a socket missed, so after
every (re)connect each tracked prompt is reconciled through `check` and what it finds (a finished
prompt's outputs, a failure, a loss) is emitted as if it had been heard: a restarted server loses
its queue silently, which becomes `PromptLost`. Requests never send an `Origin` header: ComfyUI
answers 403 when it differs from Host.

`check` and `cancel` speak the Jobs API where the server has it (`has_jobs_api`, probed at
connect): one `GET /api/jobs/{id}` answers where a prompt stands without the `/history` +
`/queue` + `/history` dance, and `POST /api/jobs/{id}/cancel` dequeues or interrupts that job
alone, server-side and race-free. 0.3.x servers keep the `/history` + `/queue` path.

A socket can also stay open and go deaf: when a stale socket with our clientId closes after we
reconnected, ComfyUI's cleanup unregisters the new one (ComfyUI #16010) and sends it nothing more.
So the old socket is always closed before a new one opens, and while prompts are pending, a
socket silent for `Timeouts.silence` is closed and opened again (and every prompt reconciled).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mimetypes
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import websockets

from automata_desktop.comfy import protocol
from automata_desktop.comfy.events import (
    ComfyEvent,
    Connected,
    Disconnected,
    ExecutionInterrupted,
    HistoryResult,
    OutputRef,
    Preview,
    Progress,
    ProgressState,
    PromptLost,
)
from automata_desktop.errors import (
    ComfyError,
    DownloadError,
    PromptRejected,
    ServerResponseError,
    ServerUnreachable,
)
from automata_desktop.fanout import Fanout

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
#: Events a real ComfyUI may send to every socket (see `ComfyClient._is_ours`).
_BROADCAST_TO_ALL = (Progress, ProgressState, Preview, ExecutionInterrupted)
DEFAULT_MAX_DOWNLOAD = 2 * 1024**3  # a 100 MB GLB or an 8K 16-bit PNG fits with room to spare
#: how long closing a socket may wait for the server's close frame before the TCP is dropped
CLOSE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Seconds per call kind: quick metadata calls fail fast, transfers get time per chunk."""

    connect: float = 5.0
    api: float = 30.0
    object_info: float = 120.0  # a server with many node packs sends megabytes
    transfer: float = 120.0  # per read/write of a chunk, not the whole file
    #: a socket that says nothing this long while prompts are pending is reopened: ComfyUI may
    #: have stopped sending to it (#16010). A quiet node costs a harmless reconnect and resync.
    silence: float = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.3  # ± fraction

    def delay(self, attempt: int) -> float:
        base = min(self.maximum, self.initial * self.factor**attempt)
        return max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter)))


@dataclass(frozen=True, slots=True)
class ServerInfo:
    url: str
    version: str
    python_version: str = ""
    os: str = ""
    devices: tuple[str, ...] = ()

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return version_tuple(self.version)


def version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.lstrip("v").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


@dataclass(frozen=True, slots=True)
class QueuedPrompt:
    prompt_id: str
    number: float
    dropped_outputs: tuple[str, ...] = ()  # a 200 can still drop invalid outputs


@dataclass(frozen=True, slots=True)
class QueueState:
    running: tuple[str, ...]
    pending: tuple[str, ...]

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self.running or prompt_id in self.pending


class ComfyClient:
    def __init__(self, url: str, *, api_key: str | None = None, timeouts: Timeouts | None = None,
                 backoff: Backoff | None = None, client_id: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.client_id = client_id or uuid.uuid4().hex
        self.timeouts = timeouts or Timeouts()
        self.backoff = backoff or Backoff()
        self._api_key = api_key
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=headers, follow_redirects=False,
            timeout=httpx.Timeout(self.timeouts.api, connect=self.timeouts.connect),
        )
        self._events: Fanout[ComfyEvent] = Fanout()
        self._tracked: set[str] = set()
        self._ws_task: asyncio.Task[None] | None = None
        self._ws: Any = None
        self._resync_task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self.info: ServerInfo | None = None
        #: whether `check`/`cancel` use the Jobs API; set by `has_jobs_api` (the connect probe)
        self.jobs_api = False

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> ComfyClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, *, wait_for_socket: float = 1.0) -> ServerInfo:
        """Check the server over HTTP, then start the websocket loop (it keeps reconnecting).

        Waits briefly for the socket so a first prompt's messages are not missed; a socket that a
        proxy blocks costs that second once, after which polling carries the results.
        """
        self.info = await self.system_stats()
        if self._ws_task is None:
            self._closing = False
            self._ws_task = asyncio.create_task(self._websocket_loop(), name=f"comfy-ws {self.url}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), wait_for_socket)
        return self.info

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._ws_task is not None:
            self._ws_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._ws_task
            self._ws_task = None
        await self._http.aclose()

    @property
    def connected(self) -> bool:
        """True while the websocket is open (HTTP may work even when this is False)."""
        return self._connected.is_set()

    def events(self, maxsize: int = 0) -> AsyncIterator[ComfyEvent]:
        """Subscribe: every event from now on, in order. Subscribe before queueing a prompt."""
        return self._events.subscribe(maxsize)

    def track(self, prompt_id: str) -> None:
        """Resync this prompt after reconnects until `untrack`."""
        self._tracked.add(prompt_id)

    def untrack(self, prompt_id: str) -> None:
        self._tracked.discard(prompt_id)

    def _emit(self, event: ComfyEvent) -> None:
        self._events.publish(event)

    def _is_ours(self, event: ComfyEvent) -> bool:
        """False for what a real ComfyUI sent every socket about a prompt we do not track.

        ComfyUI addresses progress, progress_state and previews to the running prompt's client
        id, which is None (every socket) for a prompt queued without one, and broadcasts such a
        prompt's interrupt on purpose. Lifecycle messages only ever go to the prompt's own
        client id, so they pass even before `track`: a server that picks its own prompt ids
        answers POST /prompt after the run has started.
        """
        prompt_id = getattr(event, "prompt_id", None)
        return (prompt_id is None or prompt_id in self._tracked
                or not isinstance(event, _BROADCAST_TO_ALL))

    # -- websocket -------------------------------------------------------------------------

    def _ws_url(self) -> str:
        parts = urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = {"clientId": self.client_id}
        if self._api_key:
            query["token"] = self._api_key  # Comfy Cloud authenticates sockets by query
        return f"{scheme}://{parts.netloc}{parts.path}/ws?{urlencode(query)}"

    async def _websocket_loop(self) -> None:
        attempt = 0
        ever_connected = False
        while not self._closing:
            reason = "closed by server"
            ws = None
            try:
                ws = await websockets.connect(
                    self._ws_url(), open_timeout=self.timeouts.connect, max_size=256 * 1024**2,
                    ping_interval=20, ping_timeout=20, compression="deflate",
                    close_timeout=CLOSE_TIMEOUT_S,
                )
                self._ws = ws
                # Must be the first message, or the server ignores it (and sends no
                # preview metadata, so previews could not be tied to a prompt).
                await ws.send(json.dumps(
                    {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
                ))
                self._connected.set()
                self._emit(Connected(reconnected=ever_connected))
                if self._tracked:  # also a first socket that came up after prompts were queued
                    self._resync_task = asyncio.create_task(self._resync_tracked())
                ever_connected, attempt = True, 0
                reason = await self._receive(ws)
            except asyncio.CancelledError:
                raise
            except websockets.ConnectionClosed as exc:
                reason = f"connection lost (code {exc.rcvd.code if exc.rcvd else 1006})"
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                reason = f"cannot connect: {exc}" if not ever_connected else f"reconnect failed: {exc}"
            finally:
                self._ws = None
                self._connected.clear()
                if ws is not None:
                    # Closed (and its TCP gone) before the next socket opens: were the old one
                    # still registered when it ends, ComfyUI's cleanup would unregister the new
                    # one, which shares its clientId (#16010). Shielded: a cancelled loop
                    # (close()) still ends it.
                    with contextlib.suppress(Exception):
                        await asyncio.shield(ws.close())
            if self._closing:
                break
            delay = self.backoff.delay(attempt)
            attempt += 1
            self._emit(Disconnected(reason, delay))
            await asyncio.sleep(delay)

    async def _receive(self, ws: Any) -> str:
        """Emit every frame as an event until the socket closes (raises) or goes silent."""
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        while True:
            try:
                frame = await asyncio.wait_for(ws.recv(), self.timeouts.silence)
            except TimeoutError:  # recv() is cancellation-safe: nothing is lost
                if self._tracked and loop.time() - last_heard >= self.timeouts.silence:
                    return (f"no message for {self.timeouts.silence:.0f} s while prompts are "
                            "pending; reopening the socket")
                continue
            last_heard = loop.time()
            event = (protocol.parse_binary(frame) if isinstance(frame, bytes)
                     else protocol.parse_text(frame))
            if event is not None and self._is_ours(event):
                self._emit(event)

    async def _resync_tracked(self) -> None:
        """Reconcile every prompt in flight after a (re)connect: what finished, failed or was
        lost while no socket listened is emitted now (still running: nothing, the new socket
        hears the rest). The prompts are asked at once, not one after another."""
        prompt_ids = list(self._tracked)
        results = await asyncio.gather(*(self.check(p) for p in prompt_ids),
                                       return_exceptions=True)
        for prompt_id, result in zip(prompt_ids, results, strict=True):
            if isinstance(result, ComfyError):
                log.info("resync of %s failed: %s", prompt_id, result)
            elif isinstance(result, BaseException):
                log.warning("resync of %s failed", prompt_id, exc_info=result)
            elif result is not None and prompt_id in self._tracked:
                self._emit(result)

    # -- HTTP ------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, *, timeout: float | None = None,
                       **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(
                method, path, timeout=httpx.Timeout(timeout or self.timeouts.api,
                                                    connect=self.timeouts.connect), **kwargs)
        except httpx.ConnectError as exc:
            raise ServerUnreachable(
                f"ComfyUI at {self.url} is not reachable ({_reason(exc)}); is it running, "
                "and is the address right?"
            ) from exc
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(f"ComfyUI at {self.url} did not answer {method} {path} "
                                    "in time") from exc
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"ComfyUI at {self.url}: {method} {path} failed: "
                                    f"{_reason(exc)}") from exc

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._decode(await self._request(method, path, **kwargs), method, path)

    def _decode(self, response: httpx.Response, method: str, path: str) -> Any:
        if response.status_code == 401:
            raise ServerResponseError(
                f"{self.url} refused {path} (401): the API key is missing or wrong; set it in "
                "the server's settings (Comfy Cloud keys come from platform.comfy.org)", 401)
        if response.status_code == 403:
            raise ServerResponseError(
                f"ComfyUI at {self.url} refused {path} (403); a proxy or the server's origin check "
                "blocked the request", 403)
        if response.status_code >= 400:
            raise ServerResponseError(
                f"ComfyUI at {self.url} answered {response.status_code} to {method} {path}",
                response.status_code)
        try:
            return response.json()
        except ValueError as exc:
            raise ServerResponseError(
                f"{self.url}{path} did not return JSON; is this a ComfyUI server?") from exc

    async def system_stats(self) -> ServerInfo:
        data = await self._json("GET", "/system_stats", timeout=self.timeouts.connect * 2)
        system = data.get("system") if isinstance(data, dict) else None
        if not isinstance(system, dict):
            raise ServerResponseError(f"{self.url} does not look like a ComfyUI server "
                                      "(no 'system' in /system_stats)")
        devices = tuple(
            f"{d.get('name', '?')} ({d.get('type', '?')})" for d in data.get("devices") or ()
            if isinstance(d, dict)
        )
        return ServerInfo(self.url, str(system.get("comfyui_version") or "unknown"),
                          str(system.get("python_version") or ""), str(system.get("os") or ""),
                          devices)

    async def object_info(self) -> dict[str, Any]:
        """Every node class's definition. Megabytes on a server with many packs: the caller
        keeps it (`ComfyBackend` fetches it once per connect)."""
        data = await self._json("GET", "/object_info", timeout=self.timeouts.object_info)
        return data if isinstance(data, dict) else {}

    async def _optional_json(self, path: str, *, tolerant: bool = False, **kwargs: Any) -> Any:
        """GET an endpoint only some servers have: None where it is missing (404, 405), and
        with `tolerant` where it fails too (a broken optional endpoint is one we do without)."""
        try:
            return await self._json("GET", path, **kwargs)
        except ServerResponseError as exc:
            if exc.status in (404, 405):
                return None
            if tolerant:
                log.info("doing without %s: %s", path, exc)
                return None
            raise

    async def node_pack_mappings(self) -> dict[str, Any] | None:
        """ComfyUI-Manager's map of node pack URL -> [[node classes], {title_aux, …}], or None
        when the server runs no Manager (404) or its answer is not that map."""
        data = await self._optional_json("/customnode/getmappings", params={"mode": "local"},
                                         timeout=self.timeouts.object_info)
        return data if isinstance(data, dict) else None

    async def feature_flags(self) -> dict[str, Any]:
        """The server's feature flags, or {} from a server older than them.

        `GET /features` answers the same dict the server sends over a socket in reply to ours;
        asking over HTTP gives it to probes that open no socket, and `connect` need not wait
        for a websocket frame that an older server never sends.
        """
        data = await self._optional_json("/features", tolerant=True)
        return data if isinstance(data, dict) else {}

    async def has_jobs_api(self) -> bool:
        """Whether the server answers ComfyUI's Jobs API (`GET /api/jobs`, newer servers; older
        ones answer 404). One job is asked for: the answer's shape is all that matters."""
        data = await self._optional_json("/api/jobs", tolerant=True, params={"limit": "1"})
        self.jobs_api = isinstance(data, dict) and isinstance(data.get("jobs"), list)
        return self.jobs_api

    async def queue_prompt(self, graph: dict[str, Any], *, prompt_id: str | None = None,
                           front: bool = False, preview_method: str | None = "auto",
                           extra_data: dict[str, Any] | None = None) -> QueuedPrompt:
        """Queue an API-format graph. Our own canonical UUID `prompt_id` avoids the reply race."""
        prompt_id = prompt_id or str(uuid.uuid4())
        extra = dict(extra_data or {})
        if preview_method:
            extra.setdefault("preview_method", preview_method)  # newer servers default to none
        body: dict[str, Any] = {"prompt": graph, "client_id": self.client_id,
                                "prompt_id": prompt_id, "extra_data": extra}
        if front:
            body["front"] = True
        self.track(prompt_id)
        response = await self._request("POST", "/prompt", json=body)
        if response.status_code == 400:
            self.untrack(prompt_id)
            try:
                payload = response.json()
            except ValueError:
                payload = None
            headline, problems = protocol.describe_prompt_errors(payload, graph)
            raise PromptRejected(f"ComfyUI rejected the workflow: {headline}", problems)
        if response.status_code != 200:
            self.untrack(prompt_id)
            raise ServerResponseError(
                f"ComfyUI at {self.url} answered {response.status_code} to POST /prompt",
                response.status_code)
        data = response.json()
        real_id = str(data.get("prompt_id") or prompt_id)
        if real_id != prompt_id:  # a server that ignores client-chosen ids
            self.untrack(prompt_id)
            self.track(real_id)
        dropped = tuple(str(n) for n in (data.get("node_errors") or {}))
        return QueuedPrompt(real_id, data.get("number", 0), dropped)

    async def get_queue(self) -> QueueState:
        data = await self._json("GET", "/queue")
        return QueueState(
            tuple(str(item[1]) for item in data.get("queue_running") or () if len(item) > 1),
            tuple(str(item[1]) for item in data.get("queue_pending") or () if len(item) > 1),
        )

    async def get_history(self, prompt_id: str) -> HistoryResult | None:
        """The prompt's outcome, or None while it is queued or running (`{}` on the wire)."""
        data = await self._json("GET", f"/history/{prompt_id}")
        entry = data.get(prompt_id) if isinstance(data, dict) else None
        return protocol.parse_history_entry(prompt_id, entry) if isinstance(entry, dict) else None

    async def get_job(self, prompt_id: str) -> dict[str, Any] | None:
        """The Jobs API's record of one prompt (`outputs` and `execution_status` once it is
        finished), or None when the server does not know the id: its 404 is JSON
        (`{"error": "Job not found"}`). A server without the route answers aiohttp's plain-text
        404, which raises `ServerResponseError` (status 404) like any other refusal."""
        path = f"/api/jobs/{prompt_id}"
        response = await self._request("GET", path)
        if response.status_code == 404:
            with contextlib.suppress(ValueError):
                if isinstance(response.json(), dict):
                    return None
        data = self._decode(response, "GET", path)
        return data if isinstance(data, dict) else None

    async def check(self, prompt_id: str) -> HistoryResult | PromptLost | None:
        """Where a prompt stands: finished (its outputs), lost (server forgot it), or None (in
        queue or running). One Jobs API call where the server has it, else /history + /queue."""
        if self.jobs_api:
            try:
                return self._job_verdict(prompt_id, await self.get_job(prompt_id))
            except ServerResponseError as exc:
                if exc.status != 404:
                    raise
                log.info("%s has no Jobs API any more (restarted as an older ComfyUI?)", self.url)
                self.jobs_api = False
        result = await self.get_history(prompt_id)
        if result is not None:
            return result
        if prompt_id in await self.get_queue():
            return None
        result = await self.get_history(prompt_id)  # it may have finished in between
        if result is not None:
            return result
        return self._lost(prompt_id)

    def _lost(self, prompt_id: str) -> PromptLost:
        return PromptLost(prompt_id, f"ComfyUI at {self.url} restarted and no longer knows this "
                                     "prompt (a restart empties its queue and history, and a full "
                                     "history drops its oldest entries); resubmit it")

    def _job_verdict(self, prompt_id: str, job: dict[str, Any] | None
                     ) -> HistoryResult | PromptLost | None:
        """A Jobs API record as the verdict `/history` would give. The server looks in history
        before its queue, and a job moves between them in one locked step: a 404 is a loss."""
        if job is None:
            return self._lost(prompt_id)
        status = job.get("status")
        if status not in ("completed", "failed", "cancelled"):
            return None  # pending, in_progress, or a state newer than this client: not done
        entry = {"outputs": job.get("outputs") or {}, "status": job.get("execution_status") or {}}
        result = protocol.parse_history_entry(prompt_id, entry)
        if status == "cancelled":
            return replace(result, status="error", interrupted=True, error="interrupted")
        if status == "failed":
            error = result.error
            if error is None and isinstance(job.get("execution_error"), dict):
                error = protocol.error_text(job["execution_error"])
            return replace(result, status="error", error=error or "the workflow failed")
        if not result.files:
            # "completed" only says no node raised; a run that saved nothing (an output node
            # that wrote no file, outputs the server dropped) gave the user nothing.
            return replace(result, status="error", error=(
                f"ComfyUI at {self.url} reports the prompt completed, but it produced no output "
                "files; check that the workflow ends in a node that saves its result (a Save "
                "node), and ComfyUI's log for what it skipped"))
        return replace(result, status="success", completed=True)

    async def cancel(self, prompt_id: str) -> str:
        """Remove a pending prompt, or interrupt it if it is running. Returns what was done."""
        if self.jobs_api:
            try:
                return await self._cancel_job(prompt_id)
            except ServerResponseError as exc:
                if exc.status not in (404, 405):
                    raise
                self.jobs_api = False  # no such route on this server (any more)
        queue = await self.get_queue()
        if prompt_id in queue.pending:
            await self._request("POST", "/queue", json={"delete": [prompt_id]})
            queue = await self.get_queue()
            if prompt_id not in queue.running:
                return "removed"
            # The worker took it between our two calls (the prompt ahead just ended): stop it.
        if prompt_id in queue.running:
            await self._request("POST", "/interrupt", json={"prompt_id": prompt_id})
            return "interrupted"
        return "not_found"

    async def _cancel_job(self, prompt_id: str) -> str:
        """`POST /api/jobs/{id}/cancel`: the server dequeues the job, or interrupts it only while
        it is still the one running (a plain `/interrupt` could stop the prompt that started
        meanwhile). Its answer says only whether it acted; where the job is now says how."""
        data = await self._json("POST", f"/api/jobs/{prompt_id}/cancel")
        if not (isinstance(data, dict) and data.get("cancelled") is True):
            return "not_found"  # finished already, or never known
        if await self.get_job(prompt_id) is None:
            return "removed"  # a dequeued job leaves no trace
        return "interrupted"  # running until the interrupt lands, or ended as cancelled

    async def dequeue(self, prompt_id: str) -> bool:
        """Take a prompt off the queue only if it has not started; True when it is gone. Never
        interrupts: a prompt the worker took meanwhile keeps running where it is."""
        queue = await self.get_queue()
        if prompt_id not in queue.pending:
            return False
        await self._request("POST", "/queue", json={"delete": [prompt_id]})
        queue = await self.get_queue()
        return prompt_id not in queue.pending and prompt_id not in queue.running

    async def upload_image(self, path: Path, *, subfolder: str = "automata",
                           overwrite: bool = True) -> str:
        """Upload an input image; returns the value a LoadImage node expects (`sub/name.png`)."""
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise DownloadError(f"cannot read {path}: {exc.strerror or exc}") from exc
        with handle:
            response = await self._request(
                "POST", "/upload/image", timeout=self.timeouts.transfer,
                files={"image": (path.name, handle, mime)},
                data={"subfolder": subfolder, "type": "input",
                      "overwrite": "true" if overwrite else "false"},
            )
        if response.status_code != 200:
            raise DownloadError(f"ComfyUI at {self.url} refused the upload of {path.name} "
                                f"({response.status_code})")
        data = response.json()
        name, sub = str(data.get("name", path.name)), str(data.get("subfolder") or "")
        return f"{sub}/{name}" if sub else name

    async def open_output(self, ref: OutputRef, *, max_bytes: int = DEFAULT_MAX_DOWNLOAD,
                          expected_size: int | None = None) -> AsyncIterator[bytes]:
        """Stream one output from `/view`, refusing more than `max_bytes` (or than announced).

        The caller stores the chunks (the library checksums them as they come); this client never
        writes files. Errors are `DownloadError`s naming the file. Close the iterator
        (`aclose()`) when stopping early, so the response goes back to the pool at once.
        """
        params = {"filename": ref.filename, "subfolder": ref.subfolder, "type": ref.type}
        timeout = httpx.Timeout(self.timeouts.transfer, connect=self.timeouts.connect)
        request = self._http.build_request("GET", "/view", params=params, timeout=timeout)
        try:
            async with contextlib.AsyncExitStack() as stack:
                response = await self._http.send(request, stream=True)
                stack.push_async_callback(response.aclose)
                if (response.status_code in (301, 302, 303, 307, 308)
                        and "location" in response.headers):
                    # Comfy Cloud redirects to a signed URL: fetch it without our credentials.
                    plain = httpx.AsyncClient(timeout=timeout)
                    stack.push_async_callback(plain.aclose)
                    response = await plain.send(
                        plain.build_request("GET", response.headers["location"]), stream=True)
                    stack.push_async_callback(response.aclose)
                limit, announced = self._check_output(response, ref, max_bytes, expected_size)
                received = 0
                async for chunk in response.aiter_raw(CHUNK):
                    received += len(chunk)
                    if received > limit:
                        raise DownloadError(f"{ref.filename} exceeds {limit} bytes")
                    yield chunk
                if announced is not None and received != announced:
                    raise DownloadError(f"download of {ref.filename} was cut short: "
                                        f"{received} of {announced} bytes")
        except httpx.HTTPError as exc:
            raise DownloadError(f"download of {ref.filename} from {self.url} failed: "
                                f"{_reason(exc)}") from exc

    def _check_output(self, response: httpx.Response, ref: OutputRef, max_bytes: int,
                      expected_size: int | None) -> tuple[int, int | None]:
        """What can be refused from the response head; returns the body's limit and length."""
        if response.status_code != 200:
            raise DownloadError(f"ComfyUI at {self.url} has no file {ref.filename!r} "
                                f"(subfolder {ref.subfolder!r}, {ref.type}): "
                                f"HTTP {response.status_code}")
        announced = int(response.headers.get("content-length") or 0) or None
        limit = min(max_bytes, expected_size or max_bytes)
        if announced and announced > limit:
            raise DownloadError(f"{ref.filename} is {announced} bytes, over the limit of {limit}")
        if expected_size is not None and announced is not None and announced != expected_size:
            raise DownloadError(f"{ref.filename}: the server sends {announced} bytes, "
                                f"expected {expected_size}")
        return (announced if announced is not None else limit), announced


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.split("\n")[0]
