"""Prove that every line that landed in an interval is accounted for.

For each landing file of the interval, the lines are counted again from storage (independently of
the loader's reader) and must equal rows kept in the raw tables + duplicates dropped + lines
quarantined; the ledger's own figures must agree with what the tables hold. A file quarantined whole
(``ops.quarantined_file``: it could not be read to its end) is accounted for as such, its lines uncounted:
every landed file is loaded, or quarantined as a file, and the run fails otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from eventpipe.ingest import extract
from eventpipe.utc import hour_floor
from eventpipe.warehouse import Warehouse, as_warehouse


class ReconciliationError(Exception):
    pass


@dataclass
class Reconciliation:
    interval_start: datetime | None  # the arrival hour reconciled, or None for a load batch
    files: int = 0
    files_quarantined: int = 0
    quarantined_files: list[str] = field(default_factory=list)  # "<file>: <reason>"
    lines_landed: int = 0
    rows_in_raw: int = 0
    duplicates: int = 0
    rows_in_quarantine: int = 0
    problems: list[str] = field(default_factory=list)
    batch_id: str | None = None

    @property
    def balanced(self) -> bool:
        return not self.problems

    @property
    def subject(self) -> str:
        return f"batch {self.batch_id}" if self.batch_id else f"{self.interval_start:%Y-%m-%dT%H}"

    def summary(self) -> str:
        return (
            f"{self.subject}: {self.files} files, {self.lines_landed} lines landed = "
            f"{self.rows_in_raw} loaded + {self.duplicates} duplicates + {self.rows_in_quarantine} quarantined;"
            f" {self.files_quarantined} files quarantined"
            + "".join(f"\n  file quarantined: {entry}" for entry in self.quarantined_files)
        )


def reconcile_interval(
    target: Warehouse | duckdb.DuckDBPyConnection, landing: str, interval_start: datetime
) -> Reconciliation:
    interval_start = hour_floor(interval_start)
    result = Reconciliation(interval_start)
    warehouse = as_warehouse(target)
    rows = warehouse.fetchall("reconcile_interval", {"interval_start": interval_start, "batch_id": None})
    ledger = {row[0]: row[1:] for row in rows}
    landed = extract.partition_files(landing, interval_start)
    unreadable = warehouse.quarantined_files([stored.url for stored in landed if stored.url not in ledger])
    result.files = len(landed)
    for stored in landed:
        if stored.url not in ledger and stored.url in unreadable and unreadable[stored.url].same_copy(stored):
            result.files_quarantined += 1
            result.quarantined_files.append(f"{stored.url}: {unreadable[stored.url].reason}")
            continue
        if stored.url not in ledger:
            result.problems.append(f"{stored.url}: landed but the file was never loaded")
            continue
        _check_file(result, stored.url, ledger.pop(stored.url))
    for missing in ledger:
        result.problems.append(f"{missing}: in the ledger but no longer in the landing zone")
    return result


def reconcile_batches(target: Warehouse | duckdb.DuckDBPyConnection, batch_ids: list[str]) -> list[Reconciliation]:
    """Per load batch (a continuous load's, while its arrival hour is still open): every file the batch ledgered
    holds lines landed = rows in raw + duplicates + quarantined. The hour as a whole is reconciled once it has
    closed (``reconcile_interval``): only then is every file that will land in it there."""
    warehouse = as_warehouse(target)
    results = []
    for batch_id in batch_ids:
        rows = warehouse.fetchall("reconcile_interval", {"interval_start": None, "batch_id": batch_id})
        result = Reconciliation(interval_start=None, batch_id=batch_id)
        result.files = len(rows)
        for row in rows:
            _check_file(result, row[0], row[1:])
        results.append(result)
    return results


def _check_file(result: Reconciliation, url: str, ledgered: tuple) -> None:
    lines = extract.count_lines(url)
    result.lines_landed += lines
    ledger_lines, loaded, duplicates, quarantined, in_raw, in_quarantine = ledgered
    result.rows_in_raw += in_raw
    result.duplicates += duplicates
    result.rows_in_quarantine += in_quarantine
    if lines != in_raw + duplicates + in_quarantine:
        result.problems.append(
            f"{url}: {lines} lines landed != {in_raw} in raw + {duplicates} duplicates + {in_quarantine} quarantined"
        )
    if (ledger_lines, loaded, quarantined) != (lines, in_raw, in_quarantine):
        result.problems.append(
            f"{url}: ledger says {ledger_lines} lines / {loaded} loaded / {quarantined} quarantined,"
            f" storage and tables say {lines} / {in_raw} / {in_quarantine}"
        )


def assert_reconciled(result: Reconciliation) -> None:
    if not result.balanced:
        raise ReconciliationError(result.summary() + "\n" + "\n".join(result.problems))
