"""Newer ComfyUI's Jobs API (``comfy_execution/jobs.py`` + the ``/api/jobs`` routes of ``server.py``).

Served only by a profile with ``jobs_api`` (the recorded 0.3.64 has none: its ``/api/jobs`` is
aiohttp's plain 404). The list is running, pending and history items as one kind of record,
newest first, paged with ``limit``/``offset``:

    {"jobs": [{"id", "status", "priority", "create_time"?, "outputs_count", ...}],
     "pagination": {"offset", "limit", "total", "has_more"}}

``GET /api/jobs/{id}`` is one record plus, once it is in history, ``outputs`` (the history's, as
``executed`` sent them), ``execution_status`` (the history's ``status``) and ``workflow``
``{prompt, extra_data}``; an id the server does not know is 404 ``{"error": "Job not found"}``
(a restart or an evicted history entry). History is looked up first: a job leaves the running
list and enters history in one locked step, so it is never in neither.

``POST /api/jobs/{id}/cancel`` (and ``POST /api/jobs/cancel {"job_ids": [...]}``) dequeue a
pending job or interrupt a running one, and only that one: the interrupt is set only if that job
is still the one running, so a cancel never lands on the prompt that started meanwhile. A job
that left the queue between the look and the dequeue is interrupted if it started. The answer is
``{"cancelled": bool}`` (false for a finished or unknown id: idempotent, never an error).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import shims
from .http_routes import is_canonical_uuid
from .server import PromptServer

STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")


def queue_job(item: tuple, status: str, *, detail: bool = False) -> dict[str, Any]:
    priority, prompt_id, prompt, extra_data, _outputs = item[:5]
    job = _pruned({"id": prompt_id, "status": status, "priority": priority,
                   "create_time": extra_data.get("create_time"), "outputs_count": 0,
                   "previewable_outputs_count": 0})
    if detail:
        job["workflow"] = {"prompt": prompt, "extra_data": extra_data}
    return job


def history_job(prompt_id: str, entry: dict[str, Any], *, detail: bool = False) -> dict[str, Any]:
    priority, _, prompt, extra_data, _outputs = entry["prompt"]
    status_info = entry.get("status") or {}
    start = end = error = None
    interrupted = False
    for name, data in status_info.get("messages") or ():
        if name == "execution_start":
            start = data.get("timestamp")
        elif name in ("execution_success", "execution_error", "execution_interrupted"):
            end = data.get("timestamp")
            error = data if name == "execution_error" else error
            interrupted = interrupted or name == "execution_interrupted"
    if status_info.get("status_str") == "error":
        status = "cancelled" if interrupted else "failed"
    else:
        status = "completed"
    outputs = entry.get("outputs") or {}
    # Upstream counts file records only: PreviewAny's text strings are not outputs.
    count = sum(1 for node in outputs.values() for kind, items in node.items()
                if kind != "animated" and isinstance(items, list)
                for item in items if isinstance(item, dict))
    job = _pruned({"id": prompt_id, "status": status, "priority": priority,
                   "create_time": extra_data.get("create_time"), "execution_start_time": start,
                   "execution_end_time": end, "execution_error": error, "outputs_count": count,
                   "previewable_outputs_count": count})
    if detail:
        job["outputs"] = outputs
        job["execution_status"] = status_info
        job["workflow"] = {"prompt": prompt, "extra_data": extra_data}
    return job


def find_job(server: PromptServer, job_id: str) -> dict[str, Any] | None:
    """`get_job`: history first (the later state), then running, then pending."""
    history = server.prompt_queue.get_history(prompt_id=job_id)
    if job_id in history:
        return history_job(job_id, history[job_id], detail=True)
    running, pending = server.prompt_queue.get_current_queue()
    for items, status in ((running, "in_progress"), (pending, "pending")):
        for item in items:
            if item[1] == job_id:
                return queue_job(item, status, detail=True)
    return None


def cancel_job(server: PromptServer, job_id: str) -> bool:
    """Dequeue a pending job or interrupt a running one; True when either happened."""
    queue = server.prompt_queue
    if queue.delete_queue_item(job_id):
        return True
    with queue.mutex:  # interrupt_if_running: only while this job is the one running
        running, _ = queue.get_current_queue()
        if any(item[1] == job_id for item in running):
            shims.interrupt_current_processing(True)
            return True
    return False


def add_jobs_routes(server: PromptServer, routes: web.RouteTableDef) -> None:
    @routes.get("/api/jobs")
    async def get_jobs(request: web.Request) -> web.Response:
        query = request.rel_url.query
        wanted = [s.strip().lower() for s in query.get("status", "").split(",") if s.strip()]
        invalid = [s for s in wanted if s not in STATUSES]
        if invalid:
            return web.json_response(
                {"error": f"Invalid status value(s): {', '.join(invalid)}. "
                          f"Valid values: {', '.join(STATUSES)}"}, status=400)
        order = query.get("sort_order", "desc").lower()
        if order not in ("asc", "desc"):
            return web.json_response({"error": "sort_order must be 'asc' or 'desc'"}, status=400)
        limit = None
        if "limit" in query:
            try:
                limit = int(query["limit"])
            except ValueError:
                return web.json_response({"error": "limit must be an integer"}, status=400)
            if limit <= 0:
                return web.json_response({"error": "limit must be a positive integer"},
                                         status=400)
        try:
            offset = max(0, int(query.get("offset", 0)))
        except ValueError:
            return web.json_response({"error": "offset must be an integer"}, status=400)
        running, pending = server.prompt_queue.get_current_queue()
        jobs = [queue_job(item, "in_progress") for item in running]
        jobs += [queue_job(item, "pending") for item in pending]
        jobs += [history_job(pid, entry)
                 for pid, entry in server.prompt_queue.get_history().items()]
        if wanted:
            jobs = [job for job in jobs if job["status"] in wanted]
        jobs.sort(key=lambda job: job.get("create_time", 0), reverse=order == "desc")
        total = len(jobs)
        page = jobs[offset:] if limit is None else jobs[offset:offset + limit]
        return web.json_response({
            "jobs": page,
            "pagination": {"offset": offset, "limit": limit, "total": total,
                           "has_more": offset + len(page) < total},
        })

    @routes.get("/api/jobs/{job_id}")
    async def get_job(request: web.Request) -> web.Response:
        job = find_job(server, request.match_info["job_id"])
        if job is None:
            return web.json_response({"error": "Job not found"}, status=404)
        return web.json_response(job)

    @routes.post("/api/jobs/cancel")
    async def cancel_jobs(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "Request body must be valid JSON"}, status=400)
        job_ids = body.get("job_ids") if isinstance(body, dict) else None
        if not isinstance(job_ids, list):
            return web.json_response({"error": "job_ids must be a list"}, status=400)
        invalid = [j if isinstance(j, str) else repr(j) for j in job_ids if not is_canonical_uuid(j)]
        if invalid:
            return web.json_response({"error": "job_ids contains invalid id(s)",
                                      "invalid_ids": invalid}, status=400)
        results = [cancel_job(server, job_id) for job_id in job_ids]
        return web.json_response({"cancelled": any(results)})

    @routes.post("/api/jobs/{job_id}/cancel")
    async def cancel_one(request: web.Request) -> web.Response:
        return web.json_response({"cancelled": cancel_job(server, request.match_info["job_id"])})


def _pruned(job: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in job.items() if value is not None}
