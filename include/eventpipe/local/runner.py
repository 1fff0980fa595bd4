"""Run ``event_pipeline`` through Airflow for a range of hourly intervals (on the target the
environment names: ``eventpipe.local.targets``), as one Airflow backfill (``eventpipe.local.backfill``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta

from eventpipe import settings
from eventpipe.local import backfill
from eventpipe.local.backfill import RunOutcome
from eventpipe.orchestrate import airflow_env
from eventpipe.utc import hour_floor, naive_utc, utc_now

PIPELINE_DAG_ID = "event_pipeline"


def hourly_intervals(start: datetime, end: datetime) -> list[datetime]:
    """The arrival hours that start in ``[start, end)``; naive datetimes are UTC."""
    current, stop = hour_floor(start), naive_utc(end)
    hours = []
    while current < stop:
        hours.append(current)
        current += timedelta(hours=1)
    return hours


def hours_not_over(hours: list[datetime]) -> list[datetime]:
    """The hours that have not ended yet: no backfill (nor scheduled run) loads an hour before it is over."""
    now = utc_now()
    return [hour for hour in hours if hour + timedelta(hours=1) > now]


def not_over_message(not_over: list[datetime]) -> str:
    return (
        f"{len(not_over)} of the hours have not ended yet (from {not_over[0]:%Y-%m-%dT%H}:00 UTC): an hour is "
        "loaded once it is over, by its scheduled run or a later `eventpipe run`"
    )


def manifest_is_current() -> bool:
    """The manifest exists and no model, macro, test or project file is newer than it."""
    from eventpipe.orchestrate.dbt_config import MANIFEST_PATH

    if not MANIFEST_PATH.exists():
        return False
    built = MANIFEST_PATH.stat().st_mtime
    project = settings.dbt_project_dir()
    sources = [p for pattern in ("*.sql", "*.yml") for p in project.rglob(pattern) if "target" not in p.parts]
    return all(source.stat().st_mtime <= built for source in sources)


def ensure_manifest(force: bool = False) -> None:
    """Build ``dbt_project/target/manifest.json`` (``dbt parse``) when missing or stale, for Cosmos to render."""
    if manifest_is_current() and not force:
        return
    env = airflow_env.airflow_environ()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dbt.cli.main",
            "parse",
            "--project-dir",
            str(settings.dbt_project_dir()),
            "--profiles-dir",
            str(settings.dbt_project_dir()),
            "--quiet",
        ],
        env=env,
        check=True,
    )


def prepare() -> None:
    """Everything Airflow needs before a DAG can run here: environment, metadata DB, dbt manifest."""
    airflow_env.apply_airflow_environ()
    settings.eventpipe_home().mkdir(parents=True, exist_ok=True)
    ensure_manifest()
    airflow_env.ensure_metadata_db()


def load_dag(dag_id: str = PIPELINE_DAG_ID):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if dag_id not in bag.dags:
        raise RuntimeError(f"DAG {dag_id} did not load: {bag.import_errors}")
    return bag.dags[dag_id]


def run_intervals(
    start: datetime,
    end: datetime,
    on_interval: Callable[[datetime, str], None] | None = None,
) -> list[RunOutcome]:
    """Run every arrival hour in ``[start, end)`` as one Airflow backfill of ``event_pipeline``.

    The backfill is Airflow's own (``airflow backfill create``): one entry in the UI's Backfills, one run of type
    ``backfill`` per hour. Who runs it depends on the metadata database:

    - a scheduler is alive on it (``eventpipe up``, the compose stack, a Celery deployment): the scheduler runs the
      backfill on the executor the Airflow config names, and this waits, reporting each hour as it ends;
    - none is (the embedded default): this process runs the runs itself, in time order, through ``dag.test``'s
      loop (every task in this process: no per-task interpreter start, which is the embedded default's speed),
      with the local receivers up, each run dated with its real start and each task's log written where the UI
      reads it (``eventpipe.local.task_logs``).
    """
    hours = hourly_intervals(start, end)
    if not hours:
        return []
    if not_over := hours_not_over(hours):
        raise ValueError(not_over_message(not_over))
    prepare()
    dag = load_dag()
    backfill.sync_dag(dag)
    if backfill.scheduler_is_alive():
        created = backfill.create(dag, hours)
        return backfill.wait(created, on_interval)
    backfill.close_abandoned(dag.dag_id)
    created = backfill.create(dag, hours)
    backfill.check_covers(created, hours)
    return _run_here(dag, created, on_interval)


def _run_here(dag, created, on_interval) -> list[RunOutcome]:
    from eventpipe.devtools.receivers.local import local_receivers
    from eventpipe.local import task_logs

    outcomes = []
    # The local HEC / Heap / GA4 receivers the deliver task sends to, up for the whole backfill (their
    # Connections are defined in this process's environment, which the tasks run here share).
    with local_receivers(), task_logs.written_for_in_process_tasks():
        for run in backfill.runs(created):
            state = backfill.run_in_process(dag, run)
            outcomes.append(RunOutcome(run.interval_start, state))
            if on_interval:
                on_interval(run.interval_start, state)
    backfill.mark_complete(created)
    return outcomes
