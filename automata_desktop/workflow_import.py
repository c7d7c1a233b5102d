"""Importing a user's own ComfyUI workflow: any file they bring becomes an API graph + manifest.

The steps, each in its own module: read the file (`core.workflow_file`: API or UI JSON, or a
PNG/WebP ComfyUI saved), convert a UI graph with the server's node definitions
(`core.ui_workflow`), find parameters and outputs (`core.workflow_params`), and name what the
server lacks (`core.workflow_needs`). This module adds the server (its `/object_info`, cached per
server so a later import works offline, and its ComfyUI-Manager's pack map) and writes the result
into the user's workflows folder, where the picker and `automata workflows` find it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automata_desktop import paths
from automata_desktop.core.ui_workflow import ui_to_api
from automata_desktop.core.workflow import parse_workflow
from automata_desktop.core.workflow_file import read_workflow_file
from automata_desktop.core.workflow_needs import (
    MissingModel,
    MissingNode,
    NodePackRef,
    PackIndex,
    missing_models,
    missing_nodes,
)
from automata_desktop.core.workflow_params import WEBHOOK_NODE, discover
from automata_desktop.errors import WorkflowError

log = logging.getLogger(__name__)

_NAME = re.compile(r"[^a-z0-9_]+")
#: The map inputs of the AUTOMATA Webhook node (comfy_nodes/webhook_node.py MAP_ORDER).
_WEBHOOK_MAPS = ("base_color", "normal", "height", "roughness", "metallic", "ao", "orm")


def user_workflows_dir() -> Path:
    return paths.data_dir() / "workflows"


def _cache_dir() -> Path:
    return paths.data_dir() / "cache" / "object_info"


@dataclass(frozen=True, slots=True)
class ServerKnowledge:
    """What a server told us about its nodes, live or from the cache."""

    url: str
    object_info: dict[str, Any]
    manager_mappings: dict[str, Any] | None = None
    cached: bool = False


@dataclass
class ImportResult:
    name: str
    path: Path
    manifest_path: Path
    source: str  # "api", "ui" or "image"
    parameters: dict[str, dict[str, Any]]
    outputs: list[dict[str, Any]]
    missing_nodes: list[MissingNode] = field(default_factory=list)
    missing_models: list[MissingModel] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    server: str | None = None
    source_path: Path | None = None  # the file the user brought
    webhook_node: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "path": str(self.path), "manifest": str(self.manifest_path),
            "source": self.source, "server": self.server,
            "parameters": {n: {"role": p.get("role"), "type": p["type"], "bind": p["bind"],
                               "default": p.get("default"), "choices": p.get("choices", [])}
                           for n, p in self.parameters.items()},
            "outputs": self.outputs,
            "missing_nodes": [m.as_dict() for m in self.missing_nodes],
            "missing_models": [m.as_dict() for m in self.missing_models],
            "notices": self.notices,
        }


# -- the server's node definitions ------------------------------------------------------------


def cached_knowledge(url: str | None = None) -> ServerKnowledge | None:
    """The cached definitions of `url`, or of the last server seen when no url is given."""
    folder = _cache_dir()
    path = folder / (f"{_slug(url)}.json" if url else "last.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("object_info"), dict):
        return None
    return ServerKnowledge(str(data.get("url")), data["object_info"], data.get("manager_mappings"),
                           cached=True)


def save_knowledge(knowledge: ServerKnowledge) -> None:
    """Cache what a server said (`services.fetch_knowledge` asks it), for imports offline."""
    folder = _cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"url": knowledge.url, "object_info": knowledge.object_info,
                           "manager_mappings": knowledge.manager_mappings})
        for name in (f"{_slug(knowledge.url)}.json", "last.json"):
            _write_atomic(folder / name, body)
    except OSError as exc:  # a cache: losing it costs a request next time, nothing more
        log.warning("could not cache %s's node definitions: %s", knowledge.url, exc)


# -- importing ---------------------------------------------------------------------------------


def import_workflow(source: Path, *, knowledge: ServerKnowledge | None, name: str | None = None,
                    add_webhook: bool = False, reserved: set[str] | None = None,
                    known_packs: dict[str, NodePackRef] | None = None,
                    dest: Path | None = None) -> ImportResult:
    """Read, convert and describe `source`, then save it as `<dest>/<name>.json` + manifest.

    `reserved`: names of shipped workflows, which an import may not shadow. `known_packs`:
    class -> pack from the shipped manifests, for servers without ComfyUI-Manager.
    """
    found = read_workflow_file(source)
    notices: list[str] = []
    object_info = knowledge.object_info if knowledge else {}
    if knowledge and knowledge.cached:
        notices.append(f"node definitions from the cached copy of {knowledge.url} (the server "
                       "was not asked)")
    if found.api is not None:
        graph = found.api
        if found.ui is not None:
            notices.append("the image carries both graphs; using the API prompt ComfyUI ran")
    else:
        if knowledge is None:
            raise WorkflowError(
                f"{source.name} is a UI-format workflow; converting it needs a ComfyUI server's "
                "node definitions: pass --server URL (once is enough, they are cached) or "
                "export it from ComfyUI with Workflow → Export (API)")
        assert found.ui is not None
        conversion = ui_to_api(found.ui, object_info)
        graph = conversion.graph
        notices += conversion.notices
    if not graph:
        raise WorkflowError(f"{source.name} holds no nodes that run (all muted or notes?)")
    name = _workflow_name(name or source.stem)
    if reserved and name in reserved:
        raise WorkflowError(f"{name!r} is the name of a shipped workflow; choose another with "
                            "--name")
    discovery = discover(graph, object_info)
    notices += discovery.notices
    webhook = next((o["node"] for o in discovery.outputs if o["kind"] == "webhook"), None)
    if webhook is None and add_webhook:
        webhook = _add_webhook_node(graph, discovery.outputs)
        if webhook:
            notices.append(f"added an AUTOMATA Webhook node ({webhook}) fed by the saved images")
    elif webhook is None:
        notices.append("no AUTOMATA Webhook node: results arrive through the websocket and "
                       "/history (add one with --add-webhook for remote servers)")
    parameters = dict(discovery.parameters)
    if webhook:
        for pname in ("webhook_url", "generation_id"):
            parameters[pname] = {"role": pname, "type": "string", "bind": [f"{webhook}.{pname}"],
                                 "default": ""}
    if knowledge is None:
        notices.append("not checked against a server: missing nodes and models unknown (pass "
                       "--server URL)")
        lacking: list[MissingNode] = []
        models: list[MissingModel] = []
    else:
        packs = PackIndex(knowledge.manager_mappings, known_packs)
        lacking = missing_nodes(graph_classes(graph), object_info, packs)
        models = missing_models(graph, object_info)
    manifest = {
        "name": name, "title": name.replace("_", " ").capitalize(),
        "description": f"Imported from {source.name}", "local": False, "imported": True,
        "source": {"file": source.name, "format": found.kind,
                   "server": knowledge.url if knowledge else None},
        "parameters": parameters,
        "outputs": {"webhook_node": webhook, "files": discovery.outputs},
        "node_packs": _packs_manifest(lacking),
        "models": [{"folder": m.folder, "filename": m.filename} for m in models],
    }
    parse_workflow(graph, name=name, manifest=manifest)  # what cannot load again is not saved
    folder = dest or user_workflows_dir()
    folder.mkdir(parents=True, exist_ok=True)
    graph_path = folder / f"{name}.json"
    manifest_path = folder / f"{name}.manifest.json"
    _write_atomic(graph_path, json.dumps(graph, indent=1) + "\n")
    _write_atomic(manifest_path, json.dumps(manifest, indent=1) + "\n")
    return ImportResult(name, graph_path, manifest_path, found.kind, parameters,
                        discovery.outputs, lacking, models, notices,
                        knowledge.url if knowledge else None, source, webhook)


def save_parameters(result: ImportResult, parameters: dict[str, dict[str, Any]]) -> None:
    """Write the parameters the user kept, renamed or added into the saved manifest."""
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    manifest["parameters"] = parameters
    graph = json.loads(result.path.read_text(encoding="utf-8"))
    parse_workflow(graph, name=result.name, manifest=manifest)  # refuse what would not load
    _write_atomic(result.manifest_path, json.dumps(manifest, indent=1) + "\n")
    result.parameters = parameters


def node_inputs(graph: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every settable node input as ("node.input", current value): what a user may promote to a
    parameter. Links are not values and are left out."""
    out = []
    for node_id, node in graph.items():
        for name, value in (node.get("inputs") or {}).items():
            if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)):
                out.append((f"{node_id}.{name}", value))
    return out


