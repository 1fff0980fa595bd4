"""The explorer's JSON API against real marts (built by event_pipeline in conftest).

Every answer is checked against an independent oracle: marts.fct_sessions read directly and
filtered / sorted / paged in Python by the rules the API documents.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta
from itertools import pairwise
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from eventpipe.explorer.app import create_app
from eventpipe.explorer.columns import COLUMNS
from eventpipe.explorer.marts import DuckDBMartsReader, SnowflakeMartsReader
from tests.tenant_support import SHARED_SESSION_ID

from .conftest import sql

pytestmark = pytest.mark.slow  # the marts fixture runs event_pipeline

# API column -> fct_sessions expression, written out here independently of explorer_journeys.sql.
ORACLE_COLUMNS = {
    "journey_id": "session_id",
    "branch": "branch_id",
    "deploy": "deploy_id",
    "status": "status",
    "latest_event": "last_event_at",
    "started_event": "started_at",
    "closed_event": "ended_at",
    "actions": "action_runs",
    "action_errors": "action_errors",
    "runtime_errors": "runtime_errors",
    "messages": "messages_sent + messages_received",
    "app": "app_id",
    "organization": "organization_id",
    "device_class": "device_class",
    "duration_ms": "duration_ms",
    "csat": "csat_score",
    "events": "event_count",
}


@pytest.fixture(scope="module")
def client(warehouse_path) -> TestClient:
    return TestClient(create_app(DuckDBMartsReader(warehouse_path)))


@pytest.fixture(scope="module")
def sessions(warehouse_path) -> list[dict]:
    names = list(ORACLE_COLUMNS)
    rows = sql(warehouse_path, f"SELECT {', '.join(ORACLE_COLUMNS.values())} FROM marts.fct_sessions")
    assert len(rows) > 20
    return [dict(zip(names, row, strict=True)) for row in rows]


def search(client, expect=200, **body) -> dict:
    response = client.post("/api/journeys/search", json=body)
    assert response.status_code == expect, response.text
    return response.json()


def all_rows(client, **body) -> list[dict]:
    page = search(client, page_size=500, **body)
    assert page["total"] == len(page["rows"])
    return page["rows"]


def key(row: dict) -> tuple[str, str]:
    """A journey is (journey_id, organization): session ids are unique only within an organization."""
    return row["journey_id"], row["organization"]


def ids(rows) -> list[tuple[str, str]]:
    return [key(row) for row in rows]


def oracle_sorted(rows: list[dict], keys: list[tuple[str, str]]) -> list[str]:
    """Sort by keys, empty values last in either direction, ties by journey_id then organization (stable sorts,
    last key first)."""
    rows = sorted(rows, key=key)
    for column, direction in reversed(keys):
        present = [r for r in rows if r[column] is not None]
        missing = [r for r in rows if r[column] is None]
        rows = sorted(present, key=lambda r: r[column], reverse=direction == "desc") + missing
    return ids(rows)


def iso(moment: datetime) -> str:
    return moment.isoformat()


# ------------------------------------------------------------------------------------ listing


def test_default_lists_every_journey_newest_first(client, sessions):
    page = search(client)
    assert page["total"] == len(sessions)
    assert page["page"] == 1 and page["page_size"] == 50
    assert ids(page["rows"]) == oracle_sorted(sessions, [("started_event", "desc")])[:50]
    first = next(s for s in sessions if key(s) == key(page["rows"][0]))
    assert datetime.fromisoformat(page["rows"][0]["started_event"]) == first["started_event"]
    assert page["rows"][0]["messages"] == first["messages"]


def test_columns_describe_table_and_operators(client):
    body = client.get("/api/columns").json()
    assert [c["name"] for c in body["columns"]] == [c.name for c in COLUMNS]
    assert set(ORACLE_COLUMNS) == {c.name for c in COLUMNS}
    labels = [c["label"] for c in body["columns"]]
    for label in ["Branch", "Deploy", "Status", "Latest Event", "Started Event", "Closed Event", "Actions",
                  "Action Errors", "Runtime Errors", "Messages", "Journey ID"]:  # fmt: skip
        assert label in labels
    actions = next(c for c in body["columns"] if c["name"] == "actions")
    assert "contains" not in actions["ops"] and "equals" in actions["ops"]
    assert body["op_labels"]["not_any_of"] == "is not any of"


# ------------------------------------------------------------------------------------ filters


def _value(sessions, column, pick=0):
    values = sorted({s[column] for s in sessions if s[column] is not None})
    assert values, f"no values of {column} in the data set"
    return values[pick % len(values)]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _low(value: str | None) -> str:
    return "\0" if value is None else value.lower()  # never starts with / contains a printable value


FILTER_CASES = [
    # (column, op, how to pick the value from the data, oracle predicate on (row value, chosen value))
    ("closed_event", "has_value", None, lambda v, _: v is not None),
    ("closed_event", "has_no_value", None, lambda v, _: v is None),
    ("csat", "has_no_value", None, lambda v, _: v is None),
    ("status", "equals", lambda s: "open", lambda v, x: v == x),
    ("status", "not_equals", lambda s: "open", lambda v, x: v != x),
    ("app", "equals", lambda s: _value(s, "app"), lambda v, x: v == x),
    ("app", "not_equals", lambda s: _value(s, "app"), lambda v, x: v != x),
    ("actions", "equals", lambda s: _value(s, "actions", 1), lambda v, x: v == x),
    ("csat", "not_equals", lambda s: 5, lambda v, x: v != x),  # sessions without CSAT are kept
    ("started_event", "equals", lambda s: iso(_value(s, "started_event", 3)), lambda v, x: v == _ts(x)),
    ("deploy", "starts_with", lambda s: _value(s, "deploy")[:3].upper(), lambda v, x: _low(v).startswith(x.lower())),
    ("journey_id", "contains", lambda s: _value(s, "journey_id")[9:13], lambda v, x: x.lower() in v.lower()),
    ("device_class", "contains", lambda s: "OBIL", lambda v, x: v is not None and "obil" in v),
]  # fmt: skip


@pytest.mark.parametrize(
    ("column", "op", "pick", "predicate"), FILTER_CASES, ids=[f"{case[0]}-{case[1]}" for case in FILTER_CASES]
)
def test_single_value_filters(client, sessions, column, op, pick, predicate):
    chosen = pick(sessions) if pick else None
    condition = {"column": column, "op": op} | ({} if pick is None else {"value": chosen})
    got = all_rows(client, filters=[condition])
    expected = [s for s in sessions if predicate(s[column], chosen)]
    assert sorted(ids(got)) == sorted(ids(expected))
    assert 0 < len(expected) < len(sessions), f"{column} {op} {chosen!r} does not split the data: a weak test"


def test_any_of_and_not_any_of(client, sessions):
    apps = sorted({s["app"] for s in sessions})[:2]
    got = all_rows(client, filters=[{"column": "app", "op": "any_of", "values": apps}])
    assert sorted(ids(got)) == sorted(key(s) for s in sessions if s["app"] in apps)
    got = all_rows(client, filters=[{"column": "app", "op": "not_any_of", "values": apps}])
    assert sorted(ids(got)) == sorted(key(s) for s in sessions if s["app"] not in apps)

    # numbers given as strings or numbers; "is not any of" keeps journeys with no value
    got = all_rows(client, filters=[{"column": "csat", "op": "not_any_of", "values": ["4", 5]}])
    expected = [s for s in sessions if s["csat"] is None or s["csat"] not in (4.0, 5.0)]
    assert sorted(ids(got)) == sorted(ids(expected))
    assert any(s["csat"] is None for s in expected) and any(s["csat"] is not None for s in expected)

    got = all_rows(client, filters=[{"column": "device_class", "op": "any_of", "values": ["mobile", "tablet"]}])
    assert sorted(ids(got)) == sorted(key(s) for s in sessions if s["device_class"] in ("mobile", "tablet"))


def test_filters_combine_with_and(client, sessions):
    app = _value(sessions, "app")
    got = all_rows(
        client,
        filters=[
            {"column": "app", "op": "equals", "value": app},
            {"column": "status", "op": "equals", "value": "closed"},
            {"column": "actions", "op": "not_any_of", "values": [0]},
        ],
    )
    expected = [s for s in sessions if s["app"] == app and s["status"] == "closed" and s["actions"] != 0]
    assert sorted(ids(got)) == sorted(ids(expected)) and expected


def test_like_wildcards_in_values_are_literal(client, sessions):
    assert search(client, filters=[{"column": "journey_id", "op": "contains", "value": "%"}])["total"] == 0
    assert search(client, filters=[{"column": "journey_id", "op": "starts_with", "value": "_"}])["total"] == 0
    assert search(client, filters=[{"column": "status", "op": "contains", "value": ""}])["total"] == len(sessions)
    # the escape character itself is literal too
    assert search(client, filters=[{"column": "status", "op": "contains", "value": "!"}])["total"] == 0
    assert search(client, filters=[{"column": "status", "op": "starts_with", "value": "!o"}])["total"] == 0


@pytest.mark.parametrize(
    "value",
    ["' or '1'='1", "open' --", "x'); drop table marts.fct_sessions; --", "open\\", '"; select 1; --'],
)
def test_injection_attempts_are_plain_values(client, warehouse_path, sessions, value):
    for op in ("equals", "contains", "starts_with"):
        assert search(client, filters=[{"column": "status", "op": op, "value": value}])["total"] == 0
    assert search(client, filters=[{"column": "status", "op": "any_of", "values": [value, "open"]}])["total"] == sum(
        s["status"] == "open" for s in sessions
    )
    assert sql(warehouse_path, "SELECT count(*) FROM marts.fct_sessions")[0][0] == len(sessions)


# comparisons on number and time columns, each checked against SQL on marts.fct_sessions
def _middle(sessions, column):
    values = sorted({s[column] for s in sessions if s[column] is not None})
    assert len(values) >= 3, f"too few distinct {column} values for a comparison test"
    return values[len(values) // 3], values[2 * len(values) // 3]


COMPARISON_COLUMNS = ["actions", "messages", "duration_ms", "csat", "started_event", "closed_event"]


@pytest.mark.parametrize("column", COMPARISON_COLUMNS)
def test_greater_less_and_between_match_sql_on_the_marts(client, warehouse_path, sessions, column):
    low, high = _middle(sessions, column)
    as_json = iso if isinstance(low, datetime) else (lambda v: v)
    expression = ORACLE_COLUMNS[column]
    cases = [
        ({"op": "gt", "value": as_json(low)}, f"{expression} > ?", [low]),
        ({"op": "lt", "value": as_json(high)}, f"{expression} < ?", [high]),
        ({"op": "between", "values": [as_json(low), as_json(high)]}, f"{expression} BETWEEN ? AND ?", [low, high]),
    ]
    for condition, where, params in cases:
        got = all_rows(client, filters=[{"column": column} | condition])
        expected = sql(
            warehouse_path, f"SELECT session_id, organization_id FROM marts.fct_sessions WHERE {where}", params
        )
        assert sorted(ids(got)) == sorted(expected), condition
        assert 0 < len(expected) < len(sessions), f"{column} {condition} does not split the data: a weak test"
    # both ends of between are included: [low, low] is "equals low"; rows without a value never match
    got = all_rows(client, filters=[{"column": column, "op": "between", "values": [as_json(low), as_json(low)]}])
    expected = sql(
        warehouse_path, f"SELECT session_id, organization_id FROM marts.fct_sessions WHERE {expression} = ?", [low]
    )
    assert sorted(ids(got)) == sorted(expected) and expected


def test_comparisons_take_numbers_as_strings_and_times_with_offsets(client, warehouse_path):
    got = all_rows(client, filters=[{"column": "actions", "op": "gt", "value": "2"}])
    expected = sql(warehouse_path, "SELECT session_id, organization_id FROM marts.fct_sessions WHERE action_runs > 2")
    assert sorted(ids(got)) == sorted(expected) and expected
    start = sql(warehouse_path, "SELECT min(started_at) FROM marts.fct_sessions")[0][0] + timedelta(minutes=30)
    shifted = (start + timedelta(hours=2)).isoformat() + "+02:00"  # the same instant as `start`, in UTC+2
    got = all_rows(client, filters=[{"column": "started_event", "op": "lt", "value": shifted}])
    expected = sql(
        warehouse_path, "SELECT session_id, organization_id FROM marts.fct_sessions WHERE started_at < ?", [start]
    )
    assert sorted(ids(got)) == sorted(expected) and expected


# ------------------------------------------------------------------------------------ time range


def test_time_range_is_on_started_event_half_open(client, sessions):
    starts = sorted(s["started_event"] for s in sessions)
    start, end = starts[len(starts) // 4], starts[3 * len(starts) // 4]
    got = all_rows(client, time_range={"start": iso(start), "end": iso(end)})
    assert sorted(ids(got)) == sorted(key(s) for s in sessions if start <= s["started_event"] < end)
    # an offset is converted to UTC
    shifted = (start + timedelta(hours=2)).isoformat() + "+02:00"
    got = all_rows(client, time_range={"start": shifted})
    assert sorted(ids(got)) == sorted(key(s) for s in sessions if s["started_event"] >= start)


# ------------------------------------------------------------------------------------ sorting, paging


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("column", [c.name for c in COLUMNS])
def test_sort_on_any_column(client, sessions, column, direction):
    got = all_rows(client, sort=[{"column": column, "direction": direction}])
    assert ids(got) == oracle_sorted(sessions, [(column, direction)])


def test_sort_on_several_keys(client, sessions):
    keys = [("status", "asc"), ("actions", "desc"), ("latest_event", "asc")]
    got = all_rows(client, sort=[{"column": c, "direction": d} for c, d in keys])
    assert ids(got) == oracle_sorted(sessions, keys)


def test_pages_partition_the_sorted_result(client, sessions):
    size = 7
    first = search(client, page_size=size, sort=[{"column": "csat", "direction": "desc"}])
    assert first["pages"] == -(-len(sessions) // size)
    seen = []
    for number in range(1, first["pages"] + 1):
        page = search(client, page=number, page_size=size, sort=[{"column": "csat", "direction": "desc"}])
        assert page["total"] == len(sessions) and len(page["rows"]) <= size
        seen += ids(page["rows"])
    assert seen == oracle_sorted(sessions, [("csat", "desc")])
    beyond = search(client, page=first["pages"] + 1, page_size=size)
    assert beyond["rows"] == [] and beyond["total"] == len(sessions)


# ------------------------------------------------------------------------------------ bad input


BAD_BODIES = [
    ({"filters": [{"column": "nope", "op": "equals", "value": "x"}]}, "filters.0.column"),
    ({"filters": [{"column": "status; drop table x", "op": "equals", "value": "x"}]}, "filters.0.column"),
    ({"filters": [{"column": "status", "op": "like", "value": "x"}]}, "filters.0.op"),
    ({"filters": [{"column": "actions", "op": "contains", "value": "1"}]}, "does not apply to integer"),
    ({"filters": [{"column": "actions", "op": "equals", "value": "1 or 1=1"}]}, "is not an integer"),
    ({"filters": [{"column": "csat", "op": "equals", "value": "high"}]}, "is not a number"),
    ({"filters": [{"column": "started_event", "op": "equals", "value": "yesterday"}]}, "ISO-8601"),
    ({"filters": [{"column": "status", "op": "equals"}]}, "needs one 'value'"),
    ({"filters": [{"column": "status", "op": "equals", "values": ["a"]}]}, "needs one 'value'"),
    ({"filters": [{"column": "status", "op": "any_of", "values": []}]}, "non-empty 'values'"),
    ({"filters": [{"column": "status", "op": "has_value", "value": "x"}]}, "takes no value"),
    ({"filters": [{"column": "status", "op": "equals", "value": {"$ne": 1}}]}, "filters.0.value"),
    ({"filters": [{"column": "status", "op": "equals", "value": "x", "sql": "1=1"}]}, "filters.0.sql"),
    ({"sort": [{"column": "status desc, (select 1)", "direction": "asc"}]}, "sort.0.column"),
    ({"sort": [{"column": "status", "direction": "sideways"}]}, "sort.0.direction"),
    ({"page": 0}, "page"),
    ({"page_size": 1000}, "page_size"),
    ({"page": "two"}, "page"),
    ({"time_range": {"start": "2026-11-27T00:00:00", "end": "2026-11-26T00:00:00"}}, "must be before"),
    ({"time_range": {"start": "soon"}}, "time_range.start"),
    ({"filter": []}, "filter"),
    ({"filters": [{"column": "status", "op": "gt", "value": "a"}]}, "does not apply to text column status"),
    ({"filters": [{"column": "journey_id", "op": "between", "values": ["a", "b"]}]}, "does not apply to text"),
    ({"filters": [{"column": "actions", "op": "gt", "value": "many"}]}, "is not an integer"),
    ({"filters": [{"column": "csat", "op": "lt", "value": "NaN"}]}, "not a finite number"),
    ({"filters": [{"column": "csat", "op": "gt"}]}, "needs one 'value'"),
    ({"filters": [{"column": "started_event", "op": "lt", "value": "tomorrow"}]}, "ISO-8601"),
    ({"filters": [{"column": "actions", "op": "between", "values": [1]}]}, "[low, high]"),
    ({"filters": [{"column": "actions", "op": "between", "values": [1, 2, 3]}]}, "[low, high]"),
    ({"filters": [{"column": "actions", "op": "between", "value": 1}]}, "[low, high]"),
    ({"filters": [{"column": "actions", "op": "between", "values": [5, 1]}]}, "is above the high end"),
    ({"filters": [{"column": "closed_event", "op": "between", "values": ["2026-11-27", "2026-11-26"]}]}, "above"),
    ({"filters": [{"column": "duration_ms", "op": "between", "values": ["0", "x"]}]}, "is not an integer"),
]


@pytest.mark.parametrize(("body", "says"), BAD_BODIES, ids=lambda v: str(v)[:40])
def test_bad_input_is_a_clear_422(client, body, says):
    response = client.post("/api/journeys/search", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    text = " ".join(f"{'.'.join(map(str, d['loc'][1:]))}: {d['msg']}" for d in detail)
    assert says in text, text


def test_malformed_json_is_422(client):
    response = client.post("/api/journeys/search", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422


# ------------------------------------------------------------------------------------ session view


def test_session_view_lists_events_in_order_with_their_dag_runs(client, warehouse_path, sessions):
    busiest = max(sessions, key=lambda s: (s["events"], *key(s)))
    body = client.get(f"/api/sessions/{busiest['organization']}/{busiest['journey_id']}").json()
    assert key(body["journey"]) == key(busiest)
    assert body["journey"]["events"] == busiest["events"] == len(body["events"])
    expected = sql(
        warehouse_path,
        "SELECT event_id, event_type, _batch_id FROM marts.fct_session_events"
        " WHERE organization_id = ? AND session_id = ? ORDER BY event_time, event_id",
        [busiest["organization"], busiest["journey_id"]],
    )
    assert [(e["event_id"], e["event_type"], e["batch_id"]) for e in body["events"]] == expected
    times = [e["event_time"] for e in body["events"]]
    assert times == sorted(times)
    metrics = [e for e in body["events"] if e["custom_metric_key"]]
    assert metrics and all(e["custom_metric_value"] is not None for e in metrics)

    batches = dict(sql(warehouse_path, "SELECT batch_id, run_id FROM ops.load_batch WHERE dag_id = 'event_pipeline'"))
    assert {run["batch_id"] for run in body["runs"]} == {e["batch_id"] for e in body["events"]}
    for run in body["runs"]:
        assert run["dag_id"] == "event_pipeline"
        assert run["run_id"] == batches[run["batch_id"]]
        assert run["batch_id"].endswith(f"__{run['run_id']}__try1")
        prefix = "../dags/event_pipeline/runs/"
        assert run["url"].startswith(prefix) and unquote(run["url"][len(prefix) :]) == run["run_id"]


def test_session_not_found_and_bad_id(client, sessions):
    org = sessions[0]["organization"]
    assert client.get(f"/api/sessions/{org}/no-such-session").status_code == 404
    assert client.get(f"/api/sessions/{org}/" + "x" * 500).status_code == 422
    assert client.get("/api/sessions/" + "x" * 500 + f"/{sessions[0]['journey_id']}").status_code == 422
    assert client.get(f"/api/sessions/{org}/%27%20or%201%3D1%20--").status_code == 404
    assert client.get(f"/api/sessions/%27%20or%201%3D1%20--/{sessions[0]['journey_id']}").status_code == 404
    # a bare session id does not name a session (another organization may use it): no such route
    assert client.get(f"/api/sessions/{sessions[0]['journey_id']}").status_code == 404


def test_two_organizations_with_the_same_session_id_are_two_journeys(client, sessions, colliding):
    """Both organizations landed a session with the id SHARED_SESSION_ID (conftest, through the real load):
    the list shows two journeys, each session view holds only its own organization's events."""
    assert len(colliding) == 2
    shared = [{"column": "journey_id", "op": "equals", "value": SHARED_SESSION_ID}]
    rows = all_rows(client, filters=shared, sort=[{"column": "journey_id"}])
    assert [(row["journey_id"], row["organization"]) for row in rows] == [
        (SHARED_SESSION_ID, o) for o in sorted(colliding)
    ]
    for row in rows:
        assert row["events"] == len(colliding[row["organization"]])
    assert rows[0]["csat"] != rows[1]["csat"] and rows[0]["status"] != rows[1]["status"]
    # one journey per page, in a total order: paging never shows one twice or skips the other
    pages = [search(client, filters=shared, page=n, page_size=1)["rows"] for n in (1, 2)]
    assert sorted(ids(pages[0] + pages[1])) == ids(rows)

    for org, event_ids in colliding.items():
        body = client.get(f"/api/sessions/{org}/{SHARED_SESSION_ID}").json()
        assert key(body["journey"]) == (SHARED_SESSION_ID, org)
        assert sorted(e["event_id"] for e in body["events"]) == sorted(event_ids)
        assert body["journey"]["events"] == len(body["events"])
    other = sorted({s["organization"] for s in sessions} - set(colliding))
    for org in other:  # an organization without that session id: not found, not someone else's session
        assert client.get(f"/api/sessions/{org}/{SHARED_SESSION_ID}").status_code == 404


