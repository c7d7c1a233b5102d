"""Questions the UI (and the CLI's `doctor`) ask about servers and workflows, without HTTP of
their own.

Coroutines for the bridge's asyncio loop. Every question about a server goes through `probe`:
the backend's own `connect` over HTTP only (no websocket), so the GUI, `automata doctor` and a
generation see a server the same way and say the same thing when it cannot be reached.
Failures come back as values with a message, never raise, so a status refresh cannot break
the loop that runs the generations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automata_desktop.backends import Capabilities, open_backend
from automata_desktop.backends.comfyui import ComfyBackend
from automata_desktop.comfy.client import ComfyClient, Timeouts
from automata_desktop.config import LOCAL_SERVER, is_loopback_url
from automata_desktop.core.workflow import WorkflowTemplate, load_workflow
from automata_desktop.core.workflow_needs import (
    MissingModel,
    NodePackRef,
    PackIndex,
    missing_models,
    missing_nodes,
)
from automata_desktop.errors import ComfyError
from automata_desktop.workflow_import import (
    ImportResult,
    ServerKnowledge,
    cached_knowledge,
    import_workflow,
    save_knowledge,
)

log = logging.getLogger(__name__)

#: A probe must answer fast: the dot only says "reachable or not" (`/object_info` keeps its
#: own, longer timeout: a server with many packs sends megabytes).
PROBE_TIMEOUTS = Timeouts(connect=3.0, api=6.0)


@dataclass(frozen=True, slots=True)
class Probe:
    """One look at a server: what it said about itself, or why it could not be asked."""

    url: str
    capabilities: Capabilities | None = None
    message: str = ""  # why not reachable, in words a user can act on
    devices: tuple[str, ...] = ()
    object_info: Mapping[str, Any] = field(default_factory=dict)
    #: of the classes asked about, those the server lacks
    missing: frozenset[str] = frozenset()
    #: the server's ComfyUI-Manager map of packs, asked for only when something is missing
    pack_mappings: Mapping[str, Any] | None = None

    @property
    def reachable(self) -> bool:
        return self.capabilities is not None


async def probe(url: str, api_key: str | None = None, *, inventory: bool = True,
                needs: Iterable[str] = ()) -> Probe:
    """Ask `url` what it is and (with `inventory`) what it has; never raises.

    `needs` names node classes the caller wants: when the server lacks some, its
    ComfyUI-Manager (if it runs one) is asked which packs provide them.
    """
    if url == LOCAL_SERVER:
        backend = open_backend(url)
        try:
            return Probe(url, await backend.connect())
        finally:
            await backend.close()
    comfy = ComfyBackend(ComfyClient(url, api_key=api_key, timeouts=PROBE_TIMEOUTS))
    try:
        caps = await comfy.connect(listen=False, inventory=inventory)
        missing = frozenset(set(needs) - caps.node_classes) if inventory else frozenset()
        mappings = await comfy.client.node_pack_mappings() if missing else None
    except ComfyError as exc:
        return Probe(url, message=str(exc))
    finally:
        await comfy.close()
    devices = comfy.info.devices if comfy.info else ()
    return Probe(url, caps, devices=devices, object_info=comfy.object_info, missing=missing,
                 pack_mappings=mappings)


@dataclass(frozen=True, slots=True)
class ServerStatus:
    url: str
    reachable: bool
    version: str = ""
    message: str = ""  # why not reachable, in words a user can act on

    @property
    def label(self) -> str:
        if self.url == LOCAL_SERVER:
            return "in-process (model-free workflows only)"
        return f"ComfyUI {self.version}" if self.reachable else "not reachable"


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether a server can run a workflow, and what to install when it cannot."""

    ok: bool
    missing: dict[str, str | None] = field(default_factory=dict)  # class_type -> pack hint
    message: str = ""
    models: tuple[MissingModel, ...] = ()  # files the server does not list for their loader


async def server_status(url: str, api_key: str | None = None) -> ServerStatus:
    if url == LOCAL_SERVER:
        return ServerStatus(url, True, "built-in")
    found = await probe(url, api_key, inventory=False)
    if found.capabilities is None:
        return ServerStatus(url, False, message=found.message)
    return ServerStatus(url, True, found.capabilities.version)


