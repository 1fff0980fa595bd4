"""
### event_pipeline

Every hour, for the arrival hour that just ended (the run's data interval):

1. **load_raw_events**: read the landing partition `dt=YYYY-MM-DD/hour=HH`, validate every line,
   quarantine bad ones with a reason code, and load new events into `raw.session_event`,
   `raw.audit_event` and `raw.platform_event`, dropping event ids loaded by any earlier run.
   Files already in the `ops.loaded_file` ledger are skipped, so re-running a run changes nothing.
   A file that cannot be read to its end (truncated or corrupt gzip, gone) is quarantined whole in
   `ops.quarantined_file`; the hour's other files load. The task's return value (XCom) lists it.
2. **dbt_marts**: the dbt project (staging, intermediate, marts), one task per model with its tests.
3. **reconcile**: fails the run unless lines landed = rows loaded + duplicates dropped + quarantined, and
   every landed file is loaded or quarantined whole (its return value names the quarantined files).
4. **deliver**: the interval's App Events, Audit logs and analytics events to every destination configured
   for their organization (`config/destinations.example.yml` locally; credentials in Airflow Connections):
   S3, Splunk HEC, Heap, GA4. Each part is recorded in `ops.delivery`; a re-run skips delivered parts, and
   one failing destination does not stop the others (the task fails after trying them all).
   Resend a range from the `redeliver` DAG.

#### Operating it from the UI

Every step is idempotent: re-running an hour loads nothing twice and delivers nothing twice.

- **Re-run an hour** (a fix in the code or the data, a failed task): open the run of that hour (Grid
  view, or *Runs* filtered on its logical date), select the task to start from and **Clear** it with
  *Downstream* ticked (clear `load_raw_events` to redo the whole hour). Do not *Trigger* an hour that
  already ran: a run for that logical date exists, and the API answers `409 Conflict ... Unique
  constraint`; Clear is the way to run it again.
- **Backfill a range** (hours that never ran, e.g. before the DAG was enabled): *Trigger* ->
  *Backfill*, pick the *Date Range* (data intervals: each run loads one arrival hour), *Reprocess
  Behavior* **Missing Runs** (or **Missing and Errored Runs** to redo failed hours too; **All Runs**
  re-runs every hour, harmless but slow), and *Max Active Runs* 1: the embedded DuckDB warehouse
  takes one writer at a time. The dialog counts the runs it will create before you confirm. From a
  shell, `airflow backfill create --dag-id event_pipeline --from-date ... --to-date ...
  --reprocess-behavior none` does the same.
- **Replay quarantine** (after fixing what quarantined the lines, e.g. a producer bug or a validation
  rule): `eventpipe replay-quarantine [--reason CODE]` loads the quarantined lines that now pass
  (there is no DAG for it yet; the rest stay quarantined, with their reason). The marts take them at
  the next build: Clear `dbt_marts` of the latest run, or wait for the next hour. To deliver them,
  Clear the **deliver** task of their arrival hours: parts already delivered are skipped, the replayed
  events are sent.
- **Redeliver** (a destination lost data, or was down longer than the retries): Clearing **deliver**
  only sends parts not yet delivered; to send again what was delivered, trigger the `redeliver` DAG
  with the destination, organization and range (see its docs: S3 overwrites, HEC and GA4 get a second
  copy).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable
from cosmos import DbtTaskGroup

from eventpipe import settings
from eventpipe.assets import RAW_TABLES, table_uri
from eventpipe.dbt_config import (
    execution_config,
    profile_config,
    project_config,
    render_config,
    run_producer_first,
)

MAX_ACTIVE_RUNS, MAX_ACTIVE_TASKS = settings.pipeline_concurrency()


@dag(
    dag_id="event_pipeline",
    # Interval timetable: data_interval_start..end is exactly the arrival hour to load.
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # From the target (an environment variable, no I/O): one run and one task at a time on the embedded
    # DuckDB (one writer process), several on Snowflake.
    max_active_runs=MAX_ACTIVE_RUNS,
    max_active_tasks=MAX_ACTIVE_TASKS,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30), "owner": "data-engineering"},
    tags=["eventpipe", "ingest", "dbt"],
    doc_md=__doc__,
)
def event_pipeline():
    @task(outlets=[Asset(table_uri(table)) for table in RAW_TABLES])
    def load_raw_events(data_interval_start=None, run_id=None, dag=None, ti=None) -> dict:
        from eventpipe import settings
        from eventpipe.load import load_interval
        from eventpipe.warehouse import open_warehouse

        with open_warehouse() as target:
            result = load_interval(
                target,
                settings.landing_url(),
                data_interval_start,
                run_id=run_id,
                dag_id=dag.dag_id,
                attempt=ti.try_number,
            )
        return result.to_dict()

    @task
    def reconcile(data_interval_start=None) -> str:
        from eventpipe import reconcile as reconciliation
        from eventpipe import settings
        from eventpipe.warehouse import open_warehouse

        with open_warehouse() as target:
            result = reconciliation.reconcile_interval(target, settings.landing_url(), data_interval_start)
        reconciliation.assert_reconciled(result)
        return result.summary()

    @task(retry_delay=timedelta(seconds=5))  # the clients retry transient failures themselves first
    def deliver(data_interval_start=None, run_id=None) -> dict:
        from eventpipe.deliver.run import deliver_task

        return deliver_task(data_interval_start, run_id=run_id)

    marts = DbtTaskGroup(
        group_id="dbt_marts",
        project_config=project_config,
        profile_config=profile_config,
        execution_config=execution_config,
        render_config=render_config,
        operator_args={"install_deps": False},
    )
    run_producer_first(marts)

    load_raw_events() >> marts >> reconcile() >> deliver()


event_pipeline()
