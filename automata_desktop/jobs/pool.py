"""Several servers for one user: the app's own queue, server health, and who runs what.

A generation sent to a pool waits here (its library row says "queued", no server yet) until a
server can take it: one that has its nodes and models, is up and not paused, and has fewer than
`max_in_flight` of our jobs (one running, one waiting behind it); the least loaded wins, then the
one that last ran the same models (see routing). Work goes back to this queue, front first, when
its server goes down or is paused (failover), or when it waits behind another job while a
capable server idles (work stealing, only with the server's word that it has not started).

The pool owns the policy; the engine owns jobs, rows and backends (`PoolOwner`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from automata_desktop.backends.base import JobHandle
from automata_desktop.core.generation import Generation, GenerationStatus
from automata_desktop.errors import AutomataError
from automata_desktop.jobs.models import GenerationRequest
from automata_desktop.jobs.routing import (
    DEFAULT_MAX_IN_FLIGHT,
    Health,
    Needs,
    ServerState,
    choose,
)

if TYPE_CHECKING:
    from automata_desktop.jobs.session import Job, ServerSession

log = logging.getLogger(__name__)

#: A server that stopped answering is tried again after these many seconds (then doubling).
PROBE_FIRST_S, PROBE_MAX_S = 1.0, 30.0


@dataclass(slots=True)
class Waiting:
    """A generation of a pool, from its request until it ends (it may move between servers)."""

    generation: Generation
    request: GenerationRequest
    params: dict[str, Any]  # as requested, seeded; inputs are placed per server
    needs: Needs
    servers: tuple[str, ...]
    #: per server, the parameters with its inputs uploaded there (shared by a batch)
    prepared: dict[str, dict[str, Any]] = field(default_factory=dict)
    moves: list[str] = field(default_factory=list)  # "moved from gpu-a (down)", newest last
    #: when it times out (the loop's clock), set on its first server and kept through moves
    deadline: float | None = None


@dataclass(frozen=True, slots=True)
class PoolServer:
    """What the pool says of one server, for a view: health, our jobs there, its queue."""

    url: str
    health: Health
    in_flight: int
    queue_remaining: int


class PoolOwner(Protocol):
    async def session(self, url: str) -> ServerSession: ...

    def jobs_on(self, url: str) -> list[Job]: ...

    async def place(self, item: Waiting, session: ServerSession) -> None:
        """Send `item` to `session`'s server (or end it failed, for good reasons)."""
        ...

    async def take_back(self, job: Job, reason: str, *, dequeued: bool) -> None:
        """Stop following `job` on its server and put its generation back in the queue."""
        ...


