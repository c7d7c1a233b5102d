"""Replay protection: remember each webhook-id for as long as its signed timestamp is acceptable."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class SeenIds(Protocol):
    """A set of webhook-ids already taken; the library may provide a persistent one."""

    async def remember(self, msg_id: str) -> bool:
        """Record `msg_id`; False if it was already recorded (a replay or a duplicate retry)."""
        ...

    async def forget(self, msg_id: str) -> None:
        """Drop `msg_id` so that the sender's retry of an unrecorded event is accepted."""
        ...


class MemorySeenIds:
    """In-memory `SeenIds` with a time-to-live and a size bound (oldest ids go first).

    The TTL must cover the whole window in which a timestamp is accepted: a message signed at `t`
    is valid from `t - tolerance` to `t + tolerance`, so `2 * tolerance` plus a margin. When the
    bound is hit before ids expire, the oldest are dropped: memory stays bounded under a flood at
    the cost of forgetting the oldest ids early.
    """

    def __init__(
        self,
        *,
        ttl_s: float = 660.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0 or max_entries < 1:
            raise ValueError("ttl_s must be positive and max_entries at least 1")
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()  # insertion order = expiry order

    def __len__(self) -> int:
        self._expire(self._clock())
        return len(self._expiry)

    async def remember(self, msg_id: str) -> bool:
        now = self._clock()
        self._expire(now)
        if msg_id in self._expiry:
            return False
        while len(self._expiry) >= self._max:
            self._expiry.popitem(last=False)
        self._expiry[msg_id] = now + self._ttl
        return True

    async def forget(self, msg_id: str) -> None:
        self._expiry.pop(msg_id, None)

    def _expire(self, now: float) -> None:
        while self._expiry:
            oldest, expires = next(iter(self._expiry.items()))
            if expires > now:
                return
            del self._expiry[oldest]
