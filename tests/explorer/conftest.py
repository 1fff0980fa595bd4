"""Marts built once for the explorer's tests: generated hours run through ``event_pipeline`` by
``eventpipe run`` (real DAG runs, real dbt, real DuckDB), so every row links back to a real DAG run."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from eventpipe.generate import generate

START = datetime(2026, 11, 26, 10)
HOURS = 2


@pytest.fixture(scope="session")
def marts_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("explorer_home")
    generate(
        landing=str(home / "landing"),
        start=START,
        hours=HOURS,
        orgs=2,
        sessions_per_hour=8,
        seed=23,
        late_fraction=0.08,
        files_per_hour=2,
    )
    env = dict(os.environ, EVENTPIPE_HOME=str(home))
    env.pop("EVENTPIPE_LANDING", None)
    result = subprocess.run(
        [sys.executable, "-m", "eventpipe.cli", "run", "--start", "2026-11-26T10:00", "--end", "2026-11-26T12:00"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"eventpipe run failed:\n{result.stdout}\n{result.stderr[-5000:]}"
    return home


@pytest.fixture(scope="session")
def warehouse_path(marts_home) -> Path:
    return marts_home / "warehouse.duckdb"


def sql(path: Path, statement: str, params=None) -> list[tuple]:
    """An independent read of the marts (the oracle the explorer's answers are checked against)."""
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(statement, params or []).fetchall()
