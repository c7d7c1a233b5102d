"""The queue's ETA agrees with the clock: at fraction f after t seconds about t·(1-f)/f is left,
re-estimated as time passes (the row said "7 s left" at 25 % of a job that had run 16 s)."""

from __future__ import annotations

import pytest

from automata_desktop.core.generation import GenerationStatus
from automata_desktop.jobs.models import JobUpdate
from automata_desktop.ui.queue_view import EtaEstimate, QueueRow

pytestmark = pytest.mark.gui


def test_the_eta_agrees_with_elapsed_time_and_progress():
    # Steady progress, 40 s in all: at every second the estimate is the time actually left.
    steady = EtaEstimate()
    steady.update(0.0, 0.0)
    for t in range(1, 30):
        remaining = steady.update(t / 40, float(t))
        if t < 2:
            assert remaining is None  # no pace to go by yet
        else:
            assert remaining == pytest.approx(40 - t, rel=0.02)

    # The reported case: 25 % came after 2.3 s (fast first nodes), then a long node reports
    # nothing. At 16 s the rest takes about 16·0.75/0.25 = 48 s, not the "7 s" of 2.3 s.
    stalled = EtaEstimate()
    stalled.update(0.0, 0.0)
    stalled.update(0.25, 2.3)
    for t in range(3, 17):
        stalled.tick(float(t))
    assert stalled.remaining_s == pytest.approx(48, rel=0.15)

    early = EtaEstimate()
    early.update(0.0, 0.0)
    assert early.update(0.01, 10.0) is None  # 1 % is no pace


def test_a_row_shows_the_eta_of_its_own_clock_not_a_figure_frozen_at_the_last_update(qapp):
    row = QueueRow("g1", "Slow · http://gpu.local:8188")
    row.apply(JobUpdate("g1", GenerationStatus.RUNNING, fraction=0.0))
    row.apply(JobUpdate("g1", GenerationStatus.RUNNING, fraction=0.25, eta_s=7.0))
    assert "left" not in row.progress.format()  # too early to say
    row.tick(row.eta.started_at + 16.0)  # 16 s into the run, no update since 25 %
    assert row.progress.format().endswith("48 s left"), row.progress.format()
