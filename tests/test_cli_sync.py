"""`automata account` and `automata sync`: the library follows the user to a second machine."""

from __future__ import annotations

import io
import json

import pytest

from automata_desktop.cli import main
from tests.supabase_stack.devices import open_confirmation_link, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401


def run(capsys, monkeypatch, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def machine(monkeypatch, supabase_stack, tmp_path):  # noqa: F811
    """Switch the 'computer' the CLI runs on: its own config and data folders."""
    monkeypatch.setenv("AUTOMATA_SUPABASE_URL", supabase_stack.url)
    monkeypatch.setenv("AUTOMATA_SUPABASE_ANON_KEY", supabase_stack.anon_key)

    def use(name: str) -> None:
        monkeypatch.setenv("AUTOMATA_CONFIG_DIR", str(tmp_path / name / "config"))
        monkeypatch.setenv("AUTOMATA_DATA_DIR", str(tmp_path / name / "data"))

    return use


def test_generations_follow_the_user_to_another_machine(capsys, monkeypatch, machine,
                                                       supabase_stack):  # noqa: F811
    email, password = unique_email("cli"), "a long enough password\n"
    machine("laptop")
    assert run(capsys, monkeypatch, "generate", "--server", "local")[0] == 0
    code, out, err = run(capsys, monkeypatch, "account", "signup", email, "--password-stdin",
                         stdin=password)
    assert code == 0, err
    assert f"Open the link Supabase sent to {email}" in out
    assert f"`automata account signin {email}`" in out and "Site URL" in out
    open_confirmation_link(supabase_stack, email)
    code, out, err = run(capsys, monkeypatch, "account", "signin", email, "--password-stdin",
                         stdin=password)
    assert code == 0, err
    assert f"signed in as {email}" in out and "1 local generations queued" in out
    code, out, _ = run(capsys, monkeypatch, "sync", "--json")
    assert code == 0 and json.loads(out)["pushed"] == 1 and json.loads(out)["uploaded_files"] == 7

    machine("desktop")
    code, _, err = run(capsys, monkeypatch, "sync")
    assert code == 3 and "not signed in" in err
    code, _, err = run(capsys, monkeypatch, "account", "signin", email, "--password-stdin",
                       stdin="wrong password\n")
    assert code == 3 and "password" in err.lower() and "Traceback" not in err
    assert run(capsys, monkeypatch, "account", "signin", email, "--password-stdin", stdin=password)[0] == 0
    code, out, _ = run(capsys, monkeypatch, "sync", "--json")
    assert code == 0 and json.loads(out)["pulled"] == 1
    code, out, _ = run(capsys, monkeypatch, "library", "list", "--json")
    [gen] = json.loads(out)
    assert gen["status"] == "completed" and len(gen["files"]) == 7
    assert run(capsys, monkeypatch, "account", "status")[1].startswith(f"signed in as {email}")
    assert run(capsys, monkeypatch, "account", "signout")[0] == 0
    assert "not signed in" in run(capsys, monkeypatch, "account", "status")[1]


def test_sync_without_a_project_says_how_to_set_it_up(capsys, monkeypatch):
    code, _, err = run(capsys, monkeypatch, "sync")
    assert code == 3 and "AUTOMATA_SUPABASE_URL" in err


@pytest.mark.asyncio
async def test_a_running_app_pushes_each_finished_generation_by_itself(capsys, monkeypatch, machine,
                                                                     supabase_stack):  # noqa: F811
    import asyncio

    from automata_desktop.config import load_settings
    from automata_desktop.jobs.models import GenerationRequest
    from automata_desktop.paths import resources_dir
    from automata_desktop.runtime import Runtime, load_workflow_named

    email = unique_email("app")
    machine("studio")
    assert run(capsys, monkeypatch, "account", "signup", email, "--password-stdin",
               stdin="another long password\n")[0] == 0
    open_confirmation_link(supabase_stack, email)
    assert run(capsys, monkeypatch, "account", "signin", email, "--password-stdin",
               stdin="another long password\n")[0] == 0
    async with Runtime(load_settings(), listen=False) as rt:
        assert rt.sync is not None and rt.sync.account.email == email
        [gen] = await rt.engine.submit(GenerationRequest(
            workflow=load_workflow_named("pbr_from_image"), server="local",
            image=resources_dir() / "samples" / "sample_basecolor.png"))
        await rt.engine.wait([gen.id], timeout=20)
        for _ in range(100):  # the background service drains the outbox
            if not rt.sync.outbox.items():
                break
            await asyncio.sleep(0.1)
        assert rt.sync.outbox.items() == []
    machine("other")
    run(capsys, monkeypatch, "account", "signin", email, "--password-stdin", stdin="another long password\n")
    code, out, _ = run(capsys, monkeypatch, "sync", "--json")
    assert code == 0 and json.loads(out)["pulled"] == 1


def test_signing_in_before_confirming_and_signing_up_twice_say_what_to_do(
        capsys, monkeypatch, machine, supabase_stack):  # noqa: F811
    email, password = unique_email("twice"), "a long enough password\n"
    machine("laptop")
    assert run(capsys, monkeypatch, "account", "signup", email, "--password-stdin",
               stdin=password)[0] == 0
    code, _, err = run(capsys, monkeypatch, "account", "signin", email, "--password-stdin",
                       stdin=password)
    assert code == 3 and f"Confirm your email first: open the link Supabase sent to {email}" in err

    open_confirmation_link(supabase_stack, email)
    mails = len(supabase_stack.mailbox)
    code, out, err = run(capsys, monkeypatch, "account", "signup", email, "--password-stdin",
                         stdin=password)
    assert code == 3 and "Open the link" not in out
    assert f"{email} already has an account: sign in instead" in err
    assert len(supabase_stack.mailbox) == mails  # GoTrue sent nothing


def test_a_sign_up_the_built_in_mailer_refuses_names_the_fix(capsys, monkeypatch, machine,
                                                             supabase_stack):  # noqa: F811
    supabase_stack.mail_recipients = {"owner@example.com"}
    machine("laptop")
    code, _, err = run(capsys, monkeypatch, "account", "signup", unique_email("guest"),
                       "--password-stdin", stdin="a long enough password\n")
    assert code == 3 and "Traceback" not in err
    assert "SMTP Settings" in err and "team" in err
