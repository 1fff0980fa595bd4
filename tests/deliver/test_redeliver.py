"""redeliver without Airflow: the parameters against the destinations file, and the dry run's plan against a real
warehouse, ledger and local receivers (the plan reads them, sends and writes nothing).

GIVEN two loaded hours of 2 organizations delivered once to the example destinations (S3 directory, HEC, Heap,
GA4 receivers), WHEN a resend of both hours is planned, THEN the plan counts every event per destination,
organization and kind, calls the HEC and GA4 copies duplicates (S3 and Heap none), and the receivers and the
ledger are byte for byte as before.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventpipe.deliver.config import load_destinations, parse_destinations
from eventpipe.deliver.redeliver import (
    BadParams,
    RedeliverRequest,
    check_organization,
    format_plan,
    parse_request,
    plan_redelivery,
)
from eventpipe.deliver.run import deliver_interval
from eventpipe.devtools.receivers.local import local_receivers
from eventpipe.warehouse import as_warehouse
from tests.deliver.conftest import HOURS, interval_ids

NOW = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)
CONFIG = parse_destinations(
    {
        "destinations": {
            "acme_s3": {"type": "s3", "organizations": ["org-a", "org-b"], "connection_id": "c", "bucket": "acme-b"},
            "acme_hec": {"type": "splunk_hec", "organizations": ["org-a"], "connection_id": "h"},
            "old_heap": {"type": "heap", "organizations": ["*"], "connection_id": "p", "app_id": "1", "enabled": False},
        }
    }
)


def test_defaults_are_a_dry_run_of_the_last_day_everywhere():
    request = parse_request({}, CONFIG, now=NOW)
    assert request == RedeliverRequest("*", "*", "2026-11-27T12:00:00", "2026-11-28T12:00:00", dry_run=True)
    # the form's values, an offset converted to UTC, the start rounded down to its hour
    request = parse_request(
        {"destination": "acme_hec", "organization": "org-a", "start": "2026-11-27T07:30:00+01:00",
         "end": "2026-11-27T08:00:00Z", "dry_run": False},
        CONFIG, now=NOW,
    )  # fmt: skip
    assert request == RedeliverRequest("acme_hec", "org-a", "2026-11-27T06:00:00", "2026-11-27T08:00:00", False)


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"destination": "acme_hecc"}, "destination 'acme_hecc' is not an enabled destination of the destinations file:"
                                       " one of acme_s3, acme_hec, or * for all"),
        ({"destination": "old_heap"}, "(it is disabled there): one of acme_s3, acme_hec"),
        ({"destination": "acme_hec", "organization": "org-b"},
         "organization 'org-b' is not configured for destination acme_hec: one of org-a, or *"),
        ({"organization": "org-z"}, "organization 'org-z' is not configured for the destinations file: one of org-a,"
                                    " org-b, or *"),
        ({"organization": "a/../b"}, "organization 'a/../b' is not an organization id"),
        ({"start": "2026-11-27T06:00", "end": "2026-11-27T06:00"}, "end (2026-11-27T06:00) must be after start"),
        ({"start": "2026-11-01T00:00", "end": "2026-11-09T00:00"}, "is longer than 7 days"),
        ({"end": "2026-11-29T00:00"}, "end (2026-11-29T00:00 UTC) is in the future (now 2026-11-28T12:30 UTC)"),
        ({"start": "yesterday"}, "start 'yesterday' is not an ISO-8601 time"),
        ({"dry_run": "no"}, "dry_run 'no' must be true or false"),
        ({"target": "x"}, "unknown parameter(s) target: allowed are destination, organization, start, end, dry_run"),
    ],
)  # fmt: skip
def test_a_bad_parameter_names_what_is_allowed(params, says):
    with pytest.raises(BadParams) as refused:
        parse_request(params, CONFIG, now=NOW)
    assert says in str(refused.value)


def test_every_bad_parameter_is_named_at_once():
    with pytest.raises(BadParams) as refused:
        parse_request({"destination": "nope", "start": "x", "dry_run": 1}, CONFIG, now=NOW)
    assert [part.split(" ")[0] for part in str(refused.value).split("; ")] == ["destination", "start", "dry_run"]


def _files(root):
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_dry_run_plans_every_event_and_the_duplicates_and_changes_nothing(con, eventpipe_home):
    destinations = load_destinations()  # the example file: local_s3, local_splunk, local_heap, local_ga4
    with local_receivers():
        for hour in HOURS:
            run = deliver_interval(con, hour, run_id="first")
            assert not run.failed, run.summary()
    ledger_sql = "SELECT * FROM ops.delivery ORDER BY ALL"
    before_ledger, before_files = con.execute(ledger_sql).fetchall(), _files(eventpipe_home)
    request = parse_request(
        {"start": "2026-11-27T06:00", "end": "2026-11-27T08:00"}, destinations, now=datetime(2026, 12, 1, tzinfo=UTC)
    )
    plan = plan_redelivery(as_warehouse(con), request, destinations)

    assert con.execute(ledger_sql).fetchall() == before_ledger
    assert _files(eventpipe_home) == before_files
    assert plan.intervals == list(HOURS)
    orgs = sorted({org for (org,) in con.execute("SELECT DISTINCT organization_id FROM raw.session_event").fetchall()})
    assert plan.organizations_in_range == orgs and len(orgs) == 2
    by_key = {(r.destination, r.organization, r.kind): r for r in plan.rows}
    for org in orgs:
        sessions = sum(len(interval_ids(con, "session_event", h, f"organization_id = '{org}'")) for h in HOURS)
        audits = sum(len(interval_ids(con, "audit_event", h, f"organization_id = '{org}'")) for h in HOURS)
        where = f"organization_id = '{org}' AND event_type = 'analytics_event'"
        analytics = sum(len(interval_ids(con, "session_event", h, where)) for h in HOURS)
        assert by_key[("local_s3", org, "Session")].events == sessions
        assert by_key[("local_s3", org, "Audit")].events == audits
        assert by_key[("local_splunk", org, "Session")].events == sessions
        assert by_key[("local_heap", org, "analytics")].events == analytics
        # HEC and GA4 hold every event already: each is a duplicate; S3 overwrites, Heap deduplicates
        assert by_key[("local_splunk", org, "Session")].duplicates == sessions
        assert by_key[("local_ga4", org, "analytics")].duplicates == analytics
        assert by_key[("local_s3", org, "Session")].duplicates == 0
        assert by_key[("local_heap", org, "analytics")].duplicates == 0
    # one S3 object per organization, kind and hour (the example's part bounds are far above this volume)
    assert by_key[("local_s3", orgs[0], "Session")].parts == 2
    # the parts the ledger recorded are the parts the plan counts
    ledger_parts = dict(
        con.execute("SELECT destination, count(*) FROM ops.delivery WHERE kind != 'manifest' GROUP BY 1").fetchall()
    )
    assert {name: sum(r.parts for r in plan.rows if r.destination == name) for name in ledger_parts} == ledger_parts

    text = format_plan(plan, destinations)
    assert text.startswith("DRY RUN: nothing sent. Resend 2026-11-27T06:00:00 to 2026-11-27T08:00:00")
    assert "local_splunk (splunk_hec): a SECOND COPY of every event already delivered" in text
    assert "local_s3 (s3): overwrites the same objects (no copies)" in text
    summary = plan.as_dict()
    assert summary["events"] == sum(r.events for r in plan.rows) and summary["duplicates"] > 0
    assert summary["by_destination"]["local_splunk"] == {
        "events": sum(r.events for r in plan.rows if r.destination == "local_splunk"),
        "parts": sum(r.parts for r in plan.rows if r.destination == "local_splunk"),
        "duplicates": sum(r.events for r in plan.rows if r.destination == "local_splunk"),
    }
    assert len(summary["would_resend"]) == len(plan.rows) <= 20

    # a mistyped organization the "*" destinations let through: no events in the range, the ones that have them named
    typo = RedeliverRequest("*", "org-nope", request.start, request.end)
    with pytest.raises(BadParams, match=f"organizations with events there: {', '.join(orgs)}"):
        check_organization(plan_redelivery(as_warehouse(con), typo, destinations), destinations)
    # an organization a destination lists by name, with nothing in the range: no error, an empty plan
    named = destinations + parse_destinations(
        {"destinations": {"acme_heap": {"type": "heap", "organizations": ["org-nope"], "connection_id": "x",
                                        "app_id": "9"}}}
    )  # fmt: skip
    quiet = plan_redelivery(as_warehouse(con), typo, named)
    check_organization(quiet, named)
    assert quiet.rows == [] and "Nothing to resend. Organizations with events in the range: " in format_plan(
        quiet, named
    )
