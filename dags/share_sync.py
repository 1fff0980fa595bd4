"""
### share_sync

Keeps the **Secure Data Share** in line with the consumers file (consumer account -> organizations,
PII or not): the same plan and apply as `eventpipe share plan|apply`.

1. **plan**: the Snowflake statements that bring the target from its current state to the file's,
   written to the task log (nothing is changed). An empty plan means the share is up to date.
2. **apply**: runs them, then plans again and fails unless nothing remains. Skipped when the run's
   `dry_run` param is true: trigger with *dry_run* to review a plan before applying it.

Params: `target` = `local` (the embedded default: a recorded state file stands in for the Snowflake
account, and apply rebuilds the local DuckDB share, one schema `share_<account>` per consumer) or
`snowflake` (a real account, credentials from the Airflow Connection `snowflake_default` or
`SNOWFLAKE_*` variables). The consumers file is `$EVENTPIPE_SHARE_CONSUMERS`, else
`config/consumers.yml`, else `config/consumers.example.yml`.

On the local target, apply writes the DuckDB warehouse, which takes one writing process at a time:
while an event_pipeline task holds it, apply fails and is retried (2 retries, a minute apart).

Runs daily to repair drift (the views read the marts live, so new data needs no sync) and on demand
after a change to the consumers file. Re-running is harmless: a second apply runs nothing.
See `docs/querying-the-share.md`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task


@dag(
    dag_id="share_sync",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "owner": "data-engineering"},
    params={
        "target": Param("local", enum=["local", "snowflake"], description="where the share lives"),
        "dry_run": Param(False, type="boolean", description="plan only: skip apply"),
    },
    tags=["eventpipe", "share", "snowflake"],
    doc_md=__doc__,
)
def share_sync():
    @task
    def plan(params=None) -> dict:
        from eventpipe.share.planner import format_plan
        from eventpipe.share.sync import load_consumers, plan_share

        path, config = load_consumers()
        planned = plan_share(config, params["target"])
        if planned.note:
            print(planned.note)
        print(f"{len(planned.statements)} statement(s) for the {planned.target} share from {path}")
        print(format_plan(planned.statements) or "No changes.")
        return {"target": planned.target, "consumers": str(path), "statements": len(planned.statements)}

    @task
    def apply(planned: dict, params=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from eventpipe.share.sync import apply_share, format_row_counts, load_consumers

        if params["dry_run"]:
            raise AirflowSkipException(f"dry_run: {planned['statements']} statement(s) planned, none applied")
        path, config = load_consumers()
        applied = apply_share(config, path, params["target"])  # raises unless the re-plan is empty
        print(f"applied {len(applied.ran)} statement(s) on the {applied.target} share; re-plan: no changes")
        if applied.rows:
            print(format_row_counts(applied.rows))
        return {"target": applied.target, "ran": len(applied.ran), "remaining": 0, "rows": applied.rows}

    apply(plan())


share_sync()
