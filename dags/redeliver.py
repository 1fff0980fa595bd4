"""
### redeliver

Resend what `event_pipeline`'s **deliver** task sent, for a range of arrival hours, from the Airflow UI
(*Trigger DAG* with the parameters below). **Every run is a dry run unless `dry_run` is unticked.**

1. **check_params**: the run's parameters against the destinations file, before any work. A destination or
   organization not in the file, a range that is empty, longer than 7 days or ends in the future fails the
   run at once (no retries), with the allowed values in the message.
2. **plan**: what would be resent, read from the warehouse and the `ops.delivery_part` ledger: per destination,
   organization and kind, the units and events, what the destination holds, and the **duplicates** a resend
   makes at the receiver. The table is in the task log; its return value (XCom) sums it up. Nothing is sent or written.
3. **resend**: **skipped unless `dry_run` is unticked**; then the units of the arrival hours in `[start, end)`
   (`ops.load_commit_unit`) go to the chosen destination(s) and organization(s): only what each destination does
   not have by the ledger (`ops.delivery_part`: a destination that holds the range receives nothing), or, with
   `include_delivered` ticked, everything again; the ledger rows are updated (attempts add up).

Params:
- **destination**: a name from the destinations file (`$EVENTPIPE_DESTINATIONS`, locally
  `config/destinations.example.yml`: `local_s3`, `local_splunk`, `local_heap`, `local_ga4`), or `*` for all.
  The form cannot offer the names as choices: the file is read by the tasks, never when the DAG is parsed.
- **organization**: an organization id the destination is configured for, or `*` for all of them.
- **start**, **end**: arrival hours starting in `[start, end)`, UTC when no offset; at most 7 days, `end` not in
  the future. Empty: the last 24 whole hours.
- **include_delivered**: off (the default) sends only what the destinations do not have; on sends everything again.

At the receivers: S3 objects are overwritten under the same keys (no copies); Heap keeps one event per
`idempotency_key`; **Splunk HEC and GA4 do not deduplicate**: with `include_delivered` ticked, a resend there adds
a second copy of each event they already received (the plan's `duplicates` column); unticked, they receive only
what they do not have. Credentials come from the Airflow Connections the
destinations file names, as in `event_pipeline`.

How to: trigger with the defaults and read **plan**'s log; narrow `destination`, `organization` and the range
until the plan is what you mean; trigger again with the same values and `dry_run` unticked.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from eventpipe.orchestrate.assets import delivery_inlets, destination_assets


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
        "dry_run": Param(
            True,
            type="boolean",
            title="Dry run",
            description="On (the default): show what would be resent and where it would make duplicates, send"
            " nothing. Untick to resend.",
        ),
        "destination": Param(
            "*",
            type="string",
            title="Destination",
            description="A destination name of the destinations file ($EVENTPIPE_DESTINATIONS; locally local_s3,"
            " local_splunk, local_heap, local_ga4), or * for every destination. Not a list to pick from: the file"
            " is read when the run starts, never when the DAG is parsed; a name not in it fails the run at once,"
            " listing the names that are.",
        ),
        "organization": Param(
            "*",
            type="string",
            title="Organization",
            description="An organization id the destination is configured for, or * for all of them. An id that"
            " is not configured, or has no events in the range, fails the run at once, listing the allowed ids.",
        ),
        "include_delivered": Param(
            False,
            type="boolean",
            title="Include what was delivered",
            description="Off (the default): send only what the chosen destinations do not have by the ledger (a"
            " destination that holds the range receives nothing). On: send everything in the range again; Splunk HEC"
            " and GA4 then keep a second copy (the plan counts them).",
        ),
        "start": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Start (UTC)",
            description="The first arrival hour to resend (ISO-8601; UTC when no offset; rounded down to the"
            " hour). Empty: 24 hours before end.",
        ),
        "end": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="End (UTC, excluded)",
            description="Arrival hours starting before this time are resent. At most 7 days after start, not in"
            " the future. Empty: the start of the current hour.",
        ),
    },
)
def redeliver():
    @task(retries=0)
    def check_params(params=None) -> dict:
        """A bad parameter raises AirflowFailException: the task fails on its first try."""
        from airflow.sdk.exceptions import AirflowFailException

        from eventpipe.deliver.config import DestinationConfigError, default_path, load_destinations
        from eventpipe.deliver.redeliver import BadParams, parse_request

        try:
            destinations = load_destinations()
            request = parse_request(dict(params), destinations, str(default_path()))
        except (BadParams, DestinationConfigError) as error:
            raise AirflowFailException(f"bad parameter: {error}") from None
        return request.as_dict()

    @task(show_return_value_in_logs=False)  # the log has the table; the XCom its summary
    def plan(request: dict) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from eventpipe.deliver.config import load_destinations
        from eventpipe.deliver.redeliver import (
            BadParams,
            RedeliverRequest,
            check_organization,
            format_plan,
            plan_redelivery,
        )
        from eventpipe.warehouse import open_warehouse

        wanted = RedeliverRequest(**request)
        destinations = load_destinations()
        with open_warehouse() as warehouse:
            planned = plan_redelivery(warehouse, wanted, destinations)
        print(format_plan(planned, destinations))
        try:
            check_organization(planned, destinations)
        except BadParams as error:
            raise AirflowFailException(f"bad parameter: {error}") from None
        return planned.as_dict()

    # the log has the deliveries' table; the XCom its summary
    @task(inlets=delivery_inlets(), outlets=destination_assets(), show_return_value_in_logs=False)
    def resend(planned: dict, request: dict, run_id=None) -> dict:
        import logging

        from airflow.sdk.exceptions import AirflowSkipException

        from eventpipe.deliver.redeliver import RedeliverRequest
        from eventpipe.deliver.run import redeliver_range
        from eventpipe.orchestrate.outcome import finish_deliveries

        wanted = RedeliverRequest(**request)
        if wanted.dry_run:
            raise AirflowSkipException(
                f"dry_run: {planned['events']} event(s) of {planned['units']} unit(s) in {planned['intervals']}"
                f" interval(s) would be resent, {planned['duplicates']} of them duplicated (see the plan task);"
                " nothing sent"
            )
        start, end = wanted.range
        run = redeliver_range(
            start,
            end,
            destination_name=wanted.destination,
            organization_id=wanted.organization,
            include_delivered=wanted.include_delivered,
            run_id=run_id,
        )
        return finish_deliveries([run], logging.getLogger("eventpipe.redeliver"))

    request = check_params()
    resend(plan(request), request)


redeliver()
