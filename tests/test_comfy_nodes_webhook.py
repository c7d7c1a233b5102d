"""The AUTOMATA Webhook node saves maps where ComfyUI would and tells a real receiver about them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
import re
import threading
import zlib

import numpy as np
import pytest
from aiohttp import web
from PIL import Image
from standardwebhooks import Webhook

from automata_desktop.webhook.payload import WebhookPayload
from comfy_nodes import NODE_CLASS_MAPPINGS, __version__
from comfy_nodes.delivery import sign
from tests.ports import reserved_port

SECRET = "whsec_" + base64.b64encode(b"automata-test-secret-0123456789").decode()


class Receiver:
    """An aiohttp endpoint that verifies Standard Webhooks signatures like the app does."""

    def __init__(self, status_sequence: list[int] | None = None) -> None:
        self.statuses = list(status_sequence or [])
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.deliveries.append(({k.lower(): v for k, v in request.headers.items()}, body))
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            Webhook(SECRET).verify(body, dict(request.headers))  # raises on a bad signature
        return web.json_response({"ok": status == 200}, status=status)

    async def start(self, port: int = 0) -> None:
        """Listen on `port` (a `reserved_port()`), or on a free one the kernel picks."""
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.port = self.runner.addresses[0][1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    def payloads(self) -> list[WebhookPayload]:
        return [WebhookPayload.model_validate_json(body) for _, body in self.deliveries]


class Attempts(logging.Handler):
    """The node's own log of failed attempts: "failed (...); retry in 0.5s"."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.waits: list[float] = []
        self.first_failure = threading.Event()
        self.logger = logging.getLogger("automata_nodes")

    def emit(self, record: logging.LogRecord) -> None:
        found = re.search(r"retry in ([0-9.]+)s", record.getMessage())
        if found:
            self.waits.append(float(found.group(1)))
            self.first_failure.set()

    def __enter__(self) -> Attempts:
        self.logger.addHandler(self)
        self._level = self.logger.level
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self._level)


@pytest.fixture
def output_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOMATA_COMFY_OUTPUT", str(tmp_path / "output"))
    monkeypatch.delenv("AUTOMATA_WEBHOOK_SECRET", raising=False)
    return tmp_path / "output"


def pbr_set(size: int = 24) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    base = rng.random((1, size, size, 3)).astype(np.float32)
    derive = NODE_CLASS_MAPPINGS["AutomataPBRFromImage"]().derive
    names = ("base_color", "normal", "height", "roughness", "metallic", "ao")
    outputs = derive(base, **default_controls())
    return dict(zip(names, outputs, strict=True))


def default_controls() -> dict:
    spec = NODE_CLASS_MAPPINGS["AutomataPBRFromImage"].INPUT_TYPES()["required"]
    return {k: v[1]["default"] for k, v in spec.items() if k != "image"}


def run_node(url: str, **kwargs) -> dict:
    node = NODE_CLASS_MAPPINGS["AutomataWebhook"]()
    args = {
        "webhook_url": url,
        "generation_id": "3f2a9c1e-7777-4a4a-8888-000000000001",
        "delivery": "reference",
        "filename_prefix": "automata/pbr",
        "sixteen_bit": True,
        "secret": SECRET,
        "unique_id": "4",
    }
    args.update(kwargs)
    return node.send(**args)


async def test_a_texture_set_is_saved_listed_and_announced_with_a_valid_signature(output_dir):
    receiver = Receiver()
    await receiver.start()
    try:
        maps = pbr_set()
        result = await asyncio.to_thread(run_node, receiver.url, **maps)
    finally:
        await receiver.stop()

    [payload] = receiver.payloads()
    assert payload.type == "generation.completed"
    assert payload.data.generation_id == "3f2a9c1e-7777-4a4a-8888-000000000001"
    assert payload.data.node_id == "4"
    assert payload.data.node_pack_version == __version__
    kinds = [f.kind.value for f in payload.data.files]
    assert kinds == ["base_color", "normal", "height", "roughness", "metallic", "ao"]
    images = result["ui"]["images"]
    assert [i["filename"] for i in images] == [f.filename for f in payload.data.files]
    for ref, f in zip(images, payload.data.files, strict=True):
        assert ref == {"filename": f.filename, "subfolder": "automata", "type": "output"}
        assert f.filename == f"pbr_3f2a9c1e_{f.kind.value}_00001_.png"
        data = (output_dir / "automata" / f.filename).read_bytes()
        assert f.sha256 == hashlib.sha256(data).hexdigest() and f.size == len(data)
        assert (f.width, f.height) == (24, 24) and f.data is None
        assert f.bit_depth == (16 if f.kind.value in ("height", "normal") else 8)
    assert result["ui"]["webhook"][0]["delivered"] is True


