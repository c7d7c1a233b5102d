"""The signed-in Supabase account: sign up, sign in, sign out, and a session that survives restarts.

supabase-py refreshes the access token on a background `threading.Timer` 10 s before it expires,
so `on_change` may be called from that timer thread: a GUI must marshal it (a Qt signal).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from supabase import Client
from supabase_auth.constants import STORAGE_KEY
from supabase_auth.errors import (
    AuthApiError,
    AuthRetryableError,
    AuthSessionMissingError,
)
from supabase_auth.errors import AuthError as SupabaseAuthError
from supabase_auth.types import Session

from automata_desktop.sync.client import DEFAULT_TIMEOUT, create_supabase_client
from automata_desktop.sync.errors import AuthError, SyncOffline
from automata_desktop.sync.session_store import SessionStore
from automata_desktop.sync.settings import SupabaseSettings

log = logging.getLogger(__name__)

SESSION_GONE = ("Your Supabase session has expired or was signed out on another device; "
                "sign in again")
_SESSION_GONE_CODES = frozenset({"refresh_token_not_found", "refresh_token_already_used",
                                 "session_not_found", "session_expired", "user_not_found",
                                 "bad_jwt"})


@dataclass(frozen=True, slots=True)
class Account:
    user_id: str
    email: str | None


#: Called with the auth event name ("SIGNED_IN", "TOKEN_REFRESHED", "SIGNED_OUT", ...) and the
#: account afterwards (None once signed out).
AuthListener = Callable[[str, Account | None], None]


def _account(session: Session | None) -> Account | None:
    return Account(session.user.id, session.user.email) if session else None


class SyncAuth:
    """Owns the supabase-py client. Construct it off the GUI thread: if the stored session has
    expired, the client refreshes it over the network right away (≤ 5 s connect timeout)."""

    def __init__(self, settings: SupabaseSettings, store: SessionStore, *,
                 on_change: AuthListener | None = None,
                 http_client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.store = store
        self._on_change = on_change
        self._lock = threading.Lock()
        # Reads the stored session; refreshes it over the network only if it already expired
        # (and silently stays anonymous if that fails; restore() reports it).
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=DEFAULT_TIMEOUT)
        self.client: Client = create_supabase_client(settings, store, http_client=self._http)
        self._account = self._peek_stored_account()
        self.client.auth.on_auth_state_change(self._on_event)

    @property
    def account(self) -> Account | None:
        """Who is signed in on this device, as far as we know without asking the server."""
        return self._account

    def restore(self) -> Account | None:
        """Resume the session from the last run and start refreshing it in the background.

        Offline, the stored account stays signed in (sync waits for the network). A session
        the server no longer honours is removed and raises AuthError(SESSION_GONE).
        """
        session = self._stored_session()
        if session is None:
            return None
        try:
            # A still-valid token is checked with GET /user, an expired one refreshed; both
            # start the client's refresh timer and emit SIGNED_IN / TOKEN_REFRESHED.
            self.client.auth.set_session(session.access_token, session.refresh_token)
        except AuthRetryableError:
            log.info("Supabase unreachable; keeping the stored session for %s", session.user.email)
            return self._account
        except (AuthApiError, AuthSessionMissingError) as exc:
            self._drop_local_session()
            raise AuthError(SESSION_GONE, getattr(exc, "code", None)) from exc
        return self._account

    def sign_up(self, email: str, password: str) -> Account | None:
        """Create an account. Returns it signed in, or None when the project requires the
        email to be confirmed first (the user then clicks the link and signs in)."""
        email = self._check_email(email)
        try:
            response = self.client.auth.sign_up({"email": email, "password": password})
        except SupabaseAuthError as exc:
            raise self._translate(exc, email) from exc
        return _account(response.session)

    def sign_in(self, email: str, password: str) -> Account:
        email = self._check_email(email)
        try:
            response = self.client.auth.sign_in_with_password(
                {"email": email, "password": password})
        except SupabaseAuthError as exc:
            raise self._translate(exc, email) from exc
        account = _account(response.session)
        if account is None:
            raise AuthError("Supabase accepted the sign-in but returned no session; try again")
        return account

    def sign_out(self) -> None:
        """Sign this device out. Works offline (the server-side session then just expires)."""
        try:
            self.client.auth.sign_out({"scope": "local"})
        except (AuthRetryableError, httpx.TransportError) as exc:
            log.info("Signed out locally; could not tell Supabase (%s)", exc)
        except SupabaseAuthError as exc:
            log.info("Signed out locally; Supabase said: %s", exc)
        self._set_account("SIGNED_OUT", None)

    def access_account(self) -> Account:
        """The signed-in account with a usable access token, refreshing it if due.

        Raises AuthError when signed out or the session is gone, SyncOffline when the token
        needs refreshing and Supabase is unreachable.
        """
        try:
            session = self.client.auth.get_session()
        except (AuthRetryableError, httpx.TransportError) as exc:
            raise SyncOffline(f"Cannot reach Supabase at {self.settings.url}") from exc
        except (AuthApiError, AuthSessionMissingError) as exc:
            self._drop_local_session()
            raise AuthError(SESSION_GONE, getattr(exc, "code", None)) from exc
        if session is None:
            raise AuthError("Not signed in to Supabase; sign in to sync your library")
        account = _account(session)
        assert account is not None
        return account

    def close(self) -> None:
        """Stop the background refresh and close connections (the session stays stored)."""
        timer = self.client.auth._refresh_token_timer
        if timer is not None:
            timer.cancel()
        if self._owns_http:
            self._http.close()

    # internals

    def _stored_session(self) -> Session | None:
        raw = self.store.get_item(STORAGE_KEY)
        if not raw:
            return None
        try:
            return Session.model_validate_json(raw)
        except ValueError:
            return None

    def _peek_stored_account(self) -> Account | None:
        return _account(self._stored_session())

    def _drop_local_session(self) -> None:
        try:
            self.client.auth.sign_out({"scope": "local"})
        except Exception as exc:  # the server may be gone or already forgot the session
            log.debug("local sign-out: %s", exc)
        self.store.remove_item(STORAGE_KEY)
        self._set_account("SIGNED_OUT", None)

    def _on_event(self, event: str, session: Session | None) -> None:
        if event == "SIGNED_OUT":
            self._set_account(event, None)
        elif session is not None:
            self._set_account(event, _account(session))

    def _set_account(self, event: str, account: Account | None) -> None:
        with self._lock:
            changed = account != self._account or event != "SIGNED_OUT"
            self._account = account
        if changed and self._on_change is not None:
            try:
                self._on_change(event, account)
            except Exception:  # a listener's bug must not break the auth client's timer
                log.exception("auth listener failed")

    @staticmethod
    def _check_email(email: str) -> str:
        email = email.strip()
        if "@" not in email or email.startswith("@") or email.endswith("@"):
            raise AuthError(f"{email!r} is not an email address")
        return email

    def _translate(self, exc: SupabaseAuthError, email: str) -> AuthError | SyncOffline:
        if isinstance(exc, AuthRetryableError):
            return SyncOffline(f"Cannot reach Supabase at {self.settings.url}; check your "
                               "connection and try again")
        code = getattr(exc, "code", None)
        message = {
            "invalid_credentials": "Wrong email or password",
            "email_not_confirmed": (f"Confirm your email first: open the link Supabase sent to "
                                    f"{email}, then sign in"),
            "user_already_exists": f"An account for {email} already exists; sign in instead",
            "email_exists": f"An account for {email} already exists; sign in instead",
            "over_request_rate_limit": "Too many attempts; wait a minute and try again",
            "over_email_send_rate_limit": ("Too many emails sent to this address; wait a few "
                                           "minutes and try again"),
            "signup_disabled": "Sign-ups are disabled for this Supabase project",
        }.get(code or "")
        if message is None and code in _SESSION_GONE_CODES:
            message = SESSION_GONE
        if message is None:
            message = f"Supabase refused: {exc.message}"
        return AuthError(message, code)
