"""Run ``event_pipeline`` through Airflow for a range of hourly intervals (on the target the
environment names: ``eventpipe.targets``).

Each interval is one real DAG run executed by Airflow's ``dag.test()``: the same tasks the scheduler
would run, retries included (Airflow 3's ``dag.test`` retries a failed task after its retry_delay),
in this process, one interval after another in time order, each dated with its real start and end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eventpipe import airflow_env, settings
from eventpipe.load import hour_floor

PIPELINE_DAG_ID = "event_pipeline"


@dataclass
class RunOutcome:
    interval_start: datetime
    state: str


def hourly_intervals(start: datetime, end: datetime) -> list[datetime]:
    """The arrival hours that start in ``[start, end)``; naive datetimes are UTC."""
    current, stop = hour_floor(start), _naive_utc(end)
    hours = []
    while current < stop:
        hours.append(current)
        current += timedelta(hours=1)
    return hours


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def manifest_is_current() -> bool:
    """The manifest exists and no model, macro, test or project file is newer than it."""
    from eventpipe.dbt_config import MANIFEST_PATH

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


def record_real_start(run_id: str, started: datetime) -> None:
    """Date the run's start when it started: ``dag.test()`` dates it at the logical date, so the UI showed a
    run of an hour from days ago as lasting days. (Its end date is already when it ended.)"""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(
            update(DagRun).where(DagRun.dag_id == PIPELINE_DAG_ID, DagRun.run_id == run_id).values(start_date=started)
        )


def run_intervals(
    start: datetime,
    end: datetime,
    on_interval: Callable[[datetime, str], None] | None = None,
) -> list[RunOutcome]:
    from eventpipe.deliver.local import local_receivers

    prepare()
    dag = load_dag()
    outcomes = []
    # The local HEC / Heap / GA4 receivers the deliver task sends to, up for the whole run (their
    # Connections are defined in this process's environment, which dag.test's tasks share).
    with local_receivers():
        for interval_start in hourly_intervals(start, end):
            # A manual run covers the last whole interval before its logical date, as a scheduled
            # run does: the run for arrival hour H is the one dated H + 1h (when that hour has ended).
            interval_end = (interval_start + timedelta(hours=1)).replace(tzinfo=UTC)
            started = datetime.now(UTC)
            dag_run = dag.test(logical_date=interval_end, run_after=interval_end)
            record_real_start(dag_run.run_id, started)
            state = str(getattr(dag_run.state, "value", dag_run.state))
            outcomes.append(RunOutcome(interval_start, state))
            if on_interval:
                on_interval(interval_start, state)
    return outcomes
