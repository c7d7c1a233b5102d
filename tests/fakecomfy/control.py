"""Test-only endpoints under ``/_fake/`` -- a prefix the real ComfyUI does not have.

``POST /_fake/drop_sockets``  cut every websocket without a close frame (a network drop).
``GET|POST /_fake/config``    ``node_delay_s``, ``node_delays`` {class: s}, ``time_scale``,
                              ``paused`` (the worker stops taking prompts; queue stays pending).
                              ``drop_at_executed`` [node id] (cut every socket just before
                              that node's ``executed``), ``server_prompt_ids`` (ignore the
                              client's ``prompt_id``, as servers before 0.3.2x did).
``POST /_fake/hold``          ``{"names": [...]}`` close gates (holds.py); ``/_fake/release`` opens.
``GET /_fake/state``          version, counters, queue/history ids, sockets and their flags,
                              closed gates and the ones something waits on.
``GET /_fake/requests``       every request so far (method, path, query, credentials), the
                              ``POST /prompt`` bodies, and what the cloud storage host was sent.
``POST /_fake/broadcast``     send ``{"type", "data"}`` as a text frame to all (or ``sid``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from .server import PromptServer


def add_control_routes(server: PromptServer, app: web.Application) -> None:
    routes = web.RouteTableDef()

    @routes.post("/_fake/drop_sockets")
    async def drop_sockets(request: web.Request) -> web.Response:
        return web.json_response({"dropped": server.drop_sockets()})

    @routes.get("/_fake/config")
    async def get_config(request: web.Request) -> web.Response:
        return web.json_response(config_view(server))

    @routes.post("/_fake/config")
    async def post_config(request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict):
            return web.json_response({"error": "expected a JSON object"}, status=400)
        unknown = set(body) - {"node_delay_s", "node_delays", "time_scale", "paused",
                               "drop_at_executed", "server_prompt_ids"}
        if unknown:
            return web.json_response({"error": f"unknown keys: {sorted(unknown)}"}, status=400)
        if "node_delay_s" in body:
            server.config.node_delay_s = float(body["node_delay_s"])
        if "node_delays" in body:
            server.config.node_delays = {k: float(v) for k, v in body["node_delays"].items()}
        if "time_scale" in body:
            server.config.time_scale = float(body["time_scale"])
        if "paused" in body:
            server.prompt_queue.set_paused(bool(body["paused"]))
        if "drop_at_executed" in body:
            server.config.drop_at_executed = [str(n) for n in body["drop_at_executed"]]
        if "server_prompt_ids" in body:
            server.config.server_prompt_ids = bool(body["server_prompt_ids"])
        return web.json_response(config_view(server))

    @routes.post("/_fake/hold")
    async def hold(request: web.Request) -> web.Response:
        server.holds.hold(str(n) for n in (await request.json())["names"])
        return web.json_response({"holds": server.holds.closed})

    @routes.post("/_fake/release")
    async def release(request: web.Request) -> web.Response:
        server.holds.release(str(n) for n in (await request.json())["names"])
        return web.json_response({"holds": server.holds.closed})

    @routes.get("/_fake/requests")
    async def requests(request: web.Request) -> web.Response:
        return web.json_response({"requests": server.requests, "prompts": server.received_prompts,
                                  "storage": server.storage_requests})

    @routes.get("/_fake/state")
    async def state(request: web.Request) -> web.Response:
        running, pending = server.prompt_queue.get_current_queue()
        return web.json_response(
            {
                "version": server.profile.version,
                "number": server.number,
                "queue_running": [item[1] for item in running],
                "queue_pending": [item[1] for item in sorted(pending, key=lambda i: (i[0], i[1]))],
                "history": list(server.prompt_queue.history),
                "sockets": list(server.sockets),
                "connections": server.connections,
                "feature_flags": {
                    sid: meta.get("feature_flags", {}) for sid, meta in server.sockets_metadata.items()
                },
                "client_id": server.client_id,
                "last_node_id": server.last_node_id,
                "custom_nodes": [asdict(r) for r in server.load_results],
                "holds": server.holds.closed,
                "waiting": server.holds.waiting,
            }
        )

    @routes.post("/_fake/broadcast")
    async def broadcast(request: web.Request) -> web.Response:
        body = await request.json()
        server.send_sync(body["type"], body.get("data", {}), body.get("sid"))
        return web.json_response({"queued": True})

    app.add_routes(routes)


def config_view(server: PromptServer) -> dict[str, Any]:
    return {**asdict(server.config), "paused": server.prompt_queue.paused}
