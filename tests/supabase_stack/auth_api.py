"""The GoTrue (/auth/v1) subset supabase-py's sign-up, sign-in, refresh, user and logout use,
plus /verify, where the link in a confirmation email lands.

Error bodies follow GoTrue: with the client's `X-Supabase-Api-Version: 2024-01-01` header the
body is `{"code": <error code>, "message": ...}` and the response echoes the version header;
older clients get `{"code": <status>, "error_code": ..., "msg": ...}`.

What a real project does that an app must cope with (supabase/auth `internal/api/signup.go`,
`mail.go`, `internal/tokens/service.go`):
- "Confirm email" is on: sign-up returns a user and no session, and mails a link to /verify,
  which confirms the address and redirects to the project's Site URL (`http://localhost:3000`
  unless changed), a page a desktop app does not have.
- A repeat sign-up of a confirmed address answers 200 with a made-up user (random id, no
  identities, no session) and sends nothing, so nobody learns which addresses are registered.
- The built-in mailer only sends to the project's team members: anyone else gets 400
  `email_address_not_authorized` and no account is created.
- Refresh tokens rotate. A used token is still accepted when it is the parent of the session's
  current token (the client lost the answer) or within the reuse interval (10 s); past that it
  counts as stolen: the whole session ends, for every process that shares it.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from aiohttp import web

from .tokens import JwtRejected, bearer, sign, verify

if TYPE_CHECKING:
    from .server import SupabaseStack

API_VERSION = "2024-01-01"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: GOTRUE_SMTP_MAX_FREQUENCY: one confirmation email per address per minute.
MAIL_MAX_FREQUENCY_S = 60


@dataclass(frozen=True, slots=True)
class SentMail:
    """An email GoTrue sent: to whom, what for, and the link in it."""

    to: str
    kind: str
    link: str


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


def _identity_json(row: dict[str, Any]) -> dict[str, Any]:
    """The email identity every real user has (the obfuscated repeat sign-up has none)."""
    user_id = str(row["id"])
    return {
        "identity_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"identity:{user_id}")),
        "id": user_id,
        "user_id": user_id,
        "identity_data": {"sub": user_id, "email": row["email"],
                          "email_verified": row["email_confirmed_at"] is not None,
                          "phone_verified": False},
        "provider": "email",
        "email": row["email"],
        "last_sign_in_at": _iso(row["last_sign_in_at"]) or _iso(row["created_at"]),
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
    }


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
        "identities": [_identity_json(row)],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "is_anonymous": False,
    }


def obfuscated_user_json(email: str, data: dict[str, Any]) -> dict[str, Any]:
    """GoTrue's sanitizeUser: what a repeat sign-up of a confirmed address gets back."""
    now = datetime.now(UTC).isoformat()
    return {
        "id": str(uuid.uuid4()), "aud": "authenticated", "role": "", "email": email,
        "phone": "", "email_confirmed_at": None, "confirmed_at": None,
        "confirmation_sent_at": now, "last_sign_in_at": None,
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": data, "identities": [], "created_at": now, "updated_at": now,
        "is_anonymous": False,
    }


