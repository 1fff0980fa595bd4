"""The semantic layer (MetricFlow, dbt_project/models/semantic): valid, and its figures are the marts'.

GIVEN a warehouse with built marts (tests/conftest.py `marts_warehouse`, a private copy) and the time spine,
WHEN `mf validate-configs` runs, and `mf query` asks for every metric by day, hour, organization, app, service and
audit event type,
THEN the configs validate against the warehouse (and a metric on a column that does not exist does not), and each
figure equals the marts' (agg_app_daily, agg_platform_daily, fct_sessions, fct_audit_events) and the Activity
Explorer's queries over the same sessions and events.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from eventpipe.explorer.query import scoped_sql
from tests.dbt.project_copy import copy_project, dbt, edit
from tests.share.support import copy_warehouse

# The explorer's queries take a time range: all of it.
EVERYTHING = {"range_start": datetime(2000, 1, 1), "range_end": datetime(2100, 1, 1)}


@pytest.fixture(scope="module")
def semantic(tmp_path_factory, marts_warehouse: Path) -> tuple[Path, Path]:
    """(a copy of the dbt project, a home with a copy of the built warehouse and the time spine)."""
    root = tmp_path_factory.mktemp("semantic")
    project, home = copy_project(root / "dbt_project"), root / "home"
    copy_warehouse(marts_warehouse, home)
    result = dbt(project, home, "run", "--select", "metricflow_time_spine")
    assert result.returncode == 0, result.stdout[-4000:]
    return project, home


def mf(project: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).with_name("mf")
    executable = executable if executable.exists() else Path(shutil.which("mf") or "mf")
    env = {**os.environ, "EVENTPIPE_HOME": str(home), "DBT_PROFILES_DIR": str(project), "DO_NOT_TRACK": "1",
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}  # fmt: skip
    return subprocess.run([str(executable), *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def query(semantic: tuple[Path, Path], metrics: list[str], group_by: list[str]) -> list[dict[str, str]]:
    project, home = semantic
    out = project / f"query_{len(list(project.glob('query_*.csv')))}.csv"
    result = mf(project, home, "query", "--metrics", ",".join(metrics), "--group-by", ",".join(group_by),
                "--csv", str(out))  # fmt: skip
    assert result.returncode == 0 and out.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    with out.open() as file:
        return list(csv.DictReader(file))


def marts(semantic: tuple[Path, Path], sql: str, params: dict | None = None) -> list[dict]:
    with duckdb.connect(str(semantic[1] / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        cursor = con.execute(sql, params or {})
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def explorer_rows(semantic: tuple[Path, Path], name: str) -> list[dict]:
    """The explorer's query ``name`` over all of it, as a user who sees every organization runs it."""
    params = dict(EVERYTHING)
    return marts(semantic, scoped_sql("duckdb", name, None, params), params)


def number(text: str) -> float | None:
    return None if text == "" else float(text)


def day(text: str) -> str:
    return text[:10]


