"""Splunk HEC: the local receiver answers like HEC, and the client delivers through faults, over real loopback HTTP.

Exactly-once is checked at the receiver: every test that sends events counts them by ``fields.event_id`` in the
NDJSON files the receiver wrote, not by what the client reports.
"""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
import uuid
from collections import Counter
from urllib.parse import urlsplit

import pytest

from eventpipe.deliver.hec import REDACTED
from eventpipe.deliver.hec.client import HecClient
from eventpipe.deliver.hec.errors import HecAuthError, HecProtocolError, HecUnavailableError
from eventpipe.devtools.receivers.hec import Faults, HecReceiver

TOKEN = "5b1e3c0a-7d44-4b8e-9a51-0c2f6e9d1a11"
ACK_TOKEN = "9f0d2b7e-1c3a-4e55-8b6d-3a4f5e6d7c88"
APP_TOKEN = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"  # may write to "main" and "app" only
OFF_TOKEN = "deadbeef-0000-4000-8000-000000000000"
TOKENS = {
    TOKEN: {"ack": False, "indexes": None},
    ACK_TOKEN: {"ack": True, "indexes": None},
    APP_TOKEN: {"ack": False, "indexes": ["main", "app"]},
    OFF_TOKEN: {"disabled": True},
}
EVENT = "/services/collector/event"
ACK = "/services/collector/ack"


@pytest.fixture
def make_receiver(tmp_path):
    started = []

    def make(faults: Faults | None = None) -> HecReceiver:
        receiver = HecReceiver(tokens=TOKENS, out_dir=tmp_path / f"hec{len(started)}", faults=faults).start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


@pytest.fixture
def receiver(make_receiver) -> HecReceiver:
    return make_receiver()


class Sleeps:
    """The client's sleep: records every delay it asked for and waits a token amount, so fault runs stay fast."""

    def __init__(self, on_sleep=None) -> None:
        self.delays: list[float] = []
        self.on_sleep = on_sleep

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.on_sleep:
            self.on_sleep(len(self.delays))
        time.sleep(min(seconds, 0.001))


def post(url: str, path: str, body: bytes = b"", headers: dict | None = None, method: str = "POST"):
    conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return response.status, json.loads(data) if data else None


def auth(token: str, channel: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Splunk {token}"}
    if channel:
        headers["X-Splunk-Request-Channel"] = channel
    return headers


def make_events(n: int, prefix: str = "e", pad: int = 0) -> list[dict]:
    return [
        {"event_id": f"{prefix}{i}", "time": 1_790_000_000.0 + i / 1000, "event": {"n": i, "pad": "x" * pad}}
        for i in range(n)
    ]


def received(receiver: HecReceiver) -> Counter:
    return Counter(event["fields"]["event_id"] for event in receiver.events())


def assert_exactly_once(receiver: HecReceiver, ids) -> None:
    counts = received(receiver)
    assert set(counts) == set(ids)
    assert [i for i, n in counts.items() if n != 1] == []


def client(receiver: HecReceiver, token: str = TOKEN, **options) -> HecClient:
    options.setdefault("sleep", Sleeps())
    options.setdefault("ack_poll_s", 0.01)
    return HecClient(receiver.url, token, **options)


# -- the receiver speaks HEC -----------------------------------------------------------------------------------


def test_health_needs_no_token(receiver):
    assert post(receiver.url, "/services/collector/health", method="GET") == (
        200,
        {"text": "HEC is healthy", "code": 17},
    )


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, 2),
        ({"Authorization": f"Bearer {TOKEN}"}, 401, 3),
        ({"Authorization": "Splunk "}, 401, 3),
        ({"Authorization": "Splunk not-a-known-token"}, 403, 4),
        ({"Authorization": f"Splunk {OFF_TOKEN}"}, 403, 1),
    ],
)
def test_auth_codes(receiver, headers, status, code):
    answer = post(receiver.url, EVENT, b'{"event":"x"}', headers)
    assert answer[0] == status
    assert answer[1]["code"] == code
    assert receiver.stats().events_written == 0