class AuthApi:
    def __init__(self, stack: SupabaseStack) -> None:
        self.stack = stack

    @staticmethod
    def reset_settings(stack: SupabaseStack) -> None:
        """The stack's GoTrue switches, as a new hosted project has them."""
        #: "Confirm email", on by default: sign-up returns no session until the link is opened.
        stack.confirm_email = True
        #: Where confirmation links end (Authentication -> URL Configuration -> Site URL).
        stack.site_url = "http://localhost:3000"
        #: Who the mailer may write to: None once custom SMTP is set up (the stand-in's default,
        #: so tests may sign up any address), a set of team members for the built-in mailer.
        stack.mail_recipients = None
        #: Every email sent, in order.
        stack.mailbox = []
        #: GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL, seconds.
        stack.refresh_token_reuse_interval = 10.0
        #: GoTrue's clock for the reuse window and the mail frequency: tests move it, never sleep.
        stack.clock = time.time
        #: The outcome of every refresh-token request: "ok", "reused" or GoTrue's error code.
        stack.refreshes = []

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/auth/v1/signup", self.signup),
            web.get("/auth/v1/verify", self.verify),
            web.post("/auth/v1/token", self.token),
            web.get("/auth/v1/user", self.user),
            web.post("/auth/v1/logout", self.logout),
        ]

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.stack.clock(), UTC)

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
                             session_id: uuid.UUID | None = None, *,
                             refresh: str | None = None, parent: str | None = None
                             ) -> dict[str, Any]:
        """A new access token; with `refresh`, one the session already holds, else a new one."""
        if session_id is None:
            session_id = uuid.uuid4()
            await conn.execute(
                "insert into auth.sessions (id, user_id) values (%s, %s)", [session_id, user["id"]]
            )
        if refresh is None:
            refresh = secrets.token_urlsafe(16)
            await conn.execute(
                "insert into auth.refresh_tokens (token, user_id, session_id, parent)"
                " values (%s, %s, %s, %s)", [refresh, user["id"], session_id, parent],
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

    # sign-up and the confirmation email

    async def signup(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        email = str(body.get("email") or "").strip()
        password = str(body.get("password") or "")
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        if not _EMAIL.match(email):
            return _error(request, 400, "validation_failed",
                          "Unable to validate email address: invalid format")
        if len(password) < 6:
            return _error(request, 422, "weak_password", "Password should be at least 6 characters.",
                          weak_password={"reasons": ["length"]})
        confirm = self.stack.confirm_email
        async with self.stack.admin_pool.connection() as conn, conn.transaction():
            user = await self._find_user(conn, email=email)
            if user is not None and user["email_confirmed_at"] is not None:
                if not confirm:
                    return _error(request, 422, "user_already_exists", "User already registered")
                # Confirmations on: GoTrue does not tell whether the address is registered.
                return _ok(obfuscated_user_json(email, data))
            if confirm:
                refused = self._mail_refused(request, email, user)
                if refused is not None:
                    return refused  # before any insert: no account is left behind
            if user is None:
                await conn.execute(
                    "insert into auth.users (id, email, encrypted_password, raw_user_meta_data)"
                    " values (%s, %s, %s, %s)",
                    [uuid.uuid4(), email, hash_password(password), json.dumps(data)],
                )
            if not confirm:
                await conn.execute("update auth.users set email_confirmed_at = now() "
                                   "where lower(email) = lower(%s)", [email])
                user = await self._find_user(conn, email=email)
                assert user is not None
                return _ok(await self._issue_session(conn, user))
            user = await self._send_confirmation(conn, request, email)
            return _ok(user_json(user))

    def _mail_refused(self, request: web.Request, email: str,
                      user: dict[str, Any] | None) -> web.Response | None:
        allowed = self.stack.mail_recipients
        if allowed is not None and email.lower() not in {a.lower() for a in allowed}:
            return _error(request, 400, "email_address_not_authorized",
                          f"Email address {json.dumps(email)} cannot be used as it is not "
                          "authorized")
        sent = user["confirmation_sent_at"] if user is not None else None
        if sent is not None:
            wait = MAIL_MAX_FREQUENCY_S - (self._now() - sent).total_seconds()
            if wait > 0:
                return _error(request, 429, "over_email_send_rate_limit",
                              "For security purposes, you can only request this after "
                              f"{int(wait) + 1} seconds.")
        return None

    async def _send_confirmation(self, conn: Any, request: web.Request,
                                 email: str) -> dict[str, Any]:
        token = secrets.token_urlsafe(24)
        await conn.execute("update auth.users set confirmation_token = %s, "
                           "confirmation_sent_at = %s where lower(email) = lower(%s)",
                           [token, self._now(), email])
        # The app passes no redirect_to, so the link ends on the Site URL (as it would anyway
        # for any address missing from the project's Redirect URLs).
        redirect = request.query.get("redirect_to") or self.stack.site_url
        link = (f"{self.stack.url}/auth/v1/verify?token={token}&type=signup"
                f"&redirect_to={quote(redirect, safe='')}")
        self.stack.mailbox.append(SentMail(email, "signup", link))
        user = await self._find_user(conn, email=email)
        assert user is not None
        return user

    async def verify(self, request: web.Request) -> web.Response:
        """The link in the email: confirms the address, then redirects to the Site URL with the
        new session in the fragment (the implicit flow), or with the error when the link is
        stale. Either way the browser ends on the Site URL."""
        token = request.query.get("token", "")
        target = request.query.get("redirect_to") or self.stack.site_url
        if not target.startswith(self.stack.site_url):
            target = self.stack.site_url  # not an allowed redirect URL
        async with self.stack.admin_pool.connection() as conn, conn.transaction():
            from psycopg.rows import dict_row

            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("select * from auth.users where confirmation_token = %s "
                              "and confirmation_token <> ''", [token])
            user = await cur.fetchone()
            if user is None:
                fragment = urlencode({"error": "access_denied", "error_code": "otp_expired",
                                      "error_description": "Email link is invalid or has expired"})
                raise web.HTTPSeeOther(f"{target}#{fragment}")
            await conn.execute("update auth.users set email_confirmed_at = now(), "
                               "confirmation_token = '', last_sign_in_at = now() where id = %s",
                               [user["id"]])
            user = await self._find_user(conn, user_id=user["id"])
            assert user is not None
            session = await self._issue_session(conn, user)
        fragment = urlencode({key: session[key] for key in
                              ("access_token", "expires_at", "expires_in", "refresh_token",
                               "token_type")} | {"type": "signup"})
        raise web.HTTPSeeOther(f"{target}#{fragment}")

    # tokens

    async def token(self, request: web.Request) -> web.Response:
        grant = request.query.get("grant_type")
        body = await self._json(request)
        if grant == "password":
            return await self._password_grant(request, body)
        if grant == "refresh_token":
            outcome, response = await self._refresh_grant(request, body)
            self.stack.refreshes.append(outcome)
            return response
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

    async def _refresh_grant(self, request: web.Request, body: dict[str, Any]
                             ) -> tuple[str, web.Response]:
        """GoTrue's refresh-token rotation; returns ("ok" | "reused" | error code, response)."""
        token = str(body.get("refresh_token") or "")
        async with self.stack.admin_pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "select user_id, session_id, revoked, updated_at from auth.refresh_tokens "
                "where token = %s for update", [token],
            )
            found = await cur.fetchone()
            if found is None:  # never issued, or its session ended (cascade)
                return "refresh_token_not_found", _error(
                    request, 400, "refresh_token_not_found",
                    "Invalid Refresh Token: Refresh Token Not Found")
            user_id, session_id, revoked, revoked_at = found
            user = await self._find_user(conn, user_id=user_id)
            assert user is not None
            if not revoked:
                await conn.execute("update auth.refresh_tokens set revoked = true, "
                                   "updated_at = %s where token = %s", [self._now(), token])
                return "ok", _ok(await self._issue_session(conn, user, session_id, parent=token))
            cur = await conn.execute(
                "select token, parent from auth.refresh_tokens where session_id = %s and "
                "not revoked order by id desc limit 1", [session_id])
            active = await cur.fetchone()
            if active is not None and active[1] == token:
                # The client never stored the answer to its last refresh: hand that one back.
                return "reused", _ok(await self._issue_session(conn, user, session_id,
                                                               refresh=active[0]))
            window = self.stack.refresh_token_reuse_interval
            if (self._now() - revoked_at).total_seconds() > window:
                # Taken as a stolen token: the session ends (its refresh tokens go with it by
                # cascade, and its access tokens stop working at /user), committed with the error.
                await conn.execute("delete from auth.sessions where id = %s", [session_id])
                return "refresh_token_already_used", _error(
                    request, 400, "refresh_token_already_used",
                    "Invalid Refresh Token: Already Used")
            return "reused", _ok(await self._issue_session(conn, user, session_id, parent=token))

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
