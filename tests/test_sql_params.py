"""The one parameter style of include/eventpipe/sql (``$name``, ``?``) and its translation for each driver
(``eventpipe.sql.to_driver``): DuckDB runs the files as written, the Snowflake connector gets ``pyformat``."""

from __future__ import annotations

import contextlib
import re
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

import eventpipe.sql
from eventpipe.sql import load_sql, read_sql, to_driver

SQL_ROOT = Path(eventpipe.sql.__file__).parent
FOLDERS = ("duckdb", "snowflake", "portable")


def names(folder: str) -> set[str]:
    return {path.stem for path in (SQL_ROOT / folder).glob("*.sql")}


def test_named_parameters_become_pyformat_and_literal_percent_is_doubled():
    sql = "select 100 % 7 as r, '5%' as pct, $batch as b, $batch_id as bid from t where x = $batch_id"
    out = to_driver("snowflake", sql)
    assert out == (
        "select 100 %% 7 as r, '5%%' as pct, %(batch)s as b, %(batch_id)s as bid from t where x = %(batch_id)s"
    )
    # what the connector does with it (client-side binding): the literal % come back single
    assert out % {"batch": "'a'", "batch_id": "'b'"} == (
        "select 100 % 7 as r, '5%' as pct, 'a' as b, 'b' as bid from t where x = 'b'"
    )


def test_stage_columns_format_placeholders_and_strings_are_left_alone_and_comments_dropped():
    sql = (
        "-- Parameter: $interval_start (100%), the ledger's\n"
        "/* $other ?\n */ select $1, t.$2, a$b, '$x ? -- //' as s, \"$y%\" as q, $$ $z $$ as d\n"
        "from raw.event_stage_{token} as t  // $w\n"
        "where t.at = $interval_start"
    )
    out = to_driver("snowflake", sql)
    assert out == (
        "\n"
        "\n select $1, t.$2, a$b, '$x ? -- //' as s, \"$y%%\" as q, $$ $z $$ as d\n"
        "from raw.event_stage_{token} as t  \n"
        "where t.at = %(interval_start)s"
    )
    # str.format fills {token} after the translation (snowflake_load_tables, the MERGEs): nothing else has braces
    assert "raw.event_stage_0a1b" in out.format(token="0a1b")


def test_positional_parameters_become_percent_s():
    assert to_driver("snowflake", "update t set a = ? where b = ? and c like 'x%'") == (
        "update t set a = %s where b = %s and c like 'x%%'"
    )
    with pytest.raises(ValueError, match="not both"):
        to_driver("snowflake", "select $a, ?")


def test_without_parameters_a_statement_is_sent_as_it_stands():
    """The connector %-formats a statement only when it is given parameters: one run without (None, {}, or
    execute_string: the DDL scripts) must keep its single %."""
    sql = "select '5%' as pct, 100 % 7 as r, $1 as staged from @raw.load_stage/{group_dir}/"
    assert to_driver("snowflake", sql) == sql
    assert to_driver("snowflake", "-- 100%\n" + sql) == "\n" + sql


@pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")  # fakesnow's own
def test_translations_run_through_the_snowflake_connector_api():
    """Through the connector's API (fakesnow in process): bound and unbound statements with a literal %."""
    import fakesnow
    import snowflake.connector

    with fakesnow.patch(), snowflake.connector.connect(database="eventpipe", schema="raw") as con:
        cursor = con.cursor()
        sql = "select '5%' as pct, 100 % 7 as r, $batch as b, $batch_id as bid -- 100% $x"
        cursor.execute(to_driver("snowflake", sql), {"batch": "a", "batch_id": "b"})
        assert cursor.fetchall() == [("5%", 2, "a", "b")]
        cursor.execute(to_driver("snowflake", "select ? as a, '1%' as p"), ["x"])
        assert cursor.fetchall() == [("x", "1%")]
        for params in (None, {}):
            cursor.execute(to_driver("snowflake", "select '5%' as pct, 100 % 7 as r"), params)
            assert cursor.fetchall() == [("5%", 2)]


