"""A plain websockets recorder and transcript helpers for protocol conformance tests.

``Recorder`` keeps every frame a socket receives, raw, in order -- what the recordings in
``tests/fixtures/comfy/transcripts`` hold for the real server -- so tests can compare message
order, raw serialization and binary headers between the fake and the recording.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import websockets

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "fixtures" / "comfy" / "transcripts"


@dataclass
class Frame:
    raw: str | bytes

    @property
    def is_binary(self) -> bool:
        return isinstance(self.raw, bytes)

    @property
    def json(self) -> dict[str, Any]:
        assert isinstance(self.raw, str)
        return json.loads(self.raw)

    @property
    def type(self) -> str:
        if isinstance(self.raw, bytes):
            return f"BINARY{struct.unpack('>I', self.raw[:4])[0]}"
        return self.json["type"]


class Recorder:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self.changed = asyncio.Event()
        self.close_code: int | None = None
        self.task = asyncio.create_task(self._pump())

    @classmethod
    async def open(
        cls,
        ws_url: str,
        client_id: str | None = None,
        feature_flags: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Recorder:
        url = f"{ws_url}?clientId={client_id}" if client_id else ws_url
        ws = await websockets.connect(url, additional_headers=headers, max_size=None)
        if feature_flags is not None:
            await ws.send(json.dumps({"type": "feature_flags", "data": feature_flags}))
        recorder = cls(ws)
        await recorder.wait_for(lambda f: f.type == "status")
        if feature_flags is not None:
            await recorder.wait_for(lambda f: f.type == "feature_flags")
        return recorder

    async def _pump(self) -> None:
        try:
            async for message in self.ws:
                self.frames.append(Frame(message))
                self.changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.changed.set()

    async def wait_for(
        self, predicate: Callable[[Frame], bool], timeout: float = 10.0, start: int = 0
    ) -> Frame:
        async def scan() -> Frame:
            seen = start
            while True:
                for frame in self.frames[seen:]:
                    if predicate(frame):
                        return frame
                seen = len(self.frames)
                if self.task.done():
                    raise ConnectionError(f"socket closed ({self.close_code}) while waiting")
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def wait_done(self, prompt_id: str, timeout: float = 10.0) -> Frame:
        """The completion signal: ``executing`` with ``node: null`` for ``prompt_id``."""
        return await self.wait_for(
            lambda f: (
                not f.is_binary
                and f.type == "executing"
                and f.json["data"] == {"node": None, "prompt_id": prompt_id}
            ),
            timeout,
        )

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        await asyncio.wait_for(asyncio.shield(self.task), timeout)
        return self.close_code

    def types(self, start: int = 0) -> list[str]:
        return [f.type for f in self.frames[start:]]

    def texts(self, kind: str) -> list[dict[str, Any]]:
        return [f.json for f in self.frames if not f.is_binary and f.type == kind]

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.wait_for(asyncio.shield(self.task), 5)


def load_transcript(name: str) -> dict[str, Any]:
    matches = sorted(TRANSCRIPTS.glob(f"{name}*.json"))
    if not matches:
        raise FileNotFoundError(f"no transcript {name!r} in {TRANSCRIPTS}")
    return json.loads(matches[0].read_text(encoding="utf-8"))


def recorded_client(transcript: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in transcript["clients"] if c["name"] == name)


def recorded_types(client: dict[str, Any], start: int = 0, stop: int | None = None) -> list[str]:
    """Message types a recorded socket received, binary frames as ``BINARY<event>``."""
    types = []
    for message in client["messages"][start:stop]:
        if message.get("dir") != "recv":
            continue
        if message.get("kind") == "binary":
            types.append(f"BINARY{message['binary']['event_type']}")
        else:
            types.append(message["json"]["type"])
    return types


def recorded_http(transcript: dict[str, Any], note_prefix: str) -> dict[str, Any]:
    return next(h for h in transcript["http"] if h["note"].startswith(note_prefix))


_TIMESTAMP = re.compile(r'"timestamp": \d+')
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")
_TEMP_NAME = re.compile(r"ComfyUI_temp_[a-z]{5}_")


def normalize(raw: str) -> str:
    """Blank what differs between runs: prompt ids, client ids, timestamps, temp prefixes."""
    raw = _TIMESTAMP.sub('"timestamp": 0', raw)
    raw = _UUID.sub("<prompt_id>", raw)
    raw = _HEX_ID.sub("<client_id>", raw)
    return _TEMP_NAME.sub("ComfyUI_temp_xxxxx_", raw)
