"""A bad day end to end: ``eventpipe run`` over one arrival hour that holds a truncated gzip file, a poison event,
a hostile organization id and two organizations reusing a session id, beside ordinary generated files.

The run must finish, the bad pieces must each be recorded where a data engineer looks (the file in
``ops.quarantined_file``, the lines in ``raw.quarantined_event``, the poison event in each destination's dead
letters), and every other organization's events must be in the marts and at every destination, once.

The poison event is a Session event nested 3,000 levels deep: more than Python's ``json`` (or msgspec) can parse.
The loader now quarantines such lines (``too_deeply_nested``); this run raises the loader's depth cap so the event
reaches the raw tables, as a row loaded before the cap existed (or under a larger cap) would, and the deliveries
must then dead-letter it alone.

The hour is recent (two hours before the current one): GA4 takes events up to 72 hours old, so it must receive
every analytics event but the poison too.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from eventpipe.devtools.generate.landing import generate
from eventpipe.utc import hour_floor, utc_now
from tests.e2e.support import eventpipe, ndjson, query
from tests.tenant_support import colliding_events

pytestmark = pytest.mark.slow

HOUR = hour_floor(utc_now()) - timedelta(hours=2)
PARTITION = f"dt={HOUR:%Y-%m-%d}/hour={HOUR:%H}"
POISON_ID = "poison-deep-0001"
CORRUPT_ORG = "org_in_the_corrupt_file"
HOSTILE_ORG = "../../escape"
COLLIDING_ORGS = ("org_collide_a", "org_collide_b")


def _gzip_lines(events: list[dict]) -> bytes:
    return gzip.compress(b"".join(json.dumps(event).encode() + b"\n" for event in events))


def _session_event(event_id: str, org: str, session: str, event_type: str = "page_view", **fields) -> dict:
    return {
        "eventId": event_id,
        "organizationId": org,
        "eventTime": f"{HOUR:%Y-%m-%dT%H}:10:00Z",
        "kind": "Session",
        "type": event_type,
        "appId": "app-bad-day",
        "branchId": "main",
        "deployId": "d1",
        "sessionId": session,
        **fields,
    }


def _write_bad_day(landing: Path) -> dict:
    partition = landing / PARTITION
    # 1. A truncated gzip file: its events must load nowhere, the hour's other files as usual.
    corrupt_events = [_session_event(f"corrupt-{i:04d}", CORRUPT_ORG, f"s-{i % 7}") for i in range(400)]
    whole = _gzip_lines(corrupt_events)
    (partition / "producer-c-truncated.json.gz").write_bytes(whole[: len(whole) * 2 // 3])
    # 2. Two organizations reusing one session id, a poison event in the first one's session, a hostile org id.
    collide, sessions = colliding_events(COLLIDING_ORGS, ("app-collide-a", "app-collide-b"), HOUR)
    poison = _session_event(POISON_ID, COLLIDING_ORGS[0], "poison-session", "analytics_event")
    poison["analyticsEvent"] = {"event": "deep", "properties": {"nested": "REPLACE"}}
    poison_line = json.dumps(poison).replace('"REPLACE"', "[" * 3000 + "]" * 3000).encode()
    hostile = _session_event("hostile-org-0001", HOSTILE_ORG, "s-hostile")
    lines = [json.dumps(event).encode() for event in collide] + [poison_line, json.dumps(hostile).encode()]
    (partition / "producer-d-mixed.json.gz").write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    return sessions


@pytest.fixture(scope="module")
def bad_day(tmp_path_factory):
    home = tmp_path_factory.mktemp("bad_day_home")
    generate(
        landing=str(home / "landing"),
        start=HOUR,
        hours=1,
        orgs=2,
        sessions_per_hour=4,
        seed=66,
        late_fraction=0.0,
        duplicate_fraction=0.03,
        malformed_fraction=0.03,
        files_per_hour=2,
    )
    sessions = _write_bad_day(home / "landing")
    run = eventpipe(
        home,
        "run",
        "--hourly",
        "--start",
        f"{HOUR:%Y-%m-%dT%H:%M}",
        "--end",
        f"{HOUR + timedelta(hours=1):%Y-%m-%dT%H:%M}",
        env={"EVENTPIPE_MAX_JSON_DEPTH": "100000"},
    )
    return home, run, sessions


def test_the_run_finishes_and_says_what_it_quarantined(bad_day):
    home, run, _ = bad_day
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    assert re.search(r"^files quarantined +1$", run.stdout, re.MULTILINE), run.stdout
    files = query(home, "SELECT source_file, reason FROM ops.quarantined_file")
    assert [(Path(f).name, reason) for f, reason in files] == [("producer-c-truncated.json.gz", "truncated")]
    reasons = dict(query(home, "SELECT reason, count(*) FROM raw.quarantined_event GROUP BY 1"))
    assert reasons.get("invalid_organization_id") == 1


def test_nothing_of_the_corrupt_file_loads_and_the_hostile_id_becomes_no_path(bad_day):
    home, _, _ = bad_day
    for table in ("session_event", "audit_event", "platform_event"):
        assert query(
            home, f"SELECT count(*) FROM raw.{table} WHERE organization_id IN (?, ?)", [CORRUPT_ORG, HOSTILE_ORG]
        ) == [(0,)]
    # The local object store holds exactly its bucket folder: no folder escaped next to it.
    assert sorted(p.name for p in (home / "s3").iterdir()) == ["eventpipe-deliveries"]
    for path in (home / "s3").rglob("*"):
        assert ".." not in path.relative_to(home / "s3").parts


def test_colliding_sessions_stay_two_sessions(bad_day):
    home, _, sessions = bad_day
    rows = query(
        home,
        "SELECT organization_id, session_id, device_class FROM marts.fct_sessions WHERE organization_id IN (?, ?)"
        " AND session_id = ? ORDER BY 1",
        [*COLLIDING_ORGS, next(iter(sessions.values())).session_id],
    )
    assert [(org, device) for org, _, device in rows] == [(org, sessions[org].device_class) for org in COLLIDING_ORGS]


def test_every_other_event_is_in_the_marts_and_at_every_destination_once(bad_day):
    home, _, _ = bad_day
    loaded = {row[0] for row in query(home, "SELECT event_id FROM raw.session_event")}
    assert POISON_ID in loaded  # loaded under the raised depth cap: the deliveries must cope with it
    app_events = loaded - {POISON_ID}
    analytics = {
        row[0] for row in query(home, "SELECT event_id FROM raw.session_event WHERE event_type = 'analytics_event'")
    } - {POISON_ID}
    orgs = {row[0] for row in query(home, "SELECT DISTINCT organization_id FROM raw.session_event")}
    assert len(orgs) == 4 and set(COLLIDING_ORGS) <= orgs  # two generated organizations and the colliding pair
    assert {row[0] for row in query(home, "SELECT event_id FROM marts.fct_session_events")} == loaded

    s3 = Counter(
        json.loads(line)["eventId"]
        for path in (home / "s3").glob(f"eventpipe-deliveries/*/*/Session/{PARTITION}/*.json.gz")
        for line in gzip.decompress(path.read_bytes()).splitlines()
    )
    splunk = Counter(e["fields"]["event_id"] for e in ndjson((home / "received" / "splunk").glob("*.ndjson")))
    heap = Counter(e["idempotency_key"] for e in ndjson((home / "received" / "heap").glob("*.ndjson")))
    ga4 = Counter(e["params"]["event_id"] for e in ndjson((home / "received" / "ga4").glob("G-*.ndjson")))
    for name, received, expected in (
        ("s3", s3, app_events),
        ("splunk", splunk, app_events),
        ("heap", heap, analytics),
        ("ga4", ga4, analytics),
    ):
        assert set(received) == expected, name
        assert set(received.values()) == {1}, name

    dead = query(home, "SELECT destination, event_id FROM ops.delivery_dead_letter ORDER BY 1")
    assert dead == [(d, POISON_ID) for d in ("local_ga4", "local_heap", "local_s3", "local_splunk")]
