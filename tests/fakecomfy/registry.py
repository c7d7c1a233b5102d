"""The node class table and ``/object_info`` as ComfyUI 0.3.64 builds them.

``NODE_CLASS_MAPPINGS`` holds three kinds of classes: core nodes the fake really runs (nodes.py),
every other class of the recorded ``/object_info`` as a schema-only stand-in (it validates like
the real one, and fails with a clear ``execution_error`` if run), and classes of loaded custom
node packs. ``node_info`` is ComfyUI's own ``server.node_info`` for V1 classes; classes the
recording knows answer with the recorded entry, so their ``/object_info`` is byte-identical.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "comfy"
OBJECT_INFO_FILE = FIXTURES / "object_info_full.json"

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}


@cache
def recorded_object_info() -> dict[str, Any]:
    return json.loads(OBJECT_INFO_FILE.read_text(encoding="utf-8"))


def recorded(name: str) -> dict[str, Any]:
    return recorded_object_info()[name]


class NotImplementedInFake(RuntimeError):
    """A recorded node class the fake can validate but cannot run (it needs models or a GPU)."""


def schema_only_class(name: str, info: dict[str, Any]) -> type:
    """A class that validates exactly like the recorded one and refuses to run."""

    def run(self: Any, **kwargs: Any) -> Any:
        raise NotImplementedInFake(f"fakecomfy cannot run {name}: only its /object_info schema was recorded")

    attrs = {
        "INPUT_TYPES": classmethod(lambda cls: copy.deepcopy(info["input"])),
        "RETURN_TYPES": tuple(info["output"]),
        "RETURN_NAMES": tuple(info["output_name"]),
        "OUTPUT_IS_LIST": tuple(info["output_is_list"]),
        "OUTPUT_NODE": info["output_node"],
        "CATEGORY": info["category"],
        "FUNCTION": "run",
        "run": run,
        "RECORDED_NAME": name,
    }
    return type(name, (), attrs)


def register_recorded(implemented: dict[str, type]) -> None:
    """Fill the table: real implementations first, the rest of the recording as stand-ins."""
    for name, info in recorded_object_info().items():
        cls = implemented.get(name) or schema_only_class(name, info)
        NODE_CLASS_MAPPINGS[name] = cls
        NODE_DISPLAY_NAME_MAPPINGS[name] = info["display_name"]
    for name, cls in implemented.items():
        NODE_CLASS_MAPPINGS.setdefault(name, cls)


def node_info(node_class: str) -> dict[str, Any]:
    obj_class = NODE_CLASS_MAPPINGS[node_class]
    recorded_name = getattr(obj_class, "RECORDED_NAME", None)
    if recorded_name == node_class:
        info = copy.deepcopy(recorded(node_class))
        # Live parts (LoadImage's file list) come from the class, the rest from the recording.
        info["input"] = obj_class.INPUT_TYPES()
        info["input_order"] = {key: list(value) for key, value in info["input"].items()}
        return info
    return v1_node_info(node_class, obj_class)


def v1_node_info(node_class: str, obj_class: type) -> dict[str, Any]:
    """ComfyUI 0.3.64 ``server.node_info`` for a V1 class (keys in the same order)."""
    input_types = obj_class.INPUT_TYPES()
    info: dict[str, Any] = {}
    info["input"] = input_types
    info["input_order"] = {key: list(value.keys()) for key, value in input_types.items()}
    info["output"] = obj_class.RETURN_TYPES
    info["output_is_list"] = getattr(obj_class, "OUTPUT_IS_LIST", [False] * len(obj_class.RETURN_TYPES))
    info["output_name"] = getattr(obj_class, "RETURN_NAMES", info["output"])
    info["name"] = node_class
    info["display_name"] = NODE_DISPLAY_NAME_MAPPINGS.get(node_class, node_class)
    info["description"] = getattr(obj_class, "DESCRIPTION", "")
    info["python_module"] = getattr(obj_class, "RELATIVE_PYTHON_MODULE", "nodes")
    info["category"] = "sd"
    info["output_node"] = getattr(obj_class, "OUTPUT_NODE", False) is True
    if hasattr(obj_class, "CATEGORY"):
        info["category"] = obj_class.CATEGORY
    if hasattr(obj_class, "OUTPUT_TOOLTIPS"):
        info["output_tooltips"] = obj_class.OUTPUT_TOOLTIPS
    if getattr(obj_class, "DEPRECATED", False):
        info["deprecated"] = True
    if getattr(obj_class, "EXPERIMENTAL", False):
        info["experimental"] = True
    if hasattr(obj_class, "API_NODE"):
        info["api_node"] = obj_class.API_NODE
    return info
