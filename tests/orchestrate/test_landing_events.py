"""Event-driven loads on real parts: moto's server holds the landing bucket, whose notification configuration sends
``s3:ObjectCreated:*`` to an SQS queue; the watcher's trigger (``MessageQueueTrigger``, ``sqs`` scheme, rebuilt from
its serialized form as the triggerer does) reads the queue through an Airflow Connection (``AIRFLOW_CONN_*``, the
moto endpoint in its extra), driven with asyncio; the load is ``load_events``' task body on a DuckDB warehouse.

A notification only wakes a load: S3's test event, a repeated notification and one naming no landed file load
nothing; a lost one's file loads at the next timer run."""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from datetime import datetime, timedelta

import duckdb
import pytest

from eventpipe import settings
from eventpipe.ingest import reconcile
from eventpipe.orchestrate import continuous, landing_events
from eventpipe.warehouse import open_warehouse
from tests.e2e.support import moto_server_url
from tests.ingest.test_validate import event, line

CONN_ID = "eventpipe_landing_queue"
HOUR = datetime(2026, 11, 27, 8)
CATCH_UP = {"start": HOUR.isoformat(), "end": (HOUR + timedelta(hours=1)).isoformat()}


@pytest.fixture(scope="module")
def moto_server():
    with moto_server_url() as url:
        yield url


class Landing:
    """A bucket whose ``landing/`` prefix notifies a queue, and the clients to write to both."""

    def __init__(self, endpoint: str, name: str):
        import boto3

        options = {"endpoint_url": endpoint, "region_name": "us-east-1"}
        self.s3, self.sqs = boto3.client("s3", **options), boto3.client("sqs", **options)
        self.bucket, self.url = name, f"s3://{name}/landing"
        self.queue = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.s3.create_bucket(Bucket=name)
        rules = [{"Name": "prefix", "Value": "landing/"}]
        config = {"QueueArn": arn, "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": rules}}}
        self.s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"QueueConfigurations": [config]}
        )

    def land(self, name: str, count: int = 5) -> str:
        lines = [line(event(eventId=f"{name}-{i}", eventTime=f"{HOUR:%Y-%m-%dT%H}:05:00Z")) for i in range(count)]
        key = f"landing/dt={HOUR:%Y-%m-%d}/hour={HOUR:%H}/{name}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=gzip.compress(b"\n".join(lines) + b"\n"))
        return f"s3://{self.bucket}/{key}"

    def waiting(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return sum(int(value) for value in attributes.values())


@pytest.fixture
def landing(moto_server, eventpipe_home, monkeypatch):
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    # boto3 (the landing zone's listing and reads, eventpipe.storage) and the test's clients: the moto endpoint
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # the trigger: an Airflow Connection, as in production (the endpoint in its extra)
    extra = {"endpoint_url": moto_server, "region_name": "us-east-1"}
    connection = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(connection))
    name = f"landing-{uuid.uuid4().hex[:12]}"
    found = Landing(moto_server, name)
    monkeypatch.setenv("EVENTPIPE_LANDING", found.url)
    return found


def watcher_trigger(queue: str):
    """The trigger the triggerer runs for the watcher: the DAG's, serialized and rebuilt from its classpath. Short
    polls here: a long poll cut off by the test's wait would stay on the server and take the next message."""
    from airflow.sdk._shared.module_loading import import_string

    classpath, kwargs = landing_events.notifications_trigger(queue, CONN_ID, wait_time_seconds=0).serialize()
    return import_string(classpath)(**kwargs)


def next_event(queue: str, within: float = 60.0):
    """The trigger's first event, or None when it yields none ``within`` seconds (the queue held nothing)."""

    async def first():
        async for fired in watcher_trigger(queue).run():
            return fired

    async def bounded():
        try:
            return await asyncio.wait_for(first(), within)
        except TimeoutError:
            return None

    return asyncio.run(bounded())


def woken_for(fired) -> list[str]:
    assert fired is not None, "the trigger yielded no event"
    assert fired.payload["status"] == "success"
    return landing_events.notified_objects(fired.payload["message_batch"])


def load_run(run_id: str) -> dict:
    """``load_events``' load task, for the landing hour of the test (a catch-up range: the files' hour is fixed)."""
    return continuous.load(dict(CATCH_UP), run_id=run_id, dag_id="load_events", attempt=1)


def raw_ids() -> list[str]:
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
        return sorted(row[0] for row in con.execute("select event_id from raw.audit_event").fetchall())


