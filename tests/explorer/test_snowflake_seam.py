"""The Snowflake seam: the same explorer queries through ``SnowflakeMartsReader`` (Snowflake's connector API,
``%(name)s`` binding, Snowflake SQL) give the same answers as through DuckDB.

The Snowflake side is fakesnow: Snowflake's connector and dialect emulated on DuckDB (sqlglot transpiles
each statement). It checks the binding and that the SQL is Snowflake SQL fakesnow accepts, not a real
account's behaviour.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import fakesnow
import pytest
import snowflake.connector

from eventpipe.explorer.marts import ConfiguredMartsReader, DuckDBMartsReader, SnowflakeMartsReader
from eventpipe.explorer.models import JourneyQuery
from eventpipe.explorer.service import Explorer, NotFound
from tests.tenant_support import SHARED_SESSION_ID

pytestmark = [
    pytest.mark.slow,  # the marts fixture runs event_pipeline
    pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning"),  # fakesnow's own
]

TABLES = [
    "marts.fct_sessions",
    "marts.fct_session_events",
    "marts.fct_custom_metric_values",
    "marts.fct_platform_events",
    "ops.load_batch",
]
SNOWFLAKE_TYPES = {"VARCHAR": "varchar", "TIMESTAMP": "timestamp_ntz", "BOOLEAN": "boolean", "DOUBLE": "double",
                   "BIGINT": "number", "INTEGER": "number", "DATE": "date"}  # fmt: skip


@pytest.fixture(scope="module")
def snowflake_warehouse(warehouse_path):
    """The marts copied into a fake Snowflake database (columns of JSON type left out: the explorer
    reads none)."""
    with fakesnow.patch(), snowflake.connector.connect() as con:
        cursor = con.cursor()
        cursor.execute("create database eventpipe")
        cursor.execute("use database eventpipe")
        cursor.execute("create schema marts")
        cursor.execute("create schema ops")
        with duckdb.connect(str(warehouse_path), read_only=True) as source:
            for table in TABLES:
                columns = [
                    (name, SNOWFLAKE_TYPES[kind])
                    for name, kind, *_ in source.execute(f"describe {table}").fetchall()
                    if kind in SNOWFLAKE_TYPES
                ]
                names = ", ".join(name for name, _ in columns)
                cursor.execute(f"create table {table} ({', '.join(f'{n} {t}' for n, t in columns)})")
                rows = source.execute(f"select {names} from {table}").fetchall()
                placeholders = ", ".join(f"%({name})s" for name, _ in columns)
                cursor.executemany(
                    f"insert into {table} ({names}) values ({placeholders})",
                    [dict(zip([n for n, _ in columns], row, strict=True)) for row in rows],
                )
        yield SnowflakeMartsReader(lambda: snowflake.connector.connect(database="eventpipe"))


QUERIES = [
    {"filters": [{"column": "status", "op": "equals", "value": "open"}]},
    {"filters": [{"column": "deploy", "op": "starts_with", "value": "A"}], "sort": [{"column": "csat"}]},
    {"filters": [{"column": "journey_id", "op": "contains", "value": "_%!"}]},
    {"filters": [{"column": "csat", "op": "not_any_of", "values": [4, 5]},
                 {"column": "closed_event", "op": "has_value"}]},
    {"filters": [{"column": "device_class", "op": "not_equals", "value": "mobile"}],
     "sort": [{"column": "messages", "direction": "desc"}, {"column": "latest_event"}], "page": 2, "page_size": 5},
    {"time_range": {"start": "2026-11-26T10:30:00", "end": "2026-11-26T11:30:00"}, "sort": [{"column": "duration_ms"}]},
]  # fmt: skip


@pytest.mark.parametrize("body", QUERIES, ids=range(len(QUERIES)))
def test_journeys_same_through_both_seams(warehouse_path, snowflake_warehouse, body):
    query = JourneyQuery.model_validate(body)
    expected = Explorer(DuckDBMartsReader(warehouse_path)).journeys(query)
    assert Explorer(snowflake_warehouse).journeys(query) == expected
    assert expected.rows or body["filters"][0]["value"] == "_%!"


def test_session_charts_and_facets_same_through_both_seams(warehouse_path, snowflake_warehouse):
    duck, snow = Explorer(DuckDBMartsReader(warehouse_path)), Explorer(snowflake_warehouse)
    first = duck.journeys(JourneyQuery(page_size=1)).rows[0]
    assert snow.session(first.organization, first.journey_id) == duck.session(first.organization, first.journey_id)
    # two organizations' sessions of one id (conftest): each organization's own, the same through both seams
    shared = JourneyQuery(filters=[{"column": "journey_id", "op": "equals", "value": SHARED_SESSION_ID}])
    rows = duck.journeys(shared).rows
    assert len(rows) == 2 and snow.journeys(shared).rows == rows
    for row in rows:
        assert snow.session(row.organization, SHARED_SESSION_ID) == duck.session(row.organization, SHARED_SESSION_ID)
    assert snow.charts(datetime(1, 1, 1), datetime(9999, 12, 31)) == duck.charts(None, None)
    assert snow.charts(None, None) == duck.charts(None, None)
    assert snow.facet("app", None, 10) == duck.facet("app", None, 10)
    assert snow.data_range() == duck.data_range()


def test_configured_warehouse_follows_eventpipe_target(warehouse_path, snowflake_warehouse, monkeypatch):
    """The plugin's warehouse: DuckDB at $EVENTPIPE_HOME by default, Snowflake as the reader (never the loader)
    when EVENTPIPE_TARGET=snowflake (here its connect function hands out the fakesnow database)."""
    import eventpipe.warehouse.connections

    monkeypatch.setenv("EVENTPIPE_HOME", str(warehouse_path.parent))
    monkeypatch.delenv("EVENTPIPE_TARGET", raising=False)
    configured = ConfiguredMartsReader()
    assert isinstance(configured.current(), DuckDBMartsReader) and configured.current().path == warehouse_path
    expected = Explorer(configured).journeys(JourneyQuery(page_size=5))

    connects = []
    monkeypatch.setattr(
        eventpipe.warehouse.connections,
        "connect_snowflake",
        lambda job, query_tag: connects.append(job) or snowflake.connector.connect(database="eventpipe"),
    )
    monkeypatch.setenv("EVENTPIPE_TARGET", "snowflake")
    monkeypatch.setenv("EVENTPIPE_HOME", str(warehouse_path.parent / "nowhere"))  # DuckDB is not read
    assert isinstance(configured.current(), SnowflakeMartsReader)
    assert Explorer(configured).journeys(JourneyQuery(page_size=5)) == expected
    assert connects and set(connects) == {eventpipe.warehouse.connections.READER}


def test_an_organization_scope_same_through_both_seams(warehouse_path, snowflake_warehouse):
    """A user limited to one organization (roles ``org:<id>``): the scope's bound values through both drivers."""
    duck, snow = Explorer(DuckDBMartsReader(warehouse_path)), Explorer(snowflake_warehouse)
    everything = duck.journeys(JourneyQuery(page_size=200))
    organizations = sorted({row.organization for row in everything.rows})
    assert len(organizations) == 2
    scope = frozenset(organizations[:1])
    query = JourneyQuery(page_size=200)
    expected = duck.journeys(query, scope)
    assert 0 < expected.total < everything.total
    assert {row.organization for row in expected.rows} == set(scope)
    assert snow.journeys(query, scope) == expected
    other = organizations[1]
    for explorer in (duck, snow):
        with pytest.raises(NotFound):
            explorer.session(other, SHARED_SESSION_ID, scope)
        assert explorer.facet("organization", None, 10, scope).model_dump()["values"] == [
            {"value": organizations[0], "sessions": expected.total}
        ]
        assert explorer.data_range(scope).sessions == expected.total
    assert snow.charts(None, None, scope) == duck.charts(None, None, scope) != duck.charts(None, None)
    assert snow.session(organizations[0], SHARED_SESSION_ID, scope) == duck.session(organizations[0], SHARED_SESSION_ID)