def test_duckdb_gets_the_file_as_written():
    sql = "select '5%', $batch_id, ? -- $x"
    assert to_driver("duckdb", sql) == sql
    with pytest.raises(ValueError, match="unknown engine"):
        to_driver("postgres", sql)
    with pytest.raises(ValueError, match="unknown engine"):
        read_sql("portable", "load_totals")


def test_every_file_is_written_in_the_one_style_and_loads_for_its_engines():
    for folder in FOLDERS:
        for name in names(folder):
            text = (SQL_ROOT / folder / f"{name}.sql").read_text()
            assert not re.search(r"%\(\w+\)s|%s\b", text), f"{folder}/{name}.sql: write parameters as $name or ?"
            for engine in ("duckdb", "snowflake") if folder == "portable" else (folder,):
                assert read_sql(engine, name) == text
                driver = load_sql(engine, name)
                if engine == "duckdb":
                    assert driver == text
                    continue
                uncommented = re.sub(r"--[^\n]*", "", text)  # the files' comments: -- only, none inside a string
                named = set(re.findall(r"%\((\w+)\)s", driver))
                positional = len(re.findall(r"(?<!%)%s", driver))
                if not named and not positional:
                    assert driver == uncommented, f"{name}: no parameters, so sent as it stands (but comments)"
                    continue
                # bound as the connector binds (client-side %-formatting): every literal % single again
                bound = driver % (dict.fromkeys(named, "X") if named else ("X",) * positional)
                assert bound.count("%") == uncommented.count("%"), name
                assert bound.count("\n") == text.count("\n"), f"{name}: line numbers kept"
                assert not re.search(r"(?<![\w$])\$[A-Za-z_]", re.sub(r"'[^']*'", "", bound)), f"{name}: $name left"


def test_a_portable_file_is_not_shadowed_by_an_engine_file():
    """An engine's own file of a name wins over the portable one: a name in both would mean the portable file
    never runs on that engine."""
    portable = names("portable")
    assert portable and not portable & names("duckdb") and not portable & names("snowflake")


def test_names_the_callers_use_still_load():
    """The file names the loader, the deliveries, the report and the explorer pass to load_sql / read_sql."""
    for name in ("create_tables", "create_delivery_tables", "insert_loaded_file", "insert_quarantined_file",
                 "insert_load_batch", "mark_replayed", "select_loaded_files", "select_quarantined_files",
                 "select_replay_candidates", "reconcile_interval", "hour_volume", "loaded_intervals",
                 "table_exists", "load_totals", "quarantine_by_reason", "quarantined_file_count",
                 "raw_event_counts", "session_summary", "delivery_summary", "delivery_expected",
                 "delivery_session_events", "delivery_audit_events", "delivery_pending_units",
                 "delivery_units_in_range", "delivery_unit_parts", "delivery_plan", "delivery_s3_objects",
                 "delivery_claim", "insert_delivery_claim", "delete_delivery_claim", "serialize_claims",
                 "last_commit_seq", "insert_load_commit_units", "upsert_delivery_part", "upsert_delivery_done",
                 "upsert_delivery_dead_letter", "explorer_journeys", "explorer_session_events",
                 "explorer_data_range", "explorer_sessions_per_hour", "explorer_app_quality",
                 "explorer_service_errors"):  # fmt: skip
        for engine in ("duckdb", "snowflake"):
            assert load_sql(engine, name)


HOUR = datetime(2024, 6, 1, 10)
# A value for every parameter the portable queries take (each gets the ones its file names).
PARAMS = {
    "interval_start": HOUR,
    "destination": "s3-main",
    "range_start": HOUR - timedelta(hours=1),
    "range_end": HOUR + timedelta(hours=1),
    "reason": None,
    "after_file": None,
    "after_line": None,
    "page_lines": 10,
    "page_bytes": 1_000,
    # the deliveries' (eventpipe.deliver.ledger, eventpipe.deliver.events)
    "through": 1,
    "kinds": ",Session,analytics,",
    "commit_seq": 1,
    "organization_id": "org-1",
    "kind": "Session",
    "after_session": "",
    "after_event": "",
    "chunk": 10,
    "analytics_only": True,
    "holder": None,
    # reconcile_interval's batch filter (None: the interval's files); lag_commits_above's build bound
    "batch_id": None,
    "bound": 0,
}
# The rows _seed writes on each engine.
# fmt: off
BATCH = dict(batch_id="b1", interval_start=HOUR, dag_id="event_pipeline", run_id="r", files_seen=2, files_loaded=1,
             files_skipped=0, lines=3, loaded=1, duplicates=1, quarantined=1, started_at=HOUR, finished_at=HOUR)
