"""The signed-in Supabase account: sign up, sign in, sign out, and a session that survives restarts.

supabase-py refreshes the access token on a background `threading.Timer` 10 s before it expires,
so `on_change` may be called from that timer thread: a GUI must marshal it (a Qt signal).

Sign-up on a real project ("Confirm email" on, the default) ends in one of four ways, and each
needs its own words: a session (confirmations off); a confirmation email (CONFIRMATION_SENT);
a 200 that looks the same but carries a made-up user with no identities, which is how GoTrue
answers for an address that already has an account (it sends nothing); or 400
`email_address_not_authorized` from the built-in mailer, which only writes to the project's
team. No `email_redirect_to` is passed: GoTrue honours it only for URLs on the project's
Redirect URLs list (otherwise it uses the Site URL anyway) and a desktop app has no page to land
on. The link confirms the address at GoTrue before redirecting, so whatever the Site URL shows,
the user then signs in here with the password.

The GUI and the CLI share one session through the SessionStore, and GoTrue rotates the refresh
token on every refresh; presenting a spent one after the reuse window (10 s) ends the session
for both. Every refresh supabase-py makes (its timer, `get_session`, `set_session`) therefore
goes through `_refresh_shared`: under the store's cross-process lock it re-reads the store and
adopts a session another process already refreshed instead of refreshing a spent token. When
the session ends anyway, it is removed from the store and SIGNED_OUT is announced once, here and
(through the store) in every other process, with no further request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from supabase import Client
from supabase_auth.constants import EXPIRY_MARGIN, STORAGE_KEY
from supabase_auth.errors import (
    AuthApiError,
    AuthRetryableError,
    AuthSessionMissingError,
)
from supabase_auth.errors import AuthError as SupabaseAuthError
from supabase_auth.types import AuthResponse, Session

from automata_desktop.sync.client import DEFAULT_TIMEOUT, create_supabase_client
from automata_desktop.sync.errors import AuthError, SyncOffline
from automata_desktop.sync.messages import already_registered, not_authorized, not_confirmed
from automata_desktop.sync.session_store import SessionStore
from automata_desktop.sync.settings import SupabaseSettings

log = logging.getLogger(__name__)

SESSION_GONE = ("Your Supabase session has expired or was signed out (in the other app or on "
                "another device); sign in again")
_SESSION_GONE_CODES = frozenset({"refresh_token_not_found", "refresh_token_already_used",
                                 "session_not_found", "session_expired", "user_not_found",
                                 "user_banned", "bad_jwt"})
#: A refused refresh with one of these statuses means the session is over (429 and 409 pass).
_SESSION_GONE_STATUSES = frozenset({400, 401, 403, 404})


@dataclass(frozen=True, slots=True)
class Account:
    user_id: str
    email: str | None


#: Called with the auth event name ("SIGNED_IN", "TOKEN_REFRESHED", "SIGNED_OUT", ...) and the
#: account afterwards (None once signed out).
AuthListener = Callable[[str, Account | None], None]


def _account(session: Session | None) -> Account | None:
    return Account(session.user.id, session.user.email) if session else None


def _expiring(session: Session) -> bool:
    """supabase-py's own test for "refresh before use"."""
    return session.expires_at is not None and session.expires_at <= time.time() + EXPIRY_MARGIN


