"""Replay quarantined lines after a fix (design.md: "quarantined lines can be replayed after a fix").

The original bytes of each quarantined line go through the same validation and load SQL as when
they landed, judged against their file's arrival hour. A line that passes now is loaded, or counted
as a duplicate when its event is already kept; its quarantine row stays, marked with the replay's
batch (``replayed_batch_id``), and its file's ledger row moves it from quarantined to loaded or
duplicates, so that ``reconcile`` still balances. A line that still fails stays quarantined as it
was.

Lines are replayed in pages (``eventpipe.settings.replay_page``: 10,000 lines or 32 MiB by default), in (file,
line) order, so memory is bounded by the page, not by the quarantine: each page is read, validated and loaded in one
transaction on either engine, one load commit (``eventpipe.warehouse.commits``). The marts take its rows at their
next build and the deliveries send them like any other commit's.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass, field

import duckdb

from eventpipe import settings
from eventpipe.ingest.validate import GroupOutcome
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

    def add(self, tried: int, outcome: GroupOutcome) -> None:
        loaded = sum(outcome.loaded_by_kind.values())
        still = sum(outcome.quarantined_by_reason.values())
        self.replayed += tried
        self.loaded += loaded
        self.still_quarantined += still
        self.duplicates += tried - loaded - still
        for kind, count in outcome.loaded_by_kind.items():
            self.loaded_by_kind[kind] = self.loaded_by_kind.get(kind, 0) + count
        for code, count in outcome.quarantined_by_reason.items():
            self.still_quarantined_by_reason[code] = self.still_quarantined_by_reason.get(code, 0) + count


def replay_quarantine(
    target: Warehouse | duckdb.DuckDBPyConnection, *, reason: str | None = None, run_id: str | None = None
) -> ReplayResult:
    """Try every not-yet-replayed quarantined line again (only those of ``reason``, if given), page by page."""
    warehouse = as_warehouse(target)
    result = ReplayResult(batch_id=f"{BATCH_PREFIX}{run_id or 'manual'}__{uuid.uuid4().hex[:8]}")
    page_size = settings.replay_page()
    after: tuple[str, int] | None = None
    while True:
        page = warehouse.replay_page(reason, after, page_size, result.batch_id, utc_now())
        if not page.tried:
            break
        result.add(page.tried, page.outcome)
        after = page.last
    log.info("replay %s: %s", result.batch_id, result.to_dict())
    return result
