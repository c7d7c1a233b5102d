"""Pure translation of ComfyUI's wire format into typed events. No I/O here, so it is easy to test.

Quirks handled (see ComfyUI's server.py / execution.py and the recorded transcripts):
- every text frame is `{"type", "data"}`; unknown types and unknown fields are ignored (newer servers
  add `assets.*`, `notification`, `metadata`, `activity`);
- `executing` with `node: null` is the per-prompt end marker; on reconnect the server may send
  `executing` with no `prompt_id` at all, which tells us nothing we can attribute, so it is dropped;
- binary frames start with a big-endian u32 event type: 1 preview (u32 image type, bytes),
  3 text (u32 node id length, node id, text), 4 preview with a JSON metadata header.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from typing import Any

from automata_desktop.comfy.events import (
    ComfyEvent,
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionStarted,
    ExecutionSucceeded,
    HistoryResult,
    NodeExecuting,
    NodeOutput,
    NodeProgress,
    NodesCached,
    OutputRef,
    Preview,
    Progress,
    ProgressState,
    ProgressText,
    PromptFinished,
    QueueStatus,
)
from automata_desktop.core.workflow_params import model_folder

BINARY_PREVIEW = 1
BINARY_TEXT = 3
BINARY_PREVIEW_WITH_METADATA = 4
_IMAGE_TYPES = {1: "image/jpeg", 2: "image/png"}


def parse_text(raw: str | bytes) -> ComfyEvent | None:
    """One text frame → an event, or None for frames a client has no use for (or cannot read)."""
    try:
        message = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
        return None
    return _parse_message(str(message.get("type")), message["data"])


def _parse_message(kind: str, data: Mapping[str, Any]) -> ComfyEvent | None:
    prompt_id = data.get("prompt_id")
    match kind:
        case "status":
            info = (data.get("status") or {}).get("exec_info") or {}
            remaining = info.get("queue_remaining")
            return QueueStatus(int(remaining)) if isinstance(remaining, int) else None
    if not isinstance(prompt_id, str):
        return None
    match kind:
        case "execution_start":
            return ExecutionStarted(prompt_id)
        case "execution_cached":
            return NodesCached(prompt_id, tuple(str(n) for n in data.get("nodes") or ()))
        case "executing":
            node = data.get("node")
            if node is None:
                return PromptFinished(prompt_id)
            return NodeExecuting(prompt_id, str(node), _opt_str(data.get("display_node")))
        case "progress":
            return Progress(prompt_id, _opt_str(data.get("node")), _num(data.get("value")),
                            _num(data.get("max"), 1.0))
        case "progress_state":
            nodes = tuple(
                NodeProgress(str(node_id), _num(n.get("value")), _num(n.get("max"), 1.0),
                             str(n.get("state", "")))
                for node_id, n in (data.get("nodes") or {}).items()
                if isinstance(n, dict)
            )
            return ProgressState(prompt_id, nodes)
        case "executed":
            node = str(data.get("node"))
            output = data.get("output") or {}
            if not isinstance(output, dict):
                output = {}
            return NodeOutput(prompt_id, node, output, tuple(output_refs(output, node)))
        case "execution_success":
            return ExecutionSucceeded(prompt_id)
        case "execution_error":
            return ExecutionFailed(
                prompt_id,
                message=error_text(data),
                node_id=_opt_str(data.get("node_id")),
                node_type=_opt_str(data.get("node_type")),
                exception_type=_opt_str(data.get("exception_type")),
                traceback=tuple(str(t) for t in data.get("traceback") or ()),
            )
        case "execution_interrupted":
            return ExecutionInterrupted(prompt_id, _opt_str(data.get("node_id")))
    return None


def parse_binary(frame: bytes) -> ComfyEvent | None:
    if len(frame) < 8:
        return None
    event, second = struct.unpack(">II", frame[:8])
    if event == BINARY_PREVIEW:
        return Preview(frame[8:], _IMAGE_TYPES.get(second, "application/octet-stream"))
    if event == BINARY_TEXT:
        node = frame[8 : 8 + second].decode("utf-8", "replace")
        return ProgressText(node, frame[8 + second :].decode("utf-8", "replace"))
    if event == BINARY_PREVIEW_WITH_METADATA:
        try:
            meta = json.loads(frame[8 : 8 + second])
        except ValueError:
            meta = {}
        if not isinstance(meta, dict):
            meta = {}
        return Preview(
            frame[8 + second :],
            str(meta.get("image_type") or "image/png"),
            prompt_id=_opt_str(meta.get("prompt_id")),
            node=_opt_str(meta.get("node_id")),
        )
    return None


def output_refs(output: Mapping[str, Any], node: str | None = None) -> Iterable[OutputRef]:
    """File references in a node's `ui` dict: every list entry with a `filename`."""
    for slot, entries in output.items():
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("filename"), str):
                yield OutputRef(
                    filename=entry["filename"],
                    subfolder=str(entry.get("subfolder") or ""),
                    type=str(entry.get("type") or "output"),
                    node=node,
                    slot=slot,
                    kind=entry["kind"] if isinstance(entry.get("kind"), str) else None,
                    size=_opt_size(entry.get("size")),
                    sha256=_opt_sha256(entry.get("sha256")),
                )


