"""ComfyUI 0.3.64's HTTP routes (also served under ``/api``), answer for answer.

JSON answers are aiohttp ``json_response`` (``json.dumps`` default separators,
``application/json; charset=utf-8``); "it worked" answers are bare ``200`` with an empty body.
A body that is not JSON is left to raise, which aiohttp turns into the same plain-text 500.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import mimetypes
import os
import sys
import time
import urllib.parse
import uuid
from io import BytesIO
from typing import Any

from aiohttp import web
from PIL import Image

from . import shims
from .registry import NODE_CLASS_MAPPINGS, node_info
from .server import SENSITIVE_EXTRA_DATA_KEYS, PromptServer
from .validation import validate_prompt

MODEL_FOLDERS = [
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "gligen",
    "upscale_models",
    "custom_nodes",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
]


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_middleware(server: PromptServer) -> Any:
    """Host≠Origin on a loopback Host → bare 403 (HTTP and the WS upgrade alike)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if server.profile.block_cross_site and request.headers.get("Sec-Fetch-Site") == ("cross-site"):
            return web.Response(status=403)
        if "Host" in request.headers and "Origin" in request.headers:
            host_domain = request.headers["Host"].lower()
            parsed = urllib.parse.urlparse(request.headers["Origin"])
            origin_domain: str | None = parsed.netloc.lower()
            host_parsed = urllib.parse.urlsplit("//" + host_domain)
            loopback = is_loopback(host_parsed.hostname)
            compare_host: str | None = host_domain
            if parsed.port is None:
                compare_host = host_parsed.hostname
            if host_parsed.port is None:
                origin_domain = parsed.hostname
            if loopback and compare_host and origin_domain and compare_host != origin_domain:
                return web.Response(status=403)
        if request.method == "OPTIONS":
            return web.Response()
        return await handler(request)

    return middleware


def request_log_middleware(server: PromptServer) -> Any:
    """Keeps each request's method, path, query and credentials for ``/_fake/requests``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/_fake/"):
            server.requests.append(describe_request(request))
        return await handler(request)

    return middleware


def describe_request(request: web.Request) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.path,
        "query": dict(request.rel_url.query),
        "headers": {k.lower(): v for k, v in request.headers.items()
                    if k.lower() in ("x-api-key", "authorization", "cookie", "origin")},
    }


def api_key_middleware(server: PromptServer) -> Any:
    """Comfy Cloud: ``X-API-Key`` on every HTTP call, ``?token=`` on the websocket, else 401."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        key = server.api_key
        if key and not request.path.startswith("/_fake/"):
            sent = (request.rel_url.query.get("token") if request.path.endswith("/ws")
                    else request.headers.get("X-API-Key"))
            if sent != key:
                return web.json_response({"message": "Invalid or missing API key"}, status=401)
        return await handler(request)

    return middleware


def storage_app(server: PromptServer) -> web.Application:
    """The cloud's storage host: serves signed URLs and keeps what each request carried."""
    app = web.Application()

    async def signed(request: web.Request) -> web.StreamResponse:
        server.storage_requests.append(describe_request(request))
        query = {k: v for k, v in request.rel_url.query.items() if k != "signature"}
        return view_file(query)

    app.router.add_get("/signed", signed)
    return app


