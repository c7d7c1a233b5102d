"""The webhook listener as the AUTOMATA Webhook node meets it: real HTTP on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import logging
import socket
import threading
import time

import httpx
import pytest
from PIL import Image

from automata_desktop.core.maps import MapKind
from automata_desktop.errors import LibraryError, WebhookError
from automata_desktop.webhook import (
    WebhookEvent,
    WebhookListener,
    WebhookRejection,
    generate_secret,
    sign_headers,
)

SECRET = generate_secret()
LIMIT = 64 * 1024


def completed(generation_id: str = "gen-1", **file_fields: object) -> dict:
    file = {"kind": "base_color", "filename": "albedo_00001_.png", "subfolder": "automata"}
    file.update(file_fields)
    return {
        "type": "generation.completed",
        "timestamp": "2025-01-01T12:00:00Z",
        "data": {"generation_id": generation_id, "prompt_id": "p-1", "files": [file]},
    }


def encode(payload: object) -> bytes:
    return json.dumps(payload).encode()


class Recorder:
    """The app's side: records events, and can be told to fail (disk full) or to hold on."""

    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []
        self.failures = 0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, event: WebhookEvent) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise LibraryError("the library disk is full")
        self.events.append(event)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def rejections() -> list[WebhookRejection]:
    return []


@pytest.fixture
async def listener(recorder, rejections):
    hook = WebhookListener(
        secret=SECRET, on_event=recorder, max_body_bytes=LIMIT, on_rejected=rejections.append
    )
    await hook.start()
    yield hook
    await hook.stop()


@pytest.fixture
async def client():
    async with httpx.AsyncClient(timeout=10) as http:
        yield http


async def deliver(client, listener, body: bytes, *, headers=None, secret=SECRET, **signing):
    sent = {"content-type": "application/json"}
    sent.update(sign_headers(secret, body, **signing) if headers is None else headers)
    return await client.post(listener.url, content=body, headers=sent)


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


# -- accepted deliveries ----------------------------------------------------------------------


async def test_a_signed_delivery_is_recorded_once_and_acknowledged(listener, client, recorder):
    body = encode(completed("gen-42"))
    response = await deliver(client, listener, body, msg_id="msg_first")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "generation_id": "gen-42"}
    [event] = recorder.events
    assert event.webhook_id == "msg_first"
    assert event.raw_body == body
    assert event.payload.data.files[0].kind is MapKind.BASE_COLOR
    assert event.payload.data.files[0].subfolder == "automata"
    assert event.received_at.tzinfo is not None


async def test_an_inline_png_arrives_intact(listener, client, recorder):
    png = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(png, format="PNG")
    raw = png.getvalue()
    payload = completed(
        data=base64.b64encode(raw).decode(), size=len(raw), sha256=hashlib.sha256(raw).hexdigest()
    )
    payload["data"]["delivery"] = "inline"

    response = await deliver(client, listener, encode(payload))

    assert response.status_code == 200
    received = recorder.events[0].payload.data.files[0]
    assert base64.b64decode(received.data) == raw


async def test_a_failed_generation_is_delivered_too(listener, client, recorder):
    payload = {
        "type": "generation.failed",
        "timestamp": "2025-01-01T12:00:00+00:00",
        "data": {"generation_id": "gen-9", "error": "CUDA out of memory"},
    }
    response = await deliver(client, listener, encode(payload))
    assert response.status_code == 200
    assert recorder.events[0].payload.data.error == "CUDA out of memory"


async def test_any_one_of_several_signatures_may_match(listener, client, recorder):
    body = encode(completed())
    headers = sign_headers(SECRET, body)
    forged = sign_headers(generate_secret(), body, msg_id=headers["webhook-id"])
    headers["webhook-signature"] = (
        f"v1a,{'A' * 86}== {forged['webhook-signature']} {headers['webhook-signature']}"
    )
    response = await deliver(client, listener, body, headers=headers)
    assert response.status_code == 200, response.text
    assert len(recorder.events) == 1


