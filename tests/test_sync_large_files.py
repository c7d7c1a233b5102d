"""Large maps and Supabase Storage's upload limit: files over 6 MB go up resumably (TUS) in 6 MB
chunks and survive a dropped connection; a file over the project's limit stays on this computer
while the rest of the generation syncs, and the user is told which file and why. Real client,
real HTTP, the stand-in refusing as storage-api refuses."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from automata_desktop.core.generation import Generation, OutputFile
from automata_desktop.core.maps import MapKind
from automata_desktop.library.store import Library
from automata_desktop.sync import Puller
from automata_desktop.sync.library_mirror import LibraryMirror
from automata_desktop.sync.outbox import Delivery
from automata_desktop.sync.resumable import CHUNK_SIZE
from tests.supabase_stack.devices import PASSWORD, Device, make_generation, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401

MB = 1024 * 1024


@pytest.fixture
def device(supabase_stack, tmp_path):  # noqa: F811
    dev = Device(supabase_stack, tmp_path / "laptop")
    dev.user_id = dev.sign_up(unique_email("large"))
    yield dev
    dev.close()


def with_big_map(gen: Generation, size: int, name: str = "height.exr",
                 kind: MapKind = MapKind.HEIGHT) -> OutputFile:
    """Add a `size`-byte map of incompressible bytes to `gen`."""
    path = Path(gen.files[0].path).parent / name
    path.write_bytes(os.urandom(size))
    output = OutputFile(kind=kind, path=path, sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                        size=size, width=4096, height=4096)
    gen.files.append(output)
    return output


def remote_files(stack, gen_id):
    [(files,)] = stack.sql("select files from generations where id = %s", gen_id)
    return {f["kind"]: f for f in files}


def stored(stack, user_id, gen_id):
    return {name: sha for name, sha in stack.sql(
        "select name, user_metadata->>'sha256' from storage.objects where name like %s",
        f"{user_id}/{gen_id}/%")}


def test_a_20_mb_map_goes_up_resumably_in_6_mb_chunks(device, supabase_stack, tmp_path):  # noqa: F811
    gen = device.library.add(make_generation(tmp_path / "lib"))
    big = with_big_map(gen, 20 * MB)
    device.outbox.enqueue(gen.id)

    report = device.worker().run_pending()

    assert report.pushed == [gen.id] and report.uploaded == 4 and not report.failed
    assert [n for _, n in supabase_stack.tus_patches] == [CHUNK_SIZE] * 3 + [20 * MB - 3 * CHUNK_SIZE]
    key = remote_files(supabase_stack, gen.id)["height"]["path"]
    assert stored(supabase_stack, device.user_id, gen.id)[key] == big.sha256  # info() sees it
    assert device.auth.client.storage.from_("textures").download(key) == big.path.read_bytes()


def test_a_connection_cut_mid_upload_resumes_from_the_servers_offset(
        device, supabase_stack, tmp_path):  # noqa: F811
    gen = device.library.add(make_generation(tmp_path / "lib"))
    big = with_big_map(gen, 20 * MB)
    device.outbox.enqueue(gen.id)
    supabase_stack.tus_cut_at = CHUNK_SIZE + 2 * MB  # 2 MB into the second chunk

    report = device.worker().run_pending()

    assert report.pushed == [gen.id] and not report.failed and not report.offline
    patches = supabase_stack.tus_patches
    assert patches[:2] == [(0, CHUNK_SIZE), (CHUNK_SIZE, 2 * MB)]  # the cut, after 2 MB
    assert patches[2][0] == CHUNK_SIZE + 2 * MB  # the next PATCH went on from there
    resent = sum(n for _, n in patches[2:])
    assert resent == 20 * MB - CHUNK_SIZE - 2 * MB < big.size  # nothing was sent twice
    key = remote_files(supabase_stack, gen.id)["height"]["path"]
    assert device.auth.client.storage.from_("textures").download(key) == big.path.read_bytes()


def test_an_upload_cut_off_by_going_offline_resumes_after_a_restart(
        device, supabase_stack, tmp_path):  # noqa: F811
    gen = device.library.add(make_generation(tmp_path / "lib", kinds=(MapKind.BASE_COLOR,)))
    big = with_big_map(gen, 14 * MB)
    device.outbox.enqueue(gen.id)
    offline = []

    def network_gone_after_the_first_chunk(request: httpx.Request) -> None:
        if request.method == "PATCH" and int(request.headers["Upload-Offset"]) >= CHUNK_SIZE:
            offline.append(True)
        if offline:
            raise httpx.ConnectError("Network is unreachable", request=request)

    device.restart(http_client=httpx.Client(
        event_hooks={"request": [network_gone_after_the_first_chunk]}))
    device.auth.restore()
    assert device.worker().run_pending().offline
    assert supabase_stack.tus_patches == [(0, CHUNK_SIZE)]

    device.restart()  # the app is started again, online
    device.auth.restore()
    device.outbox.retry_now()
    report = device.worker().run_pending()

    assert report.pushed == [gen.id]
    assert [o for o, _ in supabase_stack.tus_patches] == [0, CHUNK_SIZE, 2 * CHUNK_SIZE]
    key = remote_files(supabase_stack, gen.id)["height"]["path"]
    assert device.auth.client.storage.from_("textures").download(key) == big.path.read_bytes()


def test_a_map_over_the_upload_limit_stays_local_and_the_rest_syncs(
        device, supabase_stack, tmp_path):  # noqa: F811
    gen = device.library.add(make_generation(tmp_path / "lib"))
    big = with_big_map(gen, 72 * MB, "roughness_16k.png", MapKind.OTHER)
    device.outbox.enqueue(gen.id)

    report = device.worker().run_pending()

    message = ("roughness_16k.png (72 MB) is larger than your Supabase project's upload limit "
               "(50 MB); it stays on this computer")
    assert report.pushed == [gen.id] and not report.failed and report.uploaded == 3
    assert report.local_only == {gen.id: message}
    assert not any("roughness_16k" in key or "/other." in key for key in supabase_stack.uploads)
    assert supabase_stack.tus_patches == []  # not a byte of it was sent
    listed = remote_files(supabase_stack, gen.id)["other"]
    assert listed["path"] is None and listed["local_only"] == "too_large"
    assert (listed["sha256"], listed["size"]) == (big.sha256, 72 * MB)
    # Done, not retried; the library says which copy exists and why.
    assert len(device.outbox) == 0 and device.outbox.failed_count() == 0
    assert device.outbox.delivery([gen.id]) == {gen.id: Delivery.PARTIAL}
    assert device.outbox.local_only([gen.id]) == {gen.id: message}
    assert device.worker().run_pending().pushed == []


def test_another_device_pulls_such_a_generation_without_the_local_only_map(
        device, supabase_stack, tmp_path):  # noqa: F811
    gen = device.library.add(make_generation(tmp_path / "lib"))
    with_big_map(gen, 72 * MB, "roughness_16k.png", MapKind.OTHER)
    device.outbox.enqueue(gen.id)
    device.worker().run_pending()

    desktop = Device(supabase_stack, tmp_path / "desktop")
    desktop.auth.sign_in(device.auth.account.email, PASSWORD)
    library = Library(tmp_path / "desktop-lib")
    try:
        mirror = LibraryMirror(library)
        pulled = []
        puller = Puller(desktop.auth, desktop.outbox,
                        lambda remote: (pulled.append(remote), mirror.upsert_remote(remote)))
        mirror.download = puller.fetch
        assert puller.pull() == 1
        [remote] = pulled
        assert [f.kind for f in remote.local_only] == [MapKind.OTHER]
        assert remote.local_only[0].size == 72 * MB
        got = library.get(gen.id)
        assert sorted(f.path.name for f in got.files) == [
            "base_color.png", "normal.png", "roughness.png"]
    finally:
        library.close()
        desktop.close()


def test_storage_refusing_a_file_as_too_large_teaches_the_limit(
        device, supabase_stack, tmp_path):  # noqa: F811
    # A project whose limit is lower than the setting (a bucket limit, say): the 413 is final
    # for that file, and the next file as large is not even sent.
    supabase_stack.upload_limit = 1 * MB
    first = device.library.add(make_generation(tmp_path / "lib", "first"))
    with_big_map(first, 2 * MB)
    second = device.library.add(make_generation(tmp_path / "lib", "second"))
    with_big_map(second, 3 * MB)
    device.outbox.enqueue(first.id)

    report = device.worker().run_pending()

    assert report.pushed == [first.id] and not report.failed
    assert report.local_only[first.id] == (
        "height.exr (2.0 MB) is larger than your Supabase project's upload limit (under 2.0 MB);"
        " it stays on this computer")
    assert remote_files(supabase_stack, first.id)["height"]["path"] is None
    assert len(device.outbox) == 0

    supabase_stack.uploads.clear()
    device.outbox.enqueue(second.id)
    report = device.worker().run_pending()
    assert report.pushed == [second.id] and second.id in report.local_only
    assert len(supabase_stack.uploads) == 3  # the small maps only: no doomed 3 MB upload


def test_a_resumable_upload_over_the_limit_is_refused_before_any_byte(
        device, supabase_stack, tmp_path):  # noqa: F811
    supabase_stack.upload_limit = 10 * MB
    gen = device.library.add(make_generation(tmp_path / "lib"))
    with_big_map(gen, 12 * MB)
    device.outbox.enqueue(gen.id)

    report = device.worker().run_pending()

    assert report.pushed == [gen.id] and not report.failed and gen.id in report.local_only
    assert supabase_stack.tus_patches == []
    assert remote_files(supabase_stack, gen.id)["height"]["local_only"] == "too_large"
    assert device.outbox.delivery([gen.id]) == {gen.id: Delivery.PARTIAL}
