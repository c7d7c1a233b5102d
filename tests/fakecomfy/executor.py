"""Runs one prompt the way ComfyUI 0.3.64 ``PromptExecutor`` does, message for message.

Per prompt: ``execution_start`` -> ``execution_cached`` -> per node (``progress_state`` running,
``executing``, progress/previews, ``executed``, ``progress_state`` finished) -> ``execution_success``
or ``execution_error`` / ``execution_interrupted``. The "classic" cache keeps the outputs of the
last prompt's nodes, keyed by an input signature (class, ``IS_CHANGED``, constants, ancestors),
so an identical prompt re-sends ``executed`` with the old filenames and writes nothing.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
import traceback
import uuid
from typing import Any, Protocol

from . import shims
from .graph import DependencyCycleError, ExecutionList
from .node_calls import (
    format_value,
    full_type_name,
    get_input_data,
    is_link,
    map_node_over_list,
    merge_returns,
)
from .registry import NODE_CLASS_MAPPINGS

log = logging.getLogger("fakecomfy")

# Event numbers of ComfyUI's protocol.BinaryEventTypes.
PREVIEW_IMAGE = 1
UNENCODED_PREVIEW_IMAGE = 2
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4


class Server(Protocol):
    client_id: str | None
    last_node_id: str | None

    def send_sync(self, event: Any, data: Any, sid: str | None = None) -> None: ...

    def supports_feature(self, sid: str | None, feature: str) -> bool: ...

    def node_delay(self, class_type: str) -> float: ...

    def before_node(self, node_id: str) -> None: ...

    def before_executed(self, node_id: str) -> None: ...


class ProgressRegistry:
    """``progress_state``: every non-pending node of the prompt, sent on each change."""

    def __init__(self, server: Server, prompt_id: str) -> None:
        self.server = server
        self.prompt_id = prompt_id
        self.nodes: dict[str, dict[str, Any]] = {}

    def _entry(self, node_id: str) -> dict[str, Any]:
        return self.nodes.setdefault(node_id, {"state": "pending", "value": 0, "max": 1})

    def _send(self) -> None:
        active = {
            node_id: {
                "value": s["value"],
                "max": s["max"],
                "state": s["state"],
                "node_id": node_id,
                "prompt_id": self.prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            for node_id, s in self.nodes.items()
            if s["state"] != "pending"
        }
        self.server.send_sync(
            "progress_state",
            {"prompt_id": self.prompt_id, "nodes": active},
            self.server.client_id,
        )

    def start(self, node_id: str) -> None:
        self._entry(node_id).update(state="running", value=0.0, max=1.0)
        self._send()

    def update(self, node_id: str, value: Any, max_value: Any, image: Any) -> None:
        self._entry(node_id).update(state="running", value=value, max=max_value)
        self._send()
        if image and self.server.supports_feature(self.server.client_id, "supports_preview_metadata"):
            metadata = {
                "node_id": node_id,
                "prompt_id": self.prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            self.server.send_sync(PREVIEW_IMAGE_WITH_METADATA, (image, metadata), self.server.client_id)

    def finish(self, node_id: str) -> None:
        entry = self._entry(node_id)
        entry.update(state="finished", value=entry["max"])
        self._send()


class PromptExecutor:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.output_cache: dict[str, list[list[Any]]] = {}
        self.ui_cache: dict[str, dict[str, Any]] = {}
        self.objects: dict[tuple[str, str], Any] = {}
        self.status_messages: list[tuple[str, dict[str, Any]]] = []
        self.success = True
        self.history_result: dict[str, Any] = {}
        self.prompt_id: str | None = None
        self.current_node: str | None = None
        self.progress: ProgressRegistry | None = None
        shims.RUNTIME.progress_hook = self.progress_hook

    # -- messages ------------------------------------------------------------------------------

    def add_message(self, event: str, data: dict[str, Any], broadcast: bool) -> None:
        data = {**data, "timestamp": int(time.time() * 1000)}
        self.status_messages.append((event, data))
        if self.server.client_id is not None or broadcast:
            self.server.send_sync(event, data, self.server.client_id)

    def progress_hook(
        self,
        value: Any,
        total: Any,
        preview: Any,
        prompt_id: str | None = None,
        node_id: str | None = None,
    ) -> None:
        """main.py ``hijack_progress``: the interrupt check comes before anything is sent."""
        prompt_id = prompt_id or self.prompt_id
        node_id = node_id or self.current_node
        shims.throw_exception_if_processing_interrupted()
        if self.progress is not None and node_id is not None:
            self.progress.update(node_id, value, total, preview)
        progress = {"value": value, "max": total, "prompt_id": prompt_id, "node": node_id}
        self.server.send_sync("progress", progress, self.server.client_id)
        if preview is not None and not self.server.supports_feature(
            self.server.client_id, "supports_preview_metadata"
        ):
            self.server.send_sync(UNENCODED_PREVIEW_IMAGE, preview, self.server.client_id)

    # -- caching -------------------------------------------------------------------------------

    def signatures(self, prompt: dict[str, Any], extra_data: dict[str, Any]) -> dict[str, str]:
        sigs: dict[str, str] = {}

        def is_changed(node_id: str) -> Any:
            node = prompt[node_id]
            class_def = NODE_CLASS_MAPPINGS[node["class_type"]]
            if not hasattr(class_def, "IS_CHANGED"):
                return False
            try:
                data, _ = get_input_data(node["inputs"], class_def, node_id, None, prompt, extra_data)
                values = map_node_over_list(class_def, data, "IS_CHANGED")
            except Exception:
                return str(uuid.uuid4())
            # NaN never equals itself: ComfyUI nodes return it to force a re-run.
            return [str(uuid.uuid4()) if isinstance(v, float) and math.isnan(v) else v for v in values]

        def signature(node_id: str) -> str:
            if node_id in sigs:
                return sigs[node_id]
            if node_id not in prompt:
                return str(uuid.uuid4())
            node = prompt[node_id]
            class_def = NODE_CLASS_MAPPINGS[node["class_type"]]
            parts: list[Any] = [node["class_type"], is_changed(node_id)]
            hidden = (class_def.INPUT_TYPES().get("hidden") or {}).values()
            if getattr(class_def, "NOT_IDEMPOTENT", False) or "UNIQUE_ID" in hidden:
                parts.append(node_id)
            for key in sorted(node["inputs"]):
                value = node["inputs"][key]
                if is_link(value):
                    parts.append([key, ["ANCESTOR", signature(value[0]), value[1]]])
                else:
                    parts.append([key, value])
            sigs[node_id] = json.dumps(parts, sort_keys=True, default=repr)
            return sigs[node_id]

        for node_id in prompt:
            signature(node_id)
        return sigs

    # -- one prompt ----------------------------------------------------------------------------

    def execute(
        self,
        prompt: dict[str, Any],
        prompt_id: str,
        extra_data: dict[str, Any],
        execute_outputs: list[str],
    ) -> None:
        shims.interrupt_current_processing(False)
        self.server.client_id = extra_data.get("client_id")
        self.status_messages = []
        self.success = True
        self.prompt_id = prompt_id
        self.add_message("execution_start", {"prompt_id": prompt_id}, broadcast=False)

        sigs = self.signatures(prompt, extra_data)
        live = set(sigs.values())
        # Classic cache: only entries the new prompt still uses survive.
        self.output_cache = {k: v for k, v in self.output_cache.items() if k in live}
        self.ui_cache = {k: v for k, v in self.ui_cache.items() if k in live}
        self.objects = {
            k: v for k, v in self.objects.items() if k[0] in prompt and prompt[k[0]]["class_type"] == k[1]
        }
        self.progress = ProgressRegistry(self.server, prompt_id)
        cached_nodes = [n for n in prompt if sigs[n] in self.output_cache]
        self.add_message("execution_cached", {"nodes": cached_nodes, "prompt_id": prompt_id}, broadcast=False)

        executed: list[str] = []
        current_outputs = sorted(prompt)
        execution_list = ExecutionList(
            prompt,
            is_cached=lambda n: n in sigs and sigs[n] in self.output_cache,
            is_output=lambda n: (
                getattr(NODE_CLASS_MAPPINGS[prompt[n]["class_type"]], "OUTPUT_NODE", False) is True
            ),
        )
        for node_id in execute_outputs:
            execution_list.add_node(node_id)

        while not execution_list.is_empty():
            try:
                node_id = execution_list.stage()
            except DependencyCycleError as ex:
                node_id = next(iter(execution_list.pending))
                error = {
                    "node_id": node_id,
                    "exception_message": str(ex),
                    "exception_type": "graph.DependencyCycleError",
                    "traceback": [],
                    "current_inputs": [],
                }
                self.handle_error(prompt_id, prompt, current_outputs, executed, error, ex)
                break
            error, ex = self.execute_node(prompt, prompt_id, extra_data, node_id, sigs, executed)
            if error is not None:
                self.success = False
                self.handle_error(prompt_id, prompt, current_outputs, executed, error, ex)
                break
            execution_list.complete(node_id)
        else:
            self.add_message("execution_success", {"prompt_id": prompt_id}, broadcast=False)

        outputs, meta = {}, {}
        for node_id in prompt:
            ui = self.ui_cache.get(sigs[node_id])
            if ui is not None:
                outputs[node_id] = ui["output"]
                meta[node_id] = ui["meta"]
        self.history_result = {"outputs": outputs, "meta": meta}
        self.server.last_node_id = None
        self.current_node = None
        self.progress = None

    def execute_node(
        self,
        prompt: dict[str, Any],
        prompt_id: str,
        extra_data: dict[str, Any],
        node_id: str,
        sigs: dict[str, str],
        executed: list[str],
    ) -> tuple[dict[str, Any] | None, BaseException | None]:
        server = self.server
        class_type = prompt[node_id]["class_type"]
        class_def = NODE_CLASS_MAPPINGS[class_type]
        assert self.progress is not None
        if sigs[node_id] in self.output_cache:
            if server.client_id is not None:
                cached_ui = self.ui_cache.get(sigs[node_id]) or {}
                server.send_sync(
                    "executed",
                    {
                        "node": node_id,
                        "display_node": node_id,
                        "output": cached_ui.get("output", None),
                        "prompt_id": prompt_id,
                    },
                    server.client_id,
                )
            self.progress.finish(node_id)
            return None, None

        self.progress.start(node_id)
        input_data_all = None
        try:
            input_data_all, _ = get_input_data(
                prompt[node_id]["inputs"],
                class_def,
                node_id,
                lambda upstream: self.output_cache.get(sigs.get(upstream, "")),
                prompt,
                extra_data,
            )
            self.current_node = node_id
            if server.client_id is not None:
                server.last_node_id = node_id
                server.send_sync(
                    "executing",
                    {"node": node_id, "display_node": node_id, "prompt_id": prompt_id},
                    server.client_id,
                )
            obj = self.objects.get((node_id, class_type))
            if obj is None:
                obj = class_def()
                self.objects[(node_id, class_type)] = obj
            self.sleep_interruptibly(server.node_delay(class_type))
            server.before_node(node_id)
            returns = map_node_over_list(obj, input_data_all, class_def.FUNCTION, allow_interrupt=True)
            output, ui = merge_returns(returns, obj)
        except shims.InterruptProcessingException as ex:
            return {"node_id": node_id}, ex
        except Exception as ex:
            typ, _, tb = sys.exc_info()
            log.error("!!! Exception during processing !!! %s\n%s", ex, traceback.format_exc())
            formatted = {
                name: [format_value(v) for v in values] for name, values in (input_data_all or {}).items()
            }
            return {
                "node_id": node_id,
                "exception_message": f"{ex}\n",
                "exception_type": full_type_name(typ),
                "traceback": traceback.format_tb(tb),
                "current_inputs": formatted,
            }, ex

        if ui:
            meta = {"node_id": node_id, "display_node": node_id, "parent_node": None, "real_node_id": node_id}
            self.ui_cache[sigs[node_id]] = {"meta": meta, "output": ui}
            if server.client_id is not None:
                server.before_executed(node_id)
                server.send_sync(
                    "executed",
                    {"node": node_id, "display_node": node_id, "output": ui, "prompt_id": prompt_id},
                    server.client_id,
                )
        self.output_cache[sigs[node_id]] = output
        self.progress.finish(node_id)
        executed.append(node_id)
        return None, None

    @staticmethod
    def sleep_interruptibly(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while seconds > 0 and time.monotonic() < deadline:
            shims.throw_exception_if_processing_interrupted()
            time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))

    def handle_error(
        self,
        prompt_id: str,
        prompt: dict[str, Any],
        current_outputs: list[str],
        executed: list[str],
        error: dict[str, Any],
        ex: BaseException | None,
    ) -> None:
        node_id = error["node_id"]
        message = {
            "prompt_id": prompt_id,
            "node_id": node_id,
            "node_type": prompt[node_id]["class_type"],
            "executed": list(executed),
        }
        if isinstance(ex, shims.InterruptProcessingException):
            # Broadcast when the prompt has no client_id: everybody learns of the interrupt.
            self.add_message("execution_interrupted", message, broadcast=True)
            return
        message.update(
            exception_message=error["exception_message"],
            exception_type=error["exception_type"],
            traceback=error["traceback"],
            current_inputs=error["current_inputs"],
            current_outputs=list(current_outputs),
        )
        self.add_message("execution_error", message, broadcast=False)
