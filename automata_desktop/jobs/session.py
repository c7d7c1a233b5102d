"""What the engine keeps per job and per backend: the job's state, and one session per server
that routes the backend's messages to its jobs and polls those the live stream may miss.

The jobs are the engine's: it holds the one table of followed jobs, by prompt id, and a session
looks each message's prompt id up there. A session keeps only the transport's side: messages for
prompt ids not (yet) in the table, and the backend's follow list (which a ComfyUI client resyncs
after a reconnect), a mirror of the table's jobs on its server that the engine keeps by calling
`follow` and `unfollow` as it adds and removes them, and nowhere else.

The session knows its owner only through `SessionOwner`: the table's two look-ups, three callbacks
and two polling paces, so the routing can be read and tested without the lifecycle behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from automata_desktop.backends import messages as ev
from automata_desktop.backends.base import Backend, Capabilities, JobHandle
from automata_desktop.core.generation import Generation, OutputFile
from automata_desktop.jobs.progress import ProgressTracker
from automata_desktop.library.store import Staged

log = logging.getLogger(__name__)


class SessionOwner(Protocol):
    """What a session calls back: the engine's lifecycle, which the session does not know."""

    fast_poll_s: float
    poll_interval_s: float

    def job(self, prompt_id: str) -> Job | None:
        """The followed job with this prompt id, if any."""
        ...

    def jobs_on(self, url: str) -> list[Job]:
        """The followed jobs on the server at `url`."""
        ...

    def on_message(self, session: ServerSession, job: Job, event: ev.BackendMessage) -> None: ...

    def on_connection(self, job: Job, event: ev.Connected | ev.Disconnected) -> None: ...

    def on_server_connection(self, session: ServerSession,
                             event: ev.Connected | ev.Disconnected) -> None:
        """The server's connection changed (once per change, not per job)."""
        ...

    def on_queue_status(self, session: ServerSession, remaining: int) -> None:
        """The server's `status`: prompts waiting or running there, everyone's."""
        ...

    async def poll_job(self, session: ServerSession, job: Job) -> None: ...


@dataclass(eq=False)
class Job:
    generation: Generation
    server: str
    graph: dict[str, Any]
    deadline: float
    tracker: ProgressTracker
    timeout_s: float
    prompt_id: str | None = None
    #: outputs announced live by `executed`, by node (the history has the full set)
    outputs: dict[str, tuple[ev.OutputRef, ...]] = field(default_factory=dict)
    cached: set[str] = field(default_factory=set)
    downloads: dict[tuple[str, str, str], asyncio.Future[Staged]] = field(default_factory=dict)
    #: maps of the downloads being decoded for the window (see outputs.OutputStore.ahead)
    decoding: dict[tuple[str, str, str], Future[Any]] = field(default_factory=dict)
    #: outputs a backend sent with their bytes (`OutputReady`), being stored in order
    stores: list[asyncio.Task[OutputFile]] = field(default_factory=list)
    finishing: bool = False
    cancel_requested: bool = False
    current_node: str | None = None
    #: the websocket said `execution_success`; completing now waits only for the history
    succeeded: bool = False
    #: `execution_start` came over the websocket, and the socket has not dropped since: every
    #: message of the run was heard (ComfyUI replays none after a reconnect)
    heard_start: bool = False
    gap: bool = False
    #: the server lost the prompt and it is being sent again: no verdict on the loss counts
    resubmitting: bool = False
    #: the loop's clock when the run started there (how long runs take there: see routing)
    started_at: float | None = None

    @property
    def id(self) -> str:
        return self.generation.id

    @property
    def heard_everything(self) -> bool:
        return self.succeeded and self.heard_start and not self.gap

    def heard_files(self) -> list[ev.OutputRef]:
        return [f for refs in self.outputs.values() for f in refs]

    def start_over(self, prompt_id: str, graph: dict[str, Any]) -> None:
        """The server lost the run and it is sent again as `prompt_id`: nothing heard of the
        lost run may count for the new one (its outputs would be stored beside the new ones)."""
        self.prompt_id, self.graph = prompt_id, graph
        self.tracker = ProgressTracker.for_graph(graph)
        self.outputs.clear()
        self.cached.clear()
        self.stores.clear()
        self.current_node = None
        self.succeeded = self.heard_start = self.gap = False


