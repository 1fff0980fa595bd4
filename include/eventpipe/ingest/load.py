"""Extract, validate and load one arrival-hour interval of landing files into the raw tables.

An interval's new files load in groups of bounded size (``EVENTPIPE_LOAD_GROUP_BYTES``), each
through the warehouse's ``load_group`` (``eventpipe.warehouse``) as one load commit
(``eventpipe.warehouse.commits``): a group's raw rows, quarantined lines, ledger rows and commit row
commit together or not at all, numbered by the warehouse in commit order, on either engine. A task
killed half-way leaves only whole files in the ledger, and a re-run skips exactly the files the ledger
holds; a file another load of the hour committed first is left to it (counted as loaded before).

A file that cannot be read to its end (``extract.UnreadableFile``) is quarantined as a file
(``ops.quarantined_file``) instead of ledgered: none of its lines load, its group's other files load
as usual. A re-run does not read that same copy again (same size and version: mtime or ETag); a
fixed copy landed later under the same name is a new version, so the next load of its hour reads it,
and loads it once (it is then in the ledger).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime

import duckdb

from eventpipe import settings, storage
from eventpipe.ingest import extract
from eventpipe.ingest.validate import GroupOutcome
from eventpipe.utc import hour_floor, utc_now
from eventpipe.warehouse import Warehouse, as_warehouse

log = logging.getLogger(__name__)


@dataclass
class LoadResult:
    batch_id: str
    interval_start: datetime
    files_seen: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    # Files of the interval quarantined whole, by this load or an earlier one (the same copy, not retried).
    files_quarantined: int = 0
    quarantined_files: list[dict] = field(default_factory=list)  # source_file, reason, detail, new
    lines: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    loaded_by_kind: dict[str, int] = field(default_factory=dict)
    # The load commits that hold what this load committed (eventpipe.warehouse.commits), in order.
    commits: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self) | {"interval_start": self.interval_start.isoformat()}

    def add(self, group: GroupOutcome) -> None:
        for counts in group.files.values():
            self.lines += counts.lines
            self.loaded += counts.loaded
            self.duplicates += counts.duplicates
            self.quarantined += counts.quarantined
        for kind, lines in group.loaded_by_kind.items():
            self.loaded_by_kind[kind] = self.loaded_by_kind.get(kind, 0) + lines
        for reason, lines in group.quarantined_by_reason.items():
            self.quarantined_by_reason[reason] = self.quarantined_by_reason.get(reason, 0) + lines
        for url, unreadable in group.unreadable.items():
            self.add_quarantined_file(url, unreadable.reason, unreadable.detail, new=True)
        self.files_skipped += len(group.already_loaded)  # another load of the hour committed them first
        if group.commit_seq is not None:
            self.commits.append(group.commit_seq)

    def add_quarantined_file(self, url: str, reason: str, detail: str | None, *, new: bool) -> None:
        self.files_quarantined += 1
        self.quarantined_files.append({"source_file": url, "reason": reason, "detail": detail, "new": new})


def make_batch_id(interval_start: datetime, run_id: str | None, attempt: int | None = None) -> str:
    """Ties every loaded row to the interval and the Airflow run (and try) that loaded it.

    A cleared or retried run keeps its run_id, so the attempt makes each load's id unique.
    """
    suffix = f"try{attempt}" if attempt is not None else uuid.uuid4().hex[:8]
    return f"{hour_floor(interval_start):%Y%m%dT%H}__{run_id or 'manual'}__{suffix}"


@dataclass
class IntervalPlan:
    """An arrival hour's landing files as the ledger sees them: which are new, which were quarantined whole before."""

    interval_start: datetime
    files: list[storage.StoredFile]
    already_loaded: set[str]
    new_files: list[storage.StoredFile]
    quarantined_before: list[tuple[str, str, str | None]]  # url, reason, detail: the same copy, not read again


