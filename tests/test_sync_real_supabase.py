"""Smoke test against a real Supabase project (the migration in resources/supabase applied).

Runs only when these are set, and is skipped with the reason otherwise:
    AUTOMATA_SUPABASE_URL        https://<ref>.supabase.co
    AUTOMATA_SUPABASE_ANON_KEY   the project's anon / publishable key
    AUTOMATA_SUPABASE_TEST_EMAIL, AUTOMATA_SUPABASE_TEST_PASSWORD   a confirmed test account
It signs in, pushes one small generation, pulls it on a second "device", then deletes it.
"""

from __future__ import annotations

import os

import pytest

from automata_desktop.library.store import Library
from automata_desktop.sync import (
    Outbox,
    Puller,
    SessionStore,
    SupabaseSettings,
    SyncAuth,
    SyncWorker,
)
from automata_desktop.sync.library_mirror import LibraryMirror
from tests.supabase_stack.devices import MemoryKeyring, make_generation

NEEDED = ("AUTOMATA_SUPABASE_URL", "AUTOMATA_SUPABASE_ANON_KEY", "AUTOMATA_SUPABASE_TEST_EMAIL",
          "AUTOMATA_SUPABASE_TEST_PASSWORD")


@pytest.fixture
def project():
    missing = [name for name in NEEDED if not os.environ.get(name)]
    if missing:
        pytest.skip(f"no real Supabase project configured: set {', '.join(missing)}")
    return SupabaseSettings(os.environ["AUTOMATA_SUPABASE_URL"],
                            os.environ["AUTOMATA_SUPABASE_ANON_KEY"])


def signed_in(project, folder):
    auth = SyncAuth(project, SessionStore(folder / "config", project.url,
                                          keyring_backend=MemoryKeyring()))
    auth.sign_in(os.environ["AUTOMATA_SUPABASE_TEST_EMAIL"],
                 os.environ["AUTOMATA_SUPABASE_TEST_PASSWORD"])
    return auth, Outbox(folder / "data")


def test_a_generation_goes_up_and_comes_down_on_another_device(project, tmp_path):
    laptop_auth, laptop_outbox = signed_in(project, tmp_path / "laptop")
    desktop_auth, desktop_outbox = signed_in(project, tmp_path / "desktop")
    laptop_lib, desktop_lib = Library(tmp_path / "laptop-lib"), Library(tmp_path / "desktop-lib")
    made = make_generation(tmp_path / "made", "automata smoke test")
    files, made.files = made.files, []
    laptop_lib.add(made)
    for f in files:
        laptop_lib.ingest(made.id, f.kind, "generated", f.path, f.path.name)
    try:
        laptop_outbox.enqueue(made.id)
        report = SyncWorker(laptop_auth, laptop_outbox, LibraryMirror(laptop_lib)).run_pending()
        assert report.pushed == [made.id], report.failed or report

        mirror = LibraryMirror(desktop_lib)
        puller = Puller(desktop_auth, desktop_outbox, mirror.upsert_remote)
        mirror.download = puller.fetch
        puller.pull()
        got = desktop_lib.get(made.id)
        assert got is not None and got.prompt == "automata smoke test"
        assert sorted(f.sha256 for f in got.files) == sorted(f.sha256 for f in files)
    finally:
        laptop_outbox.enqueue(made.id, "delete")
        SyncWorker(laptop_auth, laptop_outbox, LibraryMirror(laptop_lib)).run_pending()
        for closeable in (laptop_auth, desktop_auth, laptop_outbox, desktop_outbox, laptop_lib,
                          desktop_lib):
            closeable.close()
