"""``POST /prompt`` validation, following ComfyUI 0.3.64 ``execution.validate_prompt``.

The error dicts (type, message, details, extra_info) and their order are what the real server
answers; tests compare them byte for byte with the recorded 400 bodies. Quirks kept on purpose:
inputs are converted in place (``"64"`` becomes ``64`` in the queued prompt), ``details`` of the
top-level error only lists problems of output nodes, and a node with errors is listed in
``dependent_outputs`` of every failing output validated after it.
"""

from __future__ import annotations

import inspect
import logging
import sys
import traceback
from typing import Any

from .node_calls import full_type_name, get_input_data, get_input_info, map_node_over_list
from .registry import NODE_CLASS_MAPPINGS

log = logging.getLogger("fakecomfy")

Validated = dict[str, tuple[bool, list[dict[str, Any]], str]]


def _error(kind: str, message: str, details: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


def validate_node_input(received_type: Any, input_type: Any) -> bool:
    if received_type == input_type:
        return True
    if not isinstance(received_type, str) or not isinstance(input_type, str):
        return False
    received = {t.strip() for t in received_type.split(",")}
    wanted = {t.strip() for t in input_type.split(",")}
    if "*" in received or "*" in wanted:
        return True
    return len(received & wanted) > 0


def validate_inputs(prompt: dict[str, Any], item: str, validated: Validated) -> tuple:
    unique_id = item
    if unique_id in validated:
        return validated[unique_id]

    inputs = prompt[unique_id]["inputs"]
    obj_class = NODE_CLASS_MAPPINGS[prompt[unique_id]["class_type"]]
    class_inputs = obj_class.INPUT_TYPES()
    valid_inputs = list(class_inputs.get("required", {})) + [
        name
        for name in class_inputs.get("optional", {}) or {}
        if name not in class_inputs.get("required", {})
    ]

    errors: list[dict[str, Any]] = []
    valid = True
    validate_args: list[str] = []
    validate_has_kwargs = False
    if hasattr(obj_class, "VALIDATE_INPUTS"):
        spec = inspect.getfullargspec(obj_class.VALIDATE_INPUTS)
        validate_args = spec.args
        validate_has_kwargs = spec.varkw is not None
    received_types: dict[str, Any] = {}

    for name in valid_inputs:
        input_type, category, extra_info = get_input_info(obj_class, name, class_inputs)
        extra_info = extra_info or {}
        if name not in inputs:
            if category == "required":
                errors.append(
                    _error("required_input_missing", "Required input is missing", name, input_name=name)
                )
            continue

        val = inputs[name]
        info = [input_type, extra_info]
        if isinstance(val, list):
            if len(val) != 2:
                errors.append(
                    _error(
                        "bad_linked_input",
                        "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                        name,
                        input_name=name,
                        input_config=info,
                        received_value=val,
                    )
                )
                continue
            o_id = val[0]
            received_type = NODE_CLASS_MAPPINGS[prompt[o_id]["class_type"]].RETURN_TYPES[val[1]]
            received_types[name] = received_type
            if "input_types" not in validate_args and not validate_node_input(received_type, input_type):
                errors.append(
                    _error(
                        "return_type_mismatch",
                        "Return type mismatch between linked nodes",
                        f"{name}, received_type({received_type}) mismatch input_type({input_type})",
                        input_name=name,
                        input_config=info,
                        received_type=received_type,
                        linked_node=val,
                    )
                )
                continue
            try:
                upstream = validate_inputs(prompt, o_id, validated)
                if upstream[0] is False:
                    valid = False
                    continue
            except Exception as ex:
                typ, _, tb = sys.exc_info()
                valid = False
                validated[o_id] = (
                    False,
                    [
                        _error(
                            "exception_during_inner_validation",
                            "Exception when validating inner node",
                            str(ex),
                            input_name=name,
                            input_config=info,
                            exception_message=str(ex),
                            exception_type=full_type_name(typ),
                            traceback=traceback.format_tb(tb),
                            linked_node=val,
                        )
                    ],
                    o_id,
                )
                continue
        else:
            try:
                if isinstance(val, dict) and "__value__" in val:
                    val = val["__value__"]
                    inputs[name] = val
                converter = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}.get(
                    input_type if isinstance(input_type, str) else ""
                )
                if converter is not None:
                    val = converter(val)
                    inputs[name] = val
            except Exception as ex:
                errors.append(
                    _error(
                        "invalid_input_type",
                        f"Failed to convert an input value to a {input_type} value",
                        f"{name}, {val}, {ex}",
                        input_name=name,
                        input_config=info,
                        received_value=val,
                        exception_message=str(ex),
                    )
                )
                continue

            if name not in validate_args and not validate_has_kwargs:
                if "min" in extra_info and val < extra_info["min"]:
                    errors.append(
                        _error(
                            "value_smaller_than_min",
                            f"Value {val} smaller than min of {extra_info['min']}",
                            name,
                            input_name=name,
                            input_config=info,
                            received_value=val,
                        )
                    )
                    continue
                if "max" in extra_info and val > extra_info["max"]:
                    errors.append(
                        _error(
                            "value_bigger_than_max",
                            f"Value {val} bigger than max of {extra_info['max']}",
                            name,
                            input_name=name,
                            input_config=info,
                            received_value=val,
                        )
                    )
                    continue
                if isinstance(input_type, list) and val not in input_type:
                    # Long lists (model files) are not echoed back.
                    if len(input_type) > 20:
                        list_info, config = f"(list of length {len(input_type)})", None
                    else:
                        list_info, config = str(input_type), info
                    errors.append(
                        _error(
                            "value_not_in_list",
                            "Value not in list",
                            f"{name}: '{val}' not in {list_info}",
                            input_name=name,
                            input_config=config,
                            received_value=val,
                        )
                    )
                    continue

    if validate_args or validate_has_kwargs:
        input_data_all, _ = get_input_data(inputs, obj_class, unique_id)
        filtered = {k: v for k, v in input_data_all.items() if k in validate_args or validate_has_kwargs}
        if "input_types" in validate_args:
            filtered["input_types"] = [received_types]
        results = map_node_over_list(obj_class, filtered, "VALIDATE_INPUTS")
        for name in filtered:
            for result in results:
                if result is not True:
                    details = name if result is False else f"{name} - {result}"
                    errors.append(
                        _error(
                            "custom_validation_failed",
                            "Custom validation failed for node",
                            details,
                            input_name=name,
                        )
                    )

    result = (False, errors, unique_id) if errors or valid is not True else (True, [], unique_id)
    validated[unique_id] = result
    return result


