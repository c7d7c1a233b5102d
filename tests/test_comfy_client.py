"""The ComfyUI client against the test server: the ten behaviours of a real server a client must handle."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from automata_desktop.backends import open_backend
from automata_desktop.comfy import events as ev
from automata_desktop.comfy.client import ComfyClient, QueuedPrompt
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.errors import DownloadError, ServerUnreachable
from automata_desktop.library.files import atomic_write_stream_async
from tests.engine_helpers import (
    FAST_BACKOFF,
    UpdateLog,
    request,
    running_engine,
    save_graph,
    slow_graph,
    template,
)

pytestmark = pytest.mark.asyncio


@dataclass(frozen=True)
class Saved:
    path: Path
    size: int
    sha256: str


async def download(client: ComfyClient, ref: ev.OutputRef, dest: Path, **kwargs: Any) -> Saved:
    """Store one output the way the engine does: the client streams, the library writes."""
    written = await atomic_write_stream_async(dest, client.open_output(ref, **kwargs))
    return Saved(dest, written.size, written.sha256)


async def _until(events, predicate, timeout=10.0) -> list[Any]:
    seen = []

    async def collect():
        async for event in events:
            seen.append(event)
            if predicate(event):
                return

    await asyncio.wait_for(collect(), timeout)
    return seen


async def test_a_run_is_followed_from_queue_to_files(fake_comfy, tmp_path):
    async with ComfyClient(fake_comfy.url) as client:
        assert client.info.version == "0.3.64"
        events = client.events()
        queued = await client.queue_prompt(save_graph(color=0x123456))
        seen = await _until(events, lambda e: isinstance(e, ev.PromptFinished))
        kinds = [type(e) for e in seen if getattr(e, "prompt_id", None) == queued.prompt_id]
        assert kinds[0] is ev.ExecutionStarted and kinds[-1] is ev.PromptFinished
        assert ev.ExecutionSucceeded in kinds
        [output] = [e for e in seen if isinstance(e, ev.NodeOutput)]
        downloaded = await download(client, output.files[0], tmp_path / "dl" / "out.png")
    data = downloaded.path.read_bytes()
    assert data[:4] == b"\x89PNG" and downloaded.size == len(data)
    assert downloaded.sha256 == hashlib.sha256(data).hexdigest()
    assert list((tmp_path / "dl").iterdir()) == [tmp_path / "dl" / "out.png"]  # no temp file left


async def test_messages_that_beat_the_post_reply_are_not_lost(fake_comfy, tmp_path):
    """Behaviour 4: a server that picks its own prompt id starts running before we learn it."""

    class ServerChosenIds(ComfyClient):
        async def queue_prompt(self, graph, **kwargs) -> QueuedPrompt:
            response = await self._request("POST", "/prompt",
                                           json={"prompt": graph, "client_id": self.client_id})
            await asyncio.sleep(0.5)  # the run starts (and may finish) before we read the reply
            data = response.json()
            self.track(data["prompt_id"])
            return QueuedPrompt(data["prompt_id"], data["number"])

    async with running_engine(
            tmp_path / "lib", poll_interval_s=60,
            backend_factory=lambda url: open_backend(url, client=ServerChosenIds)) as engine:
        log = UpdateLog(engine)
        [gen] = await engine.submit(request(template(slow_graph(steps=3, delay_s=0.05)), fake_comfy.url))
        [done] = await engine.wait([gen.id], timeout=15)
        log.close()
    assert done.status is GenerationStatus.COMPLETED and done.started_at is not None
    assert [u.completed_by for u in log.for_(gen.id) if u.status.is_final] == ["websocket"]


def _progress(prompt_id: str, value: int) -> dict[str, Any]:
    return {"type": "progress",
            "data": {"value": value, "max": 9, "prompt_id": prompt_id, "node": "2"}}


def _progress_state(prompt_id: str) -> dict[str, Any]:
    node = {"value": 1, "max": 9, "state": "running", "node_id": "2", "prompt_id": prompt_id,
            "display_node_id": "2", "parent_node_id": None, "real_node_id": "2"}
    return {"type": "progress_state", "data": {"prompt_id": prompt_id, "nodes": {"2": node}}}


async def test_each_client_only_hears_about_its_own_prompts(fake_comfy):
    """A real ComfyUI sends progress, progress_state and previews to `server.client_id`, which is
    None, i.e. every socket, for a prompt queued without a client id; the client must drop what
    names a prompt it does not track, and keep what names its own."""
    stranger_graph = slow_graph(steps=4, delay_s=0.05, color=0x0C0C0C, prefix="automata/stranger")
    async with ComfyClient(fake_comfy.url) as owner, ComfyClient(fake_comfy.url) as other:
        assert owner.client_id != other.client_id
        streams = {owner: owner.events(), other: other.events()}
        mine = await owner.queue_prompt(slow_graph(steps=3, delay_s=0.05, color=0x654321))
        theirs = await other.queue_prompt(slow_graph(steps=3, delay_s=0.05, color=0x123456))
        async with httpx.AsyncClient(base_url=fake_comfy.url) as stranger:
            reply = await stranger.post("/prompt", json={"prompt": stranger_graph})
            strangers = reply.json()["prompt_id"]
            for prompt_id in (mine.prompt_id, theirs.prompt_id, strangers):  # to both sockets
                for message in (_progress(prompt_id, 1), _progress_state(prompt_id)):
                    await asyncio.to_thread(fake_comfy.control, "broadcast", message)
            for _ in range(400):
                if (await stranger.get(f"/history/{strangers}")).json():
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the stranger's prompt never finished")
        # Frames reach a socket in order: once a marker sent after everything has arrived,
        # each client has heard all it will hear.
        marker = {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 4242}}}}
        await asyncio.to_thread(fake_comfy.control, "broadcast", marker)
        heard = {client: await _until(stream, lambda e: e == ev.QueueStatus(4242))
                 for client, stream in streams.items()}

    for client, own in ((owner, mine.prompt_id), (other, theirs.prompt_id)):
        named = {getattr(e, "prompt_id", None) for e in heard[client]} - {None}
        assert named == {own}, f"{client.client_id} heard about {named - {own}}"
        kinds = {type(e) for e in heard[client]}
        assert {ev.Progress, ev.ProgressState, ev.PromptFinished} <= kinds  # its own, kept


async def test_a_dropped_socket_reconnects_with_one_socket_for_our_client_id(fake_comfy):
    async with ComfyClient(fake_comfy.url, backoff=FAST_BACKOFF) as client:
        events = client.events()
        fake_comfy.control("drop_sockets", {})
        seen = await _until(events, lambda e: isinstance(e, ev.Connected) and e.reconnected)
        assert any(isinstance(e, ev.Disconnected) and "1006" in e.reason for e in seen)
        state = await asyncio.to_thread(fake_comfy.control, "state")
        assert state["sockets"].count(client.client_id) == 1
        queued = await client.queue_prompt(save_graph(color=0x777777))
        await _until(events, lambda e: isinstance(e, ev.PromptFinished)
                     and e.prompt_id == queued.prompt_id)


class RecordingProxy:
    """A TCP proxy in front of ComfyUI keeping every byte the client sends, to read its headers."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.sent: list[bytearray] = []
        self.server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> RecordingProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self._writers:
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 5)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]
        record = bytearray()
        self.sent.append(record)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, keep: bool) -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await src.read(65536):
                    if keep:
                        record.extend(data)
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))

    def request_heads(self) -> list[dict[str, str]]:
        """Each request's line and headers (lower-cased names); websocket frames are masked
        binary after the upgrade, and bodies are JSON, so a plain-text head cannot be faked."""
        heads = []
        for record in self.sent:
            for match in re.finditer(rb"(GET|POST) (\S+) HTTP/1\.1\r\n(.*?)\r\n\r\n", record, re.S):
                fields = dict(line.split(": ", 1) for line in match[3].decode().split("\r\n"))
                heads.append({"request": f"{match[1].decode()} {match[2].decode()}",
                              **{k.lower(): v for k, v in fields.items()}})
        return heads


