"""The continuous DAGs' small decisions: which hours a load lists, which hour a check takes, when to announce."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventpipe.ingest import pending
from eventpipe.orchestrate import continuous


def test_a_poll_lists_the_lookback_and_the_current_hour(monkeypatch):
    monkeypatch.setenv("EVENTPIPE_LOAD_LOOKBACK_HOURS", "2")
    start, end = pending.window(datetime(2026, 12, 7, 10, 59, 59))
    assert (start, end) == (datetime(2026, 12, 7, 8), datetime(2026, 12, 7, 11))
    assert pending.arrival_hours(start, end) == [datetime(2026, 12, 7, h) for h in (8, 9, 10)]
    assert continuous.load_range({"start": None, "end": None}) == pending.window()


def test_a_catch_up_names_its_range_in_utc_and_whole():
    assert continuous.load_range({"start": "2026-11-01T00:00+01:00", "end": "2026-11-02"}) == (
        datetime(2026, 10, 31, 23),
        datetime(2026, 11, 2),
    )
    with pytest.raises(ValueError, match="both start and end"):
        continuous.load_range({"start": "2026-11-01"})
    with pytest.raises(ValueError, match="must be after start"):
        continuous.load_range({"start": "2026-11-02", "end": "2026-11-01"})


def test_the_hourly_check_takes_the_hour_that_closed_a_quarter_before():
    assert continuous.closed_hour(datetime(2026, 12, 7, 10, 15, tzinfo=UTC)) == datetime(2026, 12, 7, 9)
    assert continuous.closed_hour(datetime(2026, 12, 7, 10, 14)) == datetime(2026, 12, 7, 8)  # 9:00 not yet checked
    assert continuous.checked_hours({"start": "2026-12-01T00:00", "end": "2026-12-01T03:00"}, None) == [
        datetime(2026, 12, 1, h) for h in range(3)
    ]


def test_only_a_run_that_committed_announces():
    assert continuous.committed({"commits": [7]}) and not continuous.committed({"commits": []})
    assert not continuous.committed({})
