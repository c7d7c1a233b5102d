"""HS256 JWTs signed with the stack's test secret, shaped like Supabase's."""

from __future__ import annotations

import time
from typing import Any

import jwt

TEST_JWT_SECRET = "automata-test-jwt-secret-that-is-at-least-32-bytes-long"


class JwtRejected(Exception):
    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def api_key(role: str, secret: str = TEST_JWT_SECRET) -> str:
    """An anon or service_role key as the Supabase dashboard shows them."""
    now = int(time.time())
    claims = {"iss": "supabase-demo", "role": role, "iat": now, "exp": now + 10 * 365 * 86400}
    return jwt.encode(claims, secret, algorithm="HS256")


def sign(claims: dict[str, Any], secret: str = TEST_JWT_SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def verify(token: str, secret: str = TEST_JWT_SECRET) -> dict[str, Any]:
    try:
        return jwt.decode(token, secret, algorithms=["HS256"], options={"verify_aud": False})
    except jwt.ExpiredSignatureError as exc:
        raise JwtRejected("JWT expired", expired=True) from exc
    except jwt.PyJWTError as exc:
        raise JwtRejected(f"invalid JWT: {exc}") from exc


def bearer(headers: Any) -> str | None:
    value = headers.get("Authorization", "")
    if value.lower().startswith("bearer "):
        return value[7:].strip() or None
    return headers.get("apikey") or None
