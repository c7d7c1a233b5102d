"""Secrets, signatures and replay memory, interoperable with the Standard Webhooks reference."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import urllib.error
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

import automata_desktop.webhook as webhook
from automata_desktop.webhook import MemorySeenIds, WebhookListener, generate_secret, sign_headers
from automata_desktop.webhook.refusal import Refusal
from automata_desktop.webhook.signing import check_signature, parse_secret, read_headers

DOCS = Path(__file__).resolve().parent.parent / "docs" / "webhook.md"


def test_public_names():
    assert sorted(webhook.__all__) == sorted(
        [
            "DEFAULT_HOST",
            "DEFAULT_MAX_BODY_BYTES",
            "DEFAULT_PATH",
            "DEFAULT_TOLERANCE_S",
            "EVENT_COMPLETED",
            "EVENT_FAILED",
            "HEALTH_PATH",
            "FileRef",
            "GenerationData",
            "MemorySeenIds",
            "SeenIds",
            "WebhookEvent",
            "WebhookListener",
            "WebhookPayload",
            "WebhookRejection",
            "generate_secret",
            "lan_address",
            "sign_headers",
        ]
    )


def test_each_install_gets_its_own_32_byte_secret():
    first, second = generate_secret(), generate_secret()
    assert first != second
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", first)
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_our_signatures_verify_with_the_reference_implementation():
    secret = generate_secret()
    body = json.dumps({"type": "generation.completed", "note": "ünïcode"}).encode()
    headers = sign_headers(secret, body, msg_id="msg_1")
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers)["note"] == "ünïcode"
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)


def test_signing_is_deterministic_for_a_given_id_and_time():
    secret, body = generate_secret(), b"{}"
    a = sign_headers(secret, body, msg_id="msg_x", timestamp=1_700_000_000)
    b = sign_headers(secret, body, msg_id="msg_x", timestamp=1_700_000_000)
    c = sign_headers(secret, body, msg_id="msg_x", timestamp=1_700_000_001)
    assert a == b
    assert a["webhook-timestamp"] == "1700000000"
    assert a["webhook-signature"] != c["webhook-signature"]


SECRETS = [generate_secret() for _ in range(2)]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    msg_id=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40),
    skew=st.integers(-250, 250),
    body=st.text(max_size=200),
    signed_with=st.sampled_from(SECRETS),
    tamper=st.sampled_from([None, "body", "id", "timestamp"]),
)
def test_our_check_agrees_with_the_reference_verify(msg_id, skew, body, signed_with, tamper):
    """The listener hashes the body in place; it must accept exactly what the library accepts."""
    raw = body.encode()
    headers = sign_headers(signed_with, raw, msg_id=msg_id, timestamp=int(time.time()) + skew)
    if tamper == "body":
        raw += b" "
    elif tamper == "id":
        headers["webhook-id"] += "x"
    elif tamper == "timestamp":
        headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + 1)
    try:
        Webhook(SECRETS[0]).verify(raw, headers, json_parse=False)
        reference_accepts = True
    except WebhookVerificationError:
        reference_accepts = False
    try:
        check_signature(parse_secret(SECRETS[0]), read_headers(headers), raw)
        we_accept = True
    except Refusal:
        we_accept = False
    assert we_accept == reference_accepts
    assert we_accept == (signed_with == SECRETS[0] and tamper is None)


def sender_example() -> str:
    """The Python sender in docs/webhook.md, which users copy: it must keep working."""
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"<!-- sender-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/webhook.md lost its marked sender example"
    return match.group(1)


async def test_the_documented_sender_recipe_is_accepted_by_a_real_listener():
    received = []

    async def record(event):
        received.append(event)

    secret = generate_secret()
    hook = WebhookListener(secret=secret, on_event=record)
    await hook.start()
    namespace: dict = {}
    exec(compile(sender_example(), str(DOCS), "exec"), namespace)
    payload = {
        "type": "generation.completed",
        "timestamp": "2025-01-01T12:00:00Z",
        "data": {"generation_id": "gen-docs", "files": []},
    }
    try:
        status = await asyncio.to_thread(namespace["send"], hook.url, secret, payload)
        with pytest.raises(urllib.error.HTTPError) as refused:
            await asyncio.to_thread(namespace["send"], hook.url, generate_secret(), payload)
    finally:
        await hook.stop()
    assert status == 200
    assert refused.value.code == 401
    assert [e.payload.data.generation_id for e in received] == ["gen-docs"]


# -- replay memory ----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_an_id_is_remembered_until_its_time_to_live_runs_out():
    clock = Clock()
    seen = MemorySeenIds(ttl_s=600, clock=clock)
    assert await seen.remember("msg_a")
    clock.now += 599
    assert not await seen.remember("msg_a")
    clock.now += 2
    assert await seen.remember("msg_a")


async def test_a_forgotten_id_can_be_delivered_again():
    seen = MemorySeenIds()
    assert await seen.remember("msg_a")
    await seen.forget("msg_a")
    await seen.forget("msg_never_seen")
    assert await seen.remember("msg_a")


async def test_replay_memory_stays_bounded_under_a_flood():
    clock = Clock()
    seen = MemorySeenIds(ttl_s=600, max_entries=100, clock=clock)
    for i in range(10_000):
        assert await seen.remember(f"msg_{i}")
    assert len(seen) == 100
    assert not await seen.remember("msg_9999")  # the newest are still known
    assert await seen.remember("msg_0")  # the oldest went first


async def test_expired_ids_are_swept_as_time_passes():
    clock = Clock()
    seen = MemorySeenIds(ttl_s=10, clock=clock)
    for i in range(50):
        await seen.remember(f"msg_{i}")
    clock.now += 11
    assert len(seen) == 0


def test_replay_memory_refuses_nonsense_limits():
    with pytest.raises(ValueError):
        MemorySeenIds(ttl_s=0)
    with pytest.raises(ValueError):
        MemorySeenIds(max_entries=0)