def plan_intervals(warehouse: Warehouse, listed: dict[datetime, list[storage.StoredFile]]) -> list[IntervalPlan]:
    """The plans of several hours' listings, with one ledger query for all of them (a poll asks every minute)."""
    urls = [stored.url for files in listed.values() for stored in files]
    already = warehouse.loaded_files(urls)
    quarantined = warehouse.quarantined_files([url for url in urls if url not in already])
    plans = []
    for interval_start, files in sorted(listed.items()):
        plan = IntervalPlan(interval_start, files, {f.url for f in files if f.url in already}, [], [])
        for stored in files:
            if stored.url in already:
                continue
            earlier = quarantined.get(stored.url)
            if earlier is not None and earlier.same_copy(stored):
                plan.quarantined_before.append((stored.url, earlier.reason, earlier.detail))
            else:
                plan.new_files.append(stored)
        plans.append(plan)
    return plans


def plan_interval(warehouse: Warehouse, landing: str, interval_start: datetime) -> IntervalPlan:
    interval_start = hour_floor(interval_start)
    return plan_intervals(warehouse, {interval_start: extract.partition_files(landing, interval_start)})[0]


def load_interval(
    target: Warehouse | duckdb.DuckDBPyConnection,
    landing: str,
    interval_start: datetime,
    *,
    run_id: str | None = None,
    dag_id: str | None = None,
    attempt: int | None = None,
) -> LoadResult:
    """Load the interval's landing files that the ledger does not hold yet into ``target``.

    ``target`` is a ``Warehouse`` (embedded DuckDB or Snowflake); a DuckDB connection is the embedded one.
    """
    warehouse = as_warehouse(target)
    plan = plan_interval(warehouse, landing, interval_start)
    return load_planned(warehouse, plan, plan.new_files, run_id=run_id, dag_id=dag_id, attempt=attempt)


def load_planned(
    warehouse: Warehouse,
    plan: IntervalPlan,
    new_files: list[storage.StoredFile],
    *,
    run_id: str | None = None,
    dag_id: str | None = None,
    attempt: int | None = None,
) -> LoadResult:
    """Load ``new_files`` (the plan's new files, or the first of them: a bounded run) as one load batch."""
    interval_start = plan.interval_start
    batch_id = make_batch_id(interval_start, run_id, attempt)
    started_at = utc_now()
    result = LoadResult(batch_id=batch_id, interval_start=interval_start)
    for url, reason, detail in plan.quarantined_before:
        result.add_quarantined_file(url, reason, detail, new=False)
    result.files_seen = len(plan.files)
    result.files_skipped = len(plan.already_loaded)
    log.info(
        "interval %s: %d files, %d already loaded, %d quarantined before, %d to load",
        interval_start,
        len(plan.files),
        result.files_skipped,
        result.files_quarantined,
        len(new_files),
    )

    skipped_before = result.files_skipped
    for group in group_files(new_files, settings.load_group_bytes()):
        result.add(warehouse.load_group(group, interval_start, batch_id, utc_now()))
    concurrent = result.files_skipped - skipped_before
    result.files_loaded = len(new_files) - concurrent - sum(entry["new"] for entry in result.quarantined_files)
    warehouse.record_batch(
        {
            "batch_id": batch_id,
            "interval_start": interval_start,
            "dag_id": dag_id,
            "run_id": run_id,
            "files_seen": result.files_seen,
            "files_loaded": result.files_loaded,
            "files_skipped": result.files_skipped,
            "lines": result.lines,
            "loaded": result.loaded,
            "duplicates": result.duplicates,
            "quarantined": result.quarantined,
            "started_at": started_at,
            "finished_at": utc_now(),
        },
    )
    log.info("interval %s loaded: %s", interval_start, result.to_dict())
    return result


def group_files(files: list[storage.StoredFile], max_bytes: int) -> list[list[storage.StoredFile]]:
    """Consecutive groups of files of at most ``max_bytes`` stored bytes (a larger file is a group alone).

    Each group loads in its own transaction, so memory is bounded by the group, not by the hour.
    """
    groups: list[list[storage.StoredFile]] = []
    size = 0
    for stored in files:
        if not groups or size + stored.size > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(stored)
        size += stored.size
    return groups