@pytest.mark.timeout(300)
def test_validate_configs_passes_against_the_warehouse(semantic) -> None:
    result = mf(*semantic, "validate-configs")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Successfully validated metrics against data warehouse (ERRORS: 0" in output


@pytest.mark.timeout(300)
def test_validate_configs_fails_on_a_measure_of_a_column_that_is_not_there(tmp_path, semantic) -> None:
    project = copy_project(tmp_path / "dbt_project")
    edit(project / "models" / "semantic" / "sessions.yml", "expr: action_errors\n", "expr: action_error_count\n")
    assert dbt(project, semantic[1], "parse").returncode == 0
    result = mf(project, semantic[1], "validate-configs")
    output = result.stdout + result.stderr
    assert "action_error_count" in output, output[-4000:]
    assert "Successfully validated measures against data warehouse" not in output


def keyed(rows: list[dict], keys: list[str], values: list[str], figure=float) -> dict[tuple, tuple]:
    """``rows`` as {their keys (days as YYYY-MM-DD): their values as ``figure`` (None stays None)}."""
    return {tuple(str(row[k])[:10] if k.endswith("__day") else str(row[k]) for k in keys):
            tuple(None if row[v] in ("", None) else figure(float(row[v])) for v in values)
            for row in rows}  # fmt: skip


def same_figures(mf_rows: list[dict], mf_columns: list[str], mart_rows: list[dict], mart_columns: list[str], keys: int):
    """The MetricFlow rows and the mart's, keyed by their first ``keys`` columns, hold the same figures (up to
    floating-point rounding)."""
    got = keyed(mf_rows, mf_columns[:keys], mf_columns[keys:], figure=pytest.approx)
    assert got == keyed(mart_rows, mart_columns[:keys], mart_columns[keys:])


@pytest.mark.timeout(300)
def test_session_metrics_by_day_and_app_equal_agg_app_daily(semantic) -> None:
    metrics = ["sessions", "completed_sessions", "completion_rate", "median_session_duration_ms"]
    dimensions = ["metric_time__day", "session__organization_id", "session__app_id"]
    daily = marts(semantic, "select * from marts.agg_app_daily")
    assert len(daily) >= 4
    same_figures(
        query(semantic, metrics, dimensions),
        dimensions + metrics,
        daily,
        [
            "activity_date",
            "organization_id",
            "app_id",
            "sessions_started",
            "sessions_completed",
            "completion_rate",
            "median_duration_ms",
        ],
        keys=3,
    )


@pytest.mark.timeout(300)
def test_app_quality_by_app_equals_the_explorers(semantic) -> None:
    rows = query(
        semantic,
        ["sessions", "completed_sessions", "completion_rate", "csat_average", "csat_responses"],
        ["session__app_id"],
    )
    got = {
        r["session__app_id"]: (
            int(r["sessions"]), int(r["completed_sessions"]), pytest.approx(float(r["completion_rate"])),
            None if r["csat_average"] == "" else pytest.approx(float(r["csat_average"])), int(r["csat_responses"]),
        )
        for r in rows
    }  # fmt: skip
    explorer = explorer_rows(semantic, "explorer_app_quality")
    expected = {
        r["app"]: (r["sessions"], r["sessions_completed"], r["completion_rate"], r["avg_csat"], r["csat_responses"])
        for r in explorer
    }
    assert any(r["csat_responses"] for r in explorer)
    assert got == expected


@pytest.mark.timeout(300)
def test_sessions_per_hour_and_action_errors_per_session_equal_fct_sessions(semantic) -> None:
    hourly = query(semantic, ["sessions"], ["metric_time__hour"])
    explorer = explorer_rows(semantic, "explorer_sessions_per_hour")
    assert {r["metric_time__hour"][:13]: int(r["sessions"]) for r in hourly} == {
        r["bucket_start"].strftime("%Y-%m-%d %H"): r["sessions_started"] for r in explorer if r["sessions_started"]
    }
    per_app = query(semantic, ["action_errors", "action_errors_per_session"], ["session__app_id"])
    expected = marts(
        semantic,
        "select app_id, sum(action_errors) as errors, sum(action_errors) / count(*) as per_session"
        " from marts.fct_sessions group by app_id",
    )
    assert {r["session__app_id"]: (int(r["action_errors"]), pytest.approx(float(r["action_errors_per_session"])))
            for r in per_app} == {r["app_id"]: (r["errors"], r["per_session"]) for r in expected}  # fmt: skip
    assert any(r["errors"] for r in expected)


@pytest.mark.timeout(300)
def test_platform_metrics_equal_agg_platform_daily_and_the_explorers_error_rate(semantic) -> None:
    metrics = ["platform_events", "platform_errors", "platform_error_rate", "platform_p95_duration_ms"]
    dimensions = ["metric_time__day", "platform_event__organization_id", "platform_event__service"]
    daily = marts(semantic, "select * from marts.agg_platform_daily")
    assert len(daily) >= 3 and any(row["errors"] for row in daily)
    same_figures(
        query(semantic, metrics, dimensions),
        dimensions + metrics,
        daily,
        ["event_date", "organization_id", "service", "events", "errors", "error_rate", "p95_duration_ms"],
        keys=3,
    )

    by_service = query(semantic, ["platform_events", "platform_error_rate"], ["platform_event__service"])
    explorer = explorer_rows(semantic, "explorer_service_errors")
    assert {
        r["platform_event__service"]: (int(r["platform_events"]), pytest.approx(float(r["platform_error_rate"])))
        for r in by_service
    } == {r["service"]: (r["events"], r["error_rate"]) for r in explorer}


@pytest.mark.timeout(300)
def test_audit_events_by_type_equal_fct_audit_events(semantic) -> None:
    rows = query(semantic, ["audit_events"], ["audit_event__event_type"])
    expected = marts(semantic, "select event_type, count(*) as events from marts.fct_audit_events group by 1")
    assert len(expected) >= 3
    assert {r["audit_event__event_type"]: int(r["audit_events"]) for r in rows} == {
        r["event_type"]: r["events"] for r in expected
    }