def parameter_for(path: str, value: Any) -> dict[str, Any]:
    """A manifest entry for a node input the user promoted, typed by its current value."""
    kind = ("bool" if isinstance(value, bool) else "int" if isinstance(value, int)
            else "float" if isinstance(value, float) else "text" if isinstance(value, str) and (
                "\n" in value or len(value) > 60) else "string")
    return {"role": "custom", "type": kind, "bind": [path], "default": value}


def graph_classes(graph: dict[str, Any]) -> set[str]:
    return {str(n.get("class_type")) for n in graph.values() if isinstance(n, dict)}


def _packs_manifest(lacking: list[MissingNode]) -> list[dict[str, Any]]:
    by_pack: dict[NodePackRef, list[str]] = {}
    for node in lacking:
        if node.pack is not None:
            by_pack.setdefault(node.pack, []).append(node.class_type)
    return [{"name": p.title, "url": p.url, "nodes": nodes} for p, nodes in by_pack.items()]


def _add_webhook_node(graph: dict[str, Any], outputs: list[dict[str, Any]]) -> str | None:
    """An AutomataWebhook fed by each saved image of a distinct map kind (the first is the base
    colour when nothing says otherwise)."""
    inputs: dict[str, Any] = {"webhook_url": "", "generation_id": "", "delivery": "reference",
                              "filename_prefix": "automata/imported", "sixteen_bit": True}
    for output in outputs:
        if output["kind"] in ("webhook", "mesh"):
            continue
        images = (graph[output["node"]].get("inputs") or {}).get("images")
        kind = output["kind"] if output["kind"] != "other" else "base_color"
        if isinstance(images, list) and kind in _WEBHOOK_MAPS and kind not in inputs:
            inputs[kind] = images
    if len(inputs) == 5:
        return None
    numeric = [int(k) for k in graph if str(k).isdigit()]
    node_id = str(max(numeric, default=0) + 1)
    graph[node_id] = {"class_type": WEBHOOK_NODE, "_meta": {"title": "AUTOMATA Webhook"},
                      "inputs": inputs}
    return node_id


def _workflow_name(text: str) -> str:
    name = _NAME.sub("_", text.lower().removesuffix(".api").removesuffix(".ui")).strip("_")
    if not name:
        raise WorkflowError("the workflow needs a name made of letters or digits (--name)")
    return name[:64]


def _slug(url: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", url).strip("_") or "server"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