class ServerPool:
    def __init__(self, owner: PoolOwner, *, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
                 failover_grace_s: float = 5.0, running_grace_s: float = 60.0) -> None:
        self.owner = owner
        self.max_in_flight = max_in_flight
        self.failover_grace_s = failover_grace_s  # a job not started yet moves this soon
        self.running_grace_s = running_grace_s  # a running one may still finish from history
        self.states: dict[str, ServerState] = {}
        #: server -> workflow -> seconds a run took, as learnt before (the library keeps them)
        self.learnt: dict[str, dict[str, float]] = {}
        self.waiting: list[Waiting] = []
        self.placed: dict[str, Waiting] = {}  # generation id -> its item, while on a server
        self._reserved: Counter[str] = Counter()  # dispatched, not yet in the job table
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.Task[None] | None = None

    # -- what the engine tells the pool ------------------------------------------------------

    def add(self, item: Waiting, *, front: bool = False) -> None:
        self.waiting.insert(0, item) if front else self.waiting.append(item)
        for url in item.servers:
            if url not in self.states:
                self._state(url)
                self._spawn(self._probe(url))
        self._start()
        self.wake()

    def wake(self) -> None:
        self._changed.set()

    def server_up(self, session: ServerSession) -> None:
        state = self.states.get(session.url)
        if state is None or state.health is Health.PAUSED:
            return
        state.health, state.capabilities = Health.UP, session.capabilities
        self.wake()

    def server_down(self, url: str) -> None:
        """The connection dropped: nothing new goes there, and its jobs move unless it is back
        within the grace periods (a quick restart or a network blip costs nothing)."""
        state = self.states.get(url)
        if state is None or state.health is not Health.UP:
            return
        state.health = Health.DOWN
        self._spawn(self._fail_over(url))
        self._spawn(self._probe(url))

    def queue_length(self, url: str, remaining: int) -> None:
        if (state := self.states.get(url)) is not None:
            state.queue_remaining = remaining

    def pause(self, url: str, paused: bool) -> None:
        """A paused server takes nothing new; its jobs that have not started move away."""
        state = self._state(url)
        if paused:
            state.health = Health.PAUSED
            self._spawn(self._move_waiting_jobs(url, "paused"))
        else:
            state.health = Health.CONNECTING
            self._spawn(self._probe(url))

    def snapshot(self) -> list[PoolServer]:
        return [PoolServer(s.url, s.health, self._in_flight(s.url), s.queue_remaining)
                for s in self.states.values()]

    def withdraw(self, generation_id: str) -> bool:
        """Take a generation out of the queue before any server got it (cancel, delete)."""
        for item in self.waiting:
            if item.generation.id == generation_id:
                self.waiting.remove(item)
                return True
        return False

    def timed(self, url: str, workflow: str, seconds: float) -> float | None:
        """A run of `workflow` took `seconds` on `url`: what the pool now expects a run to take
        there (None for a server outside the pool)."""
        if (state := self.states.get(url)) is None:
            return None
        state.ran(workflow, seconds)
        return state.run_s[workflow]

    def finished(self, generation_id: str) -> None:
        self.placed.pop(generation_id, None)
        self.wake()

    async def close(self) -> None:
        for task in [*self._tasks, *([self._loop] if self._loop else [])]:
            task.cancel()
        for task in [*self._tasks, *([self._loop] if self._loop else [])]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _state(self, url: str) -> ServerState:
        if url not in self.states:
            self.states[url] = ServerState(url, run_s=dict(self.learnt.get(url, {})))
        return self.states[url]

    # -- dispatching ---------------------------------------------------------------------------

    def _start(self) -> None:
        if self._loop is None or self._loop.done():
            self._loop = asyncio.create_task(self._dispatch_forever())

    def _in_flight(self, url: str) -> int:
        return sum(not j.finishing for j in self.owner.jobs_on(url)) + self._reserved[url]

    def _candidates(self, urls: Iterable[str]) -> list[ServerState]:
        out = []
        for url in urls:
            state = self.states[url]
            state.in_flight = self._in_flight(url)
            out.append(state)
        return out

    async def _dispatch_forever(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            for item in list(self.waiting):
                chosen = choose(self._candidates(item.servers), item.needs,
                                workflow=item.request.workflow.name,
                                max_in_flight=self.max_in_flight)
                if chosen is None:
                    continue
                self.waiting.remove(item)
                chosen.recent_models = item.needs.model_files
                self._reserved[chosen.url] += 1
                self._spawn(self._place(item, chosen.url))
            if not self.waiting:
                await self._steal()

    async def _place(self, item: Waiting, url: str) -> None:
        try:
            session = await self.owner.session(url)
            self.placed[item.generation.id] = item
            await self.owner.place(item, session)
        except AutomataError as exc:  # the server went away meanwhile: wait for another
            log.info("could not send %s to %s: %s", item.generation.id, url, exc)
            self.placed.pop(item.generation.id, None)
            self.add(item, front=True)
        finally:
            self._reserved[url] -= 1
            self.wake()

    async def _steal(self) -> None:
        """A capable server idles while a job waits behind another elsewhere: take that job
        back (only if its server confirms it has not started) and send it to the idle one."""
        for idle in [s for s in self.states.values() if s.health is Health.UP]:
            if self._in_flight(idle.url) > 0:
                continue
            for state in self.states.values():
                jobs = [j for j in self.owner.jobs_on(state.url) if not j.finishing]
                if state is idle or len(jobs) < 2:
                    continue
                for job in reversed(jobs):  # the last in line waits longest
                    item = self.placed.get(job.id)
                    if item is None or idle.url not in item.servers or _started(job) or (
                            idle.capabilities is None or item.needs.lacking(idle.capabilities)):
                        continue
                    if await _dequeue(state.url, job, self.owner):
                        await self.owner.take_back(
                            job, f"waiting behind another job on {state.url} while "
                                 f"{idle.url} was free", dequeued=True)
                        return

    # -- health ------------------------------------------------------------------------------

    async def _probe(self, url: str) -> None:
        """Connect (again) with backoff until the server answers; it then comes back itself."""
        delay = PROBE_FIRST_S
        while (state := self.states.get(url)) is not None and state.health is not Health.PAUSED:
            try:
                session = await self.owner.session(url)
            except AutomataError as exc:
                state.health = Health.DOWN
                log.info("%s is down (%s); trying again in %.0f s", url, exc, delay)
            else:
                if session.backend.connected or not session.capabilities.outlives_app:
                    self.server_up(session)
                    return
            await asyncio.sleep(delay)
            delay = min(PROBE_MAX_S, delay * 2)

    async def _fail_over(self, url: str) -> None:
        await asyncio.sleep(self.failover_grace_s)
        if self.states[url].health is Health.UP:
            return
        await self._move_waiting_jobs(url, "down")
        await asyncio.sleep(max(0.0, self.running_grace_s - self.failover_grace_s))
        if self.states[url].health is Health.UP:
            return
        for job in list(self.owner.jobs_on(url)):
            if not job.finishing and job.id in self.placed:
                await self.owner.take_back(job, f"{url} down for {self.running_grace_s:.0f} s",
                                           dequeued=False)

    async def _move_waiting_jobs(self, url: str, why: str) -> None:
        for job in list(self.owner.jobs_on(url)):
            if job.finishing or job.id not in self.placed or _started(job):
                continue
            dequeued = why == "paused" and await _dequeue(url, job, self.owner)
            if why == "paused" and not dequeued:
                continue  # it started meanwhile: let it finish there
            await self.owner.take_back(job, f"{url} {why}", dequeued=dequeued)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _started(job: Job) -> bool:
    return job.heard_start or job.generation.status is GenerationStatus.RUNNING


async def _dequeue(url: str, job: Job, owner: PoolOwner) -> bool:
    if not job.prompt_id:
        return False
    try:
        session = await owner.session(url)
        return await session.backend.dequeue(JobHandle(job.prompt_id))
    except AutomataError:
        return False