@pytest.mark.parametrize(
    ("body", "code", "number"),
    [
        (b"", 5, None),
        (b" \n\t ", 5, None),
        (b'{"event":"a"} not json', 6, 1),
        (b'[{"event":"a"}]', 6, 0),
        (b'{"event":"a"} 42', 6, 1),
        (b'{"event":"a"}{"time":1}', 12, 1),
        (b'{"event":"a"}{"event":""}', 13, 1),
        (b'{"event":"   "}', 13, 0),
        (b'{"event":null}', 13, 0),
        (b'{"event":"a"}{"event":"b","index":"secret"}', 7, 1),
        (b'{"event":"a","index":"Not An Index"}', 7, 0),
        (b'{"event":"a","fields":{"nested":{"no":1}}}', 15, 0),
        (b'{"event":"a","time":"soon"}', 6, 0),
        (b'{"event":"a","host":7}', 6, 0),
    ],
)
def test_invalid_data_is_rejected_whole_with_the_event_number(receiver, body, code, number):
    status, answer = post(receiver.url, EVENT, body, auth(APP_TOKEN))
    assert status == 400
    assert answer["code"] == code
    assert answer.get("invalid-event-number") == number
    assert receiver.events() == []


def test_a_broken_gzip_body_is_invalid_data(receiver):
    headers = {**auth(TOKEN), "Content-Encoding": "gzip"}
    assert post(receiver.url, EVENT, b"\x1f\x8b not gzip", headers)[1]["code"] == 6


def test_concatenated_objects_gzip_and_whitespace_land_as_received(receiver):
    objects = [
        {"time": 1.5, "host": "h", "source": "s", "sourcetype": "st", "index": "app", "event": {"a": 1}},
        {"event": "plain text", "fields": {"event_id": "x", "tags": ["a", 1]}},
        {"event": {"b": [1, 2]}, "index": "main"},
    ]
    texts = [json.dumps(o) for o in objects]
    body = gzip.compress(f"{texts[0]}\n  {texts[1]}{texts[2]}\r\n".encode())
    status, answer = post(receiver.url, "/services/collector", body, {**auth(APP_TOKEN), "Content-Encoding": "gzip"})
    assert (status, answer) == (200, {"text": "Success", "code": 0})
    lines = {p.name: [json.loads(line) for line in p.read_text().splitlines()] for p in receiver.out_dir.iterdir()}
    assert lines == {"app.ndjson": [objects[0]], "main.ndjson": [objects[1], objects[2]]}


def test_raw_endpoint_writes_one_event_per_line(receiver):
    status, _ = post(receiver.url, "/services/collector/raw?sourcetype=log&index=app", b"one\n\ntwo\n", auth(APP_TOKEN))
    assert status == 200
    assert [(e["event"], e["sourcetype"], e["index"]) for e in receiver.events()] == [
        ("one", "log", "app"),
        ("two", "log", "app"),
    ]
    assert post(receiver.url, "/services/collector/raw", b"\n", auth(TOKEN))[1]["code"] == 5


def test_an_ack_token_needs_a_guid_channel(receiver):
    assert post(receiver.url, EVENT, b'{"event":1}', auth(ACK_TOKEN))[1]["code"] == 10
    assert post(receiver.url, EVENT, b'{"event":1}', auth(ACK_TOKEN, "not-a-guid"))[1]["code"] == 11
    assert post(receiver.url, ACK, b'{"acks":[0]}', auth(ACK_TOKEN))[1]["code"] == 10
    assert post(receiver.url, ACK, b'{"acks":[0]}', auth(TOKEN, str(uuid.uuid4()))) == (
        400,
        {"text": "ACK is disabled", "code": 14},
    )
    assert post(receiver.url, ACK, b'{"acks":"0"}', auth(ACK_TOKEN, str(uuid.uuid4())))[1]["code"] == 6
    assert receiver.events() == []


def test_ack_ids_count_per_channel_and_are_forgotten_once_reported(receiver):
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    ids = [
        post(receiver.url, EVENT, b'{"event":1}', auth(ACK_TOKEN, channel))[1]["ackId"] for channel in (one, one, two)
    ]
    assert ids == [0, 1, 0]
    assert post(receiver.url, ACK, b'{"acks":[0,1,7]}', auth(ACK_TOKEN, one)) == (
        200,
        {"acks": {"0": True, "1": True, "7": False}},
    )
    assert post(receiver.url, ACK, b'{"acks":[0]}', auth(ACK_TOKEN, one))[1] == {"acks": {"0": False}}
    assert post(receiver.url, ACK, b'{"acks":[0]}', auth(ACK_TOKEN, two))[1] == {"acks": {"0": True}}


