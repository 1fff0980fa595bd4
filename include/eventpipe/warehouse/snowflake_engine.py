"""The Snowflake warehouse: the production target, and the emulator's (fakesnow) in local runs and CI.

A group of landing files is validated by the same DuckDB SQL as on the embedded target, in a
scratch in-memory DuckDB (``eventpipe.ingest.validate``), and lands in Snowflake in two steps:

1. each raw table's new rows are written as Parquet and ``PUT`` on the internal stage
   ``@raw.load_stage`` under a folder of the load's own, then ``COPY INTO`` transient load tables of the
   load's own (``raw.<table>_stage_<token>``, dropped after: ``eventpipe.warehouse.snowflake_tables``), so
   loaders stage at once, on as many workers as there are;
2. one load commit (``eventpipe.warehouse.commits``): a transaction that takes the next commit number (the
   warehouse serializes this step), inserts the rows whose ``event_id`` (quarantine: file and line) is not
   already kept, which is the deduplication against all history, writes the ledger rows (``ops.loaded_file``) and
   the ``ops.load_commit`` row, and commits. Only DML runs inside it (Snowflake commits DDL implicitly).

A loader that dies before step 2 commits leaves no row behind (Snowflake rolls the transaction back; while its
client is gone, the transaction holds the sequence's lock until Snowflake aborts it, five idle minutes after it
blocks another); its load tables are swept by a later load. A re-run loads exactly the files not in the ledger.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from eventpipe import storage
from eventpipe.contract import RAW_TABLES
from eventpipe.ingest import validate
from eventpipe.sql import for_rows, load_sql
from eventpipe.warehouse import commits, snowflake_tables
from eventpipe.warehouse.base import (
    QuarantinedFile,
    ReplayPage,
    add_file,
    ledger_row,
    quarantined_file_row,
    replay_params,
    replay_totals,
)
from eventpipe.warehouse.connections import LOADER, connect_snowflake
from eventpipe.warehouse.duckdb_engine import configure

log = logging.getLogger(__name__)
ROWS_A_STATEMENT = 100


@contextlib.contextmanager
def transaction(cursor) -> Iterator[None]:
    """An explicit transaction on the session (the connector runs in autocommit otherwise); rolled back on error."""
    cursor.execute("begin")
    try:
        yield
        cursor.execute("commit")
    except BaseException:
        with contextlib.suppress(Exception):  # a dead session rolls back by itself
            cursor.execute("rollback")
        raise


class SnowflakeWarehouse:
    engine = "snowflake"

    def __init__(self, conn):
        self.conn = conn
        self.conn.execute_string(load_sql("snowflake", "create_tables"))

    @classmethod
    def connect(cls, job: str = LOADER) -> SnowflakeWarehouse:
        """As ``job``'s identity (``eventpipe.warehouse.connections``): the loader's, which writes raw and ops."""
        return cls(connect_snowflake(job))

    def fetchall(self, sql_name: str, params: dict[str, Any] | None = None) -> list[tuple]:
        with self.conn.cursor() as cursor:
            cursor.execute(load_sql("snowflake", sql_name), params)
            return cursor.fetchall()

    def execute_script(self, sql_name: str) -> None:
        self.conn.execute_string(load_sql("snowflake", sql_name))

    def executemany(self, sql_name: str, rows: list[list[Any]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(load_sql("snowflake", sql_name), rows)

    def upsert(self, table: str, rows: list[list[Any]]) -> None:
        """Delete the rows' keys (the rows' leading columns, as many as ``delete_<table>.sql`` binds: each table's key
        leads its row), then insert the rows: no MERGE, which the emulator cannot run inside a transaction, and
        Snowflake enforces no primary key."""
        delete, insert = load_sql("snowflake", f"delete_{table}"), load_sql("snowflake", f"upsert_{table}")
        key_columns = delete.count("%s")
        with self.conn.cursor() as cursor:
            for start in range(0, len(rows), ROWS_A_STATEMENT):  # a statement a chunk: one round trip each
                chunk = rows[start : start + ROWS_A_STATEMENT]
                cursor.execute(for_rows(delete, len(chunk)), [value for row in chunk for value in row[:key_columns]])
                cursor.execute(for_rows(insert, len(chunk)), [value for row in chunk for value in row])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """The block's statements commit together (DML only: Snowflake commits before any DDL)."""
        with self.conn.cursor() as cursor, transaction(cursor):
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
            outcome = validate.stage_group(scratch, urls, interval_start, batch_id, loaded_at, commit_seq=0)
            staged = self._export(scratch, Path(scratch_dir))
            with self._load_tables(staged) as token:
                return commits.retry_conflicts(
                    lambda: self._commit_group(token, staged, group, outcome, interval_start, batch_id, loaded_at),
                    f"load of {len(group)} file(s)",
                )

    def _commit_group(self, token, staged, group, outcome, interval_start, batch_id, loaded_at):
        """The group's one load commit: its new rows, quarantine, ledger and commit rows, or nothing."""
        with self.conn.cursor() as cursor, transaction(cursor):
            commit_seq = self._take_commit_seq(cursor)
            already = self.loaded_files([stored.url for stored in group])  # by a load that committed first
            self._insert_new_rows(cursor, token, staged, commit_seq)
            unreadable = outcome.unreadable
            for stored in group:
                if stored.url in unreadable and stored.url not in already:
                    row = quarantined_file_row(stored, unreadable[stored.url], interval_start, batch_id)
                    cursor.execute(
                        load_sql("snowflake", "insert_quarantined_file"), row | {"quarantined_at": loaded_at}
                    )
            readable = [stored for stored in group if stored.url not in unreadable and stored.url not in already]
            lines_per_file = {url: counts.lines for url, counts in outcome.files.items()}
            recorded, totals = self._record_files(
                cursor, readable, interval_start, batch_id, loaded_at, lines_per_file, commit_seq
            )
            recorded.unreadable = {url: file for url, file in unreadable.items() if url not in already}
            recorded.already_loaded = sorted(already)
            recorded.commit_seq = commit_seq
            self._record_commit(cursor, commit_seq, batch_id, commits.LOAD, totals, loaded_at)
        return recorded

    def replay_page(self, reason, after, page, batch_id, loaded_at) -> ReplayPage:
        """Validate a page of quarantined lines again, stage the rows that pass now, then one load commit: insert the
        new ones, mark the page's valid lines replayed and rewrite their files' ledger rows from what the tables
        hold. A line another replay marked meanwhile is left as it is (its rows are duplicates by then)."""
        candidates = self.fetchall("select_replay_candidates", replay_params(reason, after, page))
        if not candidates:
            return ReplayPage(0, None, validate.GroupOutcome())
        last = (candidates[-1][0], candidates[-1][2])
        with (
            tempfile.TemporaryDirectory(prefix="eventpipe-replay-") as scratch_dir,
            self._scratch(scratch_dir) as scratch,
        ):
            outcome = validate.stage_replayed_lines(scratch, candidates, batch_id, loaded_at, commit_seq=0)
            valid = scratch.execute(load_sql("duckdb", "select_valid_staged_lines")).fetchall()
            staged = self._export(scratch, Path(scratch_dir))
            with self._load_tables(staged) as token:
                commits.retry_conflicts(
                    lambda: self._commit_replay(token, staged, candidates, valid, outcome, batch_id, loaded_at),
                    "quarantine replay",
                )
        return ReplayPage(len(candidates), last, outcome)

    def _commit_replay(self, token, staged, candidates, valid, outcome, batch_id, loaded_at) -> None:
        with self.conn.cursor() as cursor, transaction(cursor):
            commit_seq = self._take_commit_seq(cursor)
            self._insert_new_rows(cursor, token, staged, commit_seq)
            cursor.execute(load_sql("snowflake", "commit_event_counts"), {"commit_seq": commit_seq})
            outcome.loaded_by_kind = {kind: rows for kind, rows in cursor.fetchall() if rows}
            if valid:
                mark = load_sql("snowflake", "mark_replayed")
                cursor.executemany(mark, [[batch_id, source_file, line] for source_file, line in valid])
            files = sorted({row[0] for row in candidates})
            counts = {source_file: [0, 0] for source_file in files}  # loaded, quarantined
            cursor.execute(load_sql("snowflake", "group_file_counts"), {"urls": json.dumps(files)})
            for source_file, kind_or_reason, _label, lines in cursor.fetchall():
                counts[source_file][kind_or_reason == "quarantined"] += lines
            rows = [[loaded, quarantined, loaded, quarantined, f] for f, (loaded, quarantined) in counts.items()]
            cursor.executemany(load_sql("snowflake", "update_loaded_file_counts"), rows)
            totals = replay_totals(len(candidates), outcome)
            self._record_commit(cursor, commit_seq, batch_id, commits.REPLAY, totals, loaded_at)
            outcome.commit_seq = commit_seq

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

    @staticmethod
    def _export(scratch: duckdb.DuckDBPyConnection, scratch_dir: Path) -> dict[str, Any]:
        """The scratch raw tables' rows as Parquet files, and the group's event-time windows (the inserts read
        history only within them, one at a time: dedup in O(new))."""
        files = {table: scratch_dir / f"{table}.parquet" for table in RAW_TABLES}
        for table, path in files.items():
            scratch.sql(load_sql("duckdb", f"export_{table}")).write_parquet(str(path))
        return {"files": files, "windows": validate.new_event_windows(scratch)}

    @contextlib.contextmanager
    def _load_tables(self, staged: dict[str, Any]) -> Iterator[str]:
        """The Parquet files PUT and copied into this load's own load tables (its token), dropped after the block.

        COPY skips a file name it loaded before, and must not pick up files a crashed attempt left: each group's
        files go to a folder of their own, and its rows to load tables of their own, so loaders running at once
        never touch each other's. Hex only, so safe to place in the statements."""
        with snowflake_tables.load_tables(self.conn) as token, self.conn.cursor() as cursor:
            for table, path in staged["files"].items():
                # PUT is a client command, not SQL: its local path cannot be a bind parameter.
                cursor.execute(f"put 'file://{path}' @raw.load_stage/{token}/ auto_compress = false")
                cursor.execute(load_sql("snowflake", f"copy_{table}_stage").format(group_dir=token, token=token))
            yield token

    @staticmethod
    def _take_commit_seq(cursor) -> int:
        """The transaction's first statement: the next commit number (Snowflake waits here while another load
        commit is open; the emulator answers a write conflict, and the commit is retried)."""
        cursor.execute(load_sql("snowflake", "advance_commit_seq"))
        cursor.execute(load_sql("snowflake", "current_commit_seq"))
        return int(cursor.fetchone()[0])

    @staticmethod
    def _insert_new_rows(cursor, token: str, staged: dict[str, Any], commit_seq: int) -> None:
        for table in staged["files"]:
            insert = load_sql("snowflake", f"insert_{table}").format(token=token)
            for window in [{}] if table == "quarantined_event" else staged["windows"]:
                cursor.execute(insert, window | {"commit_seq": commit_seq})

    def _record_files(self, cursor, group, interval_start, batch_id, loaded_at, lines_per_file, commit_seq):
        """Ledger rows from what the tables hold for each file, in the commit's transaction (so: this commit's rows,
        which no other commit can add to), and the commit's totals."""
        outcome, totals = validate.GroupOutcome(), commits.CommitTotals()
        if not group:
            return outcome, totals
        for stored in group:
            outcome.files[stored.url] = validate.FileOutcome(lines=lines_per_file.get(stored.url, 0))
        cursor.execute(load_sql("snowflake", "group_file_counts"), {"urls": json.dumps([s.url for s in group])})
        for source_file, kind_or_reason, label, lines in cursor.fetchall():
            counts = outcome.files[source_file]
            if kind_or_reason == "quarantined":
                counts.quarantined += lines
                outcome.quarantined_by_reason[label] = outcome.quarantined_by_reason.get(label, 0) + lines
            else:
                counts.loaded += lines
                outcome.loaded_by_kind[label] = outcome.loaded_by_kind.get(label, 0) + lines
        for stored in group:
            counts = outcome.files[stored.url]
            counts.duplicates = counts.lines - counts.loaded - counts.quarantined
            row = ledger_row(stored, counts, interval_start, batch_id, loaded_at)
            cursor.execute(load_sql("snowflake", "insert_loaded_file"), row | {"commit_seq": commit_seq})
            add_file(totals, counts)
        return outcome, totals

    @staticmethod
    def _record_commit(cursor, commit_seq, batch_id, kind, totals: commits.CommitTotals, committed_at) -> None:
        """The commit's units (what the deliveries take) and its own row: last, once its rows and ledger are in."""
        cursor.execute(load_sql("snowflake", "insert_load_commit_units"), {"commit_seq": commit_seq})
        params = {"commit_seq": commit_seq, "batch_id": batch_id, "commit_kind": kind, "committed_at": committed_at}
        cursor.execute(load_sql("snowflake", "insert_load_commit"), params | asdict(totals))

    def record_batch(self, params: dict[str, Any]) -> None:
        self.fetchall("insert_load_batch", params)

    def close(self) -> None:
        self.conn.close()
