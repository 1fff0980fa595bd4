"""Re-running an hour from the UI: Clear ``load_raw_events`` with Downstream, then Clear one model's task.

A real ``airflow standalone`` (scheduler, LocalExecutor, API server), driven over the REST endpoints the
UI's Trigger and Clear buttons call, on the embedded DuckDB warehouse.

GIVEN an hour's run that succeeded, AND late files landed for that hour afterwards,
WHEN ``load_raw_events`` is cleared with Downstream,
THEN the re-run loads the late files, the dbt producer builds again (try 2, not skipped), every model's
task and ``.test`` task reports that build (none runs dbt on its own), and the marts hold both the
first and the late sessions;
WHEN one model's task is then cleared alone,
THEN that task runs its own model with dbt and succeeds, and no other task re-runs.
First-run and re-run times are printed (the timed comparison is bench/rerun.py).
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime

import pytest

from eventpipe.devtools.generate.landing import generate
from eventpipe.orchestrate.watcher_rerun import BUILD_XCOM_KEY, REPORTS_BUILD, RUNS_ITS_OWN
from tests.e2e.support import Standalone, query, run_seconds

# three runs of the hour through a real scheduler: minutes on a loaded two-core machine
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

HOUR = datetime(2026, 11, 27, 6)
LOGICAL_DATE = "2026-11-27T07:00:00Z"  # the run for arrival hour 06:00
PRODUCER = "dbt_marts.dbt_producer_watcher"
MODEL_TASK = "dbt_marts.fct_sessions.run"
COSMOS_SKIP = "does not support Airflow retries"
# Cosmos' log lines when a model's task runs its own dbt command (on a later try; on a first try)
COSMOS_FALLBACK = ("Retry attempt #", "Falling back to running")


def land_late_files(home, tmp_path) -> dict:
    """A second batch of the same arrival hour, landed after the hour's run (files named apart)."""
    late = generate(
        landing=str(tmp_path / "late"), start=HOUR, hours=1, orgs=2, sessions_per_hour=3, seed=11, late_fraction=0
    )
    hour_dir = f"dt={HOUR:%Y-%m-%d}/hour={HOUR:%H}"
    for path in sorted((tmp_path / "late" / hour_dir).iterdir()):
        shutil.copy(path, home / "landing" / hour_dir / f"late-{path.name}")
    return late.sessions


def test_clearing_the_hour_rebuilds_once_and_one_model_alone_runs_alone(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("EVENTPIPE_HOME", str(home))
    monkeypatch.delenv("EVENTPIPE_LANDING", raising=False)
    first_truth = generate(
        landing=str(home / "landing"), start=HOUR, hours=1, orgs=3, sessions_per_hour=4, seed=5, late_fraction=0
    )
    with Standalone(tmp_path / "standalone.log") as airflow:
        airflow.wait_idle()  # the scheduler's own latest hour (empty) runs first
        run_id = airflow.trigger(LOGICAL_DATE)
        first = airflow.wait_finished(run_id)
        assert first["state"] == "success", airflow.task_instances(run_id)
        first_tis = airflow.task_instances(run_id)
        assert first_tis[PRODUCER]["try_number"] == 1
        sessions_first = query(home, "SELECT count(*) FROM marts.fct_sessions")[0][0]
        assert sessions_first == len(first_truth.sessions)

        late_sessions = land_late_files(home, tmp_path)
        cleared, rerun = airflow.clear_and_wait(run_id, ["load_raw_events"], downstream=True)
        tis = airflow.task_instances(run_id)
        # the models' tasks and their .test tasks (Cosmos' watcher sensors, with the re-run behaviour)
        sensors = sorted(task_id for task_id, ti in tis.items() if ti["operator"].startswith("Rerun"))
        logs = {task_id: airflow.log(run_id, task_id, tis[task_id]["try_number"]) for task_id in [PRODUCER, *sensors]}
        build = airflow.xcom(run_id, PRODUCER, BUILD_XCOM_KEY)

        cleared_one, model_rerun = airflow.clear_and_wait(run_id, [MODEL_TASK], downstream=False)
        after_one = airflow.task_instances(run_id)
        model_log = airflow.log(run_id, MODEL_TASK, after_one[MODEL_TASK]["try_number"])

    print(
        f"\nfirst run {run_seconds(first):.1f} s; re-run after Clear load_raw_events {run_seconds(rerun):.1f} s "
        f"(ratio {run_seconds(rerun) / run_seconds(first):.2f}); {MODEL_TASK} alone {run_seconds(model_rerun):.1f} s;"
        f" load average {os.getloadavg()[0]:.2f}"
    )
    # Clear with Downstream re-ran the whole hour: load, check, the dbt group (one task per model and per
    # model's tests, as on the first run), reconcile, deliver.
    assert rerun["state"] == "success", {task_id: ti["state"] for task_id, ti in tis.items()}
    assert cleared == sorted(first_tis), set(first_tis) ^ set(cleared)
    assert len(sensors) == 20 and {MODEL_TASK, "dbt_marts.fct_sessions.test"} <= set(sensors)

    # The producer built again (the try after its last one), as part of this Clear: not Cosmos' skip.
    assert tis[PRODUCER]["try_number"] == first_tis[PRODUCER]["try_number"] + 1 and tis[PRODUCER]["state"] == "success"
    assert build == {"clear_number": 1, "try_number": tis[PRODUCER]["try_number"]}
    assert "building again" in logs[PRODUCER] and COSMOS_SKIP not in logs[PRODUCER]
    # Every model's task and .test task reported that build; none ran dbt on its own.
    for task_id in sensors:
        assert tis[task_id]["state"] == "success", (task_id, tis[task_id])
        # one try in this Clear (a task retried in the first run starts from a higher try)
        assert tis[task_id]["try_number"] == first_tis[task_id]["try_number"] + 1, (task_id, tis[task_id])
        assert REPORTS_BUILD in logs[task_id], (task_id, logs[task_id][-3000:])
        assert not any(line in logs[task_id] for line in (RUNS_ITS_OWN, *COSMOS_FALLBACK)), task_id

    # The re-run loaded the late files and the marts hold them.
    loaded = query(home, "SELECT count(*) FROM ops.loaded_file")[0][0]
    assert loaded == len(list((home / "landing").rglob("*.json.gz")))
    sessions = query(home, "SELECT count(*) FROM marts.fct_sessions")[0][0]
    assert sessions == len(set(first_truth.sessions) | set(late_sessions)) > sessions_first

    # One model's task cleared alone: it runs its own model with dbt; nothing else re-runs.
    assert cleared_one == [MODEL_TASK]
    assert model_rerun["state"] == "success"
    assert after_one[MODEL_TASK]["try_number"] == tis[MODEL_TASK]["try_number"] + 1
    assert after_one[MODEL_TASK]["state"] == "success"
    assert RUNS_ITS_OWN in model_log and COSMOS_FALLBACK[0] in model_log and REPORTS_BUILD not in model_log
    assert "dbt run completed successfully" in model_log, model_log[-3000:]
    others = {task_id: ti["try_number"] for task_id, ti in after_one.items() if task_id != MODEL_TASK}
    assert others == {task_id: ti["try_number"] for task_id, ti in tis.items() if task_id != MODEL_TASK}
    assert query(home, "SELECT count(*) FROM marts.fct_sessions")[0][0] == sessions