def test_sixteen_bit_maps_are_real_16_bit_pngs_with_the_same_pixels(output_dir):
    maps = pbr_set(16)
    result = run_node("", normal=maps["normal"], height=maps["height"])
    by_kind = {f["kind"]: f for f in result["ui"]["files"]}
    normal_png = (output_dir / "automata" / by_kind["normal"]["filename"]).read_bytes()
    assert normal_png[24] == 16 and normal_png[25] == 2  # IHDR: bit depth 16, RGB
    pixels = _decode_png16(normal_png)
    np.testing.assert_allclose(pixels / 65535.0, maps["normal"][0], atol=1 / 65535)
    height = Image.open(output_dir / "automata" / by_kind["height"]["filename"])
    assert height.mode.startswith("I")  # 16-bit gray
    assert result["ui"]["webhook"] == [{"delivered": False, "skipped": True}]


async def test_inline_delivery_carries_the_file_bytes_and_the_mesh(output_dir):
    mesh = output_dir / "3D" / "Hy3D_textured_00001_.glb"
    mesh.parent.mkdir(parents=True)
    mesh.write_bytes(b"glTF" + bytes(60))
    receiver = Receiver()
    await receiver.start()
    try:
        maps = pbr_set(8)
        await asyncio.to_thread(
            run_node, receiver.url, delivery="inline",
            base_color=maps["base_color"], mesh_path="3D/Hy3D_textured_00001_.glb",
        )
    finally:
        await receiver.stop()
    [payload] = receiver.payloads()
    color, glb = payload.data.files
    assert payload.data.delivery == "inline"
    image = Image.open(io.BytesIO(base64.b64decode(color.data)))
    assert image.size == (8, 8)
    assert (glb.kind.value, glb.subfolder, glb.content_type) == ("mesh", "3D", "model/gltf-binary")
    assert base64.b64decode(glb.data) == mesh.read_bytes()


def test_a_mesh_path_outside_the_output_folder_is_not_announced(output_dir, tmp_path):
    secret_file = tmp_path / "elsewhere.glb"
    secret_file.write_bytes(b"glTF")
    result = run_node("", mesh_path=str(secret_file))
    assert result["ui"]["files"] == []
    result = run_node("", mesh_path="../elsewhere.glb")
    assert result["ui"]["files"] == []


async def test_a_receiver_that_comes_up_late_still_gets_the_webhook_once(output_dir, monkeypatch):
    monkeypatch.setenv("AUTOMATA_WEBHOOK_MAX_SECONDS", "10")
    receiver, maps = Receiver(), pbr_set(8)
    with reserved_port() as port, Attempts() as attempts:
        task = asyncio.create_task(
            asyncio.to_thread(run_node, f"http://127.0.0.1:{port}/hook", base_color=maps["base_color"])
        )
        assert await asyncio.to_thread(attempts.first_failure.wait, 30), "the node never tried"
        await receiver.start(port)  # the first attempt was refused; now a retry gets through
    try:
        result = await asyncio.wait_for(task, 30)
    finally:
        await receiver.stop()
    outcome = result["ui"]["webhook"][0]
    assert outcome["delivered"] is True and outcome["attempts"] >= 2
    assert len(receiver.deliveries) == 1


async def test_a_busy_receiver_sees_the_same_webhook_id_on_every_retry(output_dir, monkeypatch):
    monkeypatch.setenv("AUTOMATA_WEBHOOK_MAX_SECONDS", "10")
    receiver = Receiver([503, 429, 200])
    await receiver.start()
    try:
        maps = pbr_set(8)
        await asyncio.to_thread(run_node, receiver.url, base_color=maps["base_color"])
    finally:
        await receiver.stop()
    ids = {headers["webhook-id"] for headers, _ in receiver.deliveries}
    assert len(receiver.deliveries) == 3 and len(ids) == 1
    assert ids.pop().startswith("msg_")