def test_a_landed_file_is_notified_on_the_queue_and_the_watchers_trigger_fires_for_it(landing):
    # Saving the configuration queued S3's test event: the trigger fires for it, and it names no object.
    first = next_event(landing.queue)
    assert woken_for(first) == []
    assert "s3:TestEvent" in first.payload["message_batch"][0]["Body"]
    assert landing.waiting() == 0, "the trigger deletes what it received"

    assert next_event(landing.queue, within=5) is None, "an empty queue fires nothing"

    landed = landing.land("a b.json.gz")  # a space: keys come URL-encoded in notifications
    assert woken_for(next_event(landing.queue)) == [landed]
    assert landing.waiting() == 0

    landing.s3.put_object(Bucket=landing.bucket, Key="elsewhere/x.json.gz", Body=b"")  # outside the prefix
    assert next_event(landing.queue, within=5) is None


def test_notifications_wake_the_load_and_the_ledger_decides_what_loads(landing):
    # The test event wakes a run that finds nothing: it commits nothing, so it wakes nothing downstream.
    assert woken_for(next_event(landing.queue)) == []
    idle = load_run("woken-by-test-event")
    assert (idle["files_loaded"], idle["commits"]) == (0, [])

    first = landing.land("a.json.gz")
    fired = next_event(landing.queue)
    assert woken_for(fired) == [first]
    loaded = load_run("woken-by-a")
    assert loaded["files_loaded"] == 1 and continuous.committed(loaded)
    assert raw_ids() == [f"a.json.gz-{i}" for i in range(5)]

    # At least once: the same notification again (as SQS redelivers it) wakes a run that loads nothing.
    for message in fired.payload["message_batch"]:
        landing.sqs.send_message(QueueUrl=landing.queue, MessageBody=message["Body"])
    assert woken_for(next_event(landing.queue)) == [first]
    again = load_run("woken-by-a-again")
    assert (again["files_loaded"], again["commits"]) == (0, [])

    # A notification is not trusted: one naming an object that never landed wakes a run that loads nothing.
    ghost = json.loads(fired.payload["message_batch"][0]["Body"])
    never_landed = f"landing/dt={HOUR:%Y-%m-%d}/hour={HOUR:%H}/ghost.json.gz"
    ghost["Records"][0]["s3"]["object"]["key"] = never_landed
    landing.sqs.send_message(QueueUrl=landing.queue, MessageBody=json.dumps(ghost))
    assert woken_for(next_event(landing.queue)) == [f"s3://{landing.bucket}/{never_landed}"]
    assert load_run("woken-by-ghost")["files_loaded"] == 0

    # Lost: a file's notification never reaches the trigger; nothing wakes the load, the next timer run loads it.
    landing.land("b.json.gz")
    landing.sqs.purge_queue(QueueUrl=landing.queue)
    assert next_event(landing.queue, within=5) is None
    swept = load_run("scheduled__sweep")
    assert swept["files_loaded"] == 1 and continuous.committed(swept)

    # Two files, one notification each: whichever wakes first loads both, the other finds them loaded.
    both = [landing.land("c.json.gz"), landing.land("d.json.gz")]
    assert sorted(woken_for(next_event(landing.queue))) == sorted(both)
    assert load_run("woken-by-c-d")["files_loaded"] == 2
    assert load_run("woken-by-c-d-again")["files_loaded"] == 0

    # every event once, and the hour balances (lines landed = loaded + duplicates + quarantined)
    assert raw_ids() == sorted(f"{name}.json.gz-{i}" for name in "abcd" for i in range(5))
    with open_warehouse() as target:
        assert reconcile.reconcile_interval(target, landing.url, HOUR).balanced


def test_what_a_wake_names_is_read_from_s3_records_only():
    from types import SimpleNamespace

    from eventpipe.orchestrate import assets

    def record(name: str, key: str) -> dict:
        return {"eventName": name, "s3": {"bucket": {"name": "b"}, "object": {"key": key}}}

    messages = [
        {"Body": json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})},
        {"Body": "not json"},
        {"Body": json.dumps({"Records": [record("ObjectRemoved:Delete", "landing/gone.json.gz")]})},
        {"Body": json.dumps({"Records": [record("ObjectCreated:Put", "landing/dt%3D2026-11-27/hour%3D08/a+b.json.gz"),
                                         record("ObjectCreated:CompleteMultipartUpload", "landing/c.json.gz")]})},
    ]  # fmt: skip
    named = ["s3://b/landing/dt=2026-11-27/hour=08/a b.json.gz", "s3://b/landing/c.json.gz"]
    assert landing_events.notified_objects(messages) == named

    # a run's triggering asset events: only the notifications asset's are read
    payload = {"status": "success", "message_batch": messages}
    notified = SimpleNamespace(extra={"from_trigger": True, "payload": payload})
    events = {
        assets.asset(assets.landing_notifications_uri()): [notified],
        assets.asset(assets.landing_uri()): [SimpleNamespace(extra={"payload": payload})],
    }
    assert landing_events.woken_by(events) == named
    assert landing_events.woken_by({}) == [] and landing_events.woken_by(None) == []
