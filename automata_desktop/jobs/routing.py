"""Which server a generation goes to: the routing rule of a pool of ComfyUI servers, no I/O.

A generation may only go where its workflow can run: every node class it uses and every model
file it names are there. Among those, a server that is up, not paused and under its in-flight
cap (SwarmUI's "1 running + over-queue"); then the least loaded (the app's own jobs there plus
what its queue reports from others); then the one that last ran the same model files, which
saves a checkpoint load. Ties keep the order the user configured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from automata_desktop.backends.base import Capabilities
from automata_desktop.core.workflow_needs import model_folder

#: One running and one waiting behind it, per server (SwarmUI's default over-queue of 1).
DEFAULT_MAX_IN_FLIGHT = 2


class Health(StrEnum):
    CONNECTING = "connecting"
    UP = "up"
    DOWN = "down"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class Needs:
    """What a bound graph asks of a server: node classes and (loader input, file) pairs."""

    class_types: frozenset[str]
    models: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def of_graph(cls, graph: Mapping[str, Any]) -> Needs:
        classes, models = set(), set()
        for node in graph.values():
            class_type = str(node.get("class_type", ""))
            classes.add(class_type)
            for name, value in (node.get("inputs") or {}).items():
                if isinstance(value, str) and model_folder(class_type, name):
                    models.add((f"{class_type}.{name}", value))
        return cls(frozenset(classes), frozenset(models))

    @property
    def model_files(self) -> frozenset[str]:
        return frozenset(file for _, file in self.models)

    def lacking(self, caps: Capabilities) -> list[str]:
        """What `caps` lacks for this graph, in words ("node Hy3DPaint", "model x.ckpt")."""
        out = [f"node {c}" for c in sorted(self.class_types - caps.node_classes)]
        for key, file in sorted(self.models):
            listed = caps.models.get(key)
            if listed is not None and file not in listed:
                out.append(f"model {file}")
        return out


@dataclass(slots=True)
class ServerState:
    """What the pool knows of one server right now."""

    url: str
    health: Health = Health.CONNECTING
    capabilities: Capabilities | None = None
    in_flight: int = 0  # the app's jobs there that have not ended
    queue_remaining: int = 0  # what the server's `status` message says is waiting, ours too
    recent_models: frozenset[str] = field(default_factory=frozenset)

    @property
    def load(self) -> int:
        # The server's queue counts our waiting jobs too: take the larger, not the sum.
        return max(self.in_flight, self.queue_remaining)

    def can_run(self, needs: Needs) -> bool:
        return self.capabilities is not None and not needs.lacking(self.capabilities)


def choose(servers: Sequence[ServerState], needs: Needs, *,
           max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> ServerState | None:
    """The server to send a generation to now, or None when every capable one is busy, down
    or paused (the generation waits in the app's queue)."""
    ready = [s for s in servers if s.health is Health.UP and s.in_flight < max_in_flight
             and s.can_run(needs)]
    if not ready:
        return None
    order = {s.url: i for i, s in enumerate(servers)}
    wanted = needs.model_files
    return min(ready, key=lambda s: (s.load, not (wanted and wanted & s.recent_models),
                                     order[s.url]))


def nowhere_to_run(servers: Sequence[ServerState], needs: Needs) -> str | None:
    """Why no server of the pool can ever take this graph, or None when one can (now or once
    it is up or unpaused). Servers not yet connected count as possible."""
    reasons = []
    for server in servers:
        if server.capabilities is None or server.can_run(needs):
            return None
        reasons.append(f"{server.url} lacks {', '.join(needs.lacking(server.capabilities))}")
    return "no configured server can run this workflow: " + "; ".join(reasons)