class EarlyMessages:
    """Messages for prompt ids we do not follow (yet), handed over when one becomes a job.

    They come before `POST /prompt` answers with a server-chosen id (§0.4), trail a prompt that
    already finished, or belong to other clients (Comfy Cloud sends every socket everything). The
    oldest prompt is evicted first, so stale ids can never crowd out a new prompt's messages.
    """

    MAX_PROMPTS = 256
    MAX_EVENTS = 512  # per prompt: a long sampler's progress is not worth more

    def __init__(self) -> None:
        self._by_prompt: OrderedDict[str, list[ev.BackendMessage]] = OrderedDict()

    def add(self, prompt_id: str, event: ev.BackendMessage) -> None:
        events = self._by_prompt.get(prompt_id)
        if events is None:
            if len(self._by_prompt) >= self.MAX_PROMPTS:
                self._by_prompt.popitem(last=False)
            events = self._by_prompt[prompt_id] = []
        if len(events) < self.MAX_EVENTS:
            events.append(event)

    def pop(self, prompt_id: str) -> list[ev.BackendMessage]:
        return self._by_prompt.pop(prompt_id, [])

    def __len__(self) -> int:
        return len(self._by_prompt)


class ServerSession:
    """One backend shared by every generation on that server."""

    def __init__(self, owner: SessionOwner, url: str, backend: Backend) -> None:
        self.owner = owner
        self.url = url
        self.backend = backend
        self.capabilities = Capabilities()
        self.early = EarlyMessages()
        self._pace_changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._messages = backend.messages()

    async def start(self) -> None:
        self.capabilities = await self.backend.connect()
        self._tasks = [asyncio.create_task(self._consume())]
        if self.capabilities.pollable:
            self._tasks.append(asyncio.create_task(self._poll()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self._messages.aclose()  # type: ignore[attr-defined]
        await self.backend.close()

    def follow(self, job: Job) -> None:
        """The engine now holds this job: have the backend follow it, and hand over what came
        for it first (before the submit answered with a server-chosen id)."""
        assert job.prompt_id
        self.backend.follow(JobHandle(job.prompt_id))
        for event in self.early.pop(job.prompt_id):
            self.owner.on_message(self, job, event)

    def unfollow(self, job: Job) -> None:
        """The engine let this job go."""
        if job.prompt_id:
            self.early.pop(job.prompt_id)
            self.backend.forget(JobHandle(job.prompt_id))

    def _job(self, prompt_id: str) -> Job | None:
        job = self.owner.job(prompt_id)
        return job if job is not None and job.server == self.url else None

    def repace(self) -> None:
        """Polling should change pace now (the socket dropped, or a run awaits its history)."""
        self._pace_changed.set()

    async def _consume(self) -> None:
        async for event in self._messages:
            try:
                self._route(event)
            except Exception:  # one bad message must not stop the stream
                log.exception("while handling %r", event)

    def _route(self, event: ev.BackendMessage) -> None:
        if isinstance(event, ev.Disconnected | ev.Connected):
            self.owner.on_server_connection(self, event)
            for job in self.owner.jobs_on(self.url):
                self.owner.on_connection(job, event)
            self.repace()
            return
        if isinstance(event, ev.QueueStatus):
            self.owner.on_queue_status(self, event.queue_remaining)
            return
        prompt_id = getattr(event, "prompt_id", None)
        if prompt_id is None or isinstance(event, ev.QueueStatus | ev.ProgressText):
            return
        job = self._job(prompt_id)
        if job is None:
            self.early.add(prompt_id, event)
            return
        self.owner.on_message(self, job, event)

    async def _poll(self) -> None:
        """`/history` polling: the only signal while the socket is down, a safety net otherwise,
        and fast while a run the websocket reported finished waits for its history entry.

        The interval runs from the last poll: a change of pace (each failed reconnect of a
        socket that stays down is one) picks the new interval without restarting the wait."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            fast = (not self.backend.connected
                    or any(j.succeeded and not j.finishing for j in self.owner.jobs_on(self.url)))
            interval = self.owner.fast_poll_s if fast else self.owner.poll_interval_s
            self._pace_changed.clear()
            try:
                # Not wait_for: on Python 3.11 it swallows a cancel that lands as the event is
                # set (a disconnect during close), and this loop then never ends.
                async with asyncio.timeout_at(last + interval):
                    await self._pace_changed.wait()
                continue  # the pace may have changed: wait on from the last poll
            except TimeoutError:
                pass
            last = loop.time()
            for job in self.owner.jobs_on(self.url):
                await self.owner.poll_job(self, job)
