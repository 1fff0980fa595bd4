"""What a catch-up still has to do, by the ledgers (never by a clock): files the load has not taken, load commits a
destination has not received whole, load commits the marts have not absorbed."""

from __future__ import annotations

from datetime import datetime

from eventpipe import settings


def files_waiting(start: datetime, end: datetime) -> int:
    """Landed files of the arrival hours in ``[start, end)`` that the ledger neither loaded nor quarantined."""
    from eventpipe.ingest import extract, pending
    from eventpipe.ingest.load import plan_intervals
    from eventpipe.warehouse import open_warehouse

    listed = {hour: extract.partition_files(settings.landing_url(), hour) for hour in pending.arrival_hours(start, end)}
    with open_warehouse() as target:
        plans = plan_intervals(target, {hour: files for hour, files in listed.items() if files})
    return sum(len(plan.new_files) for plan in plans)


def deliveries_waiting() -> int:
    """Load commits some configured destination has not received whole."""
    from eventpipe.deliver.config import load_destinations
    from eventpipe.orchestrate import lag
    from eventpipe.warehouse import open_warehouse

    with open_warehouse() as target:
        return sum(entry.waiting for entry in lag.destination_lags(target, load_destinations()))


def last_commit() -> int:
    """The last load commit's sequence number (0 before any)."""
    from eventpipe.warehouse import open_warehouse

    with open_warehouse() as target:
        return int(target.fetchall("last_commit_seq")[0][0] or 0)


def marts_waiting(through: int | None = None) -> int:
    """Load commits (up to ``through``, default all) above the last dbt build's bound (``ops.dbt_build_bound``,
    written when a build starts: 0 means a build that began after those commits has started; its run says whether
    it finished)."""
    from eventpipe.warehouse import open_warehouse

    with open_warehouse() as target:
        built = target.fetchall("table_exists", {"table_schema": "ops", "table_name": "dbt_build_bound"})[0][0]
        bound = int(target.fetchall("dbt_build_bound")[0][0] or 0) if built else 0
        if through is not None and bound >= through:
            return 0
        return int(target.fetchall("lag_commits_above", {"bound": bound})[0][0] or 0)
