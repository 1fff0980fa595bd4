"""The warehouse the pipeline loads into and reads from: embedded DuckDB or Snowflake.

One interface, two engines. The loader, the reconciliation and the run summary talk to a
``Warehouse``; each engine keeps its SQL in ``sql/<engine>/`` under the same file names and its
own way of landing a validated group (``load_group``). Which one a process uses is
``EVENTPIPE_TARGET`` (``duckdb``, the embedded default, or ``snowflake``), read by ``open_warehouse``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb

from eventpipe import settings, staging, storage
from eventpipe.sql import load_sql


@dataclass(frozen=True)
class QuarantinedFile:
    """A landing file quarantined whole (``ops.quarantined_file``), as last recorded."""

    source_file: str
    file_bytes: int
    file_version: str
    reason: str
    detail: str | None

    def same_copy(self, stored: storage.StoredFile) -> bool:
        """Whether ``stored`` is the copy that was quarantined (not a fixed copy landed since), so that a
        re-run need not read it again. A file found gone is read again whenever it is listed again."""
        if self.reason == "file_missing":
            return False
        return (self.file_bytes, self.file_version) == (stored.size, stored.version)


class Warehouse(Protocol):
    engine: str

    def fetchall(self, sql_name: str, params: dict[str, Any] | None = None) -> list[tuple]:
        """Rows of the named query (``sql/<engine>/<sql_name>.sql``)."""

    def execute_script(self, sql_name: str) -> None:
        """Run every statement of the named file (DDL)."""

    def executemany(self, sql_name: str, rows: list[list[Any]]) -> None:
        """Run the named statement once per row of positional parameters."""

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Statements in the block commit together where the engine allows it (see each engine)."""

    def loaded_files(self, urls: list[str]) -> set[str]:
        """Which of ``urls`` the ledger (``ops.loaded_file``) already holds."""

    def quarantined_files(self, urls: list[str]) -> dict[str, QuarantinedFile]:
        """The latest file-level quarantine record of each of ``urls`` not in the ledger."""

    def load_group(
        self, group: list[storage.StoredFile], interval_start: datetime, batch_id: str, loaded_at: datetime
    ) -> staging.GroupOutcome:
        """Validate and load one group of files: raw rows, quarantined lines and ledger rows, and a
        ``ops.quarantined_file`` row (instead of a ledger row) for a file that cannot be read to its end."""

    def record_batch(self, params: dict[str, Any]) -> None:
        """One ``ops.load_batch`` row for a load attempt."""

    def replay_quarantine(
        self, reason: str | None, batch_id: str, loaded_at: datetime
    ) -> tuple[int, staging.GroupOutcome]:
        """Validate unreplayed quarantined lines again (``eventpipe.replay``): load those that pass, mark
        them replayed, move them from quarantined in their files' ledger rows. Returns (lines tried, outcome)."""

    def close(self) -> None: ...


