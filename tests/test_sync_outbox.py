"""The durable outbox: what is queued survives restarts, retries back off, nothing is lost."""

from __future__ import annotations

from automata_desktop.sync import Outbox, OutboxKind, backoff_delay
from automata_desktop.sync.outbox import BACKOFF_CAP_S, BUSY_PREFIX, Delivery


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_queued_work_survives_a_restart(tmp_path):
    box = Outbox(tmp_path)
    box.enqueue("gen-1")
    box.enqueue("gen-2", "delete")
    box.close()

    reopened = Outbox(tmp_path)
    assert [(i.generation_id, i.kind) for i in reopened.items()] == [
        ("gen-1", OutboxKind.PUSH), ("gen-2", OutboxKind.DELETE)]
    assert (tmp_path / "sync.sqlite3").exists()


def test_a_claim_left_by_a_killed_process_is_picked_up_again(tmp_path):
    box = Outbox(tmp_path)
    box.enqueue("gen-1")
    assert box.claim() is not None
    assert box.claim() is None  # leased to the (now dead) first claimer
    # no ack, no fail: the process died

    reopened = Outbox(tmp_path)
    item = reopened.claim()
    assert item is not None and item.generation_id == "gen-1"


def test_a_generation_is_queued_once_and_delete_wins(tmp_path):
    box = Outbox(tmp_path)
    box.enqueue("gen-1")
    box.enqueue("gen-1")
    assert len(box) == 1
    box.enqueue("gen-1", "delete")
    box.enqueue("gen-1", "push")
    assert [i.kind for i in box.items()] == [OutboxKind.DELETE]


def test_a_change_made_while_pushing_is_not_lost(tmp_path):
    box = Outbox(tmp_path)
    box.enqueue("gen-1")
    item = box.claim()
    box.enqueue("gen-1")  # the user edited the generation during the upload
    box.ack(item)

    again = box.claim()
    assert again is not None and again.generation_id == "gen-1"
    box.ack(again)
    assert len(box) == 0


def test_failures_back_off_exponentially_up_to_a_cap(tmp_path):
    clock = Clock()
    box = Outbox(tmp_path, clock=clock, rng=lambda: 1.0)
    box.enqueue("gen-1")
    delays = []
    for _ in range(12):
        item = box.claim()
        assert item is not None
        delays.append(box.fail(item, "offline"))
        assert box.claim() is None  # not due yet
        clock.now += delays[-1]
    assert delays[:4] == [2.0, 4.0, 8.0, 16.0]
    assert max(delays) == BACKOFF_CAP_S
    assert box.items()[0].attempts == 12
    assert box.items()[0].last_error == "offline"


def test_backoff_is_jittered_between_half_and_full():
    assert backoff_delay(3, rng=lambda: 0.0) == 4.0
    assert backoff_delay(3, rng=lambda: 1.0) == 8.0
    assert 4.0 <= backoff_delay(3) <= 8.0


def test_waiting_on_a_busy_supabase_is_pending_not_failed(tmp_path):
    box = Outbox(tmp_path)
    box.enqueue("gen-1")
    box.fail(box.claim(), f"{BUSY_PREFIX}Supabase is rate limiting this device (HTTP 429)")

    assert box.delivery(["gen-1"]) == {"gen-1": Delivery.PENDING}
    assert box.failed_count() == 0


def test_a_push_that_kept_a_file_local_is_partly_synced_until_one_takes_everything(tmp_path):
    box = Outbox(tmp_path)
    box.enqueue("gen-1")
    box.ack(box.claim(), local_only="height.exr (72 MB) is larger than ... (50 MB)")
    assert box.delivery(["gen-1"]) == {"gen-1": Delivery.PARTIAL}
    assert box.local_only(["gen-1", "gen-2"]) == {
        "gen-1": "height.exr (72 MB) is larger than ... (50 MB)"}
    box.close()

    reopened = Outbox(tmp_path)  # it is remembered
    assert reopened.delivery(["gen-1"]) == {"gen-1": Delivery.PARTIAL}
    reopened.enqueue("gen-1")
    reopened.ack(reopened.claim())  # the limit was raised: everything went up this time
    assert reopened.delivery(["gen-1"]) == {"gen-1": Delivery.SYNCED}
    assert reopened.local_only(["gen-1"]) == {}
