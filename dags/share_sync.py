"""
### share_sync

Keeps the **Secure Data Share** in line with the consumers file (consumer account -> organizations,
PII or not): the same plan and apply as `eventpipe share plan|apply`.

1. **check_params**: the run's parameters against the consumers file, before any work. A consumer or
   organization not in the file, or an unknown target, fails the run at once (no retries) with the
   allowed values in the message.
2. **plan**: the Snowflake statements that bring the target from its current state to the file's, and
   a table of the access changes (which consumer joins or leaves, gains or loses which organization,
   PII shown or masked), written to the task log and returned (XCom). Nothing is changed.
3. **apply**: runs them, then plans again and fails unless nothing remains. **Skipped unless `dry_run`
   is unticked**: every run, the daily one included, is a dry run by default. When `consumer` and/or
   `organization` are given, apply refuses (before running anything) if the plan changes access for
   any other consumer or organization: a guard that the change is the one you meant.

Params: `target` = `local` (the embedded default: a recorded state file stands in for the Snowflake
account, and apply rebuilds the local DuckDB share, one schema `share_<account>` per consumer) or
`snowflake` (a real account, credentials from the Airflow Connection `snowflake_default` or
`SNOWFLAKE_*` variables). The consumers file is `$EVENTPIPE_SHARE_CONSUMERS`, else
`config/consumers.yml`, else `config/consumers.example.yml`.

How to:
- **See what a change to the consumers file will do**: trigger with the defaults (a dry run), open
  the `plan` task's log (or its XCom) for the statements and the access-change table.
- **Apply it**: trigger again with `dry_run` unticked, ideally with `consumer` (and `organization`)
  set to what you changed, so that anything else in the plan stops the run instead of applying.
- **Re-run**: Clear the run's `plan` task (downstream included); re-applying is harmless, a second
  apply runs nothing.

On the local target, apply writes the DuckDB warehouse, which takes one writing process at a time:
while an event_pipeline task holds it, apply fails and is retried (2 retries, a minute apart).

Runs daily to report drift (the views read the marts live, so new data needs no sync) and on demand
after a change to the consumers file. See `docs/querying-the-share.md`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from eventpipe.orchestrate.lineage import share_lineage

# The share's views (outlets of apply) and the marts they read (its inlets): the Assets graph's last step.
SHARE_INLETS, SHARE_OUTLETS = share_lineage()


@dag(
    dag_id="share_sync",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "owner": "data-engineering"},
    params={
        "target": Param(
            "local",
            enum=["local", "snowflake"],
            title="Target",
            description="Where the share lives: local (the embedded DuckDB share and a recorded state file)"
            " or snowflake (the account of the Airflow Connection snowflake_default).",
        ),
        "dry_run": Param(
            True,
            type="boolean",
            title="Dry run",
            description="On (the default): plan only, show the statements and access changes, change nothing."
            " Untick to apply the plan.",
        ),
        "consumer": Param(
            None,
            type=["null", "string"],
            title="Consumer account",
            description="Optional: one consumer account of the consumers file (e.g. ACME_ANALYTICS). Apply then"
            " refuses if the plan changes any other consumer's access. A name not in the file fails the run at"
            " once, listing the accounts in the file.",
        ),
        "organization": Param(
            None,
            type=["null", "string"],
            title="Organization",
            description="Optional: one organization id of the consumers file (of the consumer above, if given)."
            " Apply then refuses if the plan changes access to any other organization. An id not in the file"
            " fails the run at once, listing the allowed ids.",
        ),
    },
    tags=["eventpipe", "share", "snowflake"],
    doc_md=__doc__,
)
def share_sync():
    @task
    def check_params(params=None) -> dict:
        """A bad parameter raises AirflowFailException: the task fails at once, its retries unused."""
        from airflow.sdk.exceptions import AirflowFailException

        from eventpipe.share.request import BadParams, parse_request
        from eventpipe.share.sync import load_consumers

        try:
            path, config = load_consumers()
        except ValueError as error:  # the consumers file itself is invalid: retrying will not fix it
            raise AirflowFailException(str(error)) from None
        try:
            request = parse_request(dict(params), config, str(path))
        except BadParams as error:
            raise AirflowFailException(f"bad parameter: {error}") from None
        return request.as_dict()

    @task
    def plan(request: dict) -> dict:
        from eventpipe.share.planner import format_plan
        from eventpipe.share.request import SyncRequest, access_changes, format_changes
        from eventpipe.share.sync import load_consumers, plan_share

        wanted = SyncRequest(**request)
        path, config = load_consumers()
        planned = plan_share(config, wanted.target)
        if planned.note:
            print(planned.note)
        changes = access_changes(planned.current, config)
        print(format_changes(changes, wanted))
        print(f"{len(planned.statements)} statement(s) for the {planned.target} share from {path}")
        print(format_plan(planned.statements) or "No changes.")
        outside = [change for change in changes if not change.in_scope(wanted)]
        return {
            "target": planned.target,
            "consumers": str(path),
            "dry_run": wanted.dry_run,
            "statements": len(planned.statements),
            "would_change": [f"{c.account} {c.organization or '(all)'}: {c.change}" for c in changes],
            "outside_scope": [f"{c.account} {c.organization or '(all)'}: {c.change}" for c in outside],
        }

    @task(inlets=SHARE_INLETS, outlets=SHARE_OUTLETS)
    def apply(planned: dict, request: dict) -> dict:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from eventpipe.share.request import SyncRequest, access_changes
        from eventpipe.share.sync import apply_share, format_row_counts, load_consumers, plan_share

        wanted = SyncRequest(**request)
        if wanted.dry_run:
            raise AirflowSkipException(
                f"dry_run: {planned['statements']} statement(s) planned, none applied;"
                f" {len(planned['would_change'])} access change(s) would be made (see the plan task)"
            )
        path, config = load_consumers()
        outside = [
            c for c in access_changes(plan_share(config, wanted.target).current, config) if not c.in_scope(wanted)
        ]
        if outside:
            listed = "; ".join(f"{c.account} {c.organization or '(all)'}: {c.change}" for c in outside)
            raise AirflowFailException(f"nothing applied: the plan also changes {listed}")
        applied = apply_share(config, path, wanted.target)  # raises unless the re-plan is empty
        print(f"applied {len(applied.ran)} statement(s) on the {applied.target} share; re-plan: no changes")
        if applied.rows:
            print(format_row_counts(applied.rows))
        return {"target": applied.target, "ran": len(applied.ran), "remaining": 0, "rows": applied.rows}

    request = check_params()
    apply(plan(request), request)


share_sync()
