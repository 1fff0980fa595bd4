"""Deliveries end to end through Airflow: ``eventpipe run`` (real DAG runs: load, dbt, reconcile, deliver) with the
local receivers it starts itself, then every App Event and Audit event of each interval is looked for at its
destinations, by event id, in what the receivers and the local S3 wrote.

The arrival hours are recent (GA4 takes events up to 72 hours old); the generator's late events include offline
sessions dated up to three days before the first hour, so some analytics events may be past GA4's window: those must
be dead-lettered too_old_for_destination, and every other one received.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from eventpipe.deliver.sending import AGE_MARGIN, TOO_OLD
from eventpipe.devtools.generate.landing import generate
from eventpipe.devtools.receivers.hec import HecReceiver
from eventpipe.utc import hour_floor, utc_now
from tests.e2e.support import eventpipe, ndjson, query

pytestmark = pytest.mark.slow

START = hour_floor(utc_now()) - timedelta(hours=3)
HOURS = [START]
REVOKED_HOUR = START + timedelta(hours=1)
TOKEN = "3f2b9c1d-8e7a-4b6c-9d0e-1a2b3c4d5e6f"
GA4_WINDOW = timedelta(hours=72) - AGE_MARGIN


def iso(hour: datetime) -> str:
    return f"{hour:%Y-%m-%dT%H:%M}"


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    home = tmp_path_factory.mktemp("deliveries_home")
    generate(
        landing=str(home / "landing"),
        start=START,
        hours=2,
        orgs=2,
        sessions_per_hour=4,
        seed=21,
        late_fraction=0.08,
        duplicate_fraction=0.05,
        malformed_fraction=0.03,
        files_per_hour=2,
    )
    started = utc_now()
    run = eventpipe(home, "run", "--hourly", "--start", iso(START), "--end", iso(START + timedelta(hours=1)))
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    return home, run, started


def interval_ids(home: Path, table: str, hour: datetime, where: str = "true") -> list[str]:
    return sorted(
        row[0]
        for row in query(
            home,
            f"SELECT e.event_id FROM raw.{table} e JOIN ops.loaded_file f ON e._source_file = f.source_file"
            f" WHERE f.interval_start = ? AND {where}",
            [hour],
        )
    )


def s3_ids(home: Path, kind: str, hour: datetime) -> list[str]:
    pattern = f"eventpipe-deliveries/*/*/{kind}/dt={hour:%Y-%m-%d}/hour={hour:%H}/*.json.gz"
    return sorted(
        json.loads(line)["eventId"]
        for path in (home / "s3").glob(pattern)
        for line in gzip.decompress(path.read_bytes()).splitlines()
    )


def too_old_for_ga4(home: Path) -> dict[str, tuple[datetime, datetime]]:
    """GA4's dead letters by event id: (event time, recorded at); each must be too_old_for_destination."""
    rows = query(
        home,
        "SELECT d.event_id, d.reason, e.event_time, d.recorded_at FROM ops.delivery_dead_letter d"
        " JOIN raw.session_event e USING (event_id) WHERE d.destination = 'local_ga4'",
    )
    assert all(reason.startswith(TOO_OLD) for _, reason, _, _ in rows), rows
    return {event_id: (event_time, recorded_at) for event_id, _, event_time, recorded_at in rows}


def test_every_app_event_and_audit_event_of_each_interval_arrives_once(delivered):
    home, _, started = delivered
    splunk = Counter(e["fields"]["event_id"] for e in ndjson((home / "received" / "splunk").glob("*.ndjson")))
    heap = Counter(e["idempotency_key"] for e in ndjson((home / "received" / "heap").glob("*.ndjson")))
    ga4 = Counter(e["params"]["event_id"] for e in ndjson((home / "received" / "ga4").glob("G-*.ndjson")))
    app_events, analytics = [], []
    for hour in HOURS:
        sessions = interval_ids(home, "session_event", hour)
        audits = interval_ids(home, "audit_event", hour)
        assert sessions and audits
        assert s3_ids(home, "Session", hour) == sessions  # S3: the interval's objects hold exactly its events
        assert s3_ids(home, "Audit", hour) == audits
        app_events += sessions
        analytics += interval_ids(home, "session_event", hour, "event_type = 'analytics_event'")
    assert sorted(splunk) == sorted(app_events) and set(splunk.values()) == {1}
    assert sorted(heap) == sorted(analytics) and set(heap.values()) == {1}
    # GA4: every analytics event within its 72 hours once; the older ones dead-lettered, never sent.
    old = too_old_for_ga4(home)
    assert ga4 and set(old) <= set(analytics) and not set(old) & set(ga4)
    assert sorted(ga4) == sorted(set(analytics) - set(old)) and set(ga4.values()) == {1}
    assert all(event_time < recorded_at - GA4_WINDOW for event_time, recorded_at in old.values())
    times = dict(query(home, "SELECT event_id, event_time FROM raw.session_event WHERE event_type = 'analytics_event'"))
    assert all(times[event_id] >= started - GA4_WINDOW for event_id in ga4)  # sent after `started`: within 72 hours
    # The raw tables hold nothing that was not delivered (late events included: they travel with their file).
    assert len(app_events) == query(home, "SELECT count(*) FROM raw.session_event")[0][0]
    assert not (home / "received" / "ga4" / "invalid.ndjson").exists()


