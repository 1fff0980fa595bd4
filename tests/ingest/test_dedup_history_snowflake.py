"""The dedup-against-history property (tests/ingest/test_dedup_history_property.py, its parts in
tests/ingest/history_support.py) on the Snowflake emulator (fakesnow over HTTP, the real snowflake-connector), with
fewer examples: the same generated loads land once and load, load after load, into a fresh emulated database and a
fresh DuckDB warehouse side by side; the property is checked after every load on each, and the two engines' outcomes
are equal after every load: the same rows kept (id, table, file, line, commit, organization, event time), the same
ledger rows and quarantined lines, the same commits with the same totals, the same figures per load."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given, settings

from eventpipe import warehouse
from eventpipe.devtools import emulator
from eventpipe.warehouse.snowflake_engine import SnowflakeWarehouse
from tests.ingest.history_support import SETTINGS, TOTALS, run_scenario, scenarios, summary

DATABASES = itertools.count(1)  # one fresh emulated database per example: each starts from an empty warehouse


@pytest.fixture
def endpoint(tmp_path):
    with emulator.running(directory=tmp_path / "sf", log_path=tmp_path / "emulator.log") as running:
        yield running


def connect(endpoint) -> SnowflakeWarehouse:
    from snowflake import connector

    conn = connector.connect(
        user="loader",
        password="emulator",
        account="fakesnow",
        host=endpoint.host,
        port=endpoint.port,
        protocol="http",
        database=f"HISTORY_{next(DATABASES)}",
    )
    return SnowflakeWarehouse(conn)


@settings(max_examples=12, **SETTINGS)
@given(scenario=scenarios(min_loads=3, max_loads=4, event_ids=8))  # fewer ids: more copies across loads
def both_engines(endpoint, tmp_path_factory, monkeypatch, scenario):
    root = tmp_path_factory.mktemp("history_sf")
    snowflake = connect(endpoint)
    try:
        with warehouse.connect(root / "wh.duckdb") as con:
            targets = [warehouse.as_warehouse(con), snowflake]
            (duckdb_outcomes, duckdb_figures), (outcomes, figures) = run_scenario(
                targets, str(root / "landing"), scenario, monkeypatch
            )
    finally:
        snowflake.close()
    # After every load: the same rows kept, ledger, quarantine and commits; the same figures per load.
    for after, (on_snowflake, on_duckdb) in enumerate(zip(outcomes, duckdb_outcomes, strict=True)):
        assert on_snowflake == on_duckdb, f"after load {after}"
    assert figures == duckdb_figures
    TOTALS["examples"] += 1


@pytest.mark.slow  # ~1-2 min: the emulator answers each statement over HTTP
@pytest.mark.emulator
def test_dedup_against_history_on_the_emulator_as_on_duckdb(endpoint, tmp_path_factory, monkeypatch):
    TOTALS.clear()
    started = time.perf_counter()
    both_engines(endpoint, tmp_path_factory, monkeypatch)
    print(summary("dedup-history property (snowflake emulator = duckdb)", time.perf_counter() - started))
    assert TOTALS["duplicates across history"] >= 50 and TOTALS["cross-kind duplicates across history"] >= 25, TOTALS
