"""``eventpipe run`` as a data engineer sees it in the Airflow UI: one backfill per range, runs dated when they ran,
and every task's log readable, whether the runs were executed in the ``eventpipe`` process (the embedded default,
no scheduler alive) or by a scheduler that was running (``eventpipe up``).

What the UI shows is read over the REST API the UI itself calls.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from eventpipe.devtools.generate.landing import generate
from tests.e2e.support import Standalone, wait_for

pytestmark = pytest.mark.slow

HOUR_HERE = datetime(2026, 11, 27, 5)  # run by `eventpipe run` itself: no scheduler is up yet
HOUR_BY_SCHEDULER = datetime(2026, 11, 27, 6)  # run while `eventpipe up` is: its scheduler runs it


def eventpipe_run(home, hour: datetime) -> subprocess.Popen:
    env = {**os.environ, "EVENTPIPE_HOME": str(home)}
    env.pop("EVENTPIPE_LANDING", None)
    end = hour + timedelta(hours=1)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eventpipe.cli",
            "run",
            "--hourly",
            "--start",
            hour.isoformat(),
            "--end",
            end.isoformat(),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 600) -> str:
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:  # timed out or interrupted: nothing is left running
            process.kill()
            process.wait()
    assert process.returncode == 0, output[-4000:]
    return output


def backfill_run(airflow: Standalone, hour: datetime) -> dict:
    runs = airflow.api("/dags/event_pipeline/dagRuns?run_type=backfill&limit=100")["dag_runs"]
    return next(r for r in runs if r["data_interval_start"].startswith(hour.isoformat()))


def test_eventpipe_run_is_a_backfill_with_logs_here_and_on_the_scheduler(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("EVENTPIPE_HOME", str(home))
    monkeypatch.delenv("EVENTPIPE_LANDING", raising=False)
    # Only the runs the test makes: no run of the latest hour (empty here) holding the one DuckDB run slot.
    monkeypatch.setenv("AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE", "False")
    truth = generate(landing=str(home / "landing"), start=HOUR_HERE, hours=2, orgs=1, sessions_per_hour=3, seed=11)
    began = datetime.now(UTC)

    here = eventpipe_run(home, HOUR_HERE)
    finish(here)

    with Standalone(tmp_path / "standalone.log") as airflow:
        # The run `eventpipe run` executed itself: a backfill run, dated when it ran, its task logs in the UI.
        run = backfill_run(airflow, HOUR_HERE)
        assert run["run_type"] == "backfill" and run["state"] == "success"
        started, ended = (datetime.fromisoformat(run[k]) for k in ("start_date", "end_date"))
        assert began < started < ended < datetime.now(UTC), run
        assert ended - started < timedelta(minutes=10), run
        load_log = airflow.log(run["dag_run_id"], "load_raw_events", 1)
        assert "files landed" in load_log and "loaded now" in load_log, load_log[:2000]
        deliver_log = airflow.log(run["dag_run_id"], "deliver", 1)
        assert "local_splunk" in deliver_log, deliver_log[:2000]
        assert "Log file not found" not in load_log + deliver_log

        # With a scheduler alive on the metadata database, `eventpipe run` hands the backfill to it and waits.
        def scheduler_healthy():
            health = airflow.api("/monitor/health")
            return health["scheduler"]["status"] == "healthy"

        wait_for(scheduler_healthy, 120, "the scheduler's heartbeat")
        scheduled = eventpipe_run(home, HOUR_BY_SCHEDULER)
        finish(scheduled)
        run = backfill_run(airflow, HOUR_BY_SCHEDULER)
        assert run["state"] == "success", run
        instances = list(airflow.task_instances(urllib.parse.quote(run["dag_run_id"])).values())
        assert instances and all(ti["state"] in ("success", "skipped") for ti in instances), instances
        pids = {ti["pid"] for ti in instances if ti["task_id"] == "load_raw_events"}
        assert pids and scheduled.pid not in pids, "the scheduler's executor ran the tasks, not `eventpipe run`"
        assert "files landed" in airflow.log(run["dag_run_id"], "load_raw_events", 1)

        # One task at a time on the embedded DuckDB, whatever run or DAG it belongs to.
        assert airflow.api("/pools/default_pool")["slots"] == 1

        def backfills_completed():  # the scheduler marks its backfill completed on a later loop
            backfills = airflow.api("/backfills?dag_id=event_pipeline")["backfills"]
            return backfills if all(b["completed_at"] for b in backfills) else None

        backfills = wait_for(backfills_completed, 120, "both backfills to be marked completed")
        assert len(backfills) == 2, backfills
        assert {b["from_date"][:13] for b in backfills} == {"2026-11-27T05", "2026-11-27T06"}

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        lines = dict(con.execute("SELECT interval_start, sum(lines) FROM ops.load_batch GROUP BY 1").fetchall())
    assert lines.get(HOUR_HERE, 0) + lines.get(HOUR_BY_SCHEDULER, 0) == truth.lines
