"""redeliver without Airflow: the parameters against the destinations file, and the dry run's plan against a real
warehouse, ledger and local receivers (the plan reads them, sends and writes nothing).

GIVEN two loaded hours of 2 organizations delivered once to the example destinations (S3 directory, HEC, Heap,
GA4 receivers), WHEN a resend of both hours is planned, THEN the plan counts every event per destination,
organization and kind, finds every one of them held already (nothing to send), and with ``include_delivered`` calls
the HEC and GA4 copies duplicates (S3 and Heap none); the receivers and the ledger are byte for byte as before.
WHEN the resend runs, THEN without ``include_delivered`` no receiver gets anything, and with it every destination
gets everything again, HEC and GA4 keeping second copies, counted as the plan said.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
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
from eventpipe.deliver.run import deliver_pending, raise_if_failed, resend
from eventpipe.devtools.receivers.local import local_receivers
from eventpipe.utc import utc_now
from tests.deliver.conftest import END, HOURS, START, interval_ids, loaded_ids

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
    assert request.include_delivered is False  # only what the destinations lack, unless asked
    again = parse_request({"include_delivered": True, "dry_run": False}, CONFIG, now=NOW)
    assert (again.include_delivered, again.dry_run) == (True, False)


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
        ({"include_delivered": "yes"}, "include_delivered 'yes' must be true or false"),
        ({"target": "x"}, "unknown parameter(s) target: allowed are destination, organization, start, end, dry_run,"
                          " include_delivered"),
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


def files(root):
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def at_destinations(home):
    """What the local receivers and the local S3 hold (not the warehouse: a resend writes its ledger)."""
    return files(home / "received") | files(home / "s3")


def delivered_once(con, target):
    """Deliver everything pending to the example destinations (the local receivers must be up)."""
    run = deliver_pending(target, run_id="first")
    assert not run.failed, run.summary()
    return run


def test_the_dry_run_plans_every_event_and_the_duplicates_and_changes_nothing(con, target, eventpipe_home):
    destinations = load_destinations()  # the example file: local_s3, local_splunk, local_heap, local_ga4
    with local_receivers():
        delivered_once(con, target)
    ledger_sql = "SELECT * FROM ops.delivery_part ORDER BY ALL"
    before_ledger, before_files = con.execute(ledger_sql).fetchall(), files(eventpipe_home)
    span = {"start": START.isoformat(), "end": END.isoformat()}
    request = parse_request(span, destinations, now=utc_now())
    everything = parse_request(span | {"include_delivered": True}, destinations, now=utc_now())
    plan = plan_redelivery(target, request, destinations)
    again = plan_redelivery(target, everything, destinations)

    assert con.execute(ledger_sql).fetchall() == before_ledger
    assert files(eventpipe_home) == before_files
    assert plan.intervals == again.intervals == list(HOURS)
    orgs = sorted({org for (org,) in con.execute("SELECT DISTINCT organization_id FROM raw.session_event").fetchall()})
    assert plan.organizations_in_range == orgs and len(orgs) == 2
    by_key = {(r.destination, r.organization, r.kind): r for r in plan.rows}
    all_again = {(r.destination, r.organization, r.kind): r for r in again.rows}
    for org in orgs:
        sessions = sum(len(interval_ids(con, "session_event", h, f"organization_id = '{org}'")) for h in HOURS)
        audits = sum(len(interval_ids(con, "audit_event", h, f"organization_id = '{org}'")) for h in HOURS)
        where = f"organization_id = '{org}' AND event_type = 'analytics_event'"
        analytics = sum(len(interval_ids(con, "session_event", h, where)) for h in HOURS)
        expected = {("local_s3", "Session"): sessions, ("local_s3", "Audit"): audits,
                    ("local_splunk", "Session"): sessions, ("local_heap", "analytics"): analytics,
                    ("local_ga4", "analytics"): analytics}  # fmt: skip
        for (name, kind), events in expected.items():
            row, full = by_key[(name, org, kind)], all_again[(name, org, kind)]
            # every event is held already: a resend sends nothing unless include_delivered
            assert (row.events, row.already_delivered, row.to_send, row.duplicates) == (events, events, 0, 0)
            # with include_delivered everything goes again; HEC and GA4 keep the copies, S3 overwrites, Heap dedups
            duplicates = events if name in ("local_splunk", "local_ga4") else 0
            assert (full.to_send, full.duplicates) == (events, duplicates)
    # the units of the load commits (here one commit per hour): one per organization, kind and hour
    rows = con.execute("SELECT organization_id, kind, count(*) FROM ops.load_commit_unit GROUP BY ALL").fetchall()
    units = {(org, kind): n for org, kind, n in rows}
    assert set(units.values()) == {len(HOURS)}
    assert {(r.destination, r.organization, r.kind): r.units for r in plan.rows} == {
        (d.name, org, kind): n for d in destinations for (org, kind), n in units.items() if kind in d.kinds
    }
    # the units the ledger says done are the units the plan counts
    done = dict(con.execute("SELECT destination, count(*) FROM ops.delivery_done GROUP BY 1").fetchall())
    assert {name: sum(r.units for r in plan.rows if r.destination == name) for name in done} == done

    text = format_plan(plan, destinations)
    assert text.startswith(f"DRY RUN: nothing sent. Resend {START.isoformat()} to {END.isoformat()}")
    assert "only what the destinations do not have" in text
    assert "local_splunk (splunk_hec): a SECOND COPY of every event already delivered" in text
    assert "local_s3 (s3): overwrites the same objects (no copies)" in text
    assert "everything again" in format_plan(again, destinations)
    summary, full = plan.as_dict(), again.as_dict()
    assert (summary["events"], summary["duplicates"], summary["include_delivered"]) == (0, 0, False)
    assert summary["already_delivered"] == full["events"] == sum(r.events for r in plan.rows)
    splunk = [r for r in again.rows if r.destination == "local_splunk"]
    assert full["by_destination"]["local_splunk"] == {
        "events": sum(r.events for r in splunk),
        "units": sum(r.units for r in splunk),
        "duplicates": sum(r.events for r in splunk),
    }
    assert len(summary["would_resend"]) == len(plan.rows) <= 20

    # a mistyped organization the "*" destinations let through: no events in the range, the ones that have them named
    typo = RedeliverRequest("*", "org-nope", request.start, request.end)
    with pytest.raises(BadParams, match=f"organizations with events there: {', '.join(orgs)}"):
        check_organization(plan_redelivery(target, typo, destinations), destinations)
    # an organization a destination lists by name, with nothing in the range: no error, an empty plan
    named = destinations + parse_destinations(
        {"destinations": {"acme_heap": {"type": "heap", "organizations": ["org-nope"], "connection_id": "x",
                                        "app_id": "9"}}}
    )  # fmt: skip
    quiet = plan_redelivery(target, typo, named)
    check_organization(quiet, named)
    assert quiet.rows == [] and "Nothing to resend. Organizations with events in the range: " in format_plan(
        quiet, named
    )


def received_ids(home) -> dict[str, Counter]:
    """Every copy each local receiver (and the local S3) holds, by event id."""
    read = {
        "local_splunk": ("received/splunk", "*.ndjson", lambda e: e["fields"]["event_id"]),
        "local_heap": ("received/heap", "*.ndjson", lambda e: e["idempotency_key"]),
        "local_ga4": ("received/ga4", "G-*.ndjson", lambda e: e["params"]["event_id"]),
    }
    found = {
        name: Counter(event_id(json.loads(line)) for path in (home / folder).glob(pattern)
                      for line in path.read_text().splitlines() if line)
        for name, (folder, pattern, event_id) in read.items()
    }  # fmt: skip
    found["local_s3"] = Counter(
        json.loads(line)["eventId"]
        for path in (home / "s3").rglob("*.json.gz")
        for line in gzip.decompress(path.read_bytes()).splitlines()
    )
    return found


def test_a_resend_sends_what_is_lacking_or_with_include_delivered_everything_again(con, target, eventpipe_home):
    """Off: every destination holds the range, so none receives anything (every part is skipped by the ledger).
    On: every destination receives everything again: HEC and GA4 hold two copies of each event, counted as
    possible duplicates as the plan said; the S3 objects are overwritten with the same bytes; Heap's stand-in writes
    the copy (Heap itself keeps one per idempotency_key), counted as no duplicate."""
    destinations = load_destinations()
    app, audit = loaded_ids(con, "session_event"), loaded_ids(con, "audit_event")
    analytics = loaded_ids(con, "session_event", "event_type = 'analytics_event'")
    once = {"local_splunk": app, "local_heap": analytics, "local_ga4": analytics, "local_s3": app | audit}
    with local_receivers():
        first = delivered_once(con, target)
        assert {name: set(ids) for name, ids in received_ids(eventpipe_home).items()} == once
        before = at_destinations(eventpipe_home)

        lacking = resend(target, START, END, run_id="lacking")
        raise_if_failed(lacking)
        assert at_destinations(eventpipe_home) == before  # nothing sent: every file as it was
        sent = {o.destination.name: o.parts_sent for o in lacking.outcomes}
        skipped = {o.destination.name: o.parts_skipped for o in lacking.outcomes}
        assert set(sent.values()) == {0} and skipped == {o.destination.name: o.parts_sent for o in first.outcomes}

        request = parse_request(
            {"start": START.isoformat(), "end": END.isoformat(), "include_delivered": True}, destinations, now=utc_now()
        )
        plan = {name: entry["duplicates"] for name, entry in plan_redelivery(target, request, destinations)
                .as_dict()["by_destination"].items()}  # fmt: skip
        everything = resend(target, START, END, run_id="everything", include_delivered=True)
        raise_if_failed(everything)

    copies = received_ids(eventpipe_home)
    for name in ("local_splunk", "local_heap", "local_ga4"):  # the HTTP receivers write every copy they get
        assert copies[name] == Counter({event_id: 2 for event_id in once[name]}), name
    assert copies["local_s3"] == Counter(once["local_s3"])  # the same keys: one copy of each event
    s3_before = {p: b for p, b in before.items() if "/s3/" in str(p) and not p.name.endswith(".manifest.json")}
    assert {p: p.read_bytes() for p in s3_before} == s3_before  # overwritten with the same bytes
    duplicates = {o.destination.name: o.possible_duplicates for o in everything.outcomes}
    assert duplicates == plan == {"local_s3": 0, "local_splunk": len(app), "local_heap": 0, "local_ga4": len(analytics)}
    delivered = {o.destination.name: sum(o.delivered.values()) for o in everything.outcomes}
    assert delivered == {name: len(ids) for name, ids in once.items()}
    ledger = dict(
        con.execute(
            "SELECT destination, sum(possible_duplicates) FROM ops.delivery_part GROUP BY 1"
        ).fetchall()
    )  # fmt: skip
    assert ledger == duplicates
