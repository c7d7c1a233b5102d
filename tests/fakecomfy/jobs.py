"""Newer ComfyUI's Jobs API (``comfy_execution/jobs.py`` + ``GET /api/jobs`` in ``server.py``).

Served only by a profile with ``jobs_api`` (the recorded 0.3.64 has none: its ``/api/jobs`` is
aiohttp's plain 404). The list is running, pending and history items as one kind of record,
newest first, paged with ``limit``/``offset``:

    {"jobs": [{"id", "status", "priority", "create_time"?, "outputs_count", ...}],
     "pagination": {"offset", "limit", "total", "has_more"}}
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .server import PromptServer

STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")


def queue_job(item: tuple, status: str) -> dict[str, Any]:
    priority, prompt_id, _prompt, extra_data, _outputs = item[:5]
    return _pruned({"id": prompt_id, "status": status, "priority": priority,
                    "create_time": extra_data.get("create_time"), "outputs_count": 0,
                    "previewable_outputs_count": 0})


def history_job(prompt_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    priority, _, _prompt, extra_data, _outputs = entry["prompt"]
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
    count = sum(len(items) for node in (entry.get("outputs") or {}).values()
                for kind, items in node.items() if kind != "animated" and isinstance(items, list))
    return _pruned({"id": prompt_id, "status": status, "priority": priority,
                    "create_time": extra_data.get("create_time"), "execution_start_time": start,
                    "execution_end_time": end, "execution_error": error, "outputs_count": count,
                    "previewable_outputs_count": count})


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


def _pruned(job: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in job.items() if value is not None}
