"""Lineage as OpenLineage saw it: ``eventpipe run`` for one hour (real Airflow DAG run on DuckDB: load, dbt,
reconcile, deliver to the local receivers), then ``share_sync`` applied by Airflow; the events the OpenLineage
provider wrote to the local file transport are read back.

THEN every task event of the hour names the one DAG run as parent (its OpenLineage run id and Airflow run id),
the datasets chain landing -> raw -> staging -> marts and raw -> deliveries in that run, the share run reads
the marts and writes the share views, and no event names a path of this machine or the engine.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime

import pytest

from eventpipe import settings
from eventpipe.devtools.generate.landing import generate
from eventpipe.orchestrate import airflow_env, assets
from tests.e2e.support import eventpipe
from tests.warehouse_compare import MARTS

pytestmark = pytest.mark.slow

SHARE_RUN = r"""
from datetime import UTC, datetime
from eventpipe.local import runner

runner.prepare()
dag = runner.load_dag("share_sync")
run = dag.test(
    logical_date=datetime(2026, 11, 28, tzinfo=UTC),
    run_conf={"target": "local", "dry_run": False, "consumer": None, "organization": None},
)
print("SHARE_RUN", getattr(run.state, "value", run.state))
"""

# What the Assets page's graph of an asset shows (the UI's "data" dependencies), from Airflow's metadata DB.
ASSET_GRAPH = r"""
import json, sys
from eventpipe.orchestrate import airflow_env

airflow_env.apply_airflow_environ()
from airflow.api_fastapi.core_api.services.ui.dependencies import get_data_dependencies
from airflow.models.asset import AssetModel
from airflow.utils.session import create_session
from sqlalchemy import select

with create_session() as session:
    asset_id = session.scalar(select(AssetModel.id).where(AssetModel.uri == sys.argv[1]))
    graph = get_data_dependencies(asset_id, session)
