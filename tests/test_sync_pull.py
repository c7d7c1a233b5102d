"""A second device gets what the first one pushed: rows by updated_at, files on demand."""

from __future__ import annotations

import hashlib
import threading

import pytest

from automata_desktop.core.generation import GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.sync import Puller, SyncError, SyncOffline, SyncService
from tests.supabase_stack.devices import PASSWORD, Device, make_generation, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401


@pytest.fixture
def laptop_and_desktop(supabase_stack, tmp_path):  # noqa: F811
    email = unique_email("artist")
    laptop = Device(supabase_stack, tmp_path / "laptop")
    laptop.sign_up(email)
    desktop = Device(supabase_stack, tmp_path / "desktop")
    desktop.auth.sign_in(email, PASSWORD)
    yield laptop, desktop
    laptop.close()
    desktop.close()


def push(device, generation):
    device.library.add(generation)
    device.outbox.enqueue(generation.id)
    assert device.worker().run_pending().pushed == [generation.id]


def puller(device, page_size=200):
    return Puller(device.auth, device.outbox, device.library.upsert_remote, page_size=page_size)


def test_the_other_device_receives_new_generations_with_their_files(laptop_and_desktop, tmp_path):
    laptop, desktop = laptop_and_desktop
    gen = make_generation(tmp_path / "lib", "rusty metal plate")
    push(laptop, gen)

    assert puller(desktop).pull() == 1

    remote = desktop.library.remote[gen.id]
    assert remote.generation.prompt == "rusty metal plate"
    assert remote.generation.status is GenerationStatus.COMPLETED
    assert remote.generation.parameters == {"seed": 7, "steps": 20}
    assert remote.generation.duration_s == pytest.approx(42.0)
    assert not remote.deleted
    assert [f.kind for f in remote.files] == [MapKind.BASE_COLOR, MapKind.NORMAL,
                                              MapKind.ROUGHNESS]
    dest = tmp_path / "desktop-files" / "normal.png"
    puller(desktop).download(remote.files[1], dest)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == gen.files[1].sha256


def test_each_change_arrives_once_across_pages(laptop_and_desktop, tmp_path):
    laptop, desktop = laptop_and_desktop
    gens = [make_generation(tmp_path / "lib", f"tile {i}", kinds=(MapKind.BASE_COLOR,))
            for i in range(5)]
    for gen in gens:
        push(laptop, gen)
    received = []
    sink = Puller(desktop.auth, desktop.outbox, received.append, page_size=2)

    assert sink.pull() == 5
    assert sink.pull() == 0
    assert sorted(r.generation.id for r in received) == sorted(g.id for g in gens)

    gens[2].prompt = "tile 2, mossy"
    push(laptop, gens[2])
    assert sink.pull() == 1
    assert received[-1].generation.prompt == "tile 2, mossy"


def test_a_deletion_on_one_device_reaches_the_other_as_a_tombstone(laptop_and_desktop, tmp_path):
    laptop, desktop = laptop_and_desktop
    gen = make_generation(tmp_path / "lib")
    push(laptop, gen)
    puller(desktop).pull()

    laptop.outbox.enqueue(gen.id, "delete")
    laptop.worker().run_pending()

    assert puller(desktop).pull() == 1
    assert desktop.library.remote[gen.id].deleted
    assert desktop.library.remote[gen.id].files == ()


def test_pulling_offline_says_so(laptop_and_desktop, supabase_stack):  # noqa: F811
    _, desktop = laptop_and_desktop
    supabase_stack.stop_http()
    with pytest.raises(SyncOffline, match="Cannot reach Supabase"):
        puller(desktop).pull()


def test_a_corrupted_download_is_refused(laptop_and_desktop, tmp_path):
    laptop, desktop = laptop_and_desktop
    gen = make_generation(tmp_path / "lib")
    push(laptop, gen)
    puller(desktop).pull()
    remote = desktop.library.remote[gen.id]
    tampered = type(remote.files[0])(**{**remote.files[0].as_json(), "kind": MapKind.BASE_COLOR,
                                        "sha256": "0" * 64})

    dest = tmp_path / "x" / "base_color.png"
    with pytest.raises(SyncError, match="sha256 mismatch"):
        puller(desktop).download(tampered, dest)
    assert not dest.exists()


def test_the_background_service_pushes_and_pulls_without_being_asked(
        laptop_and_desktop, supabase_stack, tmp_path):  # noqa: F811
    laptop, desktop = laptop_and_desktop
    arrived = threading.Event()

    def on_remote(remote):
        desktop.library.upsert_remote(remote)
        arrived.set()

    laptop_sync = SyncService(laptop.worker())
    desktop_sync = SyncService(desktop.worker(),
                               Puller(desktop.auth, desktop.outbox, on_remote), pull_interval=0.2)
    laptop_sync.start()
    desktop_sync.start()
    try:
        gen = laptop.library.add(make_generation(tmp_path / "lib", "cracked asphalt"))
        laptop.outbox.enqueue(gen.id)
        laptop_sync.nudge()
        assert arrived.wait(timeout=10)
        assert desktop.library.remote[gen.id].generation.prompt == "cracked asphalt"
    finally:
        laptop_sync.stop()
        desktop_sync.stop()
    assert len(laptop.outbox) == 0
