"""
### event_pipeline

Every hour, for the arrival hour that just ended (the run's data interval):

1. **load_raw_events**: read the landing partition `dt=YYYY-MM-DD/hour=HH`, validate every line,
   quarantine bad ones with a reason code, and load new events into `raw.session_event`,
   `raw.audit_event` and `raw.platform_event`, dropping event ids loaded by any earlier run.
   Files already in the `ops.loaded_file` ledger are skipped, so re-running a run changes nothing.
   A file that cannot be read to its end (truncated or corrupt gzip, gone) is quarantined whole in
   `ops.quarantined_file`; the hour's other files load. The task's return value (XCom) lists it.
   **check_volume** (beside the rest, nothing waits for it): fails, red in the grid, when the hour had no
   landing files, none of its lines loaded, or fewer than half the lines of the same hour a week earlier
   (`ops.loaded_file`); the message says which and the figures. Late files: Clear `load_raw_events`.
2. **dbt_marts** (after the load): the dbt project (staging, intermediate, marts), one task per model with
   its tests. Each incremental mart absorbs the load commits numbered above what it holds (`ops.load_commit`),
   never rows by a timestamp: a load that commits late is absorbed by the next build.
3. **reconcile** (after the load): fails the run unless lines landed = rows loaded + duplicates dropped +
   quarantined, and every landed file is loaded or quarantined whole (its return value names them).
4. **deliver** (after reconcile; it does not wait for dbt, whose failing test marks the run but never holds back
   Splunk): every load commit a destination has not received, for every organization configured for it
   (`config/destinations.example.yml` locally; credentials in Airflow Connections): App Events and Audit logs to
   S3, App Events to Splunk HEC, analytics events to Heap and GA4. Each part is recorded in `ops.delivery_part`
   as the destination acknowledges it; a re-run (or a crash's retry) sends only what a destination may not have,
   and one failing destination does not stop the others (the task fails after trying them all). Events older
   than a destination takes (GA4: 72 hours) are dead-lettered `too_old_for_destination`. Resend a range from
   the `redeliver` DAG.

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
  re-runs every hour, harmless but slow). The embedded DuckDB warehouse takes one writer at a time:
  its Airflow's default pool has one slot, so tasks run one at a time whatever *Max Active Runs* says.
  The dialog counts the runs it will create before you confirm. From a shell, `airflow backfill create
  --dag-id event_pipeline --from-date ... --to-date ... --reprocess-behavior none` does the same;
  `eventpipe run --hourly --start ... --end ...` makes such a backfill (re-running every hour in the
  range) and, when no scheduler is up, runs it itself (without `--hourly`, `eventpipe run` catches the
  range up through the continuous DAGs instead).
- **Replay quarantine** (after fixing what quarantined the lines, e.g. a producer bug or a validation
  rule): `eventpipe replay-quarantine [--reason CODE]` loads the quarantined lines that now pass
  (there is no DAG for it yet; the rest stay quarantined, with their reason). The marts take them at
  the next build: Clear `dbt_marts` of the latest run, or wait for the next hour. To deliver them,
  Clear the **deliver** task of their arrival hours: parts already delivered are skipped, the replayed
  events are sent.
- **Redeliver** (a destination lost data, or was down longer than the retries): Clearing **deliver**
  only sends parts not yet delivered; to send again what was delivered, trigger the `redeliver` DAG
  with the destination, organization and range: it is a dry run until `dry_run` is unticked, and its
  `plan` task shows what would be resent and the duplicates it would make (S3 overwrites, Heap
  deduplicates, HEC and GA4 get a second copy).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from eventpipe import settings
from eventpipe.orchestrate.assets import asset, delivery_inlets, destination_assets, landing_uri, raw_assets
from eventpipe.orchestrate.dbt_config import marts_task_group

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
    # Each task logs a short table of what it did and returns a compact summary (its XCom, shown in the UI);
    # the return value is not printed again in the log.
    @task(inlets=[asset(landing_uri())], outlets=raw_assets(), show_return_value_in_logs=False)
    def load_raw_events(data_interval_start=None, run_id=None, dag=None, ti=None) -> dict:
        import logging

        from eventpipe import settings
        from eventpipe.ingest.load import load_interval
        from eventpipe.orchestrate import outcome
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
        log = logging.getLogger("eventpipe.pipeline")
        log.info("%s", outcome.load_table(result))
        if result.files_quarantined:
            log.warning("%d landing file(s) quarantined whole (not loaded)", result.files_quarantined)
        return outcome.load_summary(result)

    @task
    def check_volume(data_interval_start=None) -> dict:
        """Fails (at once, not retried) when the hour had no landing files or far fewer lines than a week earlier.

        Nothing waits for it: dbt, reconcile and deliver run on what did land; the failed task marks the run.
        """
        import logging

        from airflow.sdk.exceptions import AirflowFailException

        from eventpipe.orchestrate import outcome
        from eventpipe.warehouse import open_warehouse

        with open_warehouse() as target:
            checked = outcome.check_volume(target, data_interval_start)
        log = logging.getLogger("eventpipe.pipeline")
        if checked.problem:
            log.warning("%s", checked.problem)
            raise AirflowFailException(
                f"{checked.problem}. The hour's tasks ran on what landed; once late files have landed, Clear"
                " load_raw_events (Downstream ticked) to load them and check again."
            )
        log.info("volume ok: %s", checked.as_dict())
        return checked.as_dict()

    @task(show_return_value_in_logs=False)
    def reconcile(data_interval_start=None) -> dict:
        import logging

        from eventpipe import settings
        from eventpipe.ingest import reconcile as reconciliation
        from eventpipe.orchestrate import outcome
        from eventpipe.warehouse import open_warehouse

        with open_warehouse() as target:
            result = reconciliation.reconcile_interval(target, settings.landing_url(), data_interval_start)
        log = logging.getLogger("eventpipe.pipeline")
        (log.info if result.balanced else log.error)("%s", outcome.reconcile_table(result))
        reconciliation.assert_reconciled(result)
        return outcome.reconcile_summary(result)

    # the clients retry transient failures themselves first
    @task(
        retry_delay=timedelta(seconds=5),
        inlets=delivery_inlets(),
        outlets=destination_assets(),
        show_return_value_in_logs=False,
    )
    def deliver(run_id=None) -> dict:
        import logging

        from eventpipe.deliver.run import deliver_task
        from eventpipe.orchestrate.outcome import finish_deliveries

        run = deliver_task(run_id=run_id)
        return finish_deliveries([run], logging.getLogger("eventpipe.pipeline"))

    marts = marts_task_group()

    loaded = load_raw_events()
    # Deliveries read raw, not the marts: a failing dbt test marks the run, it never holds back Splunk.
    loaded >> reconcile() >> deliver()
    loaded >> marts
    loaded >> check_volume()  # nothing downstream waits for it


event_pipeline()