async def test_a_refusal_is_not_retried_and_does_not_fail_the_workflow(output_dir):
    receiver = Receiver([401])
    await receiver.start()
    try:
        maps = pbr_set(8)
        result = await asyncio.to_thread(run_node, receiver.url, base_color=maps["base_color"])
    finally:
        await receiver.stop()
    assert len(receiver.deliveries) == 1
    assert result["ui"]["webhook"][0]["status"] == 401
    assert len(result["ui"]["images"]) == 1  # the files were still saved


def test_a_receiver_that_never_comes_up_costs_bounded_time_and_never_raises(
    output_dir, monkeypatch, caplog
):
    monkeypatch.setenv("AUTOMATA_WEBHOOK_MAX_SECONDS", "2")
    maps = pbr_set(8)
    with reserved_port() as port, Attempts() as attempts:  # nobody ever listens there
        result = run_node(f"http://127.0.0.1:{port}/hook?token=abc", base_color=maps["base_color"])
    outcome = result["ui"]["webhook"][0]
    assert outcome["delivered"] is False and outcome["attempts"] >= 2
    # Bounded by its budget, read from what the node planned rather than from a wall clock.
    assert len(attempts.waits) == outcome["attempts"] - 1 and sum(attempts.waits) < 2
    assert (output_dir / "automata" / result["ui"]["images"][0]["filename"]).exists()
    logs = caplog.text
    assert "not delivered" in logs
    assert SECRET not in logs and SECRET[6:] not in logs and "token=abc" not in logs


def test_the_signature_matches_the_standard_webhooks_reference():
    body = b'{"type":"generation.completed"}'
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = Webhook(SECRET).sign("msg_1", _dt(1_700_000_000), body.decode())
    assert sign(key, "msg_1", 1_700_000_000, body) == expected


def test_the_secret_can_come_from_the_environment(output_dir, monkeypatch):
    # Covered end to end with a receiver above; here only that an env secret is picked up.
    from comfy_nodes import delivery

    captured = {}
    monkeypatch.setenv("AUTOMATA_WEBHOOK_SECRET", SECRET)
    monkeypatch.setattr(
        delivery, "_post_once",
        lambda url, body, msg_id, key, timeout: captured.update(key=key) or (200, None, None),
    )
    delivery.deliver("http://127.0.0.1:9/hook", b"{}")
    assert captured["key"] == base64.b64decode(SECRET[6:])


def _dt(ts: int):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc)  # noqa: UP017


def _decode_png16(data: bytes) -> np.ndarray:
    """A minimal reader for the encoder's own files (Pillow reads 16-bit RGB as 8-bit)."""
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = int.from_bytes(chunk[:4], "big"), int.from_bytes(chunk[4:8], "big")
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, -1)
    assert set(rows[:, 0]) <= {0, 1, 2}  # None, Sub, Up: what the encoder writes
    raw = rows[:, 1:].copy()
    for y in range(height):
        if rows[y, 0] == 1:  # Sub: plus the same byte of the pixel before (6 bytes per pixel)
            for i in range(6, raw.shape[1]):
                raw[y, i] = (int(raw[y, i]) + int(raw[y, i - 6])) % 256
        elif rows[y, 0] == 2 and y:  # Up: plus the byte above
            raw[y] += raw[y - 1]
    return raw.view(">u2").reshape(height, width, 3).astype(np.float64)


def test_without_a_generation_id_or_maps_the_payload_is_still_valid(output_dir, monkeypatch):
    import comfy_nodes.webhook_node as module
    from comfy_nodes.delivery import DeliveryResult

    bodies: list[bytes] = []

    def fake_deliver(url: str, body: bytes, secret: str | None = None) -> DeliveryResult:
        bodies.append(body)
        return DeliveryResult(False, "msg_x", 1, error="not sent")

    monkeypatch.setattr(module, "deliver", fake_deliver)
    module.AutomataWebhook().send(webhook_url="http://127.0.0.1:9/", generation_id="")
    payload = WebhookPayload.model_validate(json.loads(bodies[0]))
    assert payload.data.files == [] and len(payload.data.generation_id) == 32
