"""How ComfyUI 0.3.64 feeds inputs to a node function and merges what it returns.

Every input is a list (one entry per batch of a list-producing upstream node); the function is
called once per index, the last entry repeating for shorter lists. Links resolve to upstream
outputs, constants to ``[value]``, hidden inputs to the prompt / extra_pnginfo / node id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import shims


def is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], (int, float))
    )


def get_input_info(
    class_def: type, input_name: str, valid_inputs: dict[str, Any] | None = None
) -> tuple[Any, str | None, dict[str, Any] | None]:
    valid_inputs = valid_inputs or class_def.INPUT_TYPES()
    for category in ("required", "optional", "hidden"):
        section = valid_inputs.get(category) or {}
        if input_name in section:
            spec = section[input_name]
            if isinstance(spec, str):  # hidden inputs are bare strings ("PROMPT")
                return spec, category, {}
            extra = spec[1] if len(spec) > 1 else {}
            return spec[0], category, extra
    return None, None, None


def get_input_data(
    inputs: dict[str, Any],
    class_def: type,
    unique_id: str,
    outputs: Callable[[str], list | None] | None = None,
    prompt: dict[str, Any] | None = None,
    extra_data: dict[str, Any] | None = None,
) -> tuple[dict[str, list], dict[str, bool]]:
    """Returns ``(input_data_all, missing_keys)``; ``outputs`` looks up an upstream node."""
    extra_data = extra_data or {}
    valid_inputs = class_def.INPUT_TYPES()
    input_data_all: dict[str, list] = {}
    missing: dict[str, bool] = {}
    for name, value in inputs.items():
        _, category, _ = get_input_info(class_def, name, valid_inputs)
        if is_link(value):
            upstream = outputs(value[0]) if outputs is not None else None
            if upstream is None or value[1] >= len(upstream):
                missing[name] = True
                input_data_all[name] = [None]
                continue
            input_data_all[name] = upstream[value[1]]
        elif category is not None:
            input_data_all[name] = [value]
    for name, kind in (valid_inputs.get("hidden") or {}).items():
        if kind == "PROMPT":
            input_data_all[name] = [prompt if prompt is not None else {}]
        elif kind == "EXTRA_PNGINFO":
            input_data_all[name] = [extra_data.get("extra_pnginfo", None)]
        elif kind == "UNIQUE_ID":
            input_data_all[name] = [unique_id]
    return input_data_all, missing


def map_node_over_list(
    obj: Any, inputs: dict[str, list], func: str, allow_interrupt: bool = False
) -> list[Any]:
    method = getattr(obj, func)
    max_len = max((len(v) for v in inputs.values()), default=0)

    def call(**kwargs: Any) -> Any:
        if allow_interrupt:
            shims.throw_exception_if_processing_interrupted()
        return method(**kwargs)

    if getattr(obj, "INPUT_IS_LIST", False):
        return [call(**inputs)]
    if max_len == 0:
        return [call()]
    return [call(**{k: v[i if len(v) > i else -1] for k, v in inputs.items()}) for i in range(max_len)]


def merge_returns(return_values: list[Any], obj: Any) -> tuple[list[list[Any]], dict[str, list[Any]]]:
    """Splits results into per-slot output lists and the merged ``ui`` dict."""
    results: list[tuple] = []
    uis: list[dict[str, Any]] = []
    for value in return_values:
        if isinstance(value, dict):
            if "ui" in value:
                uis.append(value["ui"])
            if "result" in value:
                results.append(tuple(value["result"]))
        elif value is not None:
            results.append(value)
    output: list[list[Any]] = []
    if results:
        is_list = getattr(obj, "OUTPUT_IS_LIST", None) or [False] * len(results[0])
        for i, slot_is_list in zip(range(len(results[0])), is_list, strict=False):
            if slot_is_list:
                output.append([item for r in results for item in r[i]])
            else:
                output.append([r[i] for r in results])
    ui: dict[str, list[Any]] = {}
    if uis:
        ui = {key: [item for u in uis for item in u[key]] for key in uis[0]}
    return output, ui


def format_value(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, bool, str)):
        return value
    return str(value)


def full_type_name(klass: type) -> str:
    module = klass.__module__
    if module == "builtins":
        return klass.__qualname__
    return f"{module}.{klass.__qualname__}"
