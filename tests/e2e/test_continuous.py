"""The continuous DAGs under a real scheduler (``airflow standalone``, what ``eventpipe up`` starts): nothing is
triggered by hand. ``load_events`` polls every minute; its asset event on the ledger of load commits wakes
``deliver_events`` and ``transform`` (asset-triggered runs, not the 5-minute sweep); a file landing late into the
same hour's folder reaches raw and Splunk minutes later, not at the next hour."""

from __future__ import annotations

import json
import shutil
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from eventpipe.devtools.generate.landing import generate
from eventpipe.utc import hour_floor, utc_now
from tests.e2e.support import Standalone, free_port, wait_for

pytestmark = pytest.mark.slow

CONTINUOUS = ("load_events", "deliver_events", "transform")


def raw_session_ids(home: Path) -> set[str] | None:
    try:
        with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
            return {row[0] for row in con.execute("select event_id from raw.session_event").fetchall()}
    except duckdb.Error:  # the file is being written (one writer process), or has no tables yet
        return None


def sessions_in_marts(home: Path) -> int | None:
    try:
        with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
            return con.execute("select count(*) from marts.fct_sessions").fetchone()[0]
    except duckdb.Error:
        return None


def at_splunk(home: Path) -> set[str]:
    found = set()
    for path in (home / "received" / "splunk").glob("*.ndjson"):
        found.update(json.loads(line)["fields"]["event_id"] for line in path.read_text().splitlines() if line.strip())
    return found


def test_landed_files_flow_to_raw_splunk_and_marts_without_a_trigger(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("EVENTPIPE_HOME", str(home))
    monkeypatch.delenv("EVENTPIPE_LANDING", raising=False)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "True")  # only what the test unpauses runs
    monkeypatch.setenv("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", str(free_port()))
    monkeypatch.setenv("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", str(free_port()))
    hour = hour_floor(utc_now()) - timedelta(hours=2)
    fractions = {"late_fraction": 0, "duplicate_fraction": 0, "malformed_fraction": 0}
    truth = generate(landing=str(home / "landing"), start=hour, hours=1, orgs=1, sessions_per_hour=3, seed=5,
                     files_per_hour=1, **fractions)  # fmt: skip

    with Standalone(tmp_path / "standalone.log", dag_id="load_events") as airflow:
        for dag_id in CONTINUOUS:
            airflow.api(f"/dags/{dag_id}", {"is_paused": False}, method="PATCH")

        raw = wait_for(lambda: (ids := raw_session_ids(home)) and len(ids) >= 10 and ids, 300, "the first load")
        wait_for(lambda: raw <= at_splunk(home), 300, "the load's App Events at Splunk")
        wait_for(lambda: sessions_in_marts(home) == len(truth.sessions), 420, "the marts to hold every session")

        # A late file into the same (closed) hour's folder: loaded by the next poll, delivered on its asset event.
        late = tmp_path / "late"
        generate(landing=str(late), start=hour, hours=1, orgs=1, sessions_per_hour=2, seed=6, files_per_hour=1,
                 **fractions)  # fmt: skip
        (source,) = late.rglob("*.json.gz")
        target = next((home / "landing").rglob("*.json.gz")).with_name("late-" + source.name)
        landed = time.monotonic()
        shutil.copy(source, target.with_suffix(".tmp"))
        target.with_suffix(".tmp").rename(target)
        late_ids = {json.loads(line)["eventId"] for line in _lines(source) if json.loads(line)["kind"] == "Session"}
        wait_for(lambda: late_ids <= (raw_session_ids(home) or set()), 180, "the late file in raw")
        to_raw = time.monotonic() - landed
        wait_for(lambda: late_ids <= at_splunk(home), 240, "the late file's App Events at Splunk")
        to_splunk = time.monotonic() - landed

        runs = airflow.api("/dags/deliver_events/dagRuns?limit=100")["dag_runs"]
        loads = airflow.api("/dags/load_events/dagRuns?limit=100")["dag_runs"]
    print(f"late file: in raw after {to_raw:.0f} s, at Splunk after {to_splunk:.0f} s")
    assert {run["run_type"] for run in runs} >= {"asset_triggered"}, [r["run_type"] for r in runs]
    assert all(run["run_type"] == "scheduled" for run in loads)
    # every App Event once at Splunk: the runs woken twice, or by the sweep, sent nothing twice
    copies = []
    for path in (home / "received" / "splunk").glob("*.ndjson"):
        copies += [json.loads(line)["fields"]["event_id"] for line in path.read_text().splitlines() if line.strip()]
    assert len(copies) == len(set(copies)) == len(raw_session_ids(home))


def _lines(path: Path) -> list[str]:
    import gzip

    return [line for line in gzip.decompress(path.read_bytes()).decode().splitlines() if line.strip()]
