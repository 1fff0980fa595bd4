"""A user's click on "Trigger": a real scheduler + API server (``airflow standalone``), the DAG run
created over the REST API with a token from the auth endpoint, executed by the LocalExecutor."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from eventpipe.devtools.generate.landing import generate
from tests.e2e.support import Standalone, free_port, trigger, wait_for

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
    with Standalone(tmp_path / "standalone.log") as airflow:  # waits until the DAG processor registered the DAG
        assert airflow.api("/dags/event_pipeline")["is_paused"] is False

        # The run dated 07:00 covers the arrival hour 06:00-07:00, as a scheduled run would.
        run = trigger(airflow.base_url, airflow.token, "2026-11-27T07:00:00Z")
        assert run["data_interval_start"].startswith("2026-11-27T06:00:00")

        def finished():
            state = airflow.run(run["dag_run_id"])["state"]
            return state if state in ("success", "failed") else None

        state = wait_for(finished, 600, "the DAG run to finish")
        if state != "success":
            failed = [t for t, ti in airflow.task_instances(run["dag_run_id"]).items() if ti["state"] != "success"]
            pytest.fail(f"run ended {state}; tasks not successful: {failed}; log: {tmp_path / 'standalone.log'}")

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        # Only the triggered run loaded (the scheduler starts no scheduled run here); look at it by its id.
        batch = con.execute(
            "SELECT run_id, interval_start, lines FROM ops.load_batch WHERE run_id = ?", [run["dag_run_id"]]
        ).fetchall()
        sessions = con.execute("SELECT count(*) FROM marts.fct_sessions").fetchone()[0]
    assert batch == [(run["dag_run_id"], datetime(2026, 11, 27, 6), truth.lines)]
    assert sessions == len(truth.sessions)
