"""Execution order: ComfyUI's ``ExecutionList`` (comfy_execution/graph.py), without lazy inputs.

Requested outputs are added depth-first; links from cached nodes do not block. Among ready
nodes an output node runs first, then a node feeding an output, then one two steps from an
output, else the first ready one -- which is why cached output nodes report ``executed`` in an
order that looks odd on the wire (scenario 16).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .node_calls import is_link


class DependencyCycleError(Exception):
    pass


class ExecutionList:
    def __init__(
        self,
        prompt: dict[str, Any],
        is_cached: Callable[[str], bool],
        is_output: Callable[[str], bool],
    ) -> None:
        self.prompt = prompt
        self.is_cached = is_cached
        self.is_output = is_output
        self.pending: dict[str, bool] = {}
        self.blockers: dict[str, set[str]] = {}
        self.blocking: dict[str, dict[str, dict[Any, bool]]] = {}

    def add_node(self, node_id: str) -> None:
        stack = [node_id]
        links: list[tuple[str, Any, str]] = []
        while stack:
            unique_id = stack.pop()
            if unique_id in self.pending:
                continue
            self.pending[unique_id] = True
            self.blockers[unique_id] = set()
            self.blocking[unique_id] = {}
            for value in self.prompt[unique_id]["inputs"].values():
                if is_link(value):
                    from_id, socket = value
                    if not self.is_cached(from_id):
                        stack.append(from_id)
                    links.append((from_id, socket, unique_id))
        for from_id, socket, to_id in links:
            if not self.is_cached(from_id) or from_id in self.pending:
                self.add_node(from_id)
                self.blocking[from_id].setdefault(to_id, {})[socket] = True
                self.blockers[to_id].add(from_id)

    def is_empty(self) -> bool:
        return not self.pending

    def stage(self) -> str:
        ready = [n for n in self.pending if not self.blockers[n]]
        if not ready:
            raise DependencyCycleError("Dependency cycle detected")
        for node_id in ready:
            if self.is_output(node_id):
                return node_id
        for node_id in ready:
            if any(self.is_output(b) for b in self.blocking[node_id]):
                return node_id
        for node_id in ready:
            for blocked in self.blocking[node_id]:
                if any(self.is_output(b) for b in self.blocking.get(blocked, {})):
                    return node_id
        return ready[0]

    def complete(self, node_id: str) -> None:
        del self.pending[node_id]
        self.blockers.pop(node_id, None)
        for blocked in self.blocking.pop(node_id, {}):
            self.blockers[blocked].discard(node_id)
