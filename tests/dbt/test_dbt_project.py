"""The dbt project end to end on DuckDB: raw rows -> `dbt build` -> exact mart values.

GIVEN a fresh EVENTPIPE_HOME whose raw tables (the loader's contract, create_tables.sql) hold a
small, realistic day of Session / Audit / Platform events,
WHEN `dbt build` runs (models, data tests and unit tests),
THEN every mart holds exactly the hand-computed values;
AND WHEN events arrive late (loaded days after they happened, for an existing session, for a
session whose start moves to the previous day, for an old platform day) in a new load commit and
`dbt build` runs again,
THEN exactly the touched sessions, app-days and service-days are recomputed (untouched rows are
not even rewritten, those of the last commit the first build absorbed included), and the result
equals a `--full-refresh` build.

Raw rows carry the load commit that inserted them (`_commit_seq`) and each commit has its
`ops.load_commit` row, as the loader writes them: the marts hand over by commit, not by `_loaded_at`.
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
import yaml

REPO = Path(__file__).resolve().parents[2]
PROJECT_DIR = REPO / "dbt_project"
CREATE_TABLES_SQL = REPO / "include" / "eventpipe" / "sql" / "duckdb" / "create_tables.sql"

MARTS = {
    "fct_session_events": "event_id",
    "fct_sessions": "organization_id, session_id",
    "fct_custom_metric_values": "event_id",
    "fct_audit_events": "event_id",
    "fct_platform_events": "event_id",
    "agg_app_daily": "organization_id, app_id, activity_date",
    "agg_platform_daily": "organization_id, service, event_date",
}

ACME, GLOBEX = "org-acme", "org-globex"
SUPPORT, CLAIMS = "app-support", "app-claims"

# Two loads before the first build, one (late data) before the second; each one load commit.
LOAD_1A = datetime(2024, 6, 3, 1, 0)
LOAD_1B = datetime(2024, 6, 3, 2, 0)
LOAD_2 = datetime(2024, 6, 5, 10, 0)
# A load stamped (its _loaded_at) before the first two, committed after all of them: loads commit out of
# their clock's order (concurrent loaders on Snowflake); the marts must take it all the same.
STAMPED_FIRST = datetime(2024, 6, 3, 0, 30)
COMMIT_OF = {LOAD_1A: 1, LOAD_1B: 2, LOAD_2: 3, STAMPED_FIRST: 4}


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --------------------------------------------------------------------------------------------
# raw rows, shaped like the loader writes them (typed columns + original object as payload)
# --------------------------------------------------------------------------------------------

SESSION_APPS = {
    "s1": (ACME, SUPPORT),
    "s2": (ACME, SUPPORT),
    "s3": (ACME, SUPPORT),
    "s4": (GLOBEX, CLAIMS),
    "s6": (ACME, SUPPORT),
    "s7": (ACME, SUPPORT),
}


def session_event(
    event_id: str, session_id: str, event_type: str, event_time: str, loaded_at: datetime, **fields: Any
) -> dict[str, Any]:
    organization_id, app_id = SESSION_APPS[session_id]
    payload: dict[str, Any] = {
        "eventId": event_id,
        "organizationId": organization_id,
        "eventTime": event_time.replace(" ", "T") + "Z",
        "kind": "Session",
        "type": event_type,
        "appId": app_id,
        "branchId": "branch-main",
        "deployId": f"deploy-{app_id}-7",
        "sessionId": session_id,
    }
    row: dict[str, Any] = {
        "event_id": event_id,
        "organization_id": organization_id,
        "event_time": ts(event_time),
        "event_type": event_type,
        "app_id": app_id,
        "branch_id": "branch-main",
        "deploy_id": f"deploy-{app_id}-7",
        "session_id": session_id,
    }
    if "device_class" in fields:
        payload["userAgent"] = {"deviceClass": fields["device_class"], "browser": "Chrome", "os": "macOS"}
        row.update(browser="Chrome", os="macOS")
    if "action_id" in fields:
        payload["action"] = {"id": fields["action_id"], "name": fields["action_name"]}
    if "custom_metric_key" in fields:
        payload["customMetric"] = {
            "key": fields["custom_metric_key"],
            "field": fields["custom_metric_field"],
            "value": fields["custom_metric_value"],
        }
        fields["custom_metric_value"] = json.dumps(fields["custom_metric_value"])
    if "analytics_event_name" in fields:
        payload["analyticsEvent"] = {
            "event": fields["analytics_event_name"],
            "properties": fields["analytics_event_properties"],
        }
        fields["analytics_event_properties"] = json.dumps(fields["analytics_event_properties"])
    for key in ("status", "code", "message", "duration_millis"):
        if key in fields:
            payload[{"duration_millis": "durationMillis"}.get(key, key)] = fields[key]
    row.update(fields)
    return with_load_metadata(row, payload, loaded_at)


def audit_event(
    event_id: str, organization_id: str, event_type: str, event_time: str, loaded_at: datetime, **fields: Any
) -> dict[str, Any]:
    payload = {
        "eventId": event_id,
        "organizationId": organization_id,
        "eventTime": event_time.replace(" ", "T") + "Z",
        "kind": "Audit",
        "type": event_type,
        **{_camel(k): v for k, v in fields.items()},
    }
    row = {
        "event_id": event_id,
        "organization_id": organization_id,
        "event_time": ts(event_time),
        "event_type": event_type,
        **fields,
    }
    return with_load_metadata(row, payload, loaded_at)


def platform_event(
    event_id: str,
    organization_id: str,
    service: str,
    status: str,
    duration_millis: int | None,
    event_time: str,
    loaded_at: datetime,
) -> dict[str, Any]:
    event_type = "connection_request" if status == "ok" else "service_error"
    payload = {
        "eventId": event_id,
        "organizationId": organization_id,
        "eventTime": event_time.replace(" ", "T") + "Z",
        "kind": "Platform",
        "type": event_type,
        "appId": SUPPORT,
        "service": service,
        "serviceVersion": "1.4.2",
        "status": status,
        "durationMillis": duration_millis,
    }
    row = {
        "event_id": event_id,
        "organization_id": organization_id,
        "event_time": ts(event_time),
        "event_type": event_type,
        "app_id": SUPPORT,
        "service": service,
        "service_version": "1.4.2",
        "status": status,
        "duration_millis": duration_millis,
    }
    return with_load_metadata(row, payload, loaded_at)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def with_load_metadata(row: dict[str, Any], payload: dict[str, Any], loaded_at: datetime) -> dict[str, Any]:
    hour = loaded_at.strftime("%Y-%m-%dT%H")
    return {
        **row,
        "payload": json.dumps(payload),
        "_source_file": f"landing/dt={loaded_at:%Y-%m-%d}/hour={loaded_at:%H}/events-0001.json.gz",
        "_line_number": 1,
        "_batch_id": f"batch-{hour}",
        "_loaded_at": loaded_at,
        "_commit_seq": COMMIT_OF[loaded_at],
    }


def csat(event_id: str, session_id: str, event_time: str, loaded_at: datetime, value: Any) -> dict[str, Any]:
    return session_event(
        event_id,
        session_id,
        "custom_metric",
        event_time,
        loaded_at,
        custom_metric_key="CSAT",
        custom_metric_field="score",
        custom_metric_value=value,
    )


def action(event_id: str, session_id: str, event_type: str, event_time: str, loaded_at: datetime, action_id: str):
    return session_event(
        event_id,
        session_id,
        event_type,
        event_time,
        loaded_at,
        action_id=action_id,
        action_name=action_id.removeprefix("act-").title(),
    )


FIRST_LOADS = {
    "session_event": [
        # s3: closed, CSAT given as text (in the newer of the first two loads)
        session_event("s3-01", "s3", "session_start", "2024-06-02 12:00:00", LOAD_1B, device_class="tablet"),
        csat("s3-02", "s3", "2024-06-02 12:03:00", LOAD_1B, "great"),
        session_event("s3-03", "s3", "session_end", "2024-06-02 12:05:00", LOAD_1B),
        # s4: another org, crosses midnight (counted on its start day)
        session_event("s4-01", "s4", "session_start", "2024-06-01 23:59:00", LOAD_1A, device_class="desktop"),
        session_event(
            "s4-02",
            "s4",
            "analytics_event",
            "2024-06-02 00:00:10",
            LOAD_1A,
            analytics_event_name="Page Navigate",
            analytics_event_properties={"Page-Name": "Claim form"},
        ),
        session_event("s4-03", "s4", "session_end", "2024-06-02 00:01:00", LOAD_1A),
        # s1: closed, actions and errors, two CSATs, a time-on-page metric
        session_event("s1-01", "s1", "session_start", "2024-06-02 09:00:00", LOAD_1A, device_class="desktop"),
        action("s1-02", "s1", "action_run", "2024-06-02 09:00:05", LOAD_1A, "act-lookup"),
        action("s1-03", "s1", "action_run", "2024-06-02 09:00:10", LOAD_1A, "act-lookup"),
        action("s1-04", "s1", "action_run", "2024-06-02 09:00:20", LOAD_1A, "act-notify"),
        action("s1-05", "s1", "action_error", "2024-06-02 09:00:21", LOAD_1A, "act-notify"),
        session_event("s1-06", "s1", "runtime_error", "2024-06-02 09:00:22", LOAD_1A, code="E_TIMEOUT"),
        session_event("s1-07", "s1", "message_sent", "2024-06-02 09:01:00", LOAD_1A),
        session_event("s1-08", "s1", "message_sent", "2024-06-02 09:01:30", LOAD_1A),
        session_event("s1-09", "s1", "message_received", "2024-06-02 09:02:00", LOAD_1A),
        csat("s1-10", "s1", "2024-06-02 09:04:00", LOAD_1A, 4),
        csat("s1-11", "s1", "2024-06-02 09:05:00", LOAD_1A, 5),
        session_event(
            "s1-12",
            "s1",
            "custom_metric",
            "2024-06-02 09:06:00",
            LOAD_1A,
            custom_metric_key="time_on_page",
            custom_metric_field="seconds",
            custom_metric_value=12.5,
        ),
        session_event("s1-13", "s1", "session_end", "2024-06-02 09:10:00", LOAD_1A),
        # s2: open
        session_event("s2-01", "s2", "session_start", "2024-06-02 11:00:00", LOAD_1A, device_class="mobile"),
        session_event("s2-02", "s2", "page_view", "2024-06-02 11:02:30", LOAD_1A),
        # s6: its session_start has not arrived yet, so it looks like a 2024-06-03 session
        session_event("s6-01", "s6", "page_view", "2024-06-03 00:00:30", LOAD_1A),
        session_event("s6-02", "s6", "session_end", "2024-06-03 00:02:00", LOAD_1A),
    ],
    "audit_event": [
        audit_event(
            "a1",
            ACME,
            "user_login",
            "2024-06-02 08:00:00",
            LOAD_1A,
            user_id="u-alice",
            email="alice@acme.example",
            login_type="password",
        ),
        audit_event("a2", ACME, "app_deployed", "2024-06-02 08:30:00", LOAD_1A, user_id="u-alice", app_id=SUPPORT),
        audit_event("a3", GLOBEX, "invalid_login", "2024-06-02 08:31:00", LOAD_1B, email="eve@globex.example"),
    ],
    "platform_event": [
        platform_event("p1", ACME, "connections", "ok", 100, "2024-06-02 09:00:01", LOAD_1B),
        platform_event("p2", ACME, "connections", "ok", 200, "2024-06-02 09:10:00", LOAD_1B),
        platform_event("p3", ACME, "connections", "error", 300, "2024-06-02 10:00:00", LOAD_1B),
        platform_event("p4", ACME, "connections", "timeout", 400, "2024-06-02 11:00:00", LOAD_1B),
        platform_event("p5", ACME, "runtime", "ok", 50, "2024-06-02 11:30:00", LOAD_1B),
        platform_event("p6", ACME, "connections", "ok", 10, "2024-06-01 08:00:00", LOAD_1A),
        platform_event("p7", ACME, "connections", "ok", 20, "2024-06-01 09:00:00", LOAD_1A),
        platform_event("p8", GLOBEX, "connections", "ok", 80, "2024-06-02 09:00:00", LOAD_1A),
    ],
}

LATE_LOAD = {
    "session_event": [
        # s2 closes, three days after it happened
        session_event("s2-03", "s2", "session_end", "2024-06-02 11:05:00", LOAD_2),
        # s1: an earlier CSAT (the 09:05 one stays the last) and one more action run
        csat("s1-14", "s1", "2024-06-02 09:03:00", LOAD_2, 1),
        action("s1-15", "s1", "action_run", "2024-06-02 09:06:00", LOAD_2, "act-escalate"),
        # s6's session_start: the session now starts on 2024-06-02, 2024-06-03 loses its only session
        session_event("s6-00", "s6", "session_start", "2024-06-02 23:59:50", LOAD_2, device_class="tablet"),
        # s7: a new session, on time
        session_event("s7-01", "s7", "session_start", "2024-06-04 09:00:00", LOAD_2, device_class="mobile"),
    ],
    "audit_event": [
        audit_event("a4", ACME, "user_logout", "2024-06-02 17:00:00", LOAD_2, user_id="u-alice"),
        audit_event("a5", ACME, "user_login", "2024-06-03 00:20:00", STAMPED_FIRST, user_id="u-bob"),
    ],
    "platform_event": [
        # a late error for a day already aggregated
        platform_event("p9", ACME, "connections", "error", 30, "2024-06-01 10:00:00", LOAD_2),
    ],
}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def insert_raw(warehouse: Path, tables: dict[str, list[dict[str, Any]]]) -> None:
    """The rows, and one ops.load_commit row per commit they carry, in one transaction (as a load commit)."""
    commits: dict[int, list[dict[str, Any]]] = {}
    with duckdb.connect(str(warehouse)) as con:
        con.begin()
        for table, rows in tables.items():
            for row in rows:
                columns = ", ".join(row)
                placeholders = ", ".join("?" for _ in row)
                con.execute(f"insert into raw.{table} ({columns}) values ({placeholders})", list(row.values()))
                commits.setdefault(row["_commit_seq"], []).append(row)
        for commit_seq, rows in sorted(commits.items()):
            con.execute(
                "insert into ops.load_commit (commit_seq, batch_id, commit_kind, files, lines, loaded, duplicates,"
                " quarantined, committed_at) values (?, ?, 'load', 1, ?, ?, 0, 0, ?)",
                [commit_seq, rows[0]["_batch_id"], len(rows), len(rows), rows[0]["_loaded_at"]],
            )
        con.commit()


def query(warehouse: Path, sql: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def execute(warehouse: Path, sql: str) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(sql)


def snapshot(warehouse: Path) -> dict[str, list[dict[str, Any]]]:
    return {mart: query(warehouse, f"select * from marts.{mart} order by {key}") for mart, key in MARTS.items()}


def by_key(rows: list[dict[str, Any]], *key: str) -> dict[Any, dict[str, Any]]:
    return {tuple(row[k] for k in key) if len(key) > 1 else row[key[0]]: row for row in rows}


def run_dbt(tmp_path: Path, home: Path, *args: str) -> str:
    """dbt in a subprocess: dbt-duckdb keeps its DuckDB instance open in the process that ran it,
    which would stop this test from opening the warehouse file with its own settings."""
    dbt = Path(sys.executable).with_name("dbt")
    if not dbt.exists():
        dbt = Path(shutil.which("dbt") or "dbt")
    env = {
        **os.environ,
        "EVENTPIPE_HOME": str(home),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    command = [
        str(dbt),
        *args,
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(tmp_path / "target"),
        "--log-path",
        str(tmp_path / "logs"),
        "--no-use-colors",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, check=False)
    output = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, f"dbt {' '.join(args)} failed:\n{output}"
    return result.stdout


@pytest.fixture
def dbt_build(tmp_path: Path, warehouse: Path):
    """The FULL `dbt build` (CI: `ci_only` tests and unit tests included); returns the unique_ids
    of the nodes it ran."""

    def run(*extra: str) -> set[str]:
        run_dbt(tmp_path, warehouse.parent, "build", *extra)
        run_results = json.loads((tmp_path / "target" / "run_results.json").read_text())
        return {result["unique_id"] for result in run_results["results"]}

    return run


def ci_only_nodes(tmp_path: Path) -> set[str]:
    """unique_ids of the data and unit tests tagged `ci_only`, from the manifest the last dbt command wrote."""
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    nodes = [*manifest["nodes"].values(), *manifest["unit_tests"].values()]
    return {node["unique_id"] for node in nodes if "ci_only" in node["config"].get("tags", [])}


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """A fresh EVENTPIPE_HOME with the loader's raw tables, empty."""
    home = tmp_path / "eventpipe_home"
    home.mkdir()
    path = home / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(CREATE_TABLES_SQL.read_text())
    return path


