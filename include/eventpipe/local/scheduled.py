"""A catch-up of a range of arrival hours handed to the scheduler that is up (``eventpipe up``, a deployment), over the
Airflow REST API: the runs are the scheduler's, on its executor, in the UI as any other.

1. ``load_events`` triggered with the range as its ``start`` / ``end`` (a manual run, noted ``eventpipe run``), again
   while the ledger says the range holds files it has not seen; each run must succeed.
2. ``deliver_events`` and ``transform`` run on the load's asset events as they always do (or the sweep): this waits
   until no destination has a load commit it has not received whole and a ``transform`` run that began after the
   last commit (the build bound covers it) has finished. If neither kind of run is queued or running while work is
   left, this triggers one rather than wait for the sweep.
3. ``hourly_checks`` triggered with the range: every hour reconciled whole and its volume checked.

Every run of the first three DAGs that ends meanwhile (the scheduler's own polls included: they take the range's files
too) is reported as it ends, and the ``hourly_checks`` run this triggered (the scheduler's own check other hours); a
failed one stops the catch-up with its DAG and run id. The DAGs must be unpaused on that Airflow: a paused DAG's runs
never start, so this refuses at once, naming them, rather than wait (unpausing them would change what that scheduler
does after this command ends: it is the operator's switch).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from eventpipe.local import backfill, backlog
from eventpipe.local.airflow_api import AirflowApi

CONTINUOUS = ("load_events", "deliver_events", "transform", "hourly_checks")
TRIGGERED_BY = "eventpipe run"
POLL_SECONDS = 3
# With work left and no run of the DAG that takes it queued or running for this long, one is triggered (its asset
# event may have been taken by a run that began before the last commit; the sweep would come later).
NUDGE_SECONDS = 10
# This many runs of a stage ending with its backlog unchanged: it is not making progress, and this says so.
STALLED_RUNS = 3
MAX_LOAD_RUNS = 500
ACTIVE = frozenset({"queued", "running"})
# The scheduler's own hourly_checks runs check other hours (the last closed one): only the run this triggers counts.
OWN_RUNS_ONLY = frozenset({"hourly_checks"})


class CatchUpFailed(RuntimeError):
    """A run of the catch-up failed, or a stage stopped making progress."""


class DagsPaused(CatchUpFailed):
    """The continuous DAGs are paused on the Airflow whose scheduler is up: their runs would never start."""


@dataclass
class DagRunOutcome:
    dag_id: str
    run_id: str
    state: str


class Runs:
    """The runs of the continuous DAGs as the API reports them: each one that ends after this began is reported once;
    a failed one raises."""

    def __init__(self, api: AirflowApi, on_run: Callable[[DagRunOutcome], None] | None):
        self.api, self.on_run = api, on_run
        self.outcomes: list[DagRunOutcome] = []
        self.mine: set[tuple[str, str]] = set()
        self.latest: dict[str, list[dict]] = {}
        self.reported = {(dag_id, run["dag_run_id"]) for dag_id in CONTINUOUS for run in self._fetch(dag_id)
                         if run["state"] not in ACTIVE}  # fmt: skip

    def _fetch(self, dag_id: str) -> list[dict]:
        self.latest[dag_id] = self.api.runs(dag_id)
        return self.latest[dag_id]

    def poll(self) -> None:
        for dag_id in CONTINUOUS:
            for run in reversed(self._fetch(dag_id)):  # oldest first
                key = (dag_id, run["dag_run_id"])
                if run["state"] in ACTIVE or key in self.reported or (dag_id in OWN_RUNS_ONLY and key not in self.mine):
                    continue
                self.reported.add(key)
                outcome = DagRunOutcome(dag_id, run["dag_run_id"], run["state"])
                self.outcomes.append(outcome)
                if self.on_run:
                    self.on_run(outcome)
                if outcome.state != "success":
                    raise CatchUpFailed(
                        f"{dag_id} run {outcome.run_id} ended {outcome.state}: its task logs are in the Airflow UI"
                        f" ({self.api.url}); Clear the failed task there, then run this again"
                    )

    def active(self, dag_id: str) -> bool:
        return any(run["state"] in ACTIVE for run in self.latest.get(dag_id, []))

    def last_state(self, dag_id: str) -> str | None:
        runs = self.latest.get(dag_id, [])
        return runs[0]["state"] if runs else None

    def finished(self, dag_id: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.dag_id == dag_id)

    def trigger(self, dag_id: str, conf: dict | None, note: str) -> str:
        run_id = self.api.trigger(dag_id, conf, note)
        self.mine.add((dag_id, run_id))
        return run_id

    def wait_for(self, dag_id: str, run_id: str, watch: Callable[[], None]) -> None:
        while (dag_id, run_id) not in self.reported:
            watch()
            self.poll()


def catch_up(
    start: datetime,
    end: datetime,
    on_run: Callable[[DagRunOutcome], None] | None = None,
    api: AirflowApi | None = None,
) -> list[DagRunOutcome]:
    api = api or AirflowApi.from_environment()
    if paused := [dag_id for dag_id in CONTINUOUS if api.is_paused(dag_id)]:
        raise DagsPaused(
            f"a scheduler is up on this Airflow ({api.url}) but {', '.join(paused)} "
            f"{'is' if len(paused) == 1 else 'are'} paused there, so no run of them would start: unpause them (the"
            f" toggle in the UI, or `airflow dags unpause <dag_id>`) and run this again; once unpaused they also run"
            f" on their own (load_events every minute)"
        )
    conf = {"start": start.isoformat(), "end": end.isoformat()}
    note = f"{TRIGGERED_BY}: arrival hours {start:%Y-%m-%dT%H:%M} to {end:%Y-%m-%dT%H:%M} UTC"
    runs = Runs(api, on_run)
    watch = _SchedulerWatch()

    left = None
    for _ in range(MAX_LOAD_RUNS):
        runs.wait_for("load_events", runs.trigger("load_events", conf, note), watch)
        now_left = _when_readable(lambda: backlog.files_waiting(start, end), watch)
        if now_left == 0:
            break
        if now_left == left:
            raise CatchUpFailed(f"{now_left} landed files of the range are still not loaded after a load_events run")
        left = now_left

    # The range is in raw through this commit: deliveries are done when every destination holds every commit; the marts
    # when a build that began after it has finished (its bound covers it, and its run ended).
    through = _when_readable(backlog.last_commit, watch)
    runs.poll()
    builds = _Builds(runs, through)
    stages = {"deliver_events": _Stage(backlog.deliveries_waiting), "transform": _Stage(builds.waiting)}
    while True:
        watch()
        runs.poll()
        done = True
        for dag_id, stage in stages.items():
            waiting = _when_readable(stage.waiting, watch)
            if waiting == 0:
                continue
            done = False
            stage.check_progress(dag_id, waiting, runs.finished(dag_id))
            if runs.active(dag_id):
                stage.idle_since = None
            elif stage.idle_since is None:
                stage.idle_since = time.monotonic()
            elif time.monotonic() - stage.idle_since > NUDGE_SECONDS:
                runs.trigger(dag_id, None, note)
                stage.idle_since = None
        if done:
            break

    runs.wait_for("hourly_checks", runs.trigger("hourly_checks", conf, note), watch)
    return runs.outcomes


class _Builds:
    """Whether the marts hold every load commit up to ``through``: a ``transform`` run that began after it has ended
    in success. Told by the build bound (written when a build begins) when no build is queued or running; else by the
    runs themselves: one made after ``through`` was read, or still queued then, began after it."""

    def __init__(self, runs: Runs, through: int):
        self.runs, self.through = runs, through
        self.before = {run["dag_run_id"] for run in runs.latest.get("transform", []) if run["state"] != "queued"}

    def waiting(self) -> int:
        latest = self.runs.latest.get("transform", [])
        if any(run["state"] == "success" and run["dag_run_id"] not in self.before for run in latest):
            return 0
        if self.runs.active("transform"):
            return 1
        waiting = backlog.marts_waiting(self.through)
        return waiting if waiting or self.runs.last_state("transform") == "success" else 1


@dataclass
class _Stage:
    waiting: Callable[[], int]
    idle_since: float | None = None
    backlog_seen: int | None = None
    runs_seen: int = 0

    def check_progress(self, dag_id: str, waiting: int, finished_runs: int) -> None:
        if waiting != self.backlog_seen:
            self.backlog_seen, self.runs_seen = waiting, finished_runs
        elif finished_runs - self.runs_seen >= STALLED_RUNS:
            raise CatchUpFailed(
                f"{dag_id} ran {finished_runs - self.runs_seen} times and {waiting} load commits still wait for it:"
                " see its task logs in the Airflow UI"
            )


class _SchedulerWatch:
    """Called at every poll: the scheduler that runs the catch-up is still heartbeating (else, after a minute,
    ``backfill.SchedulerGone``); and the poll's pause."""

    def __init__(self):
        self.last_seen = time.monotonic()
        self.calls = 0

    def __call__(self) -> None:
        if self.calls:
            time.sleep(POLL_SECONDS)
        self.calls += 1
        if backfill.scheduler_is_alive():
            self.last_seen = time.monotonic()
        elif time.monotonic() - self.last_seen > backfill.SCHEDULER_GONE_SECONDS:
            raise backfill.SchedulerGone(
                "the scheduler stopped during the catch-up; the runs it had queued run when a scheduler starts again"
                " (eventpipe up), then run this again"
            )


def _when_readable(count: Callable[[], int], watch: Callable[[], None]) -> int:
    """A ledger count; while a task holds the embedded DuckDB's lock for longer than a reader waits, asked again."""
    while True:
        try:
            return count()
        except Exception as error:  # duckdb.IOException: the file is locked by a task's process
            if "lock" not in str(error).lower():
                raise
        watch()
