"""Supabase saying "not now": rate limits (429) from Storage, the Data API and Auth, and 503/504
from PostgREST and Storage, are waited out with backoff (and `Retry-After`), never shown as a
failed upload. Real client over real HTTP; the stand-in answers in the services' own shapes."""

from __future__ import annotations

import time

import pytest

from automata_desktop.core.maps import MapKind
from automata_desktop.sync import Outbox
from automata_desktop.sync.outbox import Delivery
from tests.supabase_stack.devices import Device, make_generation, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401
from tests.test_sync_large_files import MB, with_big_map


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def device(supabase_stack, tmp_path):  # noqa: F811
    dev = Device(supabase_stack, tmp_path / "laptop")
    dev.sign_up(unique_email("busy"))
    dev.clock = Clock()
    dev.outbox.close()
    dev.outbox = Outbox(tmp_path / "laptop" / "data", clock=dev.clock)
    yield dev
    dev.close()


def waits_without_failing(device, gen_id, at_least: float) -> None:
    """The generation is pending (not failed), and nothing is tried for `at_least` seconds."""
    assert device.outbox.delivery([gen_id]) == {gen_id: Delivery.PENDING}
    assert device.outbox.failed_count() == 0
    [item] = device.outbox.items()
    assert item.next_attempt_at - device.clock.now >= at_least
    assert item.last_error.startswith("busy: ")


@pytest.mark.parametrize(("route", "status", "method"), [
    ("storage", 429, "POST"),  # the API gateway's rate limit on uploads
    ("storage", 503, "POST"),  # storage-api's DatabaseConnectionLimit (HTTP 400, body 503)
    ("storage", 504, "POST"),  # a gateway timeout page
    ("rest", 429, "POST"),     # the gateway's rate limit on the Data API (no PostgREST code)
    ("rest", 503, "POST"),     # PostgREST's PGRST001
    ("rest", 504, "POST"),     # PostgREST's PGRST003
])
def test_supabase_asking_to_wait_is_waited_out_not_reported_as_a_failure(
        device, supabase_stack, tmp_path, route, status, method):  # noqa: F811
    gen = device.library.add(make_generation(tmp_path / "lib"))
    device.outbox.enqueue(gen.id)
    supabase_stack.faults.fail_next(route, 1, status, retry_after=30, method=method)

    report = device.worker().run_pending()

    assert supabase_stack.faults.answered == [(route, method, status)]
    assert report.busy and not report.failed and not report.pushed
    waits_without_failing(device, gen.id, at_least=30)  # Retry-After, not the 2 s backoff
    device.clock.now += 10
    assert device.worker().run_pending().pushed == []  # still waiting

    device.clock.now += 21
    report = device.worker().run_pending()
    assert report.pushed == [gen.id] and not report.failed
    assert device.outbox.delivery([gen.id]) == {gen.id: Delivery.SYNCED}


def test_without_retry_after_the_outbox_backoff_applies(device, supabase_stack, tmp_path):  # noqa: F811
    gen = device.library.add(make_generation(tmp_path / "lib"))
    device.outbox.enqueue(gen.id)
    supabase_stack.faults.fail_next("rest", 3, 503)

    for _ in range(3):
        assert device.worker().run_pending().busy
        device.clock.now = device.outbox.items()[0].next_attempt_at
    assert device.outbox.items()[0].attempts == 3 and device.outbox.failed_count() == 0

    assert device.worker().run_pending().pushed == [gen.id]


def test_a_rate_limited_row_write_does_not_upload_the_files_again(
        device, supabase_stack, tmp_path):  # noqa: F811
    gen = device.library.add(make_generation(tmp_path / "lib"))
    device.outbox.enqueue(gen.id)
    supabase_stack.faults.fail_next("rest", 1, 429, method="POST", retry_after=5)

    assert device.worker().run_pending().busy
    assert len(supabase_stack.uploads) == 3
    device.clock.now += 6
    report = device.worker().run_pending()

    assert report.pushed == [gen.id] and report.uploaded == 0 and report.skipped_files == 3
    assert len(supabase_stack.uploads) == 3


def test_a_rate_limited_resumable_upload_goes_on_where_it_stopped(
        device, supabase_stack, tmp_path):  # noqa: F811
    gen = device.library.add(make_generation(tmp_path / "lib", kinds=(MapKind.BASE_COLOR,)))
    with_big_map(gen, 14 * MB)
    device.outbox.enqueue(gen.id)
    # The first chunk goes through, the second is rate limited.
    supabase_stack.faults.fail_next("tus", 1, 429, method="PATCH", after=1, retry_after=12)

    report = device.worker().run_pending()

    assert report.busy and not report.failed
    waits_without_failing(device, gen.id, at_least=12)
    assert supabase_stack.tus_patches == [(0, 6 * MB)]

    device.clock.now += 13
    report = device.worker().run_pending()
    assert report.pushed == [gen.id]
    assert [o for o, _ in supabase_stack.tus_patches] == [0, 6 * MB, 12 * MB]


def test_a_rate_limited_token_refresh_waits_and_keeps_the_session(
        device, supabase_stack, tmp_path):  # noqa: F811
    supabase_stack.jwt_expiry = 5  # inside supabase-py's 10 s margin: every use refreshes
    email = device.auth.account.email
    device.auth.sign_out()
    device.auth.sign_in(email, "correct horse battery")
    gen = device.library.add(make_generation(tmp_path / "lib"))
    device.outbox.enqueue(gen.id)
    supabase_stack.faults.fail_next("auth", 1, 429, retry_after=20)

    report = device.worker().run_pending()

    assert supabase_stack.faults.answered == [("auth", "POST", 429)]
    assert report.busy and not report.signed_out and not report.failed
    assert device.auth.account is not None  # still signed in
    waits_without_failing(device, gen.id, at_least=20)
    device.clock.now += 21
    assert device.worker().run_pending().pushed == [gen.id]
