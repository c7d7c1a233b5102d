"""POST a webhook signed per the Standard Webhooks spec, with bounded retries. Stdlib only.

Signature: `webhook-signature: v1,<base64 HMAC-SHA256("{id}.{timestamp}.{body}")>`, keyed with the
base64-decoded secret after its `whsec_` prefix. The message id stays the same on every retry (so
the receiver can drop duplicates); the timestamp is the attempt's own, as the spec asks.

A delivery never raises: the workflow has already produced its files, and a receiver that is down
must not turn a finished generation into a ComfyUI error. Secrets and URL paths/queries (which may
carry tokens) never reach the log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("automata_nodes.webhook")

SECRET_ENV = "AUTOMATA_WEBHOOK_SECRET"
#: Written beside the pack folder (`custom_nodes/automata_webhook.key`, mode 0600) by
#: `automata comfy install-nodes` on the app's own machine: the key never travels in a prompt,
#: where anyone who can read ComfyUI's /history would find it.
KEY_FILE = "automata_webhook.key"
MAX_SECONDS_ENV = "AUTOMATA_WEBHOOK_MAX_SECONDS"
DEFAULT_MAX_SECONDS = 30.0
FIRST_DELAY = 0.5
MAX_DELAY = 8.0
ATTEMPT_TIMEOUT = 10.0
RETRYABLE_4XX = frozenset({408, 429})


@dataclass(frozen=True)
class DeliveryResult:
    delivered: bool
    webhook_id: str
    attempts: int
    status: int | None = None
    error: str | None = None


def decode_secret(secret: str) -> bytes:
    """Key bytes of a `whsec_<base64>` secret (the prefix is optional, as in standardwebhooks)."""
    text = secret.strip().removeprefix("whsec_")
    try:
        key = base64.b64decode(text + "==", validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret is not valid base64 (expected whsec_<base64>)") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def installed_secret() -> str | None:
    """The key `install-nodes` left beside this pack, or None. The path is taken as ComfyUI
    imported the pack (not resolved), so a symlinked development pack finds it too."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), KEY_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def redact(url: str) -> str:
    """scheme://host:port only."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def max_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(MAX_SECONDS_ENV, DEFAULT_MAX_SECONDS)))
    except ValueError:
        return DEFAULT_MAX_SECONDS


def deliver(
    url: str,
    body: bytes,
    *,
    secret: str | None = None,
    deadline_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """POST `body` (JSON) to `url`, retrying transient failures until delivered or out of time."""
    msg_id = f"msg_{uuid.uuid4().hex}"
    where = redact(url)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        log.warning("AUTOMATA webhook: not delivering to %r: only http(s) URLs", where)
        return DeliveryResult(False, msg_id, 0, error="webhook URL must start with http:// or https://")
    key: bytes | None = None
    secret = secret or os.environ.get(SECRET_ENV) or installed_secret()
    if secret:
        try:
            key = decode_secret(secret)
        except ValueError as exc:
            log.warning("AUTOMATA webhook: %s; not delivering", exc)
            return DeliveryResult(False, msg_id, 0, error=str(exc))
    else:
        log.warning("AUTOMATA webhook: no secret (neither %s nor custom_nodes/%s; run `automata "
                    "comfy install-nodes`); sending unsigned", SECRET_ENV, KEY_FILE)

    budget = max_seconds() if deadline_seconds is None else deadline_seconds
    deadline = time.monotonic() + budget
    delay, attempts, status, error = FIRST_DELAY, 0, None, None
    while True:
        attempts += 1
        timeout = max(0.5, min(ATTEMPT_TIMEOUT, deadline - time.monotonic()))
        status, error, retry_after = _post_once(url, body, msg_id, key, timeout)
        # 409 means the listener already recorded this webhook-id: an earlier 2xx was lost.
        if status is not None and (200 <= status < 300 or status == 409):
            log.info("AUTOMATA webhook %s delivered to %s (HTTP %s)", msg_id, where, status)
            return DeliveryResult(True, msg_id, attempts, status)
        if status is not None and 400 <= status < 500 and status not in RETRYABLE_4XX:
            break  # the receiver understood and refused; repeating will not change its mind
        wait = min(retry_after if retry_after is not None else delay, MAX_DELAY)
        if time.monotonic() + wait >= deadline:
            break
        log.info("AUTOMATA webhook %s to %s failed (%s); retry in %.1fs", msg_id, where, error, wait)
        sleep(wait)
        delay = min(delay * 2, MAX_DELAY)
    log.warning(
        "AUTOMATA webhook %s to %s not delivered after %d attempt(s): %s",
        msg_id, where, attempts, error,
    )
    return DeliveryResult(False, msg_id, attempts, status, error)


def _post_once(
    url: str, body: bytes, msg_id: str, key: bytes | None, timeout: float
) -> tuple[int | None, str | None, float | None]:
    """One POST → (HTTP status or None, error text or None, Retry-After seconds or None)."""
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "automata-comfy-nodes",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
    }
    if key is not None:
        headers["webhook-signature"] = sign(key, msg_id, timestamp, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, None, None
    except urllib.error.HTTPError as exc:
        retry_after = _retry_after(exc.headers.get("retry-after") if exc.headers else None)
        return exc.code, f"HTTP {exc.code}", retry_after
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(exc).__name__}: {reason}", None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
