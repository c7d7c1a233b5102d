"""The fake's ``PromptServer``: websocket bookkeeping, message publishing, the prompt worker.

Mirrors ComfyUI 0.3.64 ``server.py`` / ``main.py``: worker-thread messages go through
``send_sync`` into one asyncio queue that a publish loop drains in order, text frames are
``json.dumps`` with default separators, the sockets dict is keyed by clientId (a second socket
with the same id replaces the first, and the first one's cleanup removes the second -- §0.9).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from PIL import Image, ImageOps

from . import shims
from .executor import (
    PREVIEW_IMAGE,
    PREVIEW_IMAGE_WITH_METADATA,
    TEXT,
    UNENCODED_PREVIEW_IMAGE,
    PromptExecutor,
)
from .holds import Holds
from .profiles import PREVIEW_METHODS_ON, Profile
from .prompt_queue import PromptQueue

log = logging.getLogger("fakecomfy")

SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")


@dataclass
class FakeConfig:
    """Knobs of the test-only ``/_fake/config`` endpoint."""

    node_delay_s: float = 0.0
    node_delays: dict[str, float] = field(default_factory=dict)
    time_scale: float = 1.0
    #: node ids whose ``executed`` is lost: every socket is cut just before it is sent (once per
    #: entry) -- a network drop at the worst moment, since ComfyUI never resends a message
    drop_at_executed: list[str] = field(default_factory=list)
    #: ignore a client's ``prompt_id`` and pick one, as ComfyUI did before it accepted them
    server_prompt_ids: bool = False


class PromptServer:
    instance: ClassVar[PromptServer]

    def __init__(self, root: Path, profile: Profile) -> None:
        PromptServer.instance = self
        # As in ComfyUI: node packs add their own HTTP routes here at import time (ComfyUI-Manager
        # serves /customnode/getmappings this way); the app serves them beside the built-in ones.
        self.routes = web.RouteTableDef()
        self.root = root
        self.profile = profile
        self.config = FakeConfig()
        self.holds = Holds()
        #: what clients sent: request lines (``/_fake/requests``) and ``POST /prompt`` bodies
        self.requests: list[dict[str, Any]] = []
        self.received_prompts: list[dict[str, Any]] = []
        #: Comfy Cloud mode: the key every request must carry, and the storage host /view
        #: redirects to (with the requests it saw)
        self.api_key: str | None = None
        self.storage_url: str | None = None
        self.storage_requests: list[dict[str, Any]] = []
        self.loop = asyncio.get_running_loop()
        self.messages: asyncio.Queue[tuple[Any, Any, str | None]] = asyncio.Queue()
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.sockets_metadata: dict[str, dict[str, Any]] = {}
        self.connections: dict[str, int] = {}  # sockets registered per clientId, ever
        self.transports: dict[int, asyncio.BaseTransport] = {}
        self.prompt_queue = PromptQueue(self)
        self.number = 0
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.last_prompt_id: str | None = None
        self.load_results: list[Any] = []
        self.port = 0
        shims.RUNTIME.server = self
        shims.RUNTIME.output_metadata = profile.output_metadata

    # -- sending ---------------------------------------------------------------------------------

    def send_sync(self, event: Any, data: Any, sid: str | None = None) -> None:
        self.loop.call_soon_threadsafe(self.messages.put_nowait, (event, data, sid))

    async def publish_loop(self) -> None:
        while True:
            event, data, sid = await self.messages.get()
            try:
                await self.send(event, data, sid)
            except Exception:
                log.exception("failed to send %s", event)

    async def send(self, event: Any, data: Any, sid: str | None = None) -> None:
        if event == UNENCODED_PREVIEW_IMAGE:
            await self.send_bytes(PREVIEW_IMAGE, encode_preview(data), sid)
        elif event == PREVIEW_IMAGE_WITH_METADATA:
            await self.send_bytes(event, encode_preview_with_metadata(*data), sid)
        elif isinstance(data, (bytes, bytearray)):
            await self.send_bytes(event, data, sid)
        else:
            await self.send_json(event, data, sid)

    def _targets(self, sid: str | None) -> list[web.WebSocketResponse]:
        if sid is None:
            return list(self.sockets.values())
        return [self.sockets[sid]] if sid in self.sockets else []

    async def send_json(self, event: str, data: Any, sid: str | None = None) -> None:
        for ws in self._targets(sid):
            await send_catching(ws.send_json({"type": event, "data": data}))

    async def send_bytes(self, event: int, data: bytes, sid: str | None = None) -> None:
        message = struct.pack(">I", event) + bytes(data)
        for ws in self._targets(sid):
            await send_catching(ws.send_bytes(message))

    def send_progress_text(self, text: str | bytes, node_id: str, sid: str | None = None) -> None:
        if isinstance(text, str):
            text = text.encode("utf-8")
        node = str(node_id).encode("utf-8")
        self.send_sync(TEXT, struct.pack(">I", len(node)) + node + text, sid)

    def queue_updated(self) -> None:
        self.send_sync("status", {"status": self.get_queue_info()})

    def get_queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self.prompt_queue.get_tasks_remaining()}}

    def supports_feature(self, sid: str | None, feature: str) -> bool:
        if sid not in self.sockets_metadata:
            return False
        return self.sockets_metadata[sid].get("feature_flags", {}).get(feature, False) is True

    def node_delay(self, class_type: str) -> float:
        return self.config.node_delays.get(class_type, self.config.node_delay_s)

    def before_node(self, node_id: str) -> None:
        """Worker thread, after ``executing``: wait while a test holds this node."""
        self.holds.wait(node_id, shims.throw_exception_if_processing_interrupted)

    def before_executed(self, node_id: str) -> None:
        """Worker thread, before ``executed`` is queued: cut the sockets if a test asked to."""
        if node_id in self.config.drop_at_executed:
            self.config.drop_at_executed.remove(node_id)
            # Scheduled ahead of the message on the same loop, so the message finds no socket.
            self.loop.call_soon_threadsafe(self.drop_sockets)

    # -- websocket -------------------------------------------------------------------------------

    async def websocket_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId", "")
        if sid:
            self.sockets.pop(sid, None)
        else:
            sid = uuid.uuid4().hex
        self.sockets[sid] = ws
        self.connections[sid] = self.connections.get(sid, 0) + 1
        self.sockets_metadata[sid] = {"feature_flags": {}}
        if request.transport is not None:
            self.transports[id(ws)] = request.transport
        try:
            await self.send("status", {"status": self.get_queue_info(), "sid": sid}, sid)
            # A reconnecting owner of the running prompt learns the node -- without prompt_id.
            if self.client_id == sid and self.last_node_id is not None:
                await self.send("executing", {"node": self.last_node_id}, sid)
            first_message = True
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.ERROR:
                    log.warning("ws connection closed with exception %s", ws.exception())
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    try:
                        data = json.loads(msg.data)
                        if first_message and data.get("type") == "feature_flags":
                            self.sockets_metadata[sid]["feature_flags"] = data.get("data", {})
                            await self.send("feature_flags", dict(self.profile.features), sid)
                        first_message = False
                    except json.JSONDecodeError:
                        log.warning("Invalid JSON received from client %s: %s", sid, msg.data)
                    except Exception as ex:
                        log.error("Error processing WebSocket message: %s", ex)
        finally:
            self.sockets.pop(sid, None)
            self.sockets_metadata.pop(sid, None)
            self.transports.pop(id(ws), None)
        return ws

    def drop_sockets(self) -> int:
        """Cut every websocket's TCP connection without a close frame (clients see 1006)."""
        transports = list(self.transports.values())
        for transport in transports:
            transport.abort()
        return len(transports)

    # -- the worker ------------------------------------------------------------------------------

    def start_worker(self) -> None:
        threading.Thread(target=self.prompt_worker, name="prompt_worker", daemon=True).start()

    def prompt_worker(self) -> None:
        executor = PromptExecutor(self)
        while True:
            got = self.prompt_queue.get(timeout=1000.0)
            if got is None:
                continue
            item, task_id = got
            prompt_id = item[1]
            self.last_prompt_id = prompt_id
            extra_data = {**item[3], **item[5]}
            shims.RUNTIME.latent_previews = (
                not self.profile.previews_need_method
                or extra_data.get("preview_method") in PREVIEW_METHODS_ON
            )
            shims.RUNTIME.time_scale = self.config.time_scale
            if self.profile.unknown_broadcasts:
                # Newer servers broadcast asset-scanner events; clients must ignore them.
                self.send_sync("assets.seed.started", {"roots": ["output"]}, None)
            try:
                executor.execute(item[2], prompt_id, extra_data, item[4])
            except Exception:
                log.exception("executor crashed on %s", prompt_id)
                executor.success = False
                executor.history_result = {"outputs": {}, "meta": {}}
            status = {
                "status_str": "success" if executor.success else "error",
                "completed": executor.success,
                "messages": executor.status_messages,
            }
            self.holds.wait("history")
            self.prompt_queue.task_done(task_id, executor.history_result, status)
            if self.client_id is not None:
                self.send_sync("executing", {"node": None, "prompt_id": prompt_id}, self.client_id)

    def wipe_temp(self) -> None:
        shutil.rmtree(shims.get_temp_directory(), ignore_errors=True)


