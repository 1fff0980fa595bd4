"""The marts take what the loads committed, in commit order, whatever the loaders' clocks say.

A load stamps its rows' ``_loaded_at`` when its group starts (``utc_now()`` in ``ingest/load.py``) and commits
later: on Snowflake, loads of several hours run at once, so a load stamped first can commit last.

GIVEN loader A (hour A) that has taken its ``_loaded_at`` and is held before its commit,
AND loader B (hour B), stamped after A, that loads and commits meanwhile,
WHEN the marts build (`dbt build`, B's rows in, A's not yet visible), then A commits and the marts build again,
THEN every event A loaded is in ``marts.fct_session_events`` (its audit and platform events in their facts) and
every session A's events belong to is complete in ``marts.fct_sessions`` (as many events as raw holds for it,
from its first to its last event), although A's ``_loaded_at`` is older than B's (the clock order is not the
commit order; ``ops.load_commit`` numbers A's commit after B's).

On the Snowflake emulator (the real loader, ``SnowflakeWarehouse``, and dbt-snowflake over HTTP), A is held after
it validated and staged its group, right before its commit transaction: where a real loader spends its time. On
DuckDB one process at a time holds the warehouse file, so A (the real loader and the real ``DuckDBWarehouse``)
opens the file for each step only and is held between its stamp and its commit with the file closed, so that B and
dbt (another process) can open it: the same interleaving, through the DuckDB models.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from eventpipe import warehouse
from eventpipe.devtools import emulator
from eventpipe.devtools.generate.landing import generate
from eventpipe.ingest import load
from eventpipe.warehouse.snowflake_engine import SnowflakeWarehouse

REPO = Path(__file__).resolve().parents[2]
PROJECT_DIR = REPO / "dbt_project"
HOUR_A = datetime(2026, 11, 26, 10)
HOUR_B = HOUR_A + timedelta(hours=1)
EVENT_FACTS = {
    "raw.session_event": "marts.fct_session_events",
    "raw.audit_event": "marts.fct_audit_events",
    "raw.platform_event": "marts.fct_platform_events",
}
# Every session A's commit has an event of: raw's count and time span of its events against its fct_sessions row.
SESSIONS_OF_A = """
with touched as (
    select distinct organization_id, session_id
    from raw.session_event
    where _commit_seq = {commit_seq} and session_id is not null
),
in_raw as (
    select e.organization_id, e.session_id, count(*) as events, min(e.event_time) as first, max(e.event_time) as last
    from raw.session_event as e
    inner join touched as t on e.organization_id = t.organization_id and e.session_id = t.session_id
    group by e.organization_id, e.session_id
)
select
    in_raw.organization_id, in_raw.session_id, in_raw.events, in_raw.first, in_raw.last,
    s.event_count, s.started_at, s.last_event_at
from in_raw
left join marts.fct_sessions as s
    on in_raw.organization_id = s.organization_id and in_raw.session_id = s.session_id
order by 1, 2
"""


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> str:
    """Two arrival hours of two organizations; some of hour A's sessions get late events in hour B."""
    root = tmp_path_factory.mktemp("handover_landing")
    generate(
        landing=str(root),
        start=HOUR_A,
        hours=2,
        orgs=2,
        sessions_per_hour=4,
        seed=31,
        late_fraction=0.1,
        duplicate_fraction=0.03,
        malformed_fraction=0.0,
        files_per_hour=2,
    )
    return str(root)


@pytest.fixture
def endpoint(tmp_path):
    with emulator.running(directory=tmp_path / "sf", log_path=tmp_path / "emulator.log") as running:
        yield running


