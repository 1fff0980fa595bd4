"""What the end-to-end tests share: ``eventpipe`` as a user runs it, and reading what a run left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb


def eventpipe(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``eventpipe ARGS`` in a child process, with ``home`` as EVENTPIPE_HOME and its default landing zone."""
    environ = dict(os.environ, EVENTPIPE_HOME=str(home), **(env or {}))
    environ.pop("EVENTPIPE_LANDING", None)
    return subprocess.run(
        [sys.executable, "-m", "eventpipe.cli", *args], env=environ, capture_output=True, text=True, timeout=900
    )


def query(home: Path, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def ndjson(paths) -> list[dict]:
    return [json.loads(line) for path in sorted(paths) for line in Path(path).read_text().splitlines() if line]
