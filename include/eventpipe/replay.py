"""Replay quarantined lines after a fix (design.md: "quarantined lines can be replayed after a fix").

The original bytes of each quarantined line go through the same validation and load SQL as when
they landed, judged against their file's arrival hour. A line that passes now is loaded, or counted
as a duplicate when its event is already kept; its quarantine row stays, marked with the replay's
batch (``replayed_batch_id``), and its file's ledger row moves it from quarantined to loaded or
duplicates, so that ``reconcile`` still balances. A line that still fails stays quarantined as it
was. All of it commits in one transaction.

The marts take the new rows at their next build (the rows' ``_loaded_at`` is the replay's), with the
late-event rules of any other load. Deliveries send an interval's events once: resend the replayed
range with the ``redeliver`` DAG.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from eventpipe import staging
from eventpipe.sql import load_sql
from eventpipe.warehouse import Warehouse, as_warehouse

log = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    batch_id: str
    replayed: int = 0  # quarantined lines tried again
    loaded: int = 0
    duplicates: int = 0
    still_quarantined: int = 0
    loaded_by_kind: dict[str, int] = field(default_factory=dict)
    still_quarantined_by_reason: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def replay_quarantine(
    target: Warehouse | duckdb.DuckDBPyConnection, *, reason: str | None = None, run_id: str | None = None
) -> ReplayResult:
    """Try every not-yet-replayed quarantined line again (only those of ``reason``, if given)."""
    warehouse = as_warehouse(target)
    if warehouse.engine != "duckdb":
        raise NotImplementedError(
            "quarantine replay is built for the embedded DuckDB warehouse only; on Snowflake it is not yet"
        )
    con = warehouse.con
    now = datetime.now(UTC).replace(tzinfo=None)
    result = ReplayResult(batch_id=f"replay__{run_id or 'manual'}__{uuid.uuid4().hex[:8]}")
    con.begin()
    try:
        candidates = con.execute(load_sql("duckdb", "select_replay_candidates"), {"reason": reason}).fetchall()
        result.replayed = len(candidates)
        con.execute(load_sql("duckdb", "create_staged_line"))
        for (source_file, interval_start), lines in itertools.groupby(candidates, key=lambda row: row[:2]):
            rows = list(lines)
            chunk = pa.table(
                {
                    "line_number": pa.array([row[2] for row in rows], pa.int64()),
                    "raw_line": pa.array([bytes(row[3]) for row in rows], pa.binary()),
                }
            )
            staging.validate_chunk(con, source_file, chunk, interval_start)
        con.execute(load_sql("duckdb", "select_new_events"))
        for kind in staging.KINDS:
            con.execute(load_sql("duckdb", f"insert_{kind}_event"), {"batch_id": result.batch_id, "loaded_at": now})
        for outcome, label, lines in con.execute(load_sql("duckdb", "staged_outcomes")).fetchall():
            if outcome == "quarantined":
                result.still_quarantined_by_reason[label] = lines
                result.still_quarantined += lines
            else:
                result.loaded_by_kind[label] = lines
                result.loaded += lines
        result.duplicates = result.replayed - result.loaded - result.still_quarantined
        con.execute(load_sql("duckdb", "update_ledger_after_replay"))
        con.execute(load_sql("duckdb", "mark_replayed"), {"batch_id": result.batch_id})
        staging.drop_staging(con)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    log.info("replay %s: %s", result.batch_id, result.to_dict())
    return result
