"""A session is (organization_id, session_id): two organizations reusing a session id stay two sessions.

GIVEN raw rows (the loader's contract) where ACME and GLOBEX both have a session ``s1`` (and ACME a
CSAT that GLOBEX has not),
WHEN the full `dbt build` runs,
THEN fct_sessions has one row per organization, each from its own events only, and the hourly tests
(unique on the pair, every event's pair has its session row) pass;
AND WHEN a late event arrives for GLOBEX's ``s1`` only, the incremental build recomputes GLOBEX's row
and leaves ACME's untouched (not even rewritten), equal to a full refresh;
AND the pair tests fail when a session row is missing or doubled (they can fail).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECT_DIR = REPO / "dbt_project"
CREATE_TABLES_SQL = REPO / "include" / "eventpipe" / "sql" / "duckdb" / "create_tables.sql"

ACME, GLOBEX = "org-acme", "org-globex"
APPS = {ACME: "app-support", GLOBEX: "app-claims"}
LOAD_1A = datetime(2024, 6, 3, 1, 0)
LOAD_1B = datetime(2024, 6, 3, 2, 0)  # the last commit the first build absorbs: the next takes those above it
LOAD_2 = datetime(2024, 6, 5, 10, 0)
COMMIT_OF = {LOAD_1A: 1, LOAD_1B: 2, LOAD_2: 3}  # one load commit each (raw._commit_seq, ops.load_commit)


def event(org: str, event_id: str, event_type: str, event_time: str, loaded_at: datetime, **fields: Any) -> dict:
    payload = {"eventId": event_id, "organizationId": org, "eventTime": event_time.replace(" ", "T") + "Z",
               "kind": "Session", "type": event_type, "appId": APPS[org], "sessionId": "s1"}  # fmt: skip
    if "custom_metric_value" in fields:
        payload["customMetric"] = {"key": "CSAT", "field": "score", "value": fields["custom_metric_value"]}
        fields = {**fields, "custom_metric_key": "CSAT", "custom_metric_field": "score",
                  "custom_metric_value": json.dumps(fields["custom_metric_value"])}  # fmt: skip
    return {
        "event_id": event_id,
        "organization_id": org,
        "event_time": datetime.fromisoformat(event_time),
        "event_type": event_type,
        "app_id": APPS[org],
        "session_id": "s1",
        **fields,
        "payload": json.dumps(payload),
        "_source_file": f"landing/dt={loaded_at:%Y-%m-%d}/hour={loaded_at:%H}/collide.json.gz",
        "_line_number": 1,
        "_batch_id": f"batch-{loaded_at:%Y%m%d%H}",
        "_loaded_at": loaded_at,
        "_commit_seq": COMMIT_OF[loaded_at],
    }


FIRST = [
    event(ACME, "a-1", "session_start", "2024-06-02 09:00:00", LOAD_1A, device_class="desktop"),
    event(ACME, "a-2", "action_run", "2024-06-02 09:00:05", LOAD_1A, action_id="act-1"),
    event(ACME, "a-3", "custom_metric", "2024-06-02 09:04:00", LOAD_1A, custom_metric_value=5),
    event(ACME, "a-4", "session_end", "2024-06-02 09:10:00", LOAD_1A),
    event(GLOBEX, "g-1", "session_start", "2024-06-01 08:00:00", LOAD_1B, device_class="mobile"),
    event(GLOBEX, "g-2", "page_view", "2024-06-01 08:01:00", LOAD_1B),
]
LATE = [event(GLOBEX, "g-3", "session_end", "2024-06-01 08:30:00", LOAD_2)]

SESSION_COLUMNS = ("organization_id, session_id, app_id, started_at, ended_at, status, event_count, action_runs,"
                   " device_class, csat_score, duration_ms")  # fmt: skip


def dbt(tmp_path: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).with_name("dbt")
    executable = executable if executable.exists() else Path(shutil.which("dbt") or "dbt")
    env = {**os.environ, "EVENTPIPE_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    command = [str(executable), *args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
               "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
               "--no-use-colors"]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, check=False)


def ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def insert(warehouse: Path, rows: list[dict]) -> None:
    """The rows and their commits' ops.load_commit rows, in one transaction, as the loader commits them."""
    with duckdb.connect(str(warehouse)) as con:
        con.begin()
        for row in rows:
            con.execute(f"insert into raw.session_event ({', '.join(row)}) values ({', '.join('?' for _ in row)})",
                        list(row.values()))  # fmt: skip
        for commit_seq in sorted({row["_commit_seq"] for row in rows}):
            con.execute("insert into ops.load_commit values (?, ?, 'load', 1, 0, 0, 0, 0, now())",
                        [commit_seq, f"batch-{commit_seq}"])  # fmt: skip
        con.commit()


def rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def sessions(warehouse: Path) -> list[tuple]:
    return rows(warehouse, f"select {SESSION_COLUMNS} from marts.fct_sessions order by organization_id, session_id")


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    path = home / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(CREATE_TABLES_SQL.read_text())
    return path


@pytest.mark.timeout(300)
def test_two_organizations_reusing_a_session_id_are_two_sessions(tmp_path: Path, warehouse: Path) -> None:
    insert(warehouse, FIRST)
    ok(dbt(tmp_path, warehouse.parent, "build"))
    d = datetime.fromisoformat
    assert sessions(warehouse) == [
        (ACME, "s1", "app-support", d("2024-06-02 09:00:00"), d("2024-06-02 09:10:00"), "closed", 4, 1, "desktop",
         5.0, 600_000),
        (GLOBEX, "s1", "app-claims", d("2024-06-01 08:00:00"), None, "open", 2, 0, "mobile", None, 60_000),
    ]  # fmt: skip
    assert rows(warehouse, "select organization_id, app_id, activity_date, sessions_started, sessions_completed"
                           " from marts.agg_app_daily order by 1") == [
        (ACME, "app-support", d("2024-06-02").date(), 1, 1),
        (GLOBEX, "app-claims", d("2024-06-01").date(), 1, 0),
    ]  # fmt: skip
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    passed = {r["unique_id"].split(".")[2] for r in results if r["status"] == "pass"}
    assert {"fct_sessions_unique_organization_session", "fct_session_events_session_in_fct_sessions",
            "fct_custom_metric_values_session_in_fct_sessions"} <= passed  # fmt: skip

    # a late event for GLOBEX's s1 only: ACME's s1 is not rewritten (its marker survives)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"update marts.fct_sessions set device_class = 'untouched' where organization_id = '{ACME}'")
    insert(warehouse, LATE)
    ok(dbt(tmp_path, warehouse.parent, "build", "--exclude", "tag:ci_only"))
    after = sessions(warehouse)
    assert after[0][8] == "untouched"
    assert after[1] == (GLOBEX, "s1", "app-claims", d("2024-06-01 08:00:00"), d("2024-06-01 08:30:00"), "closed",
                        3, 0, "mobile", None, 1_800_000)  # fmt: skip
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"update marts.fct_sessions set device_class = 'desktop' where organization_id = '{ACME}'")
    incremental = sessions(warehouse)
    ok(dbt(tmp_path, warehouse.parent, "build", "--full-refresh", "--exclude", "tag:ci_only"))
    assert sessions(warehouse) == incremental


@pytest.mark.timeout(300)
def test_pair_tests_fail_on_a_missing_or_doubled_session_row(tmp_path: Path, warehouse: Path) -> None:
    insert(warehouse, FIRST)
    ok(dbt(tmp_path, warehouse.parent, "build", "--exclude", "tag:ci_only"))
    pair_tests = ("fct_session_events_session_in_fct_sessions fct_custom_metric_values_session_in_fct_sessions"
                  " fct_sessions_unique_organization_session")  # fmt: skip

    # what the old model did: ACME's s1 merged into one row owned by GLOBEX
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"delete from marts.fct_sessions where organization_id = '{ACME}'")
    failed = dbt(tmp_path, warehouse.parent, "test", "--select", *pair_tests.split())
    assert failed.returncode != 0
    assert "FAIL 4 fct_session_events_session_in_fct_sessions" in failed.stdout
    assert "FAIL 1 fct_custom_metric_values_session_in_fct_sessions" in failed.stdout

    # the same pair twice
    with duckdb.connect(str(warehouse)) as con:
        con.execute("insert into marts.fct_sessions select * from marts.fct_sessions")
    failed = dbt(tmp_path, warehouse.parent, "test", "--select", "fct_sessions_unique_organization_session")
    assert failed.returncode != 0 and "FAIL 1 fct_sessions_unique_organization_session" in failed.stdout
