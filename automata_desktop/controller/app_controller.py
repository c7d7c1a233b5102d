"""The one object the widgets talk to: intents in, evented state out (after krita-ai-diffusion's
`model/connection.py`).

Widgets never hold the Runtime, the library, the sync runner or a ComfyUI client. They call an
intent (`submit`, `retry`, `cancel`, `check_now`, `delete_generation`, `apply_to_scene`,
`sign_in`, …) and observe the signals below. Every intent runs on the bridge's asyncio loop (the
blocking library and sync calls in a worker thread from there); replies come back on the Qt
thread, and a failure reaches the caller as one line a user can act on, never as an exception.

Each piece of state has one owner: the library row owns a generation (the controller keeps only
the requests of this session, for Retry), the settings live here, server health lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject, Signal

from automata_desktop import services
from automata_desktop.config import LOCAL_SERVER, Settings, save_settings
from automata_desktop.controller.bridge import RuntimeBridge
from automata_desktop.core.generation import Generation, GenerationStatus
from automata_desktop.core.maps import PBR_MAPS, MapKind
from automata_desktop.core.texture_set import MapSource, TextureMap, TextureSet
from automata_desktop.core.workflow import WorkflowTemplate, load_workflow
from automata_desktop.errors import (
    AutomataError,
    ConfigError,
    MissingNodes,
    PromptRejected,
    ServerUnreachable,
)
from automata_desktop.jobs.models import GenerationRequest, JobUpdate
from automata_desktop.runtime import Runtime, all_workflows
from automata_desktop.workflow_import import ImportResult, save_parameters

if TYPE_CHECKING:
    from automata_desktop.jobs.pool import PoolServer
    from automata_desktop.library.glb_export import GlbExport
    from automata_desktop.library.store import Library
    from automata_desktop.sync.outbox import Delivery
    from automata_desktop.sync.runner import SyncRunner, SyncStatus

log = logging.getLogger(__name__)

T = TypeVar("T")
Done = Callable[[T], None]
Failed = Callable[[str], None]

NOT_SET_UP = ("Sync is not set up: enter your Supabase project URL and anon key in "
              "File → Settings")


@dataclass(frozen=True, slots=True)
class Submitted:
    generations: list[Generation]
    notice: str = ""  # worth telling, not an error (a remote server cannot call the webhook back)


@dataclass(frozen=True, slots=True)
class LibraryPage:
    generations: list[Generation]
    total: int
    deliveries: dict[str, str]  # generation id -> sync delivery state ("" when sync is off)


@dataclass(frozen=True, slots=True)
class SceneUpdate:
    """A generation's maps for the mesh on screen.

    `keep_replaced`: maps the user swapped in by hand since stay (a finished generation landing
    by itself); False when the user asked for this generation (Open in the library).
    """

    generation_id: str
    textures: TextureSet
    mesh: Path | None
    keep_replaced: bool


def describe_error(exc: BaseException) -> str:
    """A failure as the user reads it: our errors say what to do; anything else is a bug."""
    if isinstance(exc, PromptRejected) and exc.problems:
        return "The server rejected the workflow:\n" + "\n".join(f"• {p}" for p in exc.problems)
    if isinstance(exc, MissingNodes):
        return services.missing_nodes_text(exc.missing)
    if isinstance(exc, ServerUnreachable):
        return f"{exc}\nStart ComfyUI there, or pick another server."
    if isinstance(exc, AutomataError):
        return str(exc)
    log.error("unexpected error in a background call", exc_info=exc)
    return f"Unexpected error ({type(exc).__name__}): {exc}"


def texture_set_of(gen: Generation) -> TextureSet:
    """A generation's maps, by the kind the library recorded; the newest file of a kind wins
    (a map replaced or pulled later is stored beside the old one, by content hash)."""
    maps: dict[MapKind, TextureMap] = {}
    for file in reversed(gen.files):
        if file.kind in PBR_MAPS and file.kind not in maps and file.path.exists():
            maps[file.kind] = TextureMap(file.kind, MapSource(file.source), path=file.path)
    return TextureSet(maps, name=gen.prompt[:40] or gen.workflow)


def request_from_generation(gen: Generation,
                            workflows: dict[str, WorkflowTemplate]) -> GenerationRequest:
    """The request that reproduces a generation: same workflow, server and parameters (seed too)."""
    template = workflows.get(gen.workflow)
    if template is None:
        raise AutomataError(f"The workflow {gen.workflow!r} of this generation is not installed any "
                            "more; it cannot be re-run.")
    params = dict(gen.parameters)
    image = None
    stored = params.get("image")
    # Local runs record the image's path; server runs the uploaded name, which the server still has.
    if isinstance(stored, str) and (gen.server == LOCAL_SERVER or Path(stored).is_absolute()):
        if Path(stored).is_file():
            image = Path(params.pop("image"))
        elif gen.server == LOCAL_SERVER:
            raise AutomataError(f"The reference image {stored} is gone; pick it again to re-run.")
    return GenerationRequest(workflow=template, server=gen.server, parameters=params, image=image)


def one_of(request: GenerationRequest, gen: Generation) -> GenerationRequest:
    """The request that made `gen` as one generation of it: a batch's member keeps its seed."""
    params = dict(request.parameters)
    if "seed" in gen.parameters and "seed" in request.workflow.parameters:
        params["seed"] = gen.parameters["seed"]
    return replace(request, parameters=params, count=1, seed=None)