# ------------------------------------------------------------------------------------ charts, facets


def test_charts_match_the_marts(client, warehouse_path, sessions):
    body = client.get("/api/charts").json()
    # the chart spans the data: first session start to latest event
    span = max(s["latest_event"] for s in sessions) - min(s["started_event"] for s in sessions)
    assert body["bucket"] == ("hour" if span <= timedelta(hours=96) else "day")
    step = timedelta(hours=1) if body["bucket"] == "hour" else timedelta(days=1)
    buckets = [datetime.fromisoformat(p["bucket_start"]) for p in body["sessions_over_time"]]
    assert all(later - earlier == step for earlier, later in pairwise(buckets))
    assert sum(p["sessions_started"] for p in body["sessions_over_time"]) == len(sessions)
    assert sum(p["sessions_completed"] for p in body["sessions_over_time"]) == sum(
        s["status"] == "closed" for s in sessions
    )

    start, end = datetime(2026, 11, 26, 10), datetime(2026, 11, 26, 12)
    body = client.get("/api/charts", params={"start": iso(start), "end": iso(end)}).json()
    assert body["bucket"] == "hour"
    assert [p["bucket_start"] for p in body["sessions_over_time"]] == ["2026-11-26T10:00:00", "2026-11-26T11:00:00"]
    in_range = [s for s in sessions if start <= s["started_event"] < end]
    assert [p["sessions_started"] for p in body["sessions_over_time"]] == [
        sum(s["started_event"].hour == h for s in in_range) for h in (10, 11)
    ]
    for app in body["apps"]:
        mine = [s for s in in_range if s["app"] == app["app"]]
        closed = [s for s in mine if s["status"] == "closed"]
        csat = [s["csat"] for s in mine if s["csat"] is not None]
        assert app["sessions"] == len(mine) and app["completion_rate"] == pytest.approx(len(closed) / len(mine))
        assert app["csat_responses"] == len(csat)
        assert app["avg_csat"] == (pytest.approx(sum(csat) / len(csat)) if csat else None)
    assert sum(a["sessions"] for a in body["apps"]) == len(in_range)

    expected = {
        service: (events, errors)
        for service, events, errors in sql(
            warehouse_path,
            "SELECT service, count(*), count(*) FILTER (WHERE status IN ('error', 'timeout'))"
            " FROM marts.fct_platform_events WHERE event_time >= ? AND event_time < ? GROUP BY 1",
            [start, end],
        )
    }
    assert {s["service"]: (s["events"], s["errors"]) for s in body["services"]} == expected
    assert any(errors for _, errors in expected.values())
    assert client.get("/api/charts", params={"start": iso(end), "end": iso(start)}).status_code == 422
    assert client.get("/api/charts", params={"start": "not a time"}).status_code == 422