def _opt_size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _opt_sha256(value: Any) -> str | None:
    ok = isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    return value if ok else None


def parse_history_entry(prompt_id: str, entry: Mapping[str, Any]) -> HistoryResult:
    status = entry.get("status") or {}
    outputs = entry.get("outputs") or {}
    files: list[OutputRef] = []
    for node, output in outputs.items():
        if isinstance(output, dict):
            files.extend(output_refs(output, str(node)))
    error = None
    interrupted = False
    cached: tuple[str, ...] = ()
    for item in status.get("messages") or ():
        if not (isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[1], dict)):
            continue
        kind, data = item
        if kind == "execution_error":
            error = error_text(data)
        elif kind == "execution_interrupted":
            interrupted = True
            error = "interrupted"
        elif kind == "execution_cached":
            cached = tuple(str(n) for n in data.get("nodes") or ())
    return HistoryResult(
        prompt_id=prompt_id,
        status=str(status.get("status_str") or ("success" if outputs else "error")),
        completed=bool(status.get("completed", bool(outputs))),
        files=tuple(files),
        outputs=dict(outputs),
        error=error,
        interrupted=interrupted,
        cached_nodes=cached,
        executed_nodes=tuple(str(n) for n in (entry.get("meta") or {})),
    )


def describe_prompt_errors(body: Any, graph: Mapping[str, Any] | None = None
                           ) -> tuple[str, list[str]]:
    """A `POST /prompt` error body → (headline, one line per node input) a user can act on.

    ComfyUI's validation texts are written for node authors ("Value not in list: ckpt_name:
    'x' not in []"); each known kind is reworded to say what is wrong and what to do, naming the
    node by its title when the queued `graph` is given.
    """
    if not isinstance(body, dict):
        return "the server rejected the workflow", []
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    headline = str(error.get("message") or "the server rejected the workflow")
    details = str(error.get("details") or "")
    if details and not body.get("node_errors"):
        headline = f"{headline} ({details})"
    problems = []
    for node_id, node_error in (body.get("node_errors") or {}).items():
        if not isinstance(node_error, dict):
            continue
        class_type = str(node_error.get("class_type", "?"))
        title = str(((graph or {}).get(str(node_id)) or {}).get("_meta", {}).get("title") or "")
        label = (f"node {node_id} “{title}” ({class_type})" if title and title != class_type
                 else f"node {node_id} ({class_type})")
        for err in node_error.get("errors") or ():
            if isinstance(err, dict):
                problems.append(_validation_problem(label, class_type, err))
    return headline, problems


def _validation_problem(label: str, class_type: str, err: Mapping[str, Any]) -> str:
    extra = err.get("extra_info") or {}
    where = str(extra.get("input_name") or "")
    kind = err.get("type")
    received = extra.get("received_value")
    if kind == "required_input_missing" and where:
        return f"{label}: input '{where}' is not connected"
    if kind == "value_not_in_list" and where:
        config = extra.get("input_config")
        choices = config[0] if isinstance(config, list) and config and isinstance(
            config[0], list) else []
        folder = model_folder(class_type, where)
        if folder:
            return (f"{label}: the model file {received!r} is not on this server; put it in "
                    f"ComfyUI/models/{folder}/ and restart ComfyUI"
                    + ("" if choices else f" (it has no {folder} at all)"))
        shown = ", ".join(map(str, choices[:12])) + (", …" if len(choices) > 12 else "")
        return f"{label} input '{where}': {received!r} is not one of {shown}"
    text = str(err.get("details") or "")
    if kind == "custom_validation_failed" and "Invalid image file:" in text:
        name = text.split("Invalid image file:", 1)[1].strip()
        return (f"{label}: the image {name!r} is not in ComfyUI's input folder (upload it, or "
                "pick another)")
    message = str(err.get("message", "invalid"))
    if text and text != where:
        message = f"{message}: {text}"
    return f"{label} input '{where}': {message}" if where else f"{label}: {message}"


def error_text(data: Mapping[str, Any]) -> str:
    """`ProbeRaise (node 2): RuntimeError: out of memory`: which node, to find it in the graph."""
    node_type, node_id = data.get("node_type"), data.get("node_id")
    text = str(data.get("exception_message") or "execution failed").strip()  # ends in "\n"
    kind = data.get("exception_type")
    if node_type and node_id is not None:
        prefix = f"{node_type} (node {node_id}): "
    elif node_type or node_id is not None:
        prefix = f"{node_type or 'node ' + str(node_id)}: "
    else:
        prefix = ""
    return f"{prefix}{kind + ': ' if kind else ''}{text}"


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _num(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
