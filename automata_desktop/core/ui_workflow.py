"""ComfyUI's UI-format workflow (what *Save* writes) turned into the API format it queues.

This follows the ComfyUI frontend's `graphToPrompt` and its `ExecutableNodeDTO` link resolution,
so a graph converted here is the prompt ComfyUI itself would have queued:

- widget values (`widgets_values`, a list in widget order) are named by the server's node
  definitions: the inputs in `input_order` that are widgets, plus the extra value a seed-like
  INT widget carries after it (`control_after_generate`: "fixed", "randomize", …), which is the
  frontend's own and never reaches the server;
- a link to a widget input overrides the widget's value; a `PrimitiveNode` pushes its value into
  every widget it feeds; `Reroute`, KJNodes' `GetNode`/`SetNode` and bypassed nodes (mode 4, by
  the first input whose type matches) are looked through to the real origin;
- muted nodes (mode 2), bypassed nodes and the frontend's virtual nodes (notes, primitives,
  reroutes) are dropped, and an input linked to a dropped node is removed, as the frontend does;
- subgraphs (`definitions.subgraphs`, an instance's `type` is the subgraph's id) are expanded,
  their inner nodes numbered `<instance id>:<inner id>` (nested: `1:2:3`), as the frontend does.

A node class the server does not know is kept (class and links) and reported: its widgets cannot
be named without its definition. Pure data in, data out: no I/O, no Qt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from automata_desktop.errors import WorkflowError

#: The node modes litegraph stores (LGraphEventMode): ALWAYS=0, NEVER=2 (muted), BYPASS=4.
MODE_MUTED = 2
MODE_BYPASS = 4

#: A subgraph's own input and output nodes, as its links name them.
SUBGRAPH_INPUT_NODE = -10
SUBGRAPH_OUTPUT_NODE = -20

#: Frontend-only nodes: they shape the graph in the editor and never reach the server.
VIRTUAL_NODES = frozenset({
    "Reroute", "PrimitiveNode", "Note", "MarkdownNote", "GetNode", "SetNode",
    "Note Plus (mtb)", "Label (rgthree)", "Fast Groups Muter (rgthree)",
    "Fast Groups Bypasser (rgthree)", "Bookmark (rgthree)",
})
_NOTE_NODES = frozenset({"Note", "MarkdownNote", "Note Plus (mtb)", "Label (rgthree)"})

#: Input types the frontend draws as widgets (a list type is a combo).
_WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
#: Before `control_after_generate` existed the frontend gave these INT widgets the control.
_LEGACY_SEED_NAMES = frozenset({"seed", "noise_seed"})


@dataclass(frozen=True, slots=True)
class Conversion:
    """The API graph and what the user should know about how it was made."""

    graph: dict[str, Any]
    unknown_classes: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()


def is_ui_workflow(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def ui_to_api(workflow: Mapping[str, Any], object_info: Mapping[str, Any]) -> Conversion:
    """Convert a UI-format workflow with the server's `/object_info` naming its widgets."""
    if not is_ui_workflow(workflow):
        raise WorkflowError("not a ComfyUI UI-format workflow (expected 'nodes' and 'links')")
    return _Converter(workflow, object_info).run()


# -- the graph as the frontend holds it ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Link:
    origin_id: Any
    origin_slot: int
    target_id: Any
    target_slot: int
    type: str


@dataclass(slots=True)
class _Graph:
    """The root graph or one subgraph definition."""

    nodes: dict[str, dict[str, Any]]
    links: dict[int, _Link]
    definition: Mapping[str, Any] = field(default_factory=dict)


def _links_of(raw: Any) -> dict[int, _Link]:
    links: dict[int, _Link] = {}
    for entry in raw or ():
        if isinstance(entry, list | tuple) and len(entry) >= 5:  # 0.4: [id, o, os, t, ts, type]
            link_id, origin, origin_slot, target, target_slot = entry[:5]
            kind = entry[5] if len(entry) > 5 else "*"
        elif isinstance(entry, dict):  # version 1 and every subgraph: objects
            link_id, origin, origin_slot = entry.get("id"), entry.get("origin_id"), entry.get(
                "origin_slot")
            target, target_slot, kind = entry.get("target_id"), entry.get("target_slot"), entry.get(
                "type", "*")
        else:
            continue
        if link_id is None or origin_slot is None or target_slot is None:
            continue
        links[int(link_id)] = _Link(origin, int(origin_slot), target, int(target_slot),
                                    str(kind))
    return links