def test_charts_over_a_huge_range_cover_only_the_data(client, sessions):
    """Year 1 to 9999 once answered after 28 s with 300 MB (a bucket per day of 9999 years): the chart's range
    is clamped to the data's, so it is the same answer as no range at all, one point per hour of data."""
    everything = client.get("/api/charts").json()
    huge = client.get("/api/charts", params={"start": "0001-01-01T00:00:00", "end": "9999-12-31T00:00:00"})
    assert huge.status_code == 200 and huge.json() == everything
    first = min(s["started_event"] for s in sessions).replace(minute=0, second=0, microsecond=0)
    last = max(s["latest_event"] for s in sessions)
    assert everything["bucket"] == "hour"
    assert len(everything["sessions_over_time"]) == (last - first) // timedelta(hours=1) + 1
    assert sum(p["sessions_started"] for p in everything["sessions_over_time"]) == len(sessions)


@pytest.mark.parametrize(
    "params",
    [
        {"start": "0001-01-01T00:00:00+01:00"},  # UTC would be in year 0
        {"end": "9999-12-31T23:30:00-01:00"},  # UTC would be in year 10000
        {"start": "0001-01-01T00:30:00+00:45", "end": "2026-11-26T12:00:00"},
    ],
)
def test_a_time_that_cannot_be_represented_is_a_422(client, params):
    response = client.get("/api/charts", params=params)
    assert response.status_code == 422 and "representable" in response.text, response.text


