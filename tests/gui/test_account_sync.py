"""The Account menu against a local Supabase stand-in: sign up in the dialog, watch a finished
generation upload by itself, get told plainly about a wrong password or a revoked session, and
keep using the local copy while Supabase is down."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QPainter

from automata_desktop.config import Settings, generate_webhook_secret
from automata_desktop.controller.app_controller import AppController
from automata_desktop.jobs.models import GenerationRequest
from automata_desktop.paths import resources_dir
from automata_desktop.runtime import load_workflow_named
from automata_desktop.ui.account_dialog import AccountMode
from automata_desktop.ui.library_browser import COPY_COLUMN
from automata_desktop.ui.main_window import MainWindow
from automata_desktop.ui.workbench import Workbench
from tests.gui.workbench_helpers import wait_for
from tests.supabase_stack.devices import PASSWORD, open_confirmation_link, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401

pytestmark = pytest.mark.gui

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "account.png"


@pytest.fixture
def bench(qapp, supabase_stack, tmp_path):  # noqa: F811
    settings = Settings(servers=(), default_server="local", webhook_port=0,
                        library_dir=str(tmp_path / "library"),
                        webhook_secret=generate_webhook_secret(),
                        supabase_url=supabase_stack.url,
                        supabase_anon_key=supabase_stack.anon_key)
    window = MainWindow(interactive=False)
    window.resize(1300, 820)
    workbench = Workbench(window, AppController(settings, listen=False),
                          settings_path=tmp_path / "settings.json")
    window.show()
    assert workbench.controller.wait_ready(30), "the runtime did not start"
    wait_for(qapp, lambda: workbench.account.status is not None, 20, "the sync status")
    yield workbench
    window.close()


def sign_in_with_dialog(qapp, qtbot, bench, mode, email, password=PASSWORD):
    dialog = bench.account.open_dialog(mode)
    dialog.email.setText(email)
    dialog.password.setText(password)
    dialog.confirm.setText(password)
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    wait_for(qapp, lambda: dialog.submit_button.isEnabled(), 20, "the sign-in to finish")
    return dialog


def create_account(qapp, qtbot, bench, stack, email, password=PASSWORD):
    """Sign up in the dialog, open the link Supabase mails (Confirm email is on, as on a real
    project), then sign in from the same dialog."""
    dialog = sign_in_with_dialog(qapp, qtbot, bench, AccountMode.SIGN_UP, email, password)
    assert dialog.isVisible() and dialog.mode is AccountMode.SIGN_IN
    assert f"Open the link Supabase sent to {email}" in dialog.message.text()
    open_confirmation_link(stack, email)
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    wait_for(qapp, lambda: not dialog.isVisible(), 20, "the sign-in after confirming")
    return dialog


def generate(qapp, bench) -> str:
    request = GenerationRequest(workflow=load_workflow_named("pbr_from_image"), server="local",
                                image=resources_dir() / "samples" / "sample_basecolor.png")
    made = {}
    bench.controller.submit(request, lambda result: made.update(id=result.generations[0].id))
    wait_for(qapp, lambda: "id" in made, 20, "the generation to be queued")
    return made["id"]


def copy_marker(qapp, bench, gen_id: str, expected: str) -> str:
    def marker() -> str | None:
        item = bench.library._item(gen_id)
        return None if item is None else item.text(COPY_COLUMN)

    wait_for(qapp, lambda: marker() == expected, 20,
             f"the library to mark the generation {expected!r} (shows {marker()!r})")
    return marker()


def test_sign_up_then_a_finished_generation_uploads_by_itself(qapp, qtbot, bench,
                                                             supabase_stack):  # noqa: F811
    account = bench.account
    assert account.button.text() == "☁ Sign in to sync"
    email = unique_email("gui")

    create_account(qapp, qtbot, bench, supabase_stack, email)
    wait_for(qapp, lambda: email in account.button.text(), 10, "the account in the status bar")

    gen_id = generate(qapp, bench)
    wait_for(qapp, lambda: supabase_stack.sql(
        "select status from public.generations where id = %s", gen_id) == [("completed",)],
        30, "the row in Supabase")
    wait_for(qapp, lambda: account.status.pending == 0 and account.status.last_sync_at, 10,
             "the status to show the upload")
    assert "up to date" in account.button.text()
    copy_marker(qapp, bench, gen_id, "☁ synced")
    save_screenshot(bench, dialog_mode=AccountMode.SIGN_IN)

    account.sign_out()
    wait_for(qapp, lambda: account.button.text() == "☁ Sign in to sync", 10, "the sign-out")
    copy_marker(qapp, bench, gen_id, "☁ synced")  # the local files stay, so does the marker


def test_a_wrong_password_is_said_plainly_and_the_dialog_stays(qapp, qtbot, bench,
                                                               supabase_stack):  # noqa: F811
    email = unique_email("gui")
    create_account(qapp, qtbot, bench, supabase_stack, email)
    wait_for(qapp, lambda: email in bench.account.button.text(), 10, "the account")
    bench.account.sign_out()
    wait_for(qapp, lambda: bench.account.button.text() == "☁ Sign in to sync", 10, "sign-out")

    dialog = sign_in_with_dialog(qapp, qtbot, bench, AccountMode.SIGN_IN, email,
                                 "not my password")
    assert dialog.isVisible()
    assert dialog.message.text() == "Wrong email or password"
    assert bench.account.button.text() == "☁ Sign in to sync"

    dialog.password.setText(PASSWORD)
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    wait_for(qapp, lambda: not dialog.isVisible(), 20, "the second attempt")
    wait_for(qapp, lambda: email in bench.account.button.text(), 10, "the account")


def test_a_revoked_session_asks_to_sign_in_again(qapp, qtbot, bench, supabase_stack):  # noqa: F811
    # Tokens this short-lived are refreshed on every use, so the revocation shows at once.
    supabase_stack.jwt_expiry = 3
    messages = []
    bench.account.message.connect(messages.append)
    email = unique_email("gui")
    create_account(qapp, qtbot, bench, supabase_stack, email)
    wait_for(qapp, lambda: email in bench.account.button.text(), 10, "the account")
    user_id = bench.controller.runtime.sync.account.user_id
    supabase_stack.sql("delete from auth.sessions where user_id = %s", user_id)  # "sign out all"

    bench.account.sync_now()
    wait_for(qapp, lambda: bench.account.button.text() == "☁ Sign in to sync", 20,
             "the revoked session to be noticed")
    wait_for(qapp, lambda: any("session ended" in m for m in messages), 5, "the message")
    assert "expired or was signed out" in bench.account.button.toolTip()


def test_the_dialog_tells_a_new_account_a_repeat_sign_up_and_a_refused_address_apart(
        qapp, qtbot, bench, supabase_stack):  # noqa: F811
    email = unique_email("gui")
    dialog = sign_in_with_dialog(qapp, qtbot, bench, AccountMode.SIGN_UP, email)
    assert dialog.isVisible() and dialog.mode is AccountMode.SIGN_IN  # ready to sign in
    assert "Site URL" in dialog.message.text() and "confirmed all the same" in dialog.message.text()

    dialog = sign_in_with_dialog(qapp, qtbot, bench, AccountMode.SIGN_IN, email)
    assert dialog.message.text().startswith(f"Confirm your email first: open the link Supabase "
                                            f"sent to {email}")

    open_confirmation_link(supabase_stack, email)
    mails = len(supabase_stack.mailbox)
    dialog = sign_in_with_dialog(qapp, qtbot, bench, AccountMode.SIGN_UP, email)
    assert dialog.message.text().startswith(f"{email} already has an account: sign in instead")
    assert dialog.mode is AccountMode.SIGN_IN and dialog.isVisible()
    assert len(supabase_stack.mailbox) == mails  # GoTrue sent nothing: no "check your inbox"

    supabase_stack.mail_recipients = {email}  # the built-in mailer: team members only
    dialog = sign_in_with_dialog(qapp, qtbot, bench, AccountMode.SIGN_UP, unique_email("guest"))
    assert "SMTP Settings" in dialog.message.text() and "team" in dialog.message.text()
    assert bench.account.button.text() == "☁ Sign in to sync"
    dialog.reject()


def test_signing_out_with_the_cli_signs_the_app_out_once(qapp, qtbot, bench, monkeypatch,
                                                         supabase_stack):  # noqa: F811
    from automata_desktop.cli import main

    messages = []
    bench.account.message.connect(messages.append)
    email = unique_email("gui")
    create_account(qapp, qtbot, bench, supabase_stack, email)
    wait_for(qapp, lambda: email in bench.account.button.text(), 10, "the account")

    # `automata account signout` on the same computer: the app and the CLI share the session.
    monkeypatch.setenv("AUTOMATA_SUPABASE_URL", supabase_stack.url)
    monkeypatch.setenv("AUTOMATA_SUPABASE_ANON_KEY", supabase_stack.anon_key)
    assert main(["account", "signout"]) == 0
    wait_for(qapp, lambda: bench.account.button.text() == "☁ Sign in to sync", 20,
             "the app to notice the sign-out")
    wait_for(qapp, lambda: any("session ended" in m for m in messages), 5, "the message")
    bench.account.refresh()
    wait_for(qapp, lambda: bench.account.status.account is None, 5, "another status")
    assert sum("session ended" in m for m in messages) == 1


def test_while_supabase_is_down_the_local_copy_is_used_and_sync_catches_up(
        qapp, qtbot, bench, supabase_stack):  # noqa: F811
    email = unique_email("gui")
    create_account(qapp, qtbot, bench, supabase_stack, email)
    wait_for(qapp, lambda: email in bench.account.button.text(), 10, "the account")
    supabase_stack.stop_http()
    gen_id = generate(qapp, bench)
    wait_for(qapp, lambda: bench.account.status.pending == 1 and bench.account.status.offline,
             30, "the upload to wait for the network")
    assert "offline" in bench.account.button.text()
    copy_marker(qapp, bench, gen_id, "↑ pending")
    gen = next(g for g in bench.library.generations if g.id == gen_id)
    assert gen.files and all(f.path.is_file() for f in gen.files)  # the local maps open as usual

    supabase_stack.start_http()
    bench.account.sync_now()
    wait_for(qapp, lambda: bench.account.status.pending == 0, 30, "the catch-up")
    copy_marker(qapp, bench, gen_id, "☁ synced")


def test_sync_is_off_until_a_project_is_set_up(qapp, tmp_path):
    settings = Settings(servers=(), default_server="local", webhook_port=0,
                        library_dir=str(tmp_path / "library"),
                        webhook_secret=generate_webhook_secret())
    window = MainWindow(interactive=False)
    workbench = Workbench(window, AppController(settings, listen=False),
                          settings_path=tmp_path / "s.json")
    try:
        assert workbench.controller.wait_ready(30)
        messages = []
        workbench.account.message.connect(messages.append)
        assert workbench.account.open_dialog() is None
        assert "Supabase project URL" in messages[0]
        assert workbench.account.button.text() == "☁ Sync off"
    finally:
        window.close()


def save_screenshot(bench, dialog_mode: AccountMode) -> None:
    """The window with the Account menu's dialog over it, as the user sees it."""
    window = bench.window
    bench.library_dock.raise_()
    shot = window.grab()
    dialog = bench.account.open_dialog(dialog_mode)
    dialog.email.setText("artist@example.com")
    dialog.adjustSize()
    picture = dialog.grab()
    painter = QPainter(shot)
    painter.drawPixmap(QPoint((shot.width() - picture.width()) // 2,
                              (shot.height() - picture.height()) // 3), picture)
    painter.end()
    dialog.reject()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shot.save(str(SCREENSHOT))


def test_the_settings_dialog_takes_the_project_but_refuses_a_service_role_key(qapp, tmp_path):
    from automata_desktop.ui.settings_dialog import SettingsDialog
    from tests.supabase_stack.tokens import api_key

    dialog = SettingsDialog(Settings(webhook_secret=generate_webhook_secret()),
                            path=tmp_path / "settings.json")
    dialog.supabase_url.setText("https://abcd1234.supabase.co/")
    dialog.supabase_key.setText(api_key("service_role"))
    dialog.save()
    assert dialog.saved is None and "service_role" in dialog.error.text()

    dialog.supabase_key.setText(api_key("anon"))
    dialog.save()
    assert dialog.saved.supabase_url == "https://abcd1234.supabase.co"
    assert dialog.saved.supabase_anon_key == api_key("anon")


def test_deleting_in_the_library_leaves_a_tombstone_for_other_devices(qapp, qtbot, bench,
                                                                        supabase_stack):  # noqa: F811
    create_account(qapp, qtbot, bench, supabase_stack, unique_email("tomb"))
    gen_id = generate(qapp, bench)
    copy_marker(qapp, bench, gen_id, "☁ synced")
    bench.library.delete(gen_id)  # what the confirmed Delete button does
    wait_for(qapp, lambda: supabase_stack.sql(
        "select deleted_at is not null from public.generations where id = %s", gen_id) == [(True,)],
        30, "the tombstone in Supabase")