def test_delayed_acks_hold_delivery_until_they_turn_true(make_receiver):
    receiver = make_receiver(Faults(ack_delay_s=0.3))
    channel = str(uuid.uuid4())
    post(receiver.url, EVENT, b'{"event":1,"fields":{"event_id":"probe"}}', auth(ACK_TOKEN, channel))
    assert post(receiver.url, ACK, b'{"acks":[0]}', auth(ACK_TOKEN, channel))[1] == {"acks": {"0": False}}

    started = time.monotonic()
    sender = client(receiver, ACK_TOKEN, use_ack=True, max_batch_events=50, ack_poll_s=0.05, sleep=time.sleep)
    report = sender.send(make_events(200))
    assert time.monotonic() - started >= 0.3
    assert report.delivered == 200
    assert report.ack_ids == [0, 1, 2, 3]
    assert report.ack_polls >= 2
    assert_exactly_once(receiver, ["probe"] + [f"e{i}" for i in range(200)])


# -- the client ------------------------------------------------------------------------------------------------


def test_batches_respect_the_count_and_byte_bounds(receiver):
    events = make_events(1000, pad=150)
    report = client(receiver, max_batch_events=64, max_batch_bytes=5_000).send(events)
    stats = receiver.stats()
    one_event = len(json.dumps({"time": 1.0, "event": events[0]["event"], "fields": {"event_id": "e999"}}))
    assert report.delivered == 1000
    assert len(stats.batch_events) == report.batches == report.attempts
    assert sum(stats.batch_events) == 1000
    assert max(stats.batch_bytes) <= 5_000
    assert max(stats.batch_bytes) > 5_000 - one_event  # the byte bound is what cut these batches
    assert max(stats.batch_events) < 64
    assert all(wire < raw for wire, raw in zip(stats.batch_wire_bytes, stats.batch_bytes, strict=True))  # gzip

    second = make_events(1000, prefix="f")
    client(receiver, max_batch_events=64, max_batch_bytes=900_000, gzip=False).send(second)
    stats = receiver.stats()
    assert stats.batch_events[-16:] == [64] * 15 + [40]  # now the count bound cuts
    assert stats.batch_wire_bytes[-16:] == stats.batch_bytes[-16:]  # plain JSON on the wire
    assert_exactly_once(receiver, [e["event_id"] for e in events + second])


def test_an_event_over_the_byte_bound_is_dead_lettered_before_sending(receiver):
    events = make_events(5)
    events[2]["event"]["pad"] = "y" * 2_000
    report = client(receiver, max_batch_bytes=1_000).send(events)
    assert [(d.event_id, d.code) for d in report.dead_letter] == [("e2", None)]
    assert "over max_batch_bytes=1,000" in report.dead_letter[0].text
    assert_exactly_once(receiver, ["e0", "e1", "e3", "e4"])


def test_invalid_events_are_dead_lettered_and_the_rest_land(receiver):
    events = make_events(300)
    events[7]["event"] = ""
    del events[50]["event"]
    events[51]["index"] = "secret"
    events[199]["fields"] = {"deep": {"x": 1}}
    events[299]["event"] = None
    report = client(receiver, APP_TOKEN, max_batch_events=100).send(events)

    assert sorted((d.event_id, d.code) for d in report.dead_letter) == [
        ("e199", 15),
        ("e299", 13),
        ("e50", 12),
        ("e51", 7),
        ("e7", 13),
    ]
    good = [e["event_id"] for e in events if e["event_id"] not in {"e7", "e50", "e51", "e199", "e299"}]
    assert sorted(report.delivered_ids) == sorted(good)
    assert_exactly_once(receiver, good)
    assert report.retries == Counter()  # invalid data is split, never retried as is


def test_bursts_of_503_honour_retry_after_and_deliver_once(make_receiver):
    faults = Faults(busy_rate=1.0, retry_after_s=2)
    receiver = make_receiver(faults)
    sleeps = Sleeps(on_sleep=lambda n: n == 3 and faults.update(busy_rate=0.0))  # a burst of three 503s, then calm
    report = client(receiver, max_batch_events=100, sleep=sleeps).send(make_events(500))

    assert receiver.stats().by_status[503] == 3
    assert report.retries == Counter({"busy": 3})
    assert sleeps.delays[:3] == [pytest.approx(2.0)] * 3  # Retry-After, not the 0.2 s jittered backoff
    assert_exactly_once(receiver, [f"e{i}" for i in range(500)])


def test_bursts_of_500_back_off_exponentially_and_deliver_once(make_receiver):
    faults = Faults(error_rate=1.0)
    receiver = make_receiver(faults)
    sleeps = Sleeps(on_sleep=lambda n: n == 5 and faults.update(error_rate=0.0))
    report = client(receiver, max_batch_events=100, backoff_base_s=0.2, sleep=sleeps).send(make_events(500))

    assert receiver.stats().by_status[500] == 5
    assert report.retries == Counter({"server_error": 5})
    ceilings = [0.2, 0.4, 0.8, 1.6, 3.2]
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(sleeps.delays, ceilings, strict=True))
    assert_exactly_once(receiver, [f"e{i}" for i in range(500)])


