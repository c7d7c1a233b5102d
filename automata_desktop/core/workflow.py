"""ComfyUI workflows in API format, with a manifest that binds user-facing parameters to node inputs.

A manifest (`NAME.manifest.json` beside `NAME.json`) says which parameters a workflow takes, where each
one goes (`"node_id.input"` paths), which custom node packs and model files it needs, and whether the
in-process backend can run it. Binding always returns a new graph: templates are never mutated.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automata_desktop.errors import ParameterError, WorkflowError

ParamType = str  # string | text | int | float | bool | image | mesh | choice
_TYPES = {"string", "text", "int", "float", "bool", "image", "mesh", "choice"}


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type: ParamType
    bind: tuple[tuple[str, str], ...]  # (node_id, input_name)
    default: Any = None
    required: bool = False
    label: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()

    def coerce(self, value: Any) -> Any:
        """Type-check a value as the user gave it (CLI strings included) and return it typed."""
        try:
            match self.type:
                case "int":
                    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                        raise ValueError
                    typed: Any = int(value)
                case "float":
                    if isinstance(value, bool):
                        raise ValueError
                    typed = float(value)
                case "bool":
                    typed = _to_bool(value)
                case _:
                    if not isinstance(value, str | Path):
                        raise ValueError
                    typed = str(value)
        except (TypeError, ValueError):
            raise ParameterError(
                f"parameter {self.name!r} expects {self.type}, got {value!r}"
            ) from None
        if self.minimum is not None and typed < self.minimum:
            raise ParameterError(f"parameter {self.name!r} must be ≥ {self.minimum}, got {typed}")
        if self.maximum is not None and typed > self.maximum:
            raise ParameterError(f"parameter {self.name!r} must be ≤ {self.maximum}, got {typed}")
        if self.choices and typed not in self.choices:
            options = ", ".join(map(str, self.choices))
            raise ParameterError(f"parameter {self.name!r} must be one of {options}; got {typed!r}")
        return typed


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


@dataclass(frozen=True, slots=True)
class NodePack:
    name: str
    nodes: tuple[str, ...]
    install: str = ""
    url: str = ""

    @property
    def hint(self) -> str:
        return self.install or self.url or self.name


@dataclass(frozen=True, slots=True)
class ModelFile:
    folder: str
    filename: str
    url: str = ""


@dataclass(frozen=True, slots=True)
class WorkflowTemplate:
    name: str
    graph: Mapping[str, Any]
    title: str = ""
    description: str = ""
    local: bool = False
    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    node_packs: tuple[NodePack, ...] = ()
    models: tuple[ModelFile, ...] = ()
    webhook_node: str | None = None
    path: Path | None = None

    @property
    def class_types(self) -> set[str]:
        return {node["class_type"] for node in self.graph.values()}

    def pack_for(self, class_type: str) -> str | None:
        for pack in self.node_packs:
            if class_type in pack.nodes:
                return f"{pack.name}: {pack.hint}" if pack.hint != pack.name else pack.name
        return None

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A new API-format graph with the parameters set; unknown names and bad values raise.

        Besides its parameters, any node input can be set by its path (`"3.steps"`): power users
        reach what no manifest names, and the value goes in as given.
        """
        direct = {k: v for k, v in values.items() if k not in self.parameters and
                  self._is_input_path(k)}
        unknown = set(values) - set(self.parameters) - set(direct)
        if unknown:
            known = ", ".join(sorted(self.parameters)) or "none"
            raise ParameterError(
                f"workflow {self.name!r} has no parameter {', '.join(sorted(unknown))} "
                f"(it takes: {known})"
            )
        graph = copy.deepcopy(dict(self.graph))
        for name, param in self.parameters.items():
            if name in values and values[name] is not None:
                value = param.coerce(values[name])
            elif param.required:
                raise ParameterError(f"workflow {self.name!r} needs parameter {name!r}")
            elif param.default is not None:
                value = param.default
            else:
                continue
            for node_id, input_name in param.bind:
                graph[node_id]["inputs"][input_name] = value
        for path, value in direct.items():
            node_id, _, input_name = path.partition(".")
            graph[node_id]["inputs"][input_name] = _literal(value)
        return graph

    def _is_input_path(self, name: str) -> bool:
        node_id, dot, input_name = name.partition(".")
        node = self.graph.get(node_id)
        return bool(dot) and isinstance(node, Mapping) and input_name in (node.get("inputs") or {})


