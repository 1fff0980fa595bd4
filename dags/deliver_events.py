"""
### deliver_events

Sends every load commit a destination has not received, as soon as `load_events` commits one (its asset event on
`ops.load_commit`), and on a timer as well (`EVENTPIPE_SWEEP_SCHEDULE`, every 5 minutes): asset events that
arrive while a run is active are taken by the next run or the sweep, never lost (what to send is the
`ops.delivery_part` ledger's answer, not the event's). It does not wait for dbt.

1. **destinations**: the enabled destinations of the configuration (`config/destinations.example.yml` locally;
   credentials in Airflow Connections).
2. **deliver**, one mapped task per destination on Snowflake, side by side (each with its own warehouse session and
   claim); on the embedded default one task sending them all side by side in its threads:
   App Events and Audit logs to S3, App Events to Splunk HEC, analytics events to Heap and GA4, for every
   organization configured for each. Each part is recorded as the destination acknowledges it; a run sends at most
   `EVENTPIPE_DELIVERY_MAX_EVENTS` events per destination (the rest is the next run's); a failing destination fails
   its own task, never the others'; events older than a destination takes (GA4: 72 hours) are dead-lettered
   `too_old_for_destination`. Resend a range from the `redeliver` DAG.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import AssetOrTimeSchedule, dag, task
from airflow.timetables.trigger import CronTriggerTimetable

from eventpipe import settings
from eventpipe.orchestrate.assets import LOAD_COMMITS, asset, delivery_inlets, destination_assets, table_uri
from eventpipe.orchestrate.continuous import FIRST


@dag(
    dag_id="deliver_events",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(settings.sweep_schedule(), timezone="UTC"),
        assets=[asset(table_uri(LOAD_COMMITS))],
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # the ledger's claims make two safe; one at a time keeps the receivers' order simple
    is_paused_upon_creation=True,  # see load_events
    dagrun_timeout=timedelta(hours=1),
    default_args={"retries": 2, "retry_delay": timedelta(seconds=5), "owner": "data-engineering"},
    tags=["eventpipe", "deliveries", "continuous"],
    doc_md=__doc__,
)
def deliver_events():
    @task(show_return_value_in_logs=False, **FIRST)
    def destinations() -> list[str]:
        from eventpipe.orchestrate import continuous

        return continuous.delivery_groups()

    # On Snowflake a task per destination, side by side on the workers, each in the grid on its own; on the embedded
    # default one task sends them all side by side in its threads (DuckDB has one writer process at a time).
    @task(
        inlets=delivery_inlets(),
        outlets=destination_assets(),
        show_return_value_in_logs=False,
        map_index_template="{{ destinations }}",
        **FIRST,
    )
    def deliver(destinations: str, run_id=None) -> dict:
        from airflow.sdk import get_current_context

        from eventpipe.orchestrate import continuous

        get_current_context()["destinations"] = destinations  # the mapped task's name in the grid
        return continuous.deliver_group(destinations, run_id=run_id)

    deliver.expand(destinations=destinations())


deliver_events()
