"""A port for a server a test starts later, held from the start instead of freed and re-bound.

"Bind port 0, close it, start the server on that number later" lets any other program on the
machine (other test runs share it) take the port in between. `reserved_port()` keeps a bound but
*non-listening* socket with SO_REUSEADDR instead: connections to the port are refused, as to a
server that is down; no other program's bind(0) gets the number; and a server that sets
SO_REUSEADDR too (asyncio and aiohttp do on POSIX) can still listen on it. The reservation does
not stop that server from taking the port: it ends when the `with` block does.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator


@contextlib.contextmanager
def reserved_port(host: str = "127.0.0.1") -> Iterator[int]:
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind((host, 0))
        yield holder.getsockname()[1]
