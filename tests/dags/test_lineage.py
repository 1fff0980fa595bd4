"""Lineage as the DAGs declare it: every Asset is an ``eventpipe://`` URI that names a dataset, never a machine
path or an engine; DuckDB and Snowflake targets give the same Assets; every dataset from the landing zone to the
deliveries and the share has a task that writes it, and what a task reads is written by another (or is the
landing zone). The DAGs are parsed in a child process per target (a target is fixed when Cosmos' config imports).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from eventpipe import settings
from eventpipe.orchestrate import airflow_env, assets, lineage
from tests.warehouse_compare import MARTS

PARSE = r"""
import json, os
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
assert not bag.import_errors, bag.import_errors
out = {}
for dag_id, dag in bag.dags.items():
    for task in dag.tasks:
        out[f"{dag_id}.{task.task_id}"] = {
            "inlets": [a.uri for a in task.inlets],
            "outlets": [a.uri for a in task.outlets],
            "names": [a.name for a in [*task.inlets, *task.outlets]],
            "model": getattr(task, "model_unique_id", None),
            "test": bool(getattr(task, "is_test_sensor", False)),
        }
print("LINEAGE " + json.dumps(out))
"""

URI = re.compile(r"^eventpipe://(landing|warehouse|deliveries)/[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?$")


def parse(tmp_path_factory, target: str) -> dict:
    home = tmp_path_factory.mktemp(f"lineage_{target}")
    env = airflow_env.airflow_environ(
        {"EVENTPIPE_HOME": str(home), "PATH": os.environ["PATH"], "EVENTPIPE_DBT_TARGET": target}
    )
    done = subprocess.run(
        [sys.executable, "-c", PARSE], env=env, capture_output=True, text=True, timeout=300, cwd=str(home)
    )
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("LINEAGE "))
    return json.loads(line.removeprefix("LINEAGE "))


@pytest.fixture(scope="module")
def declared(tmp_path_factory):
    return {target: parse(tmp_path_factory, target) for target in ("duckdb", "snowflake")}


def all_uris(tasks: dict) -> set[str]:
    return {uri for task in tasks.values() for uri in task["inlets"] + task["outlets"]}


def test_duckdb_and_snowflake_targets_declare_the_same_assets(declared):
    duckdb, snowflake = declared["duckdb"], declared["snowflake"]
    assert {k: (v["inlets"], v["outlets"]) for k, v in duckdb.items()} == {
        k: (v["inlets"], v["outlets"]) for k, v in snowflake.items()
    }
    assert len(all_uris(duckdb)) >= 20


def test_no_asset_names_a_machine_path_or_an_engine(declared, tmp_path_factory):
    machine = [str(settings.REPO_ROOT), str(tmp_path_factory.getbasetemp()), os.path.expanduser("~")]
    for target, tasks in declared.items():
        for task_id, task in tasks.items():
            for text in task["inlets"] + task["outlets"] + task["names"]:
                assert not any(path in text for path in machine), f"{target} {task_id}: {text} names this machine"
                assert "duckdb" not in text.lower() and "snowflake" not in text.lower(), f"{task_id}: {text}"
            for uri in task["inlets"] + task["outlets"]:
                assert URI.match(uri), f"{target} {task_id}: {uri} is not eventpipe://<namespace>/<dataset>"


def test_each_model_is_written_by_its_own_task_and_every_input_is_written_upstream(declared):
    tasks = declared["duckdb"]
    writers: dict[str, list[str]] = {}
    for task_id, task in tasks.items():
        for uri in task["outlets"]:
            writers.setdefault(uri, []).append(task_id)
    pipeline = {k: v for k, v in tasks.items() if k.startswith("event_pipeline.")}
    models = {v["model"] for v in pipeline.values() if v["model"] and not v["test"] and v["outlets"]}
    # the seven marts of design.md and the three staging views, each written by its model's task only
    expected_marts = set(MARTS)
    for mart in expected_marts:
        # (and by the continuous transform DAG's: the same model, the same group)
        assert sorted(writers[assets.table_uri(f"marts.{mart}")]) == [
            f"event_pipeline.dbt_marts.{mart}.run",
            f"transform.dbt_marts.{mart}.run",
        ]
    assert len(models) == len(expected_marts) + 3
    # test tasks and the producer declare nothing (the model's task reports the model)
    for task_id, task in pipeline.items():
        if task["test"] or task_id.endswith("dbt_producer_watcher"):
            assert task["inlets"] == task["outlets"] == [], task_id
    # what any task reads is written by an event_pipeline task, except the landing zone (the platform writes it)
    for task_id, task in tasks.items():
        for uri in task["inlets"]:
            if uri == assets.landing_uri():
                continue
            assert any(w.startswith("event_pipeline.") for w in writers.get(uri, [])), f"{task_id} reads {uri}"
    # the raw tables: written by load_raw_events, which reads the landing zone (and announced by the continuous
    # load_events once it committed)
    for table in assets.RAW_TABLES:
        assert sorted(writers[assets.table_uri(table)]) == ["event_pipeline.load_raw_events", "load_events.announce"]
    assert tasks["event_pipeline.load_raw_events"]["inlets"] == [assets.landing_uri()]
    # deliveries: every destination type, from the raw rows deliver reads; the share from the marts
    for kind in assets.DESTINATION_TYPES:
        assert {"event_pipeline.deliver", "deliver_events.deliver"} <= set(writers[assets.destination_uri(kind)])
    share = tasks["share_sync.apply"]
    assert share["outlets"] and all(uri.startswith(f"{assets.WAREHOUSE}/share.") for uri in share["outlets"])
    assert share["inlets"] and all(uri.startswith(f"{assets.WAREHOUSE}/marts.") for uri in share["inlets"])


def test_landing_reaches_every_mart_delivery_and_share_view(declared):
    tasks = declared["duckdb"]
    edges: dict[str, set[str]] = {}
    for task in tasks.values():
        for uri in task["inlets"]:
            edges.setdefault(uri, set()).update(task["outlets"])
    reached, frontier = set(), [assets.landing_uri()]
    while frontier:
        for nxt in edges.get(frontier.pop(), ()):
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    written = {uri for task in tasks.values() for uri in task["outlets"]}
    assert written - reached == set(), "written but not reached from the landing zone"


def test_uri_check_and_openlineage_names():
    from airflow.sdk import Asset

    assert lineage.to_openlineage_dataset(Asset(assets.table_uri("marts.fct_sessions"))).name == "marts.fct_sessions"
    dataset = lineage.to_openlineage_dataset(Asset(assets.destination_uri("splunk_hec")))
    assert (dataset.namespace, dataset.name) == ("eventpipe://deliveries", "splunk_hec")
    for bad in (
        "eventpipe://elsewhere/raw.x",
        "eventpipe://warehouse/raw/x",
        "eventpipe://warehouse/",
        "eventpipe://warehouse/a?b=1",
    ):
        with pytest.raises(ValueError):
            lineage.sanitize_uri(urlsplit(bad))
    with pytest.raises(ValueError):
        assets.table_uri("/home/someone/warehouse.duckdb")
    with pytest.raises(ValueError):
        assets.destination_uri("ftp")


def test_openlineage_file_transport_locally_and_configured_transport_wins(tmp_path):
    base = {"EVENTPIPE_HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    env = airflow_env.airflow_environ(base)
    transport = json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert transport["type"] == "file" and transport["log_file_path"].startswith(str(tmp_path))
    assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "eventpipe"
    production = airflow_env.airflow_environ(base | {"OPENLINEAGE_URL": "http://127.0.0.1:5000"})
    assert "AIRFLOW__OPENLINEAGE__TRANSPORT" not in production
    assert production["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "eventpipe"


EMIT = r"""
from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter
from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
from openlineage.client.uuid import generate_new_uuid

