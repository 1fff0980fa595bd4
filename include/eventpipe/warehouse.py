"""The embedded DuckDB warehouse: one file at ``$EVENTPIPE_HOME/warehouse.duckdb``."""

from __future__ import annotations

from pathlib import Path

import duckdb

from eventpipe import settings
from eventpipe.sql import load_sql


def connect(path: Path | str | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with the settings every eventpipe connection needs, tables created."""
    path = Path(path) if path else settings.warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")  # event_time is UTC; casts from TIMESTAMPTZ must not shift it
    con.execute(f"SET memory_limit = '{memory_limit or settings.duckdb_memory_limit()}'")
    con.execute(f"SET temp_directory = '{path.parent / 'duckdb_tmp'}'")
    con.execute(load_sql("duckdb", "create_tables"))
    return con