def _graph_of(data: Mapping[str, Any]) -> _Graph:
    nodes = {}
    for node in data.get("nodes") or ():
        if isinstance(node, dict) and "id" in node:
            nodes[str(node["id"])] = node
    return _Graph(nodes, _links_of(data.get("links")), data)


@dataclass(slots=True)
class _Dto:
    """One node as it executes: its place in the graph and, inside a subgraph, its instance."""

    id: str  # the execution id, e.g. "12" or "5:3"
    node: dict[str, Any]
    graph: _Graph
    path: tuple[str, ...]  # instance ids from the root to the containing subgraph
    instance: _Dto | None = None  # the subgraph node this node lives in

    @property
    def type(self) -> str:
        return str(self.node.get("type") or self.node.get("class_type") or "")

    @property
    def mode(self) -> int:
        return int(self.node.get("mode") or 0)

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return [i for i in self.node.get("inputs") or () if isinstance(i, dict)]

    @property
    def outputs(self) -> list[dict[str, Any]]:
        return [o for o in self.node.get("outputs") or () if isinstance(o, dict)]


@dataclass(frozen=True, slots=True)
class _Origin:
    """Where an input's value comes from: a node output, or a value pushed by a primitive."""

    node_id: str | None = None
    slot: int = 0
    value: Any = None
    is_value: bool = False