LOADED_FILE = dict(source_file="landing/a.json.gz", interval_start=HOUR, batch_id="b1", file_bytes=10, lines=3,
                   loaded=1, duplicates=1, quarantined=1, loaded_at=HOUR, commit_seq=1)
UNREADABLE_FILE = dict(source_file="landing/b.json.gz", interval_start=HOUR, reason="truncated_file",
                       detail="100% cut", file_bytes=5, file_version="v1", batch_id="b1", quarantined_at=HOUR)
# ops.delivery_part, in eventpipe.deliver.ledger.PartRecord's order
PART = ["s3-main", "s3", "org-1", "Session", 1, HOUR, 0, "delivered", 2, 2, 0, "e-1", "e-2", "s3://b/key-0", None,
        None, 100, 1, 0, "abc", None, None, "r", HOUR]
FAILED_PART = [*PART[:6], 1, "failed", 1, 0, 0, "e-3", "e-3", "s3://b/key-1", None, None, 0, 2, 1, "def", '["e-1"]',
               "50% lost", "r", HOUR]
DONE = ["s3-main", "org-1", "analytics", 1, HOUR, 1, 1, 1, 0, "r", HOUR]
DEAD_LETTER = ["s3-main", "e-9", "org-1", "Session", HOUR, "1", None, "invalid", HOUR, 1]
SESSION_EVENT = ["e-1", "org-1", HOUR + timedelta(minutes=5), "analytics_event", "s-1", "landing/a.json.gz", 1, "b1",
                 HOUR, 1]
QUARANTINED_LINE = [b"{not json", "invalid_json", "not parseable as JSON", "landing/a.json.gz", 3, "b1", HOUR, None, 1]
SESSIONS = [(True, 5.0), (True, None), (False, 3.0), (None, None)]  # marts.fct_sessions: is_closed, csat_score
# fmt: on


def _seed(warehouse, con) -> None:
    """The same rows on either engine (``con``: its connection), through the callers' own statements where
    there is one."""
    with contextlib.closing(con.cursor()) as cursor:
        execute = cursor.execute
        execute(load_sql(warehouse.engine, "insert_loaded_file"), LOADED_FILE)
        execute(load_sql(warehouse.engine, "insert_quarantined_file"), UNREADABLE_FILE)
        warehouse.record_batch(BATCH)
        warehouse.execute_script("create_delivery_tables")
        marker = "?" if warehouse.engine == "duckdb" else "%s"
        payload = "cast('{}' as json)" if warehouse.engine == "duckdb" else "parse_json('{}')"
        execute(
            "insert into raw.session_event (event_id, organization_id, event_time, event_type, session_id,"
            " _source_file, _line_number, _batch_id, _loaded_at, _commit_seq, payload)"
            f" select {', '.join([marker] * len(SESSION_EVENT))}, {payload}",
            SESSION_EVENT,
        )
        execute(load_sql(warehouse.engine, "insert_load_commit_units"), {"commit_seq": 1})  # as the load commit does
        with warehouse.transaction():  # as eventpipe.deliver.ledger writes them
            warehouse.upsert("delivery_part", [PART, FAILED_PART])
            warehouse.upsert("delivery_part", [PART])  # the same key again: replaced, not added
            warehouse.upsert("delivery_done", [DONE])
            warehouse.upsert("delivery_dead_letter", [DEAD_LETTER])
        execute(f"insert into raw.quarantined_event values ({', '.join([marker] * 9)})", QUARANTINED_LINE)
        execute("create schema if not exists marts")
        execute("create table marts.fct_sessions (is_closed boolean, csat_score double)")
        execute("create table ops.dbt_build_bound as select 1 as commit_seq")  # as a build's on-run-start writes it
        cursor.executemany(f"insert into marts.fct_sessions values ({marker}, {marker})", SESSIONS)


