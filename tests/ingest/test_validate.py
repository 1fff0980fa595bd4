"""Validation and loading of one interval: one case per reason code, dedup, idempotency, bytes kept."""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime

import pytest

from eventpipe import warehouse
from eventpipe.ingest import load, reconcile, validate
from tests.conftest import write_landing_file

HOUR = datetime(2026, 11, 27, 10)
PARTITION = "dt=2026-11-27/hour=10"


def event(**overrides) -> dict:
    base = {
        "eventId": "e-1",
        "organizationId": "org-1",
        "eventTime": "2026-11-27T10:05:00Z",
        "kind": "Audit",
        "type": "user_login",
        "userId": "u-1",
        "email": "ada@example.com",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def line(obj) -> bytes:
    return json.dumps(obj).encode()


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "wh.duckdb") as connection:
        yield connection


def load_lines(con, tmp_path, lines: list[bytes], name="a.json.gz", run_id="r1"):
    landing = tmp_path / "landing"
    write_landing_file(landing, PARTITION, name, lines)
    return load.load_interval(con, str(landing), HOUR, run_id=run_id, attempt=1)


CASES = {
    "invalid_utf8": (
        b'{"eventId":"e-x","organizationId":"o","eventTime":"2026-11-27T10:00:00Z","kind":"Audit","type":"caf\xe9"}'
    ),
    "empty_line": b"   \t",
    "invalid_json": b'{"eventId": "e-x", "organizationId"',
    "not_an_object": b'["eventId", "e-x"]',
    "missing_required_field": line(event(organizationId=...)),
    "invalid_field_type": line(event(eventId=123)),
    "unknown_kind": line(event(kind="Billing")),
    "invalid_event_time": line(event(eventTime="2026-11-27T10:05:00")),  # no offset: ambiguous
    "event_time_out_of_range": line(event(eventTime="2031-01-01T00:00:00Z")),
    "invalid_organization_id": line(event(organizationId="../../escape")),
    "too_deeply_nested": line(event(extra=json.loads("[" * 65 + "]" * 65))),  # 66 levels with the event
}


@pytest.mark.parametrize("reason", sorted(CASES))
def test_each_reason_code_quarantines_the_line_byte_for_byte(con, tmp_path, reason):
    result = load_lines(con, tmp_path, [line(event()), CASES[reason]])

    assert (result.lines, result.loaded, result.quarantined) == (2, 1, 1)
    raw_line, got_reason, line_number, detail = con.execute(
        "SELECT raw_line, reason, line_number, detail FROM raw.quarantined_event"
    ).fetchone()
    assert got_reason == reason
    assert raw_line == CASES[reason]
    assert line_number == 2
    assert detail


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        (line(event(kind="Session", appId="a", sessionId=...)), "missing_required_field"),
        (line(event(kind="Session", appId="a", sessionId=7)), "invalid_field_type"),
        (line(event(eventId="  ")), "missing_required_field"),
        (line(event(type=None)), "missing_required_field"),
        (line(event(eventTime=True)), "invalid_field_type"),
        (line(event(kind="session")), "unknown_kind"),
        (line(event(eventTime="yesterday")), "invalid_event_time"),
        (line(event(eventTime="2026-11-27")), "invalid_event_time"),
        (line(event(eventTime=-5)), "invalid_event_time"),
        (line(event(eventTime=1.5e12 + 0.5)), "invalid_event_time"),
        (line(event(eventTime="1990-01-01T00:00:00Z")), "event_time_out_of_range"),
        (b'"just a string"', "not_an_object"),
        (b"\xff\xfe", "invalid_utf8"),
    ],
)
def test_edge_cases_get_the_right_reason(con, tmp_path, bad_line, reason):
    load_lines(con, tmp_path, [bad_line])
    assert con.execute("SELECT reason FROM raw.quarantined_event").fetchall() == [(reason,)]


