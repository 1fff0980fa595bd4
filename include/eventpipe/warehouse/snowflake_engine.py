"""The Snowflake warehouse: the production target, and the emulator's (fakesnow) in local runs and CI.

A group of landing files is validated by the same DuckDB SQL as on the embedded target, in a
scratch in-memory DuckDB (``eventpipe.ingest.validate``), and lands in Snowflake in three steps:

1. each raw table's new rows are written as Parquet and ``PUT`` on the internal stage
   ``@raw.load_stage`` under a folder of the load's own, then ``COPY INTO`` transient load tables of the
   load's own (``raw.<table>_stage_<token>``, dropped after), so loaders can run at once;
2. ``MERGE`` inserts the rows whose ``event_id`` (quarantine: file and line) is not already there,
   which is the deduplication against all history; loaders take turns for it (``eventpipe.warehouse.snowflake_lock``);
3. the ledger rows (``ops.loaded_file``) are written last, from what the tables then hold.

Snowflake commits DDL implicitly, so a group is not one transaction here as it is on DuckDB.
Instead every step is idempotent: a group re-run after a crash merges nothing twice, and a file is
only skipped once its ledger row, written last, exists.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from eventpipe import storage
from eventpipe.contract import RAW_TABLES
from eventpipe.ingest import validate
from eventpipe.sql import load_sql
from eventpipe.warehouse import snowflake_lock, snowflake_tables
from eventpipe.warehouse.base import QuarantinedFile, ledger_row, quarantined_file_row
from eventpipe.warehouse.connections import connect_snowflake
from eventpipe.warehouse.duckdb_engine import configure

log = logging.getLogger(__name__)


class SnowflakeWarehouse:
    engine = "snowflake"

    def __init__(self, conn):
        self.conn = conn
        self.conn.execute_string(load_sql("snowflake", "create_tables"))

    @classmethod
    def connect(cls, conn_id: str | None = None) -> SnowflakeWarehouse:
        return cls(connect_snowflake(conn_id))

    def fetchall(self, sql_name: str, params: dict[str, Any] | None = None) -> list[tuple]:
        with self.conn.cursor() as cursor:
            cursor.execute(load_sql("snowflake", sql_name), params)
            return cursor.fetchall()

    def execute_script(self, sql_name: str) -> None:
        self.conn.execute_string(load_sql("snowflake", sql_name))

    def executemany(self, sql_name: str, rows: list[list[Any]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(load_sql("snowflake", sql_name), rows)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """No transaction: every statement the callers group here is an idempotent upsert (MERGE), so a
        half-done block is finished by the re-run. (The emulator cannot MERGE inside a transaction.)"""
        yield

    def loaded_files(self, urls: list[str]) -> set[str]:
        return {row[0] for row in self.fetchall("select_loaded_files", {"urls": json.dumps(urls)})} if urls else set()

    def quarantined_files(self, urls: list[str]) -> dict[str, QuarantinedFile]:
        rows = self.fetchall("select_quarantined_files", {"urls": json.dumps(urls)}) if urls else []
        return {row[0]: QuarantinedFile(*row) for row in rows}

    def load_group(
        self, group: list[storage.StoredFile], interval_start: datetime, batch_id: str, loaded_at: datetime
    ) -> validate.GroupOutcome:
        urls = [stored.url for stored in group]
        with (
            tempfile.TemporaryDirectory(prefix="eventpipe-load-") as scratch_dir,
            self._scratch(scratch_dir) as scratch,
        ):
            outcome = validate.stage_group(scratch, urls, interval_start, batch_id, loaded_at)
            self._ship(scratch, Path(scratch_dir))
        # A file quarantined whole is recorded before the ledger rows: a re-run after a crash between
        # the two skips that copy of it (as the DuckDB target would) and ledgers the others.
        unreadable = outcome.unreadable
        with self.conn.cursor() as cursor:
            for stored in group:
                if stored.url in unreadable:
                    row = quarantined_file_row(stored, unreadable[stored.url], interval_start, batch_id)
                    row["quarantined_at"] = loaded_at
                    cursor.execute(load_sql("snowflake", "insert_quarantined_file"), row)
        readable = [stored for stored in group if stored.url not in unreadable]
        lines_per_file = {url: counts.lines for url, counts in outcome.files.items()}
        recorded = self._record_files(readable, interval_start, batch_id, loaded_at, lines_per_file)
        recorded.unreadable = unreadable
        return recorded

    def replay_quarantine(self, reason, batch_id, loaded_at) -> tuple[int, validate.GroupOutcome]:
        """Merge the lines that pass now, mark them replayed, then rewrite their files' ledger rows from
        what the tables hold: each step idempotent, so a replay cut short is finished by the next one."""
        candidates = self.fetchall("select_replay_candidates", {"reason": reason})
        if not candidates:
            return 0, validate.GroupOutcome()
        with (
            tempfile.TemporaryDirectory(prefix="eventpipe-replay-") as scratch_dir,
            self._scratch(scratch_dir) as scratch,
        ):
            outcome = validate.stage_replayed_lines(scratch, candidates, batch_id, loaded_at)
            valid = scratch.execute(load_sql("duckdb", "select_valid_staged_lines")).fetchall()
            self._ship(scratch, Path(scratch_dir))
        # What this replay merged (a line a cut-short replay already merged counts as a duplicate now).
        merged = {kind: rows for kind, rows in self.fetchall("batch_event_counts", {"batch_id": batch_id}) if rows}
        outcome.loaded_by_kind = merged
        if valid:
            self.executemany("mark_replayed", [[batch_id, source_file, line] for source_file, line in valid])
        files = sorted({row[0] for row in candidates})
        counts = {source_file: [0, 0] for source_file in files}  # loaded, quarantined
        for source_file, kind_or_reason, _label, lines in self.fetchall(
            "group_file_counts", {"urls": json.dumps(files)}
        ):
            counts[source_file][kind_or_reason == "quarantined"] += lines
        rows = [[loaded, quarantined, loaded, quarantined, f] for f, (loaded, quarantined) in counts.items()]
        self.executemany("update_loaded_file_counts", rows)
        return len(candidates), outcome

    @contextlib.contextmanager
    def _scratch(self, scratch_dir: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory DuckDB with the raw tables, empty: validation runs there, history is Snowflake's."""
        scratch = duckdb.connect()
        try:
            configure(scratch, None, Path(scratch_dir) / "duckdb_tmp")
            scratch.execute(load_sql("duckdb", "create_tables"))
            yield scratch
        finally:
            scratch.close()

    def _ship(self, scratch: duckdb.DuckDBPyConnection, scratch_dir: Path) -> None:
        """The scratch raw tables' rows into Snowflake's: Parquet, PUT, COPY INTO the load tables, MERGE."""
        staged = {table: scratch_dir / f"{table}.parquet" for table in RAW_TABLES}
        # The MERGEs read history only within the group's event-time windows, one at a time (dedup in O(new)).
        windows = validate.new_event_windows(scratch)
        for table, path in staged.items():
            scratch.sql(load_sql("duckdb", f"export_{table}")).write_parquet(str(path))
        # COPY skips a file name it loaded before, and must not pick up files a crashed attempt left:
        # each group's files go to a folder of their own, and its rows to load tables of their own, so loaders
        # running at once (several hours on several workers) never touch each other's. Hex only, so safe to
        # place in the statements; what a killed loader leaves is swept by a later load.
        with snowflake_tables.load_tables(self.conn) as token, self.conn.cursor() as cursor:
            group_dir = token
            for table, path in staged.items():
                # PUT is a client command, not SQL: its local path cannot be a bind parameter.
                cursor.execute(f"put 'file://{path}' @raw.load_stage/{group_dir}/ auto_compress = false")
                cursor.execute(load_sql("snowflake", f"copy_{table}_stage").format(group_dir=group_dir, token=token))
            # The MERGEs deduplicate against all history: one loader at a time (a lease that expires if its
            # holder dies).
            with snowflake_lock.merge_lease(self.conn) as lease:
                for table in staged:
                    merge = load_sql("snowflake", f"merge_{table}").format(token=token)
                    for params in [None] if table == "quarantined_event" else windows:
                        lease.renew()
                        cursor.execute(merge, params)

    def _record_files(self, group, interval_start, batch_id, loaded_at, lines_per_file) -> validate.GroupOutcome:
        """Ledger rows from what the tables hold for each file (not from what this attempt inserted)."""
        outcome = validate.GroupOutcome()
        if not group:
            return outcome
        for stored in group:
            outcome.files[stored.url] = validate.FileOutcome(lines=lines_per_file.get(stored.url, 0))
        for source_file, kind_or_reason, label, lines in self.fetchall(
            "group_file_counts", {"urls": json.dumps([stored.url for stored in group])}
        ):
            counts = outcome.files[source_file]
            if kind_or_reason == "quarantined":
                counts.quarantined += lines
                outcome.quarantined_by_reason[label] = outcome.quarantined_by_reason.get(label, 0) + lines
            else:
                counts.loaded += lines
                outcome.loaded_by_kind[label] = outcome.loaded_by_kind.get(label, 0) + lines
        with self.conn.cursor() as cursor:
            for stored in group:
                counts = outcome.files[stored.url]
                counts.duplicates = counts.lines - counts.loaded - counts.quarantined
                cursor.execute(
                    load_sql("snowflake", "insert_loaded_file"),
                    ledger_row(stored, counts, interval_start, batch_id, loaded_at),
                )
        return outcome

    def record_batch(self, params: dict[str, Any]) -> None:
        self.fetchall("insert_load_batch", params)

    def close(self) -> None:
        self.conn.close()
