"""Process entry point: parse arguments, prepare ROOT, load nodes, serve until killed.

No signal handlers are installed (unlike ``web.run_app``): SIGTERM and SIGKILL end the process
at once, so connected clients see their websocket end with 1006 and no close frame, as with
the real server (§7). The temp dir is wiped at start; input and output persist.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from aiohttp import web

from . import shims
from .control import add_control_routes
from .http_routes import (
    add_routes,
    api_key_middleware,
    origin_middleware,
    request_log_middleware,
    storage_app,
)
from .jobs import add_jobs_routes
from .loader import load_all
from .nodes import IMPLEMENTED
from .profiles import profile_for
from .registry import NODE_CLASS_MAPPINGS, register_recorded
from .server import PromptServer

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PACK = REPO_ROOT / "comfy_nodes"
READY_LINE = "FAKECOMFY LISTENING http://127.0.0.1:{port}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakecomfy", description=__doc__)
    parser.add_argument("--port", type=int, default=8188, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--root", type=Path, required=True, help="holds input/ output/ temp/")
    parser.add_argument("--version", default="0.3.64", help="0.3.x = recorded, newer = 0.46.0")
    parser.add_argument(
        "--custom-nodes",
        type=Path,
        nargs="*",
        default=[],
        help="node pack folders (or folders of packs) to load",
    )
    parser.add_argument("--no-default-nodes", action="store_true", help=f"do not load {DEFAULT_PACK}")
    parser.add_argument("--api-key", help="act as Comfy Cloud: require this key, redirect /view")
    return parser.parse_args(argv)


def build_app(server: PromptServer) -> web.Application:
    middlewares = [request_log_middleware(server), api_key_middleware(server), origin_middleware(server)]
    app = web.Application(middlewares=middlewares, client_max_size=100 * 2**20)
    builtin = web.RouteTableDef()
    add_routes(server, builtin)
    if server.profile.jobs_api:
        add_jobs_routes(server, builtin)
    routes = [*builtin, *server.routes]  # with what packs put on PromptServer.instance.routes
    api_routes = web.RouteTableDef()
    for route in routes:
        if isinstance(route, web.RouteDef):
            api_routes.route(route.method, "/api" + route.path)(route.handler, **route.kwargs)
    app.add_routes(api_routes)
    app.add_routes(routes)
    add_control_routes(server, app)
    return app


async def serve(args: argparse.Namespace) -> None:
    root = args.root.resolve()
    for sub in ("input", "output", "temp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    shims.RUNTIME.configure(root)
    server = PromptServer(root, profile_for(args.version))
    server.wipe_temp()
    (root / "temp").mkdir(exist_ok=True)

    shims.install(PromptServer, NODE_CLASS_MAPPINGS)
    register_recorded(IMPLEMENTED)
    packs = list(args.custom_nodes)
    if not args.no_default_nodes and DEFAULT_PACK.is_dir():
        packs.insert(0, DEFAULT_PACK)
    server.load_results = load_all(packs)
    for result in server.load_results:
        status = "loaded" if result.loaded else f"FAILED ({result.error})"
        logging.getLogger("fakecomfy").info("custom nodes %s: %s", result.path, status)

    runner = web.AppRunner(build_app(server), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, reuse_address=True)
    await site.start()
    server.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    if args.api_key:
        server.api_key = args.api_key
        storage = web.AppRunner(storage_app(server), handle_signals=False, access_log=None)
        await storage.setup()
        storage_site = web.TCPSite(storage, "127.0.0.1", 0)
        await storage_site.start()
        storage_port = storage_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        server.storage_url = f"http://127.0.0.1:{storage_port}"
    server.start_worker()
    publisher = asyncio.create_task(server.publish_loop())
    print(READY_LINE.format(port=server.port), flush=True)
    await publisher


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except OSError as ex:
        print(f"fakecomfy: cannot listen on {args.host}:{args.port}: {ex}", file=sys.stderr)
        raise SystemExit(2) from None