def connect(path: Path | str | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the embedded DuckDB warehouse with the settings every eventpipe connection needs, tables created."""
    path = Path(path) if path else settings.warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    configure(con, memory_limit, path.parent / "duckdb_tmp")
    con.execute(load_sql("duckdb", "create_tables"))
    return con


def configure(con: duckdb.DuckDBPyConnection, memory_limit: str | None, temp_directory: Path) -> None:
    con.execute("SET TimeZone = 'UTC'")  # event_time is UTC; casts from TIMESTAMPTZ must not shift it
    # SET takes no bind parameters: quote the values as SQL literals.
    con.execute(f"SET memory_limit = {_literal(memory_limit or settings.duckdb_memory_limit())}")
    con.execute(f"SET temp_directory = {_literal(str(temp_directory))}")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class DuckDBWarehouse:
    """The embedded warehouse: the group is validated and loaded in the warehouse itself, in one transaction."""

    engine = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def fetchall(self, sql_name: str, params: dict[str, Any] | None = None) -> list[tuple]:
        return self.con.execute(load_sql("duckdb", sql_name), params or {}).fetchall()

    def execute_script(self, sql_name: str) -> None:
        self.con.execute(load_sql("duckdb", sql_name))

    def executemany(self, sql_name: str, rows: list[list[Any]]) -> None:
        self.con.executemany(load_sql("duckdb", sql_name), rows)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.begin()
        try:
            yield
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise

    def loaded_files(self, urls: list[str]) -> set[str]:
        return {row[0] for row in self.fetchall("select_loaded_files", {"urls": urls})} if urls else set()

    def quarantined_files(self, urls: list[str]) -> dict[str, QuarantinedFile]:
        rows = self.fetchall("select_quarantined_files", {"urls": urls}) if urls else []
        return {row[0]: QuarantinedFile(*row) for row in rows}

    def load_group(self, group, interval_start, batch_id, loaded_at) -> staging.GroupOutcome:
        """Raw rows, quarantined lines and files, and ledger rows of the group commit together or not at all."""
        con = self.con
        con.begin()
        try:
            outcome = staging.stage_group(con, [f.url for f in group], interval_start, batch_id, loaded_at)
            for stored in group:
                if stored.url in outcome.unreadable:
                    row = quarantined_file_row(stored, outcome.unreadable[stored.url], interval_start, batch_id)
                    con.execute(load_sql("duckdb", "insert_quarantined_file"), row | {"quarantined_at": loaded_at})
                    continue
                counts = outcome.files[stored.url]
                con.execute(
                    load_sql("duckdb", "insert_loaded_file"),
                    ledger_row(stored, counts, interval_start, batch_id, loaded_at),
                )
            staging.drop_staging(con)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return outcome

    def record_batch(self, params: dict[str, Any]) -> None:
        self.con.execute(load_sql("duckdb", "insert_load_batch"), params)

    def replay_quarantine(self, reason, batch_id, loaded_at) -> tuple[int, staging.GroupOutcome]:
        """All of it in one transaction."""
        with self.transaction():
            candidates = self.fetchall("select_replay_candidates", {"reason": reason})
            outcome = staging.stage_replayed_lines(self.con, candidates, batch_id, loaded_at)
            self.con.execute(load_sql("duckdb", "update_ledger_after_replay"))
            self.con.execute(load_sql("duckdb", "mark_replayed"), {"batch_id": batch_id})
            staging.drop_staging(self.con)
        return len(candidates), outcome

    def close(self) -> None:
        self.con.close()


def ledger_row(stored: storage.StoredFile, counts: staging.FileOutcome, interval_start, batch_id, loaded_at) -> dict:
    return {
        "source_file": stored.url,
        "interval_start": interval_start,
        "batch_id": batch_id,
        "file_bytes": stored.size,
        "lines": counts.lines,
        "loaded": counts.loaded,
        "duplicates": counts.duplicates,
        "quarantined": counts.quarantined,
        "loaded_at": loaded_at,
    }


def quarantined_file_row(stored: storage.StoredFile, unreadable, interval_start, batch_id) -> dict:
    return {
        "source_file": stored.url,
        "interval_start": interval_start,
        "reason": unreadable.reason,
        "detail": unreadable.detail,
        "file_bytes": stored.size,
        "file_version": stored.version,
        "batch_id": batch_id,
    }


def as_warehouse(target: Warehouse | duckdb.DuckDBPyConnection) -> Warehouse:
    """A plain DuckDB connection is the embedded warehouse; anything else already is a ``Warehouse``."""
    return DuckDBWarehouse(target) if isinstance(target, duckdb.DuckDBPyConnection) else target


@contextlib.contextmanager
def open_warehouse() -> Iterator[Warehouse]:
    """The configured warehouse (``EVENTPIPE_TARGET``), closed after the block."""
    if settings.warehouse_target() == "snowflake":
        from eventpipe.snowflake_warehouse import SnowflakeWarehouse

        warehouse: Warehouse = SnowflakeWarehouse.connect()
    else:
        warehouse = DuckDBWarehouse(connect())
    try:
        yield warehouse
    finally:
        warehouse.close()
