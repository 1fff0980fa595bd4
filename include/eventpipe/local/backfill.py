"""A range of hours as one Airflow backfill: created as ``airflow backfill create`` and ``POST /api/v2/backfills``
create it, run by a live scheduler or, on the embedded default, in this process.

Airflow is imported inside the functions: the caller sets Airflow's environment first (``runner.prepare``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from eventpipe.utc import naive_utc

TRIGGERED_BY = "eventpipe run"
POLL_SECONDS = 2
# Without a scheduler heartbeat for this long, waiting for one is given up (Airflow's own liveness: 2.1 heartbeats).
SCHEDULER_GONE_SECONDS = 60
FINISHED = frozenset({"success", "failed"})


class SchedulerGone(RuntimeError):
    """The scheduler a backfill was handed to stopped heartbeating before the backfill ended."""


@dataclass
class RunOutcome:
    interval_start: datetime
    state: str


@dataclass(frozen=True)
class BackfillRun:
    """One hour of a backfill: its DAG run's primary key and the arrival hour it loads (naive UTC)."""

    dag_run_pk: int
    run_id: str
    interval_start: datetime


def sync_dag(dag) -> None:
    """Write the DAG to the metadata database (a backfill is made from its serialized form), as ``dag.test`` and
    the DAG processor do."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    for bundle in manager.get_all_dag_bundles():
        if not bundle.is_initialized:
            bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        if dag.dag_id in bag.dags:
            sync_bag_to_db(bag, bundle.name, bundle.version)
            return
    raise RuntimeError(f"DAG {dag.dag_id} is in no DAG bundle of this Airflow")


def scheduler_is_alive() -> bool:
    """A scheduler heartbeats on this metadata database (``airflow jobs check --job-type SchedulerJob``)."""
    from airflow.jobs.job import most_recent_job

    job = most_recent_job("SchedulerJob")
    return bool(job and job.is_alive())


def create(dag, hours: list[datetime]) -> int:
    """One backfill over ``hours`` (naive UTC arrival hours, ascending); returns its id.

    Hours that already ran are run again (reprocess ``completed``: clearing an hour is how it is re-run), at most
    ``max_active_runs`` of the DAG at once (one on the embedded DuckDB).
    """
    # What `airflow backfill create` and POST /api/v2/backfills call (Airflow 3.3 has no other entry point).
    from airflow.models.backfill import ReprocessBehavior, _create_backfill

    backfill = _create_backfill(
        dag_id=dag.dag_id,
        from_date=hours[0].replace(tzinfo=UTC),
        to_date=hours[-1].replace(tzinfo=UTC),
        max_active_runs=dag.max_active_runs,
        reverse=False,
        dag_run_conf=None,
        triggering_user_name=TRIGGERED_BY,
        reprocess_behavior=ReprocessBehavior.COMPLETED,
    )
    return backfill.id


def runs(backfill_id: int) -> list[BackfillRun]:
    """The backfill's DAG runs in its own order (time order)."""
    from airflow.models.backfill import BackfillDagRun
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(DagRun.id, DagRun.run_id, DagRun.data_interval_start)
            .join(BackfillDagRun, BackfillDagRun.dag_run_id == DagRun.id)
            .where(BackfillDagRun.backfill_id == backfill_id)
            .order_by(BackfillDagRun.sort_ordinal)
        ).all()
    return [BackfillRun(pk, run_id, naive_utc(start)) for pk, run_id, start in rows]


def check_covers(backfill_id: int, hours: list[datetime]) -> None:
    """The backfill runs exactly ``hours``, else it is closed unrun and this says why.

    Airflow matches an existing run by logical date: a run an older eventpipe made (``dag.test`` runs,
    dated at their interval's end) would be taken for the next hour's, and a run still in flight is not taken.
    """
    covered = [run.interval_start for run in runs(backfill_id)]
    if covered != hours:
        mark_complete(backfill_id)
        missing = sorted(set(hours) - set(covered))
        foreign = sorted(set(covered) - set(hours))
        raise RuntimeError(
            f"backfill {backfill_id} does not cover the hours asked for (missing {missing[:3]}, other hours "
            f"{foreign[:3]}): a run of one of these hours is still in flight, or the metadata database holds runs "
            "from an older eventpipe dated differently (`make clean-home`, or another EVENTPIPE_HOME)"
        )


