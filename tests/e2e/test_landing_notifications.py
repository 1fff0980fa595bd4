"""Event-driven loads under a real scheduler and triggerer (``airflow standalone``): the landing zone is a bucket on
moto's server whose ``s3:ObjectCreated:*`` notifications go to an SQS queue, ``EVENTPIPE_LANDING_QUEUE`` names the
queue and the sweep is set to once a year, so only a notification can wake ``load_events``. A file put into the
bucket reaches raw through an asset-triggered run (the watcher's trigger in the triggerer, its asset event, the
scheduler's run); the same notification sent again wakes another run that loads nothing."""

from __future__ import annotations

import gzip
import json
import time
import uuid

import boto3
import duckdb
import pytest

from eventpipe.utc import hour_floor, utc_now
from tests.e2e.support import Standalone, free_port, moto_server_url, wait_for
from tests.ingest.test_validate import event, line

pytestmark = pytest.mark.slow


def raw_ids(home) -> set[str] | None:
    try:
        with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
            return {row[0] for row in con.execute("select event_id from raw.audit_event").fetchall()}
    except duckdb.Error:  # being written (one writer process), or no tables yet
        return None


@pytest.fixture
def moto_server():
    with moto_server_url() as url:
        yield url


def test_a_notification_wakes_load_events_through_the_triggerer(tmp_path, monkeypatch, moto_server):
    home = tmp_path / "home"
    name = f"landing-{uuid.uuid4().hex[:12]}"
    options = {"endpoint_url": moto_server, "region_name": "us-east-1"}
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto_server}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    s3, sqs = boto3.client("s3", **options), boto3.client("sqs", **options)
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket=name)
    rules = [{"Name": "prefix", "Value": "landing/"}]
    config = {"QueueArn": arn, "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": rules}}}
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={"QueueConfigurations": [config]})

    monkeypatch.setenv("EVENTPIPE_HOME", str(home))
    monkeypatch.setenv("EVENTPIPE_LANDING", f"s3://{name}/landing")
    monkeypatch.setenv("EVENTPIPE_LANDING_QUEUE", queue)
    monkeypatch.setenv("EVENTPIPE_LOAD_SWEEP_SCHEDULE", "0 0 1 1 *")  # once a year: only a notification wakes it
    connection = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": options}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "True")  # only what the test unpauses runs
    monkeypatch.setenv("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", str(free_port()))
    monkeypatch.setenv("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", str(free_port()))

    hour = hour_floor(utc_now())
    ids = {f"notified-{i}" for i in range(20)}
    body = gzip.compress(
        b"\n".join(line(event(eventId=i, eventTime=f"{hour:%Y-%m-%dT%H}:05:00Z")) for i in sorted(ids))
    )

    key = f"landing/dt={hour:%Y-%m-%d}/hour={hour:%H}/a.json.gz"

    with Standalone(tmp_path / "standalone.log", dag_id="load_events") as airflow:
        dag = airflow.api("/dags/load_events")
        assert "Asset" in (dag.get("timetable_summary") or ""), dag.get("timetable_summary")
        airflow.api("/dags/load_events", {"is_paused": False}, method="PATCH")

        def finished() -> list[dict] | None:
            found = airflow.api("/dags/load_events/dagRuns?limit=100")["dag_runs"]
            return found if found and all(run["state"] in ("success", "failed") for run in found) else None

        def new_runs(before: list[dict]) -> list[dict] | None:
            seen = {run["dag_run_id"] for run in before}
            return [run for run in finished() or [] if run["dag_run_id"] not in seen] or None

        # Unpaused: the sweep's latest cron time (a scheduled run) and S3's test event, queued when the configuration
        # was saved (an asset-triggered run): both find nothing to load.
        woken = lambda: (runs := finished()) and any(r["run_type"] == "asset_triggered" for r in runs) and runs  # noqa: E731
        before = wait_for(woken, 300, "the test event's run")
        assert {run["state"] for run in before} == {"success"}
        assert not raw_ids(home)

        landed = time.monotonic()
        s3.put_object(Bucket=name, Key=key, Body=body)
        wait_for(lambda: ids <= (raw_ids(home) or set()), 300, "the notified file in raw")
        to_raw = time.monotonic() - landed
        loaded = wait_for(lambda: new_runs(before), 120, "the notified run to finish")
        assert [(run["run_type"], run["state"]) for run in loaded] == [("asset_triggered", "success")]
        # the run's log names what the notification named (its asset event's payload); the load listed anyway
        assert f"naming 1 object(s): s3://{name}/{key}" in airflow.log(loaded[0]["dag_run_id"], "load", 1)

        # The same notification again (at least once): another asset-triggered run, nothing loaded twice.
        record = {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": name}, "object": {"key": key}}}
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"Records": [record]}))
        again = wait_for(lambda: new_runs(before + loaded), 300, "the repeated notification's run")
        assert [(run["run_type"], run["state"]) for run in again] == [("asset_triggered", "success")]
        load = airflow.xcom(again[0]["dag_run_id"], "load", "return_value")
        assert (load["files_loaded"], load["commits"]) == (0, []), load
        assert raw_ids(home) == ids

    print(f"notification -> raw: {to_raw:.1f} s")
