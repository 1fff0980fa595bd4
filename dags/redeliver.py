"""
### redeliver

Resend what `event_pipeline`'s **deliver** task sent, for a range of arrival hours, from the Airflow UI
(*Trigger DAG* with the parameters below). For every interval the loader ledgered in `[start, end)`, the
events go again to the chosen destination(s) and organization(s), whatever `ops.delivery` says, and the
ledger rows are updated (attempts add up).

- **destination**: a name from the destinations file (`config/destinations.example.yml` locally), or `*` for all.
- **organization**: an organization id, or `*` for every organization the destination is configured for.
- **start**, **end**: ISO-8601 times (UTC when no offset); arrival hours starting in `[start, end)`.

S3 objects are overwritten under the same keys (no copies). Splunk HEC and GA4 do not deduplicate: a resend
there adds a second copy of each event, which is what a resend asks for (Heap keeps one per `idempotency_key`).
Credentials come from the Airflow Connections the destinations file names, as in `event_pipeline`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task


@dag(
    dag_id="redeliver",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    # The embedded DuckDB warehouse takes one writer process at a time.
    max_active_tasks=1,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=30), "owner": "data-engineering"},
    tags=["eventpipe", "deliveries"],
    doc_md=__doc__,
    params={
        "destination": Param("*", type="string", description="destination name, or * for all"),
        "organization": Param("*", type="string", description="organization id, or * for all"),
        "start": Param("2026-11-26T00:00:00+00:00", type="string", format="date-time"),
        "end": Param("2026-11-27T00:00:00+00:00", type="string", format="date-time"),
    },
)
def redeliver():
    @task
    def resend(params=None, run_id=None) -> list[dict]:
        from eventpipe.deliver.run import redeliver_task

        return redeliver_task(
            params["start"],
            params["end"],
            destination_name=params["destination"],
            organization_id=params["organization"],
            run_id=run_id,
        )

    resend()


redeliver()
