"""The generation engine: queue workflows, follow them, and complete each one exactly once.

Completion is taken from whichever signal arrives first — the websocket (`execution_success`, then
the end marker), the AUTOMATA Webhook node's callback, `/history` polling (fast while the websocket
is down, slow as a safety net otherwise) or an explicit "check now". Every generation is a library
row before any work starts, so after a crash `start()` picks up each unfinished one again by its
prompt id.

The outputs of a run are those `/history` lists, merged with those `executed` announced live:
ComfyUI never resends an `executed` that was sent while the socket was down, so the websocket alone
can miss one. Only when the server has forgotten the prompt (it died before recording the run) do
the live messages stand alone, and then only if none of them can have been missed.

The engine knows backends (`backends/`), not transports: it consumes their typed messages (routed
per server by `session.ServerSession`), and every file enters the library through
`AsyncLibrary.ingest`, with its map kind as the backend or the output's node said.

One table holds the followed jobs, by the prompt id the app makes for each (`_hold`, `_release`);
the sessions look messages up in it, and a backend's follow list mirrors it. A job is what the
library row says plus what this run has heard: `_track` rebuilds one from the row after a restart.
Every library call is awaited on the library's database thread, never run on the loop.

A prompt the server lost (a restart empties its queue) is sent again, up to `resubmit_attempts`
times: the same bound graph from the library's `Submission` (so also after the app restarted),
inputs uploaded again, a new prompt id on the same row and in the table. The old id leaves the
table first, so nothing it might still report can store a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automata_desktop.backends import messages as ev
from automata_desktop.backends.base import Backend, Capabilities, Inputs, JobHandle, JobSpec
from automata_desktop.config import is_loopback_url
from automata_desktop.core.generation import (
    Generation,
    GenerationStatus,
    OutputFile,
    new_generation_id,
    utcnow,
)
from automata_desktop.core.workflow import WorkflowTemplate
from automata_desktop.errors import (
    AutomataError,
    LibraryError,
    ServerUnreachable,
    WorkflowError,
)
from automata_desktop.fanout import Fanout
from automata_desktop.jobs.models import GenerationRequest, JobUpdate
from automata_desktop.jobs.outputs import OutputStore
from automata_desktop.jobs.pool import ServerPool, Waiting
from automata_desktop.jobs.progress import ProgressTracker
from automata_desktop.jobs.routing import (
    DEFAULT_MAX_IN_FLIGHT,
    Health,
    Needs,
    ServerState,
    nowhere_to_run,
)
from automata_desktop.jobs.session import Job, ServerSession
from automata_desktop.library.async_library import AsyncLibrary
from automata_desktop.library.store import Library, PoolRequest, Submission

if TYPE_CHECKING:
    from automata_desktop.webhook.listener import WebhookEvent

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 45 * 60
#: a prompt lost by a server restart is sent again this many times before the generation fails
DEFAULT_RESUBMIT_ATTEMPTS = 1
FAST_POLL_S = 2.0
_SEED_LIMIT = 2**48


class JobEngine:
    def __init__(self, library: AsyncLibrary | Library, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 poll_interval_s: float = 30.0, fast_poll_s: float = FAST_POLL_S,
                 webhook_url: str | None = None,
                 resubmit_attempts: int = DEFAULT_RESUBMIT_ATTEMPTS,
                 max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
                 failover_grace_s: float = 5.0, running_grace_s: float = 60.0,
                 backend_factory: Callable[[str], Backend],
                 workflows: Callable[[str], WorkflowTemplate | None] = lambda name: None) -> None:
        self.library = library if isinstance(library, AsyncLibrary) else AsyncLibrary(library)
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self.fast_poll_s = fast_poll_s
        self.webhook_url = webhook_url
        self.resubmit_attempts = max(0, resubmit_attempts)
        self._backend_factory = backend_factory
        #: a workflow by name, for generations that wait in the app's queue across a restart
        self._workflows = workflows
        self._sessions: dict[str, ServerSession] = {}
        self._session_lock = asyncio.Lock()
        #: prompt id -> job: every job followed, whichever signal may end it
        self._jobs: dict[str, Job] = {}
        self._updates: Fanout[JobUpdate] = Fanout()
        self._done: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._watchdog: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._recording: set[asyncio.Task[None]] = set()  # final rows being written
        #: called with each generation that reached a final state (e.g. to queue a sync push)
        self.on_finished: list[Callable[[Generation], None]] = []
        #: fetches and stores every run's files (`outputs.on_stored` hears each as it lands)
        self.outputs = OutputStore(self.library)
        #: generations sent to several servers: the app's queue, health, failover, stealing
        self.pool = ServerPool(self, max_in_flight=max_in_flight,
                               failover_grace_s=failover_grace_s, running_grace_s=running_grace_s)
        #: server -> prompt ids moved away from it while it was down: removed from its queue
        #: when it is back, so nothing runs twice
        self._abandoned: dict[str, set[str]] = defaultdict(set)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> list[Generation]:
        """Start the timeout watchdog and resume every unfinished generation; returns those."""
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch_deadlines())
        self.pool.learnt = await self.library.run_times()
        resumed = []
        for gen in await self.library.unfinished():
            await self._resume(gen)
            resumed.append(gen)
        return resumed

    async def close(self) -> None:
        await self.pool.close()
        if self._watchdog:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        if self._recording:  # a generation that has ended is recorded so, not resumed next time
            await asyncio.gather(*self._recording, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        for session in list(self._sessions.values()):
            await session.close()
        self._sessions.clear()

    def updates(self) -> AsyncIterator[JobUpdate]:
        return self._updates.subscribe()

    async def wait(self, generation_ids: Iterable[str], timeout: float | None = None) -> list[Generation]:
        ids = list(generation_ids)

        async def all_done() -> None:
            for gen_id in ids:
                gen = await self.library.get(gen_id)
                if gen is None or not gen.status.is_final:
                    await self._done[gen_id].wait()

        await asyncio.wait_for(all_done(), timeout)
        return [g for g in [await self.library.get(i) for i in ids] if g is not None]

    # -- the job table (`SessionOwner`) ------------------------------------------------------

    def job(self, prompt_id: str) -> Job | None:
        return self._jobs.get(prompt_id)

    def jobs_on(self, url: str) -> list[Job]:
        return [job for job in self._jobs.values() if job.server == url]

    def _job_of(self, generation_id: str) -> Job | None:
        return next((job for job in self._jobs.values() if job.id == generation_id), None)

    def _hold(self, job: Job) -> None:
        """Follow a job from now on: its server's session routes and polls it, its backend
        follows it (a session connected later follows it as it starts)."""
        assert job.prompt_id
        self._jobs[job.prompt_id] = job
        if (session := self._sessions.get(job.server)) is not None:
            session.follow(job)

    def _release(self, job: Job) -> None:
        if job.prompt_id and self._jobs.get(job.prompt_id) is job:
            del self._jobs[job.prompt_id]
            if (session := self._sessions.get(job.server)) is not None:
                session.unfollow(job)

    # -- public operations -------------------------------------------------------------------

    async def session(self, url: str) -> ServerSession:
        async with self._session_lock:
            session = self._sessions.get(url)
            if session is None:
                session = ServerSession(self, url, self._backend_factory(url))
                try:
                    await session.start()
                except BaseException:
                    await session.close()
                    raise
                self._sessions[url] = session
                for job in self.jobs_on(url):  # held while there was no session to follow them
                    session.follow(job)
            return session

    async def submit(self, request: GenerationRequest) -> list[Generation]:
        """Queue `count` generations; each is in the library before anything is sent."""
        if len(request.servers) > 1:
            return await self._submit_pool(request)
        template = request.workflow
        session = await self.session(request.servers[0] if request.servers else request.server)
        if not session.capabilities.runs_models and not template.local:
            raise WorkflowError(
                f"workflow {template.name!r} needs a ComfyUI server (it uses models); "
                "start ComfyUI and pass --server URL"
            )
        await session.backend.require(
            template.class_types, {c: template.pack_for(c) for c in template.class_types}
        )
        params = await session.backend.prepare(
            Inputs(parameters=dict(request.parameters), image=request.image, mesh=request.mesh))
        generations = []
        for index in range(max(1, request.count)):
            generations.append(await self._queue_one(session, request,
                                                     _seeded(request, params, index)))
        return generations

    async def _submit_pool(self, request: GenerationRequest) -> list[Generation]:
        """A batch for several servers: rows now, each sent by the pool when a server that can
        run it has room (see jobs/pool); refused at once when none of them ever could."""
        template = request.workflow
        urls = (request.pin,) if request.pin else tuple(dict.fromkeys(request.servers))
        outcomes = await asyncio.gather(*(self.session(u) for u in urls), return_exceptions=True)
        states, problems = [], []
        for url, outcome in zip(urls, outcomes, strict=True):
            if isinstance(outcome, ServerSession):
                states.append(ServerState(url, Health.UP,
                                          _routable(outcome.capabilities, template)))
            elif isinstance(outcome, AutomataError):
                problems.append(f"{url}: {outcome}")
            elif isinstance(outcome, BaseException):
                raise outcome
        if not states:
            raise ServerUnreachable("none of the servers answers: " + "; ".join(problems))
        needs = _needs(template, request.parameters)
        if (reason := nowhere_to_run(states, needs)) is not None:
            raise WorkflowError(reason)
        generations = []
        asked = PoolRequest(urls, _local_inputs(request), request.front, request.timeout_s)
        for index in range(max(1, request.count)):
            params = _seeded(request, request.parameters, index)
            gen = Generation(id=new_generation_id(), workflow=template.name, server="",
                             prompt=str(params.get("prompt", "")), parameters=_jsonable(params))
            await self.library.add(gen, pool_request=asked)
            generations.append(gen)
            self._announce(gen, "waiting for a server")
        shared: dict[str, dict[str, Any]] = {}  # inputs go up once per server for the batch
        # To the front in reverse, so a batch put first keeps its own order.
        for gen in reversed(generations) if request.front else generations:
            self.pool.add(Waiting(gen, request, dict(gen.parameters), needs, urls, shared),
                          front=request.front)
        return generations

    async def place(self, item: Waiting, session: ServerSession) -> None:
        """The pool chose `session`'s server for `item`: bind, record and send it there."""
        current = await self.library.get(item.generation.id)
        if current is None or current.status.is_final:  # cancelled or deleted while waiting
            return
        url = session.url
        if url not in item.prepared:
            item.prepared[url] = await session.backend.prepare(Inputs(
                parameters=dict(item.request.parameters), image=item.request.image,
                mesh=item.request.mesh))
        params = {**item.prepared[url], **{k: v for k, v in item.params.items() if k == "seed"}}
        graph = self._bind(item.request, current, params, session)
        prompt_id = str(uuid.uuid4())
        gen = await self.library.place(current.id, url, prompt_id,
                                       Submission(graph, _local_inputs(item.request)))
        item.generation = gen
        job = self._new_job(gen, url, graph, item.request.timeout_s)
        # The clock runs from its first server on: a move does not buy a generation more time.
        job.deadline = item.deadline = item.deadline or job.deadline
        job.prompt_id = prompt_id
        self._hold(job)
        spec = JobSpec(prompt_id=prompt_id, generation_id=gen.id, workflow=gen.workflow,
                       graph=graph, parameters=params, image=item.request.image)
        try:
            await self._send(session, job, spec)
        except ServerUnreachable:  # gone between choosing and sending: the pool tries again
            self._release(job)
            item.generation = await self.library.place(gen.id, "", None)
            raise
        except AutomataError as exc:  # refused (a bad input, say): every server would refuse
            await self._finish(job, GenerationStatus.FAILED, str(exc))
            return
        moved = f"; {item.moves[-1]} to {url}" if item.moves else ""
        self._emit(job, message=f"queued on {url}{moved}")

    async def take_back(self, job: Job, reason: str, *, dequeued: bool) -> None:
        """`job` leaves its server (down, paused, or waiting behind another) for the pool's
        queue: its prompt is forgotten here, and removed there when the server is back."""
        item = self.pool.placed.pop(job.id, None)
        if item is None or job.finishing:
            return
        job.finishing = True  # whatever that server still says of it counts no more
        self._release(job)
        self.outputs.drop(job)
        if not dequeued and job.prompt_id:
            self._abandoned[job.server].add(job.prompt_id)
        item.generation = await self.library.place(job.id, "", None)
        item.moves.append(f"moved from {job.server} ({reason})")
        self._announce(item.generation, f"{item.moves[-1]}; waiting for another server")
        self.pool.add(item, front=True)

    def on_server_connection(self, session: ServerSession,
                             event: ev.Connected | ev.Disconnected) -> None:
        if isinstance(event, ev.Disconnected):
            self.pool.server_down(session.url)
            return
        self.pool.server_up(session)
        if abandoned := self._abandoned.pop(session.url, set()):
            self._spawn(self._cancel_abandoned(session, abandoned))

    def on_queue_status(self, session: ServerSession, remaining: int) -> None:
        self.pool.queue_length(session.url, remaining)

    async def _cancel_abandoned(self, session: ServerSession, prompt_ids: set[str]) -> None:
        for prompt_id in prompt_ids:  # moved elsewhere while this server was away
            with contextlib.suppress(AutomataError):
                await session.backend.cancel(JobHandle(prompt_id))

    def pause_server(self, url: str, paused: bool) -> None:
        """Pause a server of the pool (its waiting jobs move away) or let it take work again."""
        self.pool.pause(url, paused)

    def _announce(self, gen: Generation, message: str) -> None:
        """An update for a generation without a job (waiting in the pool's queue)."""
        self._updates.publish(JobUpdate(generation_id=gen.id, status=gen.status,
                                        message=message, workflow=gen.workflow,
                                        server=gen.server))

    async def cancel(self, generation_id: str) -> None:
        job = self._job_of(generation_id)
        if job is None and self.pool.withdraw(generation_id):  # still in the app's queue
            gen = await self.library.update(generation_id, status=GenerationStatus.CANCELLED,
                                            error="cancelled")
            self._done[generation_id].set()
            self._announce(gen, "cancelled")
            return
        if job is None or job.finishing:
            return
        job.cancel_requested = True
        session = self._sessions.get(job.server)
        outcome = "not_found"
        if session and job.prompt_id:
            with contextlib.suppress(AutomataError):
                outcome = await session.backend.cancel(JobHandle(job.prompt_id))
        if outcome != "interrupted":  # removed from the queue, or never there: done now
            await self._finish(job, GenerationStatus.CANCELLED, "cancelled")
        # an interrupted job ends with ExecutionInterrupted, which finishes it as cancelled

    async def delete(self, generation_id: str) -> Generation | None:
        """Delete a generation: a run still going is stopped on its server and forgotten (no
        late output lands), then its row and files go. Returns the row as it was, or None."""
        gen = await self.library.get(generation_id)
        if gen is None:
            return None
        self.pool.withdraw(generation_id)
        job = self._job_of(generation_id)
        if job is not None and not job.finishing:
            job.cancel_requested = job.finishing = True
            self._release(job)
            self.outputs.drop(job)
            session = self._sessions.get(job.server)
            if session and job.prompt_id:
                with contextlib.suppress(AutomataError):
                    await session.backend.cancel(JobHandle(job.prompt_id))
            job.generation = replace(job.generation, status=GenerationStatus.CANCELLED)
            self._emit(job, message="deleted")
        await self.library.delete(generation_id, files=True)
        self._done[generation_id].set()
        return gen

    async def check_now(self, generation_id: str) -> Generation | None:
        """Ask the server where a generation stands, now (a failed one can still recover)."""
        job = self._job_of(generation_id)
        if job is None:
            gen = await self.library.get(generation_id)
            if gen is None or not gen.prompt_id:
                return gen
            if gen.status in (GenerationStatus.COMPLETED, GenerationStatus.CANCELLED):
                return gen  # settled: nothing on the server can change it
            session = await self.session(gen.server)
            if not session.capabilities.outlives_app:
                return gen  # its job died with the app that ran it: nobody to ask
            job = self._job_of(generation_id) or self._track(gen)  # another signal may have won
            self._hold(job)
        session = await self.session(job.server)
        if not session.capabilities.pollable:
            return await self.library.get(generation_id)  # it reports by itself; nothing to ask
        await self._check(session, job, completed_by="check")
        if job.finishing:  # the answer is in: return once its files are stored, not before
            await self._done[job.id].wait()
        return await self.library.get(generation_id)

    async def handle_webhook(self, event: WebhookEvent) -> None:
        """The listener's `on_event`: returns once the delivery's files are stored.

        Only then does the listener answer 2xx and the sender forget the delivery. When storing
        fails this raises: the listener answers 503 and gives the webhook id back, so the
        sender's resend is taken and storing is tried again (the generation stays open).
        Replays are the listener's to refuse (its id set lives in the library).
        """
        data = event.payload.data
        job = self._job_of(data.generation_id)
        if job is None:
            gen = await self.library.get(data.generation_id)
            if gen is None or gen.status.is_final:
                return
            job = self._job_of(gen.id)  # another signal may have taken it up meanwhile
            if job is None:
                job = self._track(gen)
                if job.prompt_id:
                    self._hold(job)
        if job.finishing:  # another signal is completing it: answer once that is done
            await self._done[job.id].wait()
            return
        if event.payload.type == "generation.failed":
            await self._finish(job, GenerationStatus.FAILED, data.error or "the workflow failed")
            return
        if data.delivery == "inline" or any(f.data for f in data.files):
            await self._store_inline(job, event)
        else:
            await self._store_referenced(job, event)

    # -- internals: queueing -----------------------------------------------------------------

    def _bind(self, request: GenerationRequest, gen: Generation, params: dict[str, Any],
              session: ServerSession) -> dict[str, Any]:
        template = request.workflow
        params = dict(params)
        if "generation_id" in template.parameters:
            params["generation_id"] = gen.id
        # A loopback listener is only reachable from a ComfyUI on this machine.
        reachable = (session.capabilities.same_machine
                     or not is_loopback_url(self.webhook_url or ""))
        if "webhook_url" in template.parameters and self.webhook_url and reachable:
            params.setdefault("webhook_url", self.webhook_url)
        # No signing secret goes into the graph, not even for a ComfyUI on this machine: /history
        # shows every prompt to anyone who can reach the server. The node signs with its own
        # AUTOMATA_WEBHOOK_SECRET or the key `automata comfy install-nodes` put beside it.
        return template.bind(params)

    async def _queue_one(self, session: ServerSession, request: GenerationRequest,
                         params: dict[str, Any]) -> Generation:
        gen = Generation(id=new_generation_id(), workflow=request.workflow.name, server=session.url,
                         prompt=str(params.get("prompt", "")), parameters=_jsonable(params),
                         prompt_id=str(uuid.uuid4()))
        # Bound before the row exists: a refused parameter leaves no generation stuck "queued".
        graph = self._bind(request, gen, params, session)
        await self.library.add(gen, submission=Submission(graph, _local_inputs(request)))
        job = self._new_job(gen, session.url, graph, request.timeout_s)
        job.prompt_id = gen.prompt_id
        self._hold(job)  # before submitting: messages may arrive before its reply
        spec = JobSpec(prompt_id=gen.prompt_id, generation_id=gen.id, workflow=gen.workflow,
                       graph=graph, parameters=params, image=request.image)
        try:
            await self._send(session, job, spec)
        except AutomataError as exc:
            await self._finish(job, GenerationStatus.FAILED, str(exc))
            raise
        gen.prompt_id = job.prompt_id
        self._emit(job, message="queued")
        return gen

    async def _send(self, session: ServerSession, job: Job, spec: JobSpec) -> None:
        """Submit a held job's prompt; raises as the backend's submit does."""
        handle = await session.backend.submit(spec)
        if handle.prompt_id != job.prompt_id:  # a server that ignores the id we chose
            self._release(job)  # its messages wait in the session's early list meanwhile
            job.prompt_id = handle.prompt_id
            job.generation = await self.library.update(job.id, prompt_id=handle.prompt_id)
            self._hold(job)

    def _new_job(self, gen: Generation, server: str, graph: dict[str, Any],
                 timeout_s: float | None) -> Job:
        loop = asyncio.get_running_loop()
        timeout_s = timeout_s or self.timeout_s
        job = Job(generation=gen, server=server, graph=graph, deadline=loop.time() + timeout_s,
                   timeout_s=timeout_s, tracker=ProgressTracker.for_graph(graph))
        self._done[gen.id].clear()
        return job

    def _track(self, gen: Generation) -> Job:
        """A job for a generation this run did not submit, from its row (after a restart, or for
        a webhook or "check now"): its server and prompt id; what the run said is re-learnt."""
        job = self._new_job(gen, gen.server, {}, None)
        job.prompt_id = gen.prompt_id
        return job

    async def _resume(self, gen: Generation) -> None:
        if not gen.prompt_id and await self._wait_again(gen):
            return
        job = self._track(gen)
        if not gen.prompt_id:
            await self._finish(job, GenerationStatus.FAILED,
                               "the app closed before the workflow reached ComfyUI; retry it")
            return
        self._hold(job)  # timed, and followed by its session once there is one
        with contextlib.suppress(AutomataError):  # node labels and map kinds come from the graph
            if (sent := await self.library.submission(gen.id)) is not None:
                job.graph, job.tracker = sent.graph, ProgressTracker.for_graph(sent.graph)
        try:
            session = await self.session(gen.server)
        except AutomataError as exc:
            self._emit(job, message=f"waiting for {gen.server}: {exc}")
            self._spawn(self._retry_resume(job))
            return
        if not session.capabilities.outlives_app:
            await self._finish(job, GenerationStatus.FAILED,
                               "the app closed while this generation ran in-process; retry it")
            return
        await self._check(session, job, completed_by="history")

    async def _asked_again(self, gen: Generation) -> GenerationRequest | None:
        """The request a generation asked of several servers was made with (its servers, seed,
        input files), or None: asked of one server, or its workflow is no longer installed."""
        asked = await self.library.pool_request(gen.id)
        template = self._workflows(gen.workflow) if asked is not None else None
        if asked is None or template is None:
            return None
        inputs = {name: Path(path) for name, path in asked.inputs.items()}
        return GenerationRequest(
            workflow=template, server=asked.servers[0], servers=asked.servers, front=asked.front,
            parameters=dict(gen.parameters), image=inputs.get("image"), mesh=inputs.get("mesh"),
            timeout_s=asked.timeout_s)

    async def _wait_again(self, gen: Generation) -> bool:
        """A generation that was waiting in the app's queue when the app closed waits there
        again, asked as it was; False when it cannot be."""
        if (request := await self._asked_again(gen)) is None:
            return False
        self._requeue(gen, request)
        self._announce(gen, "waiting for a server (again, after the app restarted)")
        return True

    def _requeue(self, gen: Generation, request: GenerationRequest, moved: str = "") -> None:
        self._done[gen.id].clear()
        self.pool.add(Waiting(gen, request, dict(gen.parameters),
                              _needs(request.workflow, gen.parameters), request.servers, {},
                              moves=[moved] if moved else []), front=bool(moved))

    async def _retry_resume(self, job: Job) -> None:
        """Follow a resumed generation once its server answers again; one asked of several
        servers moves to another after the running grace period (failover, as for a server
        that drops while the app runs: its prompt is removed there if it comes back)."""
        delay, waited = self.fast_poll_s, 0.0
        while not job.finishing:
            await asyncio.sleep(delay)
            waited += delay
            delay = min(60.0, delay * 2)
            try:
                session = await self.session(job.server)
            except AutomataError:
                if waited >= self.pool.running_grace_s and await self._move_resumed(job):
                    return
                continue
            await self._check(session, job, completed_by="history")
            return

    async def _move_resumed(self, job: Job) -> bool:
        """A resumed generation whose server stayed away goes back to the app's queue for
        another of its servers (False when it was asked of one server only)."""
        if (request := await self._asked_again(job.generation)) is None:
            return False
        self._release(job)
        job.finishing = True
        if job.prompt_id:
            self._abandoned[job.server].add(job.prompt_id)
        moved = f"moved from {job.server} ({job.server} down since the app started)"
        gen = await self.library.place(job.id, "", None)
        self._requeue(gen, request, moved)
        self._announce(gen, f"{moved}; waiting for another server")
        return True

    # -- internals: following ----------------------------------------------------------------

    def on_message(self, session: ServerSession, job: Job, event: ev.BackendMessage) -> None:
        """A backend message for one of our jobs (the session routed it here)."""
        if job.finishing:
            return
        tracker = job.tracker
        match event:
            case ev.ExecutionStarted():
                job.heard_start = True
                job.started_at = asyncio.get_running_loop().time()
                self._spawn(self._mark_running(job))
            case ev.NodesCached(nodes=nodes):
                job.cached.update(nodes)
                tracker.cached(nodes)
                self._emit(job)
            case ev.NodeExecuting(node=node):
                tracker.executing(node)
                job.current_node = node
                self._emit(job)
            case ev.Progress(node=node, value=value, max=maximum):
                tracker.step(node, value, maximum)
                self._emit(job)
            case ev.ProgressState(nodes=nodes):
                tracker.node_states(nodes)
            case ev.StepProgress(fraction=fraction, label=label):
                job.current_node = label
                self._emit(job, fraction=fraction)
            case ev.OutputReady():
                earlier = tuple(job.stores)
                job.stores.append(asyncio.ensure_future(self.outputs.store_ready(job, event, earlier)))
            case ev.JobCompleted(completed_by=by):
                job.finishing = True
                self._spawn(self._finish_stored(job, by))
            case ev.Preview(image=image, mime=mime):
                self._emit(job, preview=image, preview_mime=mime)
            case ev.NodeOutput(node=node, files=files):
                job.outputs[node] = files
                self.outputs.prefetch(session.backend, job, files)
            case ev.ExecutionSucceeded():
                # Not complete yet: an `executed` sent while the socket was down is never
                # resent, so the outputs come from /history, which the server writes next (and
                # then sends the end marker). Polling speeds up in case the marker never comes.
                job.succeeded = True
                self._emit(job, message="finished on ComfyUI; collecting the results")
                session.repace()
            case ev.PromptFinished():
                if not job.finishing:  # the history is written now: read the verdict and outputs
                    by = "websocket" if job.succeeded else "history"
                    self._spawn(self._check(session, job, completed_by=by))
            case ev.ExecutionFailed(message=message):
                self._finish(job, GenerationStatus.FAILED, message)
            case ev.ExecutionInterrupted():
                self._finish_interrupted(job)
            case ev.HistoryResult() | ev.PromptLost():
                self._apply_check(session, job, event, "history")

    async def _mark_running(self, job: Job) -> None:
        # The row owns the status: the job holds the row as written, never a patched copy. The
        # database thread takes writes in order, so a later final status always lands after this.
        try:
            gen = await self.library.update(job.id, status=GenerationStatus.RUNNING,
                                            started_at=utcnow())
        except AutomataError as exc:
            log.warning("could not record that %s is running: %s", job.id, exc)
            return
        if not job.finishing:
            job.generation = gen
            self._emit(job, message="running")

    def on_connection(self, job: Job, event: ev.Connected | ev.Disconnected) -> None:
        if isinstance(event, ev.Disconnected):
            # An `executed` of the run may be lost from here on (none come after the verdict).
            job.gap = job.gap or (job.heard_start and not job.succeeded)
            self._emit(job, message=f"connection to ComfyUI lost ({event.reason}); retrying in "
                                    f"{event.retry_in_s:.0f} s, following through /history")
        elif event.reconnected:
            self._emit(job, message="reconnected to ComfyUI")

    async def poll_job(self, session: ServerSession, job: Job) -> None:
        """The session's polling found this job's turn: ask the backend where it stands."""
        await self._check(session, job, completed_by="history")

    async def _check(self, session: ServerSession, job: Job, *, completed_by: str) -> None:
        if job.finishing or not job.prompt_id:
            return
        try:
            result = await session.backend.check(JobHandle(job.prompt_id))
        except AutomataError as exc:
            log.debug("check of %s failed: %s", job.prompt_id, exc)
            return
        if result is not None:
            self._apply_check(session, job, result, completed_by)

    def _apply_check(self, session: ServerSession, job: Job,
                     result: ev.HistoryResult | ev.PromptLost, completed_by: str) -> None:
        if job.finishing or result.prompt_id != job.prompt_id:
            return  # (a verdict on a prompt this job no longer runs: lost, then sent again)
        if isinstance(result, ev.PromptLost):
            if job.resubmitting:
                return  # it is being sent again: the new prompt may not be on the server yet
            if job.heard_everything:
                # The server died between reporting the run and recording it (or before we read
                # the record): every `executed` of the run was heard, so those are its outputs.
                self._start_completion(session, job, job.heard_files(), completed_by)
            else:
                job.resubmitting = True  # no other verdict on the loss acts meanwhile
                self._spawn(self._on_lost(session, job, result.reason))
        elif result.interrupted:
            self._finish_interrupted(job)
        elif result.status == "success" and result.completed:
            all_cached = bool(job.graph) and set(job.graph) <= set(result.cached_nodes)
            files = [*result.files, *job.heard_files()]  # `unique` merges the two accounts
            self._start_completion(session, job, files, completed_by, all_cached=all_cached)
        else:
            self._finish(job, GenerationStatus.FAILED, result.error or "the workflow failed")

    async def _on_lost(self, session: ServerSession, job: Job, reason: str) -> None:
        """The server forgot a prompt we cannot account for (a restart lost its queue): send it
        again while attempts remain; else fail, with each loss and resubmission in the error."""
        try:
            sent = await self.library.submission(job.id)
        except AutomataError as exc:
            log.warning("could not read what was sent for %s: %s", job.id, exc)
            sent = None
        if job.finishing:  # cancelled, deleted or completed by a webhook meanwhile
            return
        assert job.prompt_id
        lost = (*sent.lost, job.prompt_id) if sent else (job.prompt_id,)
        if sent is not None and session.capabilities.outlives_app \
                and len(lost) <= self.resubmit_attempts:
            try:
                await self._resubmit(session, job, sent)
                return
            except AutomataError as exc:
                reason = f"{reason}; sending it again failed: {exc}"
            except Exception as exc:  # a bug must fail the job, not leave it resubmitting
                log.exception("resubmitting %s failed", job.id)
                reason = f"{reason}; sending it again failed: {exc!r}"
        elif len(lost) > 1:
            reason = _gave_up(job.server, lost)
        job.resubmitting = False
        if not job.finishing:
            job.finishing = True  # what landed is kept first; nothing else may finish it
            await self._finish_lost(job, reason)

    async def _resubmit(self, session: ServerSession, job: Job, sent: Submission) -> None:
        """Send the same graph (seed and all) as a new prompt of the same generation."""
        graph = sent.graph
        if sent.inputs:  # a restart may have emptied the server's input folder: upload again
            files = {name: Path(path) for name, path in sent.inputs.items()
                     if name in ("image", "mesh")}
            placed = await session.backend.prepare(Inputs(parameters={}, **files))
            graph = _renamed(graph, {old: placed[name] for name in files
                                     if isinstance(old := job.generation.parameters.get(name),
                                                   str) and old != placed.get(name, old)})
        if job.finishing:
            return
        assert job.prompt_id
        new_id = str(uuid.uuid4())
        row = await self.library.record_resubmission(job.id, job.prompt_id, new_id)
        if job.finishing:
            return
        if row.status.is_final:  # ended by another hand (another app on this library)
            job.finishing = True
            self._release(job)
            self._done[job.id].set()
            return
        self.outputs.drop(job)  # what the lost run fetched: the new run makes the whole set
        self._release(job)  # from here on nothing the old prompt id reports reaches the job
        job.generation = row
        job.start_over(new_id, graph)
        self._hold(job)  # before submitting: messages may arrive before its reply
        spec = JobSpec(prompt_id=new_id, generation_id=job.id, workflow=row.workflow,
                       graph=graph, parameters=dict(row.parameters),
                       image=Path(sent.inputs["image"]) if "image" in sent.inputs else None)
        await self._send(session, job, spec)
        job.resubmitting = False
        if job.finishing:  # cancelled or timed out while it was being sent: stop the new run
            with contextlib.suppress(AutomataError):
                await session.backend.cancel(JobHandle(job.prompt_id))
            return
        self._emit(job, message="resubmitted after ComfyUI restarted")

    async def _finish_lost(self, job: Job, reason: str) -> None:
        """The server forgot a prompt we cannot account for: fail, but keep what already landed."""
        kept = await self.outputs.keep_landed(job)
        if kept:
            reason += (f" ({kept} file{'s' if kept > 1 else ''} fetched before that "
                       f"{'are' if kept > 1 else 'is'} kept)")
        await self._finish(job, GenerationStatus.FAILED, reason)

    def _finish_interrupted(self, job: Job) -> None:
        if job.cancel_requested:
            self._finish(job, GenerationStatus.CANCELLED, "cancelled")
        else:
            self._finish(job, GenerationStatus.FAILED, "interrupted on the ComfyUI server")

    # -- internals: completing ---------------------------------------------------------------

    def _start_completion(self, session: ServerSession, job: Job, files: list[ev.OutputRef],
                          completed_by: str, *, all_cached: bool | None = None) -> None:
        if job.finishing:
            return
        job.finishing = True  # set before any await: later signals for this job are no-ops
        if all_cached is None:
            ran = set(job.tracker.nodes) - job.cached
            all_cached = bool(job.cached) and not ran
        self._spawn(self._download_and_finish(session, job, files, completed_by, all_cached))

    async def _finish_stored(self, job: Job, completed_by: str) -> None:
        try:
            for task in list(job.stores):
                await task
        except AutomataError as exc:
            await self._finish(job, GenerationStatus.FAILED, f"results could not be saved: {exc}")
            return
        except Exception as exc:  # a bug must fail the job, not leave it waiting for ever
            log.exception("storing the results of %s failed", job.id)
            await self._finish(job, GenerationStatus.FAILED,
                               f"results could not be saved: {exc!r}")
            return
        await self._finish(job, GenerationStatus.COMPLETED, None, completed_by=completed_by,
                           message="completed")

    async def _download_and_finish(self, session: ServerSession, job: Job,
                                   files: list[ev.OutputRef], completed_by: str,
                                   all_cached: bool) -> None:
        try:
            stored = await self.outputs.collect(session.backend, job, files)
        except AutomataError as exc:
            await self._finish(job, GenerationStatus.FAILED, f"results could not be saved: {exc}")
            return
        await self._complete(job, stored, completed_by, all_cached)

    def _complete(self, job: Job, stored: list[OutputFile], completed_by: str,
                  all_cached: bool) -> asyncio.Task[None]:
        note = "completed"
        if not stored:
            note = ("completed: every node was cached and produced no files"
                    if all_cached else "completed: the workflow produced no files")
        elif all_cached:
            note = "completed from cache (an identical run already made these files)"
        return self._finish(job, GenerationStatus.COMPLETED, None, completed_by=completed_by,
                            message=note)

    async def _store_inline(self, job: Job, event: WebhookEvent) -> None:
        job.finishing = True  # set before any await: later signals for this job are no-ops
        try:
            await self.outputs.store_inline(job, event.payload.data.files)
        except LibraryError:
            job.finishing = False
            raise
        await self._finish(job, GenerationStatus.COMPLETED, None, completed_by="webhook",
                           message="completed")

    async def _store_referenced(self, job: Job, event: WebhookEvent) -> None:
        try:
            session = await self.session(job.server)
        except AutomataError as exc:
            self._emit(job, message=f"webhook arrived but {job.server} is unreachable: {exc}")
            raise
        if job.finishing:  # a signal heard while connecting got there first
            await self._done[job.id].wait()
            return
        # With the size and SHA-256 the node announced: a file read from the server's output
        # folder is taken only when it is the one announced (else it comes through /view).
        refs = [ev.OutputRef(f.filename, f.subfolder, f.type, kind=f.kind.value, size=f.size,
                             sha256=f.sha256) for f in event.payload.data.files]
        job.finishing = True
        try:
            stored = await self.outputs.collect(session.backend, job, refs)
        except AutomataError as exc:
            job.finishing = False
            self.outputs.drop(job)  # the resend fetches afresh
            raise LibraryError(f"results could not be saved: {exc}") from exc
        await self._complete(job, stored, "webhook", all_cached=False)

    def _finish(self, job: Job, status: GenerationStatus, error: str | None, *,
                completed_by: str | None = None, message: str = "") -> asyncio.Task[None]:
        """End a job now (no other signal may end it from here on) and record the end in its
        row; the returned task is done once the row is written and the update sent."""
        job.finishing = True
        self._release(job)
        if status is GenerationStatus.COMPLETED and job.started_at is not None:
            learnt = self.pool.timed(job.server, job.generation.workflow,
                                     asyncio.get_running_loop().time() - job.started_at)
            if learnt is not None:  # kept, so the first batch after a restart is routed well
                self._spawn(self.library.record_run_time(job.server, job.generation.workflow,
                                                         learnt))
        self.pool.finished(job.id)
        if status is not GenerationStatus.COMPLETED:
            self.outputs.drop(job)
        task = asyncio.ensure_future(self._record_end(job, status, error, completed_by, message))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)
        return task

    async def _record_end(self, job: Job, status: GenerationStatus, error: str | None,
                          completed_by: str | None, message: str) -> None:
        try:
            current = await self.library.get(job.id)
            if current is not None and current.status == status:
                return  # ended so already (a "check now" of a failed run that failed again)
            gen = await self.library.update(job.id, status=status, error=error,
                                            finished_at=utcnow())
        except AutomataError as exc:
            log.error("could not record that %s ended %s: %s", job.id, status.value, exc)
            return
        finally:
            self._done[job.id].set()  # whatever happened, nobody may wait for it for ever
        job.generation = gen
        if status is GenerationStatus.COMPLETED:
            job.tracker.complete()
        self._emit(job, message=message or error or status.value, completed_by=completed_by,
                   files=tuple(gen.files))
        for callback in self.on_finished:
            try:
                callback(gen)
            except Exception:  # a listener's bug must not undo a completion
                log.exception("on_finished callback failed for %s", gen.id)

    async def _watch_deadlines(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.5)
            for job in list(self._jobs.values()):
                if not job.finishing and loop.time() > job.deadline:
                    job.finishing = True  # its interrupt message must not turn it into "failed"
                    self._spawn(self._time_out(job))

    async def _time_out(self, job: Job) -> None:
        """Stop the prompt on the server first (it would hold the GPU for nothing), then tell."""
        session = self._sessions.get(job.server)
        if session and job.prompt_id:
            try:
                await session.backend.cancel(JobHandle(job.prompt_id))
            except AutomataError as exc:
                log.info("could not cancel timed-out prompt %s: %s", job.prompt_id, exc)
        await self._finish(job, GenerationStatus.TIMED_OUT,
                     f"no result after {_duration(job.timeout_s)}; check ComfyUI, then retry or "
                     "raise the timeout")

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _emit(self, job: Job, *, message: str = "", fraction: float | None = None,
              preview: bytes | None = None, preview_mime: str | None = None,
              completed_by: str | None = None, files: tuple[OutputFile, ...] = ()) -> None:
        update = JobUpdate(
            generation_id=job.id, status=job.generation.status,
            fraction=job.tracker.fraction if fraction is None else fraction,
            eta_s=job.tracker.eta_s(), current_node=_node_label(job), message=message,
            preview=preview, preview_mime=preview_mime, files=files, completed_by=completed_by,
            workflow=job.generation.workflow, server=job.server,
        )
        self._updates.publish(update)


