"""Dedup in O(new): a load reads history only within its event-time window (a re-sent event keeps its
eventTime), on DuckDB through the raw tables' zone maps (checked in the plan) and on Snowflake through
the MERGE's join (checked on the emulator), while a re-send is still caught however old its event."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest

from eventpipe import warehouse
from eventpipe.ingest import load, validate
from eventpipe.ingest.linescan import Limits, lines_table
from eventpipe.sql import load_sql
from tests.conftest import write_landing_file
from tests.ingest.test_validate import HOUR, PARTITION, event, line
from tests.warehouse.test_snowflake_loader import snowflake  # noqa: F401  (the emulator fixture)

ROW_GROUP_ROWS = 122_880  # DuckDB's row group size


def write_history(con, rows: int, extra: list[tuple[str, datetime]] = ()) -> None:
    """``rows`` audit events over the year up to HOUR's end, in event_time order (as each load inserts), and
    the ``extra`` (event_id, event_time) rows, in one insert."""
    con.execute(
        """
        insert into raw.audit_event (event_id, organization_id, event_time, event_type, payload,
                                     _source_file, _line_number, _batch_id, _loaded_at,
                                         _commit_seq)
        with history as (
            select
                'h-' || i as event_id,
                $hour - interval 365 day + to_microseconds(i * ((365 * 86400 + 3600) * 1000000::bigint // $rows)) as t
            from range($rows) as r (i)
            union all
            select unnest($ids), unnest($times)
        )
        select event_id, 'org-1', t, 'history', '{}', 'history', 1, 'history', $hour, 0
            from history order by t
        """,
        {"hour": HOUR, "rows": rows, "ids": [e for e, _ in extra], "times": [t for _, t in extra]},
    )


def row_groups_scanned(node, table: str) -> tuple[int, int]:
    """(scanned, total) row groups of ``table``'s scan in a JSON EXPLAIN ANALYZE profile."""
    if isinstance(node, dict):
        info = node.get("extra_info") or {}
        if str(info.get("Table", "")).endswith(f"raw.{table}"):
            return node["row_groups_scanned"], node["total_row_groups_to_scan"]
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            if found := row_groups_scanned(child, table):
                return found
    return ()


def iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "wh.duckdb") as connection:
        yield connection


def stage_lines(con, lines: list[bytes]) -> None:
    """Begin a transaction and validate ``lines`` into ``staged_line`` as one group of HOUR (the caller rolls back)."""
    con.begin()
    con.execute(load_sql("duckdb", "create_staged_line"))
    limits = Limits.from_settings()
    validate.validate_chunk(con, "f", lines_table(list(range(1, len(lines) + 1)), lines, limits), HOUR, limits)


def dedup_plans(con, lines: list[bytes]) -> list[dict]:
    """The JSON EXPLAIN ANALYZE of the dedup's statement for each event-time window of ``lines`` (validated as
    one group of HOUR), in the loader's order."""
    stage_lines(con, lines)
    con.execute(load_sql("duckdb", "select_first_copies"))
    plans = []
    for window_number in range(1, len(validate.new_event_windows(con)) + 1):
        con.execute(load_sql("duckdb", "set_new_event_window"), {"window_number": window_number})
        plan = con.execute("explain (analyze, format json) " + load_sql("duckdb", "select_new_events")).fetchall()
        plans.append(json.loads(plan[0][1]))
    con.rollback()
    return plans


def test_the_dedup_reads_only_the_row_groups_of_its_event_time_window(con):
    write_history(con, 10 * ROW_GROUP_ROWS)
    con.execute("checkpoint")
    lines = [line(event(eventId=f"n-{i}", eventTime=f"2026-11-27T10:{i:02d}:00Z")) for i in range(50)]
    [plan] = dedup_plans(con, lines)
    scanned, total = row_groups_scanned(plan, "audit_event")
    assert total >= 10
    assert scanned <= 2  # those holding the hour; the year before it is skipped


def test_one_very_late_event_adds_a_narrow_window_not_the_months_between(con):
    """A group of this hour with one event from 300 days ago (an offline device's flush; the validator accepts up to
    366 days) reads history around those two days only. One window from the oldest to the newest event would
    read 300 days of history, most of the table."""
    write_history(con, 10 * ROW_GROUP_ROWS)
    con.execute("checkpoint")
    lines = [line(event(eventId=f"n-{i}", eventTime=f"2026-11-27T10:{i:02d}:00Z")) for i in range(50)]
    lines.append(line(event(eventId="n-late", eventTime=iso(HOUR - timedelta(days=300)))))
    plans = dedup_plans(con, lines)
    assert len(plans) == 2
    for plan in plans:
        scanned, total = row_groups_scanned(plan, "audit_event")
        assert total >= 10
        assert scanned <= 2
    assert sum(row_groups_scanned(plan, "audit_event")[0] for plan in plans) <= 3


def test_event_days_a_few_days_apart_share_one_window(con):
    """Days at most 3 apart form one window (the core from the first day's midnight to the midnight after the last),
    widened by a day; days further apart are windows of their own."""
    times = ["2026-11-27T10:00:00Z", "2026-11-25T23:59:59Z", "2026-11-24T00:00:00Z", "2026-11-01T12:00:00Z"]
    lines = [line(event(eventId=f"n-{i}", eventTime=moment)) for i, moment in enumerate(times)]
    stage_lines(con, lines)
    validate.select_new_events(con)
    windows = validate.new_event_windows(con)
    con.rollback()
    day = timedelta(days=1)
    assert windows == [
        {"core_start": datetime(2026, 11, 1), "core_end": datetime(2026, 11, 2),
         "window_start": datetime(2026, 10, 31), "window_end": datetime(2026, 11, 2) + day},
        {"core_start": datetime(2026, 11, 24), "core_end": datetime(2026, 11, 28),
         "window_start": datetime(2026, 11, 23), "window_end": datetime(2026, 11, 28) + day},
    ]  # fmt: skip


def test_a_re_send_is_a_duplicate_however_old_its_event(con, tmp_path):
    """History is a year deep; re-sent copies of a 300-day-old and of a 1-hour-old event arrive with a new one."""
    old, recent = HOUR - timedelta(days=300), HOUR - timedelta(hours=1)
    write_history(con, 3 * ROW_GROUP_ROWS, extra=[("e-old", old), ("e-recent", recent)])
    lines = [
        line(event(eventId="e-old", eventTime=iso(old))),
        line(event(eventId="e-recent", eventTime=iso(recent))),
        line(event(eventId="e-new")),
    ]
    write_landing_file(tmp_path / "landing", PARTITION, "a.json.gz", lines)
    result = load.load_interval(con, str(tmp_path / "landing"), HOUR, run_id="r")
    assert (result.loaded, result.duplicates) == (1, 2)
    new = con.execute("select event_id from raw.audit_event where _batch_id <> 'history'").fetchall()
    assert new == [("e-new",)]


def test_a_re_send_whose_event_time_moved_by_less_than_a_day_is_still_a_duplicate(con, tmp_path):
    write_history(con, ROW_GROUP_ROWS, extra=[("e-1", HOUR - timedelta(hours=20))])
    write_landing_file(tmp_path / "landing", PARTITION, "a.json.gz", [line(event(eventId="e-1"))])  # 10:05
    result = load.load_interval(con, str(tmp_path / "landing"), HOUR, run_id="r")
    assert (result.loaded, result.duplicates) == (0, 1)


def test_a_re_send_with_another_event_time_outside_the_window_is_not_caught(con, tmp_path):
    """The documented limit (README, Dedup): the contract says a re-send is the same event, eventTime and all.
    A copy whose eventTime differs, outside the window of the group it arrives in, loads as a second row."""
    write_history(con, ROW_GROUP_ROWS, extra=[("e-1", HOUR - timedelta(days=30))])
    write_landing_file(tmp_path / "landing", PARTITION, "a.json.gz", [line(event(eventId="e-1"))])
    result = load.load_interval(con, str(tmp_path / "landing"), HOUR, run_id="r")
    assert (result.loaded, result.duplicates) == (1, 0)
    assert con.execute("select count(*) from raw.audit_event where event_id = 'e-1'").fetchone() == (2,)


@pytest.mark.parametrize("kind", ["session", "audit", "platform"])
def test_each_snowflake_insert_reads_history_within_the_bound_window(kind):
    sql = re.sub(r"\s+", " ", load_sql("snowflake", f"insert_{kind}_event"))
    window = "event_time between %(window_start)s and %(window_end)s"
    core = "staged.event_time >= %(core_start)s and staged.event_time < %(core_end)s"  # the staged rows
    assert f"from raw.{kind}_event_stage_{{token}} as staged where {core} and not exists" in sql
    for table in ("session", "audit", "platform"):  # its own table and the two others
        assert f"{table}_event.event_id = staged.event_id and {table}_event.{window}" in sql
    assert "cluster by (to_date(event_time))" in load_sql("snowflake", "create_tables")


def test_the_snowflake_insert_prunes_by_the_window_and_still_dedups_within_it(snowflake, tmp_path):  # noqa: F811
    """On the emulator: a copy within the window (same eventTime) is a duplicate, also across kinds, also in the
    group's second window (a 300-day-old event's, each window merged on its own); a history row of the same id
    outside the window is not read, so that copy loads (the documented limit)."""
    params = {"batch_id": "history", "loaded_at": HOUR, "source_file": "history", "line_number": 1}
    with snowflake.conn.cursor() as cursor:
        for event_id, event_time, table in [
            ("e-same", HOUR + timedelta(minutes=5), "audit_event"),
            ("e-other-kind", HOUR + timedelta(minutes=5), "platform_event"),
            ("e-moved", HOUR - timedelta(days=30), "audit_event"),
            ("e-very-late", HOUR - timedelta(days=300), "session_event"),
        ]:
            cursor.execute(
                f"insert into raw.{table} (event_id, organization_id, event_time, event_type, payload, _source_file,"
                " _line_number, _batch_id, _loaded_at, _commit_seq) select %(event_id)s, 'org-1', %(event_time)s,"
                " 'history', parse_json('{}'), %(source_file)s, %(line_number)s, %(batch_id)s, %(loaded_at)s, 0",
                params | {"event_id": event_id, "event_time": event_time},
            )
    lines = [line(event(eventId=event_id)) for event_id in ("e-same", "e-other-kind", "e-moved", "e-new")]
    # a re-send of a 300-day-old event, and a new one of that day: the group's second window
    lines += [line(event(eventId=event_id, eventTime=iso(HOUR - timedelta(days=300)))) for event_id in
              ("e-very-late", "e-new-very-late")]  # fmt: skip
    write_landing_file(tmp_path / "landing", PARTITION, "a.json.gz", lines)
    result = load.load_interval(snowflake, str(tmp_path / "landing"), HOUR, run_id="r")
    assert (result.loaded, result.duplicates) == (3, 3)
    loaded = snowflake.fetchall("raw_event_counts")
    assert dict(loaded)["raw.audit_event"] == 5  # e-same, e-moved (history) + e-moved, e-new, e-new-very-late
