"""``load_events``' schedule from the environment, as the DAG processor parses and stores it: the poll's cron by
default; with ``EVENTPIPE_LANDING_QUEUE``, an asset with a watcher on the queue (the S3 notifications) or the sweep's
cron. Parsed with no connection and no warehouse, as in test_dag_integrity."""

from __future__ import annotations

import os

import pytest

from eventpipe.orchestrate import airflow_env, assets

QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/eventpipe-landing"


def parse_load_events(home, **environ):
    env = airflow_env.airflow_environ({"EVENTPIPE_HOME": str(home), "PATH": os.environ["PATH"], **environ})
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=os.path.join(env["AIRFLOW__CORE__DAGS_FOLDER"], "load_events.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert bag.import_errors == {}
    assert not (home / "warehouse.duckdb").exists(), "parsing the DAG opened the warehouse"
    return bag.dags["load_events"]


def stored_assets(dag) -> dict:
    """The assets, with their watchers, that the DAG processor writes for this DAG (and starts the triggers of)."""
    from airflow.dag_processing.collection import AssetModelOperation
    from airflow.serialization.serialized_objects import LazyDeserializedDAG

    operation = AssetModelOperation.collect({dag.dag_id: LazyDeserializedDAG.from_dag(dag)})
    return {uri: found for (_, uri), found in operation.assets.items()}


def test_without_a_queue_it_polls_on_the_cron_as_before(tmp_path):
    from airflow.timetables.trigger import CronTriggerTimetable

    dag = parse_load_events(tmp_path)
    assert type(dag.timetable) is CronTriggerTimetable
    assert dag.timetable.summary == "* * * * *"
    assert not any(found.watchers for found in stored_assets(dag).values())
    assert assets.landing_notifications_uri() not in stored_assets(dag)

    dag = parse_load_events(tmp_path, EVENTPIPE_LOAD_SCHEDULE="*/2 * * * *")
    assert dag.timetable.summary == "*/2 * * * *"


@pytest.mark.parametrize("sweep", [None, "*/10 * * * *"])
def test_with_a_queue_notifications_or_the_sweep_wake_it(tmp_path, sweep):
    from airflow.sdk import AssetOrTimeSchedule

    extra = {"EVENTPIPE_LANDING_QUEUE": QUEUE, "EVENTPIPE_LANDING_QUEUE_CONN_ID": "landing_sqs"}
    dag = parse_load_events(tmp_path, **extra, **({"EVENTPIPE_LOAD_SWEEP_SCHEDULE": sweep} if sweep else {}))

    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert dag.timetable.timetable.summary == (sweep or "*/5 * * * *")
    (watched,) = dag.timetable.asset_condition.objects
    assert watched.uri == assets.landing_notifications_uri()

    # As stored: the watcher's trigger is the amazon provider's SQS trigger on the queue, with the Connection; the
    # landing zone's own asset (the load's inlet) has none, and keeps no other asset from carrying the watcher.
    stored = stored_assets(dag)
    (watcher,) = stored[assets.landing_notifications_uri()].watchers
    assert watcher.name == "landing_notifications"
    assert watcher.trigger["classpath"] == "airflow.providers.amazon.aws.triggers.sqs.SqsSensorTrigger"
    kwargs = watcher.trigger["kwargs"]
    assert (kwargs["sqs_queue"], kwargs["aws_conn_id"]) == (QUEUE, "landing_sqs")
    assert kwargs["delete_message_on_reception"] is True and kwargs["message_filtering"] is None
    assert stored[assets.landing_uri()].watchers == []
    assert [uri for uri, found in stored.items() if found.watchers] == [assets.landing_notifications_uri()]
    # the load still lists the landing zone: its inlet is unchanged
    assert [inlet.uri for inlet in dag.get_task("load").inlets] == [assets.landing_uri()]
