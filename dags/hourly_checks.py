"""
### hourly_checks

Once an arrival hour has closed (at a quarter past the next hour: `load_events` has had time for its last files),
the hour as a whole:

1. **reconcile**: every landed file of the hour is loaded or quarantined whole, and lines landed = rows loaded +
   duplicates dropped + quarantined, per file; fails (red in the grid) otherwise, naming the files.
2. **check_volume**: fails when the hour had no landing files, none of its lines loaded, or fewer than half the
   lines of the same hour a week earlier; the message says which and the figures.

A file that lands later still in the hour's folder is loaded by `load_events` (within its lookback); Clear this
run's tasks to check the hour again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task
from airflow.timetables.trigger import CronTriggerTimetable


@dag(
    dag_id="hourly_checks",
    schedule=CronTriggerTimetable("15 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,  # see load_events
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1), "owner": "data-engineering"},
    tags=["eventpipe", "ingest", "continuous"],
    doc_md=__doc__,
)
def hourly_checks():
    @task(show_return_value_in_logs=False)
    def reconcile(logical_date=None) -> dict:
        import logging

        from eventpipe import settings
        from eventpipe.ingest import reconcile as reconciliation
        from eventpipe.orchestrate import outcome
        from eventpipe.orchestrate.continuous import closed_hour
        from eventpipe.warehouse import open_warehouse

        with open_warehouse() as target:
            result = reconciliation.reconcile_interval(target, settings.landing_url(), closed_hour(logical_date))
        log = logging.getLogger("eventpipe.pipeline")
        (log.info if result.balanced else log.error)("%s", outcome.reconcile_table(result))
        reconciliation.assert_reconciled(result)
        return outcome.reconcile_summary(result)

    @task
    def check_volume(logical_date=None) -> dict:
        import logging

        from airflow.sdk.exceptions import AirflowFailException

        from eventpipe.orchestrate import outcome
        from eventpipe.orchestrate.continuous import closed_hour
        from eventpipe.warehouse import open_warehouse

        with open_warehouse() as target:
            checked = outcome.check_volume(target, closed_hour(logical_date))
        if checked.problem:
            raise AirflowFailException(f"{checked.problem}. Once late files have loaded, Clear this task.")
        logging.getLogger("eventpipe.pipeline").info("volume ok: %s", checked.as_dict())
        return checked.as_dict()

    reconcile()
    check_volume()


hourly_checks()