class AppController(QObject):
    started = Signal(list)  # notices of the start (webhook port taken, sync paused, ...)
    start_failed = Signal(str)
    job_updated = Signal(object, object)  # JobUpdate, decoded preview QImage or None
    generation_finished = Signal(object)  # Generation, completed, with its typed files
    generation_deleted = Signal(str, object)  # generation id, frozenset[Path] of files now gone
    scene_update = Signal(object)  # SceneUpdate: maps (and mesh) for the viewport
    server_status_changed = Signal(object)  # services.ServerStatus
    library_changed = Signal()  # rows were added, removed or synced: lists should re-read
    sync_event = Signal(str)  # an auth event from the sync runner: SIGNED_OUT, TOKEN_REFRESHED, …
    settings_changed = Signal(object)  # Settings, after apply_settings

    def __init__(self, settings: Settings, *, listen: bool = True,
                 workflows: dict[str, WorkflowTemplate] | None = None,
                 settings_path: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._settings_path = settings_path  # None: the user's settings file
        self.workflows = dict(workflows) if workflows is not None else all_workflows()
        self.server_statuses: dict[str, services.ServerStatus] = {}
        self._requests: dict[str, GenerationRequest] = {}  # this session's, for Retry
        self._listening_to: SyncRunner | None = None
        self._sync_project: str | None = None
        self._bridge = RuntimeBridge(settings, listen=listen, parent=self)
        self._bridge.started.connect(self._started)
        self._bridge.start_failed.connect(self.start_failed)
        self._bridge.update.connect(self._job_update)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._bridge.start()

    def stop(self) -> None:
        self._bridge.stop()

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Block until the engine is up (or failed to start); for tests and the screenshot mode."""
        return self._bridge.wait_ready(timeout)

    @property
    def running(self) -> bool:
        return self._bridge.running

    @property
    def runtime(self) -> Runtime | None:
        """For the composition root and tests only: widgets go through the intents."""
        return self._bridge.runtime

    @property
    def webhook_url(self) -> str | None:
        runtime = self._bridge.runtime
        return None if runtime is None else runtime.engine.webhook_url

    @property
    def sync_project(self) -> str | None:
        """The Supabase project URL sync talks to, or None when sync is not set up."""
        return self._sync_project

    def _started(self, notices: list[str]) -> None:
        self._note_sync(self._bridge.runtime.sync if self._bridge.runtime else None)
        self.started.emit(notices)
        self.library_changed.emit()

    # ------------------------------------------------------------------ generations

    def submit(self, request: GenerationRequest, on_done: Done[Submitted] | None = None,
               on_error: Failed | None = None) -> None:
        """Queue a request; a refusal (missing nodes, needs a server) leaves no library row."""
        if request.server == LOCAL_SERVER and not request.workflow.local:
            self._fail(on_error, services.local_refusal(request.workflow))
            return
        if request.count > 1 and "seed" not in request.workflow.parameters:
            self._fail(on_error, f"'{request.workflow.title or request.workflow.name}' has no "
                                 f"seed, so a batch of {request.count} would make "
                                 f"{request.count} identical sets: run it once.")
            return
        if request.servers and not request.pin:  # a pinned workflow waits for its server
            request = replace(request, pin=self.settings.pin_for(request.workflow.name,
                                                                 request.servers))

        async def go(rt: Runtime) -> Submitted:
            generations = await rt.engine.submit(request)
            return Submitted(generations, services.webhook_warning(request.server,
                                                                   rt.engine.webhook_url))

        def done(result: Submitted) -> None:
            for gen in result.generations:
                self._requests[gen.id] = request
            self.library_changed.emit()
            if on_done is not None:
                on_done(result)

        self._call(go, done, on_error)

    def retry(self, generation_id: str, on_done: Done[Submitted] | None = None,
              on_error: Failed | None = None) -> None:
        """Run one generation again, with its own seed: from this session's request (its local
        input files, its servers) or, for an older one, from what its library row records."""
        request = self._requests.get(generation_id)

        def found(gen: Generation | None) -> None:
            if gen is None:
                self._fail(on_error, "This generation is no longer in the library.")
                return
            try:
                again = (request_from_generation(gen, self.workflows) if request is None
                         else one_of(request, gen))
            except AutomataError as exc:
                self._fail(on_error, str(exc))
                return
            self.submit(again, on_done, on_error)

        self._get(generation_id, found, on_error)

    def cancel(self, generation_id: str, on_error: Failed | None = None) -> None:
        self._call(lambda rt: rt.engine.cancel(generation_id), None, on_error)

    def check_now(self, generation_id: str, on_done: Done[Generation | None] | None = None,
                  on_error: Failed | None = None) -> None:
        self._call(lambda rt: rt.engine.check_now(generation_id), on_done, on_error)

    def delete_generation(self, generation_id: str, on_done: Done[None] | None = None,
                          on_error: Failed | None = None) -> None:
        """Delete a generation everywhere it lives: a run still going is cancelled first, the row
        and its files go, sync queues the remote deletion, and the scene drops its maps."""

        async def go(rt: Runtime) -> frozenset[Path]:
            gen = await rt.engine.delete(generation_id)
            if gen is None:
                raise AutomataError("This generation is no longer in the library.")
            if rt.sync is not None:
                await asyncio.to_thread(rt.sync.generation_deleted, generation_id)
            return frozenset(f.path for f in gen.files)

        def done(paths: frozenset[Path]) -> None:
            self._requests.pop(generation_id, None)
            self.generation_deleted.emit(generation_id, paths)
            self.library_changed.emit()
            if on_done is not None:
                on_done(None)

        self._call(go, done, on_error)

    def apply_to_scene(self, generation_id: str, *, keep_replaced: bool = False,
                       on_error: Failed | None = None) -> None:
        """Put a generation's maps (and its mesh, if it made one) on the viewport's scene."""

        def found(found: tuple[Generation, SceneUpdate] | None) -> None:
            if found is None:
                self._fail(on_error, "This generation is no longer in the library.")
            else:
                self.scene_update.emit(found[1])

        self._call(lambda rt: self._scene_of(rt, generation_id, keep_replaced), found, on_error)

    @staticmethod
    async def _scene_of(rt: Runtime, generation_id: str,
                        keep_replaced: bool) -> tuple[Generation, SceneUpdate] | None:
        gen = await rt.engine.library.get(generation_id)
        if gen is None:
            return None
        # Building the set checks that each file still exists: disk work, so in a worker; the
        # maps decoded as they landed come with their pixels (the window decodes the others).
        textures = await asyncio.to_thread(texture_set_of, gen)
        if rt.decoded is not None:
            textures = await asyncio.to_thread(rt.decoded.filled, textures)
        mesh = next((f.path for f in gen.files if f.kind is MapKind.MESH), None)
        return gen, SceneUpdate(gen.id, textures, mesh, keep_replaced)

    def _job_update(self, update: JobUpdate, preview: object) -> None:
        self.job_updated.emit(update, preview)
        if update.status.is_final or update.message == "queued":
            self.library_changed.emit()
        if update.status is GenerationStatus.COMPLETED and update.files:
            self._call(lambda rt: self._scene_of(rt, update.generation_id, True), self._finished,
                       lambda text: log.warning("finished generation unreadable: %s", text))

    def _finished(self, found: tuple[Generation, SceneUpdate] | None) -> None:
        if found is None:  # deleted while it finished
            return
        gen, update = found
        self.generation_finished.emit(gen)
        self.scene_update.emit(update)  # maps the user replaced by hand since stay

    # ------------------------------------------------------------------ servers and workflows

    def refresh_servers(self, urls: list[str]) -> None:
        """Probe each server in the background; `server_status_changed` reports each answer."""
        keys = self._api_keys()
        for url in urls:
            self._call(lambda _rt, u=url: services.server_status(u, keys.get(u)),
                       self._status_arrived, lambda text: None)

    def _status_arrived(self, status: services.ServerStatus) -> None:
        self.server_statuses[status.url] = status
        self.server_status_changed.emit(status)

    def pool_status(self, on_done: Done[list[PoolServer]]) -> None:
        """Health, our jobs and the queue length of each server the pool has used."""

        async def go(rt: Runtime) -> list[PoolServer]:
            return rt.engine.pool.snapshot()

        self._call(go, on_done, lambda text: None)

    def pause_server(self, url: str, paused: bool) -> None:
        """A paused server takes no new generation; those waiting there move to another. Kept
        in the settings, so it stays paused after a restart (and for the CLI)."""
        self.settings = replace(self.settings, servers=tuple(
            replace(s, paused=paused) if s.url == url else s for s in self.settings.servers))
        with contextlib.suppress(ConfigError):  # a read-only config folder: paused for this run
            save_settings(self.settings, self._settings_path)

        async def go(rt: Runtime) -> None:
            rt.engine.pause_server(url, paused)

        self._call(go, None, None)

    def pin_workflow(self, workflow: str, url: str) -> None:
        """Pin `workflow` to one server of the pool ("" unpins it): when several servers share
        the work its generations wait for that one. Kept in the settings, as the CLI's
        `automata workflows pin` does."""
        self.settings = self.settings.with_pin(workflow, url)
        with contextlib.suppress(ConfigError):  # a read-only config folder: for this run only
            save_settings(self.settings, self._settings_path)

    def workflow_readiness(self, url: str, template: WorkflowTemplate,
                           on_done: Done[services.Readiness]) -> None:
        key = self._api_keys().get(url)
        self._call(lambda _rt: services.workflow_readiness(url, template, key), on_done,
                   lambda text: None)

    def import_workflow(self, path: Path, server: str, *, name: str | None = None,
                        add_webhook: bool = False,
                        on_done: Done[services.ImportedWorkflow] | None = None,
                        on_error: Failed | None = None) -> None:
        """Import a dropped or picked workflow file with `server`'s node definitions."""

        def done(imported: services.ImportedWorkflow) -> None:
            self.workflows[imported.template.name] = imported.template
            if on_done is not None:
                on_done(imported)

        self._call(lambda _rt: services.import_workflow_file(path, server, name=name,
                                                             add_webhook=add_webhook),
                   done, on_error)

    def save_import(self, result: ImportResult, parameters: dict[str, Any],
                    on_done: Done[WorkflowTemplate] | None = None,
                    on_error: Failed | None = None) -> None:
        """Keep the parameters the user chose for an imported workflow; the template reloads."""

        def save() -> WorkflowTemplate:
            save_parameters(result, parameters)
            return load_workflow(result.path)

        def done(template: WorkflowTemplate) -> None:
            self.workflows[template.name] = template
            if on_done is not None:
                on_done(template)

        self._call(lambda _rt: asyncio.to_thread(save), done, on_error)

    # ------------------------------------------------------------------ the library

    def list_generations(self, *, status: Any = None, search: str | None = None, limit: int,
                         on_done: Done[LibraryPage], on_error: Failed | None = None) -> None:
        async def go(rt: Runtime) -> LibraryPage:
            library = rt.engine.library  # awaited on the database thread: the loop never blocks
            gens = await library.list(status=status, search=search, limit=limit)
            total = await library.count(status=status, search=search)
            marks = await asyncio.to_thread(self._deliveries, rt, [g.id for g in gens])
            return LibraryPage(gens, total, marks)

        self._call(go, on_done, on_error)

    @staticmethod
    def _deliveries(rt: Runtime, ids: list[str]) -> dict[str, str]:
        if rt.sync is None:
            return {}
        delivered: dict[str, Delivery] = rt.sync.delivery(ids)
        return {k: str(v) for k, v in delivered.items()}

    def get_generation(self, generation_id: str, on_done: Done[Generation | None],
                       on_error: Failed | None = None) -> None:
        self._get(generation_id, on_done, on_error)

    def export_maps(self, generation_id: str, dest: Path, preset: str,
                    on_done: Done[list[Path]], on_error: Failed | None = None) -> None:
        self._in_library(lambda lib: lib.export(generation_id, dest, preset=preset), on_done,
                         on_error)

    def export_glb(self, generation_id: str, dest: Path, preset: str,
                   on_done: Done[GlbExport], on_error: Failed | None = None) -> None:
        """The generation as a textured GLB in `dest` (its mesh, or the sample cube)."""
        from automata_desktop.library.glb_export import export_generation_glb

        def export(lib: Library) -> GlbExport:
            gen = lib.get(generation_id)
            if gen is None:
                raise AutomataError(f"Generation {generation_id[:8]} is no longer in the library")
            return export_generation_glb(gen, dest, preset=preset)

        self._in_library(export, on_done, on_error)

    # ------------------------------------------------------------------ sync

    def sync_status(self, on_done: Done[SyncStatus | None]) -> None:
        async def go(rt: Runtime) -> SyncStatus | None:
            self._note_sync(rt.sync)
            return None if rt.sync is None else await asyncio.to_thread(rt.sync.status)

        self._call(go, on_done, lambda text: log.debug("sync status unavailable: %s", text))

    def sign_in(self, email: str, password: str, on_done: Done[Any],
                on_error: Failed) -> None:
        self._in_sync(lambda runner: runner.sign_in(email, password), on_done, on_error)

    def sign_up(self, email: str, password: str, on_done: Done[Any], on_error: Failed) -> None:
        """None to `on_done` when the project wants the address confirmed first."""
        self._in_sync(lambda runner: runner.sign_up(email, password), on_done, on_error)

    def sign_out(self, on_done: Done[None], on_error: Failed) -> None:
        self._in_sync(lambda runner: runner.sign_out(), on_done, on_error)

    def sync_now(self, on_done: Done[Any], on_error: Failed) -> None:
        def done(result: Any) -> None:
            self.library_changed.emit()
            on_done(result)

        self._in_sync(lambda runner: runner.sync_now(), done, on_error)

    def _note_sync(self, runner: SyncRunner | None) -> None:
        """Hear the runner's auth events (token refreshed, session revoked) on the Qt side."""
        self._sync_project = None if runner is None else runner.settings.url
        if runner is not None and runner is not self._listening_to:
            runner.add_listener(lambda event, _account: self.sync_event.emit(event))
            self._listening_to = runner

    # ------------------------------------------------------------------ settings

    def apply_settings(self, settings: Settings) -> bool:
        """Take saved settings; True when some only apply after a restart (library, webhook)."""
        old, self.settings = self.settings, settings
        restart = (settings.library_path != old.library_path
                   or settings.webhook_port != old.webhook_port
                   or settings.webhook_host != old.webhook_host
                   or settings.webhook_secret != old.webhook_secret)
        if (settings.supabase_url, settings.supabase_anon_key) != (old.supabase_url,
                                                                   old.supabase_anon_key):
            async def reconfigure(rt: Runtime) -> None:
                self._note_sync(await rt.reconfigure_sync(settings))

            self._call(reconfigure, lambda _: self.sync_event.emit("PROJECT_CHANGED"),
                       lambda text: log.warning("sync: %s", text))
        self.settings_changed.emit(settings)
        return restart

    def _api_keys(self) -> dict[str, str | None]:
        return {s.url: s.api_key for s in self.settings.servers}

    # ------------------------------------------------------------------ plumbing

    def _call(self, factory: Callable[[Runtime], Awaitable[T]], on_done: Done[T] | None,
              on_error: Failed | None) -> None:
        self._bridge.call(factory, on_done,
                          lambda exc: self._fail(on_error, describe_error(exc)))

    def _get(self, generation_id: str, on_done: Done[Generation | None],
             on_error: Failed | None) -> None:
        self._call(lambda rt: rt.engine.library.get(generation_id), on_done, on_error)

    def _in_library(self, work: Callable[[Library], T], on_done: Done[T] | None,
                    on_error: Failed | None) -> None:
        """Blocking library work that also reads and writes files (exports): in a worker."""
        self._call(lambda rt: asyncio.to_thread(work, rt.library), on_done, on_error)

    def _in_sync(self, work: Callable[[SyncRunner], T], on_done: Done[T] | None,
                 on_error: Failed | None) -> None:
        async def go(rt: Runtime) -> T:
            if rt.sync is None:
                raise AutomataError(NOT_SET_UP)
            self._note_sync(rt.sync)
            return await asyncio.to_thread(work, rt.sync)

        self._call(go, on_done, on_error)

    @staticmethod
    def _fail(on_error: Failed | None, text: str) -> None:
        if on_error is not None:
            on_error(text)
        else:
            log.warning("%s", text)
