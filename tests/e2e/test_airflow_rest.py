"""A user's click on "Trigger": a real scheduler + API server (``airflow standalone``), the DAG run
created over the REST API with a token from the auth endpoint, executed by the LocalExecutor."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from datetime import datetime

import duckdb
import pytest

from eventpipe import up
from eventpipe.generate import generate

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api(base_url, token, path, body=None, method=None):
    request = urllib.request.Request(
        f"{base_url}/api/v2{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method or ("POST" if body is not None else "GET"),
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        error.msg = f"{error.msg}: {error.read().decode(errors='replace')[:2000]}"  # the API's own words
        raise


def trigger(base_url, token, logical_date):
    """POST a DAG run as the UI's Trigger button does; on a 5xx, try again as a user would.

    Airflow on SQLite (the embedded default) answered this POST with a 500 once in about four runs
    here while the scheduler and DAG processor were writing. A retry that finds the first attempt did
    create the run gets 409 and picks that run up, so no second run is made.
    """
    for attempt in range(5):
        try:
            return api(base_url, token, "/dags/event_pipeline/dagRuns", {"logical_date": logical_date})
        except urllib.error.HTTPError as error:
            if error.code == 409:
                runs = api(base_url, token, "/dags/event_pipeline/dagRuns?limit=100")["dag_runs"]
                return next(r for r in runs if r["logical_date"].startswith(logical_date.removesuffix("Z")))
            if error.code < 500 or attempt == 4:
                raise
            time.sleep(3)
    raise AssertionError("unreachable")


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(2)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


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
