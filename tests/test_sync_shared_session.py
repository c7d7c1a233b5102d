"""The GUI and the CLI share one Supabase session (one SessionStore: session.json + keyring)
while GoTrue rotates the refresh token on every refresh and ends the whole session when a spent
token turns up after the reuse window. Real supabase-py clients, real HTTP, the stand-in's
GoTrue rules (tests/supabase_stack/auth_api.py); its reuse window and clock are set, never
waited for."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from supabase_auth.errors import AuthApiError
from supabase_auth.types import AuthResponse

from automata_desktop.sync import AuthError, SessionStore, SupabaseSettings, SyncAuth
from automata_desktop.sync.auth import SESSION_GONE
from tests.supabase_stack.devices import PASSWORD, Device, MemoryKeyring, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401
from tests.supabase_stack.tokens import sign, verify


class App:
    """One process on the computer (the GUI or the CLI): its own client over the shared store."""

    def __init__(self, stack, folder: Path, keyring: MemoryKeyring,
                 store_class: type[SessionStore] = SessionStore) -> None:
        self.events: list[tuple[str, str | None]] = []
        self.store = store_class(folder, stack.url, keyring_backend=keyring)
        self.auth = SyncAuth(SupabaseSettings(stack.url, stack.anon_key), self.store,
                             on_change=lambda event, account: self.events.append(
                                 (event, account.user_id if account else None)))

    def timer_fires(self) -> None:
        """What supabase-py's refresh timer does when it fires (10 s before expiry)."""
        timer = self.auth.client.auth._refresh_token_timer
        assert timer is not None, "no refresh scheduled"
        timer.cancel()
        timer._function()

    def bearer(self) -> str:
        return self.auth.client.options.headers["Authorization"].removeprefix("Bearer ")

    def sign_outs(self) -> int:
        return sum(1 for event, _ in self.events if event == "SIGNED_OUT")


class PausingStore(SessionStore):
    """A store whose next read runs `then` right after it (another process acting between
    this process reading the session and using what it read)."""

    then: Callable[[], None] | None = None

    def get_item(self, key: str) -> str | None:
        value = super().get_item(key)
        then, self.then = self.then, None
        if then is not None:
            then()
        return value


@pytest.fixture
def computer(supabase_stack, tmp_path):  # noqa: F811
    """The GUI signed in, and the CLI started afterwards on the same computer."""
    keyring, folder = MemoryKeyring(), tmp_path / "config"
    gui = App(supabase_stack, folder, keyring)
    email = unique_email("shared")
    assert gui.auth.sign_up(email, PASSWORD) is None
    supabase_stack.confirm_user(email)
    gui.auth.sign_in(email, PASSWORD)
    cli = App(supabase_stack, folder, keyring, store_class=PausingStore)
    assert cli.auth.restore() == gui.auth.account
    apps = (gui, cli)
    yield apps
    for app in apps:
        app.auth.close()


def stored_refresh_token(app: App) -> str:
    return json.loads(app.store.get_item("supabase.auth.token"))["refresh_token"]


def test_the_gui_and_the_cli_refreshing_in_turn_stay_signed_in(computer, supabase_stack):  # noqa: F811
    gui, cli = computer
    supabase_stack.refresh_token_reuse_interval = 0  # any spent token presented ends it all
    for _ in range(3):
        gui.timer_fires()
        cli.timer_fires()
        assert gui.auth.access_account().user_id == cli.auth.access_account().user_id

    assert supabase_stack.refreshes == ["ok"] * 6  # never a spent token
    for app in computer:
        assert app.auth.client.auth.get_user(app.bearer()).user.id == gui.auth.account.user_id
        assert app.sign_outs() == 0


def test_a_refresh_that_read_the_session_before_the_other_app_rotated_it_uses_the_new_token(
        computer, supabase_stack):  # noqa: F811
    gui, cli = computer
    supabase_stack.refresh_token_reuse_interval = 0
    # The CLI's timer reads the session; before it sends the refresh, the GUI refreshes twice.
    cli.store.then = lambda: (gui.timer_fires(), gui.timer_fires())

    cli.timer_fires()

    assert supabase_stack.refreshes == ["ok", "ok"]  # the CLI sent no spent token...
    assert cli.bearer() == gui.bearer()  # ...it took the GUI's new one
    for app in computer:
        assert app.auth.access_account() == gui.auth.account
        assert app.auth.client.auth.get_user(app.bearer()) is not None
        assert app.sign_outs() == 0


def test_a_session_ended_for_token_reuse_asks_each_app_to_sign_in_once(
        computer, supabase_stack):  # noqa: F811
    gui, cli = computer
    spent = stored_refresh_token(gui)
    gui.timer_fires()
    gui.timer_fires()  # `spent` is now two rotations old
    # Someone presents it (a copy of the old session file, say) 11 s later: outside the window.
    supabase_stack.clock = lambda: time.time() + 11
    reuse = httpx.post(f"{supabase_stack.url}/auth/v1/token?grant_type=refresh_token",
                       json={"refresh_token": spent}, headers={"apikey": supabase_stack.anon_key})
    assert reuse.json()["error_code"] == "refresh_token_already_used"
    before = len(supabase_stack.refreshes)

    gui.timer_fires()  # the GUI's next refresh finds the session ended
    for _ in range(3):
        for app in computer:
            with pytest.raises(AuthError):
                app.auth.access_account()
        cli.auth.notice_ended_elsewhere()

    assert supabase_stack.refreshes[before:] == ["refresh_token_not_found"]  # one try, no storm
    for app in computer:
        assert app.sign_outs() == 1 and app.auth.account is None
    with pytest.raises(AuthError, match="Not signed in"):
        cli.auth.access_account()  # after the one "session ended", plain "signed out"


