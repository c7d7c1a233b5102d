"""Overall progress of one prompt, from how long its nodes take, with an ETA.

A node's weight is the time it is expected to take: what nodes of its class took in earlier runs
of this process (`DurationBook`, a moving average), as ComfyUI runs the same bake and inpaint
nodes of a Hunyuan pipeline over and over, and those dominate its time. A class not seen yet
falls back to counting: a plain node weighs 1, a node that reports steps (a sampler, a baker)
more, in proportion to its steps, scaled to the typical known node of the graph so the two kinds
of weight mix. The weights are fixed when the run starts, so the bar never goes backwards
because something was learnt meanwhile.

Within a node, the fraction done is what it reported (`progress`, or `progress_state` on newer
servers) or, for a node that reports nothing, the time it has run over the time it is expected to
take (capped below 1: it may be slower today). The whole is capped below 100 % until results
exist, so a bar never sits at 100 % while ComfyUI is still writing files. The ETA is the pace so
far applied to what is left; weights in seconds make that pace steady across stages.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

CAP_BEFORE_RESULTS = 0.99
_STEP_WEIGHT = 0.25  # one sampler step ≈ a quarter of a plain node
_MAX_NODE_WEIGHT = 40.0
_CAP_BY_TIME = 0.95  # a node guessed done by the clock alone is never quite done
_MIN_SECONDS = 0.01  # a node that ran in no measurable time still counts for a little
_SMOOTHING = 0.5  # weight of the newest run in a class's average


class NodeState(Protocol):
    """One node of a `progress_state` message (comfy.events.NodeProgress has these)."""

    node: str
    value: float
    max: float
    state: str


@dataclass
class DurationBook:
    """Seconds per run of each node class, learnt from the runs this process has watched."""

    seconds: dict[str, float] = field(default_factory=dict)

    def learn(self, class_type: str, seconds: float) -> None:
        seconds = max(_MIN_SECONDS, seconds)
        old = self.seconds.get(class_type)
        self.seconds[class_type] = seconds if old is None else (
            _SMOOTHING * seconds + (1 - _SMOOTHING) * old)

    def expected(self, class_type: str | None) -> float | None:
        return self.seconds.get(class_type) if class_type else None


#: Shared by every run in the process: a workflow run again is weighted by what it took.
DURATIONS = DurationBook()


@dataclass
class ProgressTracker:
    nodes: set[str]
    #: node id -> class_type, when the graph was known
    classes: dict[str, str] = field(default_factory=dict)
    book: DurationBook = field(default_factory=lambda: DURATIONS)
    clock: Callable[[], float] = time.monotonic
    started_at: float = -1.0
    _weights: dict[str, float] = field(default_factory=dict)  # step-based, for unknown classes
    _expected: dict[str, float] = field(default_factory=dict)  # seconds, as of the start
    _done: dict[str, float] = field(default_factory=dict)  # node → fraction done 0..1
    _began: dict[str, float] = field(default_factory=dict)  # node → when it started running
    _timed: set[str] = field(default_factory=set)  # nodes whose duration was learnt
    current_node: str | None = None
    finished: bool = False

    def __post_init__(self) -> None:
        if self.started_at < 0:
            self.started_at = self.clock()
        for node in self.nodes:
            expected = self.book.expected(self.classes.get(node))
            if expected is not None:
                self._expected[node] = expected

    @classmethod
    def for_graph(cls, graph: Iterable[str] | Mapping[str, Any], **kwargs: Any) -> ProgressTracker:
        """From node ids, or from an API-format graph (its class types give expected times)."""
        classes = {}
        if isinstance(graph, Mapping):
            classes = {str(n): str(spec["class_type"]) for n, spec in graph.items()
                       if isinstance(spec, Mapping) and isinstance(spec.get("class_type"), str)}
        return cls(nodes={str(n) for n in graph}, classes=classes, **kwargs)

    def cached(self, nodes: Iterable[str]) -> None:
        """Cached nodes do no work: they leave the total instead of counting as done."""
        for node in nodes:
            self.nodes.discard(node)
            self._done.pop(node, None)

    def _start(self, node: str) -> None:
        self.nodes.add(node)
        self._done.setdefault(node, 0.0)
        self._began.setdefault(node, self.clock())

    def executing(self, node: str) -> None:
        if self.current_node and self.current_node != node:
            self.node_finished(self.current_node)
        self._start(node)
        self.current_node = node

    def step(self, node: str | None, value: float, maximum: float) -> None:
        node = node or self.current_node
        if node is None or maximum <= 0:
            return
        self._start(node)
        self._weights[node] = min(_MAX_NODE_WEIGHT, max(1.0, maximum * _STEP_WEIGHT))
        self._done[node] = max(self._done.get(node, 0.0), min(1.0, value / maximum))

    def node_states(self, states: Iterable[NodeState]) -> None:
        """A `progress_state` message: each node's own state, so a stage is known to have
        started and ended even when no `executing` marks the boundary."""
        for state in states:
            if state.state == "finished":
                self.node_finished(state.node)
            elif state.state == "running":
                if state.max > 1:  # a node without a progress bar reports 0 of 1
                    self.step(state.node, state.value, state.max)
                else:
                    self._start(state.node)

    def node_finished(self, node: str) -> None:
        self._done[node] = 1.0
        began = self._began.get(node)
        if began is not None and node not in self._timed and node in self.classes:
            self._timed.add(node)
            self.book.learn(self.classes[node], self.clock() - began)

    def complete(self) -> None:
        self.finished = True

    def _weight(self, node: str, unit: float) -> float:
        expected = self._expected.get(node)
        return expected if expected is not None else self._weights.get(node, 1.0) * unit

    def _node_done(self, node: str, now: float) -> float:
        done = self._done.get(node, 0.0)
        expected, began = self._expected.get(node), self._began.get(node)
        if done < 1.0 and expected and began is not None:
            done = max(done, min(_CAP_BY_TIME, (now - began) / expected))
        return done

    @property
    def fraction(self) -> float:
        if self.finished:
            return 1.0
        known = [self._expected[n] for n in self.nodes if n in self._expected]
        unit = statistics.median(known) if known else 1.0  # seconds of a typical known node
        now = self.clock()
        total = sum(self._weight(n, unit) for n in self.nodes) or 1.0
        done = sum(self._weight(n, unit) * self._node_done(n, now)
                   for n in self._done if n in self.nodes)
        return min(CAP_BEFORE_RESULTS, done / total)

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds left at the average pace so far; None until there is a pace to go by."""
        fraction = self.fraction
        if self.finished:
            return 0.0
        if fraction < 0.02:
            return None
        elapsed = (now or self.clock()) - self.started_at
        return elapsed * (1.0 - fraction) / fraction
