"""event_pipeline's load_raw_events and check_volume, run for real by Airflow (``dag.test()`` of the DAG's subset
that ends in check_volume: dbt, reconcile and deliver do not wait for it, so they are left out here).

GIVEN one arrival hour with landing files and one with none,
THEN the hour with files loads, check_volume succeeds and the load's XCom is the compact summary (counts per
kind and reason, files); the empty hour's load succeeds with nothing to load, and check_volume FAILS on its first
try (no retry), the run failed, with "no landing files" in the log at WARNING and in the error.

Airflow runs in a subprocess with its own home (its configuration is fixed when it is imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

from eventpipe.devtools.generate.landing import generate
from eventpipe.orchestrate import airflow_env

RUNS = r"""
import json, os, sys
from datetime import UTC, datetime

from airflow.dag_processing.dagbag import DagBag
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

from eventpipe.orchestrate import airflow_env

airflow_env.ensure_metadata_db()
bag = DagBag(dag_folder=os.path.join(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], "event_pipeline.py"))
assert not bag.import_errors, bag.import_errors
full = bag.dags["event_pipeline"]
out = {"downstream_of_check": sorted(full.get_task("check_volume").downstream_task_ids),
       "upstream_of_check": sorted(full.get_task("check_volume").upstream_task_ids),
       "check_retries": full.get_task("check_volume").retries}
dag = full.partial_subset(task_ids=["check_volume"], include_upstream=True)
dates = {"landed": datetime(2026, 11, 27, 7, tzinfo=UTC), "empty": datetime(2026, 11, 27, 8, tzinfo=UTC)}
for name, logical_date in dates.items():
    run = dag.test(logical_date=logical_date, run_after=logical_date)
    with create_session() as session:
        instances = run.get_task_instances(session=session)
        tasks = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in instances}
        tries = {ti.task_id: ti.try_number for ti in instances}
        xcoms = {
            x.task_id: XComModel.deserialize_value(x)
            for x in session.query(XComModel).filter_by(dag_id=dag.dag_id, run_id=run.run_id, key="return_value")
        }
    out[name] = {"state": str(getattr(run.state, "value", run.state)), "tasks": tasks, "tries": tries, "xcom": xcoms}
with open(sys.argv[1], "w") as sink:
    json.dump(out, sink, default=str)
"""


def test_an_hour_with_no_landing_files_fails_check_volume_at_once(eventpipe_home, tmp_path):
    truth = generate(
        landing=str(eventpipe_home / "landing"),
        start=datetime(2026, 11, 27, 6),
        hours=1,
        orgs=2,
        sessions_per_hour=3,
        seed=4,
        files_per_hour=2,
    )
    env = airflow_env.airflow_environ({**os.environ})
    result_file = tmp_path / "runs.json"
    command = [sys.executable, "-c", RUNS, str(result_file)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    logs = result.stdout + result.stderr
    assert result.returncode == 0, logs[-6000:]
    runs = json.loads(result_file.read_text())

    # Nothing waits for check_volume; it follows the load and retries transient errors, never a flagged hour.
    assert runs["downstream_of_check"] == [] and runs["upstream_of_check"] == ["load_raw_events"]
    assert runs["check_retries"] >= 1

    landed = runs["landed"]
    assert landed["tasks"] == {"load_raw_events": "success", "check_volume": "success"}, landed
    load = landed["xcom"]["load_raw_events"]
    assert load["interval"] == "2026-11-27T06:00" and load["lines"] == truth.lines
    assert load["files"] == {"landed": 2, "loaded": 2, "already_loaded": 0, "quarantined": 0}
    assert sum(load["loaded_by_kind"].values()) == load["loaded"] and set(load["loaded_by_kind"]) <= {
        "session", "audit", "platform"
    }  # fmt: skip
    assert sum(load["quarantined_by_reason"].values()) == load["quarantined"]
    assert landed["xcom"]["check_volume"]["lines"] == truth.lines

    empty = runs["empty"]
    assert empty["state"] == "failed", empty
    assert empty["tasks"] == {"load_raw_events": "success", "check_volume": "failed"}, empty
    assert empty["tries"]["check_volume"] == 1
    assert empty["xcom"]["load_raw_events"]["files"]["landed"] == 0
    assert "arrival hour 2026-11-27T07:00: no landing files" in logs
    assert "Clear load_raw_events" in logs
    # the task log holds the table; the return value is not printed again
    assert "load_raw_events 2026-11-27T06:00 (batch 20261127T06__" in logs and "Done. Returned value not shown" in logs
