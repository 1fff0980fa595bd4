"""``eventpipe run`` with a scheduler up (``airflow standalone``, what ``eventpipe up`` starts): the catch-up is handed
to that scheduler over the REST API, not run in the command's process. While the continuous DAGs are paused there it
refuses, naming them; unpaused, the range reaches raw, Splunk, S3 and the marts exactly once, and the runs it
triggered (``load_events`` and ``hourly_checks`` with the range) are the scheduler's, visible over REST as in the UI."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eventpipe.devtools.generate.landing import generate
from eventpipe.local.scheduled import CONTINUOUS
from eventpipe.utc import hour_floor, utc_now
from tests.e2e.support import Standalone, assert_caught_up, eventpipe, free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # a scheduler on a shared 2-core machine


def test_run_with_a_scheduler_up_catches_the_range_up_through_it(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("EVENTPIPE_HOME", str(home))
    monkeypatch.delenv("EVENTPIPE_LANDING", raising=False)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "True")  # event_pipeline stays out of it
    monkeypatch.setenv("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", str(free_port()))
    monkeypatch.setenv("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", str(free_port()))
    start = hour_floor(utc_now()) - timedelta(hours=3)  # recent: GA4 takes the analytics events
    end = start + timedelta(hours=2)
    truth = generate(landing=str(home / "landing"), start=start, hours=2, orgs=2, sessions_per_hour=3, seed=41,
                     files_per_hour=2)  # fmt: skip
    iso = "%Y-%m-%dT%H:%M"
    command = ("run", "--start", f"{start:{iso}}", "--end", f"{end:{iso}}")

    with Standalone(tmp_path / "standalone.log", dag_id="load_events") as airflow:
        api_env = {"AIRFLOW__API__BASE_URL": airflow.base_url}  # where `eventpipe up` on its default port would be
        for dag_id in CONTINUOUS:
            wait_for(lambda dag_id=dag_id: airflow.api(f"/dags/{dag_id}"), 180, f"{dag_id} registered")

        refused = eventpipe(home, *command, env=api_env)
        assert refused.returncode == 1, refused.stderr[-3000:]
        said = " ".join(refused.stderr.split())
        assert "load_events, deliver_events, transform, hourly_checks are paused there" in said, refused.stderr[-3000:]
        assert "unpause them" in said

        for dag_id in CONTINUOUS:
            airflow.api(f"/dags/{dag_id}", {"is_paused": False}, method="PATCH")
        run = eventpipe(home, *command, env=api_env, timeout=1800)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-4000:]
        assert "through the scheduler that is up" in " ".join(run.stderr.split()), run.stderr[-3000:]
        reported = [line.split()[2] for line in run.stderr.splitlines() if line.strip().endswith("success")]
        assert "load_events" in reported and reported[-1] == "hourly_checks", run.stderr[-3000:]

        conf = {"start": start.isoformat(), "end": end.isoformat()}
        runs = {dag_id: airflow.api(f"/dags/{dag_id}/dagRuns?limit=100")["dag_runs"] for dag_id in CONTINUOUS}
    for dag_id in ("load_events", "hourly_checks"):  # triggered with the range, as the UI's Trigger would
        mine = [r for r in runs[dag_id] if r["run_type"] == "manual" and r["conf"] == conf]
        assert mine and all(r["state"] == "success" for r in mine), runs[dag_id]
        assert all(r["note"] and r["note"].startswith("eventpipe run") for r in mine)
    assert any(r["state"] == "success" for r in runs["deliver_events"]), runs["deliver_events"]
    assert any(r["state"] == "success" for r in runs["transform"]), runs["transform"]

    assert_caught_up(home, truth.lines)