def run_in_process(dag, run: BackfillRun) -> str:
    """Run one of the backfill's runs here, through ``dag.test``'s loop (tasks, retries, deferrals), and return its
    state. ``dag.test`` makes a manual run of its own; here it is handed the backfill's run instead."""
    import airflow.models.dagrun as dagrun_module
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    def the_backfill_run(*, dag, session, **_ignored) -> DagRun:
        dag_run = session.scalar(select(DagRun).where(DagRun.id == run.dag_run_pk))
        dag_run.dag = dag
        dag_run.state = DagRunState.RUNNING
        dag_run.start_date = datetime.now(UTC)  # its real start (dag.test would date it at the logical date)
        dag_run.end_date = None
        session.flush()
        return dag_run

    logical = _logical_date(run)
    with _replaced(dagrun_module, "get_or_create_dagrun", the_backfill_run):
        dag_run = dag.test(logical_date=logical, run_after=logical)
    return str(getattr(dag_run.state, "value", dag_run.state))


def wait(backfill_id: int, on_interval: Callable[[datetime, str], None] | None) -> list[RunOutcome]:
    """Wait while a scheduler runs the backfill; report each hour as its run ends (in the order they end)."""
    from airflow.models.backfill import Backfill
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    reported: dict[int, RunOutcome] = {}
    expected = runs(backfill_id)
    last_seen = time.monotonic()
    while True:
        with create_session() as session:
            for run in expected:
                if run.dag_run_pk in reported:
                    continue
                state = str(session.get(DagRun, run.dag_run_pk).state)
                if state in FINISHED:
                    reported[run.dag_run_pk] = RunOutcome(run.interval_start, state)
                    if on_interval:
                        on_interval(run.interval_start, state)
            completed = session.get(Backfill, backfill_id).completed_at is not None
        if len(reported) == len(expected) or completed:
            break
        if scheduler_is_alive():
            last_seen = time.monotonic()
        elif time.monotonic() - last_seen > SCHEDULER_GONE_SECONDS:
            raise SchedulerGone(
                f"the scheduler stopped while backfill {backfill_id} ran ({len(reported)} of {len(expected)} hours "
                "done); its runs continue when a scheduler starts again (eventpipe up), or clear them in the UI"
            )
        time.sleep(POLL_SECONDS)
    return [reported.get(run.dag_run_pk, RunOutcome(run.interval_start, "not run")) for run in expected]


def mark_complete(backfill_id: int) -> None:
    """What the scheduler does once a backfill's runs are over (here, no scheduler ran them)."""
    from airflow.models.backfill import Backfill
    from airflow.utils.session import create_session

    with create_session() as session:
        session.get(Backfill, backfill_id).completed_at = datetime.now(UTC)


def close_abandoned(dag_id: str) -> list[int]:
    """Complete the backfills of ``dag_id`` a stopped ``eventpipe run`` left open (Airflow allows one at a time).

    Only called when no scheduler is alive, so nothing is running them: their runs that never finished are marked
    failed (and show so in the UI), and the backfill gets its completion time.
    """
    from airflow.models.backfill import Backfill, BackfillDagRun
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    with create_session() as session:
        open_backfills = session.scalars(
            select(Backfill).where(Backfill.dag_id == dag_id, Backfill.completed_at.is_(None))
        ).all()
        for backfill in open_backfills:
            unfinished = session.scalars(
                select(DagRun)
                .join(BackfillDagRun, BackfillDagRun.dag_run_id == DagRun.id)
                .where(BackfillDagRun.backfill_id == backfill.id, DagRun.state.not_in(list(FINISHED)))
            ).all()
            for dag_run in unfinished:
                dag_run.state = DagRunState.FAILED
                dag_run.end_date = datetime.now(UTC)
            backfill.completed_at = datetime.now(UTC)
        return [backfill.id for backfill in open_backfills]


def _logical_date(run: BackfillRun) -> datetime:
    # A backfill run of the hourly interval timetable is dated at its interval's start.
    return run.interval_start.replace(tzinfo=UTC)


@contextlib.contextmanager
def _replaced(module, name: str, value) -> Iterator[None]:
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)
