"""``ops.delivery``: one row per destination, organization, kind, interval and part, and the dead letters.

Parts' rows are written together when a destination is done with an organization (or has failed), one
transaction each, so a task that dies half-way keeps what it had recorded. A re-run skips parts whose row says
``delivered`` with the same checksum; a part that failed part-way keeps the ids it did deliver
(``delivered_ids``), and the retry sends only the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from eventpipe.utc import utc_now
from eventpipe.warehouse import Warehouse, as_warehouse

DELIVERED, FAILED = "delivered", "failed"


@dataclass(frozen=True)
class LedgerEntry:
    status: str
    checksum: str
    attempts: int
    possible_duplicates: int
    delivered_ids: frozenset[str]


@dataclass
class PartResult:
    """The outcome of one part; ``attempts`` / ``bytes`` are this run's, the ledger sums attempts over runs."""

    destination: str
    destination_type: str
    organization_id: str
    kind: str
    interval_start: datetime
    part: str
    target: str
    status: str
    events: int
    delivered: int
    checksum: str
    bytes: int = 0
    attempts: int = 0
    possible_duplicates: int = 0  # this run's (HEC / GA4 resends that may have doubled an event)
    ack_ids: list[int] = field(default_factory=list)
    delivered_ids: list[str] = field(default_factory=list)  # kept only while not fully delivered
    dead_letters: list[tuple[str, str | None, str]] = field(default_factory=list)  # (event id, code, reason)
    error: str | None = None
    skipped: bool = False  # already delivered by an earlier run: nothing was sent

    @property
    def dead_lettered(self) -> int:
        return len(self.dead_letters)


def ensure_tables(target: Warehouse | duckdb.DuckDBPyConnection) -> None:
    as_warehouse(target).execute_script("create_delivery_tables")


def entries(
    target: Warehouse | duckdb.DuckDBPyConnection, destination: str, interval_start: datetime
) -> dict[tuple[str, str, str], LedgerEntry]:
    """``(organization, kind, part) -> entry`` for one destination and interval."""
    rows = as_warehouse(target).fetchall(
        "delivery_ledger_interval", {"destination": destination, "interval_start": interval_start}
    )
    return {
        (org, kind, part): LedgerEntry(status, checksum, attempts, dups or 0, frozenset(json.loads(ids) if ids else ()))
        for org, kind, part, status, checksum, attempts, dups, ids in rows
    }


def record(
    target: Warehouse | duckdb.DuckDBPyConnection,
    results: list[tuple[PartResult, LedgerEntry | None]],
    run_id: str | None,
) -> None:
    """Write parts' rows (and their dead letters) in one transaction: ``[(result, its previous entry)]``."""
    if not results:
        return
    now = utc_now()
    rows, dead = [], []
    for result, previous in results:
        attempts = result.attempts + (previous.attempts if previous else 0)
        duplicates = result.possible_duplicates + (previous.possible_duplicates if previous else 0)
        keep = json.dumps(sorted(result.delivered_ids)) if result.status != DELIVERED and result.delivered_ids else None
        rows.append(
            [
                result.destination,
                result.destination_type,
                result.organization_id,
                result.kind,
                result.interval_start,
                result.part,
                result.target,
                result.status,
                result.events,
                result.delivered,
                result.dead_lettered,
                result.bytes,
                attempts,
                duplicates,
                json.dumps(result.ack_ids) if result.ack_ids else None,
                result.checksum,
                keep,
                result.error,
                run_id,
                now,
            ]
        )
        dead += [
            [
                result.destination,
                event_id,
                result.organization_id,
                result.kind,
                result.interval_start,
                result.part,
                None if code is None else str(code),
                reason,
                now,
            ]
            for event_id, code, reason in result.dead_letters
        ]
    warehouse = as_warehouse(target)
    with warehouse.transaction():
        warehouse.executemany("upsert_delivery", rows)
        if dead:
            warehouse.executemany("upsert_delivery_dead_letter", dead)
