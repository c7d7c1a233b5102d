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
from tests.supabase_stack.devices import PASSWORD, Device, open_confirmation_link, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401
from tests.supabase_stack.tokens import api_key


@pytest.fixture
def device(supabase_stack, tmp_path):  # noqa: F811
    dev = Device(supabase_stack, tmp_path / "laptop")
    yield dev
    dev.close()


def test_sign_up_signs_the_user_in_when_the_project_does_not_confirm_emails(device,
                                                                           supabase_stack):  # noqa: F811
    supabase_stack.confirm_email = False
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


def test_with_confirm_email_on_sign_up_mails_a_link_and_sign_in_waits_for_it(
        device, supabase_stack):  # noqa: F811
    email = unique_email("dan")

    assert device.auth.sign_up(email, PASSWORD) is None  # "check your inbox"
    assert [mail.to for mail in supabase_stack.mailbox] == [email]
    with pytest.raises(AuthError, match=f"Confirm your email first.*{email}") as caught:
        device.auth.sign_in(email, PASSWORD)
    assert caught.value.code == "email_not_confirmed"
    assert "Site URL" in str(caught.value)

    # The link confirms at GoTrue, then sends the browser to the Site URL, where no page of
    # ours listens: the address is confirmed all the same.
    landing = open_confirmation_link(supabase_stack, email).headers["Location"]
    assert landing.startswith("http://localhost:3000") and "#access_token=" in landing
    assert device.auth.sign_in(email, PASSWORD).email == email


def test_the_confirmation_message_says_where_the_link_goes():
    from automata_desktop.sync.messages import confirmation_sent

    message = confirmation_sent("ann@example.com")
    assert "ann@example.com" in message and "sign in here" in message
    assert "Site URL" in message and "http://localhost:3000" in message
    assert "confirmed all the same" in message


def test_a_repeat_sign_up_of_a_confirmed_address_says_to_sign_in_and_sends_no_mail(
        device, supabase_stack):  # noqa: F811
    email = unique_email("eve")
    device.sign_up(email)  # confirmed through the link
    device.auth.sign_out()
    mails = len(supabase_stack.mailbox)

    # GoTrue answers 200 with a made-up user (no identities, no session) and mails nothing.
    with pytest.raises(AuthError, match="already has an account: sign in") as caught:
        device.auth.sign_up(email, PASSWORD)
    assert caught.value.code == "user_already_exists"
    assert len(supabase_stack.mailbox) == mails
    assert device.auth.account is None


def test_signing_up_twice_without_confirmations_also_says_to_sign_in(device,
                                                                     supabase_stack):  # noqa: F811
    supabase_stack.confirm_email = False
    email = unique_email("eve")
    device.sign_up(email)
    with pytest.raises(AuthError, match="already has an account: sign in"):
        device.auth.sign_up(email, PASSWORD)


def test_signing_up_again_before_confirming_resends_the_link_at_most_once_a_minute(
        device, supabase_stack):  # noqa: F811
    email = unique_email("flo")
    assert device.auth.sign_up(email, PASSWORD) is None
    with pytest.raises(AuthError, match="moments ago") as caught:
        device.auth.sign_up(email, PASSWORD)
    assert caught.value.code == "over_email_send_rate_limit"

    supabase_stack.clock = lambda: time.time() + 61
    assert device.auth.sign_up(email, PASSWORD) is None
    assert [mail.to for mail in supabase_stack.mailbox] == [email, email]


def test_the_built_in_mailer_refusing_an_address_says_to_set_up_smtp(device,
                                                                     supabase_stack):  # noqa: F811
    member, stranger = unique_email("owner"), unique_email("stranger")
    supabase_stack.mail_recipients = {member}  # no custom SMTP: team members only

    with pytest.raises(AuthError, match="SMTP") as caught:
        device.auth.sign_up(stranger, PASSWORD)
    assert caught.value.code == "email_address_not_authorized"
    assert "Authentication → Emails" in str(caught.value) and "team" in str(caught.value)
    assert supabase_stack.sql("select 1 from auth.users where email = %s", stranger) == []
    assert supabase_stack.mailbox == []

    assert device.auth.sign_up(member, PASSWORD) is None
    assert [mail.to for mail in supabase_stack.mailbox] == [member]


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
