"""Wires settings, library, job engine and webhook listener together for the CLI and the GUI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from automata_desktop import paths
from automata_desktop.backends import Backend, open_backend
from automata_desktop.config import Settings, generate_webhook_secret
from automata_desktop.core.decode_ahead import DecodeAhead
from automata_desktop.core.workflow import (
    WorkflowTemplate,
    find_workflow,
    load_workflow,
    shipped_workflows,
)
from automata_desktop.core.workflow_needs import NodePackRef
from automata_desktop.errors import AutomataError, WebhookError, WorkflowError
from automata_desktop.jobs.engine import JobEngine
from automata_desktop.library.async_library import AsyncLibrary
from automata_desktop.library.store import Library

if TYPE_CHECKING:
    from automata_desktop.sync.runner import SyncRunner

log = logging.getLogger(__name__)


def workflow_dirs() -> list[Path]:
    """Shipped workflows first, then the user's imported ones (which may not shadow them)."""
    return [paths.resources_dir() / "workflows", paths.data_dir() / "workflows"]


def load_workflow_named(name_or_path: str) -> WorkflowTemplate:
    return find_workflow(name_or_path, workflow_dirs())


def shipped_workflow_names() -> set[str]:
    return set(shipped_workflows(workflow_dirs()[0]))


def shipped_node_packs() -> dict[str, NodePackRef]:
    """Node class -> the pack that provides it, as the shipped manifests say."""
    out: dict[str, NodePackRef] = {}
    for template in shipped_workflows(workflow_dirs()[0]).values():
        for pack in template.node_packs:
            for class_type in pack.nodes:
                out.setdefault(class_type, NodePackRef(pack.name, pack.url or pack.install))
    return out


def all_workflows() -> dict[str, WorkflowTemplate]:
    shipped, imported = workflow_dirs()
    out = shipped_workflows(shipped)
    for path in sorted(imported.glob("*.json")):
        if path.name.endswith(".manifest.json"):
            continue
        try:
            template = load_workflow(path)
        except WorkflowError as exc:  # one broken import must not hide every other workflow
            log.warning("skipping imported workflow %s: %s", path.name, exc)
            continue
        out.setdefault(template.name, template)
    return out


def _workflow_named() -> Callable[[str], WorkflowTemplate | None]:
    """A lookup of the installed workflows by name, read from disk the first time it is asked
    (only a generation left waiting in the app's queue at the last quit asks)."""
    found: dict[str, WorkflowTemplate] = {}

    def named(name: str) -> WorkflowTemplate | None:
        if not found:
            found.update(all_workflows())
        return found.get(name)

    return named


def sync_runner(settings: Settings, library: Library) -> SyncRunner | None:
    """A SyncRunner for the configured Supabase project, or None when sync is not set up."""
    if not (settings.supabase_url and settings.supabase_anon_key):
        return None
    from automata_desktop.sync.runner import SyncRunner
    from automata_desktop.sync.settings import SupabaseSettings

    supabase = SupabaseSettings(settings.supabase_url, settings.supabase_anon_key,
                                upload_limit=settings.supabase_upload_limit_mb * 1024 * 1024)
    return SyncRunner(supabase, library, paths.config_dir(), paths.data_dir())


@dataclass
class Runtime:
    """Everything a running app holds; `async with Runtime(settings) as rt:` starts and stops it.

    `library` is the blocking face of the library, for the GUI's thread pool and the sync thread;
    the engine and the listener on the event loop hold its `AsyncLibrary`. Both reach SQLite on
    the library's one database thread.
    """

    settings: Settings
    listen: bool = True
    #: a window shows the results: decode each map as it lands (`decoded`), not after the run
    shows_results: bool = False
    library: Library = field(init=False)
    decoded: DecodeAhead | None = field(default=None, init=False)
    engine: JobEngine = field(init=False)
    listener: object | None = field(default=None, init=False)
    notices: list[str] = field(default_factory=list, init=False)
    sync: SyncRunner | None = field(default=None, init=False)

    async def __aenter__(self) -> Runtime:
        if not self.settings.webhook_secret:  # settings built by hand rather than loaded
            self.settings = replace(self.settings, webhook_secret=generate_webhook_secret())
        # Opening migrates and sweeps crash leftovers: disk work, kept off the loop.
        self.library = await asyncio.to_thread(Library, self.settings.library_path)
        self.engine = JobEngine(
            AsyncLibrary(self.library), timeout_s=self.settings.timeout_minutes * 60,
            poll_interval_s=self.settings.poll_interval_s, backend_factory=self._backend,
            resubmit_attempts=self.settings.resubmit_attempts, workflows=_workflow_named(),
        )
        if self.shows_results:
            self.decoded = self.engine.outputs.ahead = DecodeAhead()
        for server in self.settings.servers:  # paused in the settings: nothing new goes there
            if server.paused:
                self.engine.pause_server(server.url, True)
        if self.listen:
            await self._start_listener()
        await self._start_sync()
        await self.engine.start()
        return self

    def _backend(self, url: str) -> Backend:
        """The backend for a server, with the API key its settings give it (Comfy Cloud)."""
        key = next((s.api_key for s in self.settings.servers if s.url == url), None)
        return open_backend(url, api_key=key)

    async def __aexit__(self, *exc: object) -> None:
        await self.engine.close()
        if self.sync is not None:
            await asyncio.to_thread(self.sync.close)
        if self.listener is not None:
            with contextlib.suppress(Exception):
                await self.listener.stop()  # type: ignore[attr-defined]
        await self.engine.library.close()
        if self.decoded is not None:
            self.decoded.close()

    async def _start_sync(self) -> None:
        """With a Supabase project configured, keep a runner even while signed out: finished
        generations wait in its outbox, and a sign-in starts syncing without a restart."""
        try:
            runner = sync_runner(self.settings, self.library)
            if runner is None:
                return
            await asyncio.to_thread(runner.start)
        except AutomataError as exc:
            self.notices.append(f"sync off: {exc}")
            return
        if runner.last_error:
            self.notices.append(f"sync paused: {runner.last_error}")
        self.sync = runner
        self.engine.on_finished.append(runner.generation_finished)

    async def reconfigure_sync(self, settings: Settings) -> SyncRunner | None:
        """Follow a changed Supabase project (URL or anon key) from the settings dialog."""
        same = (settings.supabase_url == self.settings.supabase_url
                and settings.supabase_anon_key == self.settings.supabase_anon_key)
        self.settings = replace(self.settings, supabase_url=settings.supabase_url,
                                supabase_anon_key=settings.supabase_anon_key)
        if same and self.sync is not None:
            return self.sync
        old, self.sync = self.sync, None
        if old is not None:
            with contextlib.suppress(ValueError):
                self.engine.on_finished.remove(old.generation_finished)
            await asyncio.to_thread(old.close)
        await self._start_sync()
        return self.sync

    async def _start_listener(self) -> None:
        from automata_desktop.webhook import WebhookListener

        s = self.settings
        for port in (s.webhook_port, 0):
            try:
                listener = WebhookListener(secret=s.webhook_secret, on_event=self.engine.handle_webhook,
                                           host=s.webhook_host, port=port,
                                           seen_ids=self.engine.library.seen_webhook_ids())
                await listener.start()
            except WebhookError as exc:
                if port == 0:
                    self.notices.append(f"webhook listener not started: {exc}; results arrive "
                                        "over the websocket and /history instead")
                    return
                self.notices.append(f"webhook port {port} is taken (another AUTOMATA running?); "
                                    "using a free port for this run")
                continue
            self.listener = listener
            self.engine.webhook_url = s.webhook_public_url or listener.url
            return
