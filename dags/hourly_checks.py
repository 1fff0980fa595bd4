"""
### hourly_checks

Once an arrival hour has closed (at a quarter past the next hour: `load_events` has had time for its last files),
the hour as a whole:

1. **reconcile**: every landed file of the hour is loaded or quarantined whole, and lines landed = rows loaded +
   duplicates dropped + quarantined, per file; fails (red in the grid) otherwise, naming the files.
2. **check_volume**: fails when the hour had no landing files, none of its lines loaded, or fewer than half the
   lines of the same hour a week earlier; the message says which and the figures.

A file that lands later still in the hour's folder is loaded by `load_events` (within its lookback); Clear this
run's tasks to check the hour again. Trigger it with `start` and `end` to check every hour of a range (a
catch-up's: `eventpipe run` does); each task then fails if any hour does, naming them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task
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
    params={
        "start": Param(None, type=["null", "string"], description="first arrival hour to check (ISO, UTC)"),
        "end": Param(None, type=["null", "string"], description="end of the range, exclusive (ISO, UTC)"),
    },
)
def hourly_checks():
    @task(show_return_value_in_logs=False)
    def reconcile(params=None, logical_date=None) -> dict:
        from eventpipe.orchestrate import continuous

        return continuous.reconcile_hours(continuous.checked_hours(params, logical_date))

    @task
    def check_volume(params=None, logical_date=None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from eventpipe.orchestrate import continuous

        checked, problems = continuous.check_volumes(continuous.checked_hours(params, logical_date))
        if problems:
            raise AirflowFailException("; ".join(problems) + ". Once late files have loaded, Clear this task.")
        return checked

    reconcile()
    check_volume()


hourly_checks()
