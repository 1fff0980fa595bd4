"""A read snapshot of the embedded warehouse: what readers query while the pipeline writes.

DuckDB takes one writer process, and refuses readers in other processes while it writes; with a load every minute
that is most of the time. After each build (``transform``) the marts and the ledger of load batches are copied into
a file of their own, ``$EVENTPIPE_HOME/readers/read_snapshot.duckdb``, written beside it and renamed over it
(readers that have it open keep the copy they opened). The explorer reads it once it exists: as fresh as the last
build, which is what the marts themselves are, and it never takes the warehouse's lock a load or delivery needs.

Snowflake takes concurrent readers: there, nothing is copied.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb

from eventpipe import settings
from eventpipe.sql import load_sql


def path() -> Path:
    # (not marts.duckdb: its catalog would be named marts, and `marts.fct_sessions` ambiguous)
    return settings.eventpipe_home() / "readers" / "read_snapshot.duckdb"


def publish(warehouse: duckdb.DuckDBPyConnection, target: Path | None = None) -> dict:
    """Copy the readers' tables from ``warehouse`` (a connection that may write) into ``target``, atomically."""
    target = target or path()
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    staged.unlink(missing_ok=True)
    started = time.perf_counter()
    tables = warehouse.execute(load_sql("duckdb", "read_snapshot_tables")).fetchall()
    warehouse.execute(load_sql("duckdb", "attach_read_snapshot"), {"path": str(staged)})
    try:
        for schema, table in tables:
            warehouse.execute(load_sql("duckdb", "copy_to_read_snapshot").format(schema=schema, table=table))
    finally:
        warehouse.execute(load_sql("duckdb", "detach_read_snapshot"))
    os.replace(staged, target)
    return {"tables": len(tables), "bytes": target.stat().st_size, "seconds": round(time.perf_counter() - started, 2)}
