"""The Snowflake loader against the emulator (fakesnow over HTTP, the real snowflake-connector):
the same results as the embedded loader, idempotent re-runs, and a crash between MERGE and ledger
that a re-run repairs without a duplicate row."""

from __future__ import annotations

from datetime import datetime

import pytest

from eventpipe import warehouse
from eventpipe.devtools import emulator
from eventpipe.devtools.generate.landing import generate
from eventpipe.ingest import load, reconcile
from eventpipe.warehouse.snowflake_engine import SnowflakeWarehouse

HOUR = datetime(2026, 11, 26, 10)


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("sf_landing")
    generate(
        landing=str(root),
        start=HOUR,
        hours=2,
        orgs=2,
        sessions_per_hour=6,
        seed=41,
        late_fraction=0.1,
        duplicate_fraction=0.08,
        malformed_fraction=0.05,
        files_per_hour=3,
    )
    return str(root)


@pytest.fixture
def snowflake(tmp_path):
    from snowflake import connector

    with emulator.running(directory=tmp_path / "sf", log_path=tmp_path / "emulator.log") as endpoint:
        conn = connector.connect(
            user="loader",
            password="emulator",
            account="fakesnow",
            host=endpoint.host,
            port=endpoint.port,
            protocol="http",
            database="ANALYTICS",
        )
        target = SnowflakeWarehouse(conn)
        yield target
        target.close()


def counts(result: load.LoadResult) -> tuple:
    return (
        result.lines,
        result.loaded,
        result.duplicates,
        result.quarantined,
        result.loaded_by_kind,
        result.quarantined_by_reason,
    )


def test_loads_what_the_embedded_loader_loads_and_reconciles(snowflake, landing, tmp_path):
    with warehouse.connect(tmp_path / "wh.duckdb") as con:
        for hour in (HOUR, datetime(2026, 11, 26, 11)):
            on_duckdb = load.load_interval(con, landing, hour, run_id="r")
            on_snowflake = load.load_interval(snowflake, landing, hour, run_id="r")
            assert counts(on_snowflake) == counts(on_duckdb)
            assert on_snowflake.loaded > 0 and on_snowflake.duplicates > 0 and on_snowflake.quarantined > 0
            checked = reconcile.reconcile_interval(snowflake, landing, hour)
            assert checked.balanced, checked.problems
            assert checked.rows_in_raw == on_duckdb.loaded


def test_a_rerun_loads_nothing_twice(snowflake, landing):
    first = load.load_interval(snowflake, landing, HOUR, run_id="r", attempt=1)
    again = load.load_interval(snowflake, landing, HOUR, run_id="r", attempt=2)
    assert first.files_loaded == 3 and again.files_skipped == 3 and again.files_loaded == 0
    assert snowflake.fetchall("load_totals")[0][2] == first.loaded
    assert len(snowflake.fetchall("reconcile_interval", {"interval_start": HOUR, "batch_id": None})) == 3


