"""Standard Webhooks signatures: the per-install secret, signing (for senders and tests), checking.

Signing is the `standardwebhooks` package's own `Webhook.sign`. Checking recomputes the same HMAC
(`{id}.{timestamp}.{body}`, SHA-256, keyed with the decoded secret) instead of calling
`Webhook.verify`, which (in 1.1) checks the timestamp before the signature with a fixed 5-minute
window, raises ValueError/binascii errors on malformed signature headers, cannot say which check
failed, and copies the body three times (decode, f-string, encode): 750 MiB of transient memory
for a 256 MiB inline delivery. tests/test_webhook_signing.py pins agreement with `Webhook.verify`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from automata_desktop.config import generate_webhook_secret
from automata_desktop.errors import WebhookError
from automata_desktop.webhook.refusal import Refusal

SECRET_PREFIX = "whsec_"
#: The Standard Webhooks spec recommends secrets of 24 to 64 bytes; anything shorter is refused.
MIN_SECRET_BYTES = 24

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"

# Ids are echoed into logs and the UI, so keep them short, printable and free of spaces.
_ID_RE = re.compile(r"^[\x21-\x7e]{1,256}$")
# Integer seconds only (the library would also take "1.7e9"); 11 digits reach the year 5138.
_TIMESTAMP_RE = re.compile(r"^[0-9]{1,11}$")


def generate_secret() -> str:
    """A new per-install secret, from the one generator the settings use too."""
    return generate_webhook_secret()


def parse_secret(secret: str) -> bytes:
    """The HMAC key in a `whsec_<base64>` secret; raises WebhookError naming the fix."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise WebhookError(
            "the webhook secret must look like 'whsec_<base64>'; generate a new one in "
            "Settings → Webhook and paste it into the AUTOMATA Webhook node"
        )
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise WebhookError(
            "the webhook secret is not valid base64 after 'whsec_'; "
            "generate a new one in Settings → Webhook"
        ) from None
    if len(key) < MIN_SECRET_BYTES:
        raise WebhookError(
            f"the webhook secret is {len(key)} bytes long; at least {MIN_SECRET_BYTES} are "
            "needed; generate a new one in Settings → Webhook"
        )
    return key


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(16)


def sign_headers(
    secret: str, body: bytes, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`, as the AUTOMATA Webhook node sends them.

    `msg_id` defaults to a fresh random id and `timestamp` (Unix seconds) to now. The body must be
    UTF-8, as every JSON body is.
    """
    signer = Webhook(parse_secret(secret))
    msg_id = new_message_id() if msg_id is None else msg_id
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = signer.sign(msg_id, datetime.fromtimestamp(timestamp, tz=UTC), body.decode())
    return {HEADER_ID: msg_id, HEADER_TIMESTAMP: str(timestamp), HEADER_SIGNATURE: signature}


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    """The webhook headers of one request, well-formed but not yet checked against a secret."""

    msg_id: str
    timestamp: int
    signatures: tuple[str, ...]


def read_headers(headers: dict[str, str]) -> SignedHeaders:
    """Pick and syntax-check the three headers (case-insensitive); Refusal 400 if unusable."""
    lowered = {k.lower(): v for k, v in headers.items()}
    missing = [h for h in (HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE) if not lowered.get(h)]
    if missing:
        raise Refusal(400, "missing_headers", f"missing header(s): {', '.join(missing)}")
    msg_id, stamp = lowered[HEADER_ID].strip(), lowered[HEADER_TIMESTAMP].strip()
    if not _ID_RE.match(msg_id):
        raise Refusal(400, "bad_headers", "webhook-id must be 1-256 printable ASCII characters")
    if not _TIMESTAMP_RE.match(stamp):
        raise Refusal(400, "bad_headers", "webhook-timestamp must be Unix time in whole seconds")
    return SignedHeaders(msg_id, int(stamp), tuple(lowered[HEADER_SIGNATURE].split()))


def check_signature(key: bytes, headers: SignedHeaders, body: bytes) -> None:
    """Refusal 401 unless one of the space-separated `v1,<base64>` signatures matches.

    Signatures of other versions (`v1a,` asymmetric ones) are skipped, as the spec asks.
    """
    mac = hmac.new(key, f"{headers.msg_id}.{headers.timestamp}.".encode(), hashlib.sha256)
    mac.update(body)  # hashed in place: no copy of a body that may be hundreds of MiB
    expected = mac.digest()
    for entry in headers.signatures:
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, candidate):
            return
    raise Refusal(401, "invalid_signature", "no webhook-signature matches this app's secret")


def check_timestamp(headers: SignedHeaders, tolerance_s: float, now: float | None = None) -> None:
    """Refusal 400 if the signed timestamp is further than `tolerance_s` from now, either way."""
    now = time.time() if now is None else now
    skew = headers.timestamp - now
    if abs(skew) > tolerance_s:
        direction = "in the future" if skew > 0 else "old"
        raise Refusal(
            400,
            "stale_timestamp",
            f"webhook-timestamp is {abs(skew):.0f} s {direction}; the limit is {tolerance_s:.0f} s "
            "(check the clocks of both machines, and sign each retry afresh)",
        )
