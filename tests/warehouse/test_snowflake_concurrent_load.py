"""Snowflake loaders at once (the emulator over HTTP, one connection each, as Celery workers would run them), on the
same events: every event is kept exactly once, nothing is lost, the intervals reconcile, no load table is left
behind, whatever the timing: two loaders on overlapping hours, a commit held open far longer than any lease, two
commits of the same event ids released at the same instant, a loader SIGKILLed inside its commit.
(eventpipe.warehouse.commits: the warehouse serializes the commits, no clock does.)"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from eventpipe import warehouse
from eventpipe.devtools import emulator
from eventpipe.devtools.generate.landing import generate
from eventpipe.ingest import extract, load, reconcile
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


@contextlib.contextmanager
def mock_env(env: dict[str, str]):
    """The emulator is a child process: it reads its settings from this process's environment when it starts."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


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


def copies_of_hour_a(landing: str, tmp_path: Path, copies: int) -> str:
    """A landing zone whose hour A holds ``copies`` copies of every file of hour A under other names: every event id
    arrives ``copies`` times, in different files (what an at-least-once producer does)."""
    root = tmp_path / "copies"
    source = Path(landing) / f"dt={HOUR_A:%Y-%m-%d}" / f"hour={HOUR_A:%H}"
    target = root / source.relative_to(landing)
    target.mkdir(parents=True)
    for number in range(copies):
        for path in sorted(source.iterdir()):
            shutil.copy(path, target / f"copy{number}-{path.name}")
    return str(root)


def stalled_inside_the_commit(monkeypatch, seconds: float, who: str) -> threading.Event:
    """Make the loader running in thread ``who`` stop for ``seconds`` inside its load commit, after inserting its
    rows, holding the commit sequence: far longer than a MERGE took (and, with the old lease at a few seconds, longer
    than the lease: tests/warehouse/README-style proof that no clock hands anything over). Returns an event set once
    the stall began."""
    stalled = threading.Event()
    insert = SnowflakeWarehouse._insert_new_rows

    def slow(cursor, token, staged, commit_seq):
        insert(cursor, token, staged, commit_seq)
        if threading.current_thread().name == who and not stalled.is_set():
            stalled.set()
            time.sleep(seconds)

    monkeypatch.setattr(SnowflakeWarehouse, "_insert_new_rows", staticmethod(slow))
    return stalled


def test_a_commit_held_open_past_any_lease_blocks_the_other_loader_and_each_event_is_kept_once(
    endpoint, landing, tmp_path, monkeypatch
):
    """Loader A stops inside its commit, its rows inserted, for 8 s (the merge lease this replaced expired after
    EVENTPIPE_MERGE_LEASE_SECONDS, here 2); loader B commits copies of the same events meanwhile. B waits for A's
    commit (the warehouse serializes them), then finds every event kept: one row per event id, A's commit first."""
    monkeypatch.setenv("EVENTPIPE_MERGE_LEASE_SECONDS", "2")  # what the old lease would have allowed
    zone = copies_of_hour_a(landing, tmp_path, copies=2)
    source = Path(zone) / f"dt={HOUR_A:%Y-%m-%d}" / f"hour={HOUR_A:%H}"
    first, second = sorted(p for p in source.iterdir() if p.name.startswith("copy0")), None
    for path in sorted(source.iterdir()):  # A gets the copy0 files, B the copy1 files of the same events
        if path.name.startswith("copy1"):
            path.rename(path.with_name("z-" + path.name))
    second = sorted(p for p in source.iterdir() if p.name.startswith("z-"))
    assert first and len(first) == len(second)
    stalled = stalled_inside_the_commit(monkeypatch, 8, who="loader-a")
    a, b = connect(endpoint), connect(endpoint)
    results: dict[str, load.LoadResult] = {}
    timings: dict[str, float] = {}

    def run(name: str, target: SnowflakeWarehouse) -> None:
        started = time.monotonic()
        results[name] = load.load_interval(target, zone, HOUR_A, run_id=name)
        timings[name] = time.monotonic() - started

    monkeypatch.setenv("EVENTPIPE_LOAD_GROUP_BYTES", str(10**12))  # one group (one commit) per loader
    loader_a = threading.Thread(target=run, args=("a", a), name="loader-a")
    loader_a.start()
    assert stalled.wait(120), "loader A never reached its commit"
    b_started = time.monotonic()
    run("b", b)
    b_took = time.monotonic() - b_started
    loader_a.join(120)
    ids = event_ids(a)
    assert len(ids) == len(set(ids)), "an event id was inserted twice"
    assert b_took > 4, f"B committed in {b_took:.1f}s, while A held the commit sequence"
    assert results["a"].commits == [1] and results["b"].commits in ([2], [])
    assert results["a"].loaded == len(set(ids)) and results["b"].loaded == 0
    assert reconcile.reconcile_interval(a, zone, HOUR_A).balanced
    for target in (a, b):
        target.close()


