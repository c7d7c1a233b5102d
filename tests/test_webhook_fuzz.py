"""Whatever arrives at the webhook, the listener answers with a 2xx or a 4xx and never crashes;
every well-signed delivery that keeps docs/webhook.md's contract is accepted and recorded, and one
that breaks it in a single field is refused with that field named.

The listener runs on its own asyncio loop in a worker thread, as it does in the app.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import threading
import uuid
from datetime import datetime

import httpx
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from automata_desktop.core.maps import MapKind
from automata_desktop.webhook import WebhookEvent, WebhookListener, generate_secret, sign_headers

SECRET = generate_secret()
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Served:
    def __init__(self, listener: WebhookListener, client: httpx.Client) -> None:
        self.listener = listener
        self.client = client
        self.events: list[WebhookEvent] = []


@pytest.fixture(scope="module")
def served():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="webhook-loop", daemon=True)
    thread.start()

    def on_loop(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=10)

    async def record(event: WebhookEvent) -> None:
        state.events.append(event)

    listener = WebhookListener(secret=SECRET, on_event=record, max_body_bytes=64 * 1024)
    on_loop(listener.start())
    with httpx.Client(timeout=10) as client:
        state = Served(listener, client)
        yield state
    on_loop(listener.stop())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


def assert_clean_answer(response: httpx.Response) -> None:
    event(f"HTTP {response.status_code}")  # see --hypothesis-show-statistics
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message"}
        assert "Traceback" not in response.text


# -- strategies -------------------------------------------------------------------------------

# h11 (the client) refuses header values with leading or trailing whitespace.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120).map(
    str.strip
)
names = st.text(max_size=30) | st.sampled_from(
    ["albedo.png", "../x.png", "/etc/passwd", "a/b.png", "..", ".", "x\\y", "nul\x00.png", ""]
)
file_refs = st.fixed_dictionaries(
    {
        "kind": st.sampled_from([k.value for k in MapKind]) | st.text(max_size=8),
        "filename": names,
    },
    optional={
        "subfolder": names,
        "type": st.sampled_from(["output", "temp", "input", "elsewhere"]),
        "size": st.integers(-3, 100),
        "sha256": st.text("0123456789abcdef", min_size=63, max_size=65),
        "data": st.binary(max_size=48).map(lambda b: base64.b64encode(b).decode())
        | st.text(max_size=20),
        "width": st.integers(-1, 8192) | st.text(max_size=4),
    },
)
payload_like = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["generation.completed", "generation.failed", "generation.lost"]),
        "timestamp": st.sampled_from(["2025-01-01T00:00:00Z", "yesterday", ""])
        | st.datetimes().map(lambda d: d.isoformat()),
        "data": st.fixed_dictionaries(
            {"generation_id": st.text(max_size=140)},
            optional={
                "files": st.lists(file_refs, max_size=4),
                "delivery": st.sampled_from(["reference", "inline", "carrier pigeon"]),
                "error": st.none() | st.text(max_size=40),
                "prompt_id": st.none() | st.integers() | st.text(max_size=20),
            },
        ),
    },
    optional={"extra": st.integers()},
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
bodies = (
    st.binary(max_size=2048)
    | st.text(max_size=300).map(str.encode)
    | payload_like.map(lambda p: json.dumps(p).encode())
)


def is_utf8(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


@st.composite
def unsigned_requests(draw):
    """A body whose headers are absent, garbage, plausible, or signed for another body."""
    body = draw(bodies)
    headers: dict[str, str] = {}
    style = draw(st.sampled_from(["garbage", "other_secret", "tampered", "none"]))
    if style in ("other_secret", "tampered") and not is_utf8(body):
        style = "garbage"  # Standard Webhooks signs text, so a sender cannot sign these bytes
    if style == "other_secret":
        headers.update(sign_headers(generate_secret(), body))
    elif style == "tampered":
        headers.update(sign_headers(SECRET, body))
        body = body + draw(st.binary(min_size=1, max_size=16))
    elif style == "garbage":
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            if draw(st.booleans()):
                headers[name] = draw(
                    header_text
                    | st.integers(-(10**12), 10**12).map(str)
                    | st.binary(min_size=1, max_size=40).map(
                        lambda b: "v1," + base64.b64encode(b).decode()
                    )
                )
    # Mostly well-declared JSON, so that most examples reach the signature check.
    if draw(st.sampled_from([True, True, True, False])):
        headers["content-type"] = "application/json"
    else:
        content_type = draw(
            st.sampled_from(
                [
                    "application/json; charset=latin-1",
                    "application/ld+json",
                    "text/plain",
                    "multipart/form-data; boundary=x",
                    "",
                ]
            )
            | header_text
        )
        if content_type:
            headers["content-type"] = content_type
    if draw(st.sampled_from([False] * 5 + [True])):
        headers["content-encoding"] = draw(st.sampled_from(["gzip", "deflate", "identity", "xz"]))
    return body, headers


@FUZZ
@given(request=unsigned_requests())
def test_unsigned_input_never_crashes_and_is_never_recorded(served, request):
    recorded = len(served.events)
    body, headers = request
    response = served.client.post(served.listener.url, content=body, headers=headers)
    assert_clean_answer(response)
    assert response.status_code != 200
    assert len(served.events) == recorded


@FUZZ
@given(document=payload_like | json_values)
def test_signed_json_of_any_shape_gets_a_2xx_or_a_4xx(served, document):
    recorded = len(served.events)
    body = json.dumps(document).encode()
    headers = {
        "content-type": "application/json",
        **sign_headers(SECRET, body, msg_id=f"msg_{uuid.uuid4().hex}"),
    }
    response = served.client.post(served.listener.url, content=body, headers=headers)
    assert_clean_answer(response)
    assert response.status_code in (200, 400, 422)
    if response.status_code == 200:
        assert len(served.events) == recorded + 1
        event = served.events[-1]
        assert response.json()["generation_id"] == event.payload.data.generation_id
        assert event.raw_body == body
    else:
        assert len(served.events) == recorded


# -- the contract, both ways ------------------------------------------------------------------

# What docs/webhook.md allows in a name: no '/', '\\' or NUL, and not '.' or '..'.
safe_names = st.text(
    st.characters(blacklist_characters="/\\\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=40,
).filter(lambda n: n not in (".", ".."))
unknown_fields = st.dictionaries(st.sampled_from(["added_later", "x_meta", "hint"]), json_values)


@st.composite
def valid_files(draw, inline: bool) -> dict:
    file: dict = {
        "kind": draw(st.sampled_from([k.value for k in MapKind])),
        "filename": draw(safe_names),
    }
    if draw(st.booleans()):
        file["subfolder"] = "/".join(draw(st.lists(safe_names, min_size=1, max_size=3)))
    if draw(st.booleans()):
        file["type"] = draw(st.sampled_from(["output", "temp", "input"]))
    if draw(st.booleans()):
        file["width"], file["height"] = draw(st.integers(1, 8192)), draw(st.integers(1, 8192))
        file["bit_depth"] = draw(st.sampled_from([8, 16, 32]))
    if inline:
        raw = draw(st.binary(max_size=256))
        file["data"] = base64.b64encode(raw).decode()
        if draw(st.booleans()):
            file["size"], file["sha256"] = len(raw), hashlib.sha256(raw).hexdigest()
    file.update(draw(unknown_fields))
    return file


@st.composite
def valid_payloads(draw) -> dict:
    inline = draw(st.booleans())
    data: dict = {
        "generation_id": draw(st.text(min_size=1, max_size=128)),
        "files": draw(st.lists(valid_files(inline), max_size=4)),
    }
    if inline or draw(st.booleans()):
        data["delivery"] = "inline" if inline else "reference"
    if draw(st.booleans()):
        data["prompt_id"] = draw(st.none() | st.text(max_size=128))
    kind = draw(st.sampled_from(["generation.completed", "generation.failed"]))
    if kind == "generation.failed":
        data["error"] = draw(st.none() | st.text(max_size=200))
    data.update(draw(unknown_fields))
    stamp = draw(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1)))
    zone = draw(st.sampled_from(["", "Z", "+00:00", "+05:30"]))
    return {"type": kind, "timestamp": stamp.isoformat() + zone, "data": data,
            **draw(unknown_fields)}


def deliver_signed(served: Served, body: bytes) -> httpx.Response:
    headers = {
        "content-type": "application/json",
        **sign_headers(SECRET, body, msg_id=f"msg_{uuid.uuid4().hex}"),
    }
    return served.client.post(served.listener.url, content=body, headers=headers)


@FUZZ
@given(payload=valid_payloads())
def test_every_signed_delivery_that_keeps_the_contract_is_accepted_and_recorded(served, payload):
    recorded = len(served.events)
    body = json.dumps(payload).encode()
    response = deliver_signed(served, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "generation_id": payload["data"]["generation_id"]}
    assert len(served.events) == recorded + 1
    got = served.events[-1]
    assert got.raw_body == body
    assert got.payload.type == payload["type"]
    assert got.payload.data.generation_id == payload["data"]["generation_id"]
    sent_files = payload["data"]["files"]
    assert [(f.kind.value, f.filename, f.subfolder, f.data) for f in got.payload.data.files] == [
        (f["kind"], f["filename"], f.get("subfolder", ""), f.get("data")) for f in sent_files
    ]


def _a_file_with(**fields: object) -> dict:
    raw = b"\x89PNG tiny"
    file = {"kind": "normal", "filename": "n.png", "data": base64.b64encode(raw).decode(),
            "size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    file.update(fields)
    return file


#: (what breaks, the field the refusal must name, how): one contract rule each.
BREAKAGES = [
    ("unknown type", "type", lambda p: p.update(type="generation.lost")),
    ("not a date", "timestamp", lambda p: p.update(timestamp="yesterday")),
    ("no data", "data", lambda p: p.pop("data")),
    ("no generation id", "data.generation_id", lambda p: p["data"].pop("generation_id")),
    ("empty generation id", "data.generation_id", lambda p: p["data"].update(generation_id="")),
    ("long generation id", "data.generation_id",
     lambda p: p["data"].update(generation_id="g" * 129)),
    ("unknown delivery", "data.delivery", lambda p: p["data"].update(delivery="carrier pigeon")),
    ("65 files", "data.files", lambda p: p["data"].update(files=[_a_file_with()] * 65)),
    ("unknown kind", "kind", lambda p: p["data"]["files"].append(_a_file_with(kind="banana"))),
    ("parent filename", "filename",
     lambda p: p["data"]["files"].append(_a_file_with(filename=".."))),
    ("filename with a slash", "filename",
     lambda p: p["data"]["files"].append(_a_file_with(filename="a/b.png"))),
    ("absolute subfolder", "subfolder",
     lambda p: p["data"]["files"].append(_a_file_with(subfolder="/etc"))),
    ("escaping subfolder", "subfolder",
     lambda p: p["data"]["files"].append(_a_file_with(subfolder="a/../../up"))),
    ("unknown folder type", "type",
     lambda p: p["data"]["files"].append(_a_file_with(type="elsewhere"))),
    ("size that lies", "size", lambda p: p["data"]["files"].append(_a_file_with(size=3))),
    ("checksum that lies", "sha256",
     lambda p: p["data"]["files"].append(_a_file_with(sha256="0" * 64))),
    ("data not base64", "base64", lambda p: p["data"]["files"].append(_a_file_with(
        data="not*base64", size=None, sha256=None))),
]


@FUZZ
@given(payload=valid_payloads(), breakage=st.sampled_from(BREAKAGES))
def test_a_signed_delivery_breaking_one_rule_is_refused_naming_the_field(
    served, payload, breakage
):
    what, field, breaks = breakage
    broken = copy.deepcopy(payload)
    broken.setdefault("data", {}).setdefault("files", [])
    breaks(broken)
    note(f"broken by: {what}")
    recorded = len(served.events)
    response = deliver_signed(served, json.dumps(broken).encode())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_payload"
    assert field in response.json()["error"]["message"]
    assert len(served.events) == recorded
