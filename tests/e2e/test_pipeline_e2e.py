"""End to end through Airflow: generated hours with late, duplicate and malformed events, run with
``eventpipe run`` (real DAG runs, real dbt, real DuckDB), checked against the generator's ground truth,
then re-run to show that nothing changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import duckdb
import pytest

from eventpipe.devtools.generate.landing import generate
from eventpipe.devtools.generate.truth import Truth

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 27, 6)
HOURS = 4
# Content tables: a re-run must leave every one of them identical. (ops.load_batch gains one row per
# run by design: it is the log of runs, including those that found nothing new.)
TABLES = [
    "raw.session_event",
    "raw.audit_event",
    "raw.platform_event",
    "raw.quarantined_event",
    "ops.loaded_file",
    "marts.fct_session_events",
    "marts.fct_sessions",
    "marts.fct_custom_metric_values",
    "marts.fct_audit_events",
    "marts.fct_platform_events",
    "marts.agg_app_daily",
    "marts.agg_platform_daily",
]


def eventpipe(home, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, EVENTPIPE_HOME=str(home))
    env.pop("EVENTPIPE_LANDING", None)
    result = subprocess.run(
        [sys.executable, "-m", "eventpipe.cli", *args], env=env, capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, f"eventpipe {' '.join(args)} failed:\n{result.stdout}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e_home")
    truth = generate(
        landing=str(home / "landing"),
        start=START,
        hours=HOURS,
        orgs=2,
        sessions_per_hour=4,
        seed=11,
        late_fraction=0.08,
        duplicate_fraction=0.05,
        malformed_fraction=0.04,
        files_per_hour=3,
    )
    run = eventpipe(home, "run", "--hourly", "--start", "2026-11-27T06:00", "--end", "2026-11-27T10:00")
    return home, truth, run


def snapshot(home) -> dict[str, list]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return {table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for table in TABLES}


def query(home, sql, params=None):
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()


def test_every_line_is_accounted_for(pipeline):
    home, truth, _ = pipeline
    lines, loaded, duplicates, quarantined = query(
        home, "SELECT sum(lines), sum(loaded), sum(duplicates), sum(quarantined) FROM ops.loaded_file"
    )[0]
    assert lines == truth.lines
    assert loaded == sum(truth.events.values())
    assert duplicates == truth.duplicates
    assert quarantined == sum(truth.quarantined.values())
    assert dict(query(home, "SELECT reason, count(*) FROM raw.quarantined_event GROUP BY 1")) == truth.quarantined
    for kind, table in [("Session", "session_event"), ("Audit", "audit_event"), ("Platform", "platform_event")]:
        assert query(home, f"SELECT count(*), count(DISTINCT event_id) FROM raw.{table}")[0] == (
            truth.events[kind],
            truth.events[kind],
        )


def test_summary_is_printed(pipeline):
    _, truth, run = pipeline
    assert f"lines landed           {truth.lines:>10,}" in run.stdout
    assert "sessions" in run.stdout


def test_fct_sessions_matches_ground_truth_row_for_row(pipeline):
    home, truth, _ = pipeline
    rows = query(
        home,
        "SELECT session_id, organization_id, app_id, branch_id, deploy_id,"
        " strftime(started_at, '%Y-%m-%dT%H:%M:%S.%gZ'),"
        " strftime(ended_at, '%Y-%m-%dT%H:%M:%S.%gZ'),"
        " strftime(last_event_at, '%Y-%m-%dT%H:%M:%S.%gZ'),"
        " is_closed, event_count, action_runs, actions_fired, action_errors, runtime_errors,"
        " messages_sent, messages_received, device_class, csat_score FROM marts.fct_sessions",
    )
    actual = {row[0]: row[1:] for row in rows}
    expected = {
        sid: (
            s.organization_id,
            s.app_id,
            s.branch_id,
            s.deploy_id,
            s.started_at,
            s.ended_at,
            s.last_event_at,
            s.is_closed,
            s.event_count,
            s.action_runs,
            s.actions_fired,
            s.action_errors,
            s.runtime_errors,
            s.messages_sent,
            s.messages_received,
            s.device_class,
            None if s.csat_score is None else float(s.csat_score),
        )
        for sid, s in truth.sessions.items()
    }
    assert len(actual) == len(expected) > 20
    mismatched = {sid: (actual.get(sid), expected[sid]) for sid in expected if actual.get(sid) != expected[sid]}
    assert not mismatched, f"{len(mismatched)} sessions differ, e.g. {next(iter(mismatched.items()))}"
    # Late events and open sessions are both in this data set, or the test proves less than it says.
    assert truth.late_events > 0
    assert any(not s.is_closed for s in truth.sessions.values())


def test_aggregates_match_ground_truth(pipeline):
    home, truth, _ = pipeline
    app_daily = {
        f"{org}|{app}|{day}": {"sessions_started": started, "sessions_completed": completed}
        for org, app, day, started, completed in query(
            home,
            "SELECT organization_id, app_id, strftime(activity_date, '%Y-%m-%d'), sessions_started,"
            " sessions_completed FROM marts.agg_app_daily",
        )
    }
    assert app_daily == truth.app_daily

    platform = {
        f"{service}|{day}": {"events": int(events), "errors": int(errors)}
        for service, day, events, errors in query(
            home,
            "SELECT service, strftime(event_date, '%Y-%m-%d'), sum(events), sum(errors)"
            " FROM marts.agg_platform_daily GROUP BY 1, 2",
        )
    }
    assert platform == truth.platform_by_service_day

    assert query(home, "SELECT count(*) FROM marts.fct_custom_metric_values")[0][0] == truth.custom_metric_values
    assert dict(query(home, "SELECT event_type, count(*) FROM marts.fct_audit_events GROUP BY 1")) == (
        truth.audit_by_type
    )
    assert query(home, "SELECT count(*) FROM marts.fct_session_events")[0][0] == truth.events["Session"]
    assert query(home, "SELECT count(*) FROM marts.fct_platform_events")[0][0] == truth.events["Platform"]


def test_every_run_is_recorded_and_reconciled(pipeline):
    home, _, _ = pipeline
    batches = query(home, "SELECT interval_start, dag_id, run_id, batch_id FROM ops.load_batch ORDER BY 1")
    assert [row[0] for row in batches] == [START.replace(hour=START.hour + i) for i in range(HOURS)]
    for _, dag_id, run_id, batch_id in batches:
        assert dag_id == "event_pipeline"
        assert batch_id.endswith(f"__{run_id}__try1")  # rows in raw.* name the run and try that loaded them


def test_rerunning_intervals_leaves_every_table_identical(pipeline):
    home, truth, _ = pipeline
    before = snapshot(home)
    eventpipe(home, "run", "--hourly", "--start", "2026-11-27T07:00", "--end", "2026-11-27T09:00")
    after = snapshot(home)
    for table in TABLES:
        assert after[table] == before[table], f"{table} changed on re-run"
    reruns = query(home, "SELECT count(*), sum(loaded), sum(files_skipped) FROM ops.load_batch WHERE run_id LIKE '%'")
    assert reruns[0][0] == HOURS + 2 and reruns[0][1] == sum(truth.events.values())


def test_truth_file_round_trips(tmp_path):
    truth = generate(landing=str(tmp_path / "l"), start=START, hours=1, orgs=1, sessions_per_hour=1, seed=1)
    assert Truth.from_json(truth.to_json()) == truth
    assert json.loads(truth.to_json())["lines"] == truth.lines