client = OpenLineageAdapter().get_or_create_openlineage_client()
print("TRANSPORT", type(client.transport).__name__)
run = Run(runId=str(generate_new_uuid()))
job = Job(namespace="eventpipe", name="probe")
client.emit(RunEvent(eventType=RunState.START, eventTime="2026-11-27T07:00:00Z", run=run, job=job, producer="tests"))
"""


def test_production_sends_openlineage_events_over_http_to_openlineage_url(tmp_path):
    """As compose sets it (OPENLINEAGE_URL, OPENLINEAGE_API_KEY): the provider's client posts there, with the key."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers.get("Authorization"), json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = airflow_env.airflow_environ(
            {
                "EVENTPIPE_HOME": str(tmp_path),
                "PATH": os.environ["PATH"],
                "OPENLINEAGE_URL": f"http://127.0.0.1:{server.server_address[1]}",
                "OPENLINEAGE_API_KEY": "probe-key",
            }
        )
        done = subprocess.run([sys.executable, "-c", EMIT], env=env, capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "TRANSPORT HttpTransport" in done.stdout
    [(path, auth, event)] = received
    assert path == "/api/v1/lineage" and auth == "Bearer probe-key"
    assert event["job"] == {"namespace": "eventpipe", "name": "probe", "facets": {}}
    assert not (tmp_path / "lineage").exists() or not any((tmp_path / "lineage").iterdir())
