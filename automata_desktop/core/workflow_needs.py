"""What a server lacks to run a workflow, said before anything is queued.

Missing nodes are the graph's classes absent from the server's `/object_info`, each named with
the pack that provides it: from the server's own ComfyUI-Manager (`/customnode/getmappings`, a
map of repository URL -> [[node classes], {"title_aux": title, "nodename_pattern": regex}]),
else from the workflow's manifest, else the bare class. Missing models are loader inputs whose
file is not among the server's choices for that input (ComfyUI would refuse them with "Value not
in list"), named with the models folder the file belongs in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from automata_desktop.core.ui_workflow import input_type, ordered_inputs
from automata_desktop.core.workflow_params import model_folder


@dataclass(frozen=True, slots=True)
class NodePackRef:
    title: str
    url: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"title": self.title, "url": self.url}


@dataclass(frozen=True, slots=True)
class MissingNode:
    class_type: str
    pack: NodePackRef | None = None

    def describe(self) -> str:
        if self.pack is None:
            return self.class_type
        where = f" ({self.pack.url})" if self.pack.url else ""
        return f"{self.class_type} (install {self.pack.title}{where})"

    def as_dict(self) -> dict[str, Any]:
        return {"class_type": self.class_type, "pack": self.pack.as_dict() if self.pack else None}


@dataclass(frozen=True, slots=True)
class MissingModel:
    node: str
    input: str
    filename: str
    folder: str

    def describe(self) -> str:
        return f"{self.filename} (put it in ComfyUI/models/{self.folder}/)"

    def as_dict(self) -> dict[str, str]:
        return {"node": self.node, "input": self.input, "filename": self.filename,
                "folder": self.folder}


class PackIndex:
    """Which pack provides a node class, from ComfyUI-Manager's mappings and manifests."""

    def __init__(self, manager_mappings: Mapping[str, Any] | None = None,
                 known: Mapping[str, NodePackRef] | None = None) -> None:
        self._exact: dict[str, NodePackRef] = {}
        self._patterns: list[tuple[re.Pattern[str], NodePackRef]] = []
        for url, entry in (manager_mappings or {}).items():
            if not isinstance(entry, list | tuple) or not entry:
                continue
            nodes = entry[0] if isinstance(entry[0], list) else []
            meta = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
            pack = NodePackRef(str(meta.get("title_aux") or _title_from_url(url)), str(url))
            for class_type in nodes:
                self._exact.setdefault(str(class_type), pack)
            pattern = meta.get("nodename_pattern")
            if isinstance(pattern, str) and pattern:
                try:
                    self._patterns.append((re.compile(pattern), pack))
                except re.error:
                    continue
        for class_type, pack in (known or {}).items():  # the server's own Manager knows better
            self._exact.setdefault(class_type, pack)

    def pack_for(self, class_type: str) -> NodePackRef | None:
        if class_type in self._exact:
            return self._exact[class_type]
        for pattern, pack in self._patterns:
            if pattern.search(class_type):
                return pack
        return None


def missing_nodes(class_types: Iterable[str], object_info: Mapping[str, Any],
                  packs: PackIndex) -> list[MissingNode]:
    return [MissingNode(c, packs.pack_for(c)) for c in sorted(set(class_types))
            if c not in object_info]


def missing_models(graph: Mapping[str, Any], object_info: Mapping[str, Any]) -> list[MissingModel]:
    """Model files the graph names that the server does not list for that input."""
    out: list[MissingModel] = []
    for node_id, node in graph.items():
        class_type = str(node.get("class_type", ""))
        spec = object_info.get(class_type)
        if spec is None:
            continue
        choices = {name: input_type(entry)[0] for name, entry in ordered_inputs(spec)}
        for name, value in (node.get("inputs") or {}).items():
            folder = model_folder(class_type, name)
            options = choices.get(name)
            if folder and isinstance(value, str) and isinstance(options, list) and (
                    value not in options):
                out.append(MissingModel(str(node_id), name, value, folder))
    return out


def _title_from_url(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1] or url
