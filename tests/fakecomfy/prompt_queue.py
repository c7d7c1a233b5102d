"""ComfyUI 0.3.64 ``execution.PromptQueue``: a heap of queue items plus in-memory history.

A queue item is ``(number, prompt_id, prompt, extra_data, outputs_to_execute, sensitive)``;
``/queue`` and ``/history`` show its first five fields. Every change calls
``server.queue_updated()``, which broadcasts ``status``; taking an item leaves the count
unchanged (running items count), which is why clients see ``status`` twice on a put.
"""

from __future__ import annotations

import copy
import heapq
import threading
from typing import Any, Protocol

MAXIMUM_HISTORY_SIZE = 10000


class QueueListener(Protocol):
    def queue_updated(self) -> None: ...


class PromptQueue:
    def __init__(self, server: QueueListener) -> None:
        self.server = server
        self.mutex = threading.RLock()
        self.not_empty = threading.Condition(self.mutex)
        self.task_counter = 0
        self.queue: list[tuple] = []
        self.currently_running: dict[int, tuple] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self.paused = False

    def put(self, item: tuple) -> None:
        with self.mutex:
            heapq.heappush(self.queue, item)
            self.server.queue_updated()
            self.not_empty.notify()

    def get(self, timeout: float | None = None) -> tuple[tuple, int] | None:
        with self.not_empty:
            while not self.queue or self.paused:
                self.not_empty.wait(timeout=timeout)
                if timeout is not None and (not self.queue or self.paused):
                    return None
            item = heapq.heappop(self.queue)
            task_id = self.task_counter
            self.currently_running[task_id] = copy.deepcopy(item)
            self.task_counter += 1
            self.server.queue_updated()
            return item, task_id

    def set_paused(self, paused: bool) -> None:
        with self.not_empty:
            self.paused = paused
            self.not_empty.notify_all()

    def task_done(self, task_id: int, history_result: dict[str, Any], status: dict[str, Any]) -> None:
        with self.mutex:
            prompt = self.currently_running.pop(task_id)[:5]
            if len(self.history) > MAXIMUM_HISTORY_SIZE:
                self.history.pop(next(iter(self.history)))
            self.history[prompt[1]] = {
                "prompt": prompt,
                "outputs": {},
                "status": copy.deepcopy(status),
            }
            self.history[prompt[1]].update(history_result)
            self.server.queue_updated()

    def get_current_queue(self) -> tuple[list[tuple], list[tuple]]:
        with self.mutex:
            running = [item[:5] for item in self.currently_running.values()]
            return running, [item[:5] for item in self.queue]

    def get_tasks_remaining(self) -> int:
        with self.mutex:
            return len(self.queue) + len(self.currently_running)

    def wipe_queue(self) -> None:
        with self.mutex:
            self.queue = []
            self.server.queue_updated()

    def delete_queue_item(self, prompt_id: str) -> bool:
        with self.mutex:
            for index, item in enumerate(self.queue):
                if item[1] == prompt_id:
                    # ComfyUI's quirk: deleting the last item wipes (one more status).
                    if len(self.queue) == 1:
                        self.wipe_queue()
                    else:
                        self.queue.pop(index)
                        heapq.heapify(self.queue)
                    self.server.queue_updated()
                    return True
        return False

    def get_history(
        self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1
    ) -> dict[str, Any]:
        with self.mutex:
            if prompt_id is None:
                out: dict[str, Any] = {}
                if offset < 0 and max_items is not None:
                    offset = len(self.history) - max_items
                for index, key in enumerate(self.history):
                    if index >= offset:
                        out[key] = self.history[key]
                        if max_items is not None and len(out) >= max_items:
                            break
                return copy.deepcopy(out)
            if prompt_id in self.history:
                return {prompt_id: copy.deepcopy(self.history[prompt_id])}
            return {}

    def wipe_history(self) -> None:
        with self.mutex:
            self.history = {}

    def delete_history_item(self, prompt_id: str) -> None:
        with self.mutex:
            self.history.pop(prompt_id, None)
