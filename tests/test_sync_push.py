"""Pushing the local library to Supabase: files to Storage, then the row; resumable, idempotent,
and quiet while offline. Real client, real HTTP, real PostgreSQL with our migration and RLS."""

from __future__ import annotations

import hashlib
import logging
import time

import httpx
import pytest

from automata_desktop.sync import Outbox
from tests.supabase_stack.devices import Device, make_generation, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401


@pytest.fixture
def device(supabase_stack, tmp_path):  # noqa: F811
    dev = Device(supabase_stack, tmp_path / "laptop")
    dev.user_id = dev.sign_up(unique_email("pusher"))
    yield dev
    dev.close()


def key(user_id, gen, output):
    """Where a map goes: its kind and the first 16 hex digits of its sha256 (rows.object_keys)."""
    return f"{user_id}/{gen.id}/{output.kind.value}.{output.sha256[:16]}.png"


def remote_rows(stack, gen_id):
    return stack.sql("select user_id::text, status, prompt, files, deleted_at, duration_s "
                     "from generations where id = %s", gen_id)


def stored_objects(stack, user_id, gen_id):
    rows = stack.sql("select name, user_metadata->>'sha256', metadata->>'mimetype' "
                     "from storage.objects where bucket_id = 'textures' and name like %s "
                     "order by name", f"{user_id}/{gen_id}/%")
    return {name: (sha, mime) for name, sha, mime in rows}


def test_a_finished_generation_is_pushed_with_its_maps(device, supabase_stack, tmp_path):  # noqa: F811
    gen = device.library.add(make_generation(tmp_path / "lib"))
    device.outbox.enqueue(gen.id)

    report = device.worker().run_pending()

    assert report.pushed == [gen.id] and report.uploaded == 3 and not report.failed
    assert len(device.outbox) == 0
    [(user_id, status, prompt, files, deleted_at, duration)] = remote_rows(supabase_stack, gen.id)
    assert (user_id, status, prompt, deleted_at) == (device.user_id, "completed",
                                                      "mossy brick wall", None)
    assert duration == pytest.approx(42.0)
    objects = stored_objects(supabase_stack, device.user_id, gen.id)
    assert objects == {key(device.user_id, gen, f): (f.sha256, "image/png") for f in gen.files}
    assert {f["path"] for f in files} == set(objects)
    assert {f["width"] for f in files} == {32}
    # And the bytes in the bucket are the files on disk.
    bucket = device.auth.client.storage.from_("textures")
    first = gen.files[0]
    assert bucket.download(key(device.user_id, gen, first)) == first.path.read_bytes()


def test_pushing_again_uploads_nothing_unchanged_and_makes_no_duplicates(
        device, supabase_stack, tmp_path):  # noqa: F811
    gen = device.library.add(make_generation(tmp_path / "lib"))
    device.outbox.enqueue(gen.id)
    device.worker().run_pending()
    supabase_stack.uploads.clear()

    gen.prompt = "mossy brick wall, wet"
    device.outbox.enqueue(gen.id)
    report = device.worker().run_pending()

    assert report.uploaded == 0 and report.skipped_files == 3
    assert supabase_stack.uploads == []
    rows = remote_rows(supabase_stack, gen.id)
    assert len(rows) == 1 and rows[0][2] == "mossy brick wall, wet"
    assert len(stored_objects(supabase_stack, device.user_id, gen.id)) == 3


def test_a_changed_map_becomes_a_new_object_and_the_old_one_is_removed(
        device, supabase_stack, tmp_path):  # noqa: F811
    # Supabase's CDN serves an overwritten key stale for about a minute: a new key cannot be.
    gen = device.library.add(make_generation(tmp_path / "lib"))
    device.outbox.enqueue(gen.id)
    device.worker().run_pending()
    normal = gen.files[1]
    old_key = key(device.user_id, gen, normal)
    supabase_stack.uploads.clear()

    normal.path.write_bytes(normal.path.read_bytes() + b"\0")
    normal.sha256 = hashlib.sha256(normal.path.read_bytes()).hexdigest()
    device.outbox.enqueue(gen.id)
    report = device.worker().run_pending()

    new_key = key(device.user_id, gen, normal)
    assert new_key != old_key and report.uploaded == 1
    assert supabase_stack.uploads == [f"textures/{new_key}"]
    [(_, _, _, files, _, _)] = remote_rows(supabase_stack, gen.id)
    listed = {f["kind"]: f for f in files}["normal"]
    assert (listed["path"], listed["sha256"]) == (new_key, normal.sha256)
    bucket = device.auth.client.storage.from_("textures")
    assert bucket.download(new_key) == normal.path.read_bytes()
    objects = stored_objects(supabase_stack, device.user_id, gen.id)
    assert old_key not in objects and set(objects) == {f["path"] for f in files}


