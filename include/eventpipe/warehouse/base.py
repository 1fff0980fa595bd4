"""The warehouse interface both engines implement, and the ledger rows they write alike."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from eventpipe import storage
from eventpipe.ingest import validate


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
    ) -> validate.GroupOutcome:
        """Validate and load one group of files: raw rows, quarantined lines and ledger rows, and a
        ``ops.quarantined_file`` row (instead of a ledger row) for a file that cannot be read to its end."""

    def record_batch(self, params: dict[str, Any]) -> None:
        """One ``ops.load_batch`` row for a load attempt."""

    def replay_quarantine(
        self, reason: str | None, batch_id: str, loaded_at: datetime
    ) -> tuple[int, validate.GroupOutcome]:
        """Validate unreplayed quarantined lines again (``eventpipe.ingest.replay``): load those that pass, mark
        them replayed, move them from quarantined in their files' ledger rows. Returns (lines tried, outcome)."""

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
