"""A TCP proxy in front of the fake ComfyUI: the network between the app and the server.

Network faults are not the server's doing, so they live here, not in the fake:

- ``block()`` / ``unblock()``: the server is unreachable (connections refused) while it keeps its
  queue and history -- a remote machine off the network, unlike a restart, which loses both.
  The port stays bound (unlistened) meanwhile, so nobody else can take it.
- ``cut()``: every connection dies at once on both sides (1006 for a websocket).
- ``half_open()`` then ``close_stale()``: the client's side dies but the server's side stays open,
  as when a NAT or Wi-Fi drops a connection and the server does not notice. The client reconnects
  with the same clientId; when the server finally closes the stale socket, ComfyUI's cleanup
  removes the *new* socket from its table (ComfyUI #16010, §0.9): the client's socket stays open
  and hears nothing more, while HTTP works.

    async with TcpProxy(comfy.port) as proxy:
        client = ComfyClient(proxy.url)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class TcpProxy:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream_port = upstream_port
        self.host = host
        self.port = 0
        self._server: asyncio.Server | None = None
        self._reserved: socket.socket | None = None
        self._links: set[_Link] = set()
        self._stale: list[_Link] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        await self._listen(sock)

    async def _listen(self, sock: socket.socket) -> None:
        sock.listen(128)
        self._server = await asyncio.start_server(self._accept, sock=sock)

    async def stop(self) -> None:
        await self.block()
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None
        self.cut()
        self.close_stale()

    async def block(self) -> None:
        """Refuse new connections (existing ones carry on) until `unblock`."""
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        # A bound socket that does not listen answers every SYN with RST: "connection refused".
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self._reserved = sock

    async def unblock(self) -> None:
        if self._reserved is None:
            return
        sock, self._reserved = self._reserved, None
        await self._listen(sock)

    def cut(self) -> None:
        """Every open connection dies on both sides, without a close frame."""
        for link in list(self._links):
            self._abort(link.client)
            self._abort(link.upstream)
        self._links.clear()

    def half_open(self) -> None:
        """The client side of every connection dies; the server side stays open (stale)."""
        for link in list(self._links):
            for task in link.tasks:
                task.cancel()
            self._abort(link.client)
            self._stale.append(link)
        self._links.clear()

    def close_stale(self) -> None:
        """The server finally notices the connections `half_open` left behind."""
        for link in self._stale:
            link.upstream.close()
        self._stale.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            self._abort(writer)
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        link.tasks = [asyncio.create_task(self._pipe(reader, up_writer)),
                      asyncio.create_task(self._pipe(up_reader, writer))]
        await asyncio.gather(*link.tasks, return_exceptions=True)
        if link in self._links:  # ended by a peer, not by a fault we injected
            self._links.discard(link)
            writer.close()
            up_writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()

    @staticmethod
    def _abort(writer: asyncio.StreamWriter) -> None:
        transport = writer.transport
        if not transport.is_closing():
            transport.abort()
