"""A catch-up handed to a live scheduler (``eventpipe.local.scheduled``), against a stand-in for the REST API: what is
triggered, what is waited for, what stops it. The real scheduler's case: tests/e2e/test_run_through_scheduler.py."""

from __future__ import annotations

from datetime import datetime

import pytest

from eventpipe.local import backfill, backlog, scheduled


class FakeApi:
    """Runs end one poll after they are made; ``on_end`` says what a run did to the ledgers."""

    url = "http://airflow.test"

    def __init__(self, ledger, paused=(), fail=()):
        self.ledger, self.paused, self.fail = ledger, set(paused), set(fail)
        self.made: dict[str, list[dict]] = {dag_id: [] for dag_id in scheduled.CONTINUOUS}
        self.triggered: list[tuple[str, dict | None]] = []

    def is_paused(self, dag_id):
        return dag_id in self.paused

    def make(self, dag_id, run_type="manual"):
        run = {"dag_run_id": f"{run_type}__{dag_id}_{len(self.made[dag_id])}", "state": "queued", "polls": 0}
        self.made[dag_id].insert(0, run)
        return run["dag_run_id"]

    def trigger(self, dag_id, conf=None, note=None):
        self.triggered.append((dag_id, conf))
        return self.make(dag_id)

    def runs(self, dag_id, limit=50):
        for run in self.made[dag_id]:
            if run["state"] == "queued":
                run["state"] = "running"
            elif run["state"] == "running":
                failed = dag_id in self.fail or f"{dag_id}:{run['dag_run_id'].split('__')[0]}" in self.fail
                run["state"] = "failed" if failed else "success"
                self.ledger.ran(self, dag_id)
        return [dict(run) for run in self.made[dag_id]]


class Ledger:
    """Three files to load, two a load run; each load commit wakes deliver_events and transform (asset events)."""

    def __init__(self, files=3, per_run=2, wake=True, busy=False):
        self.files, self.per_run, self.wake, self.busy = files, per_run, wake, busy
        self.commits = self.delivered = self.bound = 0

    def ran(self, api, dag_id):
        if dag_id == "load_events" and self.files:
            self.files -= min(self.per_run, self.files)
            self.commits += 1
            if self.wake:
                api.make("deliver_events", "asset_triggered")
                api.make("transform", "asset_triggered")
        elif dag_id == "deliver_events":
            self.delivered = self.commits
        elif dag_id == "transform":
            self.bound = self.commits
        if self.busy and dag_id in ("deliver_events", "transform"):  # the sweep's next run is already queued
            api.make(dag_id, "scheduled")


@pytest.fixture
def ledger(monkeypatch):
    ledger = Ledger()
    monkeypatch.setattr(scheduled, "POLL_SECONDS", 0)
    monkeypatch.setattr(scheduled, "NUDGE_SECONDS", 0)
    monkeypatch.setattr(backfill, "scheduler_is_alive", lambda: True)
    monkeypatch.setattr(backlog, "files_waiting", lambda start, end: ledger.files)
    monkeypatch.setattr(backlog, "deliveries_waiting", lambda: ledger.commits - ledger.delivered)
    monkeypatch.setattr(backlog, "last_commit", lambda: ledger.commits)
    monkeypatch.setattr(backlog, "marts_waiting", lambda through=None: 0 if ledger.bound >= through else 1)
    return ledger


START, END = datetime(2026, 12, 1, 0), datetime(2026, 12, 1, 6)


def test_loads_are_triggered_with_the_range_until_none_is_left_then_the_checks(ledger):
    api = FakeApi(ledger)
    reported = []
    outcomes = scheduled.catch_up(START, END, on_run=reported.append, api=api)

    conf = {"start": "2026-12-01T00:00:00", "end": "2026-12-01T06:00:00"}
    assert api.triggered == [("load_events", conf), ("load_events", conf), ("hourly_checks", conf)]
    assert outcomes == reported and {o.state for o in outcomes} == {"success"}
    finished = [o.dag_id for o in outcomes]
    assert finished.count("load_events") == 2 and finished[-1] == "hourly_checks"
    assert "deliver_events" in finished and "transform" in finished  # the asset-triggered runs, reported too
    assert ledger.delivered == ledger.commits == 2 and ledger.bound == 2


def test_without_an_asset_triggered_run_one_is_triggered_rather_than_wait_for_the_sweep(ledger):
    ledger.wake = False
    api = FakeApi(ledger)
    scheduled.catch_up(START, END, api=api)
    assert [dag_id for dag_id, _ in api.triggered] == [
        "load_events", "load_events", "deliver_events", "transform", "hourly_checks"
    ]  # fmt: skip
    assert ledger.delivered == ledger.bound == 2


@pytest.mark.timeout(30)
def test_on_a_busy_scheduler_a_build_begun_after_the_last_commit_is_enough(ledger):
    ledger.busy = True  # a deliver_events and a transform run are always queued or running
    api = FakeApi(ledger)
    outcomes = scheduled.catch_up(START, END, api=api)
    assert [dag_id for dag_id, _ in api.triggered] == ["load_events", "load_events", "hourly_checks"]
    assert outcomes[-1].dag_id == "hourly_checks" and ledger.delivered == ledger.bound == 2


def test_paused_dags_are_named_before_anything_is_triggered(ledger):
    api = FakeApi(ledger, paused={"transform", "deliver_events"})
    with pytest.raises(scheduled.DagsPaused, match=r"deliver_events, transform are paused there.*unpause"):
        scheduled.catch_up(START, END, api=api)
    assert api.triggered == []


def test_a_failed_run_stops_the_catch_up_naming_it(ledger):
    api = FakeApi(ledger, fail={"deliver_events"})
    with pytest.raises(scheduled.CatchUpFailed, match=r"deliver_events run asset_triggered__deliver_events_\d ended"):
        scheduled.catch_up(START, END, api=api)
    assert ("hourly_checks", {"start": START.isoformat(), "end": END.isoformat()}) not in api.triggered


def test_the_schedulers_own_hourly_checks_of_other_hours_are_not_the_catch_ups(ledger):
    api = FakeApi(ledger, fail={"hourly_checks:scheduled"})
    api.make("hourly_checks", "scheduled")  # the last closed hour, empty here: its volume check fails
    outcomes = scheduled.catch_up(START, END, api=api)
    assert [o.run_id for o in outcomes if o.dag_id == "hourly_checks"] == ["manual__hourly_checks_1"]
    assert {o.state for o in outcomes} == {"success"}


def test_a_load_that_takes_nothing_stops_the_catch_up(ledger):
    ledger.per_run = 0
    with pytest.raises(scheduled.CatchUpFailed, match="3 landed files of the range are still not loaded"):
        scheduled.catch_up(START, END, api=FakeApi(ledger))