async def test_requests_carry_no_origin_header_so_the_origin_check_passes(fake_comfy, tmp_path):
    """ComfyUI answers 403 to any request whose Origin differs from its Host (its CSRF guard),
    the websocket upgrade included; the client must send no Origin at all, on any request."""
    async with RecordingProxy(fake_comfy.port) as proxy:
        # What a real ComfyUI refuses: a foreign Origin, over HTTP and on the socket.
        async with httpx.AsyncClient() as raw:
            refused = await raw.get(f"{proxy.url}/system_stats",
                                    headers={"Origin": "http://localhost:1"})
        assert refused.status_code == 403
        with pytest.raises(websockets.InvalidStatus) as caught:
            await websockets.connect(proxy.url.replace("http", "ws") + "/ws?clientId=x",
                                     origin="http://localhost:1", open_timeout=10)
        assert caught.value.response.status_code == 403
        proxy.sent.clear()

        async with ComfyClient(proxy.url) as client:
            assert client.connected  # the upgrade went through the guard
            events = client.events()
            queued = await client.queue_prompt(save_graph(color=0x0F1E2D))
            seen = await _until(events, lambda e: isinstance(e, ev.NodeOutput))
            await client.get_history(queued.prompt_id)
            await download(client, seen[-1].files[0], tmp_path / "out.png")

    heads = proxy.request_heads()
    requests = {h["request"].split("?")[0] for h in heads}
    assert {"GET /system_stats", "GET /ws", "POST /prompt", "GET /view"} <= requests, requests
    assert [h for h in heads if "origin" in h] == []
    upgrade = next(h for h in heads if h["request"].startswith("GET /ws?"))
    assert upgrade["upgrade"].lower() == "websocket"
    assert f"clientId={client.client_id}" in upgrade["request"]