# --------------------------------------------------------------------------------------------
# the test
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_marts_exact_then_late_data_then_full_refresh(tmp_path: Path, warehouse: Path, dbt_build) -> None:
    insert_raw(warehouse, FIRST_LOADS)
    ran = dbt_build()

    # the full build, not the hourly one: every ci_only test and every unit test ran
    ci_only = ci_only_nodes(tmp_path)
    assert len([node for node in ci_only if node.startswith("unit_test.")]) == 8
    assert len(ci_only) > 40
    assert ci_only <= ran

    # ---- first build: exact values ----------------------------------------------------------
    sessions = by_key(query(warehouse, "select * from marts.fct_sessions"), "session_id")
    assert set(sessions) == {"s1", "s2", "s3", "s4", "s6"}
    assert sessions["s1"] == {
        "session_id": "s1",
        "organization_id": ACME,
        "app_id": SUPPORT,
        "branch_id": "branch-main",
        "deploy_id": "deploy-app-support-7",
        "started_at": ts("2024-06-02 09:00:00"),
        "ended_at": ts("2024-06-02 09:10:00"),
        "last_event_at": ts("2024-06-02 09:10:00"),
        "is_closed": True,
        "status": "closed",
        "event_count": 13,
        "action_runs": 3,
        "actions_fired": 2,
        "action_errors": 1,
        "runtime_errors": 1,
        "messages_sent": 2,
        "messages_received": 1,
        "duration_ms": 600_000,
        "device_class": "desktop",
        "csat_score": 5.0,
        "_max_loaded_at": LOAD_1A,
        "_min_loaded_at": LOAD_1A,
        "_max_commit_seq": 1,
        "_min_commit_seq": 1,
    }
    assert {k: sessions["s2"][k] for k in ("status", "ended_at", "duration_ms", "device_class", "csat_score")} == {
        "status": "open",
        "ended_at": None,
        "duration_ms": 150_000,
        "device_class": "mobile",
        "csat_score": None,
    }
    assert (sessions["s3"]["status"], sessions["s3"]["duration_ms"], sessions["s3"]["csat_score"]) == (
        "closed",
        300_000,
        None,
    )
    assert (sessions["s4"]["organization_id"], sessions["s4"]["duration_ms"], sessions["s4"]["event_count"]) == (
        GLOBEX,
        120_000,
        3,
    )
    assert (sessions["s6"]["started_at"], sessions["s6"]["device_class"], sessions["s6"]["duration_ms"]) == (
        ts("2024-06-03 00:00:30"),
        None,
        90_000,
    )

    metrics = by_key(query(warehouse, "select * from marts.fct_custom_metric_values"), "event_id")
    assert set(metrics) == {"s1-10", "s1-11", "s1-12", "s3-02"}
    assert metrics["s1-11"] == {
        "event_id": "s1-11",
        "session_id": "s1",
        "organization_id": ACME,
        "app_id": SUPPORT,
        "event_time": ts("2024-06-02 09:05:00"),
        "metric_key": "CSAT",
        "metric_field": "score",
        "value_number": 5.0,
        "value_text": "5",
        "_loaded_at": LOAD_1A,
        "_commit_seq": 1,
    }
    assert (metrics["s1-12"]["value_number"], metrics["s1-12"]["value_text"]) == (12.5, "12.5")
    assert (metrics["s3-02"]["value_number"], metrics["s3-02"]["value_text"]) == (None, "great")

    assert query(warehouse, "select count(*) as n from marts.fct_session_events") == [{"n": 23}]
    event = query(warehouse, "select * from marts.fct_session_events where event_id = 's4-02'")[0]
    assert (event["event_date"], event["analytics_event_name"]) == (ts("2024-06-02 00:00:00").date(), "Page Navigate")
    audit = by_key(query(warehouse, "select * from marts.fct_audit_events"), "event_id")
    assert set(audit) == {"a1", "a2", "a3"}
    assert (audit["a1"]["email"], audit["a1"]["login_type"], audit["a1"]["event_date"].isoformat()) == (
        "alice@acme.example",
        "password",
        "2024-06-02",
    )
    assert query(warehouse, "select count(*) as n from marts.fct_platform_events") == [{"n": 8}]

    app_daily = by_key(
        query(warehouse, "select * from marts.agg_app_daily"), "organization_id", "app_id", "activity_date"
    )
    day = lambda s: datetime.fromisoformat(s).date()  # noqa: E731
    assert {k: _app_day(v) for k, v in app_daily.items()} == {
        (ACME, SUPPORT, day("2024-06-02")): (3, 2, pytest.approx(2 / 3), 450_000.0),
        (ACME, SUPPORT, day("2024-06-03")): (1, 1, 1.0, 90_000.0),
        (GLOBEX, CLAIMS, day("2024-06-01")): (1, 1, 1.0, 120_000.0),
    }
    platform_daily = by_key(
        query(warehouse, "select * from marts.agg_platform_daily"), "organization_id", "service", "event_date"
    )
    assert {k: _service_day(v) for k, v in platform_daily.items()} == {
        (ACME, "connections", day("2024-06-02")): (4, 2, 0.5, 250.0, pytest.approx(385.0)),
        (ACME, "runtime", day("2024-06-02")): (1, 0, 0.0, 50.0, 50.0),
        (ACME, "connections", day("2024-06-01")): (2, 0, 0.0, 15.0, pytest.approx(19.5)),
        (GLOBEX, "connections", day("2024-06-02")): (1, 0, 0.0, 80.0, 80.0),
    }

    # ---- late data --------------------------------------------------------------------------
    # Mark rows no late event touches: an incremental run must not even rewrite them. s3 is of the
    # last commit the first build absorbed (2, LOAD_1B): the marts take the commits strictly above
    # it, and re-read nothing. s1, s2 and s6 date from commit 1: their recomputation has to read
    # events of commits older than the one the marts absorbed.
    before = snapshot(warehouse)
    execute(warehouse, "update marts.fct_sessions set device_class = 'untouched' where session_id in ('s3', 's4')")
    execute(warehouse, f"update marts.agg_app_daily set median_duration_ms = -1 where organization_id = '{GLOBEX}'")
    execute(warehouse, f"update marts.agg_platform_daily set p50_duration_ms = -1 where organization_id = '{GLOBEX}'")

    insert_raw(warehouse, LATE_LOAD)
    dbt_build()

    assert query(warehouse, "select device_class from marts.fct_sessions where session_id in ('s3', 's4')") == [
        {"device_class": "untouched"},
        {"device_class": "untouched"},
    ]
    globex = f"where organization_id = '{GLOBEX}'"
    assert query(warehouse, f"select median_duration_ms as m from marts.agg_app_daily {globex}") == [{"m": -1}]
    assert query(warehouse, f"select p50_duration_ms as m from marts.agg_platform_daily {globex}") == [{"m": -1}]
    execute(warehouse, "update marts.fct_sessions set device_class = 'desktop' where session_id = 's4'")
    execute(warehouse, "update marts.fct_sessions set device_class = 'tablet' where session_id = 's3'")
    execute(warehouse, f"update marts.agg_app_daily set median_duration_ms = 120000 where organization_id = '{GLOBEX}'")
    execute(warehouse, f"update marts.agg_platform_daily set p50_duration_ms = 80 where organization_id = '{GLOBEX}'")

    after = snapshot(warehouse)
    sessions = by_key(after["fct_sessions"], "session_id")
    assert set(sessions) == {"s1", "s2", "s3", "s4", "s6", "s7"}
    # s1 recomputed from all its events: csat still the 09:05 one (the late CSAT happened earlier)
    assert {k: sessions["s1"][k] for k in ("event_count", "action_runs", "actions_fired", "csat_score")} == {
        "event_count": 15,
        "action_runs": 4,
        "actions_fired": 3,
        "csat_score": 5.0,
    }
    assert (sessions["s1"]["_max_loaded_at"], sessions["s1"]["_max_commit_seq"]) == (LOAD_2, 3)
    # its rebuild read raw from its first commit on (the pruning bound), and keeps that bound
    assert (sessions["s1"]["_min_loaded_at"], sessions["s1"]["_min_commit_seq"]) == (LOAD_1A, 1)
    # s2 closed by its late session_end
    assert {k: sessions["s2"][k] for k in ("status", "is_closed", "ended_at", "duration_ms", "event_count")} == {
        "status": "closed",
        "is_closed": True,
        "ended_at": ts("2024-06-02 11:05:00"),
        "duration_ms": 300_000,
        "event_count": 3,
    }
    # s6 now starts on the previous day, with a device class
    assert {k: sessions["s6"][k] for k in ("started_at", "device_class", "duration_ms", "event_count")} == {
        "started_at": ts("2024-06-02 23:59:50"),
        "device_class": "tablet",
        "duration_ms": 130_000,
        "event_count": 3,
    }
    assert (sessions["s7"]["status"], sessions["s7"]["duration_ms"]) == ("open", 0)
    # untouched sessions are unchanged
    old_sessions = by_key(before["fct_sessions"], "session_id")
    assert sessions["s3"] == old_sessions["s3"]
    assert sessions["s4"] == old_sessions["s4"]

    app_daily = by_key(after["agg_app_daily"], "organization_id", "app_id", "activity_date")
    assert {k: _app_day(v) for k, v in app_daily.items()} == {
        # s1, s2 (now closed), s3, s6 (moved here): durations 600000, 300000, 300000, 130000
        (ACME, SUPPORT, day("2024-06-02")): (4, 4, 1.0, 300_000.0),
        # 2024-06-03 lost its only session: no row
        (ACME, SUPPORT, day("2024-06-04")): (1, 0, 0.0, None),
        (GLOBEX, CLAIMS, day("2024-06-01")): (1, 1, 1.0, 120_000.0),
    }
    old_app_daily = by_key(before["agg_app_daily"], "organization_id", "app_id", "activity_date")
    assert app_daily[(GLOBEX, CLAIMS, day("2024-06-01"))] == old_app_daily[(GLOBEX, CLAIMS, day("2024-06-01"))]

    platform_daily = by_key(after["agg_platform_daily"], "organization_id", "service", "event_date")
    assert _service_day(platform_daily[(ACME, "connections", day("2024-06-01"))]) == (
        3,
        1,
        pytest.approx(1 / 3),
        20.0,
        pytest.approx(29.0),
    )
    old_platform_daily = by_key(before["agg_platform_daily"], "organization_id", "service", "event_date")
    for org, service in [(ACME, "connections"), (ACME, "runtime"), (GLOBEX, "connections")]:
        key = (org, service, day("2024-06-02"))
        assert platform_daily[key] == old_platform_daily[key]

    assert len(after["fct_session_events"]) == 28
    assert len(after["fct_custom_metric_values"]) == 5
    audit = by_key(after["fct_audit_events"], "event_id")
    assert set(audit) == {"a1", "a2", "a3", "a4", "a5"}
    assert (audit["a5"]["_loaded_at"], audit["a5"]["_commit_seq"]) == (STAMPED_FIRST, 4)
    assert len(after["fct_platform_events"]) == 9

    # ---- full refresh rebuilds the same marts ---------------------------------------------------
    dbt_build("--full-refresh")
    assert snapshot(warehouse) == after