def _session_gone(exc: AuthApiError) -> bool:
    return exc.code in _SESSION_GONE_CODES or (
        exc.status in _SESSION_GONE_STATUSES and exc.code != "over_request_rate_limit")


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
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=DEFAULT_TIMEOUT)
        # Creating the client reads the stored session and refreshes it if it already expired
        # (silently staying anonymous if that fails; restore() reports it): under the store's
        # lock, so it cannot refresh a token another process is refreshing right now.
        with store.exclusive():
            self.client: Client = create_supabase_client(settings, store, http_client=self._http)
        gotrue = self.client.auth
        self._refresh_over_network = gotrue._refresh_access_token
        self._call_refresh_unlocked = gotrue._call_refresh_token
        # supabase-py's two ways into the refresh grant; instance attributes shadow its methods.
        gotrue._refresh_access_token = self._refresh_shared  # type: ignore[method-assign]
        gotrue._call_refresh_token = self._call_refresh_locked  # type: ignore[method-assign]
        self._account = self._peek_stored_account()
        gotrue.on_auth_state_change(self._on_event)

    @property
    def account(self) -> Account | None:
        """Who is signed in on this device, as far as we know without asking the server."""
        return self._account

    def restore(self) -> Account | None:
        """Resume the session from the last run and start refreshing it in the background.

        Offline, the stored account stays signed in (sync waits for the network). A session
        the server no longer honours is removed and raises AuthError(SESSION_GONE).
        """
        # Locked: the GET /user below ends with the session written back, which must not
        # overwrite what another process refreshed meanwhile.
        with self.store.exclusive():
            session = self._stored_session()
            if session is None:
                self._notice_ended_elsewhere()
                return None
            try:
                # A still-valid token is checked with GET /user, an expired one refreshed; both
                # start the client's refresh timer and emit SIGNED_IN / TOKEN_REFRESHED.
                self.client.auth.set_session(session.access_token, session.refresh_token)
            except (AuthRetryableError, httpx.TransportError):
                log.info("Supabase unreachable; keeping the stored session for %s",
                         session.user.email)
                return self._account
            except AuthApiError as exc:
                if not _session_gone(exc):
                    raise AuthError(f"Supabase refused the stored session for now "
                                    f"({exc.message}); try again later", exc.code) from exc
                self._end_session()
                raise AuthError(SESSION_GONE, exc.code) from exc
            except AuthSessionMissingError as exc:
                self._end_session()
                raise AuthError(SESSION_GONE) from exc
        return self._account

    def sign_up(self, email: str, password: str) -> Account | None:
        """Create an account. Returns it signed in, or None when Supabase mailed a link to
        confirm the address first (tell the user `confirmation_sent(email)`).

        Raises AuthError when the address already has an account, and when the project cannot
        mail it (the built-in mailer's team-only rule).
        """
        email = self._check_email(email)
        try:
            response = self.client.auth.sign_up({"email": email, "password": password})
        except SupabaseAuthError as exc:
            raise self._translate(exc, email) from exc
        if response.session is not None:
            return _account(response.session)
        user = response.user
        if user is not None and user.identities is not None and not user.identities:
            # GoTrue's answer for a confirmed address: a made-up user, no mail sent.
            raise AuthError(already_registered(email), "user_already_exists")
        return None

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
        with self.store.exclusive():
            try:
                session = self.client.auth.get_session()
            except (AuthRetryableError, httpx.TransportError) as exc:
                raise SyncOffline(f"Cannot reach Supabase at {self.settings.url}") from exc
            except AuthApiError as exc:
                if not _session_gone(exc):
                    raise SyncOffline(f"Supabase refused to refresh the session for now "
                                      f"({exc.message}); sync tries again later") from exc
                self._end_session()
                raise AuthError(SESSION_GONE, exc.code) from exc
            except AuthSessionMissingError as exc:
                self._end_session()
                raise AuthError(SESSION_GONE) from exc
            if session is None:
                if self._notice_ended_elsewhere():
                    raise AuthError(SESSION_GONE)
                raise AuthError("Not signed in to Supabase; sign in to sync your library")
            self._adopt(session)
        account = _account(session)
        assert account is not None
        return account

    def notice_ended_elsewhere(self) -> None:
        """Without a request: if the session left the shared store (signed out or ended in the
        other app), announce SIGNED_OUT here too. Cheap enough for a status poll."""
        self._notice_ended_elsewhere()

    def close(self) -> None:
        """Stop the background refresh and close connections (the session stays stored)."""
        timer = self.client.auth._refresh_token_timer
        if timer is not None:
            timer.cancel()
        if self._owns_http:
            self._http.close()

    # the shared session

    def _call_refresh_locked(self, refresh_token: str) -> Session:
        """supabase-py's refresh-save-announce, with the save inside the store's lock too."""
        with self.store.exclusive():
            return self._call_refresh_unlocked(refresh_token)

    def _refresh_shared(self, refresh_token: str) -> AuthResponse:
        """The refresh grant for a session other processes share. `refresh_token` is what the
        caller read a moment ago; the store, read again under the lock, may hold a newer one."""
        with self.store.exclusive():
            stored = self._stored_session()
            if stored is None:
                # Signed out or ended in another process since the caller read it.
                self._end_session()
                raise AuthSessionMissingError()
            if stored.refresh_token != refresh_token:
                if not _expiring(stored):
                    log.debug("Using the session another process just refreshed")
                    return AuthResponse(session=stored, user=stored.user)
                refresh_token = stored.refresh_token
            try:
                response = self._refresh_over_network(refresh_token)
            except AuthApiError as exc:
                if _session_gone(exc):
                    log.info("Supabase ended the session (%s): %s", exc.code, exc.message)
                    self._end_session()
                raise
            if response.session is not None:
                self.store.set_item(STORAGE_KEY, response.session.model_dump_json())
            return response

    def _adopt(self, session: Session) -> None:
        """Send `session`'s access token from now on if another process refreshed it (this
        process's requests would otherwise carry its older token until that expires)."""
        if self.client.options.headers.get("Authorization") == f"Bearer {session.access_token}":
            return
        same_user = self._account is not None and self._account.user_id == session.user.id
        self.client.auth._save_session(session)  # also re-times this process's refresh
        self.client.auth._notify_all_subscribers(
            "TOKEN_REFRESHED" if same_user else "SIGNED_IN", session)

    def _end_session(self) -> None:
        """The session is over (Supabase revoked it, or it was signed out elsewhere): forget it
        here and in the shared store, without asking Supabase (it already forgot it), and
        announce SIGNED_OUT; `_set_account` makes sure listeners hear it once."""
        self.client.auth._remove_session()  # the stored session and this process's timer
        self.client.auth._notify_all_subscribers("SIGNED_OUT", None)  # headers back to anon

    def _notice_ended_elsewhere(self) -> bool:
        if self._account is None or self._stored_session() is not None:
            return False
        log.info("The Supabase session was signed out or ended in another process")
        self._end_session()
        return True

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
            "email_not_confirmed": not_confirmed(email),
            "user_already_exists": already_registered(email),
            "email_exists": already_registered(email),
            "email_address_not_authorized": not_authorized(email),
            "over_request_rate_limit": "Too many attempts; wait a minute and try again",
            "over_email_send_rate_limit": ("Supabase emailed this address moments ago (it "
                                           "sends one email a minute per address); check the "
                                           "inbox, or wait a minute and try again"),
            "signup_disabled": "Sign-ups are disabled for this Supabase project",
        }.get(code or "")
        if message is None and code in _SESSION_GONE_CODES:
            message = SESSION_GONE
        if message is None:
            message = f"Supabase refused: {exc.message}"
        return AuthError(message, code)