async def test_a_timestamp_within_the_window_is_accepted(listener, client, recorder):
    body = encode(completed())
    response = await deliver(client, listener, body, timestamp=int(time.time()) - 200)
    assert response.status_code == 200


# -- refused deliveries: nothing is recorded --------------------------------------------------


async def test_a_tampered_body_is_refused(listener, client, recorder):
    headers = sign_headers(SECRET, encode(completed("gen-1")))
    response = await deliver(client, listener, encode(completed("gen-2")), headers=headers)
    assert response.status_code == 401
    assert error_code(response) == "invalid_signature"
    assert recorder.events == []


async def test_a_sender_with_another_secret_is_refused(listener, client, recorder):
    response = await deliver(client, listener, encode(completed()), secret=generate_secret())
    assert response.status_code == 401
    assert recorder.events == []


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
async def test_a_missing_header_is_named(listener, client, recorder, missing):
    body = encode(completed())
    headers = sign_headers(SECRET, body)
    del headers[missing]
    response = await deliver(client, listener, body, headers=headers)
    assert response.status_code == 400
    assert error_code(response) == "missing_headers"
    assert missing in response.json()["error"]["message"]
    assert recorder.events == []


@pytest.mark.parametrize(
    "signature",
    ["v1", "v1,", "v1,not base64!", "v2,abc", "garbage", ",,,", "v1,AAAA v1,", "v1a,xyz"],
)
async def test_malformed_signatures_are_refused_without_a_crash(
    listener, client, recorder, signature
):
    body = encode(completed())
    headers = sign_headers(SECRET, body)
    headers["webhook-signature"] = signature
    response = await deliver(client, listener, body, headers=headers)
    assert response.status_code == 401
    assert recorder.events == []


@pytest.mark.parametrize("timestamp", ["soon", "1.7e9", "-5", "99999999999999"])
async def test_a_timestamp_that_is_not_unix_seconds_is_refused(listener, client, timestamp):
    body = encode(completed())
    headers = sign_headers(SECRET, body)
    headers["webhook-timestamp"] = timestamp
    response = await deliver(client, listener, body, headers=headers)
    assert response.status_code == 400
    assert error_code(response) == "bad_headers"


@pytest.mark.parametrize("skew", [-400, +400], ids=["old", "future"])
async def test_a_stale_timestamp_is_refused_in_both_directions(listener, client, recorder, skew):
    body = encode(completed())
    response = await deliver(client, listener, body, timestamp=int(time.time()) + skew)
    assert response.status_code == 400
    assert error_code(response) == "stale_timestamp"
    assert "clock" in response.json()["error"]["message"]
    assert recorder.events == []


async def test_a_forged_request_learns_nothing_about_the_payload(listener, client):
    """Signature first: a forgery that is also stale and malformed only hears 'bad signature'."""
    body = b'{"type": "nonsense", "data": {"files": [{"filename": "../../etc/passwd"}]}}'
    response = await deliver(
        client, listener, body, secret=generate_secret(), timestamp=int(time.time()) - 3600
    )
    assert response.status_code == 401
    assert "filename" not in response.text and "type" not in response.json()["error"]["message"]


async def test_a_replayed_delivery_is_refused(listener, client, recorder):
    body = encode(completed())
    headers = sign_headers(SECRET, body)
    first = await deliver(client, listener, body, headers=headers)
    replay = await deliver(client, listener, body, headers=headers)
    assert first.status_code == 200
    assert replay.status_code == 409
    assert error_code(replay) == "duplicate"
    assert len(recorder.events) == 1


async def test_a_body_over_the_limit_is_refused_by_its_length(listener, client, recorder):
    body = b'{"pad": "' + b"x" * LIMIT + b'"}'
    response = await deliver(client, listener, body)
    assert response.status_code == 413
    assert error_code(response) == "too_large"
    assert recorder.events == []


