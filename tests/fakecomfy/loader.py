"""Loading custom node packs the way ComfyUI 0.3.64 ``nodes.load_custom_node`` does.

The pack's ``__init__.py`` is imported with ``spec_from_file_location`` under a module name
derived from its path, registered in ``sys.modules`` first (so relative imports work), and its
``NODE_CLASS_MAPPINGS`` / ``NODE_DISPLAY_NAME_MAPPINGS`` are merged; names of built-in nodes
cannot be overridden. A pack that fails to import is logged and skipped, like ComfyUI does.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from .registry import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

log = logging.getLogger("fakecomfy")


@dataclass(frozen=True)
class LoadResult:
    path: str
    loaded: bool
    nodes: tuple[str, ...] = ()
    error: str = ""


def pack_paths(path: Path) -> list[Path]:
    """A pack folder, a single ``.py`` file, or a ``custom_nodes`` folder holding packs."""
    if path.is_file() or (path / "__init__.py").is_file():
        return [path]
    if path.is_dir():
        return sorted(
            p
            for p in path.iterdir()
            if not p.name.startswith((".", "__")) and ((p / "__init__.py").is_file() or p.suffix == ".py")
        )
    return [path]


def load_custom_node(module_path: Path) -> LoadResult:
    module_path = module_path.resolve()
    name = module_path.stem if module_path.is_file() else module_path.name
    sys_module_name = str(module_path).replace(".", "_x_")
    ignore = set(NODE_CLASS_MAPPINGS)
    try:
        if module_path.is_file():
            spec = importlib.util.spec_from_file_location(sys_module_name, module_path)
        else:
            spec = importlib.util.spec_from_file_location(
                sys_module_name,
                module_path / "__init__.py",
                submodule_search_locations=[str(module_path)],
            )
        if spec is None or spec.loader is None:
            raise ImportError(f"no loader for {module_path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[sys_module_name] = module
        spec.loader.exec_module(module)
    except Exception as ex:
        log.warning("%s", traceback.format_exc())
        log.warning("Cannot import %s module for custom nodes: %s", module_path, ex)
        return LoadResult(str(module_path), False, error=f"{type(ex).__name__}: {ex}")

    mappings = getattr(module, "NODE_CLASS_MAPPINGS", None)
    if mappings is None:
        log.warning("Skip %s module for custom nodes due to the lack of NODE_CLASS_MAPPINGS.", module_path)
        return LoadResult(str(module_path), False, error="no NODE_CLASS_MAPPINGS")
    added = []
    for node_name, node_cls in mappings.items():
        if node_name in ignore:
            continue
        NODE_CLASS_MAPPINGS[node_name] = node_cls
        node_cls.RELATIVE_PYTHON_MODULE = f"custom_nodes.{name}"
        added.append(node_name)
    NODE_DISPLAY_NAME_MAPPINGS.update(getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", None) or {})
    return LoadResult(str(module_path), True, tuple(added))


def load_all(paths: list[Path]) -> list[LoadResult]:
    return [load_custom_node(p) for path in paths for p in pack_paths(path)]
