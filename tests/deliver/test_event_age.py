"""Destinations' event-age windows: GA4's Measurement Protocol takes events up to 72 hours old (and answers 2xx for
older ones while ignoring them), so older events are dead-lettered ``too_old_for_destination`` before sending,
counted in the run's outcome and in ``ops.delivery_dead_letter``, and never reported delivered. Destinations without
a documented window (Heap here) take them.

Against the real GA4 and Heap stand-ins and a warehouse loaded by the real loader.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from eventpipe import warehouse
from eventpipe.deliver.run import deliver_pending, raise_if_failed, resend
from eventpipe.deliver.sending import AGE_MARGIN, TOO_OLD
from eventpipe.devtools.generate.landing import generate
from eventpipe.devtools.receivers.analytics import Ga4Receiver, HeapReceiver
from eventpipe.devtools.receivers.server import read_ndjson
from eventpipe.ingest.load import load_interval
from eventpipe.orchestrate import outcome
from eventpipe.utc import utc_now
from tests.deliver.conftest import END, START, destinations, http_conn, loaded_ids
from tests.deliver.test_push import API_SECRET

GA4_WINDOW = timedelta(hours=72)
PAST = datetime(2026, 11, 27, 6)  # a fixed arrival hour: always more than 72 hours ago


@pytest.fixture
def analytics_receivers(tmp_path, monkeypatch):
    """GA4 and Heap stand-ins, their Connections, and the two destinations."""
    with HeapReceiver(tmp_path / "heap") as heap, Ga4Receiver(tmp_path / "ga4", api_secret=API_SECRET) as ga4:
        monkeypatch.setenv("AIRFLOW_CONN_TEST_HEAP", http_conn(heap.url))
        monkeypatch.setenv("AIRFLOW_CONN_TEST_GA4", http_conn(ga4.url, API_SECRET))
        yield destinations(
            ga4={"type": "ga4", "organizations": ["*"], "connection_id": "test_ga4", "measurement_id": "G-TEST0001"},
            heap={"type": "heap", "organizations": ["*"], "connection_id": "test_heap", "app_id": "42"},
        )


def received(tmp_path) -> tuple[list[str], list[str]]:
    """The event ids GA4 and Heap received (every copy)."""
    ga4 = tmp_path / "ga4" / "G-TEST0001.ndjson"
    heap = tmp_path / "heap" / "42.ndjson"
    return (
        [e["params"]["event_id"] for e in read_ndjson(ga4)] if ga4.exists() else [],
        [e["idempotency_key"] for e in read_ndjson(heap)] if heap.exists() else [],
    )


def too_old_letters(con, destination: str = "ga4") -> dict[str, str]:
    rows = con.execute(
        "SELECT event_id, reason FROM ops.delivery_dead_letter WHERE destination = ? AND commit_seq IS NOT NULL",
        [destination],
    ).fetchall()
    return dict(rows)


def test_ga4_dead_letters_events_past_72_hours_and_delivers_the_rest(con, target, tmp_path, analytics_receivers):
    """Analytics events aged past the window, inside the 5-minute margin before it, and just inside it: the first two
    groups are dead-lettered too_old_for_destination (counted in the outcome, its summary and table, and the dead
    letters), the third is delivered; Heap takes them all. A resend with include_delivered sends them to GA4 no
    more than the first run did."""
    assert timedelta(minutes=5) == AGE_MARGIN
    analytics = sorted(loaded_ids(con, "session_event", "event_type = 'analytics_event'"))
    assert len(analytics) >= 10
    now = utc_now()
    ages = {
        "past": (analytics[:3], GA4_WINDOW + timedelta(hours=8)),
        "in the margin": (analytics[3:5], GA4_WINDOW - timedelta(minutes=2)),
        "inside": (analytics[5:7], GA4_WINDOW - timedelta(minutes=15)),
    }
    for ids, age in ages.values():
        con.execute("UPDATE raw.session_event SET event_time = ? WHERE event_id IN ?", [now - age, ids])
    too_old = set(ages["past"][0] + ages["in the margin"][0])

    run = deliver_pending(target, destinations=analytics_receivers, run_id="aged")
    raise_if_failed(run)  # a dead letter is recorded, not a failure
    ga4_ids, heap_ids = received(tmp_path)
    assert sorted(ga4_ids) == sorted(set(analytics) - too_old)  # the "inside" group among them
    assert sorted(heap_ids) == analytics  # Heap has no window: every event, old or not

    ga4, heap = run.outcomes
    assert (ga4.too_old, ga4.dead_lettered, ga4.delivered) == (
        len(too_old), len(too_old), {"analytics": len(analytics) - len(too_old)}
    )  # fmt: skip
    assert (heap.too_old, heap.dead_lettered, heap.delivered) == (0, 0, {"analytics": len(analytics)})
    letters = too_old_letters(con)
    assert set(letters) == too_old and too_old_letters(con, "heap") == {}
    assert all(re.fullmatch(rf"{TOO_OLD}: the event is (80|72)\.0 hours old; ga4 takes events up to 72 hours old", r)
               for r in letters.values()), letters  # fmt: skip
    # The ledger never reports them delivered: each GA4 part's events are delivered or dead-lettered, never both.
    parts = con.execute(
        "SELECT sum(events), sum(delivered), sum(dead_lettered), count(*) FILTER (status != 'delivered')"
        " FROM ops.delivery_part WHERE destination = 'ga4'"
    ).fetchone()
    assert parts == (len(analytics), len(analytics) - len(too_old), len(too_old), 0)
    done = con.execute("SELECT sum(delivered), sum(dead_lettered) FROM ops.delivery_done WHERE destination = 'ga4'")
    assert done.fetchone() == (len(analytics) - len(too_old), len(too_old))
    # ... and the deliver task's XCom and log table count them.
    summary = outcome.delivery_summary([run])["destinations"]
    old = len(too_old)
    assert (summary["ga4"]["too_old"], summary["ga4"]["dead_lettered"], summary["heap"]["too_old"]) == (old, old, 0)
    table = outcome.delivery_table([run])  # events, sent, skip, dead, old, dup?
    ga4_line = next(line for line in table.splitlines() if line.strip().startswith("ga4"))
    assert ga4_line.split()[2:8] == [str(len(analytics) - old), str(ga4.parts_sent), "0", str(old), str(old), "0"]

    # Nothing is pending; a resend of everything again still never sends them to GA4, and counts them again.
    again = resend(target, START, END, destinations=analytics_receivers[:1], include_delivered=True)
    raise_if_failed(again)
    assert again.outcomes[0].too_old == len(too_old)
    assert again.outcomes[0].possible_duplicates == len(analytics) - len(too_old)  # GA4 keeps the second copy
    ga4_ids, _ = received(tmp_path)
    assert not too_old & set(ga4_ids) and sorted(set(ga4_ids)) == sorted(set(analytics) - too_old)
    assert len(ga4_ids) == 2 * (len(analytics) - len(too_old))


def test_a_past_hour_reaches_heap_but_every_analytics_event_is_too_old_for_ga4(
    tmp_path, eventpipe_home, analytics_receivers
):
    """An arrival hour of fixed past dates (a catch-up of last month, say): GA4 receives no request, each analytics
    event is a too_old_for_destination dead letter, the units are done (a re-run sends nothing), Heap gets them."""
    landing = tmp_path / "landing"
    generate(landing=str(landing), start=PAST, hours=1, orgs=2, sessions_per_hour=4, seed=5, files_per_hour=1)
    with warehouse.connect(eventpipe_home / "warehouse.duckdb") as con:
        load_interval(con, str(landing), PAST, run_id="past")
        target = warehouse.as_warehouse(con)
        run = deliver_pending(target, destinations=analytics_receivers, run_id="past")
        again = deliver_pending(target, destinations=analytics_receivers, run_id="past-again")
        analytics = {row[0] for row in con.execute(
            "SELECT event_id FROM raw.session_event WHERE event_type = 'analytics_event'"
        ).fetchall()}  # fmt: skip
        letters = too_old_letters(con)
        units = con.execute(
            "SELECT count(*), sum(delivered), sum(dead_lettered) FROM ops.delivery_done WHERE destination = 'ga4'"
        ).fetchone()
        pending = con.execute("SELECT count(*) FROM ops.load_commit_unit WHERE kind = 'analytics'").fetchone()[0]

    raise_if_failed(run)
    ga4_ids, heap_ids = received(tmp_path)
    assert analytics and ga4_ids == [] and sorted(heap_ids) == sorted(analytics)
    assert not (tmp_path / "ga4" / "invalid.ndjson").exists()
    assert set(letters) == analytics and all(reason.startswith(TOO_OLD) for reason in letters.values())
    ga4 = run.outcomes[0]
    assert (ga4.too_old, ga4.dead_lettered, ga4.delivered) == (len(analytics), len(analytics), {"analytics": 0})
    assert units == (pending, 0, len(analytics))  # every unit done: dead letters are an answer
    assert [(o.units, o.parts_sent) for o in again.outcomes] == [(0, 0), (0, 0)]