def test_the_other_app_hears_once_that_the_session_ended(computer, supabase_stack):  # noqa: F811
    gui, cli = computer
    supabase_stack.sql("delete from auth.sessions where user_id = %s", gui.auth.account.user_id)
    gui.timer_fires()
    assert gui.sign_outs() == 1

    with pytest.raises(AuthError, match="expired or was signed out") as caught:
        cli.auth.access_account()
    assert str(caught.value) == SESSION_GONE
    cli.auth.notice_ended_elsewhere()
    assert cli.sign_outs() == 1 and cli.auth.account is None
    assert cli.auth.client.options.headers["Authorization"] == f"Bearer {supabase_stack.anon_key}"


def test_signing_out_in_the_cli_shows_in_the_gui_status_without_a_request(computer,
                                                                         supabase_stack):  # noqa: F811
    gui, cli = computer
    cli.auth.sign_out()
    before = len(supabase_stack.refreshes)
    gui.auth.notice_ended_elsewhere()  # what the GUI's status poll calls
    assert gui.sign_outs() == 1 and gui.auth.account is None
    assert supabase_stack.refreshes[before:] == []


# The stand-in's GoTrue rules, through the real client


@pytest.fixture
def device(supabase_stack, tmp_path):  # noqa: F811
    dev = Device(supabase_stack, tmp_path / "laptop")
    yield dev
    dev.close()


def refresh_with(device: Device, refresh_token: str) -> AuthResponse:
    """supabase-py's refresh grant as it is, without the app's shared-store handling."""
    return device.auth._refresh_over_network(refresh_token)


def rotate(device: Device, times: int) -> list[str]:
    """Refresh `times` times; the refresh tokens used, oldest first."""
    used = []
    for _ in range(times):
        session = device.auth.client.auth.get_session()
        used.append(session.refresh_token)
        device.auth.client.auth.refresh_session()
    return used


def test_a_spent_refresh_token_still_works_within_the_reuse_window(device, supabase_stack):  # noqa: F811
    device.sign_up(unique_email("window"))
    first, _second = rotate(device, 2)
    assert refresh_with(device, first).session is not None
    assert supabase_stack.refreshes == ["ok", "ok", "reused"]


def test_the_parent_of_the_current_token_is_accepted_even_after_the_window(device,
                                                                           supabase_stack):  # noqa: F811
    supabase_stack.refresh_token_reuse_interval = 0
    device.sign_up(unique_email("parent"))
    [parent] = rotate(device, 1)
    current = device.auth.client.auth.get_session().refresh_token
    # The client never stored the answer to its last refresh: GoTrue hands that one back.
    assert refresh_with(device, parent).session.refresh_token == current


def test_reuse_after_the_window_ends_the_whole_session(device, supabase_stack):  # noqa: F811
    device.sign_up(unique_email("thief"))
    first, _second = rotate(device, 2)
    current = device.auth.client.auth.get_session()
    supabase_stack.clock = lambda: time.time() + 10.5

    with pytest.raises(AuthApiError) as reused:
        refresh_with(device, first)
    assert reused.value.code == "refresh_token_already_used"
    with pytest.raises(AuthApiError) as later:
        refresh_with(device, current.refresh_token)
    assert later.value.code == "refresh_token_not_found"
    with pytest.raises(AuthApiError) as access:
        device.auth.client.auth.get_user(current.access_token)
    assert access.value.code == "session_not_found"
    session_id = verify(current.access_token)["session_id"]
    assert supabase_stack.sql("select 1 from auth.sessions where id = %s", session_id) == []


# The store


def test_the_store_never_puts_back_an_older_rotation_of_the_session(tmp_path):
    store = SessionStore(tmp_path, "http://project", keyring_backend=MemoryKeyring())

    def session(iat: int, refresh: str, session_id: str = "s1") -> str:
        token = sign({"sub": "u1", "role": "authenticated", "session_id": session_id,
                      "iat": iat, "exp": iat + 3600})
        return json.dumps({"access_token": token, "refresh_token": refresh,
                           "expires_at": iat + 3600})

    store.set_item("supabase.auth.token", session(2000, "newer"))
    store.set_item("supabase.auth.token", session(1000, "spent"))  # read before the refresh
    assert json.loads(store.get_item("supabase.auth.token"))["refresh_token"] == "newer"

    store.set_item("supabase.auth.token", session(1000, "other", session_id="s2"))  # sign-in
    assert json.loads(store.get_item("supabase.auth.token"))["refresh_token"] == "other"
