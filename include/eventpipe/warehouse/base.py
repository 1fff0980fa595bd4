"""The warehouse interface both engines implement, and the ledger rows they write alike."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from eventpipe import storage
from eventpipe.ingest import validate
from eventpipe.warehouse.commits import CommitTotals


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


@dataclass
class ReplayPage:
    """One page of a quarantine replay: the lines tried, the last (file, line) of the page, what became of them."""

    tried: int
    last: tuple[str, int] | None
    outcome: validate.GroupOutcome


class Warehouse(Protocol):
    engine: str

    def fetchall(self, sql_name: str, params: dict[str, Any] | None = None) -> list[tuple]:
        """Rows of the named query (``sql/<engine>/<sql_name>.sql``)."""

    def execute_script(self, sql_name: str) -> None:
        """Run every statement of the named file (DDL)."""

    def executemany(self, sql_name: str, rows: list[list[Any]]) -> None:
        """Run the named statement once per row of positional parameters."""

    def upsert(self, table: str, rows: list[list[Any]]) -> None:
        """Insert ``rows`` into the ops table ``table`` (``delivery_part``, ...), each replacing the row of the same key
        (``sql/<engine>/upsert_<table>.sql``), inside the caller's transaction if there is one."""

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Statements in the block commit together where the engine allows it (see each engine)."""

    def loaded_files(self, urls: list[str]) -> set[str]:
        """Which of ``urls`` the ledger (``ops.loaded_file``) already holds."""

    def quarantined_files(self, urls: list[str]) -> dict[str, QuarantinedFile]:
        """The latest file-level quarantine record of each of ``urls`` not in the ledger."""

    def load_group(
        self, group: list[storage.StoredFile], interval_start: datetime, batch_id: str, loaded_at: datetime
    ) -> validate.GroupOutcome:
        """Validate and load one group of files: raw rows, quarantined lines and ledger rows, and a
        ``ops.quarantined_file`` row (instead of a ledger row) for a file that cannot be read to its end."""

    def record_batch(self, params: dict[str, Any]) -> None:
        """One ``ops.load_batch`` row for a load attempt."""

    def replay_page(
        self,
        reason: str | None,
        after: tuple[str, int] | None,
        page: tuple[int, int],
        batch_id: str,
        loaded_at: datetime,
    ) -> ReplayPage:
        """Validate again the next page of unreplayed quarantined lines (at most ``page``: lines, bytes) after
        ``after`` (file, line), of ``reason`` if given (``eventpipe.ingest.replay``): load those that pass, mark them
        replayed, move them from quarantined in their files' ledger rows; one load commit (none when the page is
        empty)."""

    def close(self) -> None: ...


def ledger_row(stored: storage.StoredFile, counts: validate.FileOutcome, interval_start, batch_id, loaded_at) -> dict:
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


def add_file(totals: CommitTotals, counts: validate.FileOutcome) -> None:
    """Count one ledgered file in its commit's totals."""
    totals.files += 1
    totals.lines += counts.lines
    totals.loaded += counts.loaded
    totals.duplicates += counts.duplicates
    totals.quarantined += counts.quarantined


def replay_totals(tried: int, outcome: validate.GroupOutcome) -> CommitTotals:
    """A replay commit's totals: lines tried again, loaded now, duplicates of kept events, still quarantined."""
    loaded = sum(outcome.loaded_by_kind.values())
    quarantined = sum(outcome.quarantined_by_reason.values())
    return CommitTotals(0, tried, loaded, tried - loaded - quarantined, quarantined)


def replay_params(reason: str | None, after: tuple[str, int] | None, page: tuple[int, int]) -> dict[str, Any]:
    """The parameters of ``select_replay_candidates.sql``: the page after ``after`` (file, line) of at most
    ``page`` (lines, bytes)."""
    after_file, after_line = after or (None, None)
    lines, size = page
    return {
        "reason": reason,
        "after_file": after_file,
        "after_line": after_line,
        "page_lines": lines,
        "page_bytes": size,
    }
