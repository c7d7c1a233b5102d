"""Which server a generation goes to: the routing rule of a pool of ComfyUI servers, no I/O.

A generation may only go where its workflow can run: every node class it uses and every model
file it names are there. Among those, a server that is up, not paused and under its in-flight
cap (SwarmUI's "1 running + over-queue"); then the one expected to finish it first: its load
(the app's own jobs there, or what its queue reports when others use it too) plus this one,
times how long a run of this workflow took there. A job is not handed to a slow server when a
busy fast one would still finish it sooner: it waits in the app (SwarmUI's complaint #247, a
slow card holding work while a fast one idles). Before a server has a timing, load alone counts;
on a tie, the one that last ran the same model files (no checkpoint reload), then the order the
user configured.
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
    #: workflow name -> seconds a run took here (smoothed), once one has been seen
    run_s: dict[str, float] = field(default_factory=dict)

    @property
    def load(self) -> int:
        # The server's queue counts our waiting jobs too: take the larger, not the sum.
        return max(self.in_flight, self.queue_remaining)

    def can_run(self, needs: Needs) -> bool:
        return self.capabilities is not None and not needs.lacking(self.capabilities)

    def ran(self, workflow: str, seconds: float) -> None:
        """A run of `workflow` took `seconds` here: smoothed, so one outlier does not decide."""
        before = self.run_s.get(workflow)
        self.run_s[workflow] = seconds if before is None else 0.6 * before + 0.4 * seconds

    def finish_in(self, workflow: str) -> float | None:
        """When a job sent now would be done, roughly (None before any run was timed here)."""
        run = self.run_s.get(workflow)
        return None if run is None else (self.load + 1) * run


def choose(servers: Sequence[ServerState], needs: Needs, *, workflow: str = "",
           max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> ServerState | None:
    """The server to send a generation to now, or None when it should wait in the app's queue:
    every capable server is busy, down or paused, or the free ones are slower than waiting for
    a busy one."""
    capable = [s for s in servers if s.health is Health.UP and s.can_run(needs)]
    ready = [s for s in capable if s.in_flight < max_in_flight]
    if not ready:
        return None
    order = {s.url: i for i, s in enumerate(servers)}
    wanted = needs.model_files
    timed = all(s.finish_in(workflow) is not None for s in capable)

    def rank(s: ServerState) -> tuple:
        expected = s.finish_in(workflow) if timed else None
        return (expected if expected is not None else s.load,
                not (wanted and wanted & s.recent_models), order[s.url])

    best = min(ready, key=rank)
    if timed:
        soonest = min(s.finish_in(workflow) or 0.0 for s in capable)
        if (best.finish_in(workflow) or 0.0) > soonest:
            return None  # a busy server will still be done sooner: wait for it
    return best


def nowhere_to_run(servers: Sequence[ServerState], needs: Needs) -> str | None:
    """Why no server of the pool can ever take this graph, or None when one can (now or once
    it is up or unpaused). Servers not yet connected count as possible."""
    reasons = []
    for server in servers:
        if server.capabilities is None or server.can_run(needs):
            return None
        reasons.append(f"{server.url} lacks {', '.join(needs.lacking(server.capabilities))}")
    return "no configured server can run this workflow: " + "; ".join(reasons)
