"""HEC, Heap and GA4 deliveries through ``deliver_interval`` and the clients, against real local HTTP receivers.

Exactly-once is checked at the receivers, by event id, in the files they wrote; not from the clients' reports.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections import Counter

import pytest

from eventpipe.deliver import ga4 as ga4_module
from eventpipe.deliver.events import Event
from eventpipe.deliver.ga4 import Ga4Client, client_id
from eventpipe.deliver.heap import HeapClient
from eventpipe.deliver.run import DeliveryFailed, deliver_interval, raise_if_failed
from eventpipe.deliver.transport import DeliveryAuthError
from eventpipe.devtools.receivers.analytics import Ga4Receiver, HeapReceiver
from eventpipe.devtools.receivers.hec import Faults, HecReceiver
from eventpipe.devtools.receivers.server import read_ndjson
from tests.deliver.conftest import HOURS, destinations, http_conn, interval_ids

TOKEN = "7a3c1e55-2b8d-4f0e-9c41-5d6e7f809a1b"
API_SECRET = "ga4-secret-Zq8xWv3"


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


def test_a_fault_run_ends_with_every_app_event_exactly_once(con, hec):
    """503s, 500s, connection resets and slow acks: each App Event of both intervals lands once, acked."""
    receiver = hec(Faults(seed=3, busy_rate=0.2, error_rate=0.1, drop_connection_rate=0.15, ack_delay_s=0.05))
    config = destinations(splunk=hec_destination(max_retries=15))
    for hour in HOURS:
        raise_if_failed(deliver_interval(con, hour, destinations=config, run_id="faults"))

    expected = interval_ids(con, "session_event", HOURS[0]) | interval_ids(con, "session_event", HOURS[1])
    counts = hec_ids(receiver)
    assert set(counts) == expected and set(counts.values()) == {1}
    stats = receiver.stats()
    assert stats.by_status[503] > 0 and stats.by_status[500] > 0 and stats.dropped_before > 0
    ledger = "SELECT sum(delivered), sum(events), count(*) FILTER (status != 'delivered') FROM ops.delivery"
    assert con.execute(ledger).fetchone() == (len(expected), len(expected), 0)
    # Every HEC object carries the stream envelope and its own time.
    event = receiver.events()[0]
    assert event["index"] == "app_events" and event["sourcetype"] == "eventpipe:app_event"
    assert event["event"]["kind"] == "Session" and event["fields"]["event_id"] == event["event"]["eventId"]


def test_a_burst_of_503_honours_retry_after_and_delivers_once(con, hec):
    faults = Faults(busy_rate=1.0, retry_after_s=1)
    receiver = hec(faults)
    calm = threading.Timer(0.5, faults.update, kwargs={"busy_rate": 0.0})
    calm.start()
    run = deliver_interval(con, HOURS[0], destinations=destinations(splunk=hec_destination()))
    calm.cancel()
    raise_if_failed(run)
    counts = hec_ids(receiver)
    assert set(counts) == interval_ids(con, "session_event", HOURS[0]) and set(counts.values()) == {1}
    assert receiver.stats().by_status[503] >= 1


def test_a_revoked_token_fails_loudly_without_the_token_and_the_others_still_deliver(
    con, hec, tmp_path, monkeypatch, caplog
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
        run = deliver_interval(con, HOURS[0], destinations=config, run_id="revoked")
        with pytest.raises(DeliveryFailed) as raised:
            raise_if_failed(run)
    finally:
        heap.stop()

    error = raised.value
    assert "HecAuthError" in str(error) and "Splunk ****" in str(error)
    shown = [
        str(error),
        repr(error),
        "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format()),
        caplog.text,
        json.dumps(con.execute("SELECT * FROM ops.delivery").fetchall(), default=str),
        run.summary(),
    ]
    assert [text for text in shown if TOKEN in text] == []
    # Heap and the bucket delivered everything although Splunk failed.
    analytics = interval_ids(con, "session_event", HOURS[0], "event_type = 'analytics_event'")
    assert {e["idempotency_key"] for e in read_ndjson(tmp_path / "heap" / "42.ndjson")} == analytics
    assert list((tmp_path / "s3" / "local-bucket").rglob("*.manifest.json"))
    sent_before = hec_ids(receiver)
    assert 0 < len(sent_before) < len(interval_ids(con, "session_event", HOURS[0]))

    # The token works again: the retry sends only what did not land, so nothing is duplicated.
    faults.update(revoke_token_after=None)
    raise_if_failed(deliver_interval(con, HOURS[0], destinations=config, run_id="retry"))
    counts = hec_ids(receiver)
    assert set(counts) == interval_ids(con, "session_event", HOURS[0]) and set(counts.values()) == {1}


def test_heap_and_ga4_receive_each_analytics_event_of_the_interval_once(con, tmp_path, monkeypatch):
    with HeapReceiver(tmp_path / "heap") as heap, Ga4Receiver(tmp_path / "ga4", api_secret=API_SECRET) as ga4:
        monkeypatch.setenv("AIRFLOW_CONN_TEST_HEAP", http_conn(heap.url))
        monkeypatch.setenv("AIRFLOW_CONN_TEST_GA4", http_conn(ga4.url, API_SECRET))
        config = destinations(
            heap={"type": "heap", "organizations": ["*"], "connection_id": "test_heap", "app_id": "42"},
            ga4={"type": "ga4", "organizations": ["*"], "connection_id": "test_ga4", "measurement_id": "G-TEST0001"},
        )
        raise_if_failed(deliver_interval(con, HOURS[1], destinations=config))
        raise_if_failed(deliver_interval(con, HOURS[1], destinations=config))  # re-run: skipped, no duplicates

    expected = interval_ids(con, "session_event", HOURS[1], "event_type = 'analytics_event'")
    assert len(expected) > 5
    heap_events = read_ndjson(tmp_path / "heap" / "42.ndjson")
    assert sorted(e["idempotency_key"] for e in heap_events) == sorted(expected)
    ga4_events = read_ndjson(tmp_path / "ga4" / "G-TEST0001.ndjson")
    assert sorted(e["params"]["event_id"] for e in ga4_events) == sorted(expected)
    assert not (tmp_path / "ga4" / "invalid.ndjson").exists()
    sessions = {
        event_id: (org, session)
        for event_id, org, session in con.execute(
            "SELECT event_id, organization_id, session_id FROM raw.session_event"
        ).fetchall()
    }  # a session is (organization, session id)
    assert all(e["client_id"] == client_id(*sessions[e["params"]["event_id"]]) for e in ga4_events)
    assert all(e["identity"] == "{}:{}".format(*sessions[e["idempotency_key"]]) for e in heap_events)


# -- the clients' limits ---------------------------------------------------------------------------------------


def event(n: int, *, session: str = "s-1", name: str = "Page Navigate", properties: dict | None = None) -> Event:
    return Event(
        organization_id="org",
        event_id=f"evt-{n:05d}",
        kind="Session",
        event_type="analytics_event",
        event_time_iso="2026-11-27T06:00:00.000Z",
        event_time_ms=1_795_845_600_000 + n,
        app_id="app",
        branch_id="b",
        deploy_id="d",
        session_id=session,
        analytics_name=name,
        analytics_properties=json.dumps(properties if properties is not None else {"Page-Name": "Home"}),
        payload="{}",
        source_file="f",
    )


def test_heap_sends_at_most_1000_events_a_request_with_idempotency_keys(tmp_path):
    events = [event(n, properties={"nested": {"a": [1, 2]}}) for n in range(2_500)]
    events[7] = event(7, properties={"long": "x" * 3000, "nested": {"a": [1, 2]}})
    with HeapReceiver(tmp_path) as heap, HeapClient(heap.url, "42") as client:
        report = client.send(events)
    received = read_ndjson(tmp_path / "42.ndjson")
    assert [e["idempotency_key"] for e in received] == [e.event_id for e in events]
    assert report.delivered == 2_500 and heap.batch_sizes == [1000, 1000, 500] and heap.stats[400] == 0
    long = [e["properties"]["long"] for e in received if "long" in e["properties"]]
    assert long == ["x" * 1024]  # cut before sending: Heap refuses longer values
    assert received[0]["properties"]["nested"] == '{"a":[1,2]}'


def test_heap_through_503s_and_resets_delivers_every_event(tmp_path):
    faults = Faults(seed=1, busy_rate=0.3, drop_connection_rate=0.3)
    events = [event(n) for n in range(1_000)]
    with (
        HeapReceiver(tmp_path, faults=faults) as heap,
        HeapClient(heap.url, "42", max_batch_events=50, backoff_base_s=0.01) as client,
    ):
        report = client.send(events)
    assert Counter(e["idempotency_key"] for e in read_ndjson(tmp_path / "42.ndjson")) == Counter(
        e.event_id for e in events
    )
    assert report.delivered == 1_000 and report.retries["busy"] > 0 and report.retries["connection"] > 0


def test_heap_refused_events_are_isolated_and_dead_lettered(tmp_path):
    events = [event(n) for n in range(50)]
    events[17] = event(17, session="")  # no identity: refused before sending
    with HeapReceiver(tmp_path) as heap, HeapClient(heap.url, "42") as client:
        report = client.send(events)
    assert [d.event_id for d in report.dead_letter] == ["evt-00017"]
    assert len(read_ndjson(tmp_path / "42.ndjson")) == 49


def test_ga4_enforces_names_params_values_and_25_events_a_request(tmp_path):
    properties = {f"prop {i}": "v" * 150 for i in range(30)}
    events = [event(n, properties=properties) for n in range(60)]
    events.append(event(60, name="x" * 60))
    events.append(event(61, name="session_start"))  # reserved by GA4
    events.append(event(62, name="Form Submitted", session="s-2"))
    with Ga4Receiver(tmp_path, api_secret=API_SECRET) as ga4, Ga4Client(ga4.url, "G-TEST0001", API_SECRET) as client:
        report = client.send(events)
        statuses = dict(ga4.stats)
    assert [d.event_id for d in report.dead_letter] == ["evt-00061"]
    received = read_ndjson(tmp_path / "G-TEST0001.ndjson")
    assert not (tmp_path / "invalid.ndjson").exists()  # the stand-in found nothing over the limits
    assert len(received) == 62 and report.attempts == 4 and statuses == {204: 4}  # 61 for s-1 in 25s; 1 for s-2
    by_id = {e["params"]["event_id"]: e for e in received}
    first = by_id["evt-00000"]
    assert first["name"] == "Page_Navigate" and first["client_id"] == client_id("org", "s-1")
    assert len(first["params"]) == 25 and {len(v) for k, v in first["params"].items() if k.startswith("prop")} == {100}
    assert first["timestamp_micros"] == 1_795_845_600_000 * 1000
    assert by_id["evt-00060"]["name"] == "x" * 40
    assert by_id["evt-00062"]["client_id"] == client_id("org", "s-2")


def test_ga4_validation_mode_dead_letters_what_debug_collect_reports(tmp_path, monkeypatch):
    real = ga4_module.ga4_event

    def with_one_bad(e):
        client_id, payload = real(e)
        if e.event_id == "evt-00003":
            payload["params"]["too_long"] = "y" * 101  # slips past the client: the debug endpoint must catch it
        return client_id, payload

    monkeypatch.setattr(ga4_module, "ga4_event", with_one_bad)
    with (
        Ga4Receiver(tmp_path, api_secret=API_SECRET) as ga4,
        Ga4Client(ga4.url, "G-TEST0001", API_SECRET, validate=True) as client,
    ):
        report = client.send([event(n) for n in range(10)])
    assert [d.event_id for d in report.dead_letter] == ["evt-00003"]
    assert "VALUE_INVALID" in report.dead_letter[0].text
    assert sorted(e["params"]["event_id"] for e in read_ndjson(tmp_path / "G-TEST0001.ndjson")) == [
        f"evt-{n:05d}" for n in range(10) if n != 3
    ]
    assert report.attempts == 2  # one debug request, one collect request


def test_ga4_wrong_secret_fails_without_showing_it(tmp_path):
    with (
        Ga4Receiver(tmp_path, api_secret=API_SECRET) as ga4,
        Ga4Client(ga4.url, "G-TEST0001", "wrong-Secret-9") as c,
        pytest.raises(DeliveryAuthError) as raised,
    ):
        c.send([event(1)])
    assert "wrong-Secret-9" not in str(raised.value) and "wrong-Secret-9" not in repr(c)


def test_redeliver_resends_only_the_chosen_destination_organization_and_range(con, tmp_path, monkeypatch):
    from eventpipe.deliver.run import deliver_range

    with HeapReceiver(tmp_path / "heap") as heap:
        monkeypatch.setenv("AIRFLOW_CONN_TEST_HEAP", http_conn(heap.url))
        monkeypatch.setenv("AIRFLOW_CONN_TEST_FS", json.dumps({"conn_type": "fs", "extra": {"path": str(tmp_path)}}))
        config = destinations(
            heap={"type": "heap", "organizations": ["*"], "connection_id": "test_heap", "app_id": "42"},
            files={"type": "s3", "organizations": ["*"], "connection_id": "test_fs", "bucket": "local-bucket"},
        )
        for hour in HOURS:
            raise_if_failed(deliver_interval(con, hour, destinations=config))
        org = con.execute("SELECT min(organization_id) FROM raw.session_event").fetchone()[0]
        runs = deliver_range(
            con, HOURS[1], HOURS[1].replace(hour=23), destinations=config, force=True,
            destination_name="heap", organization_id=org,
        )  # fmt: skip

    assert [run.interval_start for run in runs] == [HOURS[1]]
    assert [o.destination.name for o in runs[0].outcomes] == ["heap"]
    resent = interval_ids(
        con, "session_event", HOURS[1], f"event_type = 'analytics_event' AND organization_id = '{org}'"
    )
    counts = Counter(e["idempotency_key"] for e in read_ndjson(tmp_path / "heap" / "42.ndjson"))
    assert resent and {i for i, n in counts.items() if n == 2} == resent and set(counts.values()) == {1, 2}
    attempts = con.execute(
        "SELECT interval_start, organization_id, max(attempts) FROM ops.delivery WHERE destination = 'heap'"
        " GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert {(hour, o): n for hour, o, n in attempts}[(HOURS[1], org)] == 2
    assert all(n == 1 for hour, o, n in attempts if (hour, o) != (HOURS[1], org))


def test_events_hec_refuses_are_dead_lettered_in_the_ledger_and_never_resent(con, tmp_path, monkeypatch):
    """A token limited to index ``main``, a destination writing to ``app_events``: code 7 for every event. The
    client splits batches down to single events, records each as a dead letter, and a re-run sends nothing."""
    receiver = HecReceiver(tokens={TOKEN: {"indexes": ["main"]}}, out_dir=tmp_path / "splunk").start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_TEST_HEC", http_conn(receiver.url, TOKEN))
        config = destinations(splunk=hec_destination(ack=False))
        raise_if_failed(deliver_interval(con, HOURS[0], destinations=config))
        requests = sum(receiver.stats().by_status.values())
        raise_if_failed(deliver_interval(con, HOURS[0], destinations=config))
        assert sum(receiver.stats().by_status.values()) == requests  # dead letters are not retried
    finally:
        receiver.stop()
    expected = interval_ids(con, "session_event", HOURS[0])
    dead = con.execute("SELECT event_id, code, reason FROM ops.delivery_dead_letter").fetchall()
    assert sorted(row[0] for row in dead) == sorted(expected)
    assert {(row[1], row[2]) for row in dead} == {("7", "Incorrect index")}
    ledger = con.execute("SELECT sum(delivered), sum(dead_lettered), min(status) FROM ops.delivery").fetchone()
    assert ledger == (0, len(expected), "delivered")  # every event accounted for: none delivered, all dead
    assert receiver.events() == []


def test_duplicates_a_lost_answer_causes_are_counted_in_the_ledger(con, hec):
    """Without acknowledgement, a connection reset after the receiver wrote a batch cannot be told from a lost
    batch: the client resends (else it would lose events). The copies that result are not hidden: the ledger's
    possible_duplicates equals what the receiver holds twice."""
    receiver = hec(Faults(seed=4, drop_connection_rate=0.2, drop_when="after"), ack=False)
    config = destinations(splunk=hec_destination(ack=False, max_retries=15))
    raise_if_failed(deliver_interval(con, HOURS[0], destinations=config))
    counts = hec_ids(receiver)
    assert set(counts) == interval_ids(con, "session_event", HOURS[0])
    duplicated = sum(n - 1 for n in counts.values())
    assert duplicated > 0 and receiver.stats().dropped_after > 0
    assert con.execute("SELECT sum(possible_duplicates) FROM ops.delivery").fetchone()[0] == duplicated


def test_events_a_replay_loads_later_are_delivered_once_and_nothing_else_is_resent(con, hec):
    """Some App Events of an hour were quarantined (simulated: moved from raw to the quarantine, as a
    validator bug would have), the hour is delivered, the quarantine is replayed, and the hour's deliver
    runs again: the receiver ends with every event exactly once, the replayed ones in parts of their own."""
    from eventpipe.ingest import replay

    receiver = hec()
    config = destinations(splunk=hec_destination())
    moved = [row[0] for row in con.execute(
        "SELECT e.event_id FROM raw.session_event e JOIN ops.loaded_file f ON e._source_file = f.source_file"
        " WHERE f.interval_start = ? ORDER BY e.event_id LIMIT 7", [HOURS[0]],
    ).fetchall()]  # fmt: skip
    con.execute(
        "INSERT INTO raw.quarantined_event SELECT payload::varchar::blob, 'unknown_kind', 'simulated bug',"
        " _source_file, _line_number, _batch_id, _loaded_at, NULL, _commit_seq"
        " FROM raw.session_event WHERE event_id IN ?",
        [moved],
    )
    con.execute(
        "UPDATE ops.loaded_file SET loaded = loaded - n, quarantined = quarantined + n FROM (SELECT _source_file,"
        " count(*) AS n FROM raw.session_event WHERE event_id IN ? GROUP BY ALL) m WHERE source_file = m._source_file",
        [moved],
    )
    con.execute("DELETE FROM raw.session_event WHERE event_id IN ?", [moved])
    raise_if_failed(deliver_interval(con, HOURS[0], destinations=config, run_id="before"))
    assert not set(moved) & set(hec_ids(receiver))

    result = replay.replay_quarantine(con, reason="unknown_kind")
    assert result.loaded == len(moved)  # the generator's own unknown_kind lines stay quarantined
    raise_if_failed(deliver_interval(con, HOURS[0], destinations=config, run_id="after"))
    counts = hec_ids(receiver)
    assert set(counts) == interval_ids(con, "session_event", HOURS[0]) and set(counts.values()) == {1}
    assert set(moved) <= set(counts)
    replay_parts = con.execute(
        "SELECT count(*) FROM ops.delivery WHERE part LIKE ? AND status = 'delivered'", [f"%{result.batch_id}%"]
    ).fetchone()[0]
    assert replay_parts >= 1
