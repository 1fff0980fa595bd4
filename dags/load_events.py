"""
### load_events

The continuous load: **every minute** (`EVENTPIPE_LOAD_SCHEDULE`), every landed file the ledger has not seen.
With `EVENTPIPE_LANDING_QUEUE` (an SQS queue the landing bucket's S3 notifications go to), it runs **when a
notification arrives** (the asset `eventpipe://landing/notifications`, watched by the triggerer) or on the sweep
(`EVENTPIPE_LOAD_SWEEP_SCHEDULE`, every 5 minutes): a notification only wakes it, the ledger still decides what
loads, so a repeated notification loads nothing twice and a lost one's file loads at the sweep.

1. **load**: lists the arrival-hour folders of the last `EVENTPIPE_LOAD_LOOKBACK_HOURS` (48) and the current hour,
   asks the ledger (`ops.loaded_file`) which files it holds, and loads the others, oldest hour first, until the
   run's budget (`EVENTPIPE_LOAD_MAX_FILES` files, `EVENTPIPE_LOAD_MAX_BYTES` bytes) is spent: the rest is the
   next minute's. A file landing late into an older hour's folder loads at the next run. Each hour's files are one
   load batch; bad lines are quarantined with a reason, unreadable files quarantined whole, as in every load.
   Trigger it with `start` and `end` (arrival hours, UTC) to catch up a range older than the window.
2. **reconcile_loaded**: each batch it loaded balances (lines landed = loaded + duplicates + quarantined), else it
   fails, red in the grid. The whole arrival hour is reconciled once it has closed, by `hourly_checks`.
3. **announce**: emits the raw tables' asset events (and the ledger of load commits'), which wake
   `deliver_events` and `transform`; skipped when the run committed nothing, so an idle minute wakes nothing.

Re-running a run (Clear) loads only what the ledger still lacks: nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from eventpipe import settings
from eventpipe.orchestrate.assets import asset, landing_uri, raw_assets
from eventpipe.orchestrate.continuous import FIRST
from eventpipe.orchestrate.landing_events import load_events_schedule


@dag(
    dag_id="load_events",
    schedule=load_events_schedule(settings.load_schedule()),  # the poll's cron, or S3 notifications (SQS) and the sweep
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # a run is a poll: the next one starts where this one's ledger ends
    # `eventpipe run` and `demo` drive the continuous DAGs (in process, or through the scheduler that is up, which
    # needs them unpaused). Paused at creation still: a scheduler (`eventpipe up`, a deployment) runs event_pipeline
    # hourly by itself, and these would take the same files beside it; unpause load_events, deliver_events, transform
    # and hourly_checks (and pipeline_lag) to run continuously there, and pause event_pipeline's schedule.
    is_paused_upon_creation=True,
    dagrun_timeout=timedelta(minutes=30),
    default_args={"retries": 2, "retry_delay": timedelta(seconds=15), "owner": "data-engineering"},
    tags=["eventpipe", "ingest", "continuous"],
    doc_md=__doc__,
    params={
        "start": Param(None, type=["null", "string"], description="catch-up: first arrival hour (ISO, UTC)"),
        "end": Param(None, type=["null", "string"], description="catch-up: end of the range, exclusive (ISO, UTC)"),
    },
)
def load_events():
    @task(inlets=[asset(landing_uri())], show_return_value_in_logs=False, **FIRST)
    def load(params=None, run_id=None, dag=None, ti=None, triggering_asset_events=None) -> dict:
        from eventpipe.orchestrate import continuous, landing_events

        landing_events.log_wake(triggering_asset_events)  # logged, not trusted: the load lists and asks the ledger
        return continuous.load(params, run_id=run_id, dag_id=dag.dag_id, attempt=ti.try_number)

    @task(show_return_value_in_logs=False)
    def reconcile_loaded(loaded: dict) -> dict:
        from eventpipe.orchestrate import continuous

        return continuous.reconcile_loaded(loaded)

    @task(outlets=raw_assets(), **FIRST)
    def announce(loaded: dict) -> list:
        from airflow.sdk.exceptions import AirflowSkipException

        from eventpipe.orchestrate import continuous

        if not continuous.committed(loaded):
            raise AirflowSkipException("nothing new was committed: no asset event")
        return loaded["commits"]

    loaded = load()
    reconcile_loaded(loaded)
    announce(loaded)


load_events()