def test_two_commits_of_the_same_event_ids_at_the_same_instant_keep_one_row(endpoint, landing, tmp_path, monkeypatch):
    """Two loaders, each with its own copies of the same events, released at once at the start of their commits, many
    times over (small groups): every event id is kept once, and the ledger balances."""
    zone = copies_of_hour_a(landing, tmp_path, copies=2)
    monkeypatch.setenv("EVENTPIPE_LOAD_GROUP_BYTES", "1")
    take = SnowflakeWarehouse._take_commit_seq
    gate = threading.Barrier(2, timeout=60)

    def together(cursor):
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait()  # both loaders reach the commit point, then both ask for the sequence
        return take(cursor)

    monkeypatch.setattr(SnowflakeWarehouse, "_take_commit_seq", staticmethod(together))
    source = Path(zone) / f"dt={HOUR_A:%Y-%m-%d}" / f"hour={HOUR_A:%H}"
    halves = {0: [], 1: []}
    for path in sorted(source.iterdir()):
        halves[int(path.name[4])].append(path)
    zones = []
    for number, paths in halves.items():  # two landing zones: each loader sees one copy of every event
        root = tmp_path / f"zone{number}" / source.relative_to(zone)
        root.mkdir(parents=True)
        for path in paths:
            shutil.copy(path, root / path.name)
        zones.append(str(tmp_path / f"zone{number}"))
    loaders = [connect(endpoint), connect(endpoint)]
    errors: list[Exception] = []

    def run(target, zone_url):
        try:
            load.load_interval(target, zone_url, HOUR_A, run_id="same-instant")
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=pair) for pair in zip(loaders, zones, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert not errors, errors
    ids = event_ids(loaders[0])
    assert len(ids) == len(set(ids)), "an event id was inserted twice"
    seqs = [row[0] for row in loaders[0].fetchall("list_commits")]
    assert seqs == list(range(1, len(seqs) + 1)), "commit numbers are not dense and in order"
    # Every line of both zones accounted for once: each file ledgered once, its lines loaded, duplicate or quarantined.
    landed = [path for zone_url in zones for path in Path(zone_url).rglob("*.json.gz")]
    lines = sum(extract.count_lines(str(path)) for path in landed)
    with loaders[0].conn.cursor() as cursor:
        ledger = cursor.execute(
            "select count(*), count(distinct source_file), sum(lines), sum(loaded), sum(duplicates), sum(quarantined)"
            " from ops.loaded_file"
        ).fetchone()
        quarantined = cursor.execute("select count(*) from raw.quarantined_event").fetchone()[0]
    files, distinct_files, ledger_lines, loaded, duplicates, ledger_quarantined = map(int, ledger)
    assert files == distinct_files == len(landed)
    assert ledger_lines == lines == loaded + duplicates + ledger_quarantined
    assert loaded == len(ids) and ledger_quarantined == quarantined
    for target in loaders:
        target.close()


KILLED_INSIDE_THE_COMMIT = """
import sys, time
from pathlib import Path
from datetime import datetime
from snowflake import connector
from eventpipe.ingest import load
from eventpipe.warehouse.snowflake_engine import SnowflakeWarehouse

host, port, landing, marker = sys.argv[1:5]
insert = SnowflakeWarehouse._insert_new_rows


def stop_inside(cursor, token, staged, commit_seq):
    insert(cursor, token, staged, commit_seq)
    Path(marker).write_text(str(commit_seq))
    time.sleep(600)


SnowflakeWarehouse._insert_new_rows = staticmethod(stop_inside)
conn = connector.connect(user="x", password="x", account="fakesnow", host=host, port=int(port), protocol="http",
                         database="ANALYTICS")
load.load_interval(SnowflakeWarehouse(conn), landing, datetime(2026, 11, 26, 10), run_id="killed")
"""


def test_a_loader_sigkilled_inside_its_commit_leaves_nothing_and_the_next_one_proceeds(landing, tmp_path):
    """A loader is SIGKILLed inside its load commit (rows inserted, transaction open, holding the sequence): none of
    its rows is ever visible; the next loader waits until the warehouse rolls the dead transaction back (Snowflake
    after five idle minutes, the emulator after EVENTPIPE_EMULATOR_IDLE_ABORT_SECONDS, here 3), then loads every
    event once."""
    marker = tmp_path / "inside"
    env = os.environ | {"EVENTPIPE_EMULATOR_IDLE_ABORT_SECONDS": "3", "EVENTPIPE_LOAD_GROUP_BYTES": str(10**12)}
    with mock_env(env), emulator.running(directory=tmp_path / "sf", log_path=tmp_path / "emulator.log") as endpoint:
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_INSIDE_THE_COMMIT, endpoint.host, str(endpoint.port), landing, str(marker)],
            env=env,
        )
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert child.poll() is None and time.monotonic() < deadline, "the loader never reached its commit"
            time.sleep(0.05)
        survivor = connect(endpoint)
        assert sum(count for _, count in survivor.fetchall("raw_event_counts")) == 0, "uncommitted rows are visible"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        started = time.monotonic()
        result = load.load_interval(survivor, landing, HOUR_A, run_id="after-the-kill")
        waited = time.monotonic() - started
        ids = event_ids(survivor)
        assert len(ids) == len(set(ids)) and result.loaded == len(ids) > 0
        assert result.commits == [1], "the killed loader's commit number was taken for good"
        assert waited >= 2, "the survivor committed while the dead transaction still held the sequence"
        assert reconcile.reconcile_interval(survivor, landing, HOUR_A).balanced
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
