"""
### pipeline_lag

Every 5 minutes: how far behind each stage is, and a failed task (red in the grid) when one is behind its SLA
(`EVENTPIPE_LAG_SLA_MINUTES`, 15 by default).

**measure_lag**: per stage, the age of the oldest thing it has not taken yet and how many wait:
`landing -> raw` (landed files the ledger has neither loaded nor quarantined), `raw -> <destination>` for each
configured destination (load commits it has not received whole), `raw -> marts` (load commits above the last dbt
build's bound). The table is in the log, the figures in the return value (XCom); the task fails naming the stages
behind, so an operator sees which stage to open (`load_events`, `deliver_events` or `transform`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task
from airflow.timetables.trigger import CronTriggerTimetable


@dag(
    dag_id="pipeline_lag",
    schedule=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,  # with the continuous DAGs (see load_events)
    default_args={"retries": 1, "retry_delay": timedelta(seconds=30), "owner": "data-engineering"},
    tags=["eventpipe", "monitoring", "continuous"],
    doc_md=__doc__,
)
def pipeline_lag():
    @task(show_return_value_in_logs=False)
    def measure_lag() -> dict:
        import logging

        from airflow.sdk.exceptions import AirflowFailException

        from eventpipe import settings
        from eventpipe.deliver.config import load_destinations
        from eventpipe.orchestrate import lag
        from eventpipe.utc import utc_now
        from eventpipe.warehouse import open_warehouse

        now, limit = utc_now(), settings.lag_sla()
        with open_warehouse() as target:
            lags = lag.measure(target, settings.landing_url(), load_destinations(), now)
        logging.getLogger("eventpipe.pipeline").info("%s", lag.table(lags, limit, now))
        if late := lag.behind(lags, limit, now):
            stages = ", ".join(f"{s.stage} {s.seconds(now) / 60:.0f} min ({s.waiting} waiting)" for s in late)
            raise AirflowFailException(f"behind the {limit.total_seconds() / 60:g}-minute SLA: {stages}")
        return lag.summary(lags, now)

    measure_lag()


pipeline_lag()
