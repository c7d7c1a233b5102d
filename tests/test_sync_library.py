"""A generation made on the laptop shows up, files and all, in the desktop's own library."""

from __future__ import annotations

import pytest

from automata_desktop.core.generation import GenerationStatus
from automata_desktop.library.store import Library
from automata_desktop.sync import Puller, SyncWorker
from automata_desktop.sync.library_mirror import LibraryMirror
from tests.supabase_stack.devices import PASSWORD, Device, make_generation, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401


@pytest.fixture
def devices(supabase_stack, tmp_path):  # noqa: F811
    email = unique_email("artist")
    laptop = Device(supabase_stack, tmp_path / "laptop")
    laptop.sign_up(email)
    desktop = Device(supabase_stack, tmp_path / "desktop")
    desktop.auth.sign_in(email, PASSWORD)
    yield laptop, desktop
    laptop.close()
    desktop.close()


def test_pushed_generations_land_in_the_other_library_with_their_files(devices, tmp_path):
    laptop, desktop = devices
    laptop_lib = Library(tmp_path / "laptop-lib")
    made = make_generation(tmp_path / "made", "weathered copper")
    files = made.files
    made.files = []
    laptop_lib.add(made)
    for f in files:
        laptop_lib.ingest(made.id, f.kind, "generated", f.path, f.path.name)
    laptop.outbox.enqueue(made.id)
    report = SyncWorker(laptop.auth, laptop.outbox, LibraryMirror(laptop_lib)).run_pending()
    assert report.pushed == [made.id]

    desktop_lib = Library(tmp_path / "desktop-lib")
    mirror = LibraryMirror(desktop_lib, state=desktop.outbox)
    puller = Puller(desktop.auth, desktop.outbox, mirror.upsert_remote)
    mirror.download = puller.fetch
    assert puller.pull() == 1
    got = desktop_lib.get(made.id)
    assert got.status is GenerationStatus.COMPLETED and got.prompt == "weathered copper"
    assert sorted((f.kind, f.sha256) for f in got.files) == sorted((f.kind, f.sha256) for f in files)
    assert all(f.path.is_relative_to(tmp_path / "desktop-lib") and f.path.is_file() for f in got.files)

    # pulling again changes nothing; a delete on the laptop removes it here too
    assert puller.pull() == 0
    laptop.outbox.enqueue(made.id, "delete")
    SyncWorker(laptop.auth, laptop.outbox, LibraryMirror(laptop_lib)).run_pending()
    puller.pull()
    assert desktop_lib.get(made.id) is None
    laptop_lib.close()
    desktop_lib.close()
