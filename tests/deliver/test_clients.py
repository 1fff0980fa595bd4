"""The Heap and GA4 clients' limits, against the real local receivers: batch sizes, value limits, refused
events dead-lettered, validation mode, credentials never shown."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from eventpipe.deliver import ga4 as ga4_module
from eventpipe.deliver.events import Event
from eventpipe.deliver.ga4 import Ga4Client, client_id
from eventpipe.deliver.heap import HeapClient
from eventpipe.deliver.transport import DeliveryAuthError
from eventpipe.devtools.receivers.analytics import Ga4Receiver, HeapReceiver
from eventpipe.devtools.receivers.hec import Faults
from eventpipe.devtools.receivers.server import read_ndjson

API_SECRET = "ga4-secret-Zq8xWv3"


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