async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(listener, client, recorder):
    async def chunks():
        yield b'{"pad": "'
        for _ in range(2 * LIMIT // 4096):
            yield b"x" * 4096
        yield b'"}'

    headers = {"content-type": "application/json", **sign_headers(SECRET, b"{}")}
    response = await client.post(listener.url, content=chunks(), headers=headers)
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 413
    assert recorder.events == []


async def raw_exchange(listener: WebhookListener, head: str) -> str:
    """Send only a request head, never a body, and return the status line of the answer.

    An answer at all shows the refusal came from the head alone: a listener waiting for the
    body would never reply (the timeout only keeps such a bug from hanging the run).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(head.encode())
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), timeout=60)
    writer.close()
    await writer.wait_closed()
    return status.decode().strip()


async def test_a_huge_declared_length_is_refused_before_any_body_is_sent(listener, recorder):
    head = (
        "POST /hooks/comfyui HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {300 * 1024 * 1024}\r\n\r\n"
    )
    status = await raw_exchange(listener, head)
    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert recorder.events == []


async def test_expect_continue_gets_the_refusal_instead_of_continue(listener):
    head = (
        "POST /hooks/comfyui HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Expect: 100-continue\r\nContent-Length: {LIMIT + 1}\r\n\r\n"
    )
    status = await raw_exchange(listener, head)
    assert status == "HTTP/1.1 413 Request Entity Too Large"


async def test_expect_continue_within_the_limit_is_delivered(listener, recorder):
    body = encode(completed("gen-curl"))
    signed = "".join(f"{k}: {v}\r\n" for k, v in sign_headers(SECRET, body).items())
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(
        (
            "POST /hooks/comfyui HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Expect: 100-continue\r\nContent-Length: {len(body)}\r\n{signed}\r\n"
        ).encode()
    )
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    writer.write(body)
    final = await asyncio.wait_for(reader.readline(), timeout=5)
    writer.close()
    await writer.wait_closed()
    assert interim.startswith(b"HTTP/1.1 100 Continue")
    assert final.startswith(b"HTTP/1.1 200")
    assert recorder.events[0].payload.data.generation_id == "gen-curl"


async def test_a_signed_body_that_is_not_json_is_refused(listener, client, recorder):
    response = await deliver(client, listener, b'{"type": "generation.completed",')
    assert response.status_code == 400
    assert error_code(response) == "malformed_json"
    assert recorder.events == []


async def test_a_signed_body_that_is_not_utf8_is_malformed_json(listener, client, recorder):
    body = b'{"type": "generation.completed\xff"}'
    msg_id, stamp = "msg_latin", str(int(time.time()))
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }
    response = await deliver(client, listener, body, headers=headers)
    assert response.status_code == 400
    assert error_code(response) == "malformed_json"
    assert recorder.events == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_declared_json_is_refused(listener, client, content_type):
    body = encode(completed())
    headers = sign_headers(SECRET, body)
    if content_type:
        headers["content-type"] = content_type
    response = await client.post(listener.url, content=body, headers=headers)
    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"


async def test_a_payload_breaking_the_contract_says_which_field(listener, client, recorder):
    payload = completed()
    payload["type"] = "generation.exploded"
    del payload["data"]["generation_id"]
    response = await deliver(client, listener, encode(payload))
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "type" in message and "data.generation_id" in message
    assert recorder.events == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("filename", "../x.png"),
        ("filename", "/etc/passwd"),
        ("filename", "a/b.png"),
        ("filename", "..\\..\\win.ini"),
        ("subfolder", "../outside"),
        ("subfolder", "/etc"),
        ("subfolder", "ok/../../up"),
        ("subfolder", "nul\x00byte"),
    ],
)
async def test_a_path_escaping_its_folder_is_refused(listener, client, recorder, field, value):
    response = await deliver(client, listener, encode(completed(**{field: value})))
    assert response.status_code == 422
    assert field in response.json()["error"]["message"]
    assert recorder.events == []


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"data": "not*base64"}, "not valid base64"),
        ({"data": base64.b64encode(b"png").decode(), "size": 4}, "size"),
        ({"data": base64.b64encode(b"png").decode(), "sha256": "0" * 64}, "sha256"),
    ],
)
async def test_inline_bytes_must_match_what_they_claim(listener, client, recorder, fields, reason):
    response = await deliver(client, listener, encode(completed(**fields)))
    assert response.status_code == 422
    assert reason in response.json()["error"]["message"]
    assert recorder.events == []


async def test_a_refused_payload_gets_the_same_answer_when_retried(listener, client):
    """An invalid delivery must not burn its id: the retry hears 422 again, not 'duplicate'."""
    body = encode(completed(filename="../x.png"))
    headers = sign_headers(SECRET, body)
    assert (await deliver(client, listener, body, headers=headers)).status_code == 422
    assert (await deliver(client, listener, body, headers=headers)).status_code == 422


# -- large inline deliveries: over 1 MiB the listener verifies and parses in a worker thread --


def noise_png(side: int) -> bytes:
    """A PNG that does not compress: `side`² RGB pixels of noise, about 3·side² bytes."""
    import numpy as np

    pixels = np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=0)
    return out.getvalue()


def inline_payload(generation_id: str, raw: bytes) -> dict:
    payload = completed(
        generation_id,
        kind="base_color",
        data=base64.b64encode(raw).decode(),
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
    )
    payload["data"]["delivery"] = "inline"
    return payload


@pytest.fixture
async def roomy_listener(recorder, rejections):
    """The app's default body limit (256 MiB), as a real 4K inline delivery meets it."""
    hook = WebhookListener(secret=SECRET, on_event=recorder, on_rejected=rejections.append)
    await hook.start()
    yield hook
    await hook.stop()


@pytest.fixture
def worker_threads(monkeypatch) -> list[tuple[str, str]]:
    """Which thread checked each signature and parsed each payload (name of step, thread name)."""
    from automata_desktop.webhook import listener as module

    seen: list[tuple[str, str]] = []

    def spy(step: str, real):
        def wrapper(*args):
            seen.append((step, threading.current_thread().name))
            return real(*args)

        return wrapper

    monkeypatch.setattr(module, "check_signature", spy("signature", module.check_signature))
    monkeypatch.setattr(module, "parse_payload", spy("parse", module.parse_payload))
    return seen


async def test_a_large_inline_map_is_verified_off_the_loop_and_arrives_intact(
    roomy_listener, client, recorder, worker_threads
):
    raw = noise_png(700)  # ~1.5 MB of PNG, ~2 MiB of base64
    body = encode(inline_payload("gen-4k", raw))
    assert len(body) > 1024 * 1024  # past the listener's 1 MiB offload threshold

    response = await deliver(client, roomy_listener, body)

    assert response.status_code == 200, response.text
    [event] = recorder.events
    assert event.raw_body == body
    assert base64.b64decode(event.payload.data.files[0].data) == raw
    loop_thread = threading.current_thread().name
    assert [step for step, _ in worker_threads] == ["signature", "parse"]
    assert all(thread != loop_thread for _, thread in worker_threads), worker_threads


@pytest.mark.parametrize("forgery", ["other_secret", "tampered"])
async def test_a_large_forged_delivery_is_refused_and_nothing_recorded(
    roomy_listener, client, recorder, rejections, forgery
):
    body = encode(inline_payload("gen-forged", noise_png(700)))
    if forgery == "other_secret":
        response = await deliver(client, roomy_listener, body, secret=generate_secret())
    else:  # signed, then one byte of the image changed in transit
        headers = sign_headers(SECRET, body)
        at = len(body) // 2
        tampered = body[:at] + (b"A" if body[at : at + 1] != b"A" else b"B") + body[at + 1 :]
        response = await deliver(client, roomy_listener, tampered, headers=headers)
    assert response.status_code == 401
    assert error_code(response) == "invalid_signature"
    assert recorder.events == []
    assert [r.code for r in rejections] == ["invalid_signature"]


async def test_a_large_signed_map_whose_bytes_do_not_match_its_checksum_is_refused(
    roomy_listener, client, recorder
):
    payload = inline_payload("gen-corrupt", noise_png(700))
    payload["data"]["files"][0]["sha256"] = "0" * 64
    response = await deliver(client, roomy_listener, encode(payload))
    assert response.status_code == 422
    assert "sha256" in response.json()["error"]["message"]
    assert recorder.events == []


async def test_the_listener_answers_others_while_a_large_delivery_is_verified(
    roomy_listener, client, recorder, monkeypatch
):
    """The worker thread holds the large body; a health check on the loop is answered meanwhile."""
    from automata_desktop.webhook import listener as module

    inside, release = threading.Event(), threading.Event()
    real = module.check_signature

    def held(*args):
        inside.set()
        assert release.wait(timeout=30), "the test never released the check"
        return real(*args)

    monkeypatch.setattr(module, "check_signature", held)
    body = encode(inline_payload("gen-held", noise_png(700)))
    delivery = asyncio.create_task(deliver(client, roomy_listener, body))
    try:
        assert await asyncio.to_thread(inside.wait, 30)
        health = await client.get(roomy_listener.health_url)  # the loop is free to answer
        assert health.status_code == 200
        assert recorder.events == []  # and the large delivery is still being checked
    finally:
        release.set()
    assert (await delivery).status_code == 200
    assert len(recorder.events) == 1


# -- recording failures -----------------------------------------------------------------------


async def test_when_recording_fails_the_sender_is_told_to_retry_and_the_retry_succeeds(
    listener, client, recorder
):
    recorder.failures = 1
    body = encode(completed("gen-7"))
    headers = sign_headers(SECRET, body)

    first = await deliver(client, listener, body, headers=headers)
    assert first.status_code == 503
    assert error_code(first) == "unavailable"
    assert "disk is full" in first.json()["error"]["message"]
    assert first.headers["retry-after"] == "5"
    assert recorder.events == []

    retry = await deliver(client, listener, body, headers=headers)
    assert retry.status_code == 200
    assert [e.payload.data.generation_id for e in recorder.events] == ["gen-7"]


async def test_a_retry_racing_the_first_attempt_is_asked_to_come_back(listener, client, recorder):
    recorder.gate = asyncio.Event()
    body = encode(completed())
    headers = sign_headers(SECRET, body)

    first = asyncio.create_task(deliver(client, listener, body, headers=headers))
    await asyncio.wait_for(recorder.entered.wait(), timeout=5)  # first attempt is recording
    racing = await deliver(client, listener, body, headers=headers)
    recorder.gate.set()

    assert racing.status_code == 503
    assert error_code(racing) == "in_progress"
    assert (await first).status_code == 200
    assert (await deliver(client, listener, body, headers=headers)).status_code == 409
    assert len(recorder.events) == 1


async def test_our_own_bug_is_a_json_500_without_a_traceback(recorder, client, caplog):
    class BrokenSeenIds:
        async def remember(self, msg_id: str) -> bool:
            raise RuntimeError("bug in the replay store")

        async def forget(self, msg_id: str) -> None:
            pass

    hook = WebhookListener(secret=SECRET, on_event=recorder, seen_ids=BrokenSeenIds())
    await hook.start()
    try:
        response = await deliver(client, hook, encode(completed()))
    finally:
        await hook.stop()
    assert response.status_code == 500
    assert error_code(response) == "internal"
    assert "Traceback" not in response.text and "replay store" not in response.text
    assert "bug in the replay store" in caplog.text  # but the log has it for us
    assert recorder.events == []


# -- what the UI and the logs see -------------------------------------------------------------


async def test_a_refusal_is_reported_to_the_ui_and_logged_without_secrets(
    listener, client, rejections, caplog
):
    caplog.set_level(logging.WARNING, logger="automata_desktop.webhook")
    body = encode(completed("gen-secretive"))
    await deliver(client, listener, body, secret=generate_secret(), msg_id="msg_forged")

    [rejection] = rejections
    assert (rejection.status, rejection.code) == (401, "invalid_signature")
    assert rejection.remote == "127.0.0.1"
    assert rejection.webhook_id == "msg_forged"
    assert "invalid_signature from 127.0.0.1" in str(rejection)
    assert "invalid_signature from 127.0.0.1" in caplog.text
    assert SECRET not in caplog.text and SECRET.removeprefix("whsec_") not in caplog.text
    assert "gen-secretive" not in caplog.text


async def test_an_async_rejection_callback_is_awaited_and_its_failure_contained(recorder, client):
    seen: list[str] = []

    async def on_rejected(rejection: WebhookRejection) -> None:
        seen.append(rejection.code)
        raise RuntimeError("the UI is gone")

    hook = WebhookListener(secret=SECRET, on_event=recorder, on_rejected=on_rejected)
    await hook.start()
    try:
        response = await deliver(client, hook, encode(completed()), secret=generate_secret())
    finally:
        await hook.stop()
    assert response.status_code == 401
    assert seen == ["invalid_signature"]


# -- running the listener ---------------------------------------------------------------------


async def test_port_zero_picks_a_free_port_and_health_answers_there(listener, client):
    assert listener.port > 0
    assert listener.url == f"http://127.0.0.1:{listener.port}/hooks/comfyui"
    response = await client.get(listener.health_url)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "app": "automata-desktop"}