print("GRAPH " + json.dumps(graph))
"""


@pytest.fixture(scope="module")
def lineage_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("lineage_home")
    generate(
        landing=str(home / "landing"), start=datetime(2026, 11, 27, 6), hours=1, orgs=2, sessions_per_hour=4, seed=8
    )
    run = eventpipe(home, "run", "--hourly", "--start", "2026-11-27T06:00", "--end", "2026-11-27T07:00")
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    environ = dict(os.environ, EVENTPIPE_HOME=str(home))
    environ.pop("EVENTPIPE_LANDING", None)
    share = subprocess.run([sys.executable, "-c", SHARE_RUN], env=environ, capture_output=True, text=True, timeout=600)
    assert "SHARE_RUN success" in share.stdout, share.stdout[-2000:] + share.stderr[-4000:]
    return home


@pytest.fixture(scope="module")
def events(lineage_home):
    path = airflow_env.openlineage_events_path(lineage_home)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def dag_runs(events, dag_id):
    """{OpenLineage run id of the DAG run: [its tasks' events]}."""
    runs: dict[str, list] = {}
    for event in events:
        parent = event["run"]["facets"].get("parent")
        if parent and parent["job"]["name"] == dag_id and event["job"]["name"].startswith(f"{dag_id}."):
            runs.setdefault(parent["run"]["runId"], []).append(event)
    return runs


def edges(task_events) -> dict[str, set[str]]:
    """Dataset -> datasets written from it, by the tasks that completed."""
    graph: dict[str, set[str]] = {}
    for event in task_events:
        if event["eventType"] != "COMPLETE":
            continue
        outputs = {f"{o['namespace']}/{o['name']}" for o in event.get("outputs", [])}
        for i in event.get("inputs", []):
            graph.setdefault(f"{i['namespace']}/{i['name']}", set()).update(outputs)
    return graph


def path(graph, start, goal) -> list[str] | None:
    frontier, came = [start], {start: None}
    while frontier:
        node = frontier.pop(0)
        if node == goal:
            chain = []
            while node:
                chain.append(node)
                node = came[node]
            return chain[::-1]
        for nxt in sorted(graph.get(node, ())):
            if nxt not in came:
                came[nxt] = node
                frontier.append(nxt)
    return None


def test_every_task_of_the_hour_is_under_one_dag_run(events):
    runs = dag_runs(events, "event_pipeline")
    assert len(runs) == 1, sorted(runs)
    [(ol_run_id, task_events)] = runs.items()
    dag_events = [e for e in events if e["job"]["name"] == "event_pipeline"]
    assert dag_events and {e["run"]["runId"] for e in dag_events} == {ol_run_id}
    airflow_run_ids = {e["run"]["facets"]["airflow"]["dagRun"]["run_id"] for e in task_events}
    assert airflow_run_ids == {"backfill__2026-11-27T07:00:00+00:00"}
    completed = {e["job"]["name"].removeprefix("event_pipeline.") for e in task_events if e["eventType"] == "COMPLETE"}
    for task in ("load_raw_events", "dbt_marts.dbt_producer_watcher", "reconcile", "deliver"):
        assert task in completed
    assert {f"dbt_marts.{mart}.run" for mart in MARTS} <= completed


def test_the_chain_landing_raw_marts_deliveries_and_share(events):
    [(_, task_events)] = dag_runs(events, "event_pipeline").items()
    # the dbt build as a whole (the watcher producer): every source in, every model out
    [build] = [
        e for e in task_events if e["job"]["name"].endswith(".dbt_producer_watcher") and e["eventType"] == "COMPLETE"
    ]
    assert {f"{d['namespace']}/{d['name']}" for d in build["outputs"]} >= {
        assets.table_uri(f"marts.{m}") for m in MARTS
    }
    # model by model, from each model's own task
    hour = edges([e for e in task_events if e is not build])
    landing = assets.landing_uri()
    # The load writes the ledger of load commits beside raw, and every mart reads it (which commits to take):
    ledger = assets.table_uri(assets.LOAD_COMMITS)
    assert ledger in hour[landing]
    assert {assets.table_uri(f"marts.{mart}") for mart in MARTS} <= hour[ledger]
    hour = {node: outputs - {ledger} for node, outputs in hour.items() if node != ledger}  # the data's own path
    chains = {}
    for mart in MARTS:
        chains[mart] = path(hour, landing, assets.table_uri(f"marts.{mart}"))
        assert chains[mart], f"no lineage from the landing zone to marts.{mart}"
    for kind in assets.DESTINATION_TYPES:
        chains[kind] = path(hour, landing, assets.destination_uri(kind))
        assert chains[kind], f"no lineage from the landing zone to the {kind} deliveries"
    assert chains["fct_sessions"] == [
        landing,
        assets.table_uri("raw.session_event"),
        assets.table_uri("staging.stg_raw__session_events"),
        assets.table_uri("marts.fct_sessions"),
    ]
    # deliver is one task: it reads the interval's App Events and Audit logs from raw, writes every destination
    delivered_from = {assets.table_uri(table) for table in assets.DELIVERY_SOURCES}
    for kind in assets.DESTINATION_TYPES:
        assert chains[kind][0] == landing and chains[kind][1] in delivered_from and len(chains[kind]) == 3
    # the share, from its own DAG run: marts in, share views out
    [(_, share_events)] = dag_runs(events, "share_sync").items()
    share = edges(share_events)
    for view in ("SESSION_EVENT", "SESSION_SUMMARY", "AUDIT_EVENT"):
        assert any(assets.share_view_uri(view) in out for out in share.values()), view
    assert assets.share_view_uri("SESSION_SUMMARY") in share[assets.table_uri("marts.fct_sessions")]
    print("\n".join(" -> ".join(chain) for chain in chains.values()))


def test_no_event_names_this_machine_or_the_engine(events, lineage_home):
    datasets = {f"{d['namespace']}/{d['name']}" for e in events for d in [*e.get("inputs", []), *e.get("outputs", [])]}
    assert datasets, "no datasets in the events"
    assert {d.split("/")[2] for d in datasets} <= {"landing", "warehouse", "deliveries"}, datasets
    for dataset in datasets:
        assert dataset.startswith("eventpipe://"), dataset
    text = json.dumps([[e.get("inputs"), e.get("outputs")] for e in events])
    for machine in (str(lineage_home), str(settings.REPO_ROOT), "duckdb://", "snowflake://"):
        assert machine not in text


def test_airflow_records_each_asset_event_from_the_task_that_writes_it(events, lineage_home):
    with sqlite3.connect(lineage_home / "airflow" / "airflow.db") as db:
        uris = {uri for (uri,) in db.execute("SELECT uri FROM asset")}
        written = dict(
            db.execute(
                "SELECT a.uri, e.source_task_id FROM asset_event e JOIN asset a ON a.id = e.asset_id"
                " WHERE e.source_dag_id = 'event_pipeline' AND e.source_run_id = ?",
                ["backfill__2026-11-27T07:00:00+00:00"],
            ).fetchall()
        )
    assert all(uri.startswith("eventpipe://") for uri in uris), sorted(uris)  # no duckdb:///<path> of Cosmos
    assert written[assets.table_uri("raw.session_event")] == "load_raw_events"
    for mart in MARTS:
        assert written[assets.table_uri(f"marts.{mart}")] == f"dbt_marts.{mart}.run"
    for kind in assets.DESTINATION_TYPES:
        assert written[assets.destination_uri(kind)] == "deliver"


def test_the_assets_graph_of_a_share_view_shows_landing_raw_marts_share_and_deliveries(lineage_home):
    environ = dict(os.environ, EVENTPIPE_HOME=str(lineage_home))
    done = subprocess.run(
        [sys.executable, "-c", ASSET_GRAPH, assets.share_view_uri("SESSION_SUMMARY")],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    graph = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("GRAPH "))[6:])
    label = {node["id"]: node["label"] for node in graph["nodes"]}
    graph_edges = {(label[e["source_id"]], label[e["target_id"]]) for e in graph["edges"]}
    # asset -> the task that reads it -> the asset that task writes, from the landing zone to the share view
    for step in [
        ("landing:events", "event_pipeline.load_raw_events"),
        ("event_pipeline.load_raw_events", "raw.session_event"),
        ("raw.session_event", "event_pipeline.dbt_marts.stg_raw__session_events.run"),
        ("event_pipeline.dbt_marts.stg_raw__session_events.run", "staging.stg_raw__session_events"),
        ("staging.stg_raw__session_events", "event_pipeline.dbt_marts.fct_sessions.run"),
        ("event_pipeline.dbt_marts.fct_sessions.run", "marts.fct_sessions"),
        ("marts.fct_sessions", "share_sync.apply"),
        ("share_sync.apply", "share.SESSION_SUMMARY"),
        ("raw.session_event", "event_pipeline.deliver"),
        ("event_pipeline.deliver", "deliveries:s3"),
    ]:
        assert step in graph_edges, (step, sorted(graph_edges))