async def workflow_readiness(url: str, template: WorkflowTemplate,
                             api_key: str | None = None) -> Readiness:
    if url == LOCAL_SERVER:
        if template.local:
            return Readiness(True, message="runs in-process, no ComfyUI needed")
        return Readiness(False, message=local_refusal(template))
    found = await probe(url, api_key, needs=template.class_types)
    if not found.reachable:
        return Readiness(False, message=found.message)
    models = missing_models(template.graph, found.object_info)
    if not found.missing and not models:
        return Readiness(True, message="the server has every node and model this workflow uses")
    index = PackIndex(found.pack_mappings, {c: NodePackRef(p.name, p.url or p.install)
                                            for p in template.node_packs for c in p.nodes})
    packs = {}
    for node in missing_nodes(found.missing, found.object_info, index):
        packs[node.class_type] = (f"{node.pack.title} ({node.pack.url})" if node.pack and
                                  node.pack.url else node.pack.title if node.pack else None)
    text = "\n".join(part for part in (missing_nodes_text(packs) if packs else "",
                                       missing_models_text(models)) if part)
    return Readiness(False, packs, text, tuple(models))


async def fetch_knowledge(url: str) -> ServerKnowledge:
    """`/object_info` (and the Manager's pack map, if it runs there) from the server, cached."""
    async with ComfyClient(url) as client:
        object_info = await client.object_info()
        try:
            mappings = await client.node_pack_mappings()
        except ComfyError as exc:
            log.info("no ComfyUI-Manager pack map from %s: %s", url, exc)
            mappings = None
    knowledge = ServerKnowledge(url, object_info, mappings)
    save_knowledge(knowledge)
    return knowledge


@dataclass(frozen=True, slots=True)
class ImportedWorkflow:
    result: ImportResult
    template: WorkflowTemplate  # as the picker loads it from the saved files


async def import_workflow_file(path: Path, server: str, *, name: str | None = None,
                               add_webhook: bool = False) -> ImportedWorkflow:
    """Import a workflow the user dropped or picked, with `server`'s node definitions (else the
    cached ones); the file work runs in a thread so the loop keeps serving generations."""
    knowledge = None
    if server != LOCAL_SERVER:
        try:
            knowledge = await fetch_knowledge(server)
        except ComfyError as exc:
            log.info("importing without %s's definitions: %s", server, exc)
    knowledge = knowledge or cached_knowledge(server) or cached_knowledge()
    from automata_desktop.runtime import shipped_node_packs, shipped_workflow_names

    def run() -> ImportedWorkflow:
        result = import_workflow(path, knowledge=knowledge, name=name, add_webhook=add_webhook,
                                 reserved=shipped_workflow_names(),
                                 known_packs=shipped_node_packs())
        return ImportedWorkflow(result, load_workflow(result.path))

    return await asyncio.to_thread(run)


def local_refusal(template: WorkflowTemplate) -> str:
    models = ", ".join(m.filename for m in template.models)
    needs = f" (models: {models})" if models else ""
    return (f"'{template.title or template.name}' needs a ComfyUI server with models{needs}; "
            "the in-process backend only runs model-free workflows such as pbr_from_image. "
            "Pick a ComfyUI server, or add one in Settings.")


def missing_nodes_text(packs: dict[str, str | None]) -> str:
    by_pack: dict[str, list[str]] = {}
    for class_type, pack in packs.items():
        by_pack.setdefault(pack or "an unknown node pack", []).append(class_type)
    lines = [f"• {', '.join(nodes)} — install {pack}" for pack, nodes in by_pack.items()]
    return "Missing nodes on this server:\n" + "\n".join(lines)


def missing_models_text(models: list[MissingModel]) -> str:
    if not models:
        return ""
    lines = [f"• {m.describe()}" for m in models]
    return ("Missing models on this server (ComfyUI would refuse the run):\n" + "\n".join(lines)
            + "\nRestart ComfyUI or press its Refresh after adding them.")


def webhook_warning(server: str, webhook_url: str | None) -> str:
    """Explain when a remote ComfyUI cannot call our webhook back (results still arrive by polling)."""
    if server == LOCAL_SERVER or not webhook_url:
        return ""
    if is_loopback_url(webhook_url) and not is_loopback_url(server):
        return (f"The webhook listener ({webhook_url}) is only reachable from this computer, so "
                f"{server} cannot call it back; results arrive over the websocket and /history "
                "instead. Set a public webhook URL in Settings for instant callbacks.")
    return ""
