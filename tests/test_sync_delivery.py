"""Which copy a generation has: local only, waiting to upload, refused, or synced. Its local files
are what the app uses either way."""

from __future__ import annotations

import pytest

from automata_desktop.sync.outbox import Delivery
from tests.supabase_stack.devices import Device, make_generation, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401


@pytest.fixture
def device(supabase_stack, tmp_path):  # noqa: F811
    dev = Device(supabase_stack, tmp_path / "laptop")
    dev.sign_up(unique_email("delivery"))
    yield dev
    dev.close()


def test_each_generation_says_which_copies_exist(device, supabase_stack, tmp_path):  # noqa: F811
    synced, refused, waiting, local = (device.library.add(make_generation(tmp_path / "lib", p))
                                       for p in ("synced", "refused", "waiting", "local"))
    refused.files[1].path.unlink()  # the user cleaned up a map: Supabase cannot get it
    for gen in (synced, refused):
        device.outbox.enqueue(gen.id)
    report = device.worker().run_pending()
    assert report.pushed == [synced.id] and refused.id in report.failed

    supabase_stack.stop_http()
    device.outbox.enqueue(waiting.id)
    assert device.worker().run_pending().offline

    states = device.outbox.delivery([synced.id, refused.id, waiting.id, local.id])
    assert states == {synced.id: Delivery.SYNCED, refused.id: Delivery.FAILED,
                      waiting.id: Delivery.PENDING, local.id: Delivery.LOCAL}
    assert device.outbox.failed_count() == 1
    assert refused.files[0].path.is_file()  # what remains locally is untouched


def test_sync_now_retries_at_once_whatever_the_backoff(device, supabase_stack, tmp_path):  # noqa: F811
    gen = device.library.add(make_generation(tmp_path / "lib"))
    supabase_stack.stop_http()
    device.outbox.enqueue(gen.id)
    assert device.worker().run_pending().offline
    supabase_stack.start_http()
    assert device.worker().run_pending().pushed == []  # still backing off

    device.outbox.retry_now()
    assert device.worker().run_pending().pushed == [gen.id]
    assert device.outbox.delivery([gen.id]) == {gen.id: Delivery.SYNCED}