# Mart -> its key column (the incremental unique_key).
MART_KEYS = {
    "fct_session_events": "event_id",
    "fct_custom_metric_values": "event_id",
    "fct_audit_events": "event_id",
    "fct_platform_events": "event_id",
    "agg_app_daily": "app_day_key",
    "agg_platform_daily": "service_day_key",
}


@pytest.mark.timeout(120)
def test_hourly_build_keeps_the_critical_tests_and_stays_small(tmp_path: Path) -> None:
    """GIVEN the selection the hourly DAG runs (`--exclude tag:ci_only tag:time_spine`: the semantic layer's time
    spine is a calendar built once, eventpipe.orchestrate.dbt_config),
    THEN it keeps every test that guards a load (unique + not_null on every mart key, relationships,
    accepted_values, invariants), leaves out the unit tests and the source not_null tests the raw DDL
    already enforces (test_raw_ddl_enforces_what_the_ci_only_source_tests_check), and stays around 33 nodes."""
    listed = run_dbt(
        tmp_path,
        tmp_path,
        "ls",
        "--exclude",
        "tag:ci_only",
        "tag:time_spine",
        "--resource-type",
        "model",
        "--resource-type",
        "test",
        "--resource-type",
        "unit_test",
        "--output",
        "json",
    )
    nodes = [json.loads(line) for line in listed.splitlines() if line.startswith("{")]
    executed = [n for n in nodes if n["config"].get("materialized") != "ephemeral"]
    tests = {n["name"] for n in nodes if n["resource_type"] == "test"}

    assert not [n for n in nodes if n["resource_type"] == "unit_test"]
    assert not [n for n in nodes if "ci_only" in n["tags"]]
    assert len([n for n in executed if n["resource_type"] == "model"]) == 10
    assert not [t for t in tests if t.startswith("source_")]
    for mart, key in MART_KEYS.items():
        assert {f"unique_{mart}_{key}", f"not_null_{mart}_{key}"} <= tests
    # a session is (organization_id, session_id): unique and not null on the pair, relationships on it
    assert {"fct_sessions_unique_organization_session", "not_null_fct_sessions_organization_id",
            "not_null_fct_sessions_session_id"} <= tests  # fmt: skip
    assert {"fct_session_events_session_in_fct_sessions", "fct_custom_metric_values_session_in_fct_sessions"} <= tests
    assert not [t for t in tests if t.startswith("relationships_")]
    assert {t.split("__")[0] for t in tests if t.startswith("accepted_values_")} == {
        "accepted_values_fct_session_events_event_type",
        "accepted_values_fct_audit_events_event_type",
        "accepted_values_fct_sessions_status",
    }
    assert {
        "fct_sessions_invariants",
        "agg_app_daily_counts_and_completion_rate",
        "agg_platform_daily_counts_and_error_rate",
    } <= tests
    assert len(executed) <= 35, sorted(n["name"] for n in executed)


