"""A small loaded warehouse (generated events, loaded by the real loader; no dbt) for the delivery tests."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pytest

from eventpipe import warehouse
from eventpipe.deliver.config import parse_destinations
from eventpipe.generate import generate
from eventpipe.load import load_interval

START = datetime(2026, 11, 27, 6)
HOURS = (START, START.replace(hour=7))


@pytest.fixture(scope="session")
def loaded_warehouse(tmp_path_factory):
    """Two arrival hours of 2 organizations, loaded; each test copies the file so the tests stay independent."""
    root = tmp_path_factory.mktemp("deliver_source")
    landing = root / "landing"
    generate(landing=str(landing), start=START, hours=2, orgs=2, sessions_per_hour=5, seed=3, files_per_hour=2)
    path = root / "warehouse.duckdb"
    with warehouse.connect(path) as con:
        for hour in HOURS:
            load_interval(con, str(landing), hour, run_id="fixture")
        con.execute("checkpoint")
    return path


@pytest.fixture
def con(loaded_warehouse, eventpipe_home):
    path = eventpipe_home / "warehouse.duckdb"
    path.write_bytes(loaded_warehouse.read_bytes())
    connection = warehouse.connect(path)
    yield connection
    connection.close()


def interval_ids(con: duckdb.DuckDBPyConnection, table: str, interval_start: datetime, where: str = "true") -> set:
    rows = con.execute(
        f"SELECT e.event_id FROM raw.{table} e JOIN ops.loaded_file f ON e._source_file = f.source_file"
        f" WHERE f.interval_start = ? AND {where}",
        [interval_start],
    ).fetchall()
    return {row[0] for row in rows}


def destinations(**entries) -> list:
    return parse_destinations({"destinations": entries})


def http_conn(url: str, password: str | None = None) -> str:
    host, port = url.removeprefix("http://").split(":")
    conn = {"conn_type": "http", "host": host, "port": int(port), "schema": "http"}
    if password:
        conn["password"] = password
    return json.dumps(conn)