def test_a_failure_after_the_inserts_leaves_nothing_and_the_rerun_loads_everything_once(
    snowflake, landing, monkeypatch
):
    """Failing after the raw rows are inserted, before the ledger rows: the load commit is one transaction, so no
    row of it stays (no raw row, no ledger row, no ops.load_commit row), and the re-run loads every event once."""

    def killed(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(SnowflakeWarehouse, "_record_files", killed)
    with pytest.raises(RuntimeError, match="worker killed"):
        load.load_interval(snowflake, landing, HOUR, run_id="r", attempt=1)
    assert sum(count for _, count in snowflake.fetchall("raw_event_counts")) == 0
    assert snowflake.fetchall("load_totals")[0][0] == 0  # nothing ledgered
    assert snowflake.fetchall("last_commit_seq") == [(0,)]

    monkeypatch.undo()
    rerun = load.load_interval(snowflake, landing, HOUR, run_id="r", attempt=2)
    assert rerun.loaded == sum(count for _, count in snowflake.fetchall("raw_event_counts")) > 0
    assert rerun.commits == [1]
    assert reconcile.reconcile_interval(snowflake, landing, HOUR).balanced


def test_replay_on_snowflake_loads_what_a_fix_lets_through(snowflake, tmp_path, monkeypatch):
    """The same replay as tests/ingest/test_replay.py, on the emulator: quarantined by a validator that did
    not know the Audit kind, replayed after the fix; a replay that fails inside its commit leaves nothing, the next
    one replays it all."""
    from eventpipe.ingest import replay, validate
    from eventpipe.sql import load_sql
    from tests.conftest import write_landing_file
    from tests.ingest.test_replay import BUGGY_VALIDATION
    from tests.ingest.test_validate import HOUR as TEST_HOUR
    from tests.ingest.test_validate import PARTITION, event, line

    monkeypatch.setattr(
        validate, "load_sql", lambda e, n: BUGGY_VALIDATION if n == "validate_chunk" else load_sql(e, n)
    )
    landing = tmp_path / "landing"
    lines = [line(event(eventId="a-1")), line(event(eventId="a-2")), line(event(eventId="a-1")), b"{not json"]
    write_landing_file(landing, PARTITION, "a.json.gz", lines)
    first = load.load_interval(snowflake, str(landing), TEST_HOUR, run_id="r")
    monkeypatch.undo()
    assert (first.loaded, first.quarantined) == (0, 4)

    def killed(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(SnowflakeWarehouse, "_record_commit", killed)  # rows inserted and marked, not committed
    with pytest.raises(RuntimeError):
        replay.replay_quarantine(snowflake, reason="unknown_kind")
    monkeypatch.undo()
    assert dict(snowflake.fetchall("raw_event_counts"))["raw.audit_event"] == 0
    ledger = snowflake.fetchall("reconcile_interval", {"interval_start": TEST_HOUR, "batch_id": None})
    assert ledger[0][1:5] == (4, 0, 0, 4)
    result = replay.replay_quarantine(snowflake, reason="unknown_kind")
    assert (result.replayed, result.loaded, result.duplicates, result.still_quarantined) == (3, 2, 1, 0)
    assert dict(snowflake.fetchall("raw_event_counts"))["raw.audit_event"] == 2
    ledger = snowflake.fetchall("reconcile_interval", {"interval_start": TEST_HOUR, "batch_id": None})[0]
    assert ledger[1:5] == (4, 2, 1, 1)  # lines, loaded, duplicates, quarantined
    assert reconcile.reconcile_interval(snowflake, str(landing), TEST_HOUR).balanced
    assert replay.replay_quarantine(snowflake).loaded == 0  # only the invalid JSON line is left, still invalid


def test_an_event_id_kept_as_one_kind_is_a_duplicate_as_another_on_both_engines(snowflake, tmp_path):
    from tests.conftest import write_landing_file
    from tests.ingest.test_validate import event, line

    landing = tmp_path / "landing"
    first, second = datetime(2026, 11, 27, 10), datetime(2026, 11, 27, 11)
    session = event(eventId="x-1", kind="Session", type="page_view", appId="a", sessionId="s")
    write_landing_file(landing, "dt=2026-11-27/hour=10", "a.json.gz", [line(session)])
    audit = event(eventId="x-1", eventTime="2026-11-27T11:05:00Z")  # the same id, now as an Audit event
    write_landing_file(landing, "dt=2026-11-27/hour=11", "b.json.gz", [line(audit)])
    with warehouse.connect(tmp_path / "wh.duckdb") as con:
        for hour in (first, second):
            on_duckdb = load.load_interval(con, str(landing), hour, run_id="r")
            on_snowflake = load.load_interval(snowflake, str(landing), hour, run_id="r")
            assert counts(on_snowflake) == counts(on_duckdb)
    assert (on_snowflake.loaded, on_snowflake.duplicates) == (0, 1)
    assert dict(snowflake.fetchall("raw_event_counts")) == {
        "raw.session_event": 1,
        "raw.audit_event": 0,
        "raw.platform_event": 0,
    }


def test_a_file_quarantined_whole_on_snowflake_as_on_duckdb(snowflake, tmp_path):
    """A truncated file among good ones, with the new line limits: the same outcome on both engines,
    ops.quarantined_file on Snowflake, reconcile balances, a re-run skips that copy, a fixed copy loads once."""
    import os

    from tests.conftest import write_landing_file
    from tests.ingest.test_file_quarantine import good_lines, land_hour
    from tests.ingest.test_validate import CASES, PARTITION
    from tests.ingest.test_validate import HOUR as TEST_HOUR

    landing = tmp_path / "landing"
    bad = land_hour(landing, good_lines("b"))
    hostile = [b"\xef\xbb\xbf" + good_lines("d", 1)[0], CASES["invalid_organization_id"], CASES["too_deeply_nested"]]
    write_landing_file(landing, PARTITION, "d.json", hostile)
    with warehouse.connect(tmp_path / "wh.duckdb") as con:
        on_duckdb = load.load_interval(con, str(landing), TEST_HOUR, run_id="r")
    on_snowflake = load.load_interval(snowflake, str(landing), TEST_HOUR, run_id="r")
    assert counts(on_snowflake) == counts(on_duckdb)
    assert on_snowflake.quarantined_by_reason == {
        "invalid_json": 1,
        "invalid_organization_id": 1,
        "too_deeply_nested": 1,
    }
    assert (on_snowflake.files_quarantined, on_snowflake.files_loaded) == (1, 3)
    assert on_snowflake.quarantined_files == on_duckdb.quarantined_files
    assert snowflake.fetchall("quarantined_file_count") == [(1,)]
    checked = reconcile.reconcile_interval(snowflake, str(landing), TEST_HOUR)
    assert checked.balanced and checked.files_quarantined == 1, checked.problems

    again = load.load_interval(snowflake, str(landing), TEST_HOUR, run_id="r2")
    assert (again.files_skipped, again.files_quarantined, again.lines) == (3, 1, 0)
    write_landing_file(landing, PARTITION, "b.json.gz", good_lines("b"))
    os.utime(bad, ns=(os.stat(bad).st_atime_ns, os.stat(bad).st_mtime_ns + 1_000_000))
    fixed = load.load_interval(snowflake, str(landing), TEST_HOUR, run_id="r3")
    assert (fixed.files_loaded, fixed.loaded, fixed.files_quarantined) == (1, 200, 0)
    assert snowflake.fetchall("quarantined_file_count") == [(0,)]
    assert reconcile.reconcile_interval(snowflake, str(landing), TEST_HOUR).balanced
