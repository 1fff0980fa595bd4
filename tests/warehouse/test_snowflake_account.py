"""Opt-in: the loader on a REAL Snowflake account (skipped, and reported as skipped, without credentials).

The same checks as tests/warehouse/test_snowflake_loader.py runs on the emulator: one generated hour loaded
through PUT + COPY INTO + MERGE, the same counts as the embedded loader, a re-run that loads nothing,
and a balanced reconciliation. Everything lands in a throw-away database (EVENTPIPE_LOAD_TEST_<random>)
that is dropped at the end.

    SNOWFLAKE_ACCOUNT=... SNOWFLAKE_USER=... SNOWFLAKE_PASSWORD=... SNOWFLAKE_WAREHOUSE=... \\
    SNOWFLAKE_ROLE=... uv run --frozen pytest -m snowflake -ra
"""

from __future__ import annotations

import secrets
from datetime import datetime

import pytest

from eventpipe import warehouse
from eventpipe.devtools.generate.landing import generate
from eventpipe.ingest import load, reconcile
from eventpipe.warehouse.connections import connect_snowflake, credentials_in_env
from eventpipe.warehouse.snowflake_engine import SnowflakeWarehouse

pytestmark = [
    pytest.mark.snowflake,
    pytest.mark.skipif(
        not credentials_in_env(),
        reason="needs a real Snowflake account: set SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and SNOWFLAKE_PASSWORD"
        " (or SNOWFLAKE_PRIVATE_KEY), SNOWFLAKE_WAREHOUSE and a SNOWFLAKE_ROLE that can create a database",
    ),
]

HOUR = datetime(2026, 11, 26, 10)


@pytest.fixture(scope="module")
def account_warehouse():
    conn = connect_snowflake()
    database = f"EVENTPIPE_LOAD_TEST_{secrets.token_hex(4).upper()}"
    conn.cursor().execute(f"create database {database}")
    conn.cursor().execute(f"use database {database}")
    try:
        yield SnowflakeWarehouse(conn)
    finally:
        conn.cursor().execute(f"drop database if exists {database}")
        conn.close()


def test_the_loader_on_a_real_account(account_warehouse, tmp_path):
    landing = str(tmp_path / "landing")
    generate(landing=landing, start=HOUR, hours=1, orgs=2, sessions_per_hour=5, seed=3, files_per_hour=2)
    with warehouse.connect(tmp_path / "wh.duckdb") as con:
        expected = load.load_interval(con, landing, HOUR, run_id="real")
    loaded = load.load_interval(account_warehouse, landing, HOUR, run_id="real")
    assert (loaded.lines, loaded.loaded, loaded.duplicates, loaded.quarantined) == (
        expected.lines,
        expected.loaded,
        expected.duplicates,
        expected.quarantined,
    )
    again = load.load_interval(account_warehouse, landing, HOUR, run_id="real", attempt=2)
    assert again.files_loaded == 0 and again.files_skipped == loaded.files_loaded
    assert reconcile.reconcile_interval(account_warehouse, landing, HOUR).balanced