def validate_prompt(
    prompt: dict[str, Any], partial_execution_targets: list[str] | None
) -> tuple[bool, dict[str, Any] | None, list[str], dict[str, Any]]:
    """Returns ``(ok, error, outputs_to_execute, node_errors)`` like ComfyUI."""
    outputs: list[str] = []
    for node_id, node in prompt.items():
        if "class_type" not in node:
            return (
                False,
                _error(
                    "invalid_prompt",
                    "Cannot execute because a node is missing the class_type property.",
                    f"Node ID '#{node_id}'",
                ),
                [],
                {},
            )
        class_type = node["class_type"]
        obj_class = NODE_CLASS_MAPPINGS.get(class_type)
        if obj_class is None:
            return (
                False,
                _error(
                    "invalid_prompt",
                    f"Cannot execute because node {class_type} does not exist.",
                    f"Node ID '#{node_id}'",
                ),
                [],
                {},
            )
        if getattr(obj_class, "OUTPUT_NODE", False) is True and (
            partial_execution_targets is None or node_id in partial_execution_targets
        ):
            outputs.append(node_id)

    if not outputs:
        return False, _error("prompt_no_outputs", "Prompt has no outputs"), [], {}

    good_outputs: list[str] = []
    failures: list[tuple[str, list[dict[str, Any]]]] = []
    node_errors: dict[str, Any] = {}
    validated: Validated = {}
    for output in outputs:
        try:
            valid, reasons, _ = validate_inputs(prompt, output, validated)
        except Exception as ex:
            typ, _, tb = sys.exc_info()
            valid = False
            reasons = [
                _error(
                    "exception_during_validation",
                    "Exception when validating node",
                    str(ex),
                    exception_type=full_type_name(typ),
                    traceback=traceback.format_tb(tb),
                )
            ]
            validated[output] = (False, reasons, output)

        if valid is True:
            good_outputs.append(output)
            continue
        log.error("Failed to validate prompt for output %s", output)
        failures.append((output, reasons))
        for node_id, (node_valid, node_reasons, _) in validated.items():
            # Downstream nodes of a broken node are invalid without reasons: not reported.
            if node_valid is not True and node_reasons:
                if node_id not in node_errors:
                    node_errors[node_id] = {
                        "errors": node_reasons,
                        "dependent_outputs": [],
                        "class_type": prompt[node_id]["class_type"],
                    }
                node_errors[node_id]["dependent_outputs"].append(output)

    if not good_outputs:
        details = "\n".join(
            f"{reason['message']}: {reason['details']}" for _, reasons in failures for reason in reasons
        )
        error = _error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details)
        return False, error, good_outputs, node_errors
    return True, None, good_outputs, node_errors
