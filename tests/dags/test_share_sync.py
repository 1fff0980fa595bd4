"""share_sync, run for real by Airflow (``dag.test()``) on the local target over a warehouse with real marts.

GIVEN a consumers file mapping the warehouse's 3 organizations to 2 consumer accounts,
WHEN share_sync runs with dry_run, THEN plan succeeds, apply is skipped and nothing is built or recorded;
WHEN it runs for real, THEN each consumer's schema exists and shows exactly its organizations' rows,
the state is recorded and a new plan is empty; AND a second run applies nothing.

Airflow runs in a subprocess with its own home (its configuration is fixed when it is imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from eventpipe import airflow_env
from eventpipe.share import VIEWS
from eventpipe.share.sync import load_consumers, plan_share
from eventpipe.warehouse import connect
from tests.share_support import copy_warehouse, organizations, write_consumers

RUNS = r"""
import json, sys
from datetime import UTC, datetime

from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

import os
from airflow.dag_processing.dagbag import DagBag

from eventpipe import airflow_env

airflow_env.ensure_metadata_db()
# This DAG's file only: nothing of event_pipeline (its dbt manifest) is needed to run it.
bag = DagBag(dag_folder=os.path.join(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], "share_sync.py"))
assert not bag.import_errors, bag.import_errors
dag = bag.dags["share_sync"]
out = {}
# Every param explicitly, as the trigger form sends them: dag.test() runs reuse one DAG object, whose
# params keep the previous run's conf (a scheduler builds each run from the serialized DAG instead).
runs = (("dry_run", {"dry_run": True}), ("apply", {"dry_run": False}), ("again", {"dry_run": False}))
for day, (name, conf) in enumerate(runs, start=1):
    run = dag.test(logical_date=datetime(2026, 3, day, tzinfo=UTC), run_conf=conf)
    with create_session() as session:
        instances = run.get_task_instances(session=session)
        tasks = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in instances}
        xcoms = {
            x.task_id: XComModel.deserialize_value(x)
            for x in session.query(XComModel).filter_by(dag_id="share_sync", run_id=run.run_id, key="return_value")
        }
    out[name] = {"state": str(getattr(run.state, "value", run.state)), "tasks": tasks, "xcom": xcoms}
with open(sys.argv[1], "w") as sink:
    json.dump(out, sink)
"""


def test_share_sync_runs_plan_then_apply_on_the_local_share(marts_warehouse, tmp_path, monkeypatch):
    home = tmp_path / "home"
    warehouse = copy_warehouse(marts_warehouse, home)
    orgs = organizations(warehouse)
    consumers = write_consumers(
        tmp_path / "consumers.yml",
        [
            {"account": "ACME_ANALYTICS", "organizations": orgs[:2], "pii": False},
            {"account": "GLOBEX_BI", "organizations": orgs[2:], "pii": True},
        ],
    )
    monkeypatch.setenv("EVENTPIPE_HOME", str(home))
    monkeypatch.setenv("EVENTPIPE_SHARE_CONSUMERS", str(consumers))
    env = airflow_env.airflow_environ({**os.environ})
    result_file = tmp_path / "runs.json"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", RUNS, str(result_file)], env=env, capture_output=True, text=True, timeout=300
    )
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = json.loads(result_file.read_text())

    dry = runs["dry_run"]
    assert dry["tasks"] == {"plan": "success", "apply": "skipped"}, dry
    assert dry["xcom"]["plan"]["statements"] > 0 and "apply" not in dry["xcom"]

    applied = runs["apply"]
    assert applied["state"] == "success" and applied["tasks"] == {"plan": "success", "apply": "success"}, applied
    assert applied["xcom"]["apply"]["ran"] == dry["xcom"]["plan"]["statements"]  # the dry run changed nothing
    assert applied["xcom"]["apply"]["remaining"] == 0

    again = runs["again"]
    assert again["tasks"] == {"plan": "success", "apply": "success"}
    assert again["xcom"]["plan"]["statements"] == 0 and again["xcom"]["apply"]["ran"] == 0

    # What the DAG built, checked here, not taken from its own report.
    _, config = load_consumers()
    assert plan_share(config, "local").statements == []
    con = connect(warehouse)
    try:
        visible = {}
        for consumer in config.consumers:
            mine, visible[consumer.account] = set(consumer.organizations), {}
            for view in VIEWS:
                rows = dict(
                    con.execute(
                        f"SELECT ORGANIZATION_ID, count(*) FROM {consumer.local_schema}.{view.name} GROUP BY 1"
                    ).fetchall()
                )
                assert set(rows) == mine, f"{consumer.account} sees {sorted(rows)} in {view.name}, owns {sorted(mine)}"
                visible[consumer.account][view.name] = sum(rows.values())
    finally:
        con.close()
    assert applied["xcom"]["apply"]["rows"] == visible
    print(f"share_sync: 3 DAG runs in {seconds:.1f}s; rows visible per consumer: {visible}")


def test_share_sync_file_is_thin(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "dags" / "share_sync.py").read_text()
    assert "airflow" in text and "dag" in text
    # imports of the library happen inside tasks, never at parse time
    header = text.split("def share_sync")[0]
    assert "import eventpipe" not in header and "from eventpipe" not in header