def add_routes(server: PromptServer, routes: web.RouteTableDef) -> None:
    @routes.get("/ws")
    async def websocket(request: web.Request) -> web.StreamResponse:
        return await server.websocket_handler(request)

    @routes.get("/")
    async def index(request: web.Request) -> web.Response:
        return web.Response(
            text="<!doctype html><html><head><title>ComfyUI</title></head></html>",
            content_type="text/html",
            headers={"Cache-Control": "no-cache"},
        )

    @routes.get("/system_stats")
    async def system_stats(request: web.Request) -> web.Response:
        ram_total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        ram_free = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        return web.json_response(
            {
                "system": {
                    "os": os.name,
                    "ram_total": ram_total,
                    "ram_free": ram_free,
                    "comfyui_version": server.profile.version,
                    "required_frontend_version": "1.27.10",
                    "installed_templates_version": "0.1.95",
                    "required_templates_version": "0.1.95",
                    "python_version": sys.version,
                    "pytorch_version": "2.13.0+cpu",
                    "embedded_python": os.path.split(os.path.split(sys.executable)[0])[1] == "python_embeded",
                    "argv": ["main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(server.port)],
                },
                "devices": [
                    {
                        "name": "cpu",
                        "type": "cpu",
                        "index": None,
                        "vram_total": ram_total,
                        "vram_free": ram_free,
                        "torch_vram_total": ram_total,
                        "torch_vram_free": ram_free,
                    }
                ],
            }
        )

    @routes.get("/features")
    async def features(request: web.Request) -> web.Response:
        return web.json_response(dict(server.profile.features))

    @routes.get("/embeddings")
    async def embeddings(request: web.Request) -> web.Response:
        return web.json_response([])

    @routes.get("/extensions")
    async def extensions(request: web.Request) -> web.Response:
        return web.json_response([])

    @routes.get("/models")
    async def models(request: web.Request) -> web.Response:
        return web.json_response(MODEL_FOLDERS)

    @routes.get("/models/{folder}")
    async def model_files(request: web.Request) -> web.Response:
        if request.match_info["folder"] not in MODEL_FOLDERS:
            return web.Response(status=404)
        return web.json_response([])

    @routes.get("/object_info")
    async def object_info(request: web.Request) -> web.Response:
        return web.json_response({name: node_info(name) for name in NODE_CLASS_MAPPINGS})

    @routes.get("/object_info/{node_class}")
    async def object_info_node(request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        out = {name: node_info(name)} if name in NODE_CLASS_MAPPINGS else {}
        return web.json_response(out)

    @routes.get("/prompt")
    async def get_prompt(request: web.Request) -> web.Response:
        return web.json_response(server.get_queue_info())

    @routes.post("/prompt")
    async def post_prompt(request: web.Request) -> web.Response:
        json_data = await request.json()
        server.received_prompts.append(copy.deepcopy(json_data))
        client_prompt_id = json_data.get("prompt_id")
        if (
            server.profile.validate_prompt_id
            and client_prompt_id is not None
            and not is_canonical_uuid(client_prompt_id)
        ):
            error = {
                "type": "invalid_prompt_id",
                "message": "Invalid prompt_id format",
                "details": "prompt_id must be a canonical lowercase hyphenated UUID",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)

        if "number" in json_data:
            number: float | int = float(json_data["number"])
        else:
            number = server.number
            if json_data.get("front"):
                number = -number
            server.number += 1

        if "prompt" not in json_data:
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)

        prompt = json_data["prompt"]
        if server.config.server_prompt_ids:
            prompt_id = str(uuid.uuid4())
        elif server.profile.validate_prompt_id:
            prompt_id = json_data.get("prompt_id") or str(uuid.uuid4())
        else:
            prompt_id = str(json_data.get("prompt_id", uuid.uuid4()))
        ok, error, outputs, node_errors = validate_prompt(prompt, json_data.get("partial_execution_targets"))
        extra_data = json_data.get("extra_data", {})
        if "client_id" in json_data:
            extra_data["client_id"] = json_data["client_id"]
        if server.profile.create_time:
            extra_data["create_time"] = int(time.time() * 1000)
        if not ok:
            return web.json_response({"error": error, "node_errors": node_errors}, status=400)
        sensitive = {k: extra_data.pop(k) for k in SENSITIVE_EXTRA_DATA_KEYS if k in extra_data}
        server.prompt_queue.put((number, prompt_id, prompt, extra_data, outputs, sensitive))
        await server.holds.wait_async("prompt_reply")
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})

    @routes.get("/queue")
    async def get_queue(request: web.Request) -> web.Response:
        running, pending = server.prompt_queue.get_current_queue()
        return web.json_response({"queue_running": running, "queue_pending": pending})

    @routes.post("/queue")
    async def post_queue(request: web.Request) -> web.Response:
        json_data = await request.json()
        if json_data.get("clear"):
            server.prompt_queue.wipe_queue()
        for prompt_id in json_data.get("delete", []):
            server.prompt_queue.delete_queue_item(prompt_id)
        return web.Response(status=200)

    @routes.post("/interrupt")
    async def post_interrupt(request: web.Request) -> web.Response:
        try:
            json_data = await request.json()
        except ValueError:
            json_data = {}
        prompt_id = json_data.get("prompt_id") if isinstance(json_data, dict) else None
        if prompt_id:
            running, _ = server.prompt_queue.get_current_queue()
            if any(item[1] == prompt_id for item in running):
                shims.interrupt_current_processing(True)
        else:
            shims.interrupt_current_processing(True)
        return web.Response(status=200)

    @routes.post("/free")
    async def post_free(request: web.Request) -> web.Response:
        await request.json()
        return web.Response(status=200)

    @routes.get("/history")
    async def get_history(request: web.Request) -> web.Response:
        max_items = request.rel_url.query.get("max_items")
        offset = request.rel_url.query.get("offset")
        return web.json_response(
            server.prompt_queue.get_history(
                max_items=int(max_items) if max_items is not None else None,
                offset=int(offset) if offset is not None else -1,
            )
        )

    @routes.get("/history/{prompt_id}")
    async def get_history_item(request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        return web.json_response(server.prompt_queue.get_history(prompt_id=prompt_id))

    @routes.post("/history")
    async def post_history(request: web.Request) -> web.Response:
        json_data = await request.json()
        if json_data.get("clear"):
            server.prompt_queue.wipe_history()
        for prompt_id in json_data.get("delete", []):
            server.prompt_queue.delete_history_item(prompt_id)
        return web.Response(status=200)

    @routes.post("/upload/image")
    async def upload_image(request: web.Request) -> web.Response:
        return image_upload(await request.post())

    @routes.get("/view")
    async def view(request: web.Request) -> web.StreamResponse:
        if server.storage_url:
            # Comfy Cloud answers /api/view with a 302 to a signed storage URL on another host.
            signed = urllib.parse.urlencode({**request.rel_url.query, "signature": uuid.uuid4().hex})
            raise web.HTTPFound(f"{server.storage_url}/signed?{signed}")
        return view_file(request.rel_url.query)


def is_canonical_uuid(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def image_upload(post: Any) -> web.Response:
    image = post.get("image")
    overwrite = post.get("overwrite")
    upload_type = post.get("type") or "input"
    upload_dir = {
        "input": shims.get_input_directory(),
        "temp": shims.get_temp_directory(),
        "output": shims.get_output_directory(),
    }.get(upload_type)
    if upload_dir is None:
        # ComfyUI hits an unbound local here: a plain 500.
        raise web.HTTPInternalServerError()
    if not image or not getattr(image, "file", None) or not image.filename:
        return web.Response(status=400)
    filename = image.filename
    subfolder = post.get("subfolder", "")
    folder = os.path.join(upload_dir, os.path.normpath(subfolder))
    filepath = os.path.abspath(os.path.join(folder, filename))
    if os.path.commonpath((upload_dir, filepath)) != upload_dir:
        return web.Response(status=400)
    os.makedirs(folder, exist_ok=True)
    data = image.file.read()
    stem, ext = os.path.splitext(filename)
    duplicate = False
    if overwrite not in ("true", "1"):
        i = 1
        while os.path.exists(filepath):
            # Same name and same bytes: the existing file is reused (ComfyUI #3465).
            if _sha256_file(filepath) == hashlib.sha256(data).hexdigest():
                duplicate = True
                break
            filename = f"{stem} ({i}){ext}"
            filepath = os.path.join(folder, filename)
            i += 1
    if not duplicate:
        with open(filepath, "wb") as f:
            f.write(data)
    return web.json_response({"name": filename, "subfolder": subfolder, "type": upload_type})


def _sha256_file(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def view_file(query: Any) -> web.StreamResponse:
    if "filename" not in query:
        return web.Response(status=404)
    filename, output_dir = shims.annotated_filepath(query["filename"])
    if not filename:
        return web.Response(status=400)
    if filename[0] == "/" or ".." in filename:
        return web.Response(status=400)
    if output_dir is None:
        output_dir = shims.get_directory_by_type(query.get("type", "output"))
    if output_dir is None:
        return web.Response(status=400)
    if "subfolder" in query:
        full_output_dir = os.path.join(output_dir, query["subfolder"])
        if os.path.commonpath((os.path.abspath(full_output_dir), output_dir)) != output_dir:
            return web.Response(status=403)
        output_dir = full_output_dir
    filename = os.path.basename(filename)
    file = os.path.join(output_dir, filename)
    if not os.path.isfile(file):
        return web.Response(status=404)
    disposition = {"Content-Disposition": f'filename="{filename}"'}
    channel = query.get("channel", "rgba")
    if "preview" in query:
        with Image.open(file) as img:
            info = query["preview"].split(";")
            image_format = info[0]
            if image_format not in ("webp", "jpeg") or "a" in query.get("channel", ""):
                image_format = "webp"
            quality = int(info[-1]) if info[-1].isdigit() else 90
            if image_format == "jpeg" or query.get("channel", "") == "rgb":
                img = img.convert("RGB")
            buffer = BytesIO()
            img.save(buffer, format=image_format, quality=quality)
        return web.Response(body=buffer.getvalue(), content_type=f"image/{image_format}", headers=disposition)
    if channel == "rgb":
        with Image.open(file) as img:
            buffer = BytesIO()
            img.convert("RGB").save(buffer, format="PNG")
        return web.Response(body=buffer.getvalue(), content_type="image/png", headers=disposition)
    if channel == "a":
        with Image.open(file) as img:
            alpha = img.getchannel("A") if img.mode == "RGBA" else Image.new("L", img.size, 255)
            alpha_img = Image.new("RGBA", img.size)
            alpha_img.putalpha(alpha)
            buffer = BytesIO()
            alpha_img.save(buffer, format="PNG")
        return web.Response(body=buffer.getvalue(), content_type="image/png", headers=disposition)
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if content_type in {
        "text/html",
        "text/html-sandboxed",
        "application/xhtml+xml",
        "text/javascript",
        "text/css",
    }:
        content_type = "application/octet-stream"
    return web.FileResponse(file, headers={**disposition, "Content-Type": content_type})
