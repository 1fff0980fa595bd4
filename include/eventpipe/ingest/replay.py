"""Replay quarantined lines after a fix (design.md: "quarantined lines can be replayed after a fix").

The original bytes of each quarantined line go through the same validation and load SQL as when
they landed, judged against their file's arrival hour. A line that passes now is loaded, or counted
as a duplicate when its event is already kept; its quarantine row stays, marked with the replay's
batch (``replayed_batch_id``), and its file's ledger row moves it from quarantined to loaded or
duplicates, so that ``reconcile`` still balances. A line that still fails stays quarantined as it
was. On DuckDB all of it commits in one transaction; on Snowflake each step is idempotent, as loads are.

The marts take the new rows at their next build (the rows' ``_loaded_at`` is the replay's), with the
late-event rules of any other load. Deliveries: the replayed rows belong to their file's arrival hour
and form delivery parts of their own; re-running that hour's ``deliver`` task (Clear) sends them and
skips every part already delivered. (``redeliver`` resends everything in its range, by design.)
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass, field

import duckdb

from eventpipe.utc import utc_now
from eventpipe.warehouse import Warehouse, as_warehouse

log = logging.getLogger(__name__)

BATCH_PREFIX = "replay__"


def is_replay_batch(batch_id: str | None) -> bool:
    """Whether raw rows with this ``_batch_id`` were loaded by a quarantine replay."""
    return bool(batch_id) and batch_id.startswith(BATCH_PREFIX)


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
    loaded_at = utc_now()
    result = ReplayResult(batch_id=f"{BATCH_PREFIX}{run_id or 'manual'}__{uuid.uuid4().hex[:8]}")
    result.replayed, outcome = as_warehouse(target).replay_quarantine(reason, result.batch_id, loaded_at)
    result.loaded_by_kind = outcome.loaded_by_kind
    result.still_quarantined_by_reason = outcome.quarantined_by_reason
    result.loaded = sum(outcome.loaded_by_kind.values())
    result.still_quarantined = sum(outcome.quarantined_by_reason.values())
    result.duplicates = result.replayed - result.loaded - result.still_quarantined
    log.info("replay %s: %s", result.batch_id, result.to_dict())
    return result