def test_journeys_with_a_time_that_cannot_be_represented_are_a_422(client):
    body = search(client, expect=422, time_range={"start": "0001-01-01T00:00:00+01:00"})
    assert "representable" in str(body["detail"])
    body = search(client, expect=422, filters=[{"column": "started_event", "op": "equals",
                                                 "value": "9999-12-31T23:59:59-05:00"}])  # fmt: skip
    assert "representable" in str(body["detail"]) and "started_event" in str(body["detail"])


def test_range_and_facets(client, sessions):
    body = client.get("/api/range").json()
    assert body["sessions"] == len(sessions)
    assert datetime.fromisoformat(body["first_started"]) == min(s["started_event"] for s in sessions)
    facets = client.get("/api/facets/device_class").json()["values"]
    expected = {}
    for s in sessions:
        expected[s["device_class"]] = expected.get(s["device_class"], 0) + 1
    assert {f["value"]: f["sessions"] for f in facets} == expected
    app = _value(sessions, "app")
    prefixed = client.get("/api/facets/app", params={"prefix": app[:4]}).json()["values"]
    assert app in [f["value"] for f in prefixed] and all(f["value"].startswith(app[:4]) for f in prefixed)
    assert client.get("/api/facets/actions").status_code == 404
    assert client.get("/api/facets/nope").status_code == 404
    assert client.get("/api/facets/app", params={"limit": 0}).status_code == 422


