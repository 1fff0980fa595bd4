"""Marts built once for the explorer's tests: generated hours run through ``event_pipeline`` by
``eventpipe run --hourly`` (real DAG runs, real dbt, real DuckDB), so every row links back to a real DAG run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from eventpipe.devtools.generate.landing import generate
from tests.tenant_support import (
    SHARED_SESSION_ID,
    organizations_and_apps,
    session_event,
    write_colliding_sessions,
    write_landing,
)

from .ui_support import standalone

START = datetime(2026, 11, 26, 10)
HOURS = 2


@pytest.fixture(scope="session")
def marts_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("explorer_home")
    truth = generate(
        landing=str(home / "landing"),
        start=START,
        hours=HOURS,
        orgs=2,
        sessions_per_hour=8,
        seed=23,
        late_fraction=0.08,
        files_per_hour=2,
    )
    # Both organizations also land a session with the same id (written here, not by the generator); the
    # second's gets one more event an hour late, so the incremental run of hour 11 touches it alone.
    (first, first_app), (second, second_app) = organizations_and_apps(truth)
    expected = write_colliding_sessions(home / "landing", (first, second), (first_app, second_app), START)
    late = session_event(second, second_app, SHARED_SESSION_ID, 9, "message_received", START + timedelta(minutes=50))
    write_landing(home / "landing", START + timedelta(hours=1), [late], "colliding-late.ndjson.gz")
    (home / "colliding.json").write_text(
        json.dumps({org: [*session.event_ids, *([late["eventId"]] if org == second else [])]
                    for org, session in expected.items()})
    )  # fmt: skip
    env = dict(os.environ, EVENTPIPE_HOME=str(home))
    env.pop("EVENTPIPE_LANDING", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "eventpipe.cli",
            "run",
            "--hourly",
            "--start",
            "2026-11-26T10:00",
            "--end",
            "2026-11-26T12:00",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"eventpipe run failed:\n{result.stdout}\n{result.stderr[-5000:]}"
    return home


@pytest.fixture(scope="package")
def airflow(marts_home):
    """One ``airflow standalone`` on the marts for this folder's browser tests: (base URL, admin password)."""
    with standalone(marts_home) as running:
        yield running


@pytest.fixture(scope="session")
def warehouse_path(marts_home) -> Path:
    return marts_home / "warehouse.duckdb"


@pytest.fixture(scope="session")
def colliding(marts_home) -> dict[str, list[str]]:
    """organization -> the event ids it landed for the session id both organizations use (SHARED_SESSION_ID)."""
    return json.loads((marts_home / "colliding.json").read_text())


def sql(path: Path, statement: str, params=None) -> list[tuple]:
    """An independent read of the marts (the oracle the explorer's answers are checked against)."""
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(statement, params or []).fetchall()
