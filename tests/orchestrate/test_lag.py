"""Lag per stage (``eventpipe.orchestrate.lag``): what waits at each stage, how old the oldest is, and which stages
are behind the SLA; each stage's lag falls to zero once it has taken everything."""

from __future__ import annotations

import os
from datetime import UTC, timedelta

import pytest
import yaml

from eventpipe import warehouse
from eventpipe.deliver.config import load_destinations
from eventpipe.deliver.run import deliver_pending
from eventpipe.devtools.generate.landing import generate
from eventpipe.devtools.receivers.local import local_receivers
from eventpipe.ingest import pending
from eventpipe.orchestrate import lag
from eventpipe.utc import hour_floor, utc_now
from eventpipe.warehouse import DuckDBWarehouse

pytestmark = pytest.mark.slow

SPLUNK = {
    "destinations": {
        "local_splunk": {
            "type": "splunk_hec",
            "organizations": ["*"],
            "connection_id": "eventpipe_local_hec",
            "index": "app_events",
        }
    }
}


def connection(conn_id: str):
    from airflow.models.connection import Connection

    return Connection.from_json(os.environ["AIRFLOW_CONN_" + conn_id.upper()], conn_id=conn_id)


def by_stage(lags, now) -> dict[str, tuple[int, float]]:
    return {entry.stage: (entry.waiting, round(entry.seconds(now))) for entry in lags}


def test_each_stage_waits_until_it_has_taken_everything(eventpipe_home, monkeypatch):
    path = eventpipe_home / "destinations.yml"
    path.write_text(yaml.safe_dump(SPLUNK))
    monkeypatch.setenv("EVENTPIPE_DESTINATIONS", str(path))
    landing = eventpipe_home / "landing"
    hour = hour_floor(utc_now()) - timedelta(hours=2)
    generate(landing=str(landing), start=hour, hours=1, orgs=1, sessions_per_hour=3, seed=3, files_per_hour=2)
    files = sorted(landing.rglob("*.json.gz"))
    written = (utc_now() - timedelta(minutes=20)).replace(tzinfo=UTC).timestamp()
    os.utime(files[0], (written, written))  # the oldest waited 20 minutes
    destinations = load_destinations()
    limit = timedelta(minutes=15)

    with warehouse.connect(eventpipe_home / "warehouse.duckdb") as con:
        wh = DuckDBWarehouse(con)
        now = utc_now()
        before = lag.measure(wh, str(landing), destinations, now)
        waiting = by_stage(before, now)
        assert waiting["landing -> raw"][0] == len(files)
        assert 20 * 60 - 5 <= waiting["landing -> raw"][1] <= 20 * 60 + 60
        assert [entry.stage for entry in lag.behind(before, limit, now)] == ["landing -> raw"]
        assert "BEHIND" in lag.table(before, limit, now)

        loaded = pending.load_pending(wh, str(landing), *pending.window(now))
        now = utc_now()
        after_load = by_stage(lag.measure(wh, str(landing), destinations, now), now)
        commits = len(loaded.commits)
        assert after_load["landing -> raw"] == (0, 0)
        assert after_load["raw -> local_splunk"][0] == commits and after_load["raw -> marts"][0] == commits
        later = now + timedelta(minutes=16)  # nothing taken them for 16 minutes: both behind
        stale = lag.behind(lag.measure(wh, str(landing), destinations, later), limit, later)
        assert {entry.stage for entry in stale} == {"raw -> local_splunk", "raw -> marts"}

        with local_receivers(eventpipe_home):
            run = deliver_pending(wh, get_connection=connection, run_id="lag")
        assert not run.failed
        con.execute(
            "create or replace table ops.dbt_build_bound as select max(commit_seq) as commit_seq from ops.load_commit"
        )  # fmt: skip  (what a build's on-run-start writes)
        now = utc_now()
        caught_up = by_stage(lag.measure(wh, str(landing), destinations, now), now)
    assert caught_up == {"landing -> raw": (0, 0), "raw -> local_splunk": (0, 0), "raw -> marts": (0, 0)}
