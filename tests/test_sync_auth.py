"""Signing in to Supabase from the desktop app: real supabase-py client, real HTTP, real
PostgreSQL behind a local GoTrue/PostgREST/Storage look-alike (tests/supabase_stack)."""

from __future__ import annotations

import json
import stat
import time

import pytest
from keyring.backends import fail

from automata_desktop.errors import AutomataError, ConfigError
from automata_desktop.sync import AuthError, SupabaseSettings
from tests.supabase_stack.devices import PASSWORD, Device, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401
from tests.supabase_stack.tokens import api_key


@pytest.fixture
def device(supabase_stack, tmp_path):  # noqa: F811
    dev = Device(supabase_stack, tmp_path / "laptop")
    yield dev
    dev.close()


def test_sign_up_signs_the_user_in_when_the_project_does_not_confirm_emails(device):
    email = unique_email("ada")
    account = device.auth.sign_up(email, PASSWORD)

    assert account is not None and account.email == email
    assert device.auth.account == account
    assert ("SIGNED_IN", account.user_id) in device.events


def test_sign_in_then_sign_out(device):
    email = unique_email("bob")
    device.sign_up(email)
    device.auth.sign_out()
    assert device.auth.account is None

    account = device.auth.sign_in(email, PASSWORD)
    assert account.email == email
    device.auth.sign_out()
    assert device.auth.account is None
    assert device.events[-1] == ("SIGNED_OUT", None)


def test_wrong_password_says_so(device):
    email = unique_email("carol")
    device.sign_up(email)
    device.auth.sign_out()

    with pytest.raises(AuthError, match="Wrong email or password") as caught:
        device.auth.sign_in(email, "not my password")
    assert caught.value.code == "invalid_credentials"
    assert isinstance(caught.value, AutomataError)
    assert device.auth.account is None


def test_unconfirmed_email_tells_the_user_to_open_the_link(device, supabase_stack):  # noqa: F811
    supabase_stack.confirm_email = True
    email = unique_email("dan")

    assert device.auth.sign_up(email, PASSWORD) is None  # "check your inbox"
    with pytest.raises(AuthError, match=f"Confirm your email first.*{email}"):
        device.auth.sign_in(email, PASSWORD)

    supabase_stack.confirm_user(email)
    assert device.auth.sign_in(email, PASSWORD).email == email


def test_signing_up_twice_suggests_signing_in(device):
    email = unique_email("eve")
    device.sign_up(email)
    with pytest.raises(AuthError, match="already exists; sign in instead"):
        device.auth.sign_up(email, PASSWORD)


def test_session_survives_a_restart_with_the_refresh_token_in_the_keyring(device):
    email = unique_email("fay")
    user_id = device.sign_up(email)

    device.restart()
    assert device.auth.account is not None and device.auth.account.user_id == user_id
    assert device.auth.restore().user_id == user_id

    session_file = device.auth.store.path
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600
    stored = json.loads(json.loads(session_file.read_text())["supabase.auth.token"])
    assert stored["refresh_token"] == "<keyring>"
    assert device.auth.store.secure
    assert len(device.keyring.secrets) == 1


def test_without_a_keyring_the_session_is_kept_in_a_private_file(supabase_stack, tmp_path):  # noqa: F811
    dev = Device(supabase_stack, tmp_path / "headless", keyring=fail.Keyring())
    try:
        user_id = dev.sign_up(unique_email("gus"))
        assert not dev.auth.store.secure
        dev.restart()
        assert dev.auth.restore().user_id == user_id
        assert stat.S_IMODE(dev.auth.store.path.stat().st_mode) == 0o600
    finally:
        dev.close()


def test_a_session_revoked_elsewhere_asks_to_sign_in_again(device, supabase_stack):  # noqa: F811
    user_id = device.sign_up(unique_email("hal"))
    supabase_stack.sql("delete from auth.sessions where user_id = %s", user_id)  # "sign out all"

    device.restart()
    with pytest.raises(AuthError, match="expired or was signed out"):
        device.auth.restore()
    assert device.auth.account is None
    device.restart()
    assert device.auth.account is None  # the dead session is not resurrected


def test_the_access_token_is_refreshed_in_the_background(device, supabase_stack):  # noqa: F811
    supabase_stack.jwt_expiry = 12  # the client refreshes 10 s before expiry: after ~2 s
    user_id = device.sign_up(unique_email("ivy"))
    first_token = device.auth.client.auth.get_session().access_token

    deadline = time.monotonic() + 10
    while ("TOKEN_REFRESHED", user_id) not in device.events and time.monotonic() < deadline:
        time.sleep(0.05)

    assert ("TOKEN_REFRESHED", user_id) in device.events
    assert device.auth.client.auth.get_session().access_token != first_token
    assert device.auth.access_account().user_id == user_id


def test_a_service_role_key_is_refused():
    with pytest.raises(ConfigError, match="service_role"):
        SupabaseSettings("https://abcd.supabase.co", api_key("service_role"))
    with pytest.raises(ConfigError, match="not a project URL"):
        SupabaseSettings("abcd.supabase.co", api_key("anon"))
