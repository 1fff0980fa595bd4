"""Two Snowflake loaders at once (the emulator over HTTP, one connection each, as two Celery workers would run them),
on overlapping events: every event is loaded exactly once, nothing is lost, both intervals reconcile, and no load
table is left behind. Then a loader that died holding the merge lease: the next loader proceeds once it expires."""

from __future__ import annotations

import re
import shutil
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from eventpipe import warehouse
from eventpipe.devtools import emulator
from eventpipe.devtools.generate.landing import generate
from eventpipe.ingest import load, reconcile
from eventpipe.warehouse.snowflake_engine import SnowflakeWarehouse

HOUR_A = datetime(2026, 11, 26, 10)
HOUR_B = HOUR_A + timedelta(hours=1)
RAW = ("raw.session_event", "raw.audit_event", "raw.platform_event")


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> str:
    """Two hours; hour B also holds a copy of every file of hour A (the producer delivered them again)."""
    root = tmp_path_factory.mktemp("concurrent_landing")
    generate(
        landing=str(root),
        start=HOUR_A,
        hours=2,
        orgs=2,
        sessions_per_hour=6,
        seed=53,
        late_fraction=0.1,
        duplicate_fraction=0.1,
        malformed_fraction=0.05,
        files_per_hour=4,
    )
    hour_a, hour_b = (root / f"dt={hour:%Y-%m-%d}" / f"hour={hour:%H}" for hour in (HOUR_A, HOUR_B))
    for path in sorted(hour_a.iterdir()):
        shutil.copy(path, hour_b / f"again-{path.name}")
    return str(root)


@pytest.fixture
def endpoint(tmp_path):
    with emulator.running(directory=tmp_path / "sf", log_path=tmp_path / "emulator.log") as running:
        yield running


def connect(endpoint) -> SnowflakeWarehouse:
    from snowflake import connector

    return SnowflakeWarehouse(
        connector.connect(
            user="loader",
            password="emulator",
            account="fakesnow",
            host=endpoint.host,
            port=endpoint.port,
            protocol="http",
            database="ANALYTICS",
        )
    )


def event_ids(target) -> list[str]:
    ids = []
    for table in RAW:
        with target.conn.cursor() as cursor:
            ids += [row[0] for row in cursor.execute(f"select event_id from {table}").fetchall()]
    return ids


def embedded_expectation(landing: str, tmp_path: Path) -> tuple[set[str], int]:
    with warehouse.connect(tmp_path / "wh.duckdb") as con:
        for hour in (HOUR_A, HOUR_B):
            load.load_interval(con, landing, hour, run_id="sequential")
        ids = {row[0] for table in RAW for row in con.execute(f"select event_id from {table}").fetchall()}
        quarantined = con.execute("select count(*) from raw.quarantined_event").fetchone()[0]
    return ids, quarantined