@pytest.mark.parametrize(
    ("event_time", "expected_utc"),
    [
        ("2026-11-27T10:05:00Z", datetime(2026, 11, 27, 10, 5)),
        ("2026-11-27T12:05:00.250+02:00", datetime(2026, 11, 27, 10, 5, 0, 250000)),
        ("2026-11-27T05:05:00-0500", datetime(2026, 11, 27, 10, 5)),
        (1795773900000, datetime(2026, 11, 27, 10, 5)),
        ("1795773900000", datetime(2026, 11, 27, 10, 5)),
        ("2026-11-20T10:05:00Z", datetime(2026, 11, 20, 10, 5)),  # a week late: valid
    ],
)
def test_event_time_formats_load_as_utc(con, tmp_path, event_time, expected_utc):
    result = load_lines(con, tmp_path, [line(event(eventTime=event_time))])
    assert result.loaded == 1
    assert con.execute("SELECT event_time FROM raw.audit_event").fetchone()[0] == expected_utc


def test_session_event_fields_are_typed_and_unknown_fields_kept(con, tmp_path):
    session = event(
        kind="Session",
        type="custom_metric",
        appId="app-1",
        sessionId="s-1",
        userAgent={"deviceClass": "mobile", "browser": "Safari", "os": "iOS"},
        screenWidth=390,
        durationMillis="not a number",
        customMetric={"key": "CSAT", "field": "score", "value": 4},
        cxrVersion="9.1",
    )
    load_lines(con, tmp_path, [line(session)])
    row = con.execute(
        "SELECT device_class, browser, screen_width, duration_millis, custom_metric_key, custom_metric_value::DOUBLE,"
        " payload->>'$.cxrVersion', _line_number, _batch_id FROM raw.session_event"
    ).fetchone()
    assert row == ("mobile", "Safari", 390, None, "CSAT", 4.0, "9.1", 1, "20261127T10__r1__try1")


def test_duplicates_are_dropped_within_a_batch_and_across_history(con, tmp_path):
    first = load_lines(con, tmp_path, [line(event()), line(event()), line(event(eventId="e-2"))], name="a.json")
    assert (first.loaded, first.duplicates) == (2, 1)

    # The same event id arrives again, hours later, in another interval's file.
    landing = tmp_path / "landing"
    write_landing_file(landing, "dt=2026-11-27/hour=13", "b.json.gz", [line(event()), line(event(eventId="e-3"))])
    later = load.load_interval(con, str(landing), datetime(2026, 11, 27, 13), run_id="r2")
    assert (later.loaded, later.duplicates) == (1, 1)
    assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM raw.audit_event").fetchone() == (3, 3)
    # The first copy is the one kept.
    kept = con.execute("SELECT _batch_id FROM raw.audit_event WHERE event_id = 'e-1'").fetchone()[0]
    assert kept.endswith("r1__try1")


def test_rerunning_an_interval_changes_nothing(con, tmp_path):
    lines = [line(event(eventId=f"e-{i}")) for i in range(5)] + [CASES["invalid_json"]]
    load_lines(con, tmp_path, lines)
    before = con.execute("SELECT * FROM raw.audit_event ORDER BY event_id").fetchall()
    again = load.load_interval(con, str(tmp_path / "landing"), HOUR, run_id="r2")
    assert (again.files_seen, again.files_skipped, again.lines) == (1, 1, 0)
    assert con.execute("SELECT * FROM raw.audit_event ORDER BY event_id").fetchall() == before
    assert con.execute("SELECT count(*) FROM raw.quarantined_event").fetchone()[0] == 1


def test_a_new_file_in_an_already_loaded_hour_is_picked_up_by_a_rerun(con, tmp_path):
    load_lines(con, tmp_path, [line(event())], name="a.json.gz")
    write_landing_file(tmp_path / "landing", PARTITION, "b.json.gz", [line(event(eventId="e-9"))])
    again = load.load_interval(con, str(tmp_path / "landing"), HOUR, run_id="r2")
    assert (again.files_loaded, again.loaded) == (1, 1)