def _rows(warehouse, name: str) -> list[tuple]:
    used = set(re.findall(r"(?<![\w$])\$([A-Za-z_]\w*)", re.sub(r"--[^\n]*", "", read_sql(warehouse.engine, name))))
    rows = warehouse.fetchall(name, {key: PARAMS[key] for key in used} or None)
    # the engines' numeric types differ (DuckDB BIGINT / DOUBLE, Snowflake NUMBER): compare the values
    return [tuple(float(v) if isinstance(v, Decimal | float) else v for v in row) for row in rows]


@pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")  # fakesnow's own
def test_every_portable_query_runs_on_both_engines_with_the_same_answer(tmp_path):
    """Each portable file on DuckDB and on the Snowflake connector (fakesnow in process), through the
    warehouses' own fetchall: the same rows. (The explorer's and delivery_expected read dbt's marts: those run
    on both in tests/explorer/test_snowflake_seam.py and tests/e2e/test_two_targets.py.)"""
    import fakesnow
    import snowflake.connector

    from eventpipe.warehouse import DuckDBWarehouse, connect
    from eventpipe.warehouse.snowflake_engine import SnowflakeWarehouse

    queries = sorted(n for n in names("portable") if not n.startswith(("explorer_", "insert_", "delivery_expected")))
    answers = {}
    duck = DuckDBWarehouse(connect(tmp_path / "wh.duckdb"))
    with fakesnow.patch(), snowflake.connector.connect(database="eventpipe", schema="raw") as con:
        snow = SnowflakeWarehouse(con)
        for warehouse, connection in ((duck, duck.con), (snow, con)):
            _seed(warehouse, connection)
            answers[warehouse.engine] = {name: _rows(warehouse, name) for name in queries}
    duck.close()
    for engine in answers:  # an UPDATE answers with the rows it changed (Snowflake adds the multi-joined ones)
        assert answers[engine].pop("advance_commit_seq")[0][0] == 1
        assert answers[engine].pop("serialize_claims")[0][0] == 1
    assert answers["duckdb"] == answers["snowflake"]
    got = answers["duckdb"]
    assert got["session_summary"] == [(4, 2, 0.5, 4.0, 2)]  # count(case when ...): NULL is not closed
    assert got["delivery_summary"] == [("s3-main", "s3", "Session", 2, 3.0, 2.0, 0.0, 1, 100.0)]
    assert got["hour_volume"] == [(1, 3.0, 1)] and got["loaded_intervals"] == [(HOUR,)]
    assert got["reconcile_interval"]
    assert got["dbt_build_bound"] == [(1,)] and got["lag_commits_above"] == [(0, None)]
    # the load commit's units (insert_load_commit_units): the one analytics event is a Session and an analytics unit
    units = [(1, "org-1", "Session", HOUR, 1), (1, "org-1", "analytics", HOUR, 1)]
    assert got["delivery_units_in_range"] == units
    assert got["delivery_pending_units"] == units[:1]  # the analytics unit is done at s3-main
    assert got["delivery_plan"] == [
        ("org-1", "Session", 1, HOUR, 1, 2.0, 0.0, False), ("org-1", "analytics", 1, HOUR, 1, 0.0, 0.0, True)
    ]  # fmt: skip
    assert [row[:5] for row in got["delivery_unit_parts"]] == [(0, "delivered", 2, 2, 0), (1, "failed", 1, 0, 0)]
    assert got["delivery_s3_objects"] == [("s3://b/key-0", "Session", 2, 100, "abc", "e-1", "e-2")]
    assert [row[:4] for row in got["delivery_session_events"]] == [("org-1", "e-1", HOUR + timedelta(minutes=5),
                                                                    "analytics_event")]  # fmt: skip
    assert got["last_commit_seq"] == [(0,)]  # no ops.load_commit row: the seed wrote none
    assert got["select_replay_candidates"] == [("landing/a.json.gz", HOUR, 3, b"{not json")]
    assert got["current_commit_seq"] == [(1,)]  # advance_commit_seq ran first (the queries run in name order)