RAW_NOT_NULL = ("event_id", "organization_id", "event_time", "event_type", "_loaded_at", "_commit_seq")


def test_raw_ddl_enforces_what_the_ci_only_source_tests_check(tmp_path: Path) -> None:
    """GIVEN the source not_null tests (event ids, organizations, times, types, load times and commits) run in CI
    only,
    THEN both engines' raw DDL declares those columns NOT NULL, so no load can leave a NULL there: DuckDB
    refuses the insert (checked on a real table), and Snowflake's DDL, which Snowflake enforces, says so too."""
    import sqlglot
    from sqlglot import exp

    from eventpipe.sql import load_sql

    schema = yaml.safe_load((PROJECT_DIR / "models" / "staging" / "_raw__sources.yml").read_text())
    [source] = [source for source in schema["sources"] if source["name"] == "raw"]  # (ops: load_commit, read only)
    tested = {
        (table["name"], column["name"])
        for table in source["tables"]
        for column in table.get("columns", [])
        for test in column.get("data_tests", [])
        if isinstance(test, dict) and "not_null" in test and "ci_only" in test["not_null"]["config"]["tags"]
    }
    raw_tables = ("session_event", "audit_event", "platform_event")
    assert tested == {(table, column) for table in raw_tables for column in RAW_NOT_NULL}

    con = duckdb.connect(str(tmp_path / "ddl.duckdb"))
    con.execute(load_sql("duckdb", "create_tables"))
    nullable = con.execute(
        "select table_name, column_name from information_schema.columns"
        " where table_schema = 'raw' and is_nullable = 'NO'"
    ).fetchall()
    assert tested <= set(nullable)
    for loaded_at, commit_seq in (("null", "1"), ("now()", "null")):
        with pytest.raises(duckdb.ConstraintException):
            con.execute(
                "insert into raw.audit_event (event_id, organization_id, event_time, event_type, payload, _source_file,"
                f" _line_number, _batch_id, _loaded_at, _commit_seq) values ('e', 'o', now(), 't', '{{}}', 'f', 1, 'b',"
                f" {loaded_at}, {commit_seq})"
            )

    declared = set()
    for statement in sqlglot.parse(load_sql("snowflake", "create_tables"), read="snowflake"):
        if isinstance(statement, exp.Create) and isinstance(statement.this, exp.Schema):
            table = statement.this.this.name
            for column in statement.this.find_all(exp.ColumnDef):
                if any(isinstance(c.kind, exp.NotNullColumnConstraint) for c in column.constraints):
                    declared.add((table, column.name))
    assert tested <= declared


def _app_day(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["sessions_started"], row["sessions_completed"], row["completion_rate"], row["median_duration_ms"])


def _service_day(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["events"], row["errors"], row["error_rate"], row["p50_duration_ms"], row["p95_duration_ms"])
