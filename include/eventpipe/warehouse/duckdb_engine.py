"""The embedded warehouse: DuckDB, where a group is validated and loaded in one transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from eventpipe import settings
from eventpipe.ingest import validate
from eventpipe.sql import load_sql
from eventpipe.warehouse.base import QuarantinedFile, ledger_row, quarantined_file_row


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

    def load_group(self, group, interval_start, batch_id, loaded_at) -> validate.GroupOutcome:
        """Raw rows, quarantined lines and files, and ledger rows of the group commit together or not at all."""
        con = self.con
        con.begin()
        try:
            outcome = validate.stage_group(con, [f.url for f in group], interval_start, batch_id, loaded_at)
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
            validate.drop_staging(con)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return outcome

    def record_batch(self, params: dict[str, Any]) -> None:
        self.con.execute(load_sql("duckdb", "insert_load_batch"), params)

    def replay_quarantine(self, reason, batch_id, loaded_at) -> tuple[int, validate.GroupOutcome]:
        """All of it in one transaction."""
        with self.transaction():
            candidates = self.fetchall("select_replay_candidates", {"reason": reason})
            outcome = validate.stage_replayed_lines(self.con, candidates, batch_id, loaded_at)
            self.con.execute(load_sql("duckdb", "update_ledger_after_replay"))
            self.con.execute(load_sql("duckdb", "mark_replayed"), {"batch_id": batch_id})
            validate.drop_staging(self.con)
        return len(candidates), outcome

    def close(self) -> None:
        self.con.close()