@pytest.mark.parametrize("use_ack", [False, True], ids=["no-ack", "ack"])
@pytest.mark.parametrize(
    "faults",
    [
        {"busy_rate": 0.3},
        {"error_rate": 0.3},
        {"latency_s": 0.01},
        {"drop_connection_rate": 0.3, "drop_when": "before"},
        {"busy_rate": 0.15, "error_rate": 0.15, "drop_connection_rate": 0.15, "latency_s": 0.002},
    ],
    ids=["busy", "error", "latency", "reset-before-persist", "mixed"],
)
def test_faults_still_deliver_every_event_exactly_once(make_receiver, faults, use_ack):
    receiver = make_receiver(Faults(seed=11, **faults))
    token = ACK_TOKEN if use_ack else TOKEN
    report = client(receiver, token, use_ack=use_ack, max_batch_events=50, max_retries=12).send(make_events(2_000))

    assert report.delivered == 2_000
    assert report.dead_letter == []
    assert report.duplicates_sent == 0
    if "latency_s" not in faults or len(faults) > 1:
        assert sum(report.retries.values()) + sum(report.ack_query_retries.values()) > 0
    assert_exactly_once(receiver, [f"e{i}" for i in range(2_000)])


def test_resets_after_persist_without_ack_duplicate_and_are_counted(make_receiver):
    """Without acknowledgement the client cannot tell a lost answer from a lost batch: it resends, and counts."""
    receiver = make_receiver(Faults(seed=5, drop_connection_rate=0.2, drop_when="after"))
    report = client(receiver, max_batch_events=50).send(make_events(2_000))

    counts = received(receiver)
    duplicates = sum(n - 1 for n in counts.values())
    stats = receiver.stats()
    assert set(counts) == {f"e{i}" for i in range(2_000)}
    assert stats.dropped_after > 0
    assert duplicates == stats.dropped_after_events == report.possible_duplicates
    assert report.duplicates_sent == 0


def test_resets_after_persist_with_ack_are_resolved_by_the_ack_sequence(make_receiver):
    """With acknowledgement the next ackId proves the unanswered batch landed: only a lost *last* answer duplicates."""
    receiver = make_receiver(
        Faults(seed=5, drop_connection_rate=0.2, drop_when="after", endpoints=frozenset({"event"}))
    )
    sender = client(receiver, ACK_TOKEN, use_ack=True, max_batch_events=50)
    first_channel = sender.channel
    report = sender.send(make_events(2_000))

    counts = received(receiver)
    duplicates = sum(n - 1 for n in counts.values())
    stats = receiver.stats()
    assert set(counts) == {f"e{i}" for i in range(2_000)}
    assert stats.dropped_after >= 5
    assert duplicates == report.duplicates_sent  # every duplicate is known, by event count
    assert report.possible_duplicates == 0
    assert duplicates < stats.dropped_after_events
    assert duplicates <= 50 * 2  # at most the tail batches can go twice
    assert report.attempts == report.batches + duplicates // 50
    assert sender.channel != first_channel  # after each inference the client moved to a fresh channel


def test_a_caller_chosen_channel_is_not_inferred_from_and_resends_are_counted(make_receiver):
    """A channel the caller passed may have history, so its ackIds prove nothing: unanswered batches go again."""
    receiver = make_receiver(
        Faults(seed=5, drop_connection_rate=0.2, drop_when="after", endpoints=frozenset({"event"}))
    )
    channel = str(uuid.uuid4())
    sender = client(receiver, ACK_TOKEN, use_ack=True, max_batch_events=50, channel=channel)
    report = sender.send(make_events(1_000))

    duplicates = sum(n - 1 for n in received(receiver).values())
    assert report.delivered == 1_000
    assert duplicates == receiver.stats().dropped_after_events == report.possible_duplicates > 0
    assert sender.channel == channel