def test_a_row_with_old_style_keys_is_moved_to_content_keys(device, supabase_stack, tmp_path):  # noqa: F811
    # Rows pushed by earlier versions point at `<map>.png`; they still pull (the row's path is
    # used as is), and the next push of such a generation moves it and frees the old objects.
    gen = device.library.add(make_generation(tmp_path / "lib"))
    bucket = device.auth.client.storage.from_("textures")
    legacy = []
    for output in gen.files:
        old = f"{device.user_id}/{gen.id}/{output.kind.value}.png"
        bucket.upload(old, output.path, {"content-type": "image/png", "upsert": "true",
                                         "metadata": {"sha256": output.sha256}})
        legacy.append({"kind": output.kind.value, "path": old, "sha256": output.sha256,
                       "size": output.size, "width": 32, "height": 16,
                       "content_type": "image/png"})
    device.auth.client.table("generations").insert(
        {"id": gen.id, "status": "completed", "prompt": gen.prompt, "files": legacy}).execute()
    device.outbox.mark_synced(gen.id)  # as if this device pushed it with the old version

    device.outbox.enqueue(gen.id)
    device.worker().run_pending()

    [(_, _, _, files, _, _)] = remote_rows(supabase_stack, gen.id)
    assert {f["path"] for f in files} == {key(device.user_id, gen, f) for f in gen.files}
    assert set(stored_objects(supabase_stack, device.user_id, gen.id)) == {
        f["path"] for f in files}


def test_a_push_killed_after_the_first_file_finishes_after_restart(
        device, supabase_stack, tmp_path):  # noqa: F811
    gen = device.library.add(make_generation(tmp_path / "lib"))
    device.outbox.enqueue(gen.id)

    def die_after_first_upload(response: httpx.Response) -> None:
        if response.request.method == "POST" and "/storage/v1/object/textures/" in str(
                response.request.url) and response.status_code == 200:
            raise SystemExit("killed")  # the app dies right after the server stored the file

    device.restart(http_client=httpx.Client(event_hooks={"response": [die_after_first_upload]}))
    device.auth.restore()
    with pytest.raises(SystemExit):
        device.worker().run_pending()
    assert len(supabase_stack.uploads) == 1
    assert remote_rows(supabase_stack, gen.id) == []  # no row before all its files are up

    device.restart()
    device.auth.restore()
    report = device.worker().run_pending()

    assert report.pushed == [gen.id] and report.skipped_files == 1 and report.uploaded == 2
    keys = [f"textures/{key(device.user_id, gen, f)}" for f in gen.files]
    assert sorted(supabase_stack.uploads) == sorted(keys)  # each file sent exactly once
    assert len(remote_rows(supabase_stack, gen.id)) == 1
    assert len(device.outbox) == 0


def test_offline_work_stays_queued_quietly_and_goes_out_when_back(
        device, supabase_stack, tmp_path, caplog):  # noqa: F811
    clock = [time.time()]
    device.outbox.close()
    device.outbox = Outbox(tmp_path / "laptop" / "data", clock=lambda: clock[0])
    gens = [device.library.add(make_generation(tmp_path / "lib", f"tile {i}")) for i in range(2)]
    for gen in gens:
        device.outbox.enqueue(gen.id)
    supabase_stack.stop_http()
    worker = device.worker()

    with caplog.at_level(logging.INFO, logger="automata_desktop.sync"):
        first = worker.run_pending()
        second = worker.run_pending()  # right away: nothing is due, nothing is tried

    assert first.offline and worker.offline and not first.pushed
    assert not second.offline and not second.pushed
    assert len(device.outbox) == 2
    tried = [i for i in device.outbox.items() if i.attempts]
    assert len(tried) == 1 and 1.0 <= tried[0].next_attempt_at - clock[0] <= 2.0
    assert tried[0].last_error.startswith("offline")
    assert [r.levelno for r in caplog.records] == [logging.INFO]  # one line, no error spam

    supabase_stack.start_http()
    clock[0] += 5
    report = worker.run_pending()
    assert sorted(report.pushed) == sorted(g.id for g in gens) and not worker.offline
    assert len(device.outbox) == 0


def test_deleting_a_generation_leaves_a_tombstone_and_frees_its_files(
        device, supabase_stack, tmp_path):  # noqa: F811
    gen = device.library.add(make_generation(tmp_path / "lib"))
    device.outbox.enqueue(gen.id)
    device.worker().run_pending()

    del device.library.generations[gen.id]
    device.outbox.enqueue(gen.id, "delete")
    report = device.worker().run_pending()

    assert report.deleted == [gen.id]
    [(_, _, _, files, deleted_at, _)] = remote_rows(supabase_stack, gen.id)
    assert deleted_at is not None and files == []
    assert stored_objects(supabase_stack, device.user_id, gen.id) == {}


def test_signed_out_work_waits_without_counting_failures(device, tmp_path):
    gen = device.library.add(make_generation(tmp_path / "lib"))
    device.auth.sign_out()
    device.outbox.enqueue(gen.id)

    report = device.worker().run_pending()

    assert report.signed_out and not report.pushed
    assert [i.attempts for i in device.outbox.items()] == [0]
