"""The embedded webhook listener: the AUTOMATA Webhook node reports finished generations here.

Public surface (pinned by tests/test_webhook_signing.py::test_public_names):

    WebhookListener(secret=..., on_event=...)   start() / stop() / url / port / public_url()
    WebhookEvent, WebhookRejection              what the callbacks receive
    SeenIds, MemorySeenIds                      replay protection (plug in a persistent one)
    generate_secret(), sign_headers()           the per-install secret; signing for senders
    WebhookPayload, GenerationData, FileRef     the JSON contract (payload.py, docs/webhook.md)
"""

from automata_desktop.webhook.listener import (
    DEFAULT_HOST,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PATH,
    DEFAULT_TOLERANCE_S,
    HEALTH_PATH,
    WebhookEvent,
    WebhookListener,
    WebhookRejection,
    lan_address,
)
from automata_desktop.webhook.payload import (
    EVENT_COMPLETED,
    EVENT_FAILED,
    FileRef,
    GenerationData,
    WebhookPayload,
)
from automata_desktop.webhook.replay import MemorySeenIds, SeenIds
from automata_desktop.webhook.signing import generate_secret, sign_headers

__all__ = [
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
