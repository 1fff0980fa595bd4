"""The embedded warehouse: DuckDB, where a group is validated and loaded in one transaction: one load commit."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import duckdb

from eventpipe import settings
from eventpipe.ingest import validate
from eventpipe.sql import for_rows, load_sql
from eventpipe.warehouse import commits
from eventpipe.warehouse.base import (
    QuarantinedFile,
    ReplayPage,
    add_file,
    ledger_row,
    quarantined_file_row,
    replay_params,
    replay_totals,
)


def connect(path: Path | str | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the embedded DuckDB warehouse with the settings every eventpipe connection needs, tables created."""
    path = Path(path) if path else settings.warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open_waiting(path)
    configure(con, memory_limit, path.parent / "duckdb_tmp")
    # Two connections of one process creating them at once conflict in the catalog: the second retries.
    commits.retry_conflicts(lambda: con.execute(load_sql("duckdb", "create_tables")), "creating the tables")
    return con


# A reader in another process (an analyst's session, a monitor) holds the file's lock for as long as it reads: a
# writer waits for it this long before failing (DuckDB itself fails at once).
LOCK_WAIT_SECONDS = 60


def _open_waiting(path: Path) -> duckdb.DuckDBPyConnection:
    deadline, delay = time.monotonic() + LOCK_WAIT_SECONDS, 0.05
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def configure(con: duckdb.DuckDBPyConnection, memory_limit: str | None, temp_directory: Path) -> None:
    con.execute("SET TimeZone = 'UTC'")  # event_time is UTC; casts from TIMESTAMPTZ must not shift it
    # SET takes no bind parameters: quote the values as SQL literals.
    con.execute(f"SET memory_limit = {_literal(memory_limit or settings.duckdb_memory_limit())}")
    con.execute(f"SET temp_directory = {_literal(str(temp_directory))}")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


ROWS_A_STATEMENT = 100


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

    def upsert(self, table: str, rows: list[list[Any]]) -> None:
        """INSERT OR REPLACE on the table's primary key, ``ROWS_A_STATEMENT`` rows a statement (executemany would run
        one statement a row: twice the time for a delivery ledger write of two rows)."""
        sql = load_sql("duckdb", f"upsert_{table}")
        for start in range(0, len(rows), ROWS_A_STATEMENT):
            chunk = rows[start : start + ROWS_A_STATEMENT]
            self.con.execute(for_rows(sql, len(chunk)), [value for row in chunk for value in row])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.begin()
        try:
            yield
            self.con.commit()
        except BaseException:
            with contextlib.suppress(duckdb.TransactionException):  # a failed commit has rolled back already
                self.con.rollback()
            raise

    def loaded_files(self, urls: list[str]) -> set[str]:
        return {row[0] for row in self.fetchall("select_loaded_files", {"urls": urls})} if urls else set()

    def quarantined_files(self, urls: list[str]) -> dict[str, QuarantinedFile]:
        rows = self.fetchall("select_quarantined_files", {"urls": urls}) if urls else []
        return {row[0]: QuarantinedFile(*row) for row in rows}

    def load_group(self, group, interval_start, batch_id, loaded_at) -> validate.GroupOutcome:
        """Raw rows, quarantined lines and files, ledger rows and the ``ops.load_commit`` row of the group commit
        together or not at all, numbered by the commit sequence (``eventpipe.warehouse.commits``)."""
        return commits.retry_conflicts(
            lambda: self._commit_group(group, interval_start, batch_id, loaded_at), f"load of {len(group)} file(s)"
        )

    def _commit_group(self, group, interval_start, batch_id, loaded_at) -> validate.GroupOutcome:
        con = self.con
        con.begin()
        try:
            commit_seq = self._take_commit_seq()
            already = self.loaded_files([stored.url for stored in group])  # by a load that committed first
            todo = [stored for stored in group if stored.url not in already]
            if not todo:
                con.rollback()
                return validate.GroupOutcome(already_loaded=sorted(already))
            outcome = validate.stage_group(con, [f.url for f in todo], interval_start, batch_id, loaded_at, commit_seq)
            outcome.already_loaded, outcome.commit_seq = sorted(already), commit_seq
            totals = commits.CommitTotals()
            for stored in todo:
                if stored.url in outcome.unreadable:
                    row = quarantined_file_row(stored, outcome.unreadable[stored.url], interval_start, batch_id)
                    con.execute(load_sql("duckdb", "insert_quarantined_file"), row | {"quarantined_at": loaded_at})
                    continue
                counts = outcome.files[stored.url]
                row = ledger_row(stored, counts, interval_start, batch_id, loaded_at)
                con.execute(load_sql("duckdb", "insert_loaded_file"), row | {"commit_seq": commit_seq})
                add_file(totals, counts)
            self._record_commit(commit_seq, batch_id, commits.LOAD, totals, loaded_at)
            validate.drop_staging(con)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return outcome

    def _take_commit_seq(self) -> int:
        """The transaction's first statement: the next commit number (a write conflict if another writer has it)."""
        self.con.execute(load_sql("duckdb", "advance_commit_seq"))
        return self.con.execute(load_sql("duckdb", "current_commit_seq")).fetchone()[0]

    def _record_commit(self, commit_seq, batch_id, kind, totals: commits.CommitTotals, committed_at) -> None:
        """The commit's units (what the deliveries take) and its own row: last, once its rows and ledger are in."""
        self.con.execute(load_sql("duckdb", "insert_load_commit_units"), {"commit_seq": commit_seq})
        params = {"commit_seq": commit_seq, "batch_id": batch_id, "commit_kind": kind, "committed_at": committed_at}
        self.con.execute(load_sql("duckdb", "insert_load_commit"), params | asdict(totals))

    def record_batch(self, params: dict[str, Any]) -> None:
        self.con.execute(load_sql("duckdb", "insert_load_batch"), params)

    def replay_page(self, reason, after, page, batch_id, loaded_at) -> ReplayPage:
        """One page of quarantined lines, read and replayed in one transaction: one load commit."""
        return commits.retry_conflicts(
            lambda: self._commit_replay(reason, after, page, batch_id, loaded_at), "quarantine replay"
        )

    def _commit_replay(self, reason, after, page, batch_id, loaded_at) -> ReplayPage:
        con = self.con
        con.begin()
        try:
            commit_seq = self._take_commit_seq()
            candidates = self.fetchall("select_replay_candidates", replay_params(reason, after, page))
            if not candidates:
                con.rollback()
                return ReplayPage(0, None, validate.GroupOutcome())
            outcome = validate.stage_replayed_lines(con, candidates, batch_id, loaded_at, commit_seq)
            con.execute(load_sql("duckdb", "update_ledger_after_replay"))
            con.execute(load_sql("duckdb", "mark_replayed"), {"batch_id": batch_id})
            validate.drop_staging(con)
            self._record_commit(
                commit_seq, batch_id, commits.REPLAY, replay_totals(len(candidates), outcome), loaded_at
            )
            outcome.commit_seq = commit_seq
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return ReplayPage(len(candidates), (candidates[-1][0], candidates[-1][2]), outcome)

    def close(self) -> None:
        self.con.close()
