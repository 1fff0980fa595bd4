"""The sessions chart stays small whatever the range asked for and whatever the data spans.

A real DuckDB warehouse holding sessions decades apart (hand-written rows in the marts' columns the charts
read), read through the real API: the chart's range is clamped to the data's, and its buckets widen (day,
month, year) so the series never has more than ``MAX_BUCKETS`` points. The assertions are on the number of
buckets returned, not on time.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest
from fastapi.testclient import TestClient

from eventpipe.explorer.app import create_app
from eventpipe.explorer.marts import DuckDBMartsReader
from eventpipe.explorer.service import MAX_BUCKETS


def warehouse(path, started: list[datetime]):
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_sessions (organization_id varchar, session_id varchar, app_id varchar,"
            " started_at timestamp, ended_at timestamp, last_event_at timestamp, is_closed boolean, csat_score double)"
        )
        con.executemany(
            "insert into marts.fct_sessions values ('org', ?, 'app', ?, ?, ?, true, null)",
            [(f"s{n}", moment, moment, moment) for n, moment in enumerate(started)],
        )
        con.execute("create table marts.fct_platform_events (service varchar, status varchar, event_time timestamp)")
    return TestClient(create_app(DuckDBMartsReader(path)))


@pytest.mark.parametrize(
    ("started", "bucket", "points"),
    [
        # 40 years: 14,611 days would be too many points; 486 months are not
        ([datetime(1990, 1, 1, 5), datetime(2000, 7, 4), datetime(2030, 6, 1, 23)], "month", 486),
        # 200 years: 2,401 months would be too many; 201 years are not
        ([datetime(1900, 3, 1), datetime(2100, 1, 31)], "year", 201),
        # 10 days: daily
        ([datetime(2026, 1, 1, 12), datetime(2026, 1, 10, 1)], "day", 10),
    ],
)
def test_buckets_widen_to_stay_under_the_cap(tmp_path, started, bucket, points):
    client = warehouse(tmp_path / "w.duckdb", started)
    for params in ({}, {"start": "0001-01-01T00:00:00", "end": "9999-12-31T00:00:00"}):
        body = client.get("/api/charts", params=params).json()
        assert body["bucket"] == bucket
        series = body["sessions_over_time"]
        assert len(series) == points <= MAX_BUCKETS
        assert sum(p["sessions_started"] for p in series) == len(started)
        assert sum(p["sessions_completed"] for p in series) == len(started)
        assert series[0]["sessions_started"] == 1 and series[-1]["sessions_started"] == 1


def test_a_range_narrower_than_the_data_keeps_its_empty_buckets(tmp_path):
    """Within the data, the chart shows the range asked for, empty buckets included; beyond the data's first
    session start and latest event it stops."""
    client = warehouse(tmp_path / "w.duckdb", [datetime(2026, 1, 1, 12), datetime(2026, 1, 1, 20)])
    body = client.get("/api/charts", params={"start": "2026-01-01T10:00:00", "end": "2026-01-01T16:00:00"}).json()
    assert body["bucket"] == "hour"
    assert [(p["bucket_start"][11:16], p["sessions_started"]) for p in body["sessions_over_time"]] == [
        ("12:00", 1),
        ("13:00", 0),
        ("14:00", 0),
        ("15:00", 0),
    ]
    body = client.get("/api/charts", params={"start": "2025-01-01T00:00:00", "end": "2027-01-01T00:00:00"}).json()
    assert body["bucket"] == "hour" and len(body["sessions_over_time"]) == 9  # 12:00 to 20:00
