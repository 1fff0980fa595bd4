"""A user's click on "Trigger": a real scheduler + API server (``airflow standalone``), the DAG run
created over the REST API with a token from the auth endpoint, executed by the LocalExecutor."""

from __future__ import annotations

import urllib.error
from datetime import datetime

import duckdb
import pytest

from eventpipe.devtools.generate.landing import generate
from eventpipe.local import up
from tests.e2e.support import api, free_port, trigger, wait_for

pytestmark = pytest.mark.slow


def test_trigger_event_pipeline_over_rest(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("EVENTPIPE_HOME", str(home))
    monkeypatch.delenv("EVENTPIPE_LANDING", raising=False)
    truth = generate(
        landing=str(home / "landing"), start=datetime(2026, 11, 27, 6), hours=1, orgs=1, sessions_per_hour=3, seed=5
    )
    # The scheduler runs what is triggered and nothing else: on its own it also started the latest scheduled
    # interval of each DAG (for event_pipeline an empty hour, whose check_volume fails after its retries), and the
    # triggered run, one active run at a time, waited about 4 minutes behind it.
    monkeypatch.setenv("AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE", "False")
    # Its log servers on free ports too (not 8793 / 8794): another Airflow may be running beside this test.
    monkeypatch.setenv("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", str(free_port()))
    monkeypatch.setenv("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", str(free_port()))
    port = free_port()
    base_url = f"http://localhost:{port}"
    process = up.start_standalone(port, log_path=tmp_path / "standalone.log")
    try:
        up.wait_healthy(base_url, process)
        token = up.access_token(base_url, "admin", up.admin_password())

        def dag_visible():
            try:
                return api(base_url, token, "/dags/event_pipeline")
            except urllib.error.HTTPError:
                return None

        dag = wait_for(dag_visible, 180, "the DAG processor to register event_pipeline")
        assert dag["is_paused"] is False

        # The run dated 07:00 covers the arrival hour 06:00-07:00, as a scheduled run would.
        run = trigger(base_url, token, "2026-11-27T07:00:00Z")
        assert run["data_interval_start"].startswith("2026-11-27T06:00:00")

        def finished():
            state = api(base_url, token, f"/dags/event_pipeline/dagRuns/{run['dag_run_id']}")["state"]
            return state if state in ("success", "failed") else None

        state = wait_for(finished, 600, "the DAG run to finish")
        if state != "success":
            tis = api(base_url, token, f"/dags/event_pipeline/dagRuns/{run['dag_run_id']}/taskInstances")
            failed = [t["task_id"] for t in tis["task_instances"] if t["state"] != "success"]
            pytest.fail(f"run ended {state}; tasks not successful: {failed}; log: {tmp_path / 'standalone.log'}")
    finally:
        up.stop(process)

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        # Only the triggered run loaded (the scheduler starts no scheduled run here); look at it by its id.
        batch = con.execute(
            "SELECT run_id, interval_start, lines FROM ops.load_batch WHERE run_id = ?", [run["dag_run_id"]]
        ).fetchall()
        sessions = con.execute("SELECT count(*) FROM marts.fct_sessions").fetchone()[0]
    assert batch == [(run["dag_run_id"], datetime(2026, 11, 27, 6), truth.lines)]
    assert sessions == len(truth.sessions)
