"""One producer, many async consumers: each subscriber sees every item published after it joined."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Fanout(Generic[T]):
    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[T]] = []

    def subscribe(self, maxsize: int = 0) -> AsyncIterator[T]:
        """Subscribe now (not at the first `anext`), so nothing published in between is lost."""
        queue: asyncio.Queue[T] = asyncio.Queue(maxsize)
        self._queues.append(queue)

        async def iterate() -> AsyncIterator[T]:
            try:
                while True:
                    yield await queue.get()
            finally:
                self._queues.remove(queue)

        return iterate()

    def publish(self, item: T) -> None:
        """Never blocks: a bounded subscriber that fell behind drops the item."""
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(item)