def test_the_ledger_and_the_summary_agree_with_the_marts(delivered):
    home, run, _ = delivered
    ledger = dict(
        query(
            home,
            "SELECT destination || ' ' || kind, sum(delivered) FROM ops.delivery_part"
            " WHERE status = 'delivered' AND kind != 'manifest' GROUP BY 1",
        )
    )
    sessions = query(home, "SELECT count(*) FROM marts.fct_session_events")[0][0]
    audits = query(home, "SELECT count(*) FROM marts.fct_audit_events")[0][0]
    analytics = query(home, "SELECT count(*) FROM marts.fct_session_events WHERE event_type = 'analytics_event'")[0][0]
    assert ledger == {
        "local_s3 Session": sessions,
        "local_s3 Audit": audits,
        "local_splunk Session": sessions,
        "local_heap analytics": analytics,
        "local_ga4 analytics": analytics - len(too_old_for_ga4(home)),  # the rest dead-lettered: too old
    }
    assert query(home, "SELECT count(*) FROM ops.delivery_part WHERE status != 'delivered'")[0][0] == 0
    # every unit of every commit is done at every destination
    done = dict(query(home, "SELECT destination, count(*) FROM ops.delivery_done GROUP BY 1"))
    units = dict(query(home, "SELECT kind, count(*) FROM ops.load_commit_unit GROUP BY 1"))
    assert done == {
        "local_s3": units["Session"] + units["Audit"],
        "local_splunk": units["Session"],
        "local_heap": units["analytics"],
        "local_ga4": units["analytics"],
    }
    summary = [line for line in run.stdout.splitlines() if line.startswith("  local_")]
    # delivered + dead-lettered = the marts' count, for each destination and kind (GA4's too-old events included)
    assert len(summary) == 5 and all(line.rstrip().endswith(" =") for line in summary), run.stdout


def test_a_rerun_sends_nothing_again_and_a_revoked_token_fails_only_its_own_interval(delivered, tmp_path):
    """One ``eventpipe run`` over 06:00 (already delivered: a re-run) and 07:00 (new), with Splunk's token revoked.

    The re-run hour succeeds without sending anything (the ledger skips it, so the revoked token is never even
    used); the new hour fails loudly, the token appears in no output or log, and the other destinations deliver.
    """
    home, _, _ = delivered
    rerun_hour = HOURS[0]
    splunk_files = {p: p.read_bytes() for p in (home / "received" / "splunk").rglob("*.ndjson")}
    rerun_objects = {p: p.read_bytes() for p in (home / "s3").rglob(f"hour={rerun_hour:%H}/*") if p.is_file()}
    ledger_sql = "SELECT * FROM ops.delivery_part WHERE interval_start = ? ORDER BY ALL"
    rerun_ledger = query(home, ledger_sql, [rerun_hour])
    with HecReceiver(tokens={TOKEN: {"ack": True, "disabled": True}}, out_dir=tmp_path / "splunk") as splunk:
        host, port = splunk.url.removeprefix("http://").split(":")
        connection = {"conn_type": "http", "host": host, "port": int(port), "schema": "http", "password": TOKEN}
        run = eventpipe(
            home,
            "run",
            "--hourly",
            "--start",
            iso(START),
            "--end",
            iso(START + timedelta(hours=2)),
            env={"AIRFLOW_CONN_EVENTPIPE_LOCAL_HEC": json.dumps(connection)},
        )
        revoked_requests = sum(splunk.stats().by_status.values())
    assert run.returncode == 1, run.stdout + run.stderr[-3000:]
    assert f"{iso(REVOKED_HOUR)} failed" in run.stderr and f"{iso(START)} failed" not in run.stderr

    # The re-run: nothing sent again, nothing rewritten, the ledger untouched.
    assert {p: p.read_bytes() for p in (home / "received" / "splunk").rglob("*.ndjson")} == splunk_files
    assert {p: p.read_bytes() for p in (home / "s3").rglob(f"hour={rerun_hour:%H}/*") if p.is_file()} == rerun_objects
    assert query(home, ledger_sql, [rerun_hour]) == rerun_ledger
    heap = Counter(e["idempotency_key"] for e in ndjson((home / "received" / "heap").glob("*.ndjson")))
    assert set(heap.values()) == {1}

    # The revoked token: one refused request per try of the task and organization in flight (no retry within a try,
    # no later part tried after it: the two organizations' first parts went out side by side), the task failed
    # loudly, and the token is nowhere.
    tries = query(
        home,
        "SELECT sum(attempts), count(*) FROM ops.delivery_part WHERE destination = 'local_splunk'"
        " AND interval_start = ?",
        [REVOKED_HOUR],
    )
    assert revoked_requests == tries[0][0] >= 1 and 1 <= tries[0][1] <= 2
    logs = [p.read_text(errors="replace") for p in home.rglob("*.log")]
    assert any("HecAuthError" in text and "Splunk ****" in text for text in logs)
    assert [text for text in [run.stdout, run.stderr, *logs] if TOKEN in text] == []
    rows = dict(
        query(
            home,
            "SELECT destination, string_agg(DISTINCT status, ',') FROM ops.delivery_part"
            " WHERE interval_start = ? GROUP BY 1",
            [REVOKED_HOUR],
        )
    )
    assert rows == {
        "local_s3": "delivered",
        "local_heap": "delivered",
        "local_ga4": "delivered",
        "local_splunk": "failed",
    }
    assert s3_ids(home, "Session", REVOKED_HOUR) == interval_ids(home, "session_event", REVOKED_HOUR)
    assert s3_ids(home, "Audit", REVOKED_HOUR) == interval_ids(home, "audit_event", REVOKED_HOUR)
