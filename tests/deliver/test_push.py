"""HEC, Heap and GA4 deliveries through ``deliver_pending`` / ``resend`` and the clients, against real local HTTP
receivers.

Exactly-once is checked at the receivers, by event id, in the files they wrote; not from the clients' reports.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections import Counter

import pytest

from eventpipe.deliver.ga4 import client_id
from eventpipe.deliver.run import DeliveryFailed, deliver_pending, raise_if_failed, resend
from eventpipe.devtools.receivers.analytics import Ga4Receiver, HeapReceiver
from eventpipe.devtools.receivers.hec import Faults, HecReceiver
from eventpipe.devtools.receivers.server import read_ndjson
from tests.deliver.conftest import END, HOURS, START, destinations, http_conn, interval_ids, loaded_ids

TOKEN = "7a3c1e55-2b8d-4f0e-9c41-5d6e7f809a1b"
API_SECRET = "ga4-secret-Zq8xWv3"
LEDGER_TABLES = ("delivery_part", "delivery_dead_letter", "delivery_done")


def hec_destination(**options):
    return {
        "type": "splunk_hec",
        "organizations": ["*"],
        "connection_id": "test_hec",
        "index": "app_events",
        "ack": True,
        "ack_poll_seconds": 0.01,
        "max_batch_events": 20,
        **options,
    }


def hec_ids(receiver: HecReceiver) -> Counter:
    return Counter(event["fields"]["event_id"] for event in receiver.events())


def units(con, destination: str) -> int:
    """The units the destination holds whole by the ledger (``ops.delivery_done``)."""
    return con.execute("SELECT count(*) FROM ops.delivery_done WHERE destination = ?", [destination]).fetchone()[0]


def pending_units(con, kind: str) -> int:
    """The units of ``kind`` every load commit wrote (``ops.load_commit_unit``)."""
    return con.execute("SELECT count(*) FROM ops.load_commit_unit WHERE kind = ?", [kind]).fetchone()[0]


@pytest.fixture
def hec(tmp_path, monkeypatch):
    started = []

    def start(faults: Faults | None = None, ack: bool = True) -> HecReceiver:
        receiver = HecReceiver(tokens={TOKEN: {"ack": ack}}, out_dir=tmp_path / "splunk", faults=faults).start()
        started.append(receiver)
        monkeypatch.setenv("AIRFLOW_CONN_TEST_HEC", http_conn(receiver.url, TOKEN))
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


def test_a_fault_run_ends_with_every_app_event_exactly_once(con, target, hec):
    """503s, 500s, connection resets and slow acks: each App Event of every pending unit (both hours) lands once,
    acked, every unit is done, and a second run finds nothing pending and sends nothing."""
    receiver = hec(Faults(seed=3, busy_rate=0.2, error_rate=0.1, drop_connection_rate=0.15, ack_delay_s=0.05))
    config = destinations(splunk=hec_destination(max_retries=15))
    run = deliver_pending(target, destinations=config, run_id="faults")
    raise_if_failed(run)

    expected = loaded_ids(con, "session_event")
    counts = hec_ids(receiver)
    assert set(counts) == expected and set(counts.values()) == {1}
    stats = receiver.stats()
    assert stats.by_status[503] > 0 and stats.by_status[500] > 0 and stats.dropped_before > 0
    ledger = "SELECT sum(delivered), sum(events), count(*) FILTER (status != 'delivered') FROM ops.delivery_part"
    assert con.execute(ledger).fetchone() == (len(expected), len(expected), 0)
    outcome = run.outcomes[0]
    assert outcome.delivered == {"Session": len(expected)} and outcome.units == units(con, "splunk")
    assert units(con, "splunk") == pending_units(con, "Session") >= 2 * len(HOURS)  # 2 organizations, 2 hours
    # Every HEC object carries the stream envelope and its own time.
    event = receiver.events()[0]
    assert event["index"] == "app_events" and event["sourcetype"] == "eventpipe:app_event"
    assert event["event"]["kind"] == "Session" and event["fields"]["event_id"] == event["event"]["eventId"]

    requests = sum(receiver.stats().by_status.values())
    again = deliver_pending(target, destinations=config, run_id="again")
    assert again.outcomes[0].parts_sent == again.outcomes[0].units == 0 and not again.failed
    assert sum(receiver.stats().by_status.values()) == requests and hec_ids(receiver) == counts


def test_a_burst_of_503_honours_retry_after_and_delivers_once(con, target, hec):
    faults = Faults(busy_rate=1.0, retry_after_s=1)
    receiver = hec(faults)
    calm = threading.Timer(0.5, faults.update, kwargs={"busy_rate": 0.0})
    calm.start()
    run = deliver_pending(target, destinations=destinations(splunk=hec_destination()))
    calm.cancel()
    raise_if_failed(run)
    counts = hec_ids(receiver)
    assert set(counts) == loaded_ids(con, "session_event") and set(counts.values()) == {1}
    assert receiver.stats().by_status[503] >= 1


def test_a_revoked_token_fails_loudly_without_the_token_and_the_others_still_deliver(
    con, target, hec, tmp_path, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    faults = Faults(revoke_token_after=2)
    receiver = hec(faults, ack=False)
    heap = HeapReceiver(tmp_path / "heap").start()
    monkeypatch.setenv("AIRFLOW_CONN_TEST_HEAP", http_conn(heap.url))
    monkeypatch.setenv("AIRFLOW_CONN_TEST_FS", json.dumps({"conn_type": "fs", "extra": {"path": str(tmp_path / "s3")}}))
    config = destinations(
        splunk=hec_destination(ack=False),
        heap={"type": "heap", "organizations": ["*"], "connection_id": "test_heap", "app_id": "42"},
        files={"type": "s3", "organizations": ["*"], "connection_id": "test_fs", "bucket": "local-bucket"},
    )
    try:
        run = deliver_pending(target, destinations=config, run_id="revoked")
        with pytest.raises(DeliveryFailed) as raised:
            raise_if_failed(run)
    finally:
        heap.stop()

    error = raised.value
    assert [o.destination.name for o in run.failed] == ["splunk"]
    assert "HecAuthError" in str(error) and "Splunk ****" in str(error)
    shown = [
        str(error),
        repr(error),
        "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format()),
        caplog.text,
        *(json.dumps(con.execute(f"SELECT * FROM ops.{table}").fetchall(), default=str) for table in LEDGER_TABLES),
        run.summary(),
    ]
    assert [text for text in shown if TOKEN in text] == []
    # Heap and the bucket delivered everything although Splunk failed.
    analytics = loaded_ids(con, "session_event", "event_type = 'analytics_event'")
    assert {e["idempotency_key"] for e in read_ndjson(tmp_path / "heap" / "42.ndjson")} == analytics
    assert len(list((tmp_path / "s3" / "local-bucket").rglob("*.manifest.json"))) == 2 * len(HOURS)
    sent_before = hec_ids(receiver)
    assert 0 < len(sent_before) < len(loaded_ids(con, "session_event"))
    assert units(con, "splunk") < pending_units(con, "Session")  # the failed units stay pending

    # The token works again: the retry sends only what did not land, so nothing is duplicated.
    faults.update(revoke_token_after=None)
    retry = deliver_pending(target, destinations=config, run_id="retry")
    raise_if_failed(retry)
    counts = hec_ids(receiver)
    assert set(counts) == loaded_ids(con, "session_event") and set(counts.values()) == {1}
    assert [o.parts_sent for o in retry.outcomes[1:]] == [0, 0]  # heap and the bucket: nothing pending
    assert units(con, "splunk") == pending_units(con, "Session")


def test_heap_and_ga4_receive_each_analytics_event_once(con, target, tmp_path, monkeypatch):
    """GA4 gets one request per session (its client_id), Heap one identity per session, and a re-run sends nothing:
    what is done is not pending, and a resend of the range skips every part the ledger says delivered."""
    with HeapReceiver(tmp_path / "heap") as heap, Ga4Receiver(tmp_path / "ga4", api_secret=API_SECRET) as ga4:
        monkeypatch.setenv("AIRFLOW_CONN_TEST_HEAP", http_conn(heap.url))
        monkeypatch.setenv("AIRFLOW_CONN_TEST_GA4", http_conn(ga4.url, API_SECRET))
        config = destinations(
            heap={"type": "heap", "organizations": ["*"], "connection_id": "test_heap", "app_id": "42"},
            ga4={"type": "ga4", "organizations": ["*"], "connection_id": "test_ga4", "measurement_id": "G-TEST0001"},
        )
        first = deliver_pending(target, destinations=config)
        raise_if_failed(first)
        again = deliver_pending(target, destinations=config)  # a re-run: nothing pending
        raise_if_failed(again)
        resent = resend(target, START, END, destinations=config)  # what they lack: nothing
        raise_if_failed(resent)

    expected = loaded_ids(con, "session_event", "event_type = 'analytics_event'")
    assert len(expected) > 5
    heap_events = read_ndjson(tmp_path / "heap" / "42.ndjson")
    assert sorted(e["idempotency_key"] for e in heap_events) == sorted(expected)
    ga4_events = read_ndjson(tmp_path / "ga4" / "G-TEST0001.ndjson")
    assert sorted(e["params"]["event_id"] for e in ga4_events) == sorted(expected)
    assert not (tmp_path / "ga4" / "invalid.ndjson").exists()
    assert [o.delivered for o in first.outcomes] == [{"analytics": len(expected)}] * 2
    assert [o.too_old for o in first.outcomes] == [0, 0]  # recent events: none past GA4's 72 hours
    assert [(o.parts_sent, o.units) for o in again.outcomes] == [(0, 0), (0, 0)]
    assert all(o.parts_sent == 0 and o.parts_skipped > 0 for o in resent.outcomes)
    sessions = {
        event_id: (org, session)
        for event_id, org, session in con.execute(
            "SELECT event_id, organization_id, session_id FROM raw.session_event"
        ).fetchall()
    }  # a session is (organization, session id)
    assert all(e["client_id"] == client_id(*sessions[e["params"]["event_id"]]) for e in ga4_events)
    assert all(e["identity"] == "{}:{}".format(*sessions[e["idempotency_key"]]) for e in heap_events)
    # GA4's parts: one session's events of one unit each (one client_id a request), at most 25.
    ga4_parts = con.execute(
        "SELECT count(*), max(events) FROM ops.delivery_part WHERE destination = 'ga4'"
    ).fetchone()  # fmt: skip
    per_session = con.execute(
        "SELECT sum(ceil(n / 25)) FROM (SELECT count(*) AS n FROM raw.session_event e JOIN ops.loaded_file f"
        " ON e._source_file = f.source_file WHERE e.event_type = 'analytics_event'"
        " GROUP BY e._commit_seq, e.organization_id, f.interval_start, e.session_id)"
    ).fetchone()[0]
    assert ga4_parts[0] == per_session >= len({sessions[i] for i in expected}) and ga4_parts[1] <= 25


def test_resend_of_one_destination_organization_and_hour_with_include_delivered(con, target, tmp_path, monkeypatch):
    """``resend`` of one hour, one destination and one organization, ``include_delivered``: exactly those events
    again at Heap (its receiver writes every copy; Heap keeps one per idempotency_key), nothing anywhere else."""
    with HeapReceiver(tmp_path / "heap") as heap:
        monkeypatch.setenv("AIRFLOW_CONN_TEST_HEAP", http_conn(heap.url))
        monkeypatch.setenv("AIRFLOW_CONN_TEST_FS", json.dumps({"conn_type": "fs", "extra": {"path": str(tmp_path)}}))
        config = destinations(
            heap={"type": "heap", "organizations": ["*"], "connection_id": "test_heap", "app_id": "42"},
            files={"type": "s3", "organizations": ["*"], "connection_id": "test_fs", "bucket": "local-bucket"},
        )
        raise_if_failed(deliver_pending(target, destinations=config))
        org = con.execute("SELECT min(organization_id) FROM raw.session_event").fetchone()[0]
        run = resend(
            target, HOURS[1], END, destinations=config, destination_name="heap", organization_id=org,
            include_delivered=True,
        )  # fmt: skip

    raise_if_failed(run)
    assert [o.destination.name for o in run.outcomes] == ["heap"]
    again = interval_ids(
        con, "session_event", HOURS[1], f"event_type = 'analytics_event' AND organization_id = '{org}'"
    )
    counts = Counter(e["idempotency_key"] for e in read_ndjson(tmp_path / "heap" / "42.ndjson"))
    assert again and {i for i, n in counts.items() if n == 2} == again and set(counts.values()) == {1, 2}
    assert run.outcomes[0].delivered == {"analytics": len(again)} and run.outcomes[0].possible_duplicates == 0
    attempts = con.execute(
        "SELECT interval_start, organization_id, max(attempts) FROM ops.delivery_part WHERE destination = 'heap'"
        " GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert {(hour, o): n for hour, o, n in attempts}[(HOURS[1], org)] == 2
    assert all(n == 1 for hour, o, n in attempts if (hour, o) != (HOURS[1], org))


def test_events_hec_refuses_are_dead_lettered_in_the_ledger_and_never_resent(con, target, tmp_path, monkeypatch):
    """A token limited to index ``main``, a destination writing to ``app_events``: code 7 for every event. The
    client splits batches down to single events, records each as a dead letter; a re-run and a resend of the range
    send nothing (the parts are delivered: every event accounted for)."""
    receiver = HecReceiver(tokens={TOKEN: {"indexes": ["main"]}}, out_dir=tmp_path / "splunk").start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_TEST_HEC", http_conn(receiver.url, TOKEN))
        config = destinations(splunk=hec_destination(ack=False))
        first = deliver_pending(target, destinations=config)
        raise_if_failed(first)
        requests = sum(receiver.stats().by_status.values())
        raise_if_failed(deliver_pending(target, destinations=config))
        resent = resend(target, START, END, destinations=config)
        raise_if_failed(resent)
        assert sum(receiver.stats().by_status.values()) == requests  # dead letters are not retried
    finally:
        receiver.stop()
    expected = loaded_ids(con, "session_event")
    dead = con.execute("SELECT event_id, code, reason FROM ops.delivery_dead_letter").fetchall()
    assert sorted(row[0] for row in dead) == sorted(expected)
    assert {(row[1], row[2]) for row in dead} == {("7", "Incorrect index")}
    ledger = con.execute("SELECT sum(delivered), sum(dead_lettered), min(status) FROM ops.delivery_part").fetchone()
    assert ledger == (0, len(expected), "delivered")  # every event accounted for: none delivered, all dead
    assert first.outcomes[0].dead_lettered == len(expected) and first.outcomes[0].delivered == {"Session": 0}
    assert resent.outcomes[0].parts_sent == 0 and resent.outcomes[0].parts_skipped > 0
    assert receiver.events() == []


def test_duplicates_a_lost_answer_causes_are_counted_in_the_ledger(con, target, hec):
    """Without acknowledgement, a connection reset after the receiver wrote a batch cannot be told from a lost
    batch: the client resends (else it would lose events). The copies that result are not hidden: the ledger's
    possible_duplicates equals what the receiver holds twice, and so does the run's outcome."""
    receiver = hec(Faults(seed=4, drop_connection_rate=0.2, drop_when="after"), ack=False)
    config = destinations(splunk=hec_destination(ack=False, max_retries=15))
    run = deliver_pending(target, destinations=config)
    raise_if_failed(run)
    counts = hec_ids(receiver)
    assert set(counts) == loaded_ids(con, "session_event")
    duplicated = sum(n - 1 for n in counts.values())
    assert duplicated > 0 and receiver.stats().dropped_after > 0
    assert con.execute("SELECT sum(possible_duplicates) FROM ops.delivery_part").fetchone()[0] == duplicated
    assert run.outcomes[0].possible_duplicates == duplicated