async def send_catching(coro: Any) -> None:
    try:
        await coro
    except (aiohttp.ClientError, ConnectionError) as ex:
        log.warning("send error: %s", ex)


def _contained(image: Image.Image, max_size: int | None) -> Image.Image:
    if max_size is None:
        return image
    return ImageOps.contain(image, (max_size, max_size), Image.Resampling.BILINEAR)


def encode_preview(preview: tuple[str, Image.Image, int | None]) -> bytes:
    image_type, image, max_size = preview
    out = BytesIO()
    out.write(struct.pack(">I", 1 if image_type == "JPEG" else 2))
    _contained(image, max_size).save(out, format=image_type, quality=95, compress_level=1)
    return out.getvalue()


def encode_preview_with_metadata(
    preview: tuple[str, Image.Image, int | None], metadata: dict[str, Any]
) -> bytes:
    image_type, image, max_size = preview
    metadata = {**metadata, "image_type": "image/png" if image_type == "PNG" else "image/jpeg"}
    meta = json.dumps(metadata).encode("utf-8")
    out = BytesIO()
    _contained(image, max_size).save(out, format=image_type, quality=95, compress_level=1)
    return struct.pack(">I", len(meta)) + meta + out.getvalue()


def now_ms() -> int:
    return int(time.time() * 1000)