def test_lost_answers_to_ack_queries_can_duplicate_and_are_bounded_by_the_report(make_receiver):
    """Splunk forgets an ackId once it reported it true; if that answer is lost the batch times out and goes again."""
    faults = Faults(seed=2, drop_connection_rate=0.3, drop_when="after", endpoints=frozenset({"ack"}))
    receiver = make_receiver(faults)
    sender = client(
        receiver,
        ACK_TOKEN,
        use_ack=True,
        max_batch_events=100,
        ack_timeout_s=0.2,
        ack_poll_s=0.0,
        backoff_base_s=0.001,
        sleep=time.sleep,
    )
    report = sender.send(make_events(1_000))

    counts = received(receiver)
    duplicates = sum(n - 1 for n in counts.values())
    assert set(counts) == {f"e{i}" for i in range(1_000)}
    assert report.delivered == 1_000
    assert report.retries["ack_timeout"] > 0
    assert 0 < duplicates <= report.duplicates_sent + report.possible_duplicates


@pytest.mark.parametrize("use_ack", [False, True], ids=["no-ack", "ack"])
def test_timeouts_are_resent_and_counted_as_possible_duplicates(make_receiver, use_ack):
    """A request that timed out may still land after the resend: the report must own up to every such copy."""
    faults = Faults(latency_s=0.3)
    receiver = make_receiver(faults)
    sleeps = Sleeps(on_sleep=lambda n: n == 2 and faults.update(latency_s=0.0))  # two timeouts, then fast again
    sender = client(receiver, ACK_TOKEN if use_ack else TOKEN, use_ack=use_ack, timeout_s=0.1, sleep=sleeps)
    report = sender.send(make_events(100))
    deadline = time.monotonic() + 5
    while receiver.stats().events_written < 300 and time.monotonic() < deadline:
        time.sleep(0.02)  # the two timed-out requests are still being served

    duplicates = sum(n - 1 for n in received(receiver).values())
    assert report.delivered == 100
    assert report.retries["timeout"] == 2
    assert duplicates == 200
    assert report.duplicates_sent + report.possible_duplicates == 200


def test_a_revoked_token_raises_auth_error_without_leaking_it(make_receiver, caplog):
    caplog.set_level(logging.DEBUG)
    receiver = make_receiver(Faults(revoke_token_after=2))
    sender = client(receiver, max_batch_events=10)
    with pytest.raises(HecAuthError) as raised:
        sender.send(make_events(50))

    error = raised.value
    assert (error.status, error.code) == (403, 1)
    assert REDACTED in str(error)
    assert error.report.delivered == 20
    assert error.report.attempts == 3  # no retry after a 403
    with_locals = traceback.TracebackException.from_exception(error, capture_locals=True)
    shown = [str(error), repr(error), "".join(with_locals.format()), caplog.text, repr(sender)]
    shown += [repr(receiver), error.report.summary()]
    assert [text for text in shown if TOKEN in text] == []


def test_an_unknown_token_fails_at_once(receiver):
    with pytest.raises(HecAuthError) as raised:
        client(receiver, "wrong-token").send(make_events(10))
    assert (raised.value.status, raised.value.code) == (403, 4)
    assert "wrong-token" not in str(raised.value)
    assert sum(receiver.stats().by_status.values()) == 1


@pytest.mark.parametrize("token", ["", "two words", "line\nbreak", "caf\u00e9"])
def test_a_token_no_header_can_carry_is_refused_without_echoing_it(token):
    with pytest.raises(ValueError) as raised:
        HecClient("http://127.0.0.1:1", token)
    assert REDACTED in str(raised.value)
    assert not token or token not in str(raised.value)


def test_use_ack_with_a_token_without_ack_is_a_protocol_error(receiver):
    with pytest.raises(HecProtocolError, match="acknowledgement off"):
        client(receiver, TOKEN, use_ack=True).send(make_events(3))


def test_retries_run_out_with_the_partial_report(make_receiver):
    receiver = make_receiver(Faults(busy_rate=1.0))
    with pytest.raises(HecUnavailableError) as raised:
        client(receiver, max_retries=2).send(make_events(3))
    assert raised.value.report.attempts == 3
    assert raised.value.report.delivered == 0
    assert raised.value.report.retries == Counter({"busy": 3})


def test_serve_reads_the_token_from_the_environment_and_never_prints_it(tmp_path):
    env = {**os.environ, "EVENTPIPE_HEC_TOKEN": TOKEN, "EVENTPIPE_HOME": str(tmp_path)}
    code = "import sys; from eventpipe.devtools.receivers.hec_cli import serve; sys.exit(serve(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--out-dir", str(tmp_path / "out")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stdout.readline()
        url = banner.split(" on ")[1].split(" ")[0]
        report = HecClient(url, TOKEN).send(make_events(3))
        assert report.delivered == 3
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert REDACTED in banner
    assert TOKEN not in banner + out + err
    assert len((tmp_path / "out" / "main.ndjson").read_text().splitlines()) == 3