async def test_newer_servers_get_canonical_ids_and_previews_on_request(fake_comfy_factory, tmp_path):
    server = fake_comfy_factory(version="0.46.0")
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        log = UpdateLog(engine)
        [gen] = await engine.submit(request(template(slow_graph(steps=4, delay_s=0.05)), server.url))
        [done] = await engine.wait([gen.id], timeout=15)
        log.close()
    assert done.status is GenerationStatus.COMPLETED
    assert any(u.preview for u in log.for_(gen.id))  # we asked with extra_data.preview_method


async def test_an_unreachable_server_is_a_clear_error():
    client = ComfyClient("http://127.0.0.1:9")
    with pytest.raises(ServerUnreachable, match="not reachable"):
        await client.connect()
    await client.close()


async def test_a_missing_file_is_a_download_error_and_writes_nothing(fake_comfy, tmp_path):
    async with ComfyClient(fake_comfy.url) as client:
        with pytest.raises(DownloadError, match="has no file"):
            await download(client, ev.OutputRef("nope.png"), tmp_path / "dl" / "nope.png")
    assert not (tmp_path / "dl").exists() or list((tmp_path / "dl").iterdir()) == []


async def test_a_download_larger_than_allowed_is_refused(fake_comfy, tmp_path):
    async with ComfyClient(fake_comfy.url) as client:
        events = client.events()
        await client.queue_prompt(save_graph(color=0x010101))
        seen = await _until(events, lambda e: isinstance(e, ev.NodeOutput))
        ref = seen[-1].files[0]
        with pytest.raises(DownloadError, match="over the limit"):
            await download(client, ref, tmp_path / "dl" / "big.png", max_bytes=10)
    assert not (tmp_path / "dl").exists() or list((tmp_path / "dl").iterdir()) == []


async def test_uploaded_images_can_be_loaded_by_a_workflow(fake_comfy, tmp_path):
    from PIL import Image

    path = tmp_path / "ref.png"
    Image.new("RGB", (20, 10), (200, 10, 10)).save(path)
    async with ComfyClient(fake_comfy.url) as client:
        name = await client.upload_image(path)
        assert name == "automata/ref.png"
        graph = {
            "1": {"class_type": "LoadImage", "inputs": {"image": name}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "inv"}},
        }
        events = client.events()
        queued = await client.queue_prompt(graph)
        await _until(events, lambda e: isinstance(e, ev.PromptFinished))
        result = await client.get_history(queued.prompt_id)
        out = await download(client, result.files[0], tmp_path / "inverted.png")
    with Image.open(out.path) as img:
        r, g, b = img.getpixel((0, 0))[:3]
    assert img.size == (20, 10) and abs(r - 55) <= 1 and abs(g - 245) <= 1 and abs(b - 245) <= 1


async def test_a_prompt_without_client_id_is_followed_by_polling_history(fake_comfy):
    """Behaviour 2: no client_id, no lifecycle messages; /history says {} until it is done."""
    async with ComfyClient(fake_comfy.url) as client:
        events = client.events()
        async with httpx.AsyncClient() as raw:
            reply = await raw.post(f"{fake_comfy.url}/prompt",
                                   json={"prompt": slow_graph(steps=3, delay_s=0.1, color=0x0F0F0F)})
        prompt_id = reply.json()["prompt_id"]
        states = []
        for _ in range(100):
            result = await client.check(prompt_id)
            states.append(result)
            if result is not None:
                break
            await asyncio.sleep(0.05)
        lifecycle = []
        while True:
            try:
                lifecycle.append(await asyncio.wait_for(anext(events), 0.05))
            except TimeoutError:
                break
    assert states[0] is None and isinstance(states[-1], ev.HistoryResult)
    assert states[-1].status == "success" and len(states[-1].files) == 1
    assert not any(isinstance(e, ev.ExecutionStarted | ev.ExecutionSucceeded | ev.PromptFinished)
                   for e in lifecycle)
