"""The same generated hours through ``eventpipe run`` on both targets: the embedded DuckDB, and the
Snowflake emulator (fakesnow over HTTP, the real snowflake-connector and dbt-snowflake, loaded with
PUT + COPY INTO + MERGE). Every raw table, the ledger and every mart must hold the same rows.

Only what records *when* or *by which run or commit* a row was loaded differs by construction (``_loaded_at``,
``_batch_id``, ``_commit_seq``, the marts' ``_max_loaded_at`` and ``_max_commit_seq``...): columns starting with
``_`` and the load timestamps are left out of the comparison; everything else is compared row for row.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from datetime import datetime, timedelta

import duckdb
import pytest

from eventpipe.devtools import emulator
from eventpipe.devtools.generate.landing import generate
from tests.tenant_support import (
    SHARED_SESSION_ID,
    organizations_and_apps,
    session_event,
    write_colliding_sessions,
    write_landing,
)
from tests.warehouse_compare import MARTS, normalized

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

START = datetime(2026, 11, 27, 6)
HOURS = 2
TABLES = [
    "raw.session_event",
    "raw.audit_event",
    "raw.platform_event",
    "raw.quarantined_event",
    "ops.loaded_file",
    "ops.load_commit_unit",
    "ops.delivery_part",
    "ops.delivery_done",
    "ops.delivery_dead_letter",
    *(f"marts.{mart}" for mart in MARTS),
]
# How a table is read, where not whole: a dead letter's reason says how old the event was when it was refused (GA4
# takes events up to 72 hours old; these hours are older), which differs between two runs: its code is compared.
READ = {
    "ops.delivery_dead_letter": "SELECT * EXCLUDE (reason), split_part(reason, ':', 1) AS reason"
    " FROM ops.delivery_dead_letter"
}


def eventpipe(home, landing, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, EVENTPIPE_HOME=str(home), EVENTPIPE_LANDING=str(landing))
    result = subprocess.run(
        [sys.executable, "-m", "eventpipe.cli", *args], env=env, capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, f"eventpipe {' '.join(args)} failed:\n{result.stdout}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    root = tmp_path_factory.mktemp("two_targets")
    landing = root / "landing"
    truth = generate(
        landing=str(landing),
        start=START,
        hours=HOURS,
        orgs=2,
        sessions_per_hour=4,
        seed=23,
        late_fraction=0.08,
        duplicate_fraction=0.05,
        malformed_fraction=0.04,
        files_per_hour=3,
    )
    # Two organizations' sessions of one id (tests.tenant_support), the second's touched again an hour later:
    # both engines must keep them apart, through the incremental run of hour 07 too.
    (first, first_app), (second, second_app) = organizations_and_apps(truth)
    write_colliding_sessions(landing, (first, second), (first_app, second_app), START)
    late = session_event(second, second_app, SHARED_SESSION_ID, 9, "session_end", START + timedelta(minutes=55))
    write_landing(landing, START + timedelta(hours=1), [late], "colliding-late.ndjson.gz")
    window = ("--start", "2026-11-27T06:00", "--end", "2026-11-27T08:00")
    runs = {}
    for target in ("duckdb", "snowflake-emulator"):
        home = root / target
        runs[target] = eventpipe(home, landing, "run", "--hourly", *window, "--target", target)
    return root, runs


def read_duckdb(home) -> dict:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        tables = {}
        for table in TABLES:
            cursor = con.execute(READ.get(table, f"SELECT * FROM {table}"))
            tables[table] = normalized([d[0].lower() for d in cursor.description], cursor.fetchall())
        return tables


def read_emulator(home) -> dict:
    """What the emulated Snowflake stored, read from its database file.

    Not through the connector: fakesnow's HTTP server sends a NULL TIMESTAMP_NTZ as 1970-01-01
    (``test_the_emulator_answers_null_timestamps_as_the_epoch`` shows it), which would hide a real
    difference behind a wire-format bug of the emulator.
    """
    with duckdb.connect(str(home / "snowflake" / "ANALYTICS.db"), read_only=True) as con:
        tables = {}
        for table in TABLES:
            cursor = con.execute(READ.get(table, f"SELECT * FROM {table}"))
            tables[table] = normalized([d[0].lower() for d in cursor.description], cursor.fetchall())
        return tables


def test_both_targets_hold_the_same_rows_in_every_table(homes):
    root, _ = homes
    on_duckdb, on_snowflake = read_duckdb(root / "duckdb"), read_emulator(root / "snowflake-emulator")
    for table in TABLES:
        duck_columns, duck_rows = on_duckdb[table]
        snow_columns, snow_rows = on_snowflake[table]
        assert duck_columns == snow_columns, table
        assert duck_rows, f"{table} is empty: the comparison would prove nothing"
        assert len(duck_rows) == len(snow_rows), f"{table}: {len(duck_rows)} rows on DuckDB, {len(snow_rows)}"
        for duck_row, snow_row in zip(duck_rows, snow_rows, strict=True):
            assert duck_row == snow_row, f"{table} differs:\n duckdb    {duck_row}\n snowflake {snow_row}"


def test_both_targets_keep_two_organizations_sessions_of_one_id_apart(homes):
    root, _ = homes
    sql = ("SELECT organization_id, status, event_count, action_runs, messages_sent, csat_score FROM marts.fct_sessions"
           f" WHERE session_id = '{SHARED_SESSION_ID}' ORDER BY organization_id")  # fmt: skip
    with duckdb.connect(str(root / "duckdb" / "warehouse.duckdb"), read_only=True) as con:
        on_duckdb = con.execute(sql).fetchall()
    with duckdb.connect(str(root / "snowflake-emulator" / "snowflake" / "ANALYTICS.db"), read_only=True) as con:
        on_snowflake = [(o, s, int(e), int(a), int(m), c) for o, s, e, a, m, c in con.execute(sql).fetchall()]
    # first organization: closed, 2 action runs, CSAT 5; second: 3 messages, CSAT 2, closed by the late event
    assert [row[1:] for row in on_duckdb] == [("closed", 5, 2, 0, 5.0), ("closed", 6, 0, 3, 2.0)]
    assert on_snowflake == on_duckdb and len({row[0] for row in on_duckdb}) == 2


def test_the_emulator_run_reports_the_same_figures_and_deliveries(homes):
    root, runs = homes
    summary = runs["snowflake-emulator"].stdout
    assert "events loaded" in summary and "sessions" in summary

    # The same summary on both targets, line for line: files, lines, loaded, duplicates, quarantined by
    # reason, rows per raw table, sessions, completion, CSAT, and per destination the events delivered
    # (from each warehouse's ops.delivery_part), the marts' counts and what the local receivers got.
    assert "deliveries" in summary
    assert summary.splitlines() == runs["duckdb"].stdout.splitlines()
    # The emulator's databases persist as files under the run's EVENTPIPE_HOME.
    assert (root / "snowflake-emulator" / "snowflake" / "ANALYTICS.db").exists()


def test_the_emulator_answers_null_timestamps_as_the_epoch(homes):
    """Why the comparison reads the emulator's file: open sessions have no ended_at, which the
    connector receives as 1970-01-01 from fakesnow. If this starts failing, fakesnow fixed it and
    ``read_emulator`` can go through the connector."""
    from snowflake import connector

    root, _ = homes
    home = root / "snowflake-emulator"
    with emulator.running(directory=home / "snowflake", log_path=home / "logs" / "emulator-read.log") as endpoint:
        conn = connector.connect(
            user="reader",
            password="emulator",
            account="fakesnow",
            host=endpoint.host,
            port=endpoint.port,
            protocol="http",
            database="ANALYTICS",
        )
        try:
            rows = (
                conn.cursor()
                .execute("SELECT ended_at, ended_at IS NULL FROM marts.fct_sessions WHERE status = 'open'")
                .fetchall()
            )
        finally:
            conn.close()
    assert rows, "the generated hours have open sessions"
    assert all(is_null for _, is_null in rows)
    assert {ended_at for ended_at, _ in rows} == {datetime(1970, 1, 1)}


def test_the_runs_are_dated_with_their_real_start_and_end(homes):
    """``dag.test()`` dated a run's start at its logical date, so an hour from days ago showed in the UI as a run
    lasting days; ``eventpipe run`` records when each run really started."""
    import sqlite3
    from datetime import timedelta

    root, _ = homes
    for target in ("duckdb", "snowflake-emulator"):
        with contextlib.closing(sqlite3.connect(root / target / "airflow" / "airflow.db")) as db:
            rows = db.execute(
                "SELECT logical_date, start_date, end_date FROM dag_run WHERE dag_id = 'event_pipeline'"
            ).fetchall()
        assert len(rows) == HOURS, rows
        for logical, start, end in rows:
            started, ended = datetime.fromisoformat(start), datetime.fromisoformat(end)
            assert started > datetime.fromisoformat(logical), f"{target}: a run dated at its logical date {logical}"
            assert timedelta(0) < ended - started < timedelta(minutes=20), f"{target}: ran {ended - started}"
