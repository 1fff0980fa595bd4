"""The continuous load: every landed file the ledger has not seen, a bounded amount per run.

A run lists the arrival-hour folders of a window (by default the last ``EVENTPIPE_LOAD_LOOKBACK_HOURS`` up to the
current, still open hour; a catch-up names its range), asks the ledger once which files it holds, and loads the
others oldest hour first until the run's budget (``EVENTPIPE_LOAD_MAX_FILES`` files, ``EVENTPIPE_LOAD_MAX_BYTES``
stored bytes) is spent; what is left is the next run's. Each hour's files load as one load batch (its groups one
load commit each, ``eventpipe.ingest.load``), so the handover downstream is the commit sequence, as for any load.

The ledger decides what loads, never the listing's timing: a file that lands while a run lists its folder is in
that listing or not, and loads once, by this run or the next; a file landing late into an old hour's folder loads
at the next run whose window covers that hour (older than the window: ``eventpipe run --start --end``). Two runs at
once load each file once: the one that commits it first takes it, the other counts it as loaded before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from eventpipe import settings, storage
from eventpipe.ingest import extract
from eventpipe.ingest.load import IntervalPlan, LoadResult, load_planned, plan_intervals
from eventpipe.utc import hour_floor, naive_utc, utc_now
from eventpipe.warehouse import Warehouse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """How much one run loads at most: whole files, at least one (a file larger than ``max_bytes`` loads alone)."""

    max_files: int
    max_bytes: int

    @classmethod
    def from_settings(cls) -> Budget:
        return cls(*settings.load_run_budget())


@dataclass
class PendingLoad:
    """What one run of the continuous load did: a load batch per arrival hour it loaded files of."""

    hours_listed: int = 0
    files_pending: int = 0  # new files the window held when listed
    results: list[LoadResult] = field(default_factory=list)
    backlog_files: int = 0  # new files left for the next run (the budget was spent)
    backlog_bytes: int = 0

    @property
    def commits(self) -> list[int]:
        return [seq for result in self.results for seq in result.commits]

    @property
    def files_loaded(self) -> int:
        return sum(result.files_loaded for result in self.results)

    def as_dict(self) -> dict:
        totals = {key: sum(getattr(r, key) for r in self.results) for key in ("lines", "loaded", "duplicates")}
        return {
            "hours_listed": self.hours_listed,
            "files_pending": self.files_pending,
            "files_loaded": self.files_loaded,
            "batches": [result.batch_id for result in self.results],
            "hours_loaded": [result.interval_start.isoformat() for result in self.results],
            "commits": self.commits,
            **totals,
            "quarantined": sum(r.quarantined for r in self.results),
            "files_quarantined": sum(sum(e["new"] for e in r.quarantined_files) for r in self.results),
            "backlog_files": self.backlog_files,
            "backlog_bytes": self.backlog_bytes,
        }


def window(now: datetime | None = None, lookback_hours: int | None = None) -> tuple[datetime, datetime]:
    """``[start, end)`` of the arrival hours a poll lists: the last ``lookback_hours`` and the current one."""
    now = naive_utc(now or utc_now())
    hours = settings.load_lookback_hours() if lookback_hours is None else lookback_hours
    end = hour_floor(now) + timedelta(hours=1)
    return end - timedelta(hours=hours + 1), end


def arrival_hours(start: datetime, end: datetime) -> list[datetime]:
    current, stop, hours = hour_floor(start), naive_utc(end), []
    while current < stop:
        hours.append(current)
        current += timedelta(hours=1)
    return hours


def load_pending(
    warehouse: Warehouse,
    landing: str,
    start: datetime,
    end: datetime,
    *,
    budget: Budget | None = None,
    run_id: str | None = None,
    dag_id: str | None = None,
    attempt: int | None = None,
) -> PendingLoad:
    """Load the files of the arrival hours in ``[start, end)`` that the ledger does not hold, oldest hour first,
    within ``budget`` (default: the settings')."""
    budget = budget or Budget.from_settings()
    hours = arrival_hours(start, end)
    listed = {hour: extract.partition_files(landing, hour) for hour in hours}
    plans = plan_intervals(warehouse, {hour: files for hour, files in listed.items() if files})
    outcome = PendingLoad(hours_listed=len(hours))
    outcome.files_pending = sum(len(plan.new_files) for plan in plans)
    files_left, bytes_left = budget.max_files, budget.max_bytes
    for plan in plans:
        if not plan.new_files:
            continue
        taken = _within(plan, files_left, bytes_left, first=not outcome.results)
        if taken:
            outcome.results.append(load_planned(warehouse, plan, taken, run_id=run_id, dag_id=dag_id, attempt=attempt))
            files_left -= len(taken)
            bytes_left -= sum(stored.size for stored in taken)
        left = plan.new_files[len(taken) :]
        outcome.backlog_files += len(left)
        outcome.backlog_bytes += sum(stored.size for stored in left)
    if outcome.backlog_files:
        log.info(
            "budget spent (%d files, %d bytes a run): %d new files (%d bytes) left for the next run",
            budget.max_files,
            budget.max_bytes,
            outcome.backlog_files,
            outcome.backlog_bytes,
        )
    return outcome


def _within(plan: IntervalPlan, files_left: int, bytes_left: int, *, first: bool) -> list[storage.StoredFile]:
    taken: list[storage.StoredFile] = []
    for stored in plan.new_files:
        fits = len(taken) < files_left and stored.size <= bytes_left
        if not fits and not (first and not taken):  # a run loads at least one file, however large
            break
        taken.append(stored)
        bytes_left -= stored.size
    return taken