async def test_a_taken_port_is_a_clear_error(recorder):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        hook = WebhookListener(secret=SECRET, on_event=recorder, port=port)
        with pytest.raises(WebhookError, match=rf"port {port} is taken .* 0 to pick a free one"):
            await hook.start()
    assert not hook.running


async def test_other_paths_and_methods_get_json_errors(listener, client):
    missing = await client.post(listener.url.replace("comfyui", "other"), json={})
    wrong_method = await client.get(listener.url)
    assert (missing.status_code, error_code(missing)) == (404, "not_found")
    assert (wrong_method.status_code, error_code(wrong_method)) == (405, "method_not_allowed")
    assert "POST" in wrong_method.headers["allow"]


async def test_a_stopped_listener_refuses_connections(recorder, client):
    hook = WebhookListener(secret=SECRET, on_event=recorder)
    await hook.start()
    url = hook.url
    await hook.stop()
    await hook.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        await client.get(url)


async def test_a_listener_on_every_interface_is_still_reachable_locally(recorder, client):
    hook = WebhookListener(secret=SECRET, on_event=recorder, host="0.0.0.0")
    await hook.start()
    try:
        assert hook.url.startswith("http://127.0.0.1:")
        assert (await client.get(hook.health_url)).status_code == 200
        assert hook.public_url("192.168.1.20") == f"http://192.168.1.20:{hook.port}/hooks/comfyui"
    finally:
        await hook.stop()


async def test_a_loopback_listener_explains_how_to_reach_it_from_another_machine(listener):
    with pytest.raises(WebhookError, match=r"0\.0\.0\.0"):
        listener.public_url()
    assert listener.public_url("fd00::5") == f"http://[fd00::5]:{listener.port}/hooks/comfyui"


@pytest.mark.parametrize(
    ("secret", "reason"),
    [("", "whsec_"), ("hunter2", "whsec_"), ("whsec_***", "base64"), ("whsec_c2hvcnQ=", "bytes")],
)
def test_a_bad_secret_is_refused_when_the_listener_is_made(recorder, secret, reason):
    with pytest.raises(WebhookError, match=reason):
        WebhookListener(secret=secret, on_event=recorder)
