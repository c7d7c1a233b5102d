"""Overall progress of one prompt, from node count and sampler steps, with an ETA.

Each node that will run weighs 1; a node that reports step progress (a sampler, a baker) is worth
more, in proportion to its steps, because that is where the time goes. The figure is capped below
100 % until results exist, so a bar never sits at 100 % while ComfyUI is still writing files.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

CAP_BEFORE_RESULTS = 0.99
_STEP_WEIGHT = 0.25  # one sampler step ≈ a quarter of a plain node
_MAX_NODE_WEIGHT = 40.0


@dataclass
class ProgressTracker:
    nodes: set[str]
    started_at: float = field(default_factory=time.monotonic)
    _weights: dict[str, float] = field(default_factory=dict)
    _done: dict[str, float] = field(default_factory=dict)  # node → fraction done 0..1
    current_node: str | None = None
    finished: bool = False

    @classmethod
    def for_graph(cls, node_ids: Iterable[str]) -> ProgressTracker:
        return cls(nodes={str(n) for n in node_ids})

    def cached(self, nodes: Iterable[str]) -> None:
        """Cached nodes do no work: they leave the total instead of counting as done."""
        for node in nodes:
            self.nodes.discard(node)
            self._done.pop(node, None)

    def executing(self, node: str) -> None:
        if self.current_node and self.current_node != node:
            self._done[self.current_node] = 1.0
        self.nodes.add(node)
        self.current_node = node
        self._done.setdefault(node, 0.0)

    def step(self, node: str | None, value: float, maximum: float) -> None:
        node = node or self.current_node
        if node is None or maximum <= 0:
            return
        self.nodes.add(node)
        self._weights[node] = min(_MAX_NODE_WEIGHT, max(1.0, maximum * _STEP_WEIGHT))
        self._done[node] = max(self._done.get(node, 0.0), min(1.0, value / maximum))

    def node_finished(self, node: str) -> None:
        self._done[node] = 1.0

    def complete(self) -> None:
        self.finished = True

    @property
    def fraction(self) -> float:
        if self.finished:
            return 1.0
        total = sum(self._weights.get(n, 1.0) for n in self.nodes) or 1.0
        done = sum(self._weights.get(n, 1.0) * f for n, f in self._done.items() if n in self.nodes)
        return min(CAP_BEFORE_RESULTS, done / total)

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds left at the average pace so far; None until there is a pace to go by."""
        fraction = self.fraction
        if self.finished:
            return 0.0
        if fraction < 0.02:
            return None
        elapsed = (now or time.monotonic()) - self.started_at
        return elapsed * (1.0 - fraction) / fraction