class _Converter:
    def __init__(self, workflow: Mapping[str, Any], object_info: Mapping[str, Any]) -> None:
        self.object_info = object_info
        self.root = _graph_of(workflow)
        definitions = (workflow.get("definitions") or {}).get("subgraphs") or ()
        self.subgraphs = {str(d.get("id")): _graph_of(d) for d in definitions if isinstance(d, dict)}
        self.group_nodes = set(((workflow.get("extra") or {}).get("groupNodes") or {}).keys())
        self.dtos: dict[str, _Dto] = {}
        self.notices: list[str] = []
        self.unknown: set[str] = set()

    # -- flattening ---------------------------------------------------------------------------

    def run(self) -> Conversion:
        self._flatten(self.root, (), None)
        output: dict[str, Any] = {}
        for dto in self.dtos.values():
            if self._skipped(dto):
                continue
            output[dto.id] = self._api_node(dto)
        # Inputs that pointed at a dropped node (muted, bypassed without a match) go, as in the
        # frontend; the server would refuse a link to a node that is not in the prompt.
        for node in output.values():
            for name, value in list(node["inputs"].items()):
                if _is_link(value) and value[0] not in output:
                    del node["inputs"][name]
        dropped = sorted({d.type for d in self.dtos.values()
                          if d.mode == MODE_MUTED and d.type not in _NOTE_NODES})
        if dropped:
            self.notices.append(f"muted nodes left out: {', '.join(dropped)}")
        return Conversion(output, tuple(sorted(self.unknown)), tuple(self.notices))

    def _flatten(self, graph: _Graph, path: tuple[str, ...], instance: _Dto | None) -> None:
        for node_id, node in graph.nodes.items():
            dto = _Dto(":".join((*path, node_id)), node, graph, path, instance)
            self.dtos[dto.id] = dto
            sub = self.subgraphs.get(dto.type)
            if sub is not None:
                if dto.mode in (MODE_MUTED, MODE_BYPASS):
                    continue  # a muted subgraph mutes everything in it
                self._flatten(sub, (*path, node_id), dto)
            elif dto.type in self.group_nodes or dto.type.startswith(("workflow>", "workflow/")):
                raise WorkflowError(
                    f"node {node_id} is a legacy group node ({dto.type}); in ComfyUI right-click it "
                    "and choose Convert to subgraph (or Ungroup), save, and import that file")

    def _skipped(self, dto: _Dto) -> bool:
        return (dto.type in self.subgraphs or dto.type in VIRTUAL_NODES
                or dto.mode in (MODE_MUTED, MODE_BYPASS) or self._inside_muted(dto))

    @staticmethod
    def _inside_muted(dto: _Dto) -> bool:
        instance = dto.instance
        while instance is not None:
            if instance.mode in (MODE_MUTED, MODE_BYPASS):
                return True
            instance = instance.instance
        return False

    # -- one node ------------------------------------------------------------------------------

    def _api_node(self, dto: _Dto) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        spec = self.object_info.get(dto.type)
        if spec is None:
            self.unknown.add(dto.type)
        for name, value in self._widget_values(dto, spec).items():
            inputs[name] = {"__value__": value} if isinstance(value, list) else value
        for index, slot in enumerate(dto.inputs):
            origin = self._resolve_input(dto, index, set())
            if origin is None:
                continue
            name = str(slot.get("name") or (slot.get("widget") or {}).get("name") or index)
            if origin.is_value:
                value = origin.value
                inputs[name] = {"__value__": value} if isinstance(value, list) else value
            else:
                inputs[name] = [origin.node_id, origin.slot]
        title = dto.node.get("title") or (spec or {}).get("display_name") or dto.type
        return {"inputs": inputs, "class_type": dto.type, "_meta": {"title": title}}

    def _widget_values(self, dto: _Dto, spec: Mapping[str, Any] | None) -> dict[str, Any]:
        values = dto.node.get("widgets_values")
        if isinstance(values, dict):  # some packs store a keyed record instead of a list
            return {str(k): v for k, v in values.items() if not str(k).startswith("$$")}
        if not isinstance(values, list) or not values:
            return {}
        if spec is None:
            # Without the definition only newer frontends' widget sockets can name values;
            # they carry no control slots, so only a clean one-to-one match is trusted.
            names = [str((i.get("widget") or {}).get("name")) for i in dto.inputs if i.get("widget")]
            return dict(zip(names, values, strict=False)) if len(names) == len(values) else {}
        slots = widget_slots(spec)
        named = [s for s in slots if s is not None]
        if len(values) < len(named):
            self.notices.append(
                f"node {dto.id} ({dto.type}) has {len(values)} widget values for {len(named)} "
                "widgets; the rest keep the server's defaults")
        out: dict[str, Any] = {}
        for slot, value in zip(slots, values, strict=False):
            if slot is not None:
                out[slot] = value
        return out

    # -- following links -----------------------------------------------------------------------

    def _resolve_input(self, dto: _Dto, index: int, visited: set[str]) -> _Origin | None:
        key = f"{dto.id}[I]{index}"
        if key in visited:
            raise WorkflowError(f"the workflow's links loop back on node {dto.id} ({dto.type})")
        visited.add(key)
        inputs = dto.inputs
        if index >= len(inputs):
            return None
        link_id = inputs[index].get("link")
        if link_id is None:
            return None
        link = dto.graph.links.get(int(link_id))
        if link is None:
            self.notices.append(f"node {dto.id} ({dto.type}): link {link_id} is missing; input "
                                f"{inputs[index].get('name')!r} left unconnected")
            return None
        if dto.instance is not None and link.origin_id == SUBGRAPH_INPUT_NODE:
            return self._resolve_subgraph_input(dto, link, visited)
        origin_id = str(link.origin_id)
        origin = self.dtos.get(":".join((*dto.path, origin_id)))
        if origin is None:
            self.notices.append(f"node {dto.id} ({dto.type}) links to node {origin_id}, which is "
                                "not in the workflow; input left unconnected")
            return None
        return self._resolve_output(origin, link.origin_slot, inputs[index].get("type") or link.type,
                                    visited)

    def _resolve_subgraph_input(self, dto: _Dto, link: _Link, visited: set[str]) -> _Origin | None:
        instance = dto.instance
        assert instance is not None
        outer = instance.inputs
        if link.origin_slot >= len(outer):
            return None
        if outer[link.origin_slot].get("link") is None:
            # Unconnected outside: the instance's promoted widget, if it has one, else the inner
            # node keeps its own widget value.
            value = self._instance_widget_value(instance, link.origin_slot)
            return None if value is _MISSING else _Origin(value=value, is_value=True)
        return self._resolve_input(instance, link.origin_slot, visited)

    @staticmethod
    def _instance_widget_value(instance: _Dto, slot: int) -> Any:
        values = instance.node.get("widgets_values")
        if not isinstance(values, list):
            return _MISSING
        widget_inputs = [i for i, entry in enumerate(instance.inputs) if entry.get("widget")]
        if slot not in widget_inputs:
            return _MISSING
        position = widget_inputs.index(slot)
        return values[position] if position < len(values) else _MISSING

    def _resolve_output(self, dto: _Dto, slot: int, kind: Any, visited: set[str]) -> _Origin | None:
        key = f"{dto.id}[O]{slot}"
        if key in visited:
            raise WorkflowError(f"the workflow's links loop back on node {dto.id} ({dto.type})")
        visited.add(key)
        if dto.mode == MODE_BYPASS:
            index = self._bypass_slot(dto, slot, str(kind or "*"))
            return None if index < 0 else self._resolve_input(dto, index, visited)
        sub = self.subgraphs.get(dto.type)
        if sub is not None:
            return self._resolve_subgraph_output(dto, sub, slot, kind, visited)
        match dto.type:
            case "PrimitiveNode":
                values = dto.node.get("widgets_values")
                if isinstance(values, list) and values:
                    return _Origin(value=values[0], is_value=True)
                return None
            case "Reroute" | "SetNode":
                return self._resolve_input(dto, 0, visited)
            case "GetNode":
                setter = self._setter_for(dto)
                return None if setter is None else self._resolve_input(setter, 0, visited)
        if dto.type in VIRTUAL_NODES:
            return None
        return _Origin(node_id=dto.id, slot=slot)

    def _resolve_subgraph_output(self, dto: _Dto, sub: _Graph, slot: int, kind: Any,
                                 visited: set[str]) -> _Origin | None:
        inner = next((link for link in sub.links.values()
                      if link.target_id == SUBGRAPH_OUTPUT_NODE and link.target_slot == slot), None)
        if inner is None:
            return None
        inner_dto = self.dtos.get(":".join((*dto.path, str(dto.node["id"]), str(inner.origin_id))))
        if inner_dto is None:
            return None
        return self._resolve_output(inner_dto, inner.origin_slot, kind, visited)

    def _setter_for(self, getter: _Dto) -> _Dto | None:
        name = _first(getter.node.get("widgets_values"))
        for dto in self.dtos.values():
            if (dto.type == "SetNode" and dto.path == getter.path
                    and _first(dto.node.get("widgets_values")) == name):
                return dto
        self.notices.append(f"GetNode {getter.id} reads {name!r}, which no SetNode sets; its "
                            "links are left unconnected")
        return None

    @staticmethod
    def _bypass_slot(dto: _Dto, slot: int, kind: str) -> int:
        """The input a bypassed node passes through to output `slot` (the frontend's rule)."""
        inputs = dto.inputs
        if kind in ("*", ""):
            return slot if len(inputs) > slot else (0 if inputs else -1)
        outputs = dto.outputs
        out_type = str(outputs[slot].get("type")) if slot < len(outputs) else kind
        if slot < len(inputs) and _compatible(inputs[slot].get("type"), out_type) and _compatible(
                inputs[slot].get("type"), kind):
            return slot
        for index, entry in enumerate(inputs):
            if entry.get("type") == kind:
                return index
        for index, entry in enumerate(inputs):
            if _compatible(entry.get("type"), out_type) and _compatible(entry.get("type"), kind):
                return index
        return -1