def test_small_load_groups_give_the_same_result_as_one_transaction(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    for name, ids in [("a.json", ["e-1", "e-2"]), ("b.json", ["e-2", "e-3"]), ("c.json", ["e-3", "e-1", "e-4"])]:
        write_landing_file(landing, PARTITION, name, [line(event(eventId=i)) for i in ids] + [CASES["invalid_json"]])
    outcomes = {}
    for group_bytes in ("1", str(1 << 30)):  # every file its own transaction / all in one
        monkeypatch.setenv("EVENTPIPE_LOAD_GROUP_BYTES", group_bytes)
        with warehouse.connect(tmp_path / f"wh-{group_bytes}.duckdb") as con:
            result = load.load_interval(con, str(landing), HOUR, run_id="r1")
            rows = con.execute("SELECT event_id, _source_file FROM raw.audit_event ORDER BY 1").fetchall()
        outcomes[group_bytes] = (result.lines, result.loaded, result.duplicates, result.quarantined, rows)
    assert outcomes["1"] == outcomes[str(1 << 30)]
    assert outcomes["1"][:4] == (10, 4, 3, 3)


def test_retries_of_one_run_get_distinct_batch_ids(con, tmp_path):
    load_lines(con, tmp_path, [line(event())])
    write_landing_file(tmp_path / "landing", PARTITION, "b.json.gz", [line(event(eventId="e-2"))])
    second = load.load_interval(con, str(tmp_path / "landing"), HOUR, run_id="r1", attempt=2)
    assert second.batch_id == "20261127T10__r1__try2"
    assert con.execute("SELECT count(*) FROM ops.load_batch WHERE run_id = 'r1'").fetchone()[0] == 2


def test_a_failed_load_leaves_nothing_behind(con, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    write_landing_file(landing, PARTITION, "a.json.gz", [line(event())])
    original = validate.drop_staging

    def crash(*args, **kwargs):  # after the raw rows and the ledger rows, before the commit
        original(*args, **kwargs)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(validate, "drop_staging", crash)
    with pytest.raises(RuntimeError):
        load.load_interval(con, str(landing), HOUR, run_id="r1")
    for table in ("raw.audit_event", "raw.quarantined_event", "ops.loaded_file", "ops.load_batch"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    monkeypatch.setattr(validate, "drop_staging", original)
    assert load.load_interval(con, str(landing), HOUR, run_id="r1").loaded == 1


def test_file_without_trailing_newline_and_empty_file(con, tmp_path):
    landing = tmp_path / "landing"
    write_landing_file(
        landing, PARTITION, "a.ndjson", [line(event()), line(event(eventId="e-2"))], newline_at_end=False
    )
    write_landing_file(landing, PARTITION, "empty.json.gz", [], newline_at_end=False)
    result = load.load_interval(con, str(landing), HOUR, run_id="r1")
    assert (result.files_loaded, result.lines, result.loaded) == (2, 2, 2)
    assert reconcile.reconcile_interval(con, str(landing), HOUR).balanced


def test_reconcile_detects_a_lost_row_and_an_unloaded_file(con, tmp_path):
    load_lines(con, tmp_path, [line(event()), line(event(eventId="e-2")), CASES["not_an_object"]])
    ok = reconcile.reconcile_interval(con, str(tmp_path / "landing"), HOUR)
    assert ok.balanced and (ok.lines_landed, ok.rows_in_raw, ok.rows_in_quarantine) == (3, 2, 1)

    con.execute("DELETE FROM raw.audit_event WHERE event_id = 'e-2'")
    write_landing_file(tmp_path / "landing", PARTITION, "late.json.gz", [line(event(eventId="e-3"))])
    broken = reconcile.reconcile_interval(con, str(tmp_path / "landing"), HOUR)
    assert not broken.balanced
    assert any("never loaded" in problem for problem in broken.problems)
    assert any("3 lines landed != 1 in raw" in problem for problem in broken.problems)
    with pytest.raises(reconcile.ReconciliationError):
        reconcile.assert_reconciled(broken)


@pytest.mark.parametrize(
    "organization_id",
    ["../../escape", "x/../globex", "org-1\n", "org 1", "a" * 129, "ørg", "org\u0000", "..", "org.1", "%2e%2e"],
)
def test_an_organization_id_outside_the_pattern_is_quarantined(con, tmp_path, organization_id):
    bad = line(event(eventId="e-2", organizationId=organization_id))
    result = load_lines(con, tmp_path, [line(event()), bad])
    assert result.quarantined_by_reason == {"invalid_organization_id": 1}
    assert con.execute("SELECT raw_line FROM raw.quarantined_event").fetchone()[0] == bad
    assert con.execute("SELECT DISTINCT organization_id FROM raw.audit_event").fetchall() == [("org-1",)]


def test_the_organization_id_pattern_accepts_its_whole_alphabet_and_length(con, tmp_path):
    ids = ["A-z_0-9", "a" * 128, "0"]
    result = load_lines(con, tmp_path, [line(event(eventId=f"e-{i}", organizationId=o)) for i, o in enumerate(ids)])
    assert (result.loaded, result.quarantined) == (3, 0)


def test_nesting_at_the_cap_loads_and_inside_strings_does_not_count(con, tmp_path):
    at_cap = event(eventId="e-2", extra=json.loads("[" * 63 + "]" * 63))  # 64 levels with the event object
    brackets_in_a_string = event(eventId="e-3", note="[" * 500 + "{" * 500)
    result = load_lines(con, tmp_path, [line(at_cap), line(brackets_in_a_string), CASES["too_deeply_nested"]])
    assert (result.loaded, result.quarantined_by_reason) == (2, {"too_deeply_nested": 1})
    assert "66 levels" in con.execute("SELECT detail FROM raw.quarantined_event").fetchone()[0]


def test_a_line_over_the_cap_is_quarantined_with_prefix_length_and_hash(con, tmp_path, monkeypatch):
    import hashlib

    monkeypatch.setenv("EVENTPIPE_MAX_LINE_BYTES", "1024")
    huge = line(event(eventId="e-2", pad="x" * 5000))
    result = load_lines(con, tmp_path, [line(event()), huge, line(event(eventId="e-3"))])
    assert (result.loaded, result.quarantined_by_reason) == (2, {"line_too_long": 1})
    raw_line, line_number, detail = con.execute(
        "SELECT raw_line, line_number, detail FROM raw.quarantined_event"
    ).fetchone()
    assert (raw_line, line_number) == (huge[:4096], 2)
    assert f"line of {len(huge)} bytes over the cap of 1024" in detail
    assert hashlib.sha256(huge).hexdigest() in detail
    assert reconcile.reconcile_interval(con, str(tmp_path / "landing"), HOUR).balanced


def test_a_byte_order_mark_and_crlf_line_ends_are_not_part_of_the_lines(con, tmp_path):
    landing = tmp_path / "landing"
    body = b"\xef\xbb\xbf" + line(event()) + b"\r\n" + line(event(eventId="e-2")) + b"\r\n"
    for name, data in [("a.json", body), ("b.json.gz", gzip.compress(body.replace(b'"e-', b'"f-')))]:
        (landing / PARTITION).mkdir(parents=True, exist_ok=True)
        (landing / PARTITION / name).write_bytes(data)
    result = load.load_interval(con, str(landing), HOUR, run_id="r1")
    assert (result.lines, result.loaded, result.quarantined) == (4, 4, 0)
    payloads = [row[0] for row in con.execute("SELECT payload::VARCHAR FROM raw.audit_event").fetchall()]
    assert not any("\r" in p or "\ufeff" in p for p in payloads)


def test_every_reason_code_is_documented_in_precedence_order():
    from eventpipe.contract import LIMIT_REASON_CODES
    from eventpipe.contract import LINE_REASON_CODES as ALL_REASON_CODES
    from eventpipe.devtools.generate.faults import REASON_CODES
    from eventpipe.settings import REPO_ROOT
    from eventpipe.sql import load_sql

    sql = load_sql("duckdb", "validate_chunk")
    header = sql.split("one case per code):", 1)[1].split("(eventpipe.contract", 1)[0]
    documented = re.findall(r"[a-z0-9]+(?:_[a-z0-9]+)+", header)
    assert documented == list(ALL_REASON_CODES)
    assert set(ALL_REASON_CODES) == set(REASON_CODES) | set(LIMIT_REASON_CODES)
    positions = [sql.index(f"then '{code}'") for code in ALL_REASON_CODES]  # the CASE tries them in this order
    assert positions == sorted(positions)
    assert set(ALL_REASON_CODES) <= set(CASES) | {"line_too_long"}
    readme = (REPO_ROOT / "README.md").read_text()
    assert all(f"`{code}`" in readme for code in ALL_REASON_CODES)
