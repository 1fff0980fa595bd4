"""
### transform

The dbt project (staging, intermediate, marts: one task per model with its tests, one `dbt build`), as soon as
`load_events` commits (its asset event on `ops.load_commit`), and on a timer as well (`EVENTPIPE_SWEEP_SCHEDULE`).
One build absorbs every load committed since the last (the marts read the ledger of load commits, never a
timestamp), however many asset events queued meanwhile; a failing test marks the run and holds back nothing else.

**publish_read_snapshot** (after the build, whatever its outcome; embedded DuckDB only): the marts copied into the
read snapshot the Activity Explorer reads while a load or delivery holds the warehouse (DuckDB takes one writer
process); skipped on Snowflake, which takes concurrent readers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import AssetOrTimeSchedule, dag, task
from airflow.timetables.trigger import CronTriggerTimetable

from eventpipe import settings
from eventpipe.orchestrate.assets import LOAD_COMMITS, asset, table_uri
from eventpipe.orchestrate.dbt_config import marts_task_group


@dag(
    dag_id="transform",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(settings.sweep_schedule(), timezone="UTC"),
        assets=[asset(table_uri(LOAD_COMMITS))],
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # one build at a time: each absorbs everything committed before it began
    is_paused_upon_creation=True,  # see load_events
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30), "owner": "data-engineering"},
    tags=["eventpipe", "dbt", "continuous"],
    doc_md=__doc__,
)
def transform():
    marts = marts_task_group()

    @task(trigger_rule="all_done")
    def publish_read_snapshot() -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from eventpipe import settings, warehouse
        from eventpipe.warehouse import read_snapshot

        if settings.warehouse_target() != "duckdb":
            raise AirflowSkipException("Snowflake takes concurrent readers: no snapshot to publish")
        with warehouse.connect(settings.warehouse_path()) as con:
            return read_snapshot.publish(con)

    marts >> publish_read_snapshot()


transform()
