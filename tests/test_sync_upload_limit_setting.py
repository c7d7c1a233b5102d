"""The project's upload limit is a setting (Storage → Settings in Supabase), and a map over it is
something the account panel says, not only a log line."""

from __future__ import annotations

import os
import time
from dataclasses import replace

from automata_desktop.config import Settings, load_settings
from automata_desktop.core.maps import MapKind
from automata_desktop.library.store import Library
from automata_desktop.runtime import sync_runner
from automata_desktop.ui.account_panel import status_tooltip
from tests.supabase_stack.devices import PASSWORD, Device, make_generation, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401

MB = 1024 * 1024


def test_the_upload_limit_comes_from_the_settings_and_the_environment(monkeypatch):
    settings = Settings(supabase_url="https://abcd1234.supabase.co", supabase_anon_key="anon")
    runner_settings = sync_runner(replace(settings, supabase_upload_limit_mb=500), Library(
        settings.library_path))
    assert runner_settings is not None
    assert runner_settings.settings.upload_limit == 500 * MB
    runner_settings.close()
    monkeypatch.setenv("AUTOMATA_SUPABASE_UPLOAD_LIMIT_MB", "5000")
    assert load_settings().supabase_upload_limit_mb == 5000


def test_a_map_over_the_limit_shows_in_the_sync_status(supabase_stack, tmp_path):  # noqa: F811
    email = unique_email("limit")
    helper = Device(supabase_stack, tmp_path / "signup")
    helper.sign_up(email)  # confirms the address through the stand-in's mail
    helper.close()
    settings = Settings(supabase_url=supabase_stack.url, supabase_anon_key=supabase_stack.anon_key,
                        supabase_upload_limit_mb=1, library_dir=str(tmp_path / "library"))
    library = Library(settings.library_path)
    gen = make_generation(tmp_path / "maps", kinds=(MapKind.BASE_COLOR, MapKind.HEIGHT))
    with open(gen.files[1].path, "ab") as handle:  # 2 MB: over the 1 MB this project takes
        handle.write(os.urandom(2 * MB))
    files, gen.files = gen.files, []
    library.add(gen)
    for output in files:
        library.ingest(gen.id, output.kind, "generated", output.path, output.path.name)
    runner = sync_runner(settings, library)
    assert runner is not None
    try:
        runner.sign_in(email, PASSWORD)  # queues the library and starts syncing in the background
        deadline = time.monotonic() + 60
        while runner.status().pending and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.sync_now()
        status = runner.status()
        assert status.pending == 0 and status.last_sync_at is not None
        assert status.partial == 1
        assert "larger than your Supabase project's upload limit (1.0 MB)" in status.partial_reason
        assert status.partial_reason in status_tooltip(status)
        [(files,)] = supabase_stack.sql("select files from generations where id = %s", gen.id)
        assert {f["kind"]: f.get("local_only") for f in files} == {"base_color": None,
                                                                   "height": "too_large"}
    finally:
        runner.close()