def test_two_loaders_at_once_load_every_event_once(endpoint, landing, tmp_path, monkeypatch):
    # Small load groups: each hour is several groups, so the two loaders interleave many times.
    monkeypatch.setenv("EVENTPIPE_LOAD_GROUP_BYTES", "1")
    expected_ids, expected_quarantined = embedded_expectation(landing, tmp_path)
    loaders = [connect(endpoint), connect(endpoint)]
    start = threading.Barrier(2)
    results, errors = {}, []

    def run(target: SnowflakeWarehouse, hour: datetime) -> None:
        try:
            start.wait()
            results[hour] = load.load_interval(target, landing, hour, run_id=f"concurrent-{hour:%H}")
        except Exception as error:  # reported below with the other loader's outcome
            errors.append(error)

    threads = [threading.Thread(target=run, args=pair) for pair in zip(loaders, (HOUR_A, HOUR_B), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    check = loaders[0]
    ids = event_ids(check)
    assert len(ids) == len(set(ids)), "an event was loaded twice"
    assert set(ids) == expected_ids, "an event was lost (or one appeared that the embedded loader does not load)"
    with check.conn.cursor() as cursor:
        quarantined, distinct_lines = cursor.execute(
            "select count(*), count(distinct source_file || ':' || line_number) from raw.quarantined_event"
        ).fetchone()
        tables = [row[0] for row in cursor.execute("select table_name from information_schema.tables").fetchall()]
    leftovers = [name for name in tables if re.search(r"_stage_[0-9a-f]{32}$", name, re.IGNORECASE)]
    assert any(name.lower() == "session_event_stage" for name in tables), "the query sees the load-table templates"
    assert quarantined == distinct_lines == expected_quarantined
    assert sum(result.loaded for result in results.values()) == len(expected_ids)
    for hour in (HOUR_A, HOUR_B):
        assert reconcile.reconcile_interval(check, landing, hour).balanced, hour
    assert leftovers == [], "per-load tables were left behind"
    for target in loaders:
        target.close()


def test_a_crashed_holder_s_lease_expires_and_the_next_loader_proceeds(endpoint, landing, monkeypatch):
    from eventpipe.warehouse import snowflake_lock

    monkeypatch.setenv("EVENTPIPE_MERGE_LEASE_SECONDS", "3")
    crashed = connect(endpoint)
    lease = snowflake_lock.acquire(crashed.conn, holder="worker-that-died")
    assert lease is not None
    crashed.conn.close()  # died holding the lease: it is never released

    survivor = connect(endpoint)
    assert snowflake_lock.acquire(survivor.conn, holder="too-early") is None, "a live lease was taken over"
    started = datetime.now()
    result = load.load_interval(survivor, landing, HOUR_A, run_id="after-crash")
    waited = (datetime.now() - started).total_seconds()
    assert result.loaded > 0 and reconcile.reconcile_interval(survivor, landing, HOUR_A).balanced
    assert waited >= 1, "the loader merged while the dead holder's lease was still live"
    survivor.close()


def test_what_a_killed_loader_left_is_dropped_by_a_later_load(endpoint, landing, monkeypatch):
    """A loader killed between creating its load tables and dropping them (its ``finally`` never ran) leaves the
    tables, its stage folder and its ``ops.load_in_progress`` row; a later load drops them once they are stale, and
    never the tables of a load still young enough to be running."""
    from eventpipe.warehouse import snowflake_tables

    killed = connect(endpoint)
    tables = snowflake_tables.load_tables(killed.conn)
    token = tables.__enter__()  # ... and the process dies here: no __exit__, no drop
    young = snowflake_tables.load_tables(killed.conn)
    live_token = young.__enter__()

    def leftovers(target) -> set[str]:
        with target.conn.cursor() as cursor:
            names = [row[0] for row in cursor.execute("select table_name from information_schema.tables").fetchall()]
            rows = [row[0] for row in cursor.execute("select token from ops.load_in_progress").fetchall()]
        found = {m.group(1).lower() for name in names if (m := re.search(r"_stage_([0-9a-f]{32})$", name, re.I))}
        return found | set(rows)

    assert leftovers(killed) == {token, live_token}
    survivor = connect(endpoint)
    monkeypatch.setenv("EVENTPIPE_STALE_LOAD_SECONDS", "3600")
    load.load_interval(survivor, landing, HOUR_A, run_id="too-early-to-sweep")
    assert leftovers(survivor) == {token, live_token}, "a load dropped tables that may still be in use"

    with survivor.conn.cursor() as cursor:  # the killed load started long ago; the other one just now
        cursor.execute(
            "update ops.load_in_progress set started_at = dateadd(hour, -7, started_at) where token = %(token)s",
            {"token": token},
        )
    monkeypatch.delenv("EVENTPIPE_STALE_LOAD_SECONDS")
    result = load.load_interval(survivor, landing, HOUR_B, run_id="after-the-kill")
    assert result.loaded > 0 and reconcile.reconcile_interval(survivor, landing, HOUR_B).balanced
    assert leftovers(survivor) == {live_token}, "the killed load's tables were not dropped"
    young.__exit__(None, None, None)
    assert leftovers(survivor) == set()
    for target in (killed, survivor):
        target.close()