def _literal(value: Any) -> Any:
    """A CLI string as the JSON value it spells (`30`, `0.5`, `true`), else the string itself."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _parse_graph(data: Any, source: str) -> dict[str, Any]:
    if isinstance(data, dict) and "nodes" in data and "links" in data:
        raise WorkflowError(
            f"{source} is a ComfyUI UI-format workflow. In ComfyUI use Workflow → Export (API) "
            "(enable the dev mode option in older versions) and load that file instead."
        )
    if isinstance(data, dict) and "prompt" in data and isinstance(data["prompt"], dict):
        data = data["prompt"]  # a saved POST /prompt body
    if not isinstance(data, dict) or not data:
        raise WorkflowError(f"{source} is not an API-format workflow (expected an object of nodes)")
    for node_id, node in data.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            raise WorkflowError(f"{source}: node {node_id!r} has no class_type")
        if not isinstance(node.get("inputs", {}), dict):
            raise WorkflowError(f"{source}: node {node_id!r} inputs must be an object")
        node.setdefault("inputs", {})
    return data


def parse_workflow(data: Any, *, name: str = "workflow", manifest: Mapping[str, Any] | None = None,
                   path: Path | None = None) -> WorkflowTemplate:
    graph = _parse_graph(data, str(path or name))
    manifest = manifest or {}
    params: dict[str, Parameter] = {}
    for pname, spec in (manifest.get("parameters") or {}).items():
        ptype = spec.get("type", "string")
        if ptype not in _TYPES:
            raise WorkflowError(f"manifest of {name!r}: parameter {pname!r} has unknown type {ptype}")
        binds = []
        for target in spec.get("bind", []):
            node_id, _, input_name = str(target).partition(".")
            if node_id not in graph or not input_name:
                raise WorkflowError(
                    f"manifest of {name!r}: parameter {pname!r} binds to {target!r}, "
                    "which is not a node input of the workflow"
                )
            binds.append((node_id, input_name))
        params[pname] = Parameter(
            name=pname, type=ptype, bind=tuple(binds), default=spec.get("default"),
            required=bool(spec.get("required", False)), label=spec.get("label", pname),
            minimum=spec.get("min"), maximum=spec.get("max"),
            choices=tuple(spec.get("choices", ())),
        )
    packs = tuple(
        NodePack(p.get("name", "?"), tuple(p.get("nodes", ())), p.get("install", ""),
                 p.get("url", ""))
        for p in manifest.get("node_packs", ())
    )
    models = tuple(
        ModelFile(m.get("folder", ""), m.get("filename", ""), m.get("url", ""))
        for m in manifest.get("models", ())
    )
    return WorkflowTemplate(
        name=manifest.get("name", name), graph=graph, title=manifest.get("title", name),
        description=manifest.get("description", ""), local=bool(manifest.get("local", False)),
        parameters=params, node_packs=packs, models=models,
        webhook_node=(manifest.get("outputs") or {}).get("webhook_node"), path=path,
    )


def load_workflow(path: Path) -> WorkflowTemplate:
    """Load `NAME.json` and, if present, `NAME.manifest.json` beside it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkflowError(f"workflow file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorkflowError(f"cannot read workflow {path}: {exc}") from exc
    name = path.name.removesuffix(".json")
    manifest_path = path.with_name(f"{name}.manifest.json")
    manifest = None
    if manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise WorkflowError(f"cannot read manifest {manifest_path}: {exc}") from exc
    return parse_workflow(data, name=name, manifest=manifest, path=path)


def shipped_workflows(folder: Path) -> dict[str, WorkflowTemplate]:
    out = {}
    for path in sorted(folder.glob("*.json")):
        if not path.name.endswith(".manifest.json"):
            template = load_workflow(path)
            out[template.name] = template
    return out


def find_workflow(name_or_path: str, folders: Iterable[Path]) -> WorkflowTemplate:
    """A shipped workflow by name, or a workflow file given by path."""
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".json" and candidate.exists():
        return load_workflow(candidate)
    for folder in folders:
        path = folder / f"{name_or_path}.json"
        if path.exists():
            return load_workflow(path)
    names = sorted(n for f in folders for n in shipped_workflows(f)) if folders else []
    raise WorkflowError(
        f"unknown workflow {name_or_path!r}; shipped workflows: {', '.join(names) or 'none'}"
    )