def _node_label(job: Job) -> str | None:
    node = job.current_node
    if node is None:
        return None
    class_type = (job.graph.get(node) or {}).get("class_type")
    return f"{class_type} (#{node})" if class_type else node


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _gave_up(server: str, lost: tuple[str, ...]) -> str:
    """The error of a generation whose every resubmission was lost too: what happened, in order."""
    again = lost[1:]
    ids = ", ".join(again)
    return (f"ComfyUI at {server} restarted and lost this prompt {_times(len(lost))}; "
            f"resubmitted {_times(len(again))} (prompt id{'s' if len(again) > 1 else ''} {ids}), "
            "then gave up; check ComfyUI, then retry it")


def _renamed(graph: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """The graph with every input that named an old upload naming its new name (a server may
    name a re-upload differently, e.g. when the old file is still there)."""
    if not names:
        return graph
    return {node: ({**spec, "inputs": {k: names.get(v, v) if isinstance(v, str) else v
                                        for k, v in spec.get("inputs", {}).items()}}
                   if isinstance(spec, dict) else spec)
            for node, spec in graph.items()}


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in params.items()}


def _routable(caps: Capabilities, template: WorkflowTemplate) -> Capabilities:
    """What routing sees of a backend: a ComfyUI as it is; the in-process backend has no node
    classes to list, and runs a workflow exactly when it is marked `local`."""
    if caps.runs_models:
        return caps
    nodes = frozenset(template.class_types) if template.local else frozenset()
    return replace(caps, node_classes=nodes, models={})


def _seeded(request: GenerationRequest, params: dict[str, Any], index: int) -> dict[str, Any]:
    """The parameters of the batch's `index`-th generation: seed, seed + 1, … or a random one
    each, when the workflow takes a seed and the request does not fix it."""
    params = dict(params)
    if "seed" in request.workflow.parameters and "seed" not in request.parameters:
        params["seed"] = (request.seed + index if request.seed is not None
                          else random.randrange(_SEED_LIMIT))
    return params


def _needs(template: WorkflowTemplate, parameters: dict[str, Any]) -> Needs:
    try:
        return Needs.of_graph(template.bind(dict(parameters)))
    except AutomataError:  # an input bound later (the uploaded image): the template's own
        return Needs.of_graph(template.graph)


def _local_inputs(request: GenerationRequest) -> dict[str, str]:
    """The local files a request uploads, absolute: a resubmission after an app restart may run
    from another working folder."""
    return {name: str(path.absolute()) for name, path in
            (("image", request.image), ("mesh", request.mesh)) if path is not None}