def test_openapi_spec_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    paths = {"/api/journeys/search", "/api/sessions/{organization}/{journey_id}", "/api/charts", "/api/columns"}
    assert paths <= set(spec["paths"])
    filter_schema = spec["components"]["schemas"]["Filter"]["properties"]
    column_enum = spec["components"]["schemas"]["Filter"]["properties"]["column"]["enum"]
    assert set(column_enum) == set(ORACLE_COLUMNS) and "op" in filter_schema
    responses = spec["paths"]["/api/journeys/search"]["post"]["responses"]
    assert {"200", "422", "503"} <= set(responses)


# ------------------------------------------------------------------------------------ warehouse unavailable


def test_busy_warehouse_is_a_503_not_a_hang(warehouse_path):
    """A DAG run holds DuckDB's write lock: the explorer retries briefly, then says so with a 503."""
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(60)",
            str(warehouse_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "locked"
        client = TestClient(create_app(DuckDBMartsReader(warehouse_path, lock_wait=1.0)))
        started = time.monotonic()
        response = client.post("/api/journeys/search", json={})
        elapsed = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert "busy" in response.json()["detail"] and response.headers["Retry-After"] == "5"
        assert 0.9 <= elapsed < 5
    finally:
        writer.kill()
        writer.wait()
    assert client.post("/api/journeys/search", json={}).status_code == 200  # the lock is gone: answers again


def test_missing_warehouse_or_marts_is_a_503(tmp_path):
    client = TestClient(create_app(DuckDBMartsReader(tmp_path / "absent.duckdb")))
    response = client.get("/api/range")
    assert response.status_code == 503 and "No warehouse" in response.json()["detail"]

    import duckdb

    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    client = TestClient(create_app(DuckDBMartsReader(tmp_path / "empty.duckdb")))
    response = client.post("/api/journeys/search", json={})
    assert response.status_code == 503 and "marts are not built" in response.json()["detail"]


def test_snowflake_seam_binds_named_parameters_as_pyformat():
    from eventpipe.sql import to_driver  # the one translation, which the Snowflake reader's fetch applies

    sql = "-- uses $name parameters, 100%\nselect '$x 5%' as s where a = $f0 and b ilike $f1 escape '!'  -- $f2\n"
    assert to_driver(SnowflakeMartsReader.engine, sql) == (
        "\nselect '$x 5%%' as s where a = %(f0)s and b ilike %(f1)s escape '!'  \n"
    )