def dbt_build(tmp_path: Path, env: dict[str, str], *target: str) -> None:
    """The hourly `dbt build` (what the DAG runs), real dbt in its own process."""
    dbt = Path(sys.executable).with_name("dbt")
    dbt = dbt if dbt.exists() else Path(shutil.which("dbt") or "dbt")
    command = [str(dbt), "build", *target, "--exclude", "tag:ci_only", "--project-dir", str(PROJECT_DIR),
               "--profiles-dir", str(PROJECT_DIR), "--target-path", str(tmp_path / "target"),
               "--log-path", str(tmp_path / "logs"), "--no-use-colors"]  # fmt: skip
    env = {**os.environ, **env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"


class Held:
    """Where loader A stops: ``arrived`` is set when it gets there (its ``_loaded_at`` taken), then it waits for
    ``release``."""

    def __init__(self) -> None:
        self.arrived, self.release = threading.Event(), threading.Event()

    def stop_here(self) -> None:
        self.arrived.set()
        assert self.release.wait(600), "loader A was never released"


class LoaderA(threading.Thread):
    """``load.load_interval(target, landing, HOUR_A)`` in a thread; its result or its error kept."""

    def __init__(self, target: Any, landing: str) -> None:
        super().__init__(name="loader-a", daemon=True)
        self.target, self.landing = target, landing
        self.result: load.LoadResult | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = load.load_interval(self.target, self.landing, HOUR_A, run_id="loader-a")
        except BaseException as error:  # reported by finish()
            self.error = error

    def finish(self) -> load.LoadResult:
        self.join(600)
        assert not self.is_alive(), "loader A did not finish"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def stamped_first_committed_last(
    held: Held,
    loader_a: LoaderA,
    load_b,
    build,
    query,
) -> None:
    """The scenario, the same on both engines; ``query(sql)`` -> rows, ``load_b()`` -> B's LoadResult."""
    loader_a.start()
    assert held.arrived.wait(300), f"loader A never reached its commit: {loader_a.error!r}"
    result_b = load_b()
    assert result_b.loaded > 0 and result_b.commits
    build()  # B's rows are in; A's are not committed yet
    [[in_marts]] = query(f"select count(*) from marts.fct_session_events where _batch_id = '{result_b.batch_id}'")
    assert in_marts > 0, "the first build did not take B's commit"

    held.release.set()
    result_a = loader_a.finish()
    assert result_a.loaded > 0 and result_a.commits
    build()

    # The clock says A loaded first; the commit sequence says A committed last.
    [commit_a] = result_a.commits
    [commit_b] = result_b.commits
    assert commit_a > commit_b
    [[a_stamped, a_stamped_too]] = query(
        f"select min(_loaded_at), max(_loaded_at) from raw.session_event where _commit_seq = {commit_a}"
    )
    [[b_stamped]] = query(f"select min(_loaded_at) from raw.session_event where _commit_seq = {commit_b}")
    assert a_stamped == a_stamped_too and a_stamped < b_stamped, (a_stamped, b_stamped)

    # Every event of A is in its fact table.
    loaded = 0
    for raw, fact in EVENT_FACTS.items():
        ids = {row[0] for row in query(f"select event_id from {raw} where _commit_seq = {commit_a}")}
        built = {row[0] for row in query(f"select event_id from {fact}")}
        missing = ids - built
        assert not missing, f"{len(missing)} of the {len(ids)} events A committed are not in {fact}"
        loaded += len(ids)
    assert loaded == result_a.loaded

    # Every session A's commit touched is complete: all of its events, old and new, counted once.
    sessions = query(SESSIONS_OF_A.format(commit_seq=commit_a))
    assert sessions, "A loaded no session events: the check would prove nothing"
    incomplete = [row for row in sessions if tuple(row[2:5]) != tuple(row[5:8])]
    assert not incomplete, f"{len(incomplete)} of A's {len(sessions)} sessions are incomplete: {incomplete[:3]}"


@pytest.mark.timeout(1500)
def test_on_snowflake_a_load_stamped_first_and_committed_last_reaches_the_marts(
    endpoint, landing, tmp_path, monkeypatch
):
    from snowflake import connector

    monkeypatch.setenv("EVENTPIPE_LOAD_GROUP_BYTES", str(10**12))  # one group, one commit, one stamp per loader

    def connect() -> SnowflakeWarehouse:
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

    # A stops after validating and staging its group, right before its commit transaction.
    held = Held()
    commit_group = SnowflakeWarehouse._commit_group

    def held_commit(self, *args, **kwargs):
        if threading.current_thread().name == "loader-a":
            held.stop_here()
        return commit_group(self, *args, **kwargs)

    monkeypatch.setattr(SnowflakeWarehouse, "_commit_group", held_commit)
    a, b = connect(), connect()
    home = tmp_path / "home"
    env = {**endpoint.environ(), "EVENTPIPE_HOME": str(home)}

    def query(sql: str) -> list[tuple]:
        with b.conn.cursor() as cursor:
            return cursor.execute(sql).fetchall()

    try:
        stamped_first_committed_last(
            held,
            LoaderA(a, landing),
            lambda: load.load_interval(b, landing, HOUR_B, run_id="loader-b"),
            lambda: dbt_build(tmp_path, env, "--target", "snowflake_emulator"),
            query,
        )
    finally:
        held.release.set()
        for target in (a, b):
            target.close()


class OpenedPerCall:
    """The embedded warehouse at ``path``, opened for each call and closed after it (a real ``DuckDBWarehouse`` on
    ``warehouse.connect``), so that between calls another process (dbt) can open the file. ``load_group`` first
    stops at ``held``: after the loader took the group's ``_loaded_at``, before anything is written."""

    engine = "duckdb"

    def __init__(self, path: Path, held: Held | None = None) -> None:
        self.path, self.held = path, held

    def load_group(self, *args: Any, **kwargs: Any) -> Any:
        if self.held is not None:
            self.held.stop_here()
        return self._call("load_group", *args, **kwargs)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self._call(name, *args, **kwargs)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with contextlib.closing(warehouse.connect(self.path)) as con:
            return getattr(warehouse.DuckDBWarehouse(con), name)(*args, **kwargs)


@pytest.mark.timeout(600)
def test_on_duckdb_a_load_stamped_first_and_committed_last_reaches_the_marts(landing, tmp_path, monkeypatch):
    monkeypatch.setenv("EVENTPIPE_LOAD_GROUP_BYTES", str(10**12))
    home = tmp_path / "home"
    path = home / "warehouse.duckdb"
    warehouse.connect(path).close()  # the raw and ops tables
    held = Held()

    def query(sql: str) -> list[tuple]:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(sql).fetchall()

    try:
        stamped_first_committed_last(
            held,
            LoaderA(OpenedPerCall(path, held), landing),
            lambda: load.load_interval(OpenedPerCall(path), landing, HOUR_B, run_id="loader-b"),
            lambda: dbt_build(tmp_path, {"EVENTPIPE_HOME": str(home)}),
            query,
        )
    finally:
        held.release.set()
