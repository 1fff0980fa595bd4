"""How far behind each stage is, for the ``pipeline_lag`` DAG: a stage behind its SLA fails a task an operator sees.

Per stage, the age of the oldest thing it has not taken yet (0 when it has taken everything):

- ``landing -> raw``: the oldest landed file of the load's window (``EVENTPIPE_LOAD_LOOKBACK_HOURS``) that the
  ledger neither loaded nor quarantined, by the time the store says it was written;
- ``raw -> <destination>``: per destination, the oldest load commit with a unit it has not received whole
  (``ops.delivery_done``), for the organizations it is configured for;
- ``raw -> marts``: the oldest load commit above the last dbt build's bound (``ops.dbt_build_bound``).

Ages are read on the clocks that wrote them (the store's, the loader's): the lag is information, never a handover.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from eventpipe.utc import naive_utc, utc_now
from eventpipe.warehouse import Warehouse


@dataclass
class StageLag:
    stage: str
    waiting: int  # files or load commits not taken yet
    oldest: datetime | None  # when the oldest of them was written or committed

    def seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.oldest).total_seconds()) if self.oldest else 0.0


def measure(warehouse: Warehouse, landing: str, destinations: list, now: datetime | None = None) -> list[StageLag]:
    from eventpipe.ingest import extract, pending
    from eventpipe.ingest.load import plan_intervals

    now = naive_utc(now or utc_now())
    start, end = pending.window(now)
    listed = {hour: extract.partition_files(landing, hour) for hour in pending.arrival_hours(start, end)}
    listed = {hour: files for hour, files in listed.items() if files}
    waiting = [stored for plan in plan_intervals(warehouse, listed) for stored in plan.new_files]
    stamps = [stored.modified for stored in waiting if stored.modified]
    lags = [StageLag("landing -> raw", len(waiting), min(stamps) if stamps else None)]

    lags += destination_lags(warehouse, destinations)
    bound = int(warehouse.fetchall("dbt_build_bound")[0][0]) if _exists(warehouse, "ops", "dbt_build_bound") else 0
    lags.append(StageLag("raw -> marts", *_above(warehouse, bound)))
    return lags


def destination_lags(warehouse: Warehouse, destinations: list) -> list[StageLag]:
    """Per destination: the load commits it has not received whole, and when the oldest was committed."""
    from eventpipe.deliver.ledger import Ledger

    if not _exists(warehouse, "ops", "delivery_done"):  # no delivery has run yet: every commit waits
        return [StageLag(f"raw -> {destination.name}", *_above(warehouse, 0)) for destination in destinations]
    ledger = Ledger(warehouse, run_id=None)
    through = ledger.last_commit()
    lags = []
    for destination in destinations:
        units = [u for u in ledger.pending(destination.name, destination.kinds, through)
                 if destination.applies_to(u.organization_id)]  # fmt: skip
        commits = sorted({unit.commit_seq for unit in units})
        oldest = _committed_at(warehouse, commits[0]) if commits else None
        lags.append(StageLag(f"raw -> {destination.name}", len(commits), oldest))
    return lags


def _exists(warehouse: Warehouse, schema: str, table: str) -> bool:
    return bool(warehouse.fetchall("table_exists", {"table_schema": schema, "table_name": table})[0][0])


def _above(warehouse: Warehouse, bound: int) -> tuple[int, datetime | None]:
    count, oldest = warehouse.fetchall("lag_commits_above", {"bound": bound})[0]
    return int(count or 0), naive_utc(oldest) if oldest else None


def _committed_at(warehouse: Warehouse, commit_seq: int) -> datetime | None:
    rows = warehouse.fetchall("lag_commits_committed_at", {"commit_seq": commit_seq})
    return naive_utc(rows[0][0]) if rows and rows[0][0] else None


def behind(lags: list[StageLag], limit: timedelta, now: datetime) -> list[StageLag]:
    return [lag for lag in lags if lag.seconds(now) > limit.total_seconds()]


def summary(lags: list[StageLag], now: datetime) -> dict:
    return {lag.stage: {"lag_seconds": round(lag.seconds(now)), "waiting": lag.waiting} for lag in lags}


def table(lags: list[StageLag], limit: timedelta, now: datetime) -> str:
    width = max(len(lag.stage) for lag in lags)
    rows = [
        f"  {lag.stage:<{width}}  {lag.seconds(now):>8.0f} s  {lag.waiting:>6} waiting"
        + ("  BEHIND" if lag.seconds(now) > limit.total_seconds() else "")
        for lag in lags
    ]
    return "\n".join([f"lag per stage (SLA {limit.total_seconds() / 60:g} min)", *rows])