_MISSING = object()


def widget_slots(spec: Mapping[str, Any]) -> list[str | None]:
    """The frontend's widgets of a node class, in `widgets_values` order (None: a control value)."""
    slots: list[str | None] = []
    for name, entry in ordered_inputs(spec):
        kind, options = input_type(entry)
        if options.get("forceInput") or not (isinstance(kind, list) or kind in _WIDGET_TYPES):
            continue
        slots.append(name)
        control = options.get("control_after_generate")
        if control is None:
            control = kind == "INT" and name in _LEGACY_SEED_NAMES
        if control:
            slots.append(None)
        if options.get("image_upload") or options.get("video_upload") or options.get(
                "audio_upload"):
            slots.append(None)  # the upload button's value ("image"): frontend-only
    return slots


def ordered_inputs(spec: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """A node definition's required then optional inputs, in the server's `input_order`."""
    declared = spec.get("input") or {}
    order = spec.get("input_order") or {}
    out: list[tuple[str, Any]] = []
    for group in ("required", "optional"):
        entries = declared.get(group) or {}
        for name in order.get(group) or list(entries):
            if name in entries:
                out.append((name, entries[name]))
    return out


def input_type(entry: Any) -> tuple[Any, dict[str, Any]]:
    """(type, options) of one input spec; a combo's type is its list of choices."""
    if not isinstance(entry, list | tuple) or not entry:
        return None, {}
    kind = entry[0]
    options = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
    if kind == "COMBO" and isinstance(options.get("options"), list):  # the newer combo spelling
        kind = options["options"]
    return kind, options


def _compatible(a: Any, b: Any) -> bool:
    """litegraph's isValidConnection: '*' or '' matches anything; comma lists match per item."""
    left, right = str(a or "*"), str(b or "*")
    if left in ("*", "") or right in ("*", "") or left == right:
        return True
    return bool(set(left.upper().split(",")) & set(right.upper().split(",")))


def _is_link(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], int))


def _first(values: Any) -> Any:
    return values[0] if isinstance(values, list) and values else None