def test_events_a_replay_loads_later_are_delivered_once_and_nothing_else_is_resent(con, target, hec):
    """Some App Events of an hour were quarantined (simulated: moved from raw to the quarantine, as a validator bug
    would have), everything pending is delivered, the quarantine is replayed (a load commit of its own), and the
    next run delivers that commit's units only: the receiver ends with every event exactly once."""
    from eventpipe.ingest import replay

    receiver = hec()
    config = destinations(splunk=hec_destination())
    moved = [row[0] for row in con.execute(
        "SELECT e.event_id FROM raw.session_event e JOIN ops.loaded_file f ON e._source_file = f.source_file"
        " WHERE f.interval_start = ? ORDER BY e.event_id LIMIT 7", [HOURS[0]],
    ).fetchall()]  # fmt: skip
    con.execute(
        "INSERT INTO raw.quarantined_event SELECT payload::varchar::blob, 'unknown_kind', 'simulated bug',"
        " _source_file, _line_number, _batch_id, _loaded_at, NULL, _commit_seq FROM raw.session_event"
        " WHERE event_id IN ?",
        [moved],
    )
    con.execute(
        "UPDATE ops.loaded_file SET loaded = loaded - n, quarantined = quarantined + n FROM (SELECT _source_file,"
        " count(*) AS n FROM raw.session_event WHERE event_id IN ? GROUP BY ALL) m WHERE source_file = m._source_file",
        [moved],
    )
    con.execute("DELETE FROM raw.session_event WHERE event_id IN ?", [moved])
    raise_if_failed(deliver_pending(target, destinations=config, run_id="before"))
    assert not set(moved) & set(hec_ids(receiver))

    result = replay.replay_quarantine(con, reason="unknown_kind")
    assert result.loaded == len(moved)  # the generator's own unknown_kind lines stay quarantined
    after = deliver_pending(target, destinations=config, run_id="after")
    raise_if_failed(after)
    counts = hec_ids(receiver)
    assert set(counts) == loaded_ids(con, "session_event") and set(counts.values()) == {1}
    assert set(moved) <= set(counts)
    replay_commits = {
        row[0] for row in con.execute("SELECT commit_seq FROM ops.load_commit WHERE commit_kind = 'replay'").fetchall()
    }
    sent = con.execute(
        "SELECT DISTINCT commit_seq FROM ops.delivery_part WHERE status = 'delivered' AND run_id = 'after'"
    ).fetchall()
    assert len(replay_commits) == 1 and {row[0] for row in sent} == replay_commits
    assert after.outcomes[0].delivered == {"Session": len(moved)}
