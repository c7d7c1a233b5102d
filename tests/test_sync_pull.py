"""A second device gets what the first one pushed: rows by updated_at, files on demand."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid

import httpx
import psycopg
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


def bulk_insert(stack, user_id, count):
    """`count` rows in one statement, so the trigger stamps them all with the same now()."""
    stack.sql("insert into generations (id, user_id, status, prompt) select gen_random_uuid(), "
              "%s, 'completed', 'tile ' || g from generate_series(1, %s) g", user_id, count)
    return {r[0] for r in stack.sql("select id::text from generations where user_id = %s",
                                    user_id)}


@pytest.mark.parametrize("page_size", [200, 20])
def test_a_bulk_change_larger_than_the_servers_row_cap_arrives_whole(
        laptop_and_desktop, supabase_stack, page_size):  # noqa: F811
    laptop, desktop = laptop_and_desktop
    supabase_stack.max_rows = 50  # PostgREST's db-max-rows (1000 on Supabase), made small
    ids = bulk_insert(supabase_stack, laptop.auth.account.user_id, 120)
    received: dict[str, str] = {}
    sink = Puller(desktop.auth, desktop.outbox,
                  lambda r: received.__setitem__(r.generation.id, r.generation.prompt),
                  page_size=page_size)

    assert sink.pull() == 120
    assert set(received) == ids

    # a bulk update: every row again, all stamped with one instant
    supabase_stack.sql("update generations set prompt = prompt || ', mossy' where user_id = %s",
                       laptop.auth.account.user_id)
    assert sink.pull() == 120
    assert all(prompt.endswith(", mossy") for prompt in received.values())
    assert sink.pull() == 0


def test_a_push_that_commits_after_a_pull_read_past_its_stamp_still_arrives(
        laptop_and_desktop, supabase_stack, tmp_path):  # noqa: F811
    laptop, desktop = laptop_and_desktop
    received = []
    # The device's clock stands still: the overlap window never settles during this test.
    sink = Puller(desktop.auth, desktop.outbox, received.append, clock=lambda: 1_000.0)
    late_id = str(uuid.uuid4())
    with psycopg.connect(supabase_stack.cluster.conninfo(user="authenticator")) as slow_push:
        # A push whose transaction begins (and is stamped) first but commits last.
        slow_push.execute("set local role authenticated")
        slow_push.execute("select set_config('request.jwt.claims', %s, true)", [json.dumps(
            {"sub": laptop.auth.account.user_id, "role": "authenticated"})])
        slow_push.execute("insert into generations (id, status, prompt) values "
                          "(%s, 'completed', 'slow upload')", [late_id])
        fast = make_generation(tmp_path / "lib", "fast upload", kinds=(MapKind.BASE_COLOR,))
        push(laptop, fast)
        assert sink.pull() == 1 and received[-1].generation.id == fast.id
    # leaving the block committed the slow push, stamped before the row already pulled
    assert supabase_stack.sql("select updated_at < (select updated_at from generations "
                              "where id = %s) from generations where id = %s",
                              fast.id, late_id) == [(True,)]

    assert sink.pull() == 1
    assert received[-1].generation.id == late_id and received[-1].generation.prompt == (
        "slow upload")
    assert sink.pull() == 0


def test_once_the_overlap_has_passed_a_pull_reads_only_what_changed(
        supabase_stack, tmp_path):  # noqa: F811
    rows_read: list[int] = []

    def count_rows(response: httpx.Response) -> None:
        if response.request.method == "GET" and "/rest/v1/generations" in str(
                response.request.url):
            response.read()
            rows_read.append(len(response.json()))

    owner = Device(supabase_stack, tmp_path / "owner",
                   http_client=httpx.Client(event_hooks={"response": [count_rows]}))
    try:
        user_id = owner.sign_up(unique_email("artist"))
        now = [1_000.0]  # this device's clock, moved by hand
        sink = Puller(owner.auth, owner.outbox, lambda r: None, clock=lambda: now[0])
        bulk_insert(supabase_stack, user_id, 120)

        def pull_after(seconds: float) -> tuple[int, int]:
            now[0] += seconds
            rows_read.clear()
            return sink.pull(), sum(rows_read)

        assert pull_after(0) == (120, 120)
        assert pull_after(1) == (0, 120)  # within the overlap: read again, nothing delivered
        assert pull_after(10) == (0, 120)  # the last read of that window: it is settled now
        assert pull_after(1) == (0, 0)
        bulk_insert(supabase_stack, user_id, 5)
        assert pull_after(1) == (5, 5)
    finally:
        owner.close()
