"""The GoTrue (/auth/v1) subset supabase-py's sign-up, sign-in, refresh, user and logout use.

Error bodies follow GoTrue: with the client's `X-Supabase-Api-Version: 2024-01-01` header the
body is `{"code": <error code>, "message": ...}` and the response echoes the version header;
older clients get `{"code": <status>, "error_code": ..., "msg": ...}`.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .tokens import JwtRejected, bearer, sign, verify

if TYPE_CHECKING:
    from .server import SupabaseStack

API_VERSION = "2024-01-01"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _error(request: web.Request, status: int, code: str, message: str, **extra: Any) -> web.Response:
    if request.headers.get("X-Supabase-Api-Version"):
        body = {"code": code, "message": message, **extra}
    else:
        body = {"code": status, "error_code": code, "msg": message, **extra}
    return web.json_response(body, status=status, headers={"X-Supabase-Api-Version": API_VERSION})


def _ok(body: Any) -> web.Response:
    return web.json_response(body, headers={"X-Supabase-Api-Version": API_VERSION})


def hash_password(password: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()
    return f"pbkdf2${salt}${digest}"


def _password_ok(password: str, stored: str | None) -> bool:
    if not stored or stored.count("$") != 2:
        return False
    salt = stored.split("$")[1]
    return secrets.compare_digest(hash_password(password, salt), stored)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def user_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "aud": "authenticated",
        "role": "authenticated",
        "email": row["email"],
        "phone": "",
        "email_confirmed_at": _iso(row["email_confirmed_at"]),
        "confirmed_at": _iso(row["email_confirmed_at"]),
        "confirmation_sent_at": _iso(row["confirmation_sent_at"]),
        "last_sign_in_at": _iso(row["last_sign_in_at"]),
        "app_metadata": row["raw_app_meta_data"] or {},
        "user_metadata": row["raw_user_meta_data"] or {},
        "identities": [],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "is_anonymous": False,
    }


class AuthApi:
    def __init__(self, stack: SupabaseStack) -> None:
        self.stack = stack

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/auth/v1/signup", self.signup),
            web.post("/auth/v1/token", self.token),
            web.get("/auth/v1/user", self.user),
            web.post("/auth/v1/logout", self.logout),
        ]

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        return body if isinstance(body, dict) else {}

    async def _find_user(self, conn: Any, *, email: str | None = None, user_id: Any = None
                         ) -> dict[str, Any] | None:
        from psycopg.rows import dict_row

        cur = conn.cursor(row_factory=dict_row)
        if email is not None:
            await cur.execute("select * from auth.users where lower(email) = lower(%s)", [email])
        else:
            await cur.execute("select * from auth.users where id = %s", [user_id])
        return await cur.fetchone()

    async def _issue_session(self, conn: Any, user: dict[str, Any],
                             session_id: uuid.UUID | None = None) -> dict[str, Any]:
        if session_id is None:
            session_id = uuid.uuid4()
            await conn.execute(
                "insert into auth.sessions (id, user_id) values (%s, %s)", [session_id, user["id"]]
            )
        refresh = secrets.token_urlsafe(16)
        await conn.execute(
            "insert into auth.refresh_tokens (token, user_id, session_id) values (%s, %s, %s)",
            [refresh, user["id"], session_id],
        )
        now = int(time.time())
        expires_in = self.stack.jwt_expiry
        claims = {
            "aud": "authenticated",
            "exp": now + expires_in,
            "iat": now,
            "iss": f"{self.stack.url}/auth/v1",
            "sub": str(user["id"]),
            "email": user["email"],
            "phone": "",
            "app_metadata": user["raw_app_meta_data"] or {},
            "user_metadata": user["raw_user_meta_data"] or {},
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now}],
            "session_id": str(session_id),
            "is_anonymous": False,
        }
        return {
            "access_token": sign(claims, self.stack.jwt_secret),
            "token_type": "bearer",
            "expires_in": expires_in,
            "expires_at": now + expires_in,
            "refresh_token": refresh,
            "user": user_json(user),
        }

    async def signup(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        email = str(body.get("email") or "").strip()
        password = str(body.get("password") or "")
        if not _EMAIL.match(email):
            return _error(request, 400, "validation_failed",
                          "Unable to validate email address: invalid format")
        if len(password) < 6:
            return _error(request, 422, "weak_password", "Password should be at least 6 characters.",
                          weak_password={"reasons": ["length"]})
        confirm = self.stack.confirm_email
        async with self.stack.admin_pool.connection() as conn, conn.transaction():
            existing = await self._find_user(conn, email=email)
            if existing is not None:
                if not confirm:
                    return _error(request, 422, "user_already_exists", "User already registered")
                # With confirmations on GoTrue hides whether the address is registered.
                return _ok(user_json({**existing, "id": uuid.uuid4()}))
            now = datetime.now(UTC)
            await conn.execute(
                "insert into auth.users (id, email, encrypted_password, email_confirmed_at,"
                " confirmation_sent_at, raw_user_meta_data) values (%s, %s, %s, %s, %s, %s)",
                [uuid.uuid4(), email, hash_password(password), None if confirm else now,
                 now if confirm else None, json.dumps(body.get("data") or {})],
            )
            user = await self._find_user(conn, email=email)
            assert user is not None
            if confirm:
                return _ok(user_json(user))
            return _ok(await self._issue_session(conn, user))

    async def token(self, request: web.Request) -> web.Response:
        grant = request.query.get("grant_type")
        body = await self._json(request)
        if grant == "password":
            return await self._password_grant(request, body)
        if grant == "refresh_token":
            return await self._refresh_grant(request, body)
        return _error(request, 400, "validation_failed", f"unsupported grant_type {grant!r}")

    async def _password_grant(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        email = str(body.get("email") or "")
        async with self.stack.admin_pool.connection() as conn, conn.transaction():
            user = await self._find_user(conn, email=email)
            if user is None or not _password_ok(str(body.get("password") or ""),
                                                user["encrypted_password"]):
                return _error(request, 400, "invalid_credentials", "Invalid login credentials")
            if user["email_confirmed_at"] is None:
                return _error(request, 400, "email_not_confirmed", "Email not confirmed")
            await conn.execute("update auth.users set last_sign_in_at = now() where id = %s",
                               [user["id"]])
            user = await self._find_user(conn, user_id=user["id"])
            assert user is not None
            return _ok(await self._issue_session(conn, user))

    async def _refresh_grant(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        token = str(body.get("refresh_token") or "")
        async with self.stack.admin_pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "select user_id, session_id, revoked from auth.refresh_tokens where token = %s "
                "for update", [token],
            )
            found = await cur.fetchone()
            if found is None:
                return _error(request, 400, "refresh_token_not_found",
                              "Invalid Refresh Token: Refresh Token Not Found")
            user_id, session_id, revoked = found
            if revoked:
                return _error(request, 400, "refresh_token_already_used",
                              "Invalid Refresh Token: Already Used")
            await conn.execute("update auth.refresh_tokens set revoked = true where token = %s",
                               [token])
            user = await self._find_user(conn, user_id=user_id)
            assert user is not None
            return _ok(await self._issue_session(conn, user, session_id=session_id))

    async def _claims(self, request: web.Request) -> dict[str, Any] | web.Response:
        token = bearer(request.headers)
        try:
            claims = verify(token or "", self.stack.jwt_secret)
        except JwtRejected as exc:
            return _error(request, 403, "bad_jwt", f"invalid JWT: unable to parse or verify "
                          f"signature, {exc}")
        if claims.get("role") != "authenticated" or not claims.get("session_id"):
            return _error(request, 403, "bad_jwt", "invalid claim: missing sub claim")
        return claims

    async def _session_exists(self, conn: Any, claims: dict[str, Any]) -> bool:
        cur = await conn.execute("select 1 from auth.sessions where id = %s",
                                 [claims["session_id"]])
        return await cur.fetchone() is not None

    async def user(self, request: web.Request) -> web.Response:
        claims = await self._claims(request)
        if isinstance(claims, web.Response):
            return claims
        async with self.stack.admin_pool.connection() as conn, conn.transaction():
            if not await self._session_exists(conn, claims):
                return _error(request, 403, "session_not_found",
                              "Session from session_id claim in JWT does not exist")
            user = await self._find_user(conn, user_id=claims["sub"])
            if user is None:
                return _error(request, 403, "user_not_found",
                              "User from sub claim in JWT does not exist")
            return _ok(user_json(user))

    async def logout(self, request: web.Request) -> web.Response:
        claims = await self._claims(request)
        if isinstance(claims, web.Response):
            return claims
        scope = request.query.get("scope", "global")
        async with self.stack.admin_pool.connection() as conn, conn.transaction():
            if scope == "local":
                await conn.execute("delete from auth.sessions where id = %s",
                                   [claims["session_id"]])
            elif scope == "others":
                await conn.execute("delete from auth.sessions where user_id = %s and id <> %s",
                                   [claims["sub"], claims["session_id"]])
            else:
                await conn.execute("delete from auth.sessions where user_id = %s", [claims["sub"]])
        return web.Response(status=204, headers={"X-Supabase-Api-Version": API_VERSION})
