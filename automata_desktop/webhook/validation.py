"""Verified body bytes to a `WebhookPayload`, plus the checks the pydantic model cannot make."""

from __future__ import annotations

import base64
import binascii

from pydantic import ValidationError

from automata_desktop.core.checksum import sha256_bytes
from automata_desktop.webhook.payload import WebhookPayload
from automata_desktop.webhook.refusal import Refusal

_MAX_REPORTED_ERRORS = 5
_MAX_ERROR_CHARS = 200


def parse_payload(body: bytes) -> WebhookPayload:
    """Parse and validate: Refusal 400 for malformed JSON, 422 for a payload breaking the contract.

    pydantic's own JSON parser is used (one pass over a body that may carry hundreds of MiB of
    base64); its `json_invalid` error is what separates "not JSON" from "wrong shape".
    """
    try:
        payload = WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise Refusal(400, "malformed_json", "the body is not valid JSON") from None
        raise Refusal(422, "invalid_payload", _describe(errors, exc.error_count())) from None
    _check_inline_files(payload)
    return payload


def _describe(errors: list, total: int) -> str:
    parts = []
    for error in errors[:_MAX_REPORTED_ERRORS]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}"[:_MAX_ERROR_CHARS])
    if total > _MAX_REPORTED_ERRORS:
        parts.append(f"and {total - _MAX_REPORTED_ERRORS} more")
    return "; ".join(parts)


def _check_inline_files(payload: WebhookPayload) -> None:
    """Inline bytes must decode and agree with the declared size and checksum."""
    for index, ref in enumerate(payload.data.files):
        if ref.data is None:
            continue
        where = f"data.files.{index}.data"
        try:
            raw = base64.b64decode(ref.data, validate=True)
        except (binascii.Error, ValueError):
            raise Refusal(422, "invalid_payload", f"{where}: not valid base64") from None
        if ref.size is not None and len(raw) != ref.size:
            raise Refusal(
                422, "invalid_payload", f"{where}: {len(raw)} bytes, but size says {ref.size}"
            )
        if ref.sha256 is not None and sha256_bytes(raw) != ref.sha256:
            raise Refusal(422, "invalid_payload", f"{where}: sha256 does not match the bytes")
        ref._raw = raw  # stored as they are, under this checked sha256: no second decode or hash
